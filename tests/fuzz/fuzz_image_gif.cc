// libFuzzer target: the gif decoder alone (headers, limits, full decode).
// Limits are lowered so that each input stays fast; the code paths are the same.
#include <cstddef>
#include <cstdint>

#include "image/decoders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const talentd::image::Limits limits = [] {
        talentd::image::Limits l;
        l.max_image_pixels = 4000000;
        l.max_total_pixels = 16000000;
        l.max_frames = 100;
        l.max_decode_memory = 32 << 20;
        return l;
    }();
    talentd::image::detail::decode_gif(data, size, limits);
    return 0;
}
