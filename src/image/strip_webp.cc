// image/strip_webp — WebP: walk the RIFF chunks (and the chunks inside each
// ANMF frame), copy the image and colour chunks as they are, drop EXIF, XMP
// and unknown chunks, then make the VP8X flags and the RIFF size tell the
// truth about what is left.
#include <webp/mux_types.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "image/strip_formats.h"

namespace talentd::image::strip_detail {
namespace {

constexpr size_t kChunkHeader = 8;
constexpr size_t kAnmfHeader = 16;  // X, Y, width, height, duration, flags

uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
void put_le32(std::string& s, size_t at, uint32_t v) {
    s[at] = char(v);
    s[at + 1] = char(v >> 8);
    s[at + 2] = char(v >> 16);
    s[at + 3] = char(v >> 24);
}

bool is(const uint8_t* fourcc, const char* name) { return std::memcmp(fourcc, name, 4) == 0; }

bool image_chunk(const uint8_t* fourcc) { return is(fourcc, "ALPH") || is(fourcc, "VP8 ") || is(fourcc, "VP8L"); }

// Appends a chunk (header with `payload` size, payload, pad byte when odd).
void put_chunk(std::string& out, const uint8_t* fourcc, const uint8_t* payload, size_t size) {
    const size_t at = out.size();
    out.append(reinterpret_cast<const char*>(fourcc), 4);
    out.append(4, '\0');
    put_le32(out, at + 4, uint32_t(size));
    out.append(reinterpret_cast<const char*>(payload), size);
    if (size & 1) out.push_back('\0');
}

}  // namespace

bool strip_webp(Rewrite& w) {
    const uint8_t* d = w.in.data();
    const size_t n = w.in.size();
    if (n < 12 || std::memcmp(d, "RIFF", 4) != 0 || std::memcmp(d + 8, "WEBP", 4) != 0)
        return w.fail("WebP: RIFF header");
    const uint64_t riff = le32(d + 4);
    if (riff < 4 || riff > n - 8) return w.fail("WebP: RIFF size past the end");
    const size_t end = size_t(8 + riff);
    w.copy(0, 12);

    std::string& out = w.out();
    if (end - 12 >= kChunkHeader && (is(d + 12, "VP8 ") || is(d + 12, "VP8L"))) {
        // The simple format: decoders read the one image chunk and nothing
        // after it, whatever it is (named when it parses, else "RIFF tail").
        const size_t size = le32(d + 16);
        if (size > end - 12 - kChunkHeader) return w.fail("WebP: image chunk runs past the RIFF size");
        put_chunk(out, d + 12, d + 12 + kChunkHeader, size);
        for (size_t pos = 12 + kChunkHeader + size + (size & 1); pos < end;) {
            const size_t rest = end - pos;
            const size_t csize = rest >= kChunkHeader ? le32(d + pos + 4) : 0;
            if (rest < kChunkHeader || csize > rest - kChunkHeader) {
                w.removed("RIFF tail", rest);
                break;
            }
            const size_t whole = std::min(rest, kChunkHeader + csize + (csize & 1));
            w.removed(printable(d + pos, 4, 4), whole);
            pos += whole;
        }
        if (out.size() - 8 < riff) w.must_revalidate();
        put_le32(out, 4, uint32_t(out.size() - 8));
        return true;
    }
    // The extended format, walked the way libwebp's demuxer reads it: an
    // ANMF frame is its header, an optional ALPH and one image chunk; the
    // first other chunk ends the frame, and whatever follows (still inside
    // the ANMF's declared size or not) is read as top-level chunks again.
    // Skipping to the ANMF's declared end instead would disagree with the
    // decoders about which frames exist (make fuzz: a frame whose size grew
    // over the next frames, which libwebp still shows).
    size_t vp8x = 0;       // offset of the VP8X payload in the output, 0: none
    size_t frame_end = 0;  // the last ANMF's declared end: chunks before it are named "ANMF/..."
    bool icc_removed = false;
    bool exif_kept = false;
    for (size_t pos = 12; pos < end;) {
        if (end - pos < kChunkHeader) return w.fail("WebP: truncated chunk header");
        const uint8_t* chunk = d + pos;
        const size_t size = le32(chunk + 4);
        if (size > end - pos - kChunkHeader) return w.fail("WebP: chunk runs past the RIFF size");
        const uint8_t* payload = chunk + kChunkHeader;
        const size_t next = std::min(end, pos + kChunkHeader + size + (size & 1));
        if (is(chunk, "VP8X") || is(chunk, "ANIM") || image_chunk(chunk)) {
            if (is(chunk, "VP8X") && vp8x == 0 && size >= 1) vp8x = out.size() + kChunkHeader;
            put_chunk(out, chunk, payload, size);
        } else if (is(chunk, "ICCP") && w.options.keep_icc) {
            put_chunk(out, chunk, payload, size);
            w.kept_icc(size);
        } else if (is(chunk, "ANMF") && size >= kAnmfHeader) {
            std::string frame(reinterpret_cast<const char*>(payload), kAnmfHeader);
            bool alpha = false, image = false;
            size_t sub = pos + kChunkHeader + kAnmfHeader;
            while (end - sub >= kChunkHeader) {
                const uint8_t* c = d + sub;
                const bool is_alpha = is(c, "ALPH");
                if (!(is_alpha && !alpha) && !(!is_alpha && image_chunk(c) && !image)) break;
                const size_t csize = le32(c + 4);
                if (csize > end - sub - kChunkHeader) return w.fail("WebP: frame chunk runs past the RIFF size");
                put_chunk(frame, c, c + kChunkHeader, csize);
                (is_alpha ? alpha : image) = true;
                sub = std::min(end, sub + kChunkHeader + csize + (csize & 1));
            }
            if (sub - pos - kChunkHeader > size + (size & 1)) return w.fail("WebP: frame image runs past its ANMF chunk");
            put_chunk(out, chunk, reinterpret_cast<const uint8_t*>(frame.data()), frame.size());
            frame_end = next;
            pos = sub;
            continue;
        } else {
            if (is(chunk, "ICCP")) icc_removed = true;
            std::string exif;
            if (is(chunk, "EXIF") && w.kept_orientation_value() == 0) {
                const int orientation = exif_orientation({payload, size});
                // Only an extended (VP8X) file may carry EXIF.
                if (orientation != 0 && vp8x != 0) {
                    const size_t tiff = size >= 6 && std::memcmp(payload, "Exif\0\0", 6) == 0 ? 6 : 0;
                    exif.assign(reinterpret_cast<const char*>(payload), tiff);
                    exif += minimal_exif(orientation, size > tiff && payload[tiff] == 'M');
                    put_chunk(out, chunk, reinterpret_cast<const uint8_t*>(exif.data()), exif.size());
                    w.kept_orientation(orientation);
                    exif_kept = true;
                }
            }
            // A minimal EXIF already (a stored picture uploaded again) is no removal.
            if (exif.empty() || exif.size() != size || std::memcmp(exif.data(), payload, size) != 0)
                w.removed((pos < frame_end ? "ANMF/" : "") + printable(chunk, 4, 4), kChunkHeader + size + (size & 1));
        }
        pos = next;
    }
    if (vp8x != 0) {
        uint8_t flags = uint8_t(out[vp8x]);
        flags &= uint8_t(~(XMP_FLAG | EXIF_FLAG));
        if (exif_kept) flags |= EXIF_FLAG;
        if (icc_removed) flags &= uint8_t(~ICCP_FLAG);
        out[vp8x] = char(flags);
    }
    if (out.size() - 8 > 0xFFFFFFFFu) return w.fail("WebP: too large");
    put_le32(out, 4, uint32_t(out.size() - 8));
    return true;
}

}  // namespace talentd::image::strip_detail
