// storage against a real s3rver, mostly through the shipped egress proxy.
//
// The world, started once by main() before the tests fork:
//
//   Store --http--> egress (nginx/talentd-egress.conf, rendered) --https--> front --http--> s3rver
//                   127.0.0.1:E                                             127.0.0.1:F     127.0.0.1:S
//
// The front is an nginx TLS server with a self-signed certificate for
// "s3.test".  Besides the good egress server there are egress servers that
// trust another certificate, expect another name, point at a dead port, and
// point at a listener that never answers.  All of it in one nginx process.
//
// Listing and creating buckets go to a second s3rver that lets signatures
// pass (egress_lenient -> front_lenient -> s3_lenient): s3rver 3.7 signs
// bucket-level requests differently from libs3 2.0, S3 and Spaces (see
// tests/support/s3rver.h); object requests all go to the strict one.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "../support/free_port.h"
#include "../support/timing.h"
#include "../support/http_client.h"
#include "../support/nginx_proc.h"
#include "../support/s3rver.h"
#include "../support/temp_dir.h"
#include "core/trace.h"
#include "storage/store.h"

// Last: check.h defines a fail() macro that breaks the standard headers.
#include <check.h>

using talentd::storage::ObjectInfo;
using talentd::storage::Outcome;
using talentd::storage::outcome_name;
using talentd::storage::Result;
using talentd::storage::Store;
using talentd::storage::StoreSettings;
namespace t = talentd::test;

namespace {

constexpr const char* kBucket = "talentd-test";
constexpr const char* kStoreName = "s3.test";

struct World {
    t::TempDir dir{"talentd-storage-test"};
    t::S3rver s3;
    t::S3rver s3_lenient;
    t::NginxProc nginx;
    t::SilentListener silent;
    int front = 0;           // TLS front of s3rver
    int egress = 0;          // trusts the front's certificate, right name
    int egress_bad_ca = 0;   // trusts another certificate
    int egress_bad_name = 0; // right certificate, expects another name
    int egress_dead = 0;     // store address where nothing listens
    int egress_silent = 0;   // store address that never answers
    int dead = 0;            // a port where nothing listens
    int front_lenient = 0;   // TLS front of s3_lenient
    int egress_lenient = 0;  // to front_lenient
};
World* world = nullptr;

StoreSettings settings_for(int port) {
    StoreSettings settings;
    settings.endpoint = "127.0.0.1:" + std::to_string(port);
    settings.bucket = kBucket;
    settings.access_key = t::S3rver::kAccessKey;
    settings.secret_key = t::S3rver::kSecretKey;
    return settings;
}

std::string describe(const Result& r) {
    return std::string(outcome_name(r.outcome)) + " http=" + std::to_string(r.http_status) + " " + r.detail;
}

// `result` is evaluated once: it is often the store call itself, which a
// second evaluation would make again (and describe that second answer).
#define ck_assert_outcome(result, expected)                                                              \
    do {                                                                                                 \
        const Result& outcome_checked_ = (result);                                                       \
        ck_assert_msg(outcome_checked_.outcome == (expected), "expected %s, got %s", outcome_name(expected), \
                      describe(outcome_checked_).c_str());                                               \
    } while (0)

std::vector<uint8_t> pseudo_random_bytes(size_t size, uint32_t seed) {
    std::vector<uint8_t> bytes(size);
    for (size_t i = 0; i < size; ++i) {
        seed = seed * 1103515245u + 12345u;
        bytes[i] = static_cast<uint8_t>(seed >> 16);
    }
    return bytes;
}

std::string md5_hex(const uint8_t* data, size_t size) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(data, size, digest, &length, EVP_md5(), nullptr);
    std::string hex;
    char byte[3];
    for (unsigned int i = 0; i < length; ++i) {
        snprintf(byte, sizeof byte, "%02x", digest[i]);
        hex += byte;
    }
    return hex;
}

double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// libs3 is initialised in each forked test, never in main (after fork).
void setup() {
    std::string why;
    ck_assert_msg(talentd::storage::initialize_process(settings_for(world->egress), &why), "%s", why.c_str());
}
void teardown() { talentd::storage::shutdown_process(); }

}  // namespace

// --- object keys ------------------------------------------------------------

// key == head + 32 lowercase hex digits + tail (std::regex trips GCC 12's -Werror under ASan).
bool has_shape(const std::string& key, const std::string& head, const std::string& tail) {
    if (key.size() != head.size() + 32 + tail.size()) return false;
    if (key.compare(0, head.size(), head) != 0 || key.compare(head.size() + 32, tail.size(), tail) != 0) return false;
    return std::all_of(key.begin() + head.size(), key.begin() + head.size() + 32,
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

START_TEST(key_format) {
    std::string key = talentd::storage::new_object_key("media/profile_pictures/", 42, "jpg");
    ck_assert_msg(has_shape(key, "media/profile_pictures/user_42_", ".jpg"), "%s", key.c_str());
    key = talentd::storage::new_object_key("", 7, "webp");
    ck_assert_msg(has_shape(key, "user_7_", ".webp"), "%s", key.c_str());
    ck_assert(!has_shape("user_7_0123456789abcdef0123456789ABCDEF.webp", "user_7_", ".webp"));
}
END_TEST

START_TEST(key_uniqueness) {
    std::set<std::string> keys;
    for (int i = 0; i < 10000; ++i) keys.insert(talentd::storage::new_object_key("p/", 1, "png"));
    ck_assert_int_eq(keys.size(), 10000);
}
END_TEST

START_TEST(key_refuses_bad_extension) {
    for (const char* extension : {"", "JPG", "j/g", "../x", "jpegjpegx", "a.b"}) {
        bool thrown = false;
        try {
            talentd::storage::new_object_key("p/", 1, extension);
        } catch (const std::invalid_argument&) {
            thrown = true;
        }
        ck_assert_msg(thrown, "extension \"%s\" accepted", extension);
    }
}
END_TEST

// The extension's limits, accepted exactly at them: 8 characters, and each
// end of both character ranges ('a', 'z', '0', '9').
START_TEST(key_accepts_extension_at_the_limits) {
    for (const char* extension : {"az09", "a", "z", "0", "9", "abcdefgh"}) {
        std::string key;
        try {
            key = talentd::storage::new_object_key("p/", 1, extension);
        } catch (const std::invalid_argument&) {
            ck_abort_msg("extension \"%s\" refused", extension);
        }
        ck_assert_msg(has_shape(key, "p/user_1_", std::string(".") + extension), "%s", key.c_str());
    }
}
END_TEST

// All 128 random bits reach the key: over 2000 keys every one of the 32 hex
// digits takes each of its 16 values (a digit that missed one value would
// happen by chance with a probability of about 16 * (15/16)^2000, nil).  A
// byte left unfilled, or a nibble cut short, shows as a digit stuck to a few
// values, which uniqueness alone would not notice.
START_TEST(key_digits_are_uniformly_random) {
    std::vector<std::set<char>> seen(32);
    for (int i = 0; i < 2000; ++i) {
        const std::string key = talentd::storage::new_object_key("", 3, "png");
        ck_assert_msg(has_shape(key, "user_3_", ".png"), "%s", key.c_str());
        for (size_t d = 0; d < 32; ++d) seen[d].insert(key[7 + d]);
    }
    for (size_t d = 0; d < 32; ++d) ck_assert_msg(seen[d].size() == 16, "hex digit %zu took %zu values", d, seen[d].size());
}
END_TEST

// --- settings -----------------------------------------------------------------

START_TEST(settings_validation) {
    std::string why;
    StoreSettings s = settings_for(8081);
    ck_assert_msg(talentd::storage::validate_settings(s, &why), "%s", why.c_str());

    s.https = true;  // remote HTTPS through libs3 would go unverified
    s.endpoint = "fra1.digitaloceanspaces.com";
    ck_assert(!talentd::storage::validate_settings(s, &why));
    ck_assert_msg(why.find("does not verify certificates") != std::string::npos, "%s", why.c_str());
    s.endpoint = "10.0.0.1:443";
    ck_assert(!talentd::storage::validate_settings(s, &why));
    // Ports 1 and 65535 are ports.
    for (const char* loopback :
         {"127.0.0.1:8443", "127.1.2.3", "[::1]:8443", "localhost:8443", "127.0.0.1:1", "[::1]:65535"}) {
        s.endpoint = loopback;
        ck_assert_msg(talentd::storage::validate_settings(s, &why), "%s: %s", loopback, why.c_str());
    }
    s = settings_for(8081);
    // The bracketed form's port is checked as the plain one's.
    for (const char* bad : {"", "host:", "host:0", "host:99999", "::1", "[::1", "a b", "host/path", "[::1]:",
                            "[::1]:0", "[::1]:99999", "[::1]:65536", "[::1]:8x", "[::1]8443", "[]:8443",
                            // at most 5 digits, even with leading zeros
                            "host:123456", "host:008080", "host:99999999999999999999"}) {
        s.endpoint = bad;
        ck_assert_msg(!talentd::storage::validate_settings(s, &why), "endpoint \"%s\" accepted", bad);
    }
    // The refused value is quoted in the message: its first 100 bytes, and
    // anything outside printable ASCII (here DEL and a control) as a space.
    s = settings_for(8081);
    s.endpoint = std::string(150, 'a') + "/";
    ck_assert(!talentd::storage::validate_settings(s, &why));
    const std::string cut = "s3_endpoint \"" + std::string(100, 'a') + "\" is not host[:port]";
    ck_assert_str_eq(why.c_str(), cut.c_str());
    // libs3 keeps the endpoint in S3_MAX_HOSTNAME_SIZE (255) bytes with its
    // NUL: 254 characters at most.
    s.endpoint = std::string(254, 'a');
    ck_assert_msg(talentd::storage::validate_settings(s, &why), "254 characters: %s", why.c_str());
    s.endpoint = std::string(250, 'a') + ":443";
    ck_assert_msg(talentd::storage::validate_settings(s, &why), "254 characters: %s", why.c_str());
    s.endpoint = std::string(251, 'a') + ":443";
    ck_assert_msg(!talentd::storage::validate_settings(s, &why), "an endpoint of 255 characters accepted");
    ck_assert_msg(why.find("is not host[:port]") != std::string::npos, "%s", why.c_str());
    s.endpoint = "bad\x7f\x1f\x80 host";
    ck_assert(!talentd::storage::validate_settings(s, &why));
    ck_assert_str_eq(why.c_str(), "s3_endpoint \"bad    host\" is not host[:port]");
    // A list page is 1 to 1000 keys (S3's max-keys).
    for (int size : {1, 500, 1000}) {
        s = settings_for(8081);
        s.list_page_size = size;
        ck_assert_msg(talentd::storage::validate_settings(s, &why), "list page size %d: %s", size, why.c_str());
    }
    for (int size : {0, -1, 1001}) {
        s = settings_for(8081);
        s.list_page_size = size;
        ck_assert_msg(!talentd::storage::validate_settings(s, &why), "list page size %d accepted", size);
        ck_assert_str_eq(why.c_str(), "list page size must be 1 to 1000");
    }
    s = settings_for(8081);
    s.acl = "public";
    ck_assert(!talentd::storage::validate_settings(s, &why));
    s.acl = std::string(50, 'p');   // quoted to 40 bytes
    ck_assert(!talentd::storage::validate_settings(s, &why));
    const std::string acl_cut = "s3_acl \"" + std::string(40, 'p') +
                                "\" is not private, public-read, public-read-write or authenticated-read";
    ck_assert_str_eq(why.c_str(), acl_cut.c_str());
    s = settings_for(8081);
    s.timeout_seconds = 0;
    ck_assert(!talentd::storage::validate_settings(s, &why));
    ck_assert_str_eq(why.c_str(), "s3_timeout must be at least 1 second");
    s.timeout_seconds = 1;
    ck_assert_msg(talentd::storage::validate_settings(s, &why), "s3_timeout 1: %s", why.c_str());
    s = settings_for(8081);
    s.bucket = "x";
    ck_assert(!talentd::storage::validate_settings(s, &why));
    ck_assert_msg(why.find("InvalidBucketName") != std::string::npos, "%s", why.c_str());
    // Its quotation: the first 80 bytes.
    s.bucket = std::string(90, 'x') + "!";
    ck_assert(!talentd::storage::validate_settings(s, &why));
    const std::string bucket_cut = "s3_bucket \"" + std::string(80, 'x') + "\": InvalidBucketNameCharacter";
    ck_assert_str_eq(why.c_str(), bucket_cut.c_str());
}
END_TEST

START_TEST(settings_from_config) {
    talentd::Config config;
    config.s3_endpoint = "127.0.0.1:9000";
    config.s3_bucket = "b-1";
    config.s3_protocol = "https";
    config.s3_uri_style = "virtual";
    config.s3_access_key = "AK";
    config.s3_secret_key = "SK";
    config.s3_acl = "private";
    config.s3_timeout = 3;
    StoreSettings s = talentd::storage::store_settings_from(config);
    ck_assert_str_eq(s.endpoint.c_str(), "127.0.0.1:9000");
    ck_assert_str_eq(s.bucket.c_str(), "b-1");
    ck_assert(s.https);
    ck_assert(s.virtual_host_style);
    ck_assert_str_eq(s.access_key.c_str(), "AK");
    ck_assert_str_eq(s.secret_key.c_str(), "SK");
    ck_assert_str_eq(s.acl.c_str(), "private");
    ck_assert_int_eq(s.timeout_seconds, 3);
    ck_assert_str_eq(s.cache_control.c_str(), "public, max-age=31536000, immutable");
    talentd::Config defaults;
    StoreSettings d = talentd::storage::store_settings_from(defaults);
    ck_assert(!d.https);
    ck_assert(!d.virtual_host_style);
    ck_assert_str_eq(d.acl.c_str(), "public-read");
    ck_assert_int_eq(d.timeout_seconds, 10);
}
END_TEST

// --- the round trip through the egress proxy -----------------------------------

START_TEST(put_head_get_remove) {
    Store store(settings_for(world->egress));
    std::string key = talentd::storage::new_object_key("t/roundtrip/", 456, "png");
    std::vector<uint8_t> bytes = pseudo_random_bytes(300 * 1000 + 7, 1);

    Result put = store.put(key, bytes.data(), bytes.size(), "image/png");
    ck_assert_outcome(put, Outcome::Ok);
    ck_assert_int_eq(put.http_status, 200);
    ck_assert_msg(!put.nothing_written, "a stored PUT says it wrote nothing");

    ObjectInfo info;
    Result head = store.head(key, &info);
    ck_assert_outcome(head, Outcome::Ok);
    ck_assert_int_eq(head.http_status, 200);
    ck_assert_int_eq(info.size, static_cast<int64_t>(bytes.size()));
    ck_assert_str_eq(info.content_type.c_str(), "image/png");
    std::string etag = "\"" + md5_hex(bytes.data(), bytes.size()) + "\"";
    ck_assert_str_eq(info.etag.c_str(), etag.c_str());
    ck_assert(info.last_modified > 0);

    // Public read, straight from s3rver and through the egress proxy.
    for (const std::string& base : {world->s3.url(), "http://127.0.0.1:" + std::to_string(world->egress)}) {
        t::HttpResponse get = t::http_get(base + "/" + kBucket + "/" + key);
        ck_assert_msg(get.status == 200, "%s: %ld %s", base.c_str(), get.status, get.error.c_str());
        ck_assert_msg(get.body.size() == bytes.size() && memcmp(get.body.data(), bytes.data(), bytes.size()) == 0,
                      "bytes differ (%zu)", get.body.size());
        std::string content_type = get.header("content-type"), cache_control = get.header("cache-control");
        ck_assert_str_eq(content_type.c_str(), "image/png");
        ck_assert_str_eq(cache_control.c_str(), "public, max-age=31536000, immutable");
    }

    Result removed = store.remove(key);
    ck_assert_outcome(removed, Outcome::Ok);
    ck_assert_int_eq(removed.http_status, 204);
    Result gone = store.head(key, &info);
    ck_assert_outcome(gone, Outcome::NotFound);
    ck_assert_int_eq(gone.http_status, 404);
    ck_assert_msg(gone.nothing_written, "the store's own 404 (no body) not counted as its answer");
    // A head that finds nothing leaves *info as it was.
    ck_assert_int_eq(info.size, static_cast<int64_t>(bytes.size()));
    ck_assert_str_eq(info.etag.c_str(), etag.c_str());
    ck_assert_int_eq(t::http_get(world->s3.url() + "/" + kBucket + "/" + key).status, 404);

    Result again = store.remove(key);  // DELETE is idempotent
    ck_assert_outcome(again, Outcome::Ok);
}
END_TEST

// The object's properties as they reached the store (logged by the front
// nginx from the request headers: s3rver keeps no ACL and checks no
// Content-MD5): the canned ACL, the MD5 of exactly the bytes sent,
// Content-Type and Cache-Control, and no Expires (libs3 sends one for any
// expires >= 0: 0 would be 1970, a picture stale at once for caches that
// read Expires; nginx logs an absent header as "-").
std::string base64_md5(const uint8_t* data, size_t size) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(data, size, digest, &length, EVP_md5(), nullptr);
    unsigned char out[64];
    int n = EVP_EncodeBlock(out, digest, static_cast<int>(length));
    return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
}

// The line of the store's request log for METHOD /bucket/key ("" if none yet).
std::string store_request(const std::string& method, const std::string& key) {
    const std::string head = method + " /" + kBucket + "/" + key + " ";
    std::string line;
    t::wait_for(
        [&] {
            std::string log = t::read_file(world->dir.file("store-requests.log"));
            size_t at = log.find(head);
            if (at == std::string::npos) return false;
            line = log.substr(at, log.find('\n', at) - at);
            return true;
        },
        10);
    return line;
}

// Each child process initialises libs3 once: a second call (here after the
// fixture's) is a no-op that succeeds, whatever settings it is given, until
// shutdown_process().
START_TEST(initialize_is_once_a_process) {
    std::string why;
    ck_assert_msg(talentd::storage::initialize_process(settings_for(world->egress), &why), "a second call: %s",
                  why.c_str());
    StoreSettings bad = settings_for(world->egress);
    bad.timeout_seconds = 0;
    ck_assert_msg(talentd::storage::initialize_process(bad, &why), "already initialised, yet: %s", why.c_str());
    ck_assert_outcome(Store(settings_for(world->egress)).head("t/none", nullptr), Outcome::NotFound);
    // After a shutdown it starts again, from the settings' check.
    talentd::storage::shutdown_process();
    ck_assert_msg(!talentd::storage::initialize_process(bad, &why), "initialised after a shutdown with s3_timeout 0");
    ck_assert_msg(talentd::storage::initialize_process(settings_for(world->egress), &why), "%s", why.c_str());
    ck_assert_outcome(Store(settings_for(world->egress)).head("t/none", nullptr), Outcome::NotFound);
}
END_TEST

START_TEST(put_sends_object_properties) {
    Store store(settings_for(world->egress));
    std::string key = talentd::storage::new_object_key("t/properties/", 5, "jpg");
    std::vector<uint8_t> bytes = pseudo_random_bytes(12345, 9);
    ck_assert_outcome(store.put(key, bytes.data(), bytes.size(), "image/jpeg"), Outcome::Ok);
    std::string line = store_request("PUT", key);
    ck_assert_msg(!line.empty(), "no PUT of %s reached the store", key.c_str());
    const std::string expected = "PUT /" + std::string(kBucket) + "/" + key + " acl=\"public-read\" md5=\"" +
                                 base64_md5(bytes.data(), bytes.size()) +
                                 "\" type=\"image/jpeg\" cache=\"public, max-age=31536000, immutable\" expires=\"-\" length=\"12345\"";
    const size_t agent_at = line.find(" agent=\"");
    ck_assert_msg(agent_at != std::string::npos, "%s", line.c_str());
    const std::string properties = line.substr(0, agent_at), agent = line.substr(agent_at);
    ck_assert_str_eq(properties.c_str(), expected.c_str());
    // The store's logs name talentd: S3_initialize ran, with talentd's name.
    ck_assert_msg(agent.find("; talentd; libs3 ") != std::string::npos, "User-Agent %s", agent.c_str());

    // Another canned ACL is sent as configured.
    StoreSettings settings = settings_for(world->egress);
    settings.acl = "authenticated-read";
    std::string key2 = talentd::storage::new_object_key("t/properties/", 5, "png");
    ck_assert_outcome(Store(settings).put(key2, bytes.data(), 100, "image/png"), Outcome::Ok);
    line = store_request("PUT", key2);
    ck_assert_msg(line.find(" acl=\"authenticated-read\" md5=\"" + base64_md5(bytes.data(), 100) + "\" type=\"image/png\"") !=
                      std::string::npos,
                  "%s", line.c_str());
    // And what the store kept: Content-Type and Cache-Control (s3rver's metadata).
    t::HttpResponse get = t::http_get(world->s3.url() + "/" + kBucket + "/" + key2);
    ck_assert_int_eq(get.status, 200);
    const std::string type = get.header("content-type"), cache = get.header("cache-control");
    ck_assert_str_eq(type.c_str(), "image/png");
    ck_assert_str_eq(cache.c_str(), "public, max-age=31536000, immutable");
    ck_assert_outcome(store.remove(key), Outcome::Ok);
    ck_assert_outcome(store.remove(key2), Outcome::Ok);
}
END_TEST

START_TEST(put_empty_object_and_overwrite) {
    Store store(settings_for(world->egress));
    std::string key = talentd::storage::new_object_key("t/empty/", 1, "gif");
    ck_assert_outcome(store.put(key, nullptr, 0, "image/gif"), Outcome::Ok);
    ObjectInfo info;
    ck_assert_outcome(store.head(key, &info), Outcome::Ok);
    ck_assert_int_eq(info.size, 0);
    std::vector<uint8_t> bytes = pseudo_random_bytes(1000, 2);
    ck_assert_outcome(store.put(key, bytes.data(), bytes.size(), "image/webp"), Outcome::Ok);
    ck_assert_outcome(store.head(key, &info), Outcome::Ok);
    ck_assert_int_eq(info.size, 1000);
    ck_assert_str_eq(info.content_type.c_str(), "image/webp");
    ck_assert_outcome(store.remove(key), Outcome::Ok);
}
END_TEST

START_TEST(direct_to_s3rver) {
    Store store(settings_for(world->s3.port()));
    std::string key = talentd::storage::new_object_key("t/direct/", 9, "jpg");
    std::vector<uint8_t> bytes = pseudo_random_bytes(5000, 3);
    ck_assert_outcome(store.put(key, bytes.data(), bytes.size(), "image/jpeg"), Outcome::Ok);
    ObjectInfo info;
    ck_assert_outcome(store.head(key, &info), Outcome::Ok);
    ck_assert_int_eq(info.size, 5000);
    ck_assert_outcome(store.remove(key), Outcome::Ok);
}
END_TEST

START_TEST(list_follows_truncation) {
    StoreSettings settings = settings_for(world->egress_lenient);
    settings.list_page_size = 4;  // s3rver truncates like S3 does at 1000
    Store store(settings);
    std::set<std::string> wanted;
    for (int i = 0; i < 11; ++i) {
        std::string key = talentd::storage::new_object_key("t/list/a/", i, "png");
        ck_assert_outcome(store.put(key, reinterpret_cast<const uint8_t*>("x"), 1, "image/png"), Outcome::Ok);
        wanted.insert(key);
    }
    std::string other = talentd::storage::new_object_key("t/list/b/", 1, "png");
    ck_assert_outcome(store.put(other, reinterpret_cast<const uint8_t*>("x"), 1, "image/png"), Outcome::Ok);

    std::vector<std::string> keys = {"stale"};
    Result listed = store.list("t/list/a/", &keys);
    ck_assert_outcome(listed, Outcome::Ok);
    ck_assert_int_eq(keys.size(), 11);
    ck_assert(std::set<std::string>(keys.begin(), keys.end()) == wanted);
    ck_assert(std::is_sorted(keys.begin(), keys.end()));

    Store one_page(settings_for(world->egress_lenient));
    ck_assert_outcome(one_page.list("t/list/", &keys), Outcome::Ok);
    ck_assert_int_eq(keys.size(), 12);

    Result none = store.list("t/list/none/", &keys);
    ck_assert_outcome(none, Outcome::Ok);
    ck_assert_int_eq(none.http_status, 200);
    ck_assert_int_eq(keys.size(), 0);
}
END_TEST

// A truncated listing must move on: a store that sends the same last key
// again gets a failure, not a loop until the deadline.  (A truncated page
// with no key at all ends the listing: libs3 makes no callback for it.)
START_TEST(list_that_does_not_advance_fails) {
    StoreSettings settings = settings_for(world->egress_lenient);
    settings.timeout_seconds = 5;   // a loop would end as Unavailable, by the deadline
    Store store(settings);
    std::vector<std::string> keys = {"stale"};
    Result r = store.list("tstuck", &keys);
    ck_assert_outcome(r, Outcome::Failed);
    ck_assert_msg(r.detail == "truncated listing did not advance", "%s", r.detail.c_str());
    ck_assert_msg(keys.size() == 1 && keys[0] == "stale", "a failed listing changed the keys");
}
END_TEST

START_TEST(create_bucket) {
    StoreSettings settings = settings_for(world->egress_lenient);
    settings.bucket = "made-by-test";
    Store store(settings);
    const Result created = store.create_bucket();
    ck_assert_outcome(created, Outcome::Ok);
    ck_assert_int_eq(created.http_status, 200);
    // (S3 answers BucketAlreadyOwnedByYou to a second create, which is Ok;
    // s3rver answers BucketAlreadyExists, so that is not tried here.)
    // A refusal is not taken for success (the strict s3rver checks signatures).
    StoreSettings wrong = settings_for(world->egress);
    wrong.secret_key = "not-the-secret";
    wrong.bucket = "refused-by-test";
    const Result refused = Store(wrong).create_bucket();
    ck_assert_outcome(refused, Outcome::Failed);
    ck_assert_msg(refused.detail.find("ErrorSignatureDoesNotMatch") == 0, "%s", refused.detail.c_str());
    ck_assert_outcome(store.put("k", reinterpret_cast<const uint8_t*>("x"), 1, "text/plain"), Outcome::Ok);
    std::vector<std::string> keys;
    ck_assert_outcome(store.list("", &keys), Outcome::Ok);
    ck_assert_int_eq(keys.size(), 1);
}
END_TEST

// --- refusals -------------------------------------------------------------------

START_TEST(wrong_secret_is_failed) {
    StoreSettings settings = settings_for(world->egress);
    settings.secret_key = "not-the-secret";
    Store store(settings);
    std::string key = talentd::storage::new_object_key("t/secret/", 1, "png");
    Result put = store.put(key, reinterpret_cast<const uint8_t*>("x"), 1, "image/png");
    ck_assert_outcome(put, Outcome::Failed);
    ck_assert_int_eq(put.http_status, 403);
    ck_assert_msg(put.detail.find("ErrorSignatureDoesNotMatch") == 0, "%s", put.detail.c_str());
    ck_assert_msg(put.detail.find("not-the-secret") == std::string::npos, "%s", put.detail.c_str());
    ck_assert_msg(put.nothing_written, "the store's 403 not counted as its answer (nothing written)");
    ObjectInfo info;
    ck_assert_outcome(Store(settings_for(world->egress)).head(key, &info), Outcome::NotFound);

    settings = settings_for(world->egress);
    settings.access_key = "NOBODY";
    Result unknown = Store(settings).put(key, reinterpret_cast<const uint8_t*>("x"), 1, "image/png");
    ck_assert_outcome(unknown, Outcome::Failed);
    ck_assert_int_eq(unknown.http_status, 403);
}
END_TEST

START_TEST(refused_without_a_request) {
    StoreSettings settings = settings_for(world->egress);
    settings.bucket = "no/such";
    Result r = Store(settings).put("k", reinterpret_cast<const uint8_t*>("x"), 1, "text/plain");
    ck_assert_outcome(r, Outcome::Failed);
    ck_assert_msg(r.detail.find("InvalidBucketName") != std::string::npos, "%s", r.detail.c_str());
    settings.bucket = kBucket;
    for (Result empty : {Store(settings).put("", reinterpret_cast<const uint8_t*>("x"), 1, "text/plain"),
                         Store(settings).remove(""), Store(settings).head("", nullptr)}) {
        ck_assert_outcome(empty, Outcome::Failed);
        ck_assert_str_eq(empty.detail.c_str(), "empty key");
        ck_assert_msg(empty.nothing_written, "refused without a request, yet maybe written");
    }
    settings.bucket = "no-such-bucket";
    Result missing = Store(settings).put("k", reinterpret_cast<const uint8_t*>("x"), 1, "text/plain");
    ck_assert_outcome(missing, Outcome::Failed);
    ck_assert_msg(missing.detail.find("ErrorNoSuchBucket") == 0, "%s", missing.detail.c_str());
    ck_assert_msg(missing.nothing_written, "the store's NoSuchBucket not counted as its answer");
}
END_TEST

// The store's own errors: its 500 means "later" and may follow a write that
// landed; its AccessDenied is a refusal that wrote nothing.
START_TEST(store_errors_are_classified) {
    Store store(settings_for(world->egress));
    Result internal = store.put("t/fault/500/k", reinterpret_cast<const uint8_t*>("x"), 1, "image/png");
    ck_assert_outcome(internal, Outcome::Unavailable);
    ck_assert_msg(internal.detail.find("ErrorInternalError") == 0, "%s", internal.detail.c_str());
    ck_assert_int_eq(internal.http_status, 500);
    ck_assert_msg(!internal.nothing_written, "the store's 500 counted as certainly nothing written");
    Result denied = store.put("t/fault/403/k", reinterpret_cast<const uint8_t*>("x"), 1, "image/png");
    ck_assert_outcome(denied, Outcome::Failed);
    ck_assert_msg(denied.detail.find("ErrorAccessDenied") == 0, "%s", denied.detail.c_str());
    ck_assert_int_eq(denied.http_status, 403);
    ck_assert_msg(denied.nothing_written, "the store's AccessDenied not counted as its answer (nothing written)");
}
END_TEST

// --- the store away ---------------------------------------------------------------

START_TEST(stopped_store_is_unavailable) {
    t::S3rver own;
    std::string error;
    ck_assert_msg(own.start("stopped", &error), "%s", error.c_str());
    StoreSettings settings = settings_for(own.port());
    settings.bucket = "stopped";
    Store store(settings);
    ck_assert_outcome(store.put("k", reinterpret_cast<const uint8_t*>("x"), 1, "text/plain"), Outcome::Ok);
    own.stop();
    Result r = store.put("k", reinterpret_cast<const uint8_t*>("x"), 1, "text/plain");
    ck_assert_outcome(r, Outcome::Unavailable);
    ck_assert_msg(r.detail == "FailedToConnect", "%s", r.detail.c_str());
    ck_assert_int_eq(r.http_status, 0);
    ck_assert_msg(r.nothing_written, "a refused connection may have written");
}
END_TEST

START_TEST(store_down_behind_proxy_is_unavailable) {
    Store store(settings_for(world->egress_dead));
    Result put = store.put("k", reinterpret_cast<const uint8_t*>("x"), 1, "text/plain");
    ck_assert_outcome(put, Outcome::Unavailable);
    ck_assert_msg(put.detail.find("502 Bad Gateway") != std::string::npos, "%s", put.detail.c_str());
    // The proxy marks its answer <Egress>no-connection</Egress>.
    ck_assert_msg(put.nothing_written, "the proxy's no-connection 502 may have written");
    std::vector<std::string> keys;
    ck_assert_outcome(store.list("", &keys), Outcome::Unavailable);
    ObjectInfo info;
    Result head = store.head("k", &info);
    ck_assert_outcome(head, Outcome::Unavailable);  // no body: HttpErrorUnknown
    // Without the body, nothing says who answered: a gateway may have reached the store.
    ck_assert_msg(!head.nothing_written, "a bodiless 502 counted as certainly nothing written");
    ck_assert_outcome(store.remove("k"), Outcome::Unavailable);
}
END_TEST

// The egress proxy reached the store and got no answer (the connection
// closed): its 502 says <Egress>connected</Egress>, and the PUT may have
// landed, so it does not count as certainly nothing written.
START_TEST(store_reached_then_lost_behind_proxy_may_have_written) {
    Store store(settings_for(world->egress));
    Result put = store.put("t/fault/444/k", reinterpret_cast<const uint8_t*>("x"), 1, "text/plain");
    ck_assert_outcome(put, Outcome::Unavailable);
    ck_assert_msg(put.detail.find("502 Bad Gateway") != std::string::npos, "%s", put.detail.c_str());
    ck_assert_msg(!put.nothing_written, "the proxy's 502 after reaching the store counted as nothing written");
}
END_TEST

// Leaves the stack below the caller full of ones, as deep calls leave it
// full of their data: memory a callee does not initialise (an fd_set not
// cleared) then holds stray bits, not the zeros of a fresh stack.
__attribute__((noinline)) void dirty_stack() {
    volatile unsigned char junk[256 * 1024];
    for (size_t i = 0; i < sizeof junk; ++i) junk[i] = 0xff;
}

// A loopback TCP connection whose receiving end has urgent data waiting: a
// descriptor of the process that is ready for POLLPRI and nothing else, which
// a wait that polls descriptors curl does not watch would wake on at once.
struct UrgentSocket {
    int listener = -1, sender = -1, receiver = -1;
    UrgentSocket() {
        listener = socket(AF_INET, SOCK_STREAM, 0);
        sender = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert(listener >= 0 && sender >= 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t size = sizeof address;
        ck_assert_int_eq(bind(listener, reinterpret_cast<sockaddr*>(&address), size), 0);
        ck_assert_int_eq(listen(listener, 1), 0);
        ck_assert_int_eq(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size), 0);
        ck_assert_int_eq(connect(sender, reinterpret_cast<sockaddr*>(&address), size), 0);
        receiver = accept(listener, nullptr, nullptr);
        ck_assert_int_ge(receiver, 0);
        ck_assert_int_eq(send(sender, "!", 1, MSG_OOB), 1);
        pollfd ready{receiver, POLLPRI, 0};
        ck_assert_int_eq(poll(&ready, 1, 5000), 1);   // the urgent byte has arrived
    }
    ~UrgentSocket() {
        for (int fd : {receiver, sender, listener})
            if (fd >= 0) close(fd);
    }
};

// libs3 keeps up to 8 extra details of an error document: all are read, the
// last too, and none past them.
START_TEST(error_details_are_read_to_the_last) {
    Store store(settings_for(world->egress));
    Result put = store.put("t/fault/details/k", reinterpret_cast<const uint8_t*>("x"), 1, "text/plain");
    ck_assert_outcome(put, Outcome::Unavailable);
    ck_assert_msg(put.detail == "ErrorUnknown: injected by test_storage", "%s", put.detail.c_str());
    ck_assert_msg(!put.nothing_written, "<Egress>connected</Egress>, the 8th detail, was not read");
}
END_TEST

// What the operator's metrics count (talentd_store_requests_total): each
// put, delete and head, by how it ended.
struct StoreCallLog : talentd::trace::Recorder {
    std::vector<std::pair<talentd::trace::StoreOp, talentd::trace::StoreResult>> calls;
    void store_call(talentd::trace::StoreOp op, talentd::trace::StoreResult result, double) override {
        calls.emplace_back(op, result);
    }
};

START_TEST(store_calls_are_reported_by_outcome) {
    using talentd::trace::StoreOp;
    using talentd::trace::StoreResult;
    using Call = std::pair<StoreOp, StoreResult>;
    StoreCallLog log;
    const uint8_t* x = reinterpret_cast<const uint8_t*>("x");

    Store store(settings_for(world->egress));
    store.set_recorder(&log);
    ck_assert_outcome(store.put("t/recorded/k", x, 1, "text/plain"), Outcome::Ok);
    ck_assert_outcome(store.head("t/recorded/none", nullptr), Outcome::NotFound);   // a missing object is ok
    ck_assert_outcome(store.remove("t/recorded/k"), Outcome::Ok);

    StoreSettings wrong = settings_for(world->egress);
    wrong.secret_key = "not-the-secret";
    Store refusing(wrong);
    refusing.set_recorder(&log);
    ck_assert_outcome(refusing.put("t/recorded/k", x, 1, "text/plain"), Outcome::Failed);

    Store unreachable(settings_for(world->egress_dead));
    unreachable.set_recorder(&log);
    ck_assert_outcome(unreachable.put("t/recorded/k", x, 1, "text/plain"), Outcome::Unavailable);

    StoreSettings silent = settings_for(world->silent.port());
    silent.timeout_seconds = 1;
    Store slow(silent);
    slow.set_recorder(&log);
    ck_assert_outcome(slow.head("t/recorded/k", nullptr), Outcome::Unavailable);

    const std::vector<Call> expected = {
        {StoreOp::Put, StoreResult::Ok},          {StoreOp::Head, StoreResult::Ok},
        {StoreOp::Delete, StoreResult::Ok},       {StoreOp::Put, StoreResult::Refused},
        {StoreOp::Put, StoreResult::Unavailable}, {StoreOp::Head, StoreResult::Timeout},
    };
    ck_assert_int_eq(log.calls.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i)
        ck_assert_msg(log.calls[i] == expected[i], "call %zu: %s %s, expected %s %s", i,
                      talentd::trace::store_op_name(log.calls[i].first),
                      talentd::trace::store_result_name(log.calls[i].second),
                      talentd::trace::store_op_name(expected[i].first),
                      talentd::trace::store_result_name(expected[i].second));
}
END_TEST

START_TEST(silent_server_times_out) {
    StoreSettings settings = settings_for(world->silent.port());
    settings.timeout_seconds = 1;
    Store store(settings);
    std::vector<uint8_t> bytes = pseudo_random_bytes(200 * 1000, 4);
    const UrgentSocket urgent;   // below curl's socket, so among the descriptors it reports
    dirty_stack();
    rusage before{}, after{};
    getrusage(RUSAGE_THREAD, &before);
    double start = now_seconds(), cpu_start = cpu_seconds();
    Result put = store.put("k", bytes.data(), bytes.size(), "image/png");
    double took = now_seconds() - start, cpu = cpu_seconds() - cpu_start;
    getrusage(RUSAGE_THREAD, &after);
    ck_assert_outcome(put, Outcome::Unavailable);
    ck_assert_str_eq(put.detail.c_str(), "timeout after 1 s");
    ck_assert_msg(!put.nothing_written, "a PUT that timed out may have landed");
    // The deadline held: not before it, and not forever (a generous, scaled bound).
    ck_assert_msg(took >= 0.95 && took < t::scaled(10), "took %.3f s", took);
    // The wait sleeps in poll() on curl's socket until it is ready, curl's
    // timer or the deadline: a couple of wake-ups, next to no CPU (measured:
    // 2 voluntary switches, 4 ms).  Polling the wrong descriptors or events,
    // or every 50 ms (kIdleWaitMs is for when curl watches none), would show
    // as a worker spinning or waking 20 times a second for s3_timeout.
    const long wakeups = after.ru_nvcsw - before.ru_nvcsw;
    ck_assert_msg(cpu < took / 10, "%.3f s of CPU while waiting %.3f s for a silent store", cpu, took);
    ck_assert_msg(wakeups <= 10, "%ld voluntary context switches while waiting %.3f s for a silent store", wakeups,
                  took);
    ObjectInfo info;
    Result head = store.head("k", &info);
    ck_assert_outcome(head, Outcome::Unavailable);
    ck_assert_msg(head.seconds >= 0.95 && head.seconds < t::scaled(10), "took %.3f s", head.seconds);
}
END_TEST

START_TEST(silent_store_behind_proxy_times_out) {
    StoreSettings settings = settings_for(world->egress_silent);
    settings.timeout_seconds = 1;
    Store store(settings);
    std::vector<std::string> keys;
    Result r = store.list("", &keys);
    ck_assert_outcome(r, Outcome::Unavailable);
    ck_assert_str_eq(r.detail.c_str(), "timeout after 1 s");
    ck_assert_msg(r.seconds >= 0.95 && r.seconds < t::scaled(10), "took %.3f s", r.seconds);
}
END_TEST

// --- certificates ------------------------------------------------------------------

START_TEST(untrusted_certificate_is_unavailable) {
    Store store(settings_for(world->egress_bad_ca));
    std::string key = talentd::storage::new_object_key("t/untrusted/", 1, "png");
    Result put = store.put(key, reinterpret_cast<const uint8_t*>("x"), 1, "image/png");
    ck_assert_outcome(put, Outcome::Unavailable);
    ck_assert_msg(put.detail.find("502 Bad Gateway") != std::string::npos, "%s", put.detail.c_str());
    ck_assert_msg(world->nginx.error_log().find("upstream SSL certificate verify error") != std::string::npos,
                  "no verify error in the egress log");
    ObjectInfo info;  // and nothing reached the store
    ck_assert_outcome(Store(settings_for(world->egress)).head(key, &info), Outcome::NotFound);
}
END_TEST

START_TEST(wrong_certificate_name_is_unavailable) {
    Store store(settings_for(world->egress_bad_name));
    std::string key = talentd::storage::new_object_key("t/badname/", 1, "png");
    Result put = store.put(key, reinterpret_cast<const uint8_t*>("x"), 1, "image/png");
    ck_assert_outcome(put, Outcome::Unavailable);
    ck_assert_msg(world->nginx.error_log().find("does not match \"wrong.test\"") != std::string::npos ||
                      world->nginx.error_log().find("upstream SSL certificate does not match") != std::string::npos,
                  "no name mismatch in the egress log");
    ObjectInfo info;
    ck_assert_outcome(Store(settings_for(world->egress)).head(key, &info), Outcome::NotFound);
}
END_TEST

// --- cost -----------------------------------------------------------------------------

START_TEST(put_one_mebibyte_cost) {
    Store store(settings_for(world->egress));
    std::vector<uint8_t> bytes = pseudo_random_bytes(1 << 20, 5);
    std::string key = talentd::storage::new_object_key("t/cost/", 1, "jpg");
    ck_assert_outcome(store.put(key, bytes.data(), bytes.size(), "image/jpeg"), Outcome::Ok);  // warm up
    constexpr int kRounds = 5;
    double wall = 0, cpu = 0;
    for (int i = 0; i < kRounds; ++i) {
        double cpu_start = cpu_seconds();
        Result r = store.put(key, bytes.data(), bytes.size(), "image/jpeg");
        cpu += cpu_seconds() - cpu_start;
        wall += r.seconds;
        ck_assert_outcome(r, Outcome::Ok);
    }
    double md5_start = cpu_seconds();
    for (int i = 0; i < kRounds; ++i) md5_hex(bytes.data(), bytes.size());
    double md5 = (cpu_seconds() - md5_start) / kRounds;
    printf("put 1 MiB through the egress proxy: %.1f ms wall, %.1f ms CPU in talentd (MD5 alone %.1f ms)\n",
           1000 * wall / kRounds, 1000 * cpu / kRounds, 1000 * md5);
    ck_assert_outcome(store.remove(key), Outcome::Ok);
    ck_assert_msg(world->nginx.error_log().find("buffered to a temporary file") == std::string::npos,
                  "the egress proxy wrote a picture to disk");
}
END_TEST

// --- the world -------------------------------------------------------------------------

namespace {

bool start_world(World* w, std::string* error) {
    if (!w->silent.ok()) {
        *error = "silent listener";
        return false;
    }
    if (!w->s3.start(kBucket, error) ||
        !w->s3_lenient.start(kBucket, error, t::S3rver::Signatures::Lenient)) {
        return false;
    }
    const std::string& d = w->dir.path();
    if (!t::make_self_signed_cert(d, "store", kStoreName, error) ||
        !t::make_self_signed_cert(d, "other", kStoreName, error)) {
        return false;
    }
    w->dead = t::free_port();
    // nginx binds its own ports: start_on_ports() retries with fresh ones
    // when another process took one.
    auto http_context = [w, d](const std::vector<int>& ports) {
        w->egress = ports[0];
        w->front = ports[1];
        w->egress_bad_ca = ports[2];
        w->egress_bad_name = ports[3];
        w->egress_dead = ports[4];
        w->egress_silent = ports[5];
        w->front_lenient = ports[6];
        w->egress_lenient = ports[7];
        const std::string front = std::to_string(w->front);
        // What reaches the store: the request headers that carry the object's
        // properties, logged by the front (the store's side of the egress proxy).
        std::string http =
            "    log_format store_request '$request_method $uri acl=\"$http_x_amz_acl\" "
            "md5=\"$http_content_md5\" type=\"$content_type\" cache=\"$http_cache_control\" "
            "expires=\"$http_expires\" length=\"$content_length\" agent=\"$http_user_agent\"';\n";
        // The store's own error answers that s3rver never gives, for keys
        // under t/fault/: a 500 InternalError and a 403 AccessDenied.
        auto fault = [](int status, const char* code) {
            return "        location /" + std::string(kBucket) + "/t/fault/" + std::to_string(status) + "/ { return " +
                   std::to_string(status) + " '<?xml version=\"1.0\" encoding=\"UTF-8\"?>\\n<Error><Code>" + code +
                   "</Code><Message>injected by test_storage</Message></Error>\\n'; }\n";
        };
        // An error document with as many extra details as libs3 keeps (8),
        // the egress proxy's marker the last of them; ServiceUnavailable is
        // a code libs3 2.0 does not know, so the marker decides.
        std::string details;
        for (int i = 1; i <= 7; ++i)
            details += "<Detail" + std::to_string(i) + ">" + std::to_string(i) + "</Detail" + std::to_string(i) + ">";
        const std::string eight_details =
            "        location /" + std::string(kBucket) +
            "/t/fault/details/ { return 503 '<?xml version=\"1.0\" encoding=\"UTF-8\"?>\\n<Error>"
            "<Code>ServiceUnavailable</Code><Message>injected by test_storage</Message>" +
            details + "<Egress>connected</Egress></Error>\\n'; }\n";
        auto stuck_listing = [](const std::string& contents) {
            return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult>"
                   "<IsTruncated>true</IsTruncated>" + contents + "</ListBucketResult>";
        };
        for (auto [port, s3] : {std::pair{w->front, &w->s3}, std::pair{w->front_lenient, &w->s3_lenient}}) {
            http +=
                "    server {\n"
                "        listen 127.0.0.1:" + std::to_string(port) + " ssl;\n"
                "        server_name " + kStoreName + ";\n"
                "        ssl_certificate " + d + "/store.pem;\n"
                "        ssl_certificate_key " + d + "/store.key;\n"
                "        client_max_body_size 16m;\n"
                "        client_body_buffer_size 8m;\n"
                "        access_log " + d + "/store-requests.log store_request;\n" +
                fault(500, "InternalError") + fault(403, "AccessDenied") + eight_details +
                // The store reached, then the connection closed unanswered.
                "        location /" + kBucket + "/t/fault/444/ { return 444; }\n" +
                // A store whose truncated listing does not advance: the same
                // key on every page.
                "        location ~ ^/" + kBucket + "/?$ {\n"
                "            if ($arg_prefix = \"tstuck\") { return 200 '" + stuck_listing("<Contents><Key>tstuck-a</Key>"
                "<LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>\"0\"</ETag><Size>1</Size></Contents>") + "'; }\n"
                "            proxy_pass " + s3->url() + ";\n"
                "        }\n" +
                "        location / { proxy_pass " + s3->url() + "; }\n"
                "    }\n";
        }
        struct {
            int port;
            std::string name, address, ca;
        } egresses[] = {
            {w->egress, kStoreName, "127.0.0.1:" + front, d + "/store.pem"},
            {w->egress_bad_ca, kStoreName, "127.0.0.1:" + front, d + "/other.pem"},
            {w->egress_bad_name, "wrong.test", "127.0.0.1:" + front, d + "/store.pem"},
            {w->egress_dead, kStoreName, "127.0.0.1:" + std::to_string(w->dead), d + "/store.pem"},
            {w->egress_silent, kStoreName, "127.0.0.1:" + std::to_string(w->silent.port()), d + "/store.pem"},
            {w->egress_lenient, kStoreName, "127.0.0.1:" + std::to_string(w->front_lenient), d + "/store.pem"},
        };
        for (const auto& e : egresses) {
            std::string conf, error;
            if (!t::render_egress_conf({e.port, e.name, e.address, e.ca}, &conf, &error)) return "# " + error + "\n";
            http += conf;
        }
        return http;
    };
    std::vector<int> ports;
    return w->nginx.start_on_ports(8, http_context, &ports, error);
}

}  // namespace

int main() {
    World w;
    std::string error;
    if (!start_world(&w, &error)) {
        fprintf(stderr, "test_storage: cannot start s3rver + nginx: %s\n", error.c_str());
        return 1;
    }
    world = &w;

    Suite* suite = suite_create("storage");
    TCase* keys = tcase_create("keys");
    tcase_add_test(keys, key_format);
    tcase_add_test(keys, key_uniqueness);
    tcase_add_test(keys, key_refuses_bad_extension);
    tcase_add_test(keys, key_accepts_extension_at_the_limits);
    tcase_add_test(keys, key_digits_are_uniformly_random);
    tcase_add_test(keys, settings_validation);
    tcase_add_test(keys, settings_from_config);
    suite_add_tcase(suite, keys);

    TCase* store = tcase_create("store");
    tcase_add_checked_fixture(store, setup, teardown);
    tcase_set_timeout(store, 60);
    tcase_add_test(store, put_head_get_remove);
    tcase_add_test(store, put_sends_object_properties);
    tcase_add_test(store, put_empty_object_and_overwrite);
    tcase_add_test(store, direct_to_s3rver);
    tcase_add_test(store, list_follows_truncation);
    tcase_add_test(store, create_bucket);
    tcase_add_test(store, wrong_secret_is_failed);
    tcase_add_test(store, refused_without_a_request);
    tcase_add_test(store, store_errors_are_classified);
    tcase_add_test(store, stopped_store_is_unavailable);
    tcase_add_test(store, store_down_behind_proxy_is_unavailable);
    tcase_add_test(store, store_reached_then_lost_behind_proxy_may_have_written);
    tcase_add_test(store, error_details_are_read_to_the_last);
    tcase_add_test(store, initialize_is_once_a_process);
    tcase_add_test(store, list_that_does_not_advance_fails);
    tcase_add_test(store, store_calls_are_reported_by_outcome);
    tcase_add_test(store, silent_server_times_out);
    tcase_add_test(store, silent_store_behind_proxy_times_out);
    tcase_add_test(store, untrusted_certificate_is_unavailable);
    tcase_add_test(store, wrong_certificate_name_is_unavailable);
    tcase_add_test(store, put_one_mebibyte_cost);
    suite_add_tcase(suite, store);

    SRunner* runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    world = nullptr;
    return failed == 0 ? 0 : 1;
}
