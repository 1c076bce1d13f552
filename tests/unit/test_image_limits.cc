// The limits of image/validate at their boundaries, for every format:
// a picture exactly at a limit is accepted, one unit over it is refused with
// the message naming the limit (max_image_size, max_image_pixels,
// max_frames, max_total_pixels).  An off-by-one (`>` turned `>=`) at any of
// them fails here.  The sniffers are tested as exactly: each format named for
// the bytes it documents and for nothing one value away, with the extension
// screen() names in the refusal.
//
// The pictures come from the corpus (TALENTD_CORPUS); their size,
// dimensions and frame count are read from a first, unlimited validation.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <iterator>
#include <string>
#include <vector>

#include "image/decoders.h"
#include "image/validate.h"

// Last: check.h defines a `fail` macro that breaks the standard headers.
#include <check.h>

namespace img = talentd::image;

namespace {

std::string corpus_file(const std::string& relative) {
    const char* dir = std::getenv("TALENTD_CORPUS");
    std::string path = std::string(dir && *dir ? dir : "../shared/corpus") + "/" + relative;
    std::ifstream in(path, std::ios::binary);
    ck_assert_msg(in.good(), "cannot read %s (set TALENTD_CORPUS)", path.c_str());
    return std::string(std::istreambuf_iterator<char>(in), {});
}

img::Verdict run(const std::string& bytes, const img::Limits& limits) {
    return img::validate(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), limits);
}

// Still pictures and animations of each format.
const char* const kPictures[] = {
    "valid/jpeg/testorig.jpg",         "valid/png/basn2c08.png",          "valid/gif/fire.gif",
    "valid/png/apng_4frames.png",      "valid/webp/animated_lossless_fire.webp",
};

struct Known {
    std::string bytes;
    img::Verdict verdict;
};

Known known(const char* relative) {
    Known k{corpus_file(relative), {}};
    k.verdict = run(k.bytes, img::Limits());
    ck_assert_msg(k.verdict.ok, "%s: %s", relative, k.verdict.reason.c_str());
    ck_assert_msg(k.verdict.width > 0 && k.verdict.height > 0, "%s: no dimensions", relative);
    return k;
}

}  // namespace

START_TEST(size_limit_is_inclusive) {
    for (const char* f : kPictures) {
        Known k = known(f);
        img::Limits l;
        l.max_image_size = static_cast<int64_t>(k.bytes.size());
        ck_assert_msg(run(k.bytes, l).ok, "%s refused at exactly max_image_size", f);
        l.max_image_size -= 1;
        img::Verdict v = run(k.bytes, l);
        ck_assert_msg(!v.ok, "%s accepted one byte over max_image_size", f);
        const std::string expected = img::size_message(l.max_image_size, k.bytes.size());
        ck_assert_str_eq(v.message.c_str(), expected.c_str());
    }
}
END_TEST

START_TEST(pixel_limit_is_inclusive) {
    for (const char* f : kPictures) {
        Known k = known(f);
        const int64_t pixels = static_cast<int64_t>(k.verdict.width) * static_cast<int64_t>(k.verdict.height);
        img::Limits l;
        l.max_image_pixels = pixels;
        img::Verdict at = run(k.bytes, l);
        ck_assert_msg(at.ok, "%s (%lld pixels) refused at max_image_pixels = %lld: %s", f,
                      static_cast<long long>(pixels), static_cast<long long>(pixels), at.message.c_str());
        l.max_image_pixels = pixels - 1;
        img::Verdict over = run(k.bytes, l);
        ck_assert_msg(!over.ok, "%s accepted one pixel over max_image_pixels", f);
        const std::string expected = img::dimensions_message(k.verdict.width, k.verdict.height, pixels - 1);
        ck_assert_str_eq(over.message.c_str(), expected.c_str());
    }
}
END_TEST

START_TEST(frame_limit_is_inclusive) {
    for (const char* f : kPictures) {
        Known k = known(f);
        const int64_t frames = static_cast<int64_t>(k.verdict.frames);
        ck_assert_msg(frames >= 1, "%s: %lld frames", f, static_cast<long long>(frames));
        img::Limits l;
        l.max_frames = frames;
        ck_assert_msg(run(k.bytes, l).ok, "%s (%lld frames) refused at max_frames", f, static_cast<long long>(frames));
        l.max_frames = frames - 1;
        img::Verdict over = run(k.bytes, l);
        ck_assert_msg(!over.ok, "%s accepted one frame over max_frames", f);
        const std::string expected = img::frames_message(static_cast<uint64_t>(frames), frames - 1);
        ck_assert_str_eq(over.message.c_str(), expected.c_str());
    }
}
END_TEST

START_TEST(total_pixel_limit_is_inclusive) {
    for (const char* f : kPictures) {
        Known k = known(f);
        // The total is found from the refusal's message at a limit of 1.
        img::Limits l;
        l.max_total_pixels = 1;
        img::Verdict probe = run(k.bytes, l);
        unsigned long long total = 0;
        ck_assert_msg(std::sscanf(probe.message.c_str(), "Image frames total %llu pixels;", &total) == 1, "%s: %s", f,
                      probe.message.c_str());
        l.max_total_pixels = static_cast<int64_t>(total);
        ck_assert_msg(run(k.bytes, l).ok, "%s refused at exactly max_total_pixels (%llu)", f, total);
        l.max_total_pixels = static_cast<int64_t>(total) - 1;
        img::Verdict over = run(k.bytes, l);
        ck_assert_msg(!over.ok, "%s accepted one pixel over max_total_pixels", f);
        const std::string expected = img::total_pixels_message(total, l.max_total_pixels);
        ck_assert_str_eq(over.message.c_str(), expected.c_str());
    }
}
END_TEST

// The smallest ISOBMFF ftyp box (HEIC, AVIF) is 16 bytes: size, "ftyp",
// major brand, minor version.  A 15-byte one is no image at all (the
// invalid-image message), a 16-byte one a HEIC refused by name.
START_TEST(ftyp_box_needs_sixteen_bytes) {
    const std::string box16("\0\0\0\x10" "ftyp" "heic" "\0\0\0\0", 16);
    img::Verdict whole = run(box16, img::Limits());
    ck_assert(!whole.ok);
    ck_assert_msg(whole.message.find("heic") != std::string::npos, "16 bytes: %s", whole.message.c_str());
    img::Verdict cut = run(box16.substr(0, 15), img::Limits());
    ck_assert(!cut.ok);
    ck_assert_str_eq(cut.message.c_str(), img::kInvalidMessage);
}
END_TEST

// The sniffers read 32-bit fields (ICO's image offset, little-endian; the
// ISOBMFF ftyp box size, big-endian) byte by byte: each byte must count at
// its own weight.  Values that need the second, third and fourth byte, just
// at and one under (or past) the boundary the sniffer checks.
namespace {

void put_le32(std::string& d, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) d[at + i] = static_cast<char>(v >> (8 * i));
}

// ICONDIR with `count` entries; the first entry's image offset.
std::string ico(unsigned count, uint32_t offset) {
    std::string d(22, '\0');
    d[2] = 1;
    d[4] = static_cast<char>(count & 0xff);
    d[5] = static_cast<char>(count >> 8);
    put_le32(d, 18, offset);
    return d;
}

// `total` bytes: an ftyp box of `box` bytes (major brand isom, compatible
// brands mp41) with "heic" as the compatible brand at `heic_at`.
std::string ftyp(size_t total, uint32_t box, size_t heic_at) {
    std::string d(total, '\0');
    for (int i = 0; i < 4; ++i) d[i] = static_cast<char>(box >> (24 - 8 * i));
    d.replace(4, 8, "ftypisom");
    for (size_t at = 16; at + 4 <= total; at += 4) d.replace(at, 4, "mp41");
    d.replace(heic_at, 4, "heic");
    return d;
}

img::Format sniffed(const std::string& d) { return img::sniff(reinterpret_cast<const uint8_t*>(d.data()), d.size()); }

}  // namespace

START_TEST(sniff_reads_every_byte_of_its_fields) {
    struct {
        const char* what;
        std::string bytes;
        img::Format f;
    } cases[] = {
        // The image offset must lie past the 6 + 16 * count byte table.
        {"ico, 20 entries, offset 326", ico(20, 326), img::Format::Ico},
        {"ico, 20 entries, offset 325", ico(20, 325), img::Format::Unknown},
        {"ico, 4096 entries, offset 65542", ico(4096, 65542), img::Format::Ico},
        {"ico, 4096 entries, offset 65541", ico(4096, 65541), img::Format::Unknown},
        {"ico, offset 2^24", ico(1, 1u << 24), img::Format::Ico},
        {"ico, offset 2^31", ico(1, 1u << 31), img::Format::Ico},
        // Brands are read up to the end of the ftyp box, and no further.
        {"ftyp of 280 bytes, heic inside", ftyp(300, 280, 272), img::Format::Heic},
        {"ftyp of 280 bytes, heic past it", ftyp(300, 280, 284), img::Format::Unknown},
        {"ftyp of 65568 bytes, heic inside", ftyp(65600, 65568, 65560), img::Format::Heic},
        {"ftyp of 2^24 + 32 bytes, heic inside", ftyp((1u << 24) + 64, (1u << 24) + 32, (1u << 24) + 24),
         img::Format::Heic},
    };
    for (const auto& c : cases) {
        const img::Format f = sniffed(c.bytes);
        ck_assert_msg(f == c.f, "%s: sniffed %s, want %s", c.what, img::format_name(f), img::format_name(c.f));
    }
}
END_TEST


// ------------------------------------------------------------------ sniffing, exactly
//
// Each sniffer names its format for exactly the bytes it documents and for
// nothing one byte, one value or one character away: a refused format is
// refused by name (bmp, ppm, heic, ...), anything else gets the
// invalid-image message, so a sniffer that drifts changes what clients see.
namespace {

std::string with_byte(std::string d, size_t at, char c) {
    d[at] = c;
    return d;
}

std::string bmp(size_t n, uint32_t dib) {
    std::string d(n, '\0');
    d[0] = 'B';
    d[1] = 'M';
    for (size_t i = 0; i < 4 && 14 + i < n; ++i) d[14 + i] = static_cast<char>(dib >> (8 * i));
    return d;
}

// `total` bytes: size, "ftyp", the major brand, a zero minor version, then
// compatible brands: "mp41" everywhere but `brand` at `at` (if at >= 16).
std::string iso(size_t total, uint32_t box, const char* major, const char* brand = "mp41", size_t at = 0) {
    std::string d(total, '\0');
    for (int i = 0; i < 4; ++i) d[i] = static_cast<char>(box >> (24 - 8 * i));
    d.replace(4, 4, "ftyp");
    d.replace(8, 4, major);
    for (size_t o = 16; o + 4 <= total; o += 4) d.replace(o, 4, "mp41");
    if (at >= 16) d.replace(at, 4, brand);
    return d;
}

struct Case {
    std::string what;
    std::string bytes;
    img::Format f;
};

void expect_sniffed(const std::vector<Case>& cases) {
    for (const Case& c : cases) {
        const img::Format f = sniffed(c.bytes);
        ck_assert_msg(f == c.f, "%s: sniffed %s, want %s", c.what.c_str(), img::format_name(f),
                      img::format_name(c.f));
    }
}

}  // namespace

START_TEST(sniff_bmp_exactly) {
    const uint32_t known[] = {12, 16, 40, 52, 56, 64, 108, 124};
    for (uint32_t dib = 0; dib < 300; ++dib) {
        const bool is = std::find(std::begin(known), std::end(known), dib) != std::end(known);
        const img::Format f = sniffed(bmp(18, dib));
        ck_assert_msg(f == (is ? img::Format::Bmp : img::Format::Unknown), "BM with a %u-byte header: %s", dib,
                      img::format_name(f));
    }
    expect_sniffed({
        {"BM, 17 bytes", bmp(17, 40), img::Format::Unknown},
        {"BM, 18 bytes", bmp(18, 40), img::Format::Bmp},
        {"AM", with_byte(bmp(18, 40), 0, 'A'), img::Format::Unknown},
        {"BN", with_byte(bmp(18, 40), 1, 'N'), img::Format::Unknown},
    });
}
END_TEST

START_TEST(sniff_ico_exactly) {
    const std::string one = ico(1, 22);
    expect_sniffed({
        {"icon", one, img::Format::Ico},
        {"cursor", with_byte(one, 2, 2), img::Format::Ico},
        {"21 bytes", one.substr(0, 21), img::Format::Unknown},
        {"reserved byte 0 set", with_byte(one, 0, 1), img::Format::Unknown},
        {"reserved byte 1 set", with_byte(one, 1, 1), img::Format::Unknown},
        {"type 0", with_byte(one, 2, 0), img::Format::Unknown},
        {"type 3", with_byte(one, 2, 3), img::Format::Unknown},
        {"type's high byte set", with_byte(one, 3, 1), img::Format::Unknown},
        {"no entries", ico(0, 22), img::Format::Unknown},
        {"256 entries", ico(256, 6 + 16 * 256), img::Format::Ico},
        {"entry's reserved byte set", with_byte(one, 9, 1), img::Format::Unknown},
        {"offset inside the table", ico(1, 21), img::Format::Unknown},
    });
}
END_TEST

START_TEST(sniff_heic_and_avif_exactly) {
    std::vector<Case> cases = {
        {"15 bytes", iso(16, 16, "heic").substr(0, 15), img::Format::Unknown},
        {"16 bytes", iso(16, 16, "heic"), img::Format::Heic},
        {"ftyq", with_byte(iso(16, 16, "heic"), 7, 'q'), img::Format::Unknown},
        {"isom", iso(32, 32, "isom"), img::Format::Unknown},
        // The minor version is no brand, even when its bytes spell one.
        {"minor version spelling heic", with_byte(with_byte(with_byte(with_byte(iso(24, 24, "isom"), 12, 'h'), 13, 'e'),
                                                            14, 'i'), 15, 'c'),
         img::Format::Unknown},
        {"major avif with heic listed", iso(24, 24, "avif", "heic", 16), img::Format::Avif},
        {"major heic with avif listed", iso(24, 24, "heic", "avif", 20), img::Format::Avif},
        {"avif listed after heic", iso(24, 24, "isom", "heic", 16), img::Format::Heic},
        // The last brand that fits the box is read, one that ends past it not.
        {"heic ending at the box's end", iso(24, 24, "isom", "heic", 20), img::Format::Heic},
        {"heic ending one past the box", iso(24, 23, "isom", "heic", 20), img::Format::Unknown},
        {"box of exactly 16: no compatible brands", iso(20, 16, "isom", "heic", 16), img::Format::Unknown},
        // A box size under 16 or past the data: up to 4096 bytes are read.
        {"box size 15", iso(20, 15, "isom", "heic", 16), img::Format::Heic},
        {"box size past the data", iso(24, 25, "isom", "heic", 20), img::Format::Heic},
        // A box of all the data is read whole, past 4096 bytes too.
        {"box of all 5000 bytes, heic at its end", iso(5000, 5000, "isom", "heic", 4996), img::Format::Heic},
        {"box size 0, heic ending at 4096", iso(5000, 0, "isom", "heic", 4092), img::Format::Heic},
        {"box size 0, heic past 4096", iso(5000, 0, "isom", "heic", 4096), img::Format::Unknown},
    };
    for (const char* b : {"heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1"}) {
        cases.push_back({std::string("major ") + b, iso(16, 16, b), img::Format::Heic});
        cases.push_back({std::string("listed ") + b, iso(24, 24, "isom", b, 20), img::Format::Heic});
    }
    for (const char* b : {"avif", "avis"}) {
        cases.push_back({std::string("major ") + b, iso(16, 16, b), img::Format::Avif});
        cases.push_back({std::string("listed ") + b, iso(24, 24, "isom", b, 20), img::Format::Avif});
    }
    for (const char* b : {"heif", "avi", "mif2", "hevd"})
        cases.push_back({std::string("unknown brand ") + b, iso(24, 24, "isom", (std::string(b) + "    ").substr(0, 4).c_str(), 20),
                         img::Format::Unknown});
    expect_sniffed(cases);
}
END_TEST

// sniff(data, size) reads `size` bytes, not up to a terminating NUL: a
// signature that needs one byte more than `size` is no signature, whatever
// follows in memory; no data at all is Unknown.
START_TEST(sniff_reads_only_size_bytes) {
    auto of = [](const char* bytes, size_t size) { return img::sniff(reinterpret_cast<const uint8_t*>(bytes), size); };
    ck_assert(of("RIFF\0\0\0\0WEBP", 11) == img::Format::Unknown);
    ck_assert(of("RIFF\0\0\0\0WEBP", 12) == img::Format::Webp);
    ck_assert(of("P6 1 1 255 ", 2) == img::Format::Unknown);
    ck_assert(of("P6 1 1 255 ", 3) == img::Format::Pnm);
    ck_assert(of("GIF89a", 5) == img::Format::Unknown);
    ck_assert(of("\xFF\xD8\xFF", 2) == img::Format::Unknown);
    ck_assert(of(nullptr, 0) == img::Format::Unknown);
    ck_assert(of(nullptr, 16) == img::Format::Unknown);
    ck_assert(of("P6 1 1 255 ", 0) == img::Format::Unknown);
}
END_TEST

START_TEST(sniff_magic_numbers_exactly) {
    expect_sniffed({
        {"jpeg", std::string("\xFF\xD8\xFF", 3), img::Format::Jpeg},
        {"jpeg's 2 bytes", std::string("\xFF\xD8", 2), img::Format::Unknown},
        {"jpeg, FE third", std::string("\xFF\xD8\xFE", 3), img::Format::Unknown},
        {"png", "\x89PNG", img::Format::Png},
        {"png's 3 bytes", "\x89PN", img::Format::Unknown},
        {"webp, 12 bytes", std::string("RIFF\0\0\0\0WEBP", 12), img::Format::Webp},
        {"webp, 11 bytes", std::string("RIFF\0\0\0\0WEB", 11), img::Format::Unknown},
        {"RIFX", std::string("RIFX\0\0\0\0WEBP", 12), img::Format::Unknown},
        {"RIFF WEBX", std::string("RIFF\0\0\0\0WEBX", 12), img::Format::Unknown},
        {"tiff II*", std::string("II*\0", 4), img::Format::Tiff},
        {"tiff MM*", std::string("MM\0*", 4), img::Format::Tiff},
        {"bigtiff II+", std::string("II+\0", 4), img::Format::Tiff},
        {"bigtiff MM+", std::string("MM\0+", 4), img::Format::Tiff},
        {"II*1", std::string("II*\1", 4), img::Format::Unknown},
        {"MM1*", std::string("MM\1*", 4), img::Format::Unknown},
        {"II+1", std::string("II+\1", 4), img::Format::Unknown},
        {"MM1+", std::string("MM\1+", 4), img::Format::Unknown},
        {"IM*", std::string("IM*\0", 4), img::Format::Unknown},
        {"MM0 then 1", std::string("MM\0\1", 4), img::Format::Unknown},
        {"pdf", "%PDF-", img::Format::Pdf},
        {"%PDF", "%PDF", img::Format::Unknown},
        {"%PDF.", "%PDF.", img::Format::Unknown},
    });
}
END_TEST

// Netpbm: "P1".."P7" and one white-space character; screen() names each
// kind's own extension in the refusal.
START_TEST(sniff_netpbm_exactly) {
    const char* const expected[] = {nullptr, "pbm", "pgm", "ppm", "pbm", "pgm", "ppm", "pam", nullptr, nullptr};
    for (int digit = 0; digit <= 9; ++digit) {
        const std::string bytes = std::string("P") + char('0' + digit) + "\n1 1\n1\n";
        const img::Format f = sniffed(bytes);
        ck_assert_msg(f == (expected[digit] ? img::Format::Pnm : img::Format::Unknown), "P%d: %s", digit,
                      img::format_name(f));
        if (!expected[digit]) continue;
        const img::Verdict v = img::screen(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), img::Limits());
        ck_assert(!v.ok);
        ck_assert_str_eq(v.extension.c_str(), expected[digit]);
        const std::string refusal = img::extension_message(expected[digit], img::Limits().allowed_types);
        ck_assert_str_eq(v.message.c_str(), refusal.c_str());
    }
    for (char space : {' ', '\t', '\r', '\n'})
        ck_assert(sniffed(std::string("P6") + space + "1 1 255 ") == img::Format::Pnm);
    for (char other : {'\v', '\f', 'x', '\0'})
        ck_assert_msg(sniffed(std::string("P6") + other + "1 1 255 ") == img::Format::Unknown, "P6 then %d", other);
    ck_assert(sniffed("P6") == img::Format::Unknown);
    ck_assert(sniffed("P6 ") == img::Format::Pnm);
    ck_assert(sniffed("Q6 1 1 255") == img::Format::Unknown);
}
END_TEST

START_TEST(sniff_svg_exactly) {
    const std::string bom = "\xEF\xBB\xBF";
    std::vector<Case> cases = {
        {"<svg", "<svg/>", img::Format::Svg},
        {"BOM <svg", bom + "<svg/>", img::Format::Svg},
        {"half a BOM", bom.substr(0, 2) + "<svg/>", img::Format::Unknown},
        {"white space", " \t\r\n<svg/>", img::Format::Svg},
        {"vertical tab", "\v<svg/>", img::Format::Unknown},
        {"BOM, white space", bom + "\n <svg/>", img::Format::Svg},
        {"<?xml", "<?xml version=\"1.0\"?><svg/>", img::Format::Svg},
        {"<!--", "<!-- drawn --><svg/>", img::Format::Svg},
        {"<!DOCTYPE", "<!DOCTYPE svg><svg/>", img::Format::Svg},
        {"<html> first", "<html><svg/></html>", img::Format::Unknown},
        {"<?xml, no svg", "<?xml version=\"1.0\"?><root/>", img::Format::Unknown},
    };
    // "<svg" must begin in the first 1 KiB: ending at byte 1024, or one past.
    const std::string head = "<?xml version=\"1.0\"?>";
    cases.push_back({"<svg ending at 1024", head + std::string(1020 - head.size(), ' ') + "<svg/>", img::Format::Svg});
    cases.push_back({"<svg ending at 1025", head + std::string(1021 - head.size(), ' ') + "<svg/>", img::Format::Unknown});
    expect_sniffed(cases);
}
END_TEST

// The extension screen() names: the storage suffix of the four decoded
// formats, the format's name for the refused ones; allowed_image_types in
// any case.
START_TEST(screen_names_extensions_and_allows_by_type) {
    struct {
        std::string bytes;
        const char* extension;
    } cases[] = {
        {corpus_file("valid/jpeg/testorig.jpg"), "jpg"},     {corpus_file("valid/png/basn2c08.png"), "png"},
        {corpus_file("valid/gif/fire.gif"), "gif"},          {corpus_file("valid/webp/animated_lossless_fire.webp"), "webp"},
        {bmp(18, 40), "bmp"},                                {std::string("II*\0", 4), "tiff"},
        {"%PDF-1.4", "pdf"},                                 {iso(16, 16, "heic"), "heic"},
        {iso(16, 16, "avif"), "avif"},                       {ico(1, 22), "ico"},
        {"<svg/>", "svg"},
    };
    for (const auto& c : cases) {
        const img::Verdict v = img::screen(reinterpret_cast<const uint8_t*>(c.bytes.data()), c.bytes.size(), img::Limits());
        ck_assert_str_eq(v.extension.c_str(), c.extension);
        const bool decodable = v.extension == std::string("jpg") || v.extension == std::string("png") ||
                               v.extension == std::string("gif") || v.extension == std::string("webp");
        ck_assert_msg(v.ok == decodable, "%s: ok %d", c.extension, v.ok);
        const std::string refusal = img::extension_message(c.extension, img::Limits().allowed_types);
        if (!decodable) ck_assert_str_eq(v.message.c_str(), refusal.c_str());
    }
    // Each decodable format is allowed by its own names only, in any case.
    struct {
        const char* file;
        std::vector<std::string> allows;
    } formats[] = {
        {"valid/jpeg/testorig.jpg", {"JPG", "jpeg", "Jpeg"}},
        {"valid/png/basn2c08.png", {"PNG", "png"}},
        {"valid/gif/fire.gif", {"GIF", "gif"}},
        {"valid/webp/animated_lossless_fire.webp", {"WEBP", "webp"}},
    };
    const std::vector<std::string> every = {"jpg", "jpeg", "png", "gif", "webp", "bmp", "tiff", "svg", "JPG", "PNG", "GIF", "WEBP", "JPEG"};
    for (const auto& f : formats) {
        const std::string bytes = corpus_file(f.file);
        for (const std::string& type : every) {
            img::Limits limits;
            limits.allowed_types = {type};
            const img::Verdict v = img::screen(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), limits);
            const bool expected = std::find(f.allows.begin(), f.allows.end(), type) != f.allows.end() ||
                                  (std::string(f.file).find("jpeg") != std::string::npos && (type == "jpg" || type == "JPEG"));
            ck_assert_msg(v.ok == expected, "%s with allowed_image_types = %s: ok %d", f.file, type.c_str(), v.ok);
        }
    }
}
END_TEST

// The client-facing messages, word for word (Django's where it has one;
// ours, documented in talentd.conf(5), for the limits it lacks).  The tests
// above compare a refusal with these functions; this pins the functions.
START_TEST(messages_word_for_word) {
    const struct {
        std::string got;
        const char* want;
    } cases[] = {
        {img::kEmptyMessage, "The submitted file is empty."},
        {img::kInvalidMessage,
         "Upload a valid image. The file you uploaded was either not an image or a corrupted image."},
        {img::size_message(5242880, 5242881),
         "Ensure this file is no larger than 5242880 bytes (5.0 MiB); it is 5242881 bytes."},
        {img::size_message(1572864, 9000000), "Ensure this file is no larger than 1572864 bytes (1.5 MiB); it is 9000000 bytes."},
        {img::dimensions_message(65535, 65535, 50000000),
         "Image dimensions 65535x65535 (4294836225 pixels) exceed the limit of 50000000 pixels."},
        {img::frames_message(2000, 500), "Image has 2000 frames; the limit is 500."},
        {img::total_pixels_message(250000001, 250000000),
         "Image frames total 250000001 pixels; the limit is 250000000 pixels."},
        {img::decoded_bytes_message(209715201, 209715200),
         "Image decodes to 209715201 bytes; the limit is 209715200 bytes."},
        {img::extension_message("bmp", {"jpg", "png"}),
         "File extension \u201Cbmp\u201D is not allowed. Allowed extensions are: jpg, png."},
        {img::extension_message("ppm", {"webp"}), "File extension \u201Cppm\u201D is not allowed. Allowed extensions are: webp."},
    };
    for (const auto& c : cases) ck_assert_str_eq(c.got.c_str(), c.want);
}
END_TEST

// screen()'s first two steps at their edges: no bytes (a null pointer with a
// size too) is "empty", and max_image_size 0 refuses every non-empty file
// (only a negative value means no limit).
START_TEST(screen_empty_and_size_edges) {
    const img::Verdict null_data = img::screen(nullptr, 16, img::Limits());
    ck_assert(!null_data.ok);
    ck_assert_str_eq(null_data.message.c_str(), img::kEmptyMessage);
    ck_assert_str_eq(null_data.reason.c_str(), "empty file");

    const std::string jpeg = corpus_file("valid/jpeg/testorig.jpg");
    const auto* bytes = reinterpret_cast<const uint8_t*>(jpeg.data());
    img::Limits zero;
    zero.max_image_size = 0;
    const img::Verdict refused = img::screen(bytes, 1, zero);
    ck_assert(!refused.ok);
    ck_assert_str_eq(refused.reason.c_str(), "file too large");
    const std::string expected = img::size_message(0, 1);
    ck_assert_str_eq(refused.message.c_str(), expected.c_str());
    img::Limits unlimited;
    unlimited.max_image_size = -1;
    ck_assert_msg(img::screen(bytes, jpeg.size(), unlimited).ok, "max_image_size -1 is no limit");
}
END_TEST

// The memory cap's figures, to the byte: VmData read from a status text as
// the kernel writes it (kB, right-aligned after a tab), and the soft
// RLIMIT_DATA set from it.
START_TEST(memory_cap_figures) {
    namespace d = talentd::image::detail;
    std::istringstream status(
        "Name:\ttest_image_limits\nVmPeak:\t  987654 kB\nVmSize:\t  987000 kB\n"
        "VmData:\t   12345 kB\nVmStk:\t     132 kB\n");
    ck_assert_uint_eq(d::vm_data_bytes(status), 12345ull * 1024);
    std::istringstream first_line("VmData:\t7 kB\n");
    ck_assert_uint_eq(d::vm_data_bytes(first_line), 7ull * 1024);
    std::istringstream eight_digits("VmData:\t12345678 kB\n");
    ck_assert_uint_eq(d::vm_data_bytes(eight_digits), 12345678ull * 1024);
    std::istringstream none("Name:\tx\nXVmData:\t99 kB\nVmStk:\t132 kB\n");
    ck_assert_uint_eq(d::vm_data_bytes(none), 0);
    std::istringstream empty("");
    ck_assert_uint_eq(d::vm_data_bytes(empty), 0);
    // This process's own: a data size, in whole KiB.
    std::ifstream self("/proc/self/status");
    const uint64_t own = d::vm_data_bytes(self);
    ck_assert(own > 0 && own % 1024 == 0);

    const uint64_t slack = 8ull << 20;
    ck_assert_uint_eq(d::kMemoryCapSlack, slack);
    img::Limits l;
    l.max_decode_memory = 64 << 20;
    const uint64_t now = 100ull << 20;
    const uint64_t want = now + (64ull << 20) + slack;
    ck_assert_uint_eq(d::decode_data_limit(l, now, RLIM_INFINITY), want);
    ck_assert_uint_eq(d::decode_data_limit(l, 1, RLIM_INFINITY), 1 + (64ull << 20) + slack);
    // Only ever lowered: a soft limit at or below the cap stays as it is.
    ck_assert_uint_eq(d::decode_data_limit(l, now, want + 1), want);
    ck_assert_uint_eq(d::decode_data_limit(l, now, want), 0);
    ck_assert_uint_eq(d::decode_data_limit(l, now, want - 1), 0);
    ck_assert_uint_eq(d::decode_data_limit(l, now, 1), 0);
    // The size in use unknown: no cap (it would be too low to start with).
    ck_assert_uint_eq(d::decode_data_limit(l, 0, RLIM_INFINITY), 0);
    // Off: cap_process_memory false, or max_decode_memory <= 0.
    img::Limits off = l;
    off.cap_process_memory = false;
    ck_assert_uint_eq(d::decode_data_limit(off, now, RLIM_INFINITY), 0);
    img::Limits none_allowed = l;
    none_allowed.max_decode_memory = 0;
    ck_assert_uint_eq(d::decode_data_limit(none_allowed, now, RLIM_INFINITY), 0);
    none_allowed.max_decode_memory = -1;
    ck_assert_uint_eq(d::decode_data_limit(none_allowed, now, RLIM_INFINITY), 0);
    img::Limits one_byte = l;
    one_byte.max_decode_memory = 1;
    ck_assert_uint_eq(d::decode_data_limit(one_byte, now, RLIM_INFINITY), now + 1 + slack);
}
END_TEST

int main() {
    Suite* s = suite_create("image limits");
    TCase* tc = tcase_create("boundaries");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, size_limit_is_inclusive);
    tcase_add_test(tc, pixel_limit_is_inclusive);
    tcase_add_test(tc, frame_limit_is_inclusive);
    tcase_add_test(tc, total_pixel_limit_is_inclusive);
    tcase_add_test(tc, ftyp_box_needs_sixteen_bytes);
    tcase_add_test(tc, sniff_reads_every_byte_of_its_fields);
    tcase_add_test(tc, sniff_bmp_exactly);
    tcase_add_test(tc, sniff_ico_exactly);
    tcase_add_test(tc, sniff_heic_and_avif_exactly);
    tcase_add_test(tc, sniff_magic_numbers_exactly);
    tcase_add_test(tc, sniff_reads_only_size_bytes);
    tcase_add_test(tc, messages_word_for_word);
    tcase_add_test(tc, sniff_netpbm_exactly);
    tcase_add_test(tc, sniff_svg_exactly);
    tcase_add_test(tc, screen_names_extensions_and_allows_by_type);
    tcase_add_test(tc, screen_empty_and_size_edges);
    tcase_add_test(tc, memory_cap_figures);
    suite_add_tcase(s, tc);
    SRunner* r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
