// storage — the S3-compatible object store (DigitalOcean Spaces) through libs3.
//
// What it does
//   Puts, heads, lists and removes the profile pictures; every call has a
//   deadline and returns a Result value, never throws across libs3 and never
//   blocks longer than StoreSettings::timeout_seconds.
//
// How a call runs
//   Debian's libs3 2.0 has no timeout of its own (only curl's "slower than
//   1 KiB/s for 15 s" valve), so each call drives libs3's request context
//   itself: S3_create_request_context, start the request with that context,
//   then loop { S3_runonce_request_context; poll() on the descriptors of
//   S3_get_request_context_fdsets for min(time left, libs3's own timeout) }
//   until the request completes or the deadline passes.  At the deadline the
//   context is destroyed, which aborts the request and closes its
//   connection: Outcome::Unavailable, detail "timeout after N s".  A list
//   that needs several pages shares one deadline for all of them.
//
// Why plain HTTP to a loopback proxy
//   libs3 2.0 sets CURLOPT_SSL_VERIFYPEER to 0: over HTTPS it would accept
//   any certificate, so anyone on the path could read or replace pictures.
//   talentd therefore speaks plain HTTP to a loopback nginx, the egress
//   proxy (nginx/talentd-egress.conf), which talks HTTPS to the store with
//   proxy_ssl_verify on.  Signature V2 signs the method, Content-MD5,
//   Content-Type, the x-amz-* headers and "/bucket/key" but not the Host, so
//   path-style requests stay valid through the proxy.  initialize_process()
//   refuses https unless the endpoint is a loopback address (where there is
//   no network to attack; it buys nothing, but is harmless).
//
// Processes
//   initialize_process() once per process after fork (libs3 keeps a global
//   pool of curl handles), shutdown_process() before exit.  A Store is cheap
//   and holds no connection between calls; it is not thread-safe (talentd has
//   no threads).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/trace.h"

namespace talentd::storage {

struct StoreSettings {
    std::string endpoint = "127.0.0.1:8081";  // host[:port] libs3 talks to (normally the loopback egress proxy)
    std::string bucket = "talentd";
    bool https = false;              // refused unless endpoint is loopback: libs3 2.0 verifies no certificate
    bool virtual_host_style = false; // bucket.endpoint/key; needs a DNS name, not usable through the proxy
    std::string access_key, secret_key;
    std::string acl = "public-read"; // private | public-read | public-read-write | authenticated-read
    int timeout_seconds = 10;        // deadline of each call, the whole call (every page of a list)
    std::string cache_control = "public, max-age=31536000, immutable";
    int list_page_size = 1000;       // max-keys of each list request (S3 caps it at 1000)
};

// s3_endpoint, s3_bucket, s3_protocol, s3_uri_style, s3_access_key,
// s3_secret_key, s3_acl, s3_timeout; the rest keeps its default.
StoreSettings store_settings_from(const Config& config);

// Checks the settings without touching the network: endpoint syntax and
// length, https only to loopback, a known ACL, timeout >= 1, bucket name
// valid for the URI style.  false with *why (never a secret) otherwise.
bool validate_settings(const StoreSettings& settings, std::string* why);

enum class Outcome {
    Ok,
    NotFound,     // head: no such object (remove turns it into Ok)
    Unavailable,  // no answer in time, connection refused or reset, 5xx, the
                  // egress proxy's 502/504 (store unreachable or its
                  // certificate refused), an error body that is not S3's
    Failed,       // the store refused the request: 403 signature or access
                  // denied, 400 bad request, no such bucket; or a local error
};

// "Ok", "NotFound", "Unavailable", "Failed".
const char* outcome_name(Outcome outcome);

struct Result {
    Outcome outcome = Outcome::Failed;
    // The HTTP status implied by libs3's status (200, 204, 403, 404, 500,
    // 503 ...); 0 when there was no HTTP answer or libs3 2.0 does not say
    // which (it reports 502 and 504 only as "HttpErrorUnknown"/"ErrorUnknown").
    int http_status = 0;
    // For logs: libs3's status name (carrying S3's error code, e.g.
    // "ErrorSignatureDoesNotMatch"), then ": " and S3's message when there is
    // one; or "timeout after 10 s".  Never a key or a signature.
    std::string detail;
    double seconds = 0;  // wall time of the call
    // A failed call that certainly changed nothing in the store: no
    // connection (refused, no such host, TLS refused; also the egress
    // proxy's 502/504 marked <Egress>no-connection</Egress>), or an error
    // answer from the store itself other than 500.  False for a timeout, a
    // connection lost mid-way, a gateway's answer after it reached the
    // store: a PUT may have landed.
    bool nothing_written = false;
    bool ok() const { return outcome == Outcome::Ok; }
};

// What HEAD tells about an object.  libs3 2.0 parses Content-Length,
// Content-Type, ETag and Last-Modified only; Cache-Control is not among them.
struct ObjectInfo {
    int64_t size = -1;
    std::string content_type;
    std::string etag;            // as sent, quotes included
    int64_t last_modified = -1;  // seconds since the epoch, -1 if not sent
};

// libs3's global state: S3_initialize(S3_INIT_ALL) with the endpoint as its
// default host, after validate_settings().  Call once per process, after
// fork; calling it again is a no-op returning true.
bool initialize_process(const StoreSettings& settings, std::string* why);
void shutdown_process();

// Every key must be non-empty (an empty one would address the bucket
// itself): Failed "empty key" without a request.
class Store {
  public:
    explicit Store(StoreSettings settings);

    const StoreSettings& settings() const { return settings_; }
    // Hears the latency and outcome of every put, remove and head (the
    // daemon's scoreboard); null: nobody.
    void set_recorder(trace::Recorder* recorder) { recorder_ = recorder; }

    // PUT with Content-Type, Content-MD5 (computed here), Cache-Control and
    // the canned ACL.  libs3 reads the body straight from `data`, which must
    // stay valid during the call; nothing is copied.
    Result put(const std::string& key, const uint8_t* data, size_t size, const std::string& content_type);

    // DELETE.  A missing object counts as Ok (S3's DELETE is idempotent).
    Result remove(const std::string& key);

    // HEAD.  NotFound when the object is absent; *info filled when Ok, left
    // as it was otherwise.
    Result head(const std::string& key, ObjectInfo* info);

    // Every key under prefix, following truncated listings page by page
    // (one deadline for all pages).  *keys is replaced, in S3's order.
    Result list(const std::string& prefix, std::vector<std::string>* keys);

    // Creates the bucket (private); one already owned by us counts as Ok.
    // For tests, the demo stack and talentctl.
    Result create_bucket();

  private:
    Result observed(trace::StoreOp op, Result result) const;

    StoreSettings settings_;
    trace::Recorder* recorder_ = nullptr;
};

// "<media_prefix>user_<user_id>_<32 lowercase hex>.<extension>", the hex
// being 128 bits from getrandom(2).  extension: 1 to 8 of [a-z0-9]
// (std::invalid_argument otherwise); std::system_error if the kernel gives
// no randomness.
std::string new_object_key(const std::string& media_prefix, int64_t user_id, const std::string& extension);

}  // namespace talentd::storage
