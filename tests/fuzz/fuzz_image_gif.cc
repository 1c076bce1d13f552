// libFuzzer target: the gif decoder alone (see image_target.h).
#include "image_target.h"

TALENTD_IMAGE_FUZZ_TARGET(decode_gif)
