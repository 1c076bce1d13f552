// The shared body of the per-format image fuzz targets: one decoder alone
// (headers, limits, full decode), with limits lowered so that each input
// stays fast; the code paths are the same as with the defaults.  The cost
// bounds are on (decoded bytes, CPU time), so an input that still exceeds
// libFuzzer's -timeout or -rss_limit_mb (fuzz.mk) is a finding.
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
            l.max_decoded_bytes = 64 << 20;                                      \
            l.decode_cpu_limit = 0.25;                                           \
            return l;                                                            \
        }();                                                                     \
        talentd::image::detail::decoder(data, size, limits);                     \
        return 0;                                                                \
    }
