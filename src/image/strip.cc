// image/strip — dispatch, the EXIF orientation and the log fragment.
#include "image/strip.h"

#include <cstring>

#include "image/strip_formats.h"

namespace talentd::image {
namespace strip_detail {

std::string printable(const uint8_t* p, size_t n, size_t max) {
    std::string s;
    for (size_t i = 0; i < n && i < max && p[i] != 0; ++i)
        s.push_back(p[i] >= 0x20 && p[i] < 0x7F ? char(p[i]) : '?');
    return s;
}

}  // namespace strip_detail

namespace {

uint16_t u16(const uint8_t* p, bool big) { return big ? uint16_t(p[0] << 8 | p[1]) : uint16_t(p[1] << 8 | p[0]); }
uint32_t u32(const uint8_t* p, bool big) {
    return big ? uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]
               : uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0];
}

constexpr uint16_t kOrientationTag = 0x0112;
constexpr uint16_t kTypeShort = 3;

}  // namespace

int exif_orientation(std::span<const uint8_t> exif) {
    const uint8_t* d = exif.data();
    size_t n = exif.size();
    if (n >= 6 && std::memcmp(d, "Exif\0\0", 6) == 0) {
        d += 6;
        n -= 6;
    }
    if (n < 8) return 0;
    bool big;
    if (std::memcmp(d, "MM\0*", 4) == 0) big = true;
    else if (std::memcmp(d, "II*\0", 4) == 0) big = false;
    else return 0;
    const uint32_t ifd = u32(d + 4, big);
    if (ifd < 8 || ifd > n - 2) return 0;
    const size_t count = u16(d + ifd, big);
    for (size_t i = 0; i < count; ++i) {
        const size_t entry = size_t(ifd) + 2 + 12 * i;
        if (entry + 12 > n) break;  // (n - 12 would wrap below 12 bytes)
        if (u16(d + entry, big) != kOrientationTag) continue;
        if (u16(d + entry + 2, big) != kTypeShort || u32(d + entry + 4, big) != 1) return 0;
        const int v = u16(d + entry + 8, big);
        return v >= 1 && v <= 8 ? v : 0;
    }
    return 0;
}

std::string minimal_exif(int orientation, bool big_endian) {
    // TIFF header, IFD0 at offset 8 with one entry, no next IFD.
    std::string s = big_endian ? std::string("MM\0*\0\0\0\x08", 8) : std::string("II*\0\x08\0\0\0", 8);
    auto put16 = [&](unsigned v) {
        if (big_endian) {
            s.push_back(char(v >> 8));
            s.push_back(char(v));
        } else {
            s.push_back(char(v));
            s.push_back(char(v >> 8));
        }
    };
    put16(1);                 // one entry
    put16(kOrientationTag);
    put16(kTypeShort);
    put16(big_endian ? 0 : 1);  // count 1 (32 bits)
    put16(big_endian ? 1 : 0);
    put16(unsigned(orientation));
    put16(0);                 // value field padding
    put16(0);                 // next IFD: none
    put16(0);
    return s;
}

Stripped strip_metadata(std::span<const uint8_t> data, Format format, const StripOptions& options,
                        std::string* buffer) {
    Stripped s;
    strip_detail::Rewrite w(data, options, s, *buffer);
    switch (format) {
    case Format::Jpeg: s.ok = strip_detail::strip_jpeg(w); break;
    case Format::Png: s.ok = strip_detail::strip_png(w); break;
    case Format::Webp: s.ok = strip_detail::strip_webp(w); break;
    case Format::Gif: s.ok = strip_detail::strip_gif(w); break;
    default: s.reason = std::string("no metadata stripper for ") + format_name(format); break;
    }
    if (!s.ok) {
        buffer->clear();
        s.removed.clear();
        s.orientation = 0;
        s.icc_size = 0;
        s.revalidate = false;
        return s;
    }
    s.bytes = w.output();
    s.rewritten = w.rewritten();
    // libwebp reads more of the RIFF than the chunk walk can vouch for
    // (fuzz_strip keeps finding stripped WebPs that no longer decode): a
    // WebP it rewrote is decoded again, in the sandbox, before it is
    // stored, and refused if it no longer decodes.
    if (format == Format::Webp && s.rewritten) s.revalidate = true;
    return s;
}

Stripped strip_metadata(std::span<const uint8_t> data, Format format, const StripOptions& options) {
    auto own = std::make_shared<std::string>();
    Stripped s = strip_metadata(data, format, options, own.get());
    if (s.rewritten) s.own = std::move(own);
    return s;
}

std::string describe_removed(const std::vector<RemovedPart>& removed) {
    std::string s;
    for (const auto& r : removed) {
        if (!s.empty()) s += ", ";
        s += r.name + " " + std::to_string(r.size);
    }
    return s.empty() ? "nothing" : s;
}

}  // namespace talentd::image
