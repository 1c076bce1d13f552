// libFuzzer target: the worker's parser of a decoder's answer
// (image/decoder_wire.h, decode_decoded) — the bytes a decoder that a
// crafted picture has taken over may send.
//
// The first 8 bytes are the upload's size, the rest the answer.
// Invariants checked: nothing crashes or leaks; an accepted answer's
// canonical length lies within the upload (and is not 0 for an accepted
// picture, which has frames); its text is printable ASCII; it encodes back
// to an answer that parses to the same figures.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "image/decoder_wire.h"

namespace img = talentd::image;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 8) return 0;
    uint64_t upload = 0;
    std::memcpy(&upload, data, 8);
    upload %= uint64_t(1) << 26;
    img::detail::Decoded d;
    std::string why;
    if (!img::wire::decode_decoded(data + 8, size - 8, upload, &d, &why)) {
        if (why.empty()) std::abort();
        return 0;
    }
    if (d.canonical_length > upload) std::abort();
    if (d.outcome == img::detail::Outcome::Ok && (d.canonical_length == 0 || d.frames == 0)) std::abort();
    auto printable = [](const std::string& s) {
        for (char c : s)
            if (c < 0x20 || c > 0x7e) return false;
        return true;
    };
    if (!printable(d.reason)) std::abort();
    for (const auto& w : d.warnings)
        if (!printable(w)) std::abort();
    const std::string again = img::wire::encode_decoded(d);
    img::detail::Decoded e;
    if (!img::wire::decode_decoded(reinterpret_cast<const uint8_t*>(again.data()), again.size(), upload, &e, &why))
        std::abort();
    if (e.outcome != d.outcome || e.width != d.width || e.canonical_length != d.canonical_length ||
        e.reason != d.reason || e.warnings != d.warnings)
        std::abort();
    return 0;
}
