// image/strip_png — PNG and APNG: walk the chunks up to IEND, copy the ones
// that decide how the picture looks (each with its own CRC, untouched), drop
// the rest.
#include <zlib.h>

#include <cstring>
#include <string>

#include "image/strip_formats.h"

namespace talentd::image::strip_detail {
namespace {

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
void put_be32(std::string& s, uint32_t v) {
    const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    s.append(b, 4);
}

// Ancillary chunks that change how the pixels are decoded, coloured, shaped
// or animated.  Critical chunks (upper-case first letter) are always kept.
constexpr const char* kKeptAncillary[] = {"tRNS", "gAMA", "cHRM", "sRGB", "cICP", "mDCv", "cLLi",
                                         "sBIT", "bKGD", "pHYs", "acTL", "fcTL", "fdAT"};

bool kept_ancillary(const uint8_t* type) {
    for (const char* name : kKeptAncillary)
        if (std::memcmp(type, name, 4) == 0) return true;
    return false;
}

// Built apart and appended whole: a chunk equal to the input's (a minimal
// eXIf already) costs no copy of the picture (Rewrite).
void put_chunk(Rewrite& w, const char* type, const std::string& body) {
    std::string chunk;
    put_be32(chunk, uint32_t(body.size()));
    chunk.append(type, 4);
    chunk += body;
    const auto* p = reinterpret_cast<const Bytef*>(chunk.data() + 4);
    put_be32(chunk, uint32_t(crc32(crc32(0L, Z_NULL, 0), p, uInt(chunk.size() - 4))));
    w.append(chunk);
}

}  // namespace

bool strip_png(Rewrite& w) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    const uint8_t* d = w.in.data();
    const size_t n = w.in.size();
    if (n < 8 || std::memcmp(d, sig, 8) != 0) return w.fail("PNG: signature");
    w.copy(0, 8);
    for (size_t pos = 8;;) {
        if (n - pos < 12) return w.fail("PNG: truncated before IEND");
        const uint32_t len = be32(d + pos);
        if (len > 0x7FFFFFFFu || len > n - pos - 12) return w.fail("PNG: chunk runs past the end");
        const uint8_t* type = d + pos + 4;
        const size_t size = size_t(len) + 12;
        const bool critical = (type[0] & 0x20) == 0;
        if (critical || kept_ancillary(type)) {
            w.copy(pos, size);
        } else if (std::memcmp(type, "iCCP", 4) == 0 && w.options.keep_icc) {
            w.copy(pos, size);
            w.kept_icc(len);
        } else {
            std::string exif;
            if (std::memcmp(type, "eXIf", 4) == 0 && w.kept_orientation_value() == 0) {
                const int orientation = exif_orientation({d + pos + 8, len});
                if (orientation != 0) {
                    exif = minimal_exif(orientation, len >= 1 && d[pos + 8] == 'M');
                    put_chunk(w, "eXIf", exif);
                    w.kept_orientation(orientation);
                }
            }
            // A minimal eXIf already (a stored picture uploaded again) is no removal.
            if (exif.empty() || exif.size() != len || std::memcmp(exif.data(), d + pos + 8, len) != 0)
                w.removed(printable(type, 4, 4), size);
        }
        if (std::memcmp(type, "IEND", 4) == 0) return true;
        pos += size;
    }
}

}  // namespace talentd::image::strip_detail
