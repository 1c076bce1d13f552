// Metadata stripping through the real stack (nginx, talentd, SQLite, s3rver):
// what lands in the bucket, read back as a browser would.
//
// photos: photos made here with exiftool in all four formats (stills, and
// APNG, animated WebP and GIF) carrying GPS, camera and lens serial numbers,
// owner, artist, copyright, XMP, IPTC, comments, an EXIF thumbnail, an ICC
// profile and orientation 6 (GIF: exiftool writes XMP, a comment and the
// ICC profile; a GIF has no EXIF, and its XMP orientation, which no browser
// reads, goes with the XMP).  exiftool confirms the upload carries them; the
// stored object then has none of them (exiftool, and the raw bytes), keeps
// the orientation (exiftool's IFD0 Orientation) and the ICC profile byte for
// byte, decodes to the same pixels in every frame (tests/support/pixels.h)
// and is accepted again by talentd's own validation.  The debug log line
// names what was removed and never its contents.
// corpus: the same checks for every file of the corpus that validate()
// accepts.
// settings: strip_metadata = no stores the upload as it came;
// strip_keep_icc = no removes the ICC profile and nothing else.
//
// exiftool is Perl: its calls are batched (one write, one read of the
// uploads, one read of the stored objects per test).
#include <jansson.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "auth/jwt.h"
#include "image/validate.h"
#include "../support/http_client.h"
#include "../support/payload.h"
#include "../support/pixels.h"
#include "../support/stack.h"
#include "../support/temp_dir.h"
#include "../support/talent.h"

// Last: check.h defines macros (fail) that clash with the C++ library.
#include <check.h>

namespace t = talentd::test;
namespace img = talentd::image;
using t::HttpResponse;
using t::Stack;

namespace {

const std::string kPath = "/api/profile/talent/";
const char* kMarker = "# test_metadata: overrides\n";
const char* kExiftool = "/usr/bin/exiftool";

// What the photos carry; none of it may reach the bucket.
const char* const kSecrets[] = {"Jane Owner", "SERIAL-4711", "LENS-0815", "Berlin", "COMMENTSECRET", "PhoneCo",
                                "Phone9"};

Stack* the_stack = nullptr;
std::unique_ptr<Stack> owned;
// The exiftool photos, made once before the tests fork (make_photos).
std::unique_ptr<t::TempDir> photos_dir;
std::vector<std::pair<std::string, std::string>> photos;

std::string corpus(const std::string& relative) {
    std::string bytes = t::read_file(t::corpus_dir() + "/" + relative);
    if (bytes.empty()) ck_abort_msg("corpus file %s missing", relative.c_str());
    return bytes;
}

img::Verdict validate(const std::string& b) {
    return img::validate(reinterpret_cast<const uint8_t*>(b.data()), b.size(), img::Limits());
}

// --- the stack ----------------------------------------------------------------

int64_t fresh_user(const Stack& s) { return talentd::test::fresh_talent_user(s, 300000); }

// Uploads `bytes` as the test's user (each upload replaces the last);
// returns the stored object as served.
std::string upload_and_fetch(const Stack& s, const std::string& name, const std::string& bytes) {
    static std::string token;  // per test process (Check forks each test)
    static pid_t owner = 0;
    if (owner != getpid()) {
        owner = getpid();
        talentd::auth::JwtSettings settings;
        settings.algorithm = "HS256";
        settings.verify_key = settings.signing_key = s.get("JWT_SECRET");
        std::string why;
        auto minted = talentd::auth::mint_access_token(fresh_user(s), settings, time(nullptr), 3600, &why);
        if (!minted) ck_abort_msg("mint: %s", why.c_str());
        token = *minted;
    }
    auto mp = t::make_multipart({{"profile_picture", bytes, name, "application/octet-stream"}});
    HttpResponse r = s.request("POST", kPath + "?partial=true", mp.body,
                               {"Authorization: Bearer " + token, "is-talent: true", "Content-Type: " + mp.content_type},
                               60);
    ck_assert_msg(r.status == 200, "%s: upload %ld %s %s", name.c_str(), r.status, r.error.c_str(), r.body.c_str());
    json_error_t error;
    json_t* root = json_loadb(r.body.data(), r.body.size(), 0, &error);
    ck_assert_msg(root, "%s: not JSON: %s", name.c_str(), r.body.c_str());
    json_t* url = json_object_get(json_object_get(root, "profile"), "profile_picture");
    const std::string location = json_is_string(url) ? json_string_value(url) : "";
    json_decref(root);
    ck_assert_msg(!location.empty(), "%s: no picture URL in %s", name.c_str(), r.body.c_str());
    HttpResponse o = s.request("GET", location);
    ck_assert_msg(o.status == 200, "%s: GET %s: %ld", name.c_str(), location.c_str(), o.status);
    ck_assert_msg(o.header("content-length") == std::to_string(o.body.size()), "%s: content-length", name.c_str());
    return o.body;
}

int control(const Stack& s, const std::string& command, std::string* output) {
    return t::run_command({"/usr/bin/setsid", "/bin/bash", t::stack_source_root() + "/tests/stack", command, s.dir()},
                          {}, output);
}

// talentd.conf without this test's overrides, plus `lines`; talentd restarted.
void configure(const Stack& s, const std::string& lines) {
    const std::string path = s.get("TALENTD_CONF");
    std::string text = t::read_file(path);
    size_t at = text.find(kMarker);
    if (at != std::string::npos) text.resize(at);
    if (!lines.empty()) text += std::string(kMarker) + lines + "\n";
    ck_assert_msg(t::write_file(path, text), "cannot write %s", path.c_str());
    std::string out;
    int rc = control(s, "restart-talentd", &out);
    ck_assert_msg(rc == 0, "restart-talentd: status %d\n%s", rc, out.c_str());
}

// --- exiftool -----------------------------------------------------------------

// exiftool's JSON (-j -a -G1 -n) for each file, by path.
std::map<std::string, json_t*> exif_read(const t::TempDir& dir, const std::vector<std::string>& files) {
    std::vector<std::string> argv = {"/bin/sh", "-c", std::string("exec ") + kExiftool +
                                                          " -j -a -G1 -n -q \"$@\" > \"$0\" 2>/dev/null",
                                     dir.file("exiftool.json")};
    argv.insert(argv.end(), files.begin(), files.end());
    std::string out;
    t::run_command(argv, {}, &out);  // status 1 when a file has no metadata at all: the JSON says
    const std::string text = t::read_file(dir.file("exiftool.json"));
    json_error_t error;
    json_t* root = json_loadb(text.data(), text.size(), 0, &error);
    ck_assert_msg(json_is_array(root), "exiftool gave no JSON (%s): %s", error.text, out.c_str());
    std::map<std::string, json_t*> by_file;
    size_t i;
    json_t* entry;
    json_array_foreach(root, i, entry) {
        json_t* source = json_object_get(entry, "SourceFile");
        if (json_is_string(source)) by_file[json_string_value(source)] = json_incref(entry);
    }
    json_decref(root);
    ck_assert_msg(by_file.size() == files.size(), "exiftool read %zu of %zu files", by_file.size(), files.size());
    return by_file;
}

void release(std::map<std::string, json_t*>& m) {
    for (auto& [k, v] : m) json_decref(v);
    m.clear();
}

std::string tag_text(json_t* entry, const char* key) {
    json_t* v = json_object_get(entry, key);
    if (!v) return "";
    if (json_is_string(v)) return json_string_value(v);
    char* dumped = json_dumps(v, JSON_ENCODE_ANY);
    std::string s = dumped ? dumped : "";
    free(dumped);
    return s;
}

// Groups that hold identifying metadata, and tag names that do in any group.
bool identifying(const std::string& group, const std::string& tag) {
    static const std::set<std::string> groups = {"GPS", "IPTC", "Photoshop", "ExifIFD", "IFD1", "InteropIFD",
                                                 "MakerNotes", "XMP", "MPF0", "FlashPix", "JFXX"};
    static const std::set<std::string> tags = {
        "Comment", "Artist", "Author", "Copyright", "Make", "Model", "SerialNumber", "LensSerialNumber",
        "OwnerName", "CameraOwnerName", "Software", "Title", "Description", "ImageDescription", "ModifyDate",
        "DateTimeOriginal", "CreateDate", "ThumbnailImage", "PreviewImage", "Creator", "City", "By-line",
        "Keywords", "UserComment", "ThumbnailTIFF", "Warning"};
    return groups.count(group) || group.rfind("XMP", 0) == 0 || group.rfind("MakerNotes", 0) == 0 ||
           tag.rfind("GPS", 0) == 0 || tags.count(tag) || (group == "IFD0" && tag != "Orientation");
}

// The identifying tags exiftool finds in an entry ("" when none).
std::string identifying_tags(json_t* entry) {
    std::string found;
    const char* key;
    json_t* value;
    json_object_foreach(entry, key, value) {
        const std::string k = key;
        const size_t colon = k.find(':');
        const std::string group = colon == std::string::npos ? "" : k.substr(0, colon);
        const std::string tag = colon == std::string::npos ? k : k.substr(colon + 1);
        if (identifying(group, tag)) found += " " + k;
    }
    return found;
}

// --- the checks ---------------------------------------------------------------

struct Stored {
    std::string name;      // for messages
    std::string upload;    // as uploaded
    std::string object;    // as served from the bucket
    std::string upload_path, object_path;
};

// Pixels, ICC, validation: everything but exiftool's view.
void assert_same_picture(const Stored& p) {
    const img::Verdict before = validate(p.upload), after = validate(p.object);
    ck_assert_msg(after.ok, "%s: the stored object is refused by talentd's validation: %s", p.name.c_str(),
                  after.reason.c_str());
    ck_assert_msg(after.canonical_length == p.object.size(), "%s: stored object is not canonical", p.name.c_str());
    ck_assert_msg(after.format == before.format && after.frames == before.frames && after.width == before.width &&
                      after.height == before.height,
                  "%s: another picture was stored", p.name.c_str());
    const t::PictureFacts a = t::picture_facts(p.upload.substr(0, before.canonical_length));
    const t::PictureFacts b = t::picture_facts(p.object);
    const std::string diff = t::compare_pictures(a, b);
    ck_assert_msg(diff.empty(), "%s: %s", p.name.c_str(), diff.c_str());
    ck_assert_msg(p.object.size() <= before.canonical_length, "%s: the stored object grew (%zu > %zu)", p.name.c_str(),
                  p.object.size(), before.canonical_length);
}

// Uploads every (name, bytes), stores both sides in dir, checks pixels and
// ICC; returns what was stored.
std::vector<Stored> upload_all(const Stack& s, const t::TempDir& dir,
                               const std::vector<std::pair<std::string, std::string>>& pictures) {
    std::vector<Stored> stored;
    int n = 0;
    for (const auto& [name, bytes] : pictures) {
        Stored p{name, bytes, upload_and_fetch(s, name, bytes), "", ""};
        const std::string base = std::to_string(n++);
        p.upload_path = dir.file("upload-" + base);
        p.object_path = dir.file("stored-" + base);
        ck_assert(t::write_file(p.upload_path, p.upload) && t::write_file(p.object_path, p.object));
        assert_same_picture(p);
        stored.push_back(std::move(p));
    }
    return stored;
}

// exiftool over the uploads and the objects: no identifying tag stored, the
// orientation kept where the format carries it in EXIF.
void assert_exiftool_clean(const t::TempDir& dir, const std::vector<Stored>& stored) {
    std::vector<std::string> uploads, objects;
    for (const auto& p : stored) {
        uploads.push_back(p.upload_path);
        objects.push_back(p.object_path);
    }
    auto before = exif_read(dir, uploads), after = exif_read(dir, objects);
    for (const auto& p : stored) {
        json_t* u = before[p.upload_path];
        json_t* o = after[p.object_path];
        const std::string found = identifying_tags(o);
        ck_assert_msg(found.empty(), "%s: exiftool finds in the stored object:%s", p.name.c_str(), found.c_str());
        const std::string orientation = tag_text(u, "IFD0:Orientation");
        ck_assert_msg(tag_text(o, "IFD0:Orientation") == orientation, "%s: orientation \"%s\" stored as \"%s\"",
                      p.name.c_str(), orientation.c_str(), tag_text(o, "IFD0:Orientation").c_str());
        ck_assert_msg(tag_text(o, "File:FileType") == tag_text(u, "File:FileType"), "%s: file type", p.name.c_str());
    }
    release(before);
    release(after);
}

// --- fixtures -----------------------------------------------------------------

std::vector<std::pair<std::string, std::string>> make_photos(const t::TempDir& dir);

void start_stack() {
    photos_dir = std::make_unique<t::TempDir>("talentd-photos");
    photos = make_photos(*photos_dir);
    std::string why;
    owned = Stack::start({{"STACK_WORKERS", "2"}, {"STACK_REAP_INTERVAL", "0"}, {"STACK_LOG_LEVEL", "debug"}}, &why);
    if (!owned) {
        fprintf(stderr, "test_metadata: the stack did not start:\n%s\n", why.c_str());
        abort();
    }
    the_stack = owned.get();
}
void stop_stack() {
    the_stack = nullptr;
    owned.reset();
    photos_dir.reset();
}
void setup() {
    if (t::read_file(the_stack->get("TALENTD_CONF")).find(kMarker) != std::string::npos) configure(*the_stack, "");
}

// The ICC profile of the corpus' monkey12.jpg: every APP2 ICC_PROFILE payload.
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

// Photos in every format with everything a phone and a photo editor write,
// made by one exiftool call.  Returns (name, bytes).
std::vector<std::pair<std::string, std::string>> make_photos(const t::TempDir& dir) {
    const std::vector<std::pair<std::string, std::string>> bases = {
        {"photo.jpg", "valid/jpeg/baseline_420_q90.jpg"}, {"photo.png", "valid/png/basn2c08.png"},
        {"photo.webp", "valid/webp/test.webp"},           {"photo.gif", "valid/gif/gifgrid.gif"},
        {"anim.png", "valid/png/apng_4frames.png"},       {"anim.webp", "valid/webp/animated_lossy_fire.webp"},
        {"anim.gif", "valid/gif/fire.gif"},               {"cmyk.jpg", "valid/jpeg/cmyk_adobe.jpg"},
        {"progressive.jpg", "valid/jpeg/progressive.jpg"}};
    ck_assert(t::write_file(dir.file("icc.icc"), real_icc()));
    ck_assert(t::write_file(dir.file("thumb.jpg"), corpus("valid/jpeg/tiny_1x1.jpg")));
    std::vector<std::string> argv = {kExiftool, "-q", "-q", "-overwrite_original", "-n",
                                     "-GPSLatitude=52.52", "-GPSLatitudeRef=N", "-GPSLongitude=13.405",
                                     "-GPSLongitudeRef=E", "-SerialNumber=SERIAL-4711", "-LensSerialNumber=LENS-0815",
                                     "-OwnerName=Jane Owner", "-Artist=Jane Owner", "-Copyright=Jane Owner",
                                     "-Make=PhoneCo", "-Model=Phone9", "-XMP-dc:Creator=Jane Owner",
                                     "-XMP-photoshop:City=Berlin", "-IPTC:By-line=Jane Owner", "-IPTC:City=Berlin",
                                     "-Comment=COMMENTSECRET", "-Orientation=6",
                                     "-ThumbnailImage<=" + dir.file("thumb.jpg"), "-ICC_Profile<=" + dir.file("icc.icc")};
    for (const auto& [name, source] : bases) {
        ck_assert(t::write_file(dir.file(name), corpus(source)));
        argv.push_back(dir.file(name));
    }
    std::string out;
    const int rc = t::run_command(argv, {}, &out);
    ck_assert_msg(rc == 0, "exiftool failed (%d): %s", rc, out.c_str());
    std::vector<std::pair<std::string, std::string>> photos;
    for (const auto& [name, source] : bases) photos.push_back({name, t::read_file(dir.file(name))});
    return photos;
}

}  // namespace

// --- photos with everything -------------------------------------------------------

START_TEST(photos_lose_identifying_metadata) {
    const Stack& s = *the_stack;
    t::TempDir dir("talentd-metadata");

    // The uploads do carry it all (else this test would prove nothing).
    std::vector<std::string> paths;
    for (const auto& [name, bytes] : photos) paths.push_back(photos_dir->file(name));
    auto made = exif_read(dir, paths);
    for (const auto& [name, bytes] : photos) {
        json_t* e = made[photos_dir->file(name)];
        const std::string found = identifying_tags(e);
        const bool gif = name.find(".gif") != std::string::npos;
        for (const char* tag : {"XMP-dc:Creator"})
            ck_assert_msg(json_object_get(e, tag), "%s: exiftool wrote no %s", name.c_str(), tag);
        if (!gif) {
            for (const char* tag : {"GPS:GPSLatitude", "ExifIFD:SerialNumber", "ExifIFD:OwnerName", "IFD1:ThumbnailImage"})
                ck_assert_msg(json_object_get(e, tag), "%s: exiftool wrote no %s:%s", name.c_str(), tag, found.c_str());
            ck_assert_msg(tag_text(e, "IFD0:Orientation") == "6", "%s: orientation not written", name.c_str());
        } else {
            ck_assert_msg(json_object_get(e, "File:Comment"), "%s: no comment written", name.c_str());
        }
        ck_assert_msg(t::picture_facts(bytes).icc.size() > 128, "%s: no ICC profile written", name.c_str());
        if (name.find(".jpg") != std::string::npos)
            ck_assert_msg(json_object_get(e, "IPTC:By-line"), "%s: no IPTC written", name.c_str());
    }
    release(made);

    const std::vector<Stored> stored = upload_all(s, dir, photos);
    assert_exiftool_clean(dir, stored);
    for (const auto& p : stored) {
        for (const char* secret : kSecrets)
            ck_assert_msg(p.object.find(secret) == std::string::npos, "%s: \"%s\" is in the stored bytes", p.name.c_str(),
                          secret);
        // 13.405 E as EXIF stores it (rational 13405/1000 or degrees): the GPS IFD is gone.
        ck_assert_msg(p.object.find("GPS") == std::string::npos || p.name.find(".gif") != std::string::npos,
                      "%s: GPS left", p.name.c_str());
        ck_assert_msg(!t::picture_facts(p.object).icc.empty(), "%s: the ICC profile was dropped", p.name.c_str());
    }

    // The debug log: names and sizes of what went, never contents.
    const std::string log = s.talentd_log();
    ck_assert_msg(log.find("picture metadata: ") != std::string::npos, "no metadata line in the log");
    ck_assert_msg(log.find("APP1 Exif ") != std::string::npos, "the log does not name APP1 Exif");
    ck_assert_msg(log.find("kept orientation 6") != std::string::npos, "the log does not name the orientation");
    for (const char* secret : kSecrets)
        ck_assert_msg(log.find(secret) == std::string::npos, "the log contains \"%s\"", secret);
}
END_TEST

// --- the corpus ---------------------------------------------------------------------

START_TEST(corpus_through_the_stack) {
    const Stack& s = *the_stack;
    t::TempDir dir("talentd-metadata");
    const std::string manifest = t::read_file(t::corpus_dir() + "/MANIFEST.tsv");
    std::vector<std::pair<std::string, std::string>> accepted;
    size_t line_start = manifest.find('\n') + 1;
    while (line_start < manifest.size()) {
        size_t end = manifest.find('\n', line_start);
        if (end == std::string::npos) end = manifest.size();
        const std::string file = manifest.substr(line_start, manifest.find('\t', line_start) - line_start);
        line_start = end + 1;
        const std::string bytes = t::read_file(t::corpus_dir() + "/" + file);
        if (!bytes.empty() && validate(bytes).ok) accepted.push_back({file, bytes});
    }
    ck_assert_msg(accepted.size() >= 90, "only %zu accepted corpus files", accepted.size());
    const std::vector<Stored> stored = upload_all(s, dir, accepted);
    assert_exiftool_clean(dir, stored);
    // The corpus' own GPS photo: orientation 6 kept, GPS gone (checked above); say so.
    for (const auto& p : stored)
        if (p.name == "valid/jpeg/exif_orientation6_gps.jpg")
            ck_assert_msg(p.object.size() < p.upload.size(), "the GPS photo was stored unchanged");
}
END_TEST

// --- settings -----------------------------------------------------------------------

START_TEST(settings_strip_off_and_keep_icc_off) {
    const Stack& s = *the_stack;
    const std::string gps = corpus("valid/jpeg/exif_orientation6_gps.jpg");

    // strip_keep_icc = no: the profile goes, the pixels stay.
    configure(s, "strip_keep_icc = no");
    for (const auto& [name, bytes] : photos) {
        const std::string object = upload_and_fetch(s, name, bytes);
        t::PictureFacts a = t::picture_facts(bytes), b = t::picture_facts(object);
        ck_assert_msg(b.icc.empty(), "%s: ICC stored with strip_keep_icc = no", name.c_str());
        a.icc.clear();
        const std::string diff = t::compare_pictures(a, b);
        ck_assert_msg(diff.empty(), "%s: %s", name.c_str(), diff.c_str());
        ck_assert_msg(object.find("Jane Owner") == std::string::npos, "%s: metadata stored", name.c_str());
    }

    // strip_metadata = no: the canonical upload, byte for byte, GPS and all.
    configure(s, "strip_metadata = no");
    const std::string polyglot = corpus("policy/jpeg_trailing_zip_polyglot.jpg");
    ck_assert(upload_and_fetch(s, "gps.jpg", gps) == gps);
    ck_assert(upload_and_fetch(s, "polyglot.jpg", polyglot) == polyglot.substr(0, validate(polyglot).canonical_length));

    // And on again (the default).
    configure(s, "");
    const std::string object = upload_and_fetch(s, "gps.jpg", gps);
    ck_assert_msg(object != gps && object.find("CorpusCam") == std::string::npos, "stripping is not on by default");
}
END_TEST

int main() {
    Suite* s = suite_create("metadata");
    TCase* tc = tcase_create("metadata");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, start_stack, stop_stack);
    tcase_add_checked_fixture(tc, setup, nullptr);
    tcase_add_test(tc, photos_lose_identifying_metadata);
    tcase_add_test(tc, corpus_through_the_stack);
    tcase_add_test(tc, settings_strip_off_and_keep_icc_off);
    suite_add_tcase(s, tc);
    SRunner* sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
