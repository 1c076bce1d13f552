// Unit tests of image/strip: lossless metadata removal.
//
// corpus: every file of the corpus that validate() accepts is stripped; the
// result must be accepted again (same format, size and frames, canonical),
// decode to the same pixels, every frame, with the same ICC profile
// (tests/support/pixels.h), and stripping it again must change nothing.
// formats: pictures built here from corpus images with known metadata
// inserted (EXIF with GPS text and an orientation, XMP, IPTC, comments, text
// chunks, unknown chunks, thumbnails, an ICC profile split in chunks, extra
// looping sub-blocks): exactly the metadata goes, the orientation stays as a
// minimal EXIF, the ICC profile stays byte for byte, the WebP flags and RIFF
// size are right.  robustness: truncated and damaged containers give
// ok == false, never a crash or an out-of-bounds read (run under ASan).
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "image/strip.h"
#include "image/validate.h"
#include "../support/payload.h"
#include "../support/pixels.h"

// check.h defines macros (fail, ...) that clash with the C++ library: last.
#include <check.h>

namespace img = talentd::image;
namespace t = talentd::test;

namespace {

const char* const kSecrets[] = {"GPSSECRET", "SERIAL-4711", "Jane Owner", "xmpmeta", "IPTCSECRET",
                                "COMMENTSECRET", "TEXTSECRET", "THUMBSECRET", "PRIVATESECRET"};

std::string corpus(const std::string& rel) {
    std::string b = t::read_file(t::corpus_dir() + "/" + rel);
    if (b.empty()) ck_abort_msg("cannot read corpus file %s", rel.c_str());
    return b;
}

std::span<const uint8_t> span_of(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

img::Verdict validate(std::string_view b) { return img::validate(span_of(b).data(), b.size(), img::Limits()); }

// The result owns its bytes here (a copy when the stripper returned a view
// of the input), so tests may strip temporaries.
img::Stripped strip(std::string_view b, bool keep_icc = true) {
    img::Verdict v = validate(b);
    ck_assert_msg(v.ok, "test picture refused: %s", v.reason.c_str());
    img::StripOptions o;
    o.keep_icc = keep_icc;
    img::Stripped s = img::strip_metadata(span_of(b).first(v.canonical_length), v.format, o);
    if (s.ok && !s.rewritten) {
        s.own = std::make_shared<std::string>(s.bytes);
        s.bytes = *s.own;
    }
    return s;
}

std::vector<std::string> accepted_corpus() {
    std::ifstream in(t::corpus_dir() + "/MANIFEST.tsv");
    ck_assert_msg(in.good(), "cannot read %s/MANIFEST.tsv", t::corpus_dir().c_str());
    std::vector<std::string> files;
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
        std::string file = line.substr(0, line.find('\t'));
        if (file.empty()) continue;
        const std::string bytes = t::read_file(t::corpus_dir() + "/" + file);
        if (!bytes.empty() && validate(bytes).ok) files.push_back(file);
    }
    return files;
}

// The stored picture against the upload: accepted again with the same
// verdict, canonical, same pixels and ICC (or none when !keep_icc).
void assert_lossless(const std::string& name, const std::string& upload, const img::Stripped& s, bool keep_icc) {
    ck_assert_msg(s.ok, "%s: strip failed: %s", name.c_str(), s.reason.c_str());
    const img::Verdict before = validate(upload), after = validate(s.bytes);
    ck_assert_msg(after.ok, "%s: stripped file refused: %s", name.c_str(), after.reason.c_str());
    ck_assert_msg(after.format == before.format && after.width == before.width && after.height == before.height &&
                      after.frames == before.frames,
                  "%s: verdict changed", name.c_str());
    ck_assert_msg(after.canonical_length == s.bytes.size(), "%s: stripped file not canonical (%zu of %zu)",
                  name.c_str(), after.canonical_length, s.bytes.size());
    t::PictureFacts a = t::picture_facts(upload.substr(0, before.canonical_length)), b = t::picture_facts(std::string(s.bytes));
    if (!keep_icc) {
        ck_assert_msg(b.icc.empty(), "%s: ICC kept with keep_icc = false", name.c_str());
        a.icc.clear();
    }
    const std::string diff = t::compare_pictures(a, b);
    ck_assert_msg(diff.empty(), "%s: %s", name.c_str(), diff.c_str());
    for (const char* secret : kSecrets)
        ck_assert_msg(s.bytes.find(secret) == std::string::npos, "%s: \"%s\" survived", name.c_str(), secret);
}

bool removed_has(const img::Stripped& s, const std::string& name) {
    for (const auto& r : s.removed)
        if (r.name == name) return true;
    return false;
}

std::string be16(size_t v) { return std::string{char(v >> 8), char(v)}; }
std::string be32(uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
std::string le32(uint32_t v) { return std::string{char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; }

// --- EXIF ------------------------------------------------------------------

// A TIFF block: IFD0 with Make, Orientation, a GPS pointer; the GPS IFD with
// a latitude ref; IFD1 (thumbnail) pointer; strings that must not survive.
std::string big_exif(int orientation, bool big) {
    auto u16 = [big](unsigned v) { return big ? std::string{char(v >> 8), char(v)} : std::string{char(v), char(v >> 8)}; };
    auto u32 = [big](uint32_t v) { return big ? be32(v) : le32(v); };
    std::string s = big ? std::string("MM\0*", 4) : std::string("II*\0", 4);
    s += u32(8);
    const uint32_t ifd0 = 8, entries = 4, strings = ifd0 + 2 + 12 * entries + 4;
    const std::string make = "SERIAL-4711 Jane Owner";  // 22 bytes
    const uint32_t gps = strings + 24;
    s += u16(entries);
    s += u16(0x010F) + u16(2) + u32(uint32_t(make.size() + 1)) + u32(strings);  // Make
    s += u16(0x0112) + u16(3) + u32(1) + u16(unsigned(orientation)) + u16(0);    // Orientation
    s += u16(0x8825) + u16(4) + u32(1) + u32(gps);                              // GPS IFD
    s += u16(0xA431) + u16(2) + u32(4) + std::string("ABC\0", 4);               // serial (inline)
    s += u32(0);
    s += make + std::string(24 - make.size(), '\0');
    s += u16(1) + u16(0x0001) + u16(2) + u32(2) + std::string("N\0\0\0", 4) + u32(0);
    s += "GPSSECRET THUMBSECRET";
    return s;
}

START_TEST(exif_orientation_and_minimal_exif) {
    for (bool big : {true, false}) {
        for (int o = 1; o <= 8; ++o) {
            const std::string exif = big_exif(o, big);
            ck_assert_int_eq(img::exif_orientation(span_of(exif)), o);
            ck_assert_int_eq(img::exif_orientation(span_of(std::string("Exif\0\0", 6) + exif)), o);
            const std::string m = img::minimal_exif(o, big);
            ck_assert_uint_eq(m.size(), 26);
            ck_assert_int_eq(img::exif_orientation(span_of(m)), o);
        }
        ck_assert_int_eq(img::exif_orientation(span_of(big_exif(0, big))), 0);
        ck_assert_int_eq(img::exif_orientation(span_of(big_exif(9, big))), 0);
    }
    // The exact bytes of the big-endian minimal EXIF (TIFF 6.0 layout).
    const std::string expected("MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0", 26);
    ck_assert(img::minimal_exif(6, true) == expected);
    // Truncations never read past the end (ASan) and never invent a value.
    const std::string exif = big_exif(6, true);
    for (size_t n = 0; n < exif.size(); ++n) {
        const int o = img::exif_orientation(span_of(exif.substr(0, n)));
        ck_assert(o == 0 || o == 6);
    }
}
END_TEST

// --- the corpus ------------------------------------------------------------

START_TEST(corpus_strips_losslessly) {
    const auto files = accepted_corpus();
    ck_assert_msg(files.size() >= 90, "only %zu accepted corpus files", files.size());
    for (const std::string& f : files) {
        const std::string upload = corpus(f);
        const img::Stripped s = strip(upload);
        assert_lossless(f, upload, s, true);
        // Stripping is idempotent: nothing left to remove.
        const img::Stripped again = strip(s.bytes);
        ck_assert_msg(again.ok && again.bytes == s.bytes && again.removed.empty(), "%s: second strip changed it", f.c_str());
        ck_assert_int_eq(again.orientation, s.orientation);
        const img::Stripped no_icc = strip(upload, false);
        assert_lossless(f + " (keep_icc = no)", upload, no_icc, false);
    }
}
END_TEST

// The stripper copies nothing when nothing goes (issue 17): JPEG, PNG and
// GIF come back as a view of the input exactly when nothing was removed,
// and a picture stripped once (what talentd stored) strips again without a
// copy.  A rewrite goes into the caller's buffer, reserved once: the next
// picture of no larger size reuses the same memory.
START_TEST(corpus_no_copy_when_nothing_goes) {
    std::string buffer;
    size_t views = 0, rewrites = 0;
    for (const std::string& f : accepted_corpus()) {
        const std::string upload = corpus(f);
        const img::Verdict v = validate(upload);
        const auto in = span_of(upload).first(v.canonical_length);
        const img::Stripped s = img::strip_metadata(in, v.format, img::StripOptions(), &buffer);
        ck_assert_msg(s.ok, "%s: %s", f.c_str(), s.reason.c_str());
        if (v.format == img::Format::Webp) {
            ck_assert_msg(s.rewritten && s.bytes.data() == buffer.data(), "%s: WebP not in the buffer", f.c_str());
            continue;
        }
        ck_assert_msg(s.rewritten == !s.removed.empty(), "%s: rewritten %d with %zu removals", f.c_str(),
                      int(s.rewritten), s.removed.size());
        if (!s.rewritten) {
            ++views;
            ck_assert_msg(s.bytes.data() == upload.data() && s.bytes.size() == in.size(), "%s: not the input", f.c_str());
            continue;
        }
        ++rewrites;
        ck_assert_msg(s.bytes.data() == buffer.data() && s.bytes.size() == buffer.size(), "%s: not in the buffer",
                      f.c_str());
        ck_assert_msg(buffer.capacity() >= in.size(), "%s: buffer not reserved for the whole picture", f.c_str());
        const std::string stored(s.bytes);
        const char* memory = buffer.data();
        const size_t capacity = buffer.capacity();
        const img::Stripped again = img::strip_metadata(span_of(stored), v.format, img::StripOptions(), &buffer);
        ck_assert_msg(again.ok && !again.rewritten && again.bytes.data() == stored.data() &&
                          again.bytes.size() == stored.size(),
                      "%s: the stored picture was copied again", f.c_str());
        const img::Stripped third = img::strip_metadata(in, v.format, img::StripOptions(), &buffer);
        ck_assert_msg(third.ok && third.bytes == stored && buffer.data() == memory && buffer.capacity() == capacity,
                      "%s: the buffer was not reused", f.c_str());
    }
    ck_assert_msg(views >= 20 && rewrites >= 10, "%zu views, %zu rewrites", views, rewrites);
}
END_TEST

START_TEST(corpus_metadata_goes) {
    // The corpus photo with GPS: orientation 6 kept, the rest gone.
    const img::Stripped s = strip(corpus("valid/jpeg/exif_orientation6_gps.jpg"));
    ck_assert(s.ok);
    ck_assert_int_eq(s.orientation, 6);
    ck_assert(removed_has(s, "APP1 Exif"));
    ck_assert_msg(s.bytes.find("CorpusCam") == std::string::npos, "Make survived");
    ck_assert_msg(s.bytes.find("2021:06:01") == std::string::npos, "dates survived");
    // fire.gif carries comments; the loop stays.
    const img::Stripped g = strip(corpus("valid/gif/fire.gif"));
    ck_assert(g.ok && removed_has(g, "comment"));
    ck_assert(g.bytes.find("NETSCAPE2.0") != std::string::npos);
    // PngSuite's zTXt.
    const img::Stripped p = strip(corpus("valid/png/ctzn0g04.png"));
    ck_assert(p.ok && removed_has(p, "zTXt") && removed_has(p, "tEXt"));
    // libwebp's test.webp carries RIFF INFO-style artist, copyright and name chunks.
    const img::Stripped w = strip(corpus("valid/webp/test.webp"));
    ck_assert(w.ok && removed_has(w, "IART") && removed_has(w, "ICOP") && removed_has(w, "INAM"));
    ck_assert(w.bytes.find("yosemite") == std::string::npos);
    // A file without metadata is stored byte for byte.
    const std::string plain = corpus("valid/jpeg/testorig.jpg");
    ck_assert(strip(plain).bytes == plain && strip(plain).removed.empty());
}
END_TEST

// --- JPEG ------------------------------------------------------------------

std::string segment(uint8_t marker, const std::string& payload) {
    return std::string{char(0xFF), char(marker)} + be16(payload.size() + 2) + payload;
}

// The ICC profile of the corpus' monkey12.jpg (a real sRGB profile).
std::string real_icc() {
    const std::string j = corpus("policy/monkey12.jpg");
    std::string icc;
    for (size_t pos = 2; pos + 4 <= j.size() && uint8_t(j[pos]) == 0xFF;) {
        const uint8_t m = uint8_t(j[pos + 1]);
        const size_t len = size_t(uint8_t(j[pos + 2])) << 8 | uint8_t(j[pos + 3]);
        if (m == 0xE2 && j.compare(pos + 4, 12, std::string("ICC_PROFILE\0", 12)) == 0) icc += j.substr(pos + 18, len - 16);
        if (m == 0xDA) break;
        pos += 2 + len;
    }
    ck_assert_msg(icc.size() > 128, "no ICC profile in monkey12.jpg");
    return icc;
}

START_TEST(jpeg_segments) {
    const std::string base = corpus("valid/jpeg/testorig.jpg");  // SOI, JFIF APP0, ...
    ck_assert(uint8_t(base[3]) == 0xE0);
    const size_t app0_end = 4 + (size_t(uint8_t(base[4])) << 8 | uint8_t(base[5]));
    const std::string icc = real_icc();
    const size_t half = icc.size() / 2;
    std::string jfif = base.substr(6, app0_end - 6);
    jfif[12] = 1;  // a 1x1 thumbnail
    jfif[13] = 1;
    jfif += "THU";
    std::string photo = base.substr(0, 2) + segment(0xE0, jfif) +
                        segment(0xE1, std::string("Exif\0\0", 6) + big_exif(6, true)) +
                        segment(0xE1, std::string("http://ns.adobe.com/xap/1.0/\0", 29) + "<x:xmpmeta>Jane Owner</x:xmpmeta>") +
                        segment(0xE2, std::string("ICC_PROFILE\0\x01\x02", 14) + icc.substr(0, half)) +
                        segment(0xED, "Photoshop 3.0\0008BIM IPTCSECRET") +
                        segment(0xE2, std::string("ICC_PROFILE\0\x02\x02", 14) + icc.substr(half)) +
                        segment(0xE5, "PRIVATESECRET") + segment(0xFE, "COMMENTSECRET") +
                        segment(0xE0, std::string("JFXX\0\x10", 6) + "THUMBSECRET") + base.substr(app0_end);
    // A COM between the frame header and the scan, too.
    const size_t sos = photo.find("\xFF\xDA");
    photo.insert(sos, segment(0xFE, "COMMENTSECRET 2"));
    const img::Stripped s = strip(photo);
    assert_lossless("jpeg", photo, s, true);
    ck_assert_int_eq(s.orientation, 6);
    ck_assert_uint_eq(s.icc_size, icc.size());
    for (const char* name : {"APP1 Exif", "APP1 http://ns.adobe.com/xap/1.0/", "APP13 Photoshop 3.0", "APP5 PRIVATESECRET",
                             "COM", "APP0 JFXX", "APP0 JFIF thumbnail"})
        ck_assert_msg(removed_has(s, name), "%s not reported: %s", name, img::describe_removed(s.removed).c_str());
    // Sizes are whole segments (marker and length included).
    for (const auto& r : s.removed)
        if (r.name == "COM") ck_assert(r.size == 4 + 13 || r.size == 4 + 15);
    // The layout: SOI, JFIF without thumbnail, minimal EXIF, both ICC chunks, then the tables.
    const std::string expected_head = base.substr(0, 2) + segment(0xE0, base.substr(6, 14)) +
                                      segment(0xE1, std::string("Exif\0\0", 6) + img::minimal_exif(6, true)) +
                                      segment(0xE2, std::string("ICC_PROFILE\0\x01\x02", 14) + icc.substr(0, half)) +
                                      segment(0xE2, std::string("ICC_PROFILE\0\x02\x02", 14) + icc.substr(half));
    ck_assert_msg(s.bytes.compare(0, expected_head.size(), expected_head) == 0, "unexpected head");
    ck_assert(s.bytes.substr(expected_head.size()) == base.substr(app0_end));
    ck_assert(img::describe_removed(s.removed).find("COMMENTSECRET") == std::string::npos);

    // keep_icc = no drops both chunks; Adobe APP14 (colour transform) stays.
    const std::string cmyk = corpus("valid/jpeg/cmyk_adobe.jpg");
    const img::Stripped c = strip(cmyk.substr(0, 2) + segment(0xE2, std::string("ICC_PROFILE\0\x01\x01", 14) + icc) +
                                  cmyk.substr(2), false);
    ck_assert(c.ok && c.icc_size == 0 && removed_has(c, "APP2 ICC_PROFILE"));
    ck_assert(c.bytes.find("Adobe") != std::string::npos);
    assert_lossless("cmyk", cmyk, c, false);
}
END_TEST

// --- PNG -------------------------------------------------------------------

std::string chunk(const std::string& type, const std::string& body) {
    std::string c = type + body;
    return be32(uint32_t(body.size())) + c + be32(uint32_t(crc32(0, reinterpret_cast<const Bytef*>(c.data()), uInt(c.size()))));
}

std::string zlib(const std::string& data) {
    uLongf n = compressBound(uLong(data.size()));
    std::string out(n, '\0');
    ck_assert(compress(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(data.data()), uLong(data.size())) == Z_OK);
    out.resize(n);
    return out;
}

// Inserts `extra` after IHDR (signature 8 + IHDR 25).
std::string after_ihdr(const std::string& png, const std::string& extra) { return png.substr(0, 33) + extra + png.substr(33); }

START_TEST(png_chunks) {
    const std::string base = corpus("valid/png/basn6a08.png");
    const std::string iccp = chunk("iCCP", std::string("sRGB\0\0", 6) + zlib(real_icc()));
    const std::string photo = after_ihdr(
        base, chunk("gAMA", be32(45455)) + iccp + chunk("eXIf", big_exif(8, false)) + chunk("tEXt", std::string("Author\0Jane Owner", 17)) +
                  chunk("zTXt", std::string("Comment\0\0", 9) + zlib("COMMENTSECRET")) +
                  chunk("iTXt", std::string("XML:com.adobe.xmp\0\0\0\0\0", 22) + "<x:xmpmeta/>") +
                  chunk("tIME", std::string("\x07\xE5\x06\x01\x0C\x22\x38", 7)) + chunk("prVt", "PRIVATESECRET") +
                  chunk("pHYs", be32(2835) + be32(2835) + "\x01"));
    const img::Stripped s = strip(photo);
    assert_lossless("png", photo, s, true);
    ck_assert_int_eq(s.orientation, 8);
    for (const char* name : {"eXIf", "tEXt", "zTXt", "iTXt", "tIME", "prVt"})
        ck_assert_msg(removed_has(s, name), "%s not reported", name);
    const std::string expected =
        after_ihdr(base, chunk("gAMA", be32(45455)) + iccp + chunk("eXIf", img::minimal_exif(8, false)) +
                             chunk("pHYs", be32(2835) + be32(2835) + "\x01"));
    ck_assert_msg(s.bytes == expected, "unexpected PNG layout");

    const img::Stripped n = strip(photo, false);
    assert_lossless("png keep_icc = no", photo, n, false);
    ck_assert(removed_has(n, "iCCP") && n.bytes.find("iCCP") == std::string::npos);

    // APNG: text between frames goes, acTL/fcTL/fdAT stay in order.
    std::string apng = corpus("valid/png/apng_4frames.png");
    const size_t fdat = apng.find("fdAT") - 4;
    apng.insert(fdat, chunk("tEXt", std::string("Comment\0TEXTSECRET", 18)));
    const img::Stripped a = strip(apng);
    assert_lossless("apng", apng, a, true);
    ck_assert_uint_eq(t::picture_facts(std::string(a.bytes)).frames.size(), 5);  // default image + 4 frames
    ck_assert(a.bytes == corpus("valid/png/apng_4frames.png"));
}
END_TEST

// --- WebP ------------------------------------------------------------------

std::string riff_chunk(const std::string& fourcc, const std::string& body) {
    return fourcc + le32(uint32_t(body.size())) + body + (body.size() & 1 ? std::string(1, '\0') : "");
}
std::string riff(const std::string& chunks) { return "RIFF" + le32(uint32_t(chunks.size() + 4)) + "WEBP" + chunks; }

struct RiffChunk {
    std::string fourcc, body;
};
std::vector<RiffChunk> chunks_of(std::string_view webp, size_t from = 12, size_t to = std::string::npos) {
    std::vector<RiffChunk> out;
    if (to == std::string::npos) to = webp.size();
    for (size_t pos = from; pos + 8 <= to;) {
        const uint32_t size = uint32_t(uint8_t(webp[pos + 4])) | uint32_t(uint8_t(webp[pos + 5])) << 8 |
                              uint32_t(uint8_t(webp[pos + 6])) << 16 | uint32_t(uint8_t(webp[pos + 7])) << 24;
        out.push_back({std::string(webp.substr(pos, 4)), std::string(webp.substr(pos + 8, size))});
        pos += 8 + size + (size & 1);
    }
    return out;
}
std::string join(const std::vector<RiffChunk>& cs) {
    std::string s;
    for (const auto& c : cs) s += riff_chunk(c.fourcc, c.body);
    return s;
}

START_TEST(webp_chunks) {
    // Still, VP8X + ALPH + VP8: add ICCP, EXIF, XMP, an unknown chunk; set the flags.
    auto cs = chunks_of(corpus("valid/webp/lossy_alpha1.webp"));
    ck_assert(cs.size() == 3 && cs[0].fourcc == "VP8X");
    const std::string icc = real_icc();
    cs[0].body[0] = char(uint8_t(cs[0].body[0]) | 0x20 | 0x08 | 0x04);
    cs.insert(cs.begin() + 1, {"ICCP", icc});
    cs.push_back({"EXIF", std::string("Exif\0\0", 6) + big_exif(3, true)});
    cs.push_back({"XMP ", "<x:xmpmeta>Jane Owner</x:xmpmeta>"});
    cs.push_back({"PRVT", "PRIVATESECRET!"});
    const std::string photo = riff(join(cs));
    const img::Stripped s = strip(photo);
    assert_lossless("webp", photo, s, true);
    ck_assert_int_eq(s.orientation, 3);
    // Every rewritten WebP is decoded again before it is stored (strip.cc).
    ck_assert(s.revalidate);
    ck_assert(removed_has(s, "EXIF") && removed_has(s, "XMP ") && removed_has(s, "PRVT"));
    auto out = chunks_of(s.bytes);
    ck_assert_uint_eq(out.size(), 5);
    ck_assert(out[1].fourcc == "ICCP" && out[1].body == icc);
    ck_assert(out[4].fourcc == "EXIF" && out[4].body == std::string("Exif\0\0", 6) + img::minimal_exif(3, true));
    ck_assert_int_eq(uint8_t(out[0].body[0]), (uint8_t(cs[0].body[0]) & ~0x04) | 0x08);  // XMP flag off, EXIF on
    ck_assert_uint_eq(s.bytes.size(), 8 + (uint32_t(uint8_t(s.bytes[4])) | uint32_t(uint8_t(s.bytes[5])) << 8 |
                                          uint32_t(uint8_t(s.bytes[6])) << 16));

    // keep_icc = no: ICCP gone and its flag off; an EXIF without orientation leaves the EXIF flag off.
    cs[cs.size() - 3] = {"EXIF", big_exif(0, false)};
    const std::string photo2 = riff(join(cs));
    const img::Stripped n = strip(photo2, false);
    assert_lossless("webp keep_icc = no", photo2, n, false);
    auto out2 = chunks_of(n.bytes);
    ck_assert_uint_eq(out2.size(), 3);
    ck_assert_int_eq(uint8_t(out2[0].body[0]) & (0x20 | 0x08 | 0x04), 0);

    // Simple format (VP8 first): decoders read that chunk only, so whatever
    // follows inside the RIFF goes, even bytes that are no chunk (found by
    // fuzz_strip: a bogus chunk header after libwebp's test.webp INFO chunks).
    const std::string simple = corpus("valid/webp/test.webp");
    const std::string tail = simple.substr(12) + std::string("\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFFPRIVATESECRET!", 22);
    const std::string odd = riff(tail);
    ck_assert_msg(validate(odd).ok, "libwebp refuses the simple file with a bogus tail");
    const img::Stripped t = strip(odd);
    assert_lossless("webp simple with a tail", odd, t, true);
    ck_assert(removed_has(t, "IART") && removed_has(t, "RIFF tail"));
    ck_assert_uint_eq(t.bytes.size(), 12 + 8 + 4860);  // RIFF header + the VP8 chunk

    ck_assert(t.revalidate);

    // fuzz_strip's find: a VP8 chunk whose last partition runs into the
    // chunks after it.  libwebp decodes the file (its VP8 decoder reads to
    // the end of the RIFF); without those bytes it does not: the stripper
    // says revalidate and talentd refuses the upload.
    static const char kSpill[] =
        "\x52\x49\x46\x46\x52\x01\x00\x00\x57\x45\x42\x50\x56\x50\x38\x20\x00\x01\x00\x00\x32\x0e\x00\x9d"
        "\x01\x2a\xb0\x00\x90\x00\x39\x19\x00\x44\x1c\x22\x16\x16\x22\x16\x12\x21\x18\x00\x70\x4b\x4e\xe8"
        "\xdb\x96\x23\x4f\x08\x73\xec\xf3\xfc\x5d\x6d\x25\xcf\x08\x87\x3e\x15\x46\x05\x60\x56\xb1\xa1\x87"
        "\x19\xe1\x8b\x8f\xc6\xe4\xb2\x66\xa3\x63\x0f\xb9\xef\xd5\x90\x43\xfb\xcd\x84\x56\x0b\x4b\x73\xbb"
        "\x18\x3a\x28\x72\x91\x15\x56\xd6\x52\x21\xf5\x5f\x79\xa9\x4a\xe7\x5c\xd1\xc5\x32\x6d\x91\x1b\x55"
        "\x45\xb3\x6d\x51\xf8\xa6\xe6\x60\xa5\x08\x85\x73\xf8\x57\x2c\x68\x97\x15\x70\x87\x3e\xc0\x00\x33"
        "\x00\x00\xfe\xfe\x7c\x9e\xf7\x7d\x44\x34\x19\xa2\x0a\xa4\x1b\xd2\x06\xe3\x7b\xbe\x23\x35\x87\x62"
        "\x0f\x21\xef\x86\x0e\xf2\x4f\x2d\x1a\x96\xdd\x94\x59\x15\xe4\xa9\xa9\xe0\xec\xb0\xaa\x9c\x99\x7c"
        "\x90\xdc\x0f\xeb\x00\x60\x91\x76\x23\x6a\x1b\x0a\xb3\x8f\x2d\x57\x00\x1f\x45\x8f\xdc\x96\xdb\x50"
        "\x35\xf3\xe9\xb8\x58\x01\xe3\x24\xf1\x10\x28\xc4\xac\x3b\x2c\x09\x4c\x2c\xa4\xa9\x3f\x97\x32\x2c"
        "\x50\xb5\x0d\x41\x93\xb7\x12\x77\x21\x19\xd6\xb3\x68\x66\x26\x2a\xa8\x6c\x8a\xd5\xd9\x1e\xb6\x5b"
        "\xb3\xa0\x50\xbc\xbf\xbf\x57\x58\x37\x7c\x00\x00\x49\x41\x52\x54\x06\x00\x00\x00\x74\x65\x73\x74"
        "\x00\x00\x49\x43\x4f\x50\x06\x00\x00\x00\x32\x30\x31\x30\x00\x00\x49\x4e\x41\x4d\x0e\x00\x00\x00"
        "\x77\x65\x62\x70\x2d\x30\x37\x2e\x77\x65\x62\x70\x00\x00\x49\x43\x4d\x54\x0c\x00\x00\x00\x74\x65"
        "\x73\x74\x20\x76\x65\x63\x74\x6f\x72\x00";
    const std::string spill(kSpill, sizeof kSpill - 1);
    ck_assert_uint_eq(spill.size(), 346);
    ck_assert(validate(spill).ok);
    const img::Stripped sp = strip(spill);
    ck_assert(sp.ok && sp.revalidate);
    ck_assert(!validate(sp.bytes).ok);

    // Animated: XMP after the frames, an unknown chunk inside a frame.
    auto anim = chunks_of(corpus("valid/webp/animated_lossy_fire.webp"));
    size_t frames = 0;
    for (auto& c : anim) {
        if (c.fourcc != "ANMF") continue;
        if (frames++ == 1) c.body += riff_chunk("UNKN", "PRIVATESECRET");
    }
    anim.push_back({"XMP ", "<x:xmpmeta>Jane Owner</x:xmpmeta>"});
    anim[0].body[0] = char(uint8_t(anim[0].body[0]) | 0x04);
    const std::string animated = riff(join(anim));
    const img::Stripped a = strip(animated);
    assert_lossless("animated webp", animated, a, true);
    ck_assert(removed_has(a, "ANMF/UNKN") && removed_has(a, "XMP "));
    ck_assert(a.bytes == corpus("valid/webp/animated_lossy_fire.webp"));

    // A frame whose ANMF size swallows the frames after it (make fuzz found
    // it): libwebp ends a frame at its image chunk and reads on from there,
    // so it still shows every frame; the stripper must walk it the same way.
    const std::string fire = corpus("valid/webp/animated_lossy_fire.webp");
    auto swallow = chunks_of(fire);
    size_t second = 0;
    while (second < swallow.size() && swallow[second].fourcc != "ANMF") ++second;
    ++second;
    ck_assert_uint_lt(second + 2, swallow.size());
    for (size_t i = second + 1; i < swallow.size(); ++i) swallow[second].body += riff_chunk(swallow[i].fourcc, swallow[i].body);
    swallow.resize(second + 1);
    const std::string swallowing = riff(join(swallow));
    ck_assert_msg(validate(swallowing).ok && validate(swallowing).frames == validate(fire).frames,
                  "libwebp no longer reads on after a frame's image: %u frames", validate(swallowing).frames);
    const img::Stripped sw = strip(swallowing);
    assert_lossless("frame swallowing the next frames", swallowing, sw, true);
    ck_assert(sw.bytes == fire);
}
END_TEST

// --- GIF -------------------------------------------------------------------

std::string sub_blocks(const std::string& data) {
    std::string s;
    for (size_t i = 0; i < data.size(); i += 255) {
        const std::string part = data.substr(i, 255);
        s += char(part.size()) + part;
    }
    return s + '\0';
}
std::string app_ext(const std::string& ident, const std::string& blocks) { return "\x21\xFF\x0B" + ident + blocks; }

START_TEST(gif_extensions) {
    const std::string base = corpus("valid/gif/gifgrid.gif");  // GIF89a, global table, GCE
    const size_t header = 13 + (3u << ((uint8_t(base[10]) & 7) + 1));
    const std::string icc = real_icc();
    const std::string loop = app_ext("NETSCAPE2.0", std::string("\x03\x01\x00\x00", 4) + std::string("\x05\x02\x00\x10\x00\x00\x00", 7));
    const std::string photo = base.substr(0, header) + loop + app_ext("ICCRGBG1012", sub_blocks(icc)) +
                              app_ext("XMP DataXMP", sub_blocks("<x:xmpmeta>Jane Owner</x:xmpmeta>")) +
                              "\x21\xFE" + sub_blocks("COMMENTSECRET") + app_ext("PRIVATE1.0X", sub_blocks("PRIVATESECRET")) +
                              base.substr(header);
    const img::Stripped s = strip(photo);
    assert_lossless("gif", photo, s, true);
    ck_assert_uint_eq(s.icc_size, icc.size());
    for (const char* name : {"application XMP DataXMP", "comment", "application PRIVATE1.0X", "application NETSCAPE2.0 sub-blocks"})
        ck_assert_msg(removed_has(s, name), "%s not reported: %s", name, img::describe_removed(s.removed).c_str());
    const std::string expected = base.substr(0, header) + app_ext("NETSCAPE2.0", std::string("\x03\x01\x00\x00\x00", 5)) +
                                 app_ext("ICCRGBG1012", sub_blocks(icc)) + base.substr(header);
    ck_assert_msg(s.bytes == expected, "unexpected GIF layout");
    const img::Stripped n = strip(photo, false);
    assert_lossless("gif keep_icc = no", photo, n, false);
    ck_assert(removed_has(n, "application ICCRGBG1012"));
}
END_TEST

// --- robustness ------------------------------------------------------------

START_TEST(damaged_containers_fail_cleanly) {
    const std::vector<std::pair<std::string, img::Format>> pictures = {
        {corpus("valid/jpeg/exif_orientation6_gps.jpg"), img::Format::Jpeg},
        {corpus("valid/png/apng_4frames.png"), img::Format::Png},
        {corpus("valid/gif/fire.gif"), img::Format::Gif},
        {corpus("valid/webp/animated_lossy_fire.webp"), img::Format::Webp},
    };
    for (const auto& [bytes, format] : pictures) {
        // Every truncation: either a clean failure or (for a cut inside
        // data the walk skips) output no longer than the input.
        for (size_t n = 0; n < bytes.size(); n += 1 + n / 64) {
            const std::string cut = bytes.substr(0, n);
            const img::Stripped s = img::strip_metadata(span_of(cut), format, {});
            ck_assert_msg(!s.ok || s.bytes.size() <= cut.size() + 64, "truncation at %zu", n);
            if (!s.ok) ck_assert(s.bytes.empty() && !s.reason.empty());
        }
    }
    const std::string png = corpus("valid/png/basn6a08.png");
    ck_assert(!img::strip_metadata(span_of(png), img::Format::Bmp, {}).ok);
    ck_assert(!img::strip_metadata(span_of(png), img::Format::Jpeg, {}).ok);
}
END_TEST

}  // namespace

int main() {
    Suite* s = suite_create("strip");
    TCase* tc = tcase_create("strip");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, exif_orientation_and_minimal_exif);
    tcase_add_test(tc, corpus_strips_losslessly);
    tcase_add_test(tc, corpus_no_copy_when_nothing_goes);
    tcase_add_test(tc, corpus_metadata_goes);
    tcase_add_test(tc, jpeg_segments);
    tcase_add_test(tc, png_chunks);
    tcase_add_test(tc, webp_chunks);
    tcase_add_test(tc, gif_extensions);
    tcase_add_test(tc, damaged_containers_fail_cleanly);
    suite_add_tcase(s, tc);
    SRunner* sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
