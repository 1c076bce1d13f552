// The limits of image/validate at their boundaries, for every format:
// a picture exactly at a limit is accepted, one unit over it is refused with
// the message naming the limit (max_image_size, max_image_pixels,
// max_frames, max_total_pixels).  An off-by-one (`>` turned `>=`) at any of
// them fails here.
//
// The pictures come from the corpus (TALENTD_CORPUS); their size,
// dimensions and frame count are read from a first, unlimited validation.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

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
    suite_add_tcase(s, tc);
    SRunner* r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
