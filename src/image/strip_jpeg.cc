// image/strip_jpeg — JPEG: walk the markers, copy the scans as they are,
// keep the segments libjpeg (and browsers) read to decode and colour the
// pixels, drop the rest.
#include <cstring>
#include <string>

#include "image/strip_formats.h"

namespace talentd::image::strip_detail {
namespace {

constexpr uint8_t kSOI = 0xD8, kEOI = 0xD9, kSOS = 0xDA, kCOM = 0xFE;
constexpr uint8_t kAPP0 = 0xE0, kAPP1 = 0xE1, kAPP2 = 0xE2, kAPP14 = 0xEE;
constexpr size_t kJfifData = 14;   // "JFIF\0", version, units, densities, thumbnail size
constexpr size_t kAdobeData = 12;  // "Adobe", version, flags0, flags1, transform
constexpr char kExif[] = "Exif\0";  // + a second NUL
constexpr char kIcc[] = "ICC_PROFILE";  // + NUL, sequence number, count
constexpr size_t kIccHeader = 14;

bool starts(const uint8_t* p, size_t n, const char* s, size_t len) { return n >= len && std::memcmp(p, s, len) == 0; }

void put_segment(Rewrite& w, uint8_t marker, const uint8_t* payload, size_t length) {
    const size_t len = length + 2;
    const uint8_t head[4] = {0xFF, marker, uint8_t(len >> 8), uint8_t(len)};
    w.append(head, 4);
    w.append(payload, length);
}

std::string app_name(uint8_t marker, const uint8_t* body, size_t n) {
    if (marker == kCOM) return "COM";
    std::string name = "APP" + std::to_string(marker - kAPP0);
    std::string ident = printable(body, n);
    return ident.empty() ? name : name + " " + ident;
}

// One APPn or COM segment (payload body[0, n), whole segment `size` bytes).
void application_segment(Rewrite& w, uint8_t marker, const uint8_t* body, size_t n, size_t size) {
    if (marker == kAPP0 && starts(body, n, "JFIF\0", 5) && n >= kJfifData) {
        // libjpeg reads JFIF to choose the colour space: keep it, without
        // the thumbnail (a small copy of the picture, maybe uncropped).
        if (n == kJfifData && body[12] == 0 && body[13] == 0) {
            put_segment(w, marker, body, n);
            return;
        }
        uint8_t jfif[kJfifData];
        std::memcpy(jfif, body, kJfifData);
        jfif[12] = jfif[13] = 0;
        put_segment(w, marker, jfif, kJfifData);
        w.removed("APP0 JFIF thumbnail", n - kJfifData);
        return;
    }
    if (marker == kAPP14 && starts(body, n, "Adobe", 5) && n >= kAdobeData) {
        // The colour transform (YCbCr/YCCK or none): libjpeg reads 12 bytes.
        put_segment(w, marker, body, kAdobeData);
        if (n > kAdobeData) w.removed("APP14 Adobe tail", n - kAdobeData);
        return;
    }
    if (marker == kAPP2 && starts(body, n, kIcc, sizeof kIcc) && n >= kIccHeader && w.options.keep_icc) {
        put_segment(w, marker, body, n);
        w.kept_icc(n - kIccHeader);
        return;
    }
    if (marker == kAPP1 && starts(body, n, kExif, 6)) {
        const int orientation = w.kept_orientation_value() == 0 ? exif_orientation({body, n}) : 0;
        std::string exif;
        if (orientation != 0) {
            exif.assign(kExif, 6);
            exif += minimal_exif(orientation, n >= 8 && body[6] == 'M');
            put_segment(w, kAPP1, reinterpret_cast<const uint8_t*>(exif.data()), exif.size());
            w.kept_orientation(orientation);
        }
        // A minimal EXIF already (a stored picture uploaded again) is no removal.
        if (exif.size() != n || std::memcmp(exif.data(), body, n) != 0) w.removed("APP1 Exif", size);
        return;
    }
    w.removed(app_name(marker, body, n), size);
}

}  // namespace

bool strip_jpeg(Rewrite& w) {
    const uint8_t* d = w.in.data();
    const size_t n = w.in.size();
    if (n < 4 || d[0] != 0xFF || d[1] != kSOI) return w.fail("JPEG: no SOI");
    w.copy(0, 2);
    size_t pos = 2;
    for (;;) {
        if (pos >= n || d[pos] != 0xFF) return w.fail("JPEG: no marker at " + std::to_string(pos));
        const size_t start = pos;
        while (pos < n && d[pos] == 0xFF) ++pos;  // fill bytes
        if (pos >= n) return w.fail("JPEG: truncated marker");
        const uint8_t m = d[pos++];
        if (m == kEOI) {
            w.copy(start, pos - start);
            return true;  // whatever follows is past the canonical length
        }
        if (m == 0x00 || m == kSOI) return w.fail("JPEG: bad marker " + std::to_string(m));
        if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) {  // RSTn, TEM: no length
            w.copy(start, pos - start);
            continue;
        }
        if (n - pos < 2) return w.fail("JPEG: truncated segment length");
        const size_t len = size_t(d[pos]) << 8 | d[pos + 1];
        if (len < 2 || len > n - pos) return w.fail("JPEG: segment runs past the end");
        const size_t end = pos + len;
        if ((m >= kAPP0 && m <= 0xEF) || m == kCOM) application_segment(w, m, d + pos + 2, len - 2, len + 2);
        else w.copy(start, end - start);
        pos = end;
        if (m != kSOS) continue;
        // Entropy-coded data, copied as it is up to the marker that ends it
        // (not a stuffed zero, not a restart marker).
        const size_t scan = pos;
        for (;;) {
            const void* ff = pos < n ? std::memchr(d + pos, 0xFF, n - pos) : nullptr;
            if (!ff) return w.fail("JPEG: scan without an end");
            pos = size_t(static_cast<const uint8_t*>(ff) - d);
            size_t q = pos + 1;
            while (q < n && d[q] == 0xFF) ++q;
            if (q >= n) return w.fail("JPEG: scan without an end");
            if (d[q] == 0x00 || (d[q] >= 0xD0 && d[q] <= 0xD7)) {
                pos = q + 1;
                continue;
            }
            pos = q - 1;
            break;
        }
        w.copy(scan, pos - scan);
    }
}

}  // namespace talentd::image::strip_detail
