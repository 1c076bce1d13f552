// image/strip_gif — GIF: walk the records, copy the images (LZW data as it
// is), graphic control and plain text extensions, the looping extension and
// an ICC profile; drop comments and every other application extension.
#include <cstring>
#include <string>

#include "image/strip_formats.h"

namespace talentd::image::strip_detail {
namespace {

constexpr uint8_t kExtension = 0x21, kImage = 0x2C, kTrailer = 0x3B;
constexpr uint8_t kPlainText = 0x01, kGraphicControl = 0xF9, kComment = 0xFE, kApplication = 0xFF;
constexpr size_t kAppIdentifier = 11;  // 8-byte identifier + 3-byte authentication code
constexpr uint8_t kLoopSubBlock = 1;   // NETSCAPE2.0 sub-block id 1: loop count (2 bytes)

// Past the sub-blocks starting at pos (and their zero terminator); 0 when
// they run past the end.
size_t skip_sub_blocks(const uint8_t* d, size_t n, size_t pos) {
    for (;;) {
        if (pos >= n) return 0;
        const size_t len = d[pos++];
        if (len == 0) return pos;
        if (len > n - pos) return 0;
        pos += len;
    }
}

bool looping(const uint8_t* ident) {
    return std::memcmp(ident, "NETSCAPE2.0", kAppIdentifier) == 0 ||
           std::memcmp(ident, "ANIMEXTS1.0", kAppIdentifier) == 0;
}

// The application extension at d[start, end) (introducer, label, blocks).
void application_extension(Rewrite& w, size_t start, size_t end) {
    const uint8_t* d = w.in.data();
    const size_t first = start + 2;  // the identifier block's length byte
    if (d[first] != kAppIdentifier || end - first < 1 + kAppIdentifier + 1) {
        w.removed("application extension", end - start);
        return;
    }
    const uint8_t* ident = d + first + 1;
    if (std::memcmp(ident, "ICCRGBG1012", kAppIdentifier) == 0 && w.options.keep_icc) {
        w.copy(start, end - start);
        size_t icc = 0;
        for (size_t pos = first + 1 + kAppIdentifier; d[pos] != 0; pos += 1 + d[pos]) icc += d[pos];
        w.kept_icc(icc);
        return;
    }
    if (!looping(ident)) {
        w.removed("application " + printable(ident, kAppIdentifier, kAppIdentifier), end - start);
        return;
    }
    // Keep only the loop count: other sub-blocks (buffering, anything else)
    // change nothing on screen.
    size_t loop = 0;
    for (size_t pos = first + 1 + kAppIdentifier; d[pos] != 0; pos += 1 + d[pos])
        if (loop == 0 && d[pos] == 3 && d[pos + 1] == kLoopSubBlock) loop = pos;
    if (loop == 0) {
        w.removed("application " + printable(ident, kAppIdentifier, kAppIdentifier), end - start);
        return;
    }
    w.copy(start, 2 + 1 + kAppIdentifier);
    w.copy(loop, 4);
    w.append("", 1);  // terminator
    const size_t kept = 2 + 1 + kAppIdentifier + 4 + 1;
    if (end - start > kept)
        w.removed("application " + printable(ident, kAppIdentifier, kAppIdentifier) + " sub-blocks",
                  end - start - kept);
}

}  // namespace

bool strip_gif(Rewrite& w) {
    const uint8_t* d = w.in.data();
    const size_t n = w.in.size();
    if (n < 13 || (std::memcmp(d, "GIF87a", 6) != 0 && std::memcmp(d, "GIF89a", 6) != 0))
        return w.fail("GIF: header");
    size_t pos = 13;
    if (d[10] & 0x80) pos += 3u << ((d[10] & 7) + 1);
    if (pos > n) return w.fail("GIF: global colour table past the end");
    w.copy(0, pos);
    for (;;) {
        if (pos >= n) return w.fail("GIF: no trailer");
        const size_t start = pos;
        const uint8_t record = d[pos++];
        if (record == kTrailer) {
            w.copy(start, 1);
            return true;
        }
        if (record == kImage) {
            if (n - pos < 9) return w.fail("GIF: truncated image descriptor");
            const uint8_t flags = d[pos + 8];
            pos += 9;
            if (flags & 0x80) pos += 3u << ((flags & 7) + 1);
            if (pos >= n) return w.fail("GIF: truncated image");
            pos = skip_sub_blocks(d, n, pos + 1);  // after the LZW minimum code size
            if (pos == 0) return w.fail("GIF: truncated image data");
            w.copy(start, pos - start);
            continue;
        }
        if (record != kExtension) return w.fail("GIF: unknown record " + std::to_string(record));
        if (pos >= n) return w.fail("GIF: truncated extension");
        const uint8_t label = d[pos++];
        pos = skip_sub_blocks(d, n, pos);
        if (pos == 0) return w.fail("GIF: truncated extension");
        if (label == kGraphicControl || label == kPlainText) w.copy(start, pos - start);
        else if (label == kApplication) application_extension(w, start, pos);
        else if (label == kComment) w.removed("comment", pos - start);
        else w.removed("extension " + std::to_string(label), pos - start);
    }
}

}  // namespace talentd::image::strip_detail
