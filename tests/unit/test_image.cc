// Unit tests of image/validate (Check).
//
// The corpus (TALENTD_CORPUS, default ../shared/corpus) is walked row by row:
// every MANIFEST.tsv row is validated and must get its expected verdict and
// message class.  Rows marked `policy` get the decisions below (the same
// table is in src/image/validate.h):
//
//   policy row                              decision  why
//   jpeg_trailing_zip_polyglot.jpg          accept    bytes after EOI dropped: canonical_length = JPEG size
//   jpeg_missing_eoi.jpg                    reject    "Premature end of JPEG file" (no end marker)
//   jpeg_extraneous_bytes_before_eoi.jpg    reject    "extraneous bytes before marker 0xd9" (junk in data)
//   jpeg_bitflips_undetected.jpg            accept    libjpeg reports nothing: undetectable, documented
//   jpeg_no_dht_mjpeg_style.jpg             accept    standard Huffman tables
//   jpeg_exif_header_only.jpg               accept    empty EXIF: metadata
//   jpeg_app1_zero_length.jpg               accept    empty APP1: metadata
//   jpeg_cmyk_no_adobe_marker.jpg           accept    CMYK JPEG
//   testorig12.jpg                          reject    12-bit JPEG ("Unsupported JPEG data precision 12")
//   monkey12.jpg                            reject    12-bit JPEG
//   png_data_after_iend.png                 accept    bytes after IEND dropped: canonical_length = PNG size
//   png_missing_iend.png                    reject    png_read_end: "Read Error"
//   png_ancillary_chunk_bad_crc.png         accept    ancillary CRC: warning, chunk discarded
//   empty_ancillary_chunks.png              accept    ancillary chunk problems: warnings
//   png_bytes_named_photo.jpg               accept    stored as png (content decides)
//   gif_no_image.gif                        reject    no image descriptor: not an image
//   gif_missing_trailer.gif                 reject    missing end marker (0x3B trailer), as JPEG EOI / PNG IEND
//   webp_trailing_data_after_riff.webp      accept    bytes after RIFF size dropped: canonical_length = WebP size
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "image/decoders.h"
#include "image/validate.h"

// check.h defines macros (fail, ...) that clash with the C++ library: last.
#include <check.h>

namespace img = talentd::image;

// Compares two strings held for the whole assertion (ck_assert_str_eq would
// keep pointers into temporaries).
#define ASSERT_STR(a, b)                                                                  \
    do {                                                                                  \
        const std::string a_ = (a), b_ = (b);                                             \
        ck_assert_msg(a_ == b_, "\"%s\" != \"%s\"", a_.c_str(), b_.c_str());                \
    } while (0)

using Bytes = std::vector<uint8_t>;

namespace {

std::string corpus_dir() {
    const char* env = std::getenv("TALENTD_CORPUS");
    return (env && *env) ? env : "../shared/corpus";
}

bool read_file(const std::string& path, Bytes& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return true;
}

Bytes corpus(const std::string& rel) {
    Bytes b;
    if (!read_file(corpus_dir() + "/" + rel, b)) ck_abort_msg("cannot read corpus file %s", rel.c_str());
    return b;
}

img::Verdict run(const Bytes& b, const img::Limits& limits = img::Limits()) {
    return img::validate(b.data(), b.size(), limits);
}

struct Row {
    std::string file, format, expect, reason;
};

std::vector<Row> manifest() {
    std::ifstream in(corpus_dir() + "/MANIFEST.tsv");
    ck_assert_msg(in.good(), "cannot read %s/MANIFEST.tsv", corpus_dir().c_str());
    std::vector<Row> rows;
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::stringstream ss(line);
        Row r;
        std::getline(ss, r.file, '\t');
        std::getline(ss, r.format, '\t');
        std::getline(ss, r.expect, '\t');
        std::getline(ss, r.reason, '\t');
        rows.push_back(r);
    }
    return rows;
}

// The policy decisions (see the table above).
const std::map<std::string, bool>& policy() {
    static const std::map<std::string, bool> p = {
        {"policy/jpeg_trailing_zip_polyglot.jpg", true},
        {"policy/jpeg_missing_eoi.jpg", false},
        {"policy/jpeg_extraneous_bytes_before_eoi.jpg", false},
        {"policy/jpeg_bitflips_undetected.jpg", true},
        {"policy/jpeg_no_dht_mjpeg_style.jpg", true},
        {"policy/jpeg_exif_header_only.jpg", true},
        {"policy/jpeg_app1_zero_length.jpg", true},
        {"policy/jpeg_cmyk_no_adobe_marker.jpg", true},
        {"policy/testorig12.jpg", false},
        {"policy/monkey12.jpg", false},
        {"policy/png_data_after_iend.png", true},
        {"policy/png_missing_iend.png", false},
        {"policy/png_ancillary_chunk_bad_crc.png", true},
        {"policy/empty_ancillary_chunks.png", true},
        {"policy/png_bytes_named_photo.jpg", true},
        {"policy/gif_no_image.gif", false},
        {"policy/gif_missing_trailer.gif", false},
        {"policy/webp_trailing_data_after_riff.webp", true},
    };
    return p;
}

// Accepted files with trailing bytes: canonical_length is the size of the
// image they were made from.
const std::map<std::string, std::string>& trailing_sources() {
    static const std::map<std::string, std::string> t = {
        {"policy/jpeg_trailing_zip_polyglot.jpg", "valid/jpeg/baseline_420_q90.jpg"},
        {"policy/png_data_after_iend.png", "valid/png/basn2c08.png"},
        {"policy/webp_trailing_data_after_riff.webp", "valid/webp/test.webp"},
    };
    return t;
}

// The exact message expected for a refused row; kInvalidMessage when absent.
std::string expected_message(const std::string& file, size_t size) {
    const std::vector<std::string> allowed = img::Limits().allowed_types;
    static const std::map<std::string, std::string> ext = {
        {"invalid/other/image.svg", "svg"},         {"invalid/other/svg_named_avatar.png", "svg"},
        {"invalid/other/vgl_6434_0018a.bmp", "bmp"}, {"invalid/other/testorig.ppm", "ppm"},
        {"invalid/other/image.tiff", "tiff"},        {"invalid/other/image.ico", "ico"},
        {"invalid/other/document.pdf", "pdf"},       {"invalid/other/heic_like.heic", "heic"},
    };
    if (auto it = ext.find(file); it != ext.end()) return img::extension_message(it->second, allowed);
    if (file == "invalid/other/empty.jpg") return img::kEmptyMessage;
    if (file.rfind("invalid/size/", 0) == 0) return img::size_message(5242880, size);
    if (file == "invalid/bomb/png_50000x50000_1bit_zeros.png") return img::dimensions_message(50000, 50000, 50000000);
    if (file == "invalid/bomb/jpeg_sof_65000x65000.jpg") return img::dimensions_message(65000, 65000, 50000000);
    if (file == "invalid/bomb/gif_screen_65535x65535.gif") return img::dimensions_message(65535, 65535, 50000000);
    if (file == "invalid/bomb/webp_lossless_16383x16383.webp") return img::dimensions_message(16383, 16383, 50000000);
    if (file == "invalid/bomb/gif_2000frames_720x720.gif") return img::frames_message(2000, 500);
    if (file == "invalid/bomb/webp_anim_2000frames_1000x1000.webp") return img::frames_message(2000, 500);
    return img::kInvalidMessage;
}

img::Format format_of_column(const std::string& f) {
    if (f == "jpeg") return img::Format::Jpeg;
    if (f == "png") return img::Format::Png;
    if (f == "gif") return img::Format::Gif;
    if (f == "webp") return img::Format::Webp;
    return img::Format::Unknown;
}

}  // namespace

// ------------------------------------------------------------------ corpus

START_TEST(every_manifest_row) {
    const std::vector<Row> rows = manifest();
    ck_assert_int_ge(rows.size(), 150);
    int checked = 0, accepted = 0, refused = 0;
    for (const Row& r : rows) {
        const Bytes b = corpus(r.file);
        const img::Verdict v = run(b);
        bool want_ok;
        if (r.expect == "accept") want_ok = true;
        else if (r.expect == "reject") want_ok = false;
        else {
            auto it = policy().find(r.file);
            ck_assert_msg(it != policy().end(), "policy row without a decision: %s", r.file.c_str());
            want_ok = it->second;
        }
        ck_assert_msg(v.ok == want_ok, "%s: expected %s, got %s (%s)", r.file.c_str(), want_ok ? "accept" : "reject",
                      v.ok ? "accept" : "reject", v.reason.c_str());
        if (v.ok) {
            ++accepted;
            ck_assert_msg(v.message.empty() && v.reason.empty(), "%s: message on success", r.file.c_str());
            ck_assert_msg(v.format == format_of_column(r.format), "%s: format %s", r.file.c_str(),
                          img::format_name(v.format));
            ck_assert_msg(v.width > 0 && v.height > 0 && v.frames > 0, "%s: no size", r.file.c_str());
            size_t want_len = b.size();
            if (auto t = trailing_sources().find(r.file); t != trailing_sources().end()) {
                want_len = corpus(t->second).size();
                ck_assert_msg(want_len < b.size(), "%s: no trailing data?", r.file.c_str());
            }
            ck_assert_msg(v.canonical_length == want_len, "%s: canonical_length %zu, want %zu", r.file.c_str(),
                          v.canonical_length, want_len);
            ck_assert(!v.extension.empty() && v.content_type.rfind("image/", 0) == 0);
        } else {
            ++refused;
            const std::string want = expected_message(r.file, b.size());
            ck_assert_msg(v.message == want, "%s: message \"%s\", want \"%s\"", r.file.c_str(), v.message.c_str(),
                          want.c_str());
            ck_assert_msg(!v.reason.empty(), "%s: no reason", r.file.c_str());
        }
        ++checked;
    }
    ck_assert_int_eq(checked, int(rows.size()));
    std::printf("corpus: %d rows, %d accepted, %d refused\n", checked, accepted, refused);
}
END_TEST

START_TEST(policy_table_covers_every_policy_row) {
    int policy_rows = 0;
    for (const Row& r : manifest())
        if (r.expect == "policy") {
            ++policy_rows;
            ck_assert_msg(policy().count(r.file), "no decision for %s", r.file.c_str());
        }
    ck_assert_int_eq(policy_rows, int(policy().size()));
}
END_TEST

START_TEST(sizes_and_formats_of_known_files) {
    struct {
        const char* file;
        img::Format format;
        const char* ext;
        const char* type;
        uint32_t w, h, frames;
    } cases[] = {
        {"valid/jpeg/large_4000x3000_4.9MiB.jpg", img::Format::Jpeg, "jpg", "image/jpeg", 4000, 3000, 1},
        {"valid/png/apng_4frames.png", img::Format::Png, "png", "image/png", 48, 32, 4},
        {"valid/gif/fire.gif", img::Format::Gif, "gif", "image/gif", 30, 60, 33},
        {"valid/webp/animated_lossy_fire.webp", img::Format::Webp, "webp", "image/webp", 30, 60, 33},
        {"valid/webp/lossless1.webp", img::Format::Webp, "webp", "image/webp", 1000, 307, 1},
        {"policy/png_bytes_named_photo.jpg", img::Format::Png, "png", "image/png", 32, 32, 1},
    };
    for (const auto& c : cases) {
        const img::Verdict v = run(corpus(c.file));
        ck_assert_msg(v.ok, "%s: %s", c.file, v.reason.c_str());
        ck_assert(v.format == c.format);
        ASSERT_STR(v.extension.c_str(), c.ext);
        ASSERT_STR(v.content_type.c_str(), c.type);
        ck_assert_uint_eq(v.width, c.w);
        ck_assert_uint_eq(v.height, c.h);
        ck_assert_uint_eq(v.frames, c.frames);
    }
}
END_TEST

START_TEST(metadata_warnings_are_logged_not_fatal) {
    img::Verdict v = run(corpus("policy/png_ancillary_chunk_bad_crc.png"));
    ck_assert(v.ok);
    ck_assert_int_ge(v.warnings.size(), 1);
    ck_assert_msg(v.warnings[0].find("tEXt: CRC error") != std::string::npos, "%s", v.warnings[0].c_str());
    v = run(corpus("policy/empty_ancillary_chunks.png"));
    ck_assert(v.ok);
    ck_assert_int_ge(v.warnings.size(), 3);
}
END_TEST

// ------------------------------------------------------------------ sniffing and messages

START_TEST(sniff_magic_bytes) {
    struct {
        std::string bytes;
        img::Format f;
    } cases[] = {
        {std::string("\xFF\xD8\xFF\xE0", 4), img::Format::Jpeg},
        {std::string("\x89PNG\r\n\x1A\n", 8), img::Format::Png},
        {"GIF87a", img::Format::Gif},
        {"GIF89a", img::Format::Gif},
        {"GIF90a", img::Format::Unknown},
        {std::string("RIFF\0\0\0\0WEBP", 12), img::Format::Webp},
        {std::string("RIFF\0\0\0\0WAVE", 12), img::Format::Unknown},
        {std::string("BM\0\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0", 18), img::Format::Bmp},
        {"BMW is a car", img::Format::Unknown},
        {std::string("II*\0", 4), img::Format::Tiff},
        {std::string("MM\0*", 4), img::Format::Tiff},
        {"%PDF-1.4\n", img::Format::Pdf},
        {std::string("\0\0\0\x18" "ftypheic\0\0\0\0mif1heic", 24), img::Format::Heic},
        {std::string("\0\0\0\x18" "ftypmif1\0\0\0\0mif1avif", 24), img::Format::Avif},
        {std::string("\0\0\0\x18" "ftypavif\0\0\0\0mif1miaf", 24), img::Format::Avif},
        {std::string("\0\0\0\x18" "ftypisom\0\0\0\0isomiso2", 24), img::Format::Unknown},
        {std::string("\0\0\1\0\1\0\x10\x10\0\0\1\0\x20\0\x10\0\0\0\x16\0\0\0", 22), img::Format::Ico},
        {"P6\n1 1\n255\n", img::Format::Pnm},
        {"\xEF\xBB\xBF  <?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>", img::Format::Svg},
        {"<svg width=\"1\"/>", img::Format::Svg},
        {"<!DOCTYPE html><html><body>hello</body></html>", img::Format::Unknown},
        {"<?xml version=\"1.0\"?><root/>", img::Format::Unknown},
        {"hello", img::Format::Unknown},
        {"", img::Format::Unknown},
    };
    for (const auto& c : cases) {
        const img::Format f = img::sniff(reinterpret_cast<const uint8_t*>(c.bytes.data()), c.bytes.size());
        ck_assert_msg(f == c.f, "sniff(%s) = %s, want %s", c.bytes.substr(0, 12).c_str(), img::format_name(f),
                      img::format_name(c.f));
    }
    ASSERT_STR(img::format_name(img::Format::Jpeg), "jpeg");
    ASSERT_STR(img::format_name(img::Format::Avif), "avif");
    ASSERT_STR(img::format_name(img::Format::Unknown), "unknown");
}
END_TEST

START_TEST(message_texts) {
    ASSERT_STR(img::size_message(5242880, 5242881).c_str(),
                     "Ensure this file is no larger than 5242880 bytes (5.0 MiB); it is 5242881 bytes.");
    ASSERT_STR(img::size_message(1000000, 1000001).c_str(),
                     "Ensure this file is no larger than 1000000 bytes (1.0 MiB); it is 1000001 bytes.");
    ASSERT_STR(img::extension_message("bmp", img::Limits().allowed_types).c_str(),
                     "File extension \xE2\x80\x9C" "bmp\xE2\x80\x9D is not allowed. Allowed extensions are: jpg, "
                     "jpeg, png, gif, webp.");
    ASSERT_STR(img::dimensions_message(65000, 65000, 50000000).c_str(),
                     "Image dimensions 65000x65000 (4225000000 pixels) exceed the limit of 50000000 pixels.");
    ASSERT_STR(img::frames_message(2000, 500).c_str(), "Image has 2000 frames; the limit is 500.");
    ASSERT_STR(img::total_pixels_message(1036800000, 250000000).c_str(),
                     "Image frames total 1036800000 pixels; the limit is 250000000 pixels.");
    ASSERT_STR(img::kInvalidMessage,
                     "Upload a valid image. The file you uploaded was either not an image or a corrupted image.");
}
END_TEST

START_TEST(empty_and_size_checked_first) {
    img::Verdict v = img::validate(nullptr, 0, img::Limits());
    ck_assert(!v.ok);
    ASSERT_STR(v.message.c_str(), "The submitted file is empty.");
    // Over the size limit: refused before sniffing, whatever the bytes.
    Bytes junk(2000, 'x');
    img::Limits small;
    small.max_image_size = 1999;
    v = run(junk, small);
    ASSERT_STR(v.message.c_str(), img::size_message(1999, 2000).c_str());
    ck_assert(v.format == img::Format::Unknown);
    small.max_image_size = 2000;
    v = run(junk, small);
    ASSERT_STR(v.message.c_str(), img::kInvalidMessage);
}
END_TEST

START_TEST(allowed_types_from_configuration) {
    img::Limits l;
    l.allowed_types = {"png", "webp"};
    img::Verdict v = run(corpus("valid/gif/fire.gif"), l);
    ck_assert(!v.ok);
    ASSERT_STR(v.message.c_str(),
                     "File extension \u201Cgif\u201D is not allowed. Allowed extensions are: png, webp.");
    v = run(corpus("valid/jpeg/testorig.jpg"), l);
    ASSERT_STR(v.message.c_str(), img::extension_message("jpg", l.allowed_types).c_str());
    ck_assert(run(corpus("valid/png/basn2c08.png"), l).ok);
    l.allowed_types = {"JPEG"};  // either jpg or jpeg, any case
    ck_assert(run(corpus("valid/jpeg/testorig.jpg"), l).ok);
    l.allowed_types = {"jpg"};
    ck_assert(run(corpus("valid/jpeg/testorig.jpg"), l).ok);
    v = run(corpus("invalid/other/vgl_6434_0018a.bmp"), l);
    ASSERT_STR(v.message.c_str(), "File extension \u201Cbmp\u201D is not allowed. Allowed extensions are: jpg.");
}
END_TEST

// ------------------------------------------------------------------ limits

START_TEST(limits_from_headers) {
    img::Limits l;
    l.max_image_pixels = 4000 * 3000 - 1;
    img::Verdict v = run(corpus("valid/jpeg/large_4000x3000_4.9MiB.jpg"), l);
    ASSERT_STR(v.message.c_str(), img::dimensions_message(4000, 3000, l.max_image_pixels).c_str());

    l = img::Limits();
    l.max_frames = 32;
    v = run(corpus("valid/gif/fire.gif"), l);
    ASSERT_STR(v.message.c_str(), "Image has 33 frames; the limit is 32.");
    v = run(corpus("valid/webp/animated_lossless_fire.webp"), l);
    ASSERT_STR(v.message.c_str(), "Image has 33 frames; the limit is 32.");
    l.max_frames = 3;
    v = run(corpus("valid/png/apng_4frames.png"), l);
    ASSERT_STR(v.message.c_str(), "Image has 4 frames; the limit is 3.");

    // The total is the sum of the frames' own rectangles: exactly at it passes.
    for (const char* f : {"valid/gif/fire.gif", "valid/webp/animated_lossy_fire.webp", "valid/png/apng_4frames.png"}) {
        l = img::Limits();
        l.max_total_pixels = 1000;
        v = run(corpus(f), l);
        unsigned long long total = 0;
        ck_assert_msg(std::sscanf(v.message.c_str(), "Image frames total %llu pixels;", &total) == 1, "%s: %s", f,
                      v.message.c_str());
        ASSERT_STR(v.message, img::total_pixels_message(total, 1000));
        ck_assert(total > 1000);
        l.max_total_pixels = int64_t(total);
        ck_assert_msg(run(corpus(f), l).ok, "%s at its total", f);
        l.max_total_pixels = int64_t(total) - 1;
        ck_assert(!run(corpus(f), l).ok);
    }

    // Dimensions are checked before frames, frames before the total.
    l = img::Limits();
    v = run(corpus("invalid/bomb/gif_2000frames_720x720.gif"), l);
    ASSERT_STR(v.message.c_str(), "Image has 2000 frames; the limit is 500.");
    l.max_frames = 5000;
    v = run(corpus("invalid/bomb/gif_2000frames_720x720.gif"), l);
    ASSERT_STR(v.message.c_str(),
                     "Image frames total 1036800000 pixels; the limit is 250000000 pixels.");
    l.max_image_pixels = 720 * 720 - 1;
    v = run(corpus("invalid/bomb/gif_2000frames_720x720.gif"), l);
    ASSERT_STR(v.message.c_str(), img::dimensions_message(720, 720, l.max_image_pixels).c_str());
}
END_TEST

START_TEST(decode_memory_bounds) {
    // Lossless WebP needs width*height*4 inside libwebp: refused before decoding.
    img::Limits l;
    l.max_image_pixels = 300000000;
    l.max_total_pixels = 300000000;
    l.max_decoded_bytes = INT64_MAX;
    img::Verdict v = run(corpus("invalid/bomb/webp_lossless_16383x16383.webp"), l);
    ck_assert(!v.ok);
    ASSERT_STR(v.message.c_str(), img::kInvalidMessage);
    ck_assert_msg(v.reason.find("max_decode_memory") != std::string::npos, "%s", v.reason.c_str());
    // The ARGB buffer plus the Huffman tables' upper bound read from the
    // header (named in the reason).
    l = img::Limits();
    l.max_decode_memory = 1000 * 307 * 4;
    v = run(corpus("valid/webp/lossless1.webp"), l);
    unsigned long long tables = 0;
    const size_t at = v.reason.find("Huffman tables for up to ");
    ck_assert_msg(at != std::string::npos && std::sscanf(v.reason.c_str() + at, "Huffman tables for up to %llu", &tables) == 1,
                  "%s", v.reason.c_str());
    const int64_t lossless1 = 1000 * 307 * 4 + int64_t(tables);
    l.max_decode_memory = lossless1 - 1;
    ck_assert(!run(corpus("valid/webp/lossless1.webp"), l).ok);
    l.max_decode_memory = lossless1;
    ck_assert(run(corpus("valid/webp/lossless1.webp"), l).ok);

    // Progressive JPEG buffers its coefficients: bounded by max_memory_to_use.
    l = img::Limits();
    l.max_decode_memory = 16 * 1024;
    v = run(corpus("valid/jpeg/progressive.jpg"), l);
    ck_assert(!v.ok);
    ck_assert_msg(v.reason.find("Backing store") != std::string::npos, "%s", v.reason.c_str());
    ck_assert(run(corpus("valid/jpeg/baseline_420_q90.jpg"), l).ok);  // single scan: no buffer

    // Scans.
    l = img::Limits();
    l.max_progressive_scans = 9;
    ck_assert(!run(corpus("valid/jpeg/progressive.jpg"), l).ok);
    l.max_progressive_scans = 10;
    ck_assert(run(corpus("valid/jpeg/progressive.jpg"), l).ok);
}
END_TEST

// ------------------------------------------------------------------ decoder error paths

namespace {

uint32_t crc32(const uint8_t* p, size_t n, uint32_t crc = 0) {
    crc ^= 0xFFFFFFFFu;
    for (size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        for (int k = 0; k < 8; ++k) crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
    }
    return crc ^ 0xFFFFFFFFu;
}

void put_be32(uint8_t* p, uint32_t v) {
    p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v);
}

void add_chunk(Bytes& png, const char* type, const Bytes& data) {
    uint8_t h[8];
    put_be32(h, uint32_t(data.size()));
    std::memcpy(h + 4, type, 4);
    png.insert(png.end(), h, h + 8);
    png.insert(png.end(), data.begin(), data.end());
    uint32_t crc = crc32(h + 4, 4);
    crc = crc32(data.data(), data.size(), crc);
    uint8_t c[4];
    put_be32(c, crc);
    png.insert(png.end(), c, c + 4);
}

Bytes png_header(uint32_t w, uint32_t h, uint8_t depth, uint8_t color_type) {
    Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    Bytes ihdr(13, 0);
    put_be32(ihdr.data(), w);
    put_be32(ihdr.data() + 4, h);
    ihdr[8] = depth;
    ihdr[9] = color_type;
    add_chunk(png, "IHDR", ihdr);
    return png;
}

Bytes prefix(const Bytes& b, size_t n) { return Bytes(b.begin(), b.begin() + long(n)); }

}  // namespace

START_TEST(truncation_anywhere_is_refused) {
    const char* files[] = {"valid/jpeg/baseline_420_q90.jpg", "valid/jpeg/progressive.jpg",
                           "valid/jpeg/testimgari.jpg",       "valid/png/basi6a08.png",
                           "valid/png/apng_4frames.png",      "valid/gif/welcome2.gif",
                           "valid/gif/animated_local_color_tables.gif", "valid/webp/lossy_alpha1.webp",
                           "valid/webp/animated_lossless_fire.webp",    "valid/webp/lossless1.webp"};
    for (const char* f : files) {
        const Bytes b = corpus(f);
        // Every prefix for small files; 64 points spread over larger ones.
        const size_t step = b.size() <= 2048 ? 1 : b.size() / 64;
        for (size_t n = 1; n < b.size(); n += step) {
            const img::Verdict v = run(prefix(b, n));
            // A GIF cut at a record boundary lacks its trailer: refused too.
            ck_assert_msg(!v.ok, "%s cut at %zu of %zu was accepted", f, n, b.size());
            ck_assert_msg(v.message == img::kInvalidMessage, "%s cut at %zu: %s", f, n, v.message.c_str());
        }
    }
}
END_TEST

START_TEST(png_every_byte_flip_is_refused) {
    // Every single-byte change breaks a CRC, the structure or the zlib stream;
    // only damage confined to an ancillary chunk may pass, with a warning.
    for (const char* f : {"valid/png/tiny_1x1_rgba.png", "valid/png/basn0g01.png", "valid/png/basi3p02.png"}) {
        const Bytes b = corpus(f);
        for (size_t i = 0; i < b.size(); ++i) {
            for (uint8_t bit : {uint8_t(0x01), uint8_t(0x20), uint8_t(0x80)}) {
                Bytes c = b;
                c[i] ^= bit;
                const img::Verdict v = run(c);
                ck_assert_msg(!v.ok || !v.warnings.empty(), "%s with byte %zu ^ %u accepted silently", f, i, bit);
            }
        }
    }
    const Bytes tiny = corpus("valid/png/tiny_1x1_rgba.png");  // IHDR, IDAT, IEND only
    for (size_t i = 0; i < tiny.size(); ++i) {
        Bytes c = tiny;
        c[i] ^= 0x04;
        ck_assert_msg(!run(c).ok, "tiny_1x1_rgba.png with byte %zu flipped was accepted", i);
    }
}
END_TEST

START_TEST(png_idat_damage_with_valid_crc) {
    const Bytes b = corpus("valid/png/basn2c08.png");
    // Find IDAT and damage its zlib data at several places, fixing the CRC.
    size_t pos = 8;
    while (pos + 12 <= b.size() && std::memcmp(b.data() + pos + 4, "IDAT", 4) != 0)
        pos += 12 + (size_t(b[pos]) << 24 | size_t(b[pos + 1]) << 16 | size_t(b[pos + 2]) << 8 | b[pos + 3]);
    ck_assert(pos + 12 <= b.size());
    const size_t len = size_t(b[pos]) << 24 | size_t(b[pos + 1]) << 16 | size_t(b[pos + 2]) << 8 | b[pos + 3];
    // (The last deflate byte and the Adler-32 are spared: a final block's
    // padding bits are legitimately ignored by inflate.)
    for (size_t k = 0; k + 6 < len; k += 7) {
        Bytes c = b;
        c[pos + 8 + k] ^= 0x01;
        put_be32(c.data() + pos + 8 + len, crc32(c.data() + pos + 4, len + 4));
        ck_assert_msg(!run(c).ok, "IDAT byte %zu flipped (CRC fixed) was accepted", k);
    }
}
END_TEST

START_TEST(png_apng_frame_damage) {
    const Bytes b = corpus("valid/png/apng_4frames.png");
    // Damage each fdAT payload byte (after the sequence number), fixing the CRC:
    // the frame's zlib stream (or Adler-32) must catch it.
    size_t pos = 8, damaged = 0;
    while (pos + 12 <= b.size()) {
        const size_t len = size_t(b[pos]) << 24 | size_t(b[pos + 1]) << 16 | size_t(b[pos + 2]) << 8 | b[pos + 3];
        if (std::memcmp(b.data() + pos + 4, "fdAT", 4) == 0) {
            for (size_t k = 4; k + 6 < len; k += 3) {
                Bytes c = b;
                c[pos + 8 + k] ^= 0x10;
                put_be32(c.data() + pos + 8 + len, crc32(c.data() + pos + 4, len + 4));
                ck_assert_msg(!run(c).ok, "fdAT at %zu byte %zu flipped was accepted", pos, k);
                ++damaged;
            }
            Bytes c = b;  // a CRC error in fdAT is an image-data error
            c[pos + 8 + len] ^= 1;
            ck_assert(!run(c).ok);
        }
        pos += 12 + len;
    }
    ck_assert_int_gt(damaged, 10);
}
END_TEST

START_TEST(png_wide_rows_and_user_limits) {
    // 20,000,000 x 1 RGBA16 is within max_image_pixels but one row is 160 MB.
    Bytes png = png_header(20000000, 1, 16, 6);
    add_chunk(png, "IEND", {});
    img::Verdict v = run(png);
    ck_assert(!v.ok);
    ASSERT_STR(v.message.c_str(), img::kInvalidMessage);
    ck_assert_msg(v.reason.find("max_decode_memory") != std::string::npos, "%s", v.reason.c_str());
    // Dimensions over the limit are named even with no data at all.
    png = png_header(10000, 10000, 8, 2);
    v = run(png);
    ASSERT_STR(v.message.c_str(), img::dimensions_message(10000, 10000, 50000000).c_str());
    // An ancillary chunk claiming 1.1 GB in a small file: libpng would
    // allocate that much before reading it; refused first.
    png = png_header(1, 1, 8, 2);
    const uint8_t lie[] = {0x47, 0, 0, 0, 'p', 'C', 'A', 'L', 'x', 'x', 'x', 'x'};
    png.insert(png.end(), lie, lie + sizeof lie);
    v = run(png);
    ck_assert(!v.ok);
    ck_assert_msg(v.reason.find("runs past the end") != std::string::npos, "%s", v.reason.c_str());
    // Width 0 / missing IDAT.
    png = png_header(0, 1, 8, 2);
    add_chunk(png, "IEND", {});
    ASSERT_STR(run(png).message.c_str(), img::kInvalidMessage);
    png = png_header(1, 1, 8, 2);
    add_chunk(png, "IEND", {});
    ck_assert(!run(png).ok);
}
END_TEST

START_TEST(jpeg_structure_errors) {
    const Bytes b = corpus("valid/jpeg/baseline_420_q90.jpg");
    int scans = 0;
    ck_assert_uint_eq(img::detail::jpeg_stream_end(b.data(), b.size(), &scans), b.size());
    ck_assert_int_eq(scans, 1);
    const Bytes p = corpus("valid/jpeg/progressive.jpg");
    ck_assert_uint_eq(img::detail::jpeg_stream_end(p.data(), p.size(), &scans), p.size());
    ck_assert_int_eq(scans, 10);
    const Bytes r = corpus("valid/jpeg/restart_every_mcu.jpg");
    ck_assert_uint_eq(img::detail::jpeg_stream_end(r.data(), r.size(), &scans), r.size());

    // An EOI inside an APP segment (an embedded thumbnail) is not the end.
    Bytes t(b.begin(), b.begin() + 2);
    const uint8_t app[] = {0xFF, 0xE1, 0x00, 0x08, 0xFF, 0xD8, 0xFF, 0xD9, 0x00, 0x00};
    t.insert(t.end(), app, app + sizeof app);
    t.insert(t.end(), b.begin() + 2, b.end());
    img::Verdict v = run(t);
    ck_assert_msg(v.ok, "%s", v.reason.c_str());
    ck_assert_uint_eq(v.canonical_length, t.size());
    // ... and a trailing second JPEG is dropped.
    Bytes two = b;
    two.insert(two.end(), b.begin(), b.end());
    v = run(two);
    ck_assert(v.ok);
    ck_assert_uint_eq(v.canonical_length, b.size());

    // SOF precision 12, SOF height 0, components 0, a marker byte flipped.
    auto find_marker = [&](uint8_t m) {
        for (size_t i = 2; i + 1 < b.size(); ++i)
            if (b[i] == 0xFF && b[i + 1] == m) return i;
        ck_abort_msg("marker not found");
        return size_t(0);
    };
    const size_t sof = find_marker(0xC0);
    Bytes c = b;
    c[sof + 4] = 12;
    ck_assert(!run(c).ok);
    c = b;
    c[sof + 9] = 0;
    ck_assert(!run(c).ok);
    const size_t sos = find_marker(0xDA);
    c = b;
    c[sos + 1] = 0xDB;  // SOS turned into DQT
    ck_assert(!run(c).ok);
    c = b;
    c.insert(c.begin() + long(sos), {'j', 'u', 'n', 'k'});  // junk between segments
    ck_assert(!run(c).ok);
    // A metadata-only warning (unknown JFIF major version) is logged, not fatal.
    c = b;
    for (size_t i = 2; i + 7 < c.size(); ++i)
        if (std::memcmp(c.data() + i, "JFIF\0", 5) == 0) {
            c[i + 5] = 2;
            break;
        }
    v = run(c);
    ck_assert_msg(v.ok, "%s", v.reason.c_str());
    ck_assert_int_eq(v.warnings.size(), 1);
    ck_assert_msg(v.warnings[0].find("JFIF") != std::string::npos, "%s", v.warnings[0].c_str());
    // Damage in the entropy-coded data that libjpeg reports.
    ck_assert(!run(corpus("invalid/jpeg/bitflip_entropy.jpg")).ok);
}
END_TEST

START_TEST(gif_structure_errors) {
    const Bytes b = corpus("valid/gif/welcome2.gif");
    // Garbage record type after the images.
    Bytes c = b;
    c.back() = 0x55;
    ck_assert(!run(c).ok);
    // Data after the trailer is dropped.
    c = b;
    c.insert(c.end(), {'<', '?', 'p', 'h', 'p'});
    img::Verdict v = run(c);
    ck_assert(v.ok);
    ck_assert_uint_eq(v.canonical_length, b.size());
    // LZW minimum code size byte out of range in the first image.
    const Bytes g = corpus("valid/gif/gifgrid.gif");
    ck_assert(!run(corpus("invalid/gif/bad_lzw_code_size_12.gif")).ok);
    // A zero-sized image.
    Bytes z = corpus("valid/gif/tiny_1x1_87a.gif");
    for (size_t i = 13; i + 9 < z.size(); ++i)
        if (z[i] == 0x2C) {
            z[i + 5] = 0;
            z[i + 6] = 0;
            break;
        }
    ck_assert(!run(z).ok);
    // A logical screen of zero height (found by fuzzing: was accepted as 1x0).
    z = corpus("valid/gif/tiny_1x1_87a.gif");
    z[8] = 0;
    ck_assert(!run(z).ok);
    ck_assert(run(g).ok);
}
END_TEST

START_TEST(webp_structure_errors) {
    const Bytes b = corpus("valid/webp/test.webp");
    // RIFF size smaller than the chunk inside it.
    Bytes c = b;
    c[4] = uint8_t(c[4] - 100);
    ck_assert(!run(c).ok);
    // A truncated file whose RIFF size is patched to match.
    c = prefix(b, b.size() / 2 & ~size_t(1));
    const uint32_t riff = uint32_t(c.size() - 8);
    c[4] = uint8_t(riff); c[5] = uint8_t(riff >> 8); c[6] = uint8_t(riff >> 16); c[7] = uint8_t(riff >> 24);
    ck_assert(!run(c).ok);
    // Damage in the VP8 frame header.
    c = b;
    c[20 + 3] ^= 0xFF;  // the VP8 start code
    ck_assert(!run(c).ok);
}
END_TEST

// ------------------------------------------------------------------ memory

START_TEST(peak_memory_of_every_corpus_file) {
    // 96 MiB for the whole child (libraries, the file, the decoders), in the
    // ASan build too (measured: about 10 MiB plain, 25 MiB with ASan).
    const long bound_kb = 96 * 1024;
    long worst = 0;
    std::string worst_file;
    for (const Row& r : manifest()) {
        const std::string path = corpus_dir() + "/" + r.file;
        const pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            Bytes b;
            if (!read_file(path, b)) _exit(3);
            const img::Verdict v = img::validate(b.data(), b.size(), img::Limits());
            _exit(v.ok ? 0 : 1);
        }
        int status = 0;
        rusage ru{};
        ck_assert_int_eq(wait4(pid, &status, 0, &ru), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) <= 1, "%s: child died (status %d)", r.file.c_str(),
                      status);
        ck_assert_msg(ru.ru_maxrss < bound_kb, "%s: peak RSS %ld KiB over %ld KiB", r.file.c_str(), ru.ru_maxrss,
                      bound_kb);
        if (ru.ru_maxrss > worst) {
            worst = ru.ru_maxrss;
            worst_file = r.file;
        }
    }
    std::printf("peak memory: worst %ld KiB (%s), bound %ld KiB\n", worst, worst_file.c_str(), bound_kb);
}
END_TEST

int main() {
    Suite* s = suite_create("image");
    TCase* corpus_case = tcase_create("corpus");
    tcase_set_timeout(corpus_case, 600);
    tcase_add_test(corpus_case, every_manifest_row);
    tcase_add_test(corpus_case, policy_table_covers_every_policy_row);
    tcase_add_test(corpus_case, sizes_and_formats_of_known_files);
    tcase_add_test(corpus_case, metadata_warnings_are_logged_not_fatal);
    tcase_add_test(corpus_case, peak_memory_of_every_corpus_file);
    suite_add_tcase(s, corpus_case);

    TCase* api = tcase_create("api");
    tcase_set_timeout(api, 120);
    tcase_add_test(api, sniff_magic_bytes);
    tcase_add_test(api, message_texts);
    tcase_add_test(api, empty_and_size_checked_first);
    tcase_add_test(api, allowed_types_from_configuration);
    tcase_add_test(api, limits_from_headers);
    tcase_add_test(api, decode_memory_bounds);
    suite_add_tcase(s, api);

    TCase* decoders = tcase_create("decoders");
    tcase_set_timeout(decoders, 600);
    tcase_add_test(decoders, truncation_anywhere_is_refused);
    tcase_add_test(decoders, png_every_byte_flip_is_refused);
    tcase_add_test(decoders, png_idat_damage_with_valid_crc);
    tcase_add_test(decoders, png_apng_frame_damage);
    tcase_add_test(decoders, png_wide_rows_and_user_limits);
    tcase_add_test(decoders, jpeg_structure_errors);
    tcase_add_test(decoders, gif_structure_errors);
    tcase_add_test(decoders, webp_structure_errors);
    suite_add_tcase(s, decoders);

    SRunner* sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
