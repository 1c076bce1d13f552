// libFuzzer target: sniff() and validate() on any bytes, default limits except
// smaller pixel budgets (so that each input stays fast).  Checks the verdict's
// invariants: a refusal has a message and a reason; an acceptance is one of the
// four formats, has a size and at least one frame, and a canonical length
// within the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "image/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    namespace img = talentd::image;
    static const img::Limits limits = [] {
        img::Limits l;
        l.max_image_pixels = 4000000;
        l.max_total_pixels = 16000000;
        l.max_frames = 100;
        l.max_decode_memory = 32 << 20;
        l.max_decoded_bytes = 64 << 20;
        l.decode_cpu_limit = 0.25;
        return l;
    }();
    const img::Format f = img::sniff(data, size);
    const img::Verdict v = img::validate(data, size, limits);
    if (v.ok) {
        if (f != v.format) abort();
        if (f != img::Format::Jpeg && f != img::Format::Png && f != img::Format::Gif && f != img::Format::Webp) abort();
        if (v.width == 0 || v.height == 0 || v.frames == 0) abort();
        if (v.canonical_length == 0 || v.canonical_length > size) abort();
        if (!v.message.empty() || v.content_type.empty() || v.extension.empty()) abort();
    } else if (v.message.empty() || v.reason.empty()) {
        abort();
    }
    return 0;
}
