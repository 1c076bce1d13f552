// The shared body of the per-format image fuzz targets: one decoder alone
// (headers, limits, full decode), with limits lowered so that each input
// stays fast; the code paths are the same as with the defaults.
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/decoders.h"

#define TALENTD_IMAGE_FUZZ_TARGET(decoder)                                       \
    extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {   \
        static const talentd::image::Limits limits = [] {                        \
            talentd::image::Limits l;                                            \
            l.max_image_pixels = 4000000;                                        \
            l.max_total_pixels = 16000000;                                       \
            l.max_frames = 100;                                                  \
            l.max_decode_memory = 32 << 20;                                      \
            return l;                                                            \
        }();                                                                     \
        talentd::image::detail::decoder(data, size, limits);                     \
        return 0;                                                                \
    }
