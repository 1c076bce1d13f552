// image/validate — sniffing, limits, messages and dispatch to the decoders.
#include "image/validate.h"

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <new>
#include <string_view>

#include "image/decoders.h"

namespace talentd::image {

const char* const kEmptyMessage = "The submitted file is empty.";
const char* const kInvalidMessage =
    "Upload a valid image. The file you uploaded was either not an image or a corrupted image.";

const char* format_name(Format f) {
    switch (f) {
    case Format::Jpeg: return "jpeg";
    case Format::Png: return "png";
    case Format::Gif: return "gif";
    case Format::Webp: return "webp";
    case Format::Bmp: return "bmp";
    case Format::Tiff: return "tiff";
    case Format::Svg: return "svg";
    case Format::Heic: return "heic";
    case Format::Avif: return "avif";
    case Format::Ico: return "ico";
    case Format::Pdf: return "pdf";
    case Format::Pnm: return "pnm";
    case Format::Unknown: break;
    }
    return "unknown";
}

namespace {

bool starts_with(const uint8_t* data, size_t size, std::string_view magic) {
    return size >= magic.size() && std::memcmp(data, magic.data(), magic.size()) == 0;
}

uint32_t le32(const uint8_t* p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint32_t be32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

bool is_bmp(const uint8_t* d, size_t n) {
    if (n < 18 || d[0] != 'B' || d[1] != 'M') return false;
    uint32_t dib = le32(d + 14);
    return dib == 12 || dib == 16 || dib == 40 || dib == 52 || dib == 56 || dib == 64 ||
           dib == 108 || dib == 124;
}

bool is_ico(const uint8_t* d, size_t n) {
    // ICONDIR: reserved 0, type 1 (icon) or 2 (cursor), count >= 1; the first
    // ICONDIRENTRY has a zero reserved byte and an image offset past the table.
    if (n < 22 || d[0] != 0 || d[1] != 0 || (d[2] != 1 && d[2] != 2) || d[3] != 0) return false;
    unsigned count = d[4] | d[5] << 8;
    if (count == 0 || d[6 + 3] != 0) return false;
    uint32_t offset = le32(d + 6 + 12);
    return offset >= 6 + 16u * count;
}

Format sniff_isobmff(const uint8_t* d, size_t n) {
    if (n < 16 || std::memcmp(d + 4, "ftyp", 4) != 0) return Format::Unknown;
    size_t box = be32(d);
    if (box < 16 || box > n) box = std::min<size_t>(n, 4096);
    auto brand_of = [](std::string_view b) {
        if (b == "avif" || b == "avis") return Format::Avif;
        if (b == "heic" || b == "heix" || b == "hevc" || b == "hevx" || b == "heim" ||
            b == "heis" || b == "hevm" || b == "hevs" || b == "mif1" || b == "msf1")
            return Format::Heic;
        return Format::Unknown;
    };
    Format major = brand_of(std::string_view(reinterpret_cast<const char*>(d + 8), 4));
    if (major == Format::Avif) return major;
    bool heif = major == Format::Heic;
    for (size_t off = 16; off + 4 <= box; off += 4) {
        Format f = brand_of(std::string_view(reinterpret_cast<const char*>(d + off), 4));
        if (f == Format::Avif) return f;
        if (f == Format::Heic) heif = true;
    }
    return heif ? Format::Heic : Format::Unknown;
}

bool is_svg(const uint8_t* d, size_t n) {
    size_t i = 0;
    if (starts_with(d, n, "\xEF\xBB\xBF")) i = 3;
    while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n')) ++i;
    std::string_view rest(reinterpret_cast<const char*>(d + i), n - i);
    if (!(rest.starts_with("<?xml") || rest.starts_with("<svg") || rest.starts_with("<!--") ||
          rest.starts_with("<!DOCTYPE")))
        return false;
    std::string_view head(reinterpret_cast<const char*>(d), std::min<size_t>(n, 1024));
    return head.find("<svg") != std::string_view::npos;
}

// Netpbm: "P1".."P7" then white space.
const char* netpbm_extension(const uint8_t* d, size_t n) {
    if (n < 3 || d[0] != 'P' || !(d[2] == ' ' || d[2] == '\t' || d[2] == '\r' || d[2] == '\n'))
        return nullptr;
    switch (d[1]) {
    case '1': case '4': return "pbm";
    case '2': case '5': return "pgm";
    case '3': case '6': return "ppm";
    case '7': return "pam";
    default: return nullptr;
    }
}

// The extension named in the refusal / used as storage suffix.
std::string extension_of(Format f, const uint8_t* d, size_t n) {
    switch (f) {
    case Format::Jpeg: return "jpg";
    case Format::Pnm: {
        const char* e = netpbm_extension(d, n);
        return e ? e : "pnm";
    }
    default: return format_name(f);
    }
}

const char* content_type_of(Format f) {
    switch (f) {
    case Format::Jpeg: return "image/jpeg";
    case Format::Png: return "image/png";
    case Format::Gif: return "image/gif";
    case Format::Webp: return "image/webp";
    default: return "";
    }
}

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return s;
}

bool allowed(Format f, const std::vector<std::string>& types) {
    for (const std::string& t : types) {
        std::string l = lower(t);
        switch (f) {
        case Format::Jpeg:
            if (l == "jpg" || l == "jpeg") return true;
            break;
        case Format::Png: if (l == "png") return true; break;
        case Format::Gif: if (l == "gif") return true; break;
        case Format::Webp: if (l == "webp") return true; break;
        default: break;  // the decoders exist for these four only
        }
    }
    return false;
}

Verdict refuse(Verdict v, std::string message, std::string reason) {
    v.ok = false;
    v.message = std::move(message);
    v.reason = std::move(reason);
    return v;
}

}  // namespace

Format sniff(const uint8_t* d, size_t n) {
    if (d == nullptr || n == 0) return Format::Unknown;
    if (starts_with(d, n, "\xFF\xD8\xFF")) return Format::Jpeg;
    // Only 4 bytes: a damaged rest of the signature is left to libpng to name.
    if (starts_with(d, n, "\x89PNG")) return Format::Png;
    if (starts_with(d, n, "GIF87a") || starts_with(d, n, "GIF89a")) return Format::Gif;
    if (n >= 12 && starts_with(d, n, "RIFF") && std::memcmp(d + 8, "WEBP", 4) == 0)
        return Format::Webp;
    if (is_bmp(d, n)) return Format::Bmp;
    if (starts_with(d, n, std::string_view("II*\0", 4)) || starts_with(d, n, std::string_view("MM\0*", 4)) ||
        starts_with(d, n, std::string_view("II+\0", 4)) || starts_with(d, n, std::string_view("MM\0+", 4)))
        return Format::Tiff;
    if (starts_with(d, n, "%PDF-")) return Format::Pdf;
    if (Format f = sniff_isobmff(d, n); f != Format::Unknown) return f;
    if (is_ico(d, n)) return Format::Ico;
    if (netpbm_extension(d, n)) return Format::Pnm;
    if (is_svg(d, n)) return Format::Svg;
    return Format::Unknown;
}

std::string size_message(int64_t limit, uint64_t size) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "Ensure this file is no larger than %lld bytes (%.1f MiB); it is %llu bytes.",
                  static_cast<long long>(limit), double(limit) / 1048576.0,
                  static_cast<unsigned long long>(size));
    return buf;
}

std::string extension_message(const std::string& extension, const std::vector<std::string>& allowed) {
    std::string m = "File extension \u201C" + extension + "\u201D is not allowed. Allowed extensions are: ";
    for (size_t i = 0; i < allowed.size(); ++i) {
        if (i) m += ", ";
        m += allowed[i];
    }
    m += ".";
    return m;
}

std::string dimensions_message(uint64_t width, uint64_t height, int64_t limit) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "Image dimensions %llux%llu (%llu pixels) exceed the limit of %lld pixels.",
                  static_cast<unsigned long long>(width), static_cast<unsigned long long>(height),
                  static_cast<unsigned long long>(width * height), static_cast<long long>(limit));
    return buf;
}

std::string frames_message(uint64_t frames, int64_t limit) {
    char buf[120];
    std::snprintf(buf, sizeof buf, "Image has %llu frames; the limit is %lld.",
                  static_cast<unsigned long long>(frames), static_cast<long long>(limit));
    return buf;
}

std::string total_pixels_message(uint64_t total, int64_t limit) {
    char buf[120];
    std::snprintf(buf, sizeof buf, "Image frames total %llu pixels; the limit is %lld pixels.",
                  static_cast<unsigned long long>(total), static_cast<long long>(limit));
    return buf;
}

std::string decoded_bytes_message(uint64_t bytes, int64_t limit) {
    char buf[120];
    std::snprintf(buf, sizeof buf, "Image decodes to %llu bytes; the limit is %lld bytes.",
                  static_cast<unsigned long long>(bytes), static_cast<long long>(limit));
    return buf;
}

namespace detail {

namespace {
int64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
}  // namespace

CpuDeadline::CpuDeadline(double seconds) : limit_(seconds), start_ns_(thread_cpu_ns()) {}

double CpuDeadline::used() const { return double(thread_cpu_ns() - start_ns_) / 1e9; }

bool CpuDeadline::expired() {
    pending_ = 0;
    if (!expired_ && limit_ > 0 && used() > limit_) expired_ = true;
    return expired_;
}

bool CpuDeadline::tick(uint64_t work) {
    if (expired_) return true;
    pending_ += work;
    if (pending_ < kTickBytes) return false;
    return expired();
}

void cpu_time_exceeded(Decoded& d, const CpuDeadline& deadline, const std::string& where) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "decoding stopped after %.3f s of CPU (decode_cpu_limit %.3f s)",
                  deadline.used(), deadline.limit());
    d.outcome = Outcome::CpuTime;
    d.reason = buf;
    if (!where.empty()) d.reason += " in " + where;
}

void FrameBudget::decoded(uint64_t bytes) {
    bytes_ = (bytes_ > UINT64_MAX - bytes) ? UINT64_MAX : bytes_ + bytes;
}

void FrameBudget::note_dimensions(uint64_t w, uint64_t h) {
    // Each side is at most 2^32 in every format, so w * h cannot overflow.
    if (!too_large_ && w * h > uint64_t(std::max<int64_t>(limits_.max_image_pixels, 0))) {
        too_large_ = true;
        bad_width_ = w;
        bad_height_ = h;
    }
}

void FrameBudget::frame(uint64_t w, uint64_t h) {
    note_dimensions(w, h);
    ++frames_;
    uint64_t px = w * h;
    total_ = (total_ > UINT64_MAX - px) ? UINT64_MAX : total_ + px;
}

bool FrameBudget::check(Decoded& d) const {
    if (too_large_) {
        d.outcome = Outcome::Dimensions;
        d.bad_width = bad_width_;
        d.bad_height = bad_height_;
        return false;
    }
    if (int64_t(frames_) > limits_.max_frames) {
        d.outcome = Outcome::Frames;
        d.frame_count = frames_;
        return false;
    }
    if (total_ > uint64_t(std::max<int64_t>(limits_.max_total_pixels, 0))) {
        d.outcome = Outcome::TotalPixels;
        d.total_pixels = total_;
        return false;
    }
    if (bytes_ > uint64_t(std::max<int64_t>(limits_.max_decoded_bytes, 0))) {
        d.outcome = Outcome::DecodedBytes;
        d.decoded_bytes = bytes_;
        return false;
    }
    return true;
}

uint64_t vm_data_bytes(std::istream& status) {
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmData:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 10) * 1024;
    return 0;
}

uint64_t decode_data_limit(const Limits& limits, uint64_t data_now, uint64_t soft_now) {
    if (!limits.cap_process_memory || limits.max_decode_memory <= 0 || data_now == 0) return 0;
    const uint64_t want = data_now + uint64_t(limits.max_decode_memory) + kMemoryCapSlack;
    if (soft_now != RLIM_INFINITY && want >= soft_now) return 0;
    return want;
}

}  // namespace detail

namespace {

// The process's data size now (VmData, what RLIMIT_DATA counts), in bytes;
// 0 when /proc cannot tell.  (Unused under ASan, which sets no cap.)
[[maybe_unused]] uint64_t data_size_now() {
    std::ifstream status("/proc/self/status");
    return detail::vm_data_bytes(status);
}

// Lowers the soft RLIMIT_DATA for the lifetime of the object (never above
// the hard limit, never below what is in use) and restores it after.
class DecodeMemoryCap {
public:
    explicit DecodeMemoryCap(const Limits& limits) {
#if defined(__SANITIZE_ADDRESS__)
        (void)limits;
#else
        // The sandboxed decoder turns the cap off (its whole process has a
        // fixed RLIMIT_DATA) and may not open /proc: nothing is read then.
        // The rest of the decision is decode_data_limit's, tested to the byte.
        if (!limits.cap_process_memory) return;
        if (getrlimit(RLIMIT_DATA, &saved_) != 0) return;
        const uint64_t cap = detail::decode_data_limit(limits, data_size_now(), saved_.rlim_cur);
        if (cap == 0) return;
        rlimit capped = saved_;
        capped.rlim_cur = rlim_t(cap);
        active_ = setrlimit(RLIMIT_DATA, &capped) == 0;
#endif
    }
    ~DecodeMemoryCap() {
        if (active_) setrlimit(RLIMIT_DATA, &saved_);
    }
    DecodeMemoryCap(const DecodeMemoryCap&) = delete;
    DecodeMemoryCap& operator=(const DecodeMemoryCap&) = delete;

private:
    rlimit saved_{};
    bool active_ = false;
};

// Decodes under the memory cap; a codec's failed allocation refuses the picture.
detail::Decoded decode_capped(Format format, const uint8_t* data, size_t size, const Limits& limits) {
    detail::Decoded d;
    DecodeMemoryCap cap(limits);
    try {
        switch (format) {
        case Format::Jpeg: return detail::decode_jpeg(data, size, limits);
        case Format::Png: return detail::decode_png(data, size, limits);
        case Format::Gif: return detail::decode_gif(data, size, limits);
        case Format::Webp: return detail::decode_webp(data, size, limits);
        default: d.reason = "no decoder"; break;
        }
    } catch (const std::bad_alloc&) {
        d = detail::Decoded{};
        d.reason = "out of memory while decoding (max_decode_memory " + std::to_string(limits.max_decode_memory) +
                   " bytes)";
    }
    return d;
}

}  // namespace

Verdict screen(const uint8_t* data, size_t size, const Limits& limits) {
    Verdict v;
    if (size == 0 || data == nullptr) return refuse(std::move(v), kEmptyMessage, "empty file");
    if (limits.max_image_size >= 0 && size > uint64_t(limits.max_image_size))
        return refuse(std::move(v), size_message(limits.max_image_size, size), "file too large");

    v.format = sniff(data, size);
    if (v.format == Format::Unknown)
        return refuse(std::move(v), kInvalidMessage, "unrecognised file format");
    v.extension = extension_of(v.format, data, size);
    if (!allowed(v.format, limits.allowed_types))
        return refuse(std::move(v), extension_message(v.extension, limits.allowed_types),
                      std::string("format not allowed: ") + format_name(v.format));
    v.ok = true;  // not yet a verdict: the decode decides
    return v;
}

namespace detail {

Decoded decode(Format format, const uint8_t* data, size_t size, const Limits& limits) {
    return decode_capped(format, data, size, limits);
}

Verdict conclude(Verdict v, Decoded d, const Limits& limits) {
    v.warnings = std::move(d.warnings);
    v.width = d.width;
    v.height = d.height;
    v.frames = d.frames;
    switch (d.outcome) {
    case Outcome::Ok:
        v.ok = true;
        v.content_type = content_type_of(v.format);
        v.canonical_length = d.canonical_length;
        return v;
    case Outcome::Dimensions:
        return refuse(std::move(v), dimensions_message(d.bad_width, d.bad_height, limits.max_image_pixels),
                      "dimensions over max_image_pixels");
    case Outcome::Frames:
        return refuse(std::move(v), frames_message(d.frame_count, limits.max_frames), "frames over max_frames");
    case Outcome::TotalPixels:
        return refuse(std::move(v), total_pixels_message(d.total_pixels, limits.max_total_pixels),
                      "frame pixels over max_total_pixels");
    case Outcome::DecodedBytes:
        return refuse(std::move(v), decoded_bytes_message(d.decoded_bytes, limits.max_decoded_bytes),
                      "decoded bytes over max_decoded_bytes");
    case Outcome::CpuTime:
    case Outcome::Invalid:
        break;
    }
    return refuse(std::move(v), kInvalidMessage, d.reason.empty() ? "invalid image" : std::move(d.reason));
}

}  // namespace detail

Verdict validate(const uint8_t* data, size_t size, const Limits& limits) {
    Verdict v = screen(data, size, limits);
    if (!v.ok) return v;
    detail::Decoded d = detail::decode(v.format, data, size, limits);
    return detail::conclude(std::move(v), std::move(d), limits);
}

}  // namespace talentd::image
