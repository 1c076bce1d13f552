// The Store: libs3 calls with a deadline, and what their statuses mean.
#include "storage/store.h"

#include <arpa/inet.h>
#include <libs3.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/select.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <memory>
#include <utility>

namespace talentd::storage {

namespace {

using Clock = std::chrono::steady_clock;

// Longest wait between two S3_runonce_request_context calls when curl has no
// descriptor to watch yet (curl's advice for an empty fd set).
constexpr int kIdleWaitMs = 50;
// Longest S3 message kept in Result::detail.
constexpr size_t kMaxMessage = 200;

// ---------------------------------------------------------------------------
// Settings

struct HostPort {
    std::string host;  // without brackets
    std::string port;  // "" when absent
};

bool split_endpoint(const std::string& endpoint, HostPort* out) {
    if (endpoint.empty()) return false;
    if (endpoint[0] == '[') {
        size_t close = endpoint.find(']');
        if (close == std::string::npos) return false;
        out->host = endpoint.substr(1, close - 1);
        std::string rest = endpoint.substr(close + 1);
        if (!rest.empty() && rest[0] != ':') return false;
        out->port = rest.empty() ? "" : rest.substr(1);
    } else {
        size_t colon = endpoint.find(':');
        if (colon != endpoint.rfind(':')) return false;  // bare IPv6 needs brackets
        out->host = endpoint.substr(0, colon);
        out->port = colon == std::string::npos ? "" : endpoint.substr(colon + 1);
    }
    if (out->host.empty()) return false;
    for (char c : out->host) {
        if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':')) return false;
    }
    if (endpoint[0] != '[' && out->host.find(':') != std::string::npos) return false;
    if (!out->port.empty()) {
        if (out->port.size() > 5) return false;
        for (char c : out->port) {
            if (!isdigit(static_cast<unsigned char>(c))) return false;
        }
        long port = std::stol(out->port);
        if (port < 1 || port > 65535) return false;
    } else if (endpoint.back() == ':') {
        return false;
    }
    return true;
}

bool is_loopback_host(const std::string& host) {
    if (host == "localhost") return true;
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
        return IN6_IS_ADDR_LOOPBACK(&v6);
    }
    return false;
}

bool parse_acl(const std::string& name, S3CannedAcl* acl) {
    if (name == "private") *acl = S3CannedAclPrivate;
    else if (name == "public-read") *acl = S3CannedAclPublicRead;
    else if (name == "public-read-write") *acl = S3CannedAclPublicReadWrite;
    else if (name == "authenticated-read") *acl = S3CannedAclAuthenticatedRead;
    else return false;
    return true;
}

// ---------------------------------------------------------------------------
// Statuses

// The HTTP status a libs3 status stands for, 0 when it does not say.
// libs3 2.0 hands back the store's S3 error code, not the HTTP status, so the
// status is inferred from the code as the S3 error table defines it (e.g. the
// store's "NotImplemented" error is HTTP 501); the outcome mapping below and
// the log lines use it.
int implied_http_status(S3Status status) {
    switch (status) {
    case S3StatusErrorPermanentRedirect: return 301;
    case S3StatusHttpErrorMovedTemporarily:
    case S3StatusErrorTemporaryRedirect:
    case S3StatusErrorRedirect: return 307;
    case S3StatusHttpErrorBadRequest:
    case S3StatusErrorBadDigest:
    case S3StatusErrorIncompleteBody:
    case S3StatusErrorInvalidArgument:
    case S3StatusErrorInvalidBucketName:
    case S3StatusErrorInvalidDigest:
    case S3StatusErrorInvalidURI:
    case S3StatusErrorKeyTooLong:
    case S3StatusErrorMalformedXML:
    case S3StatusErrorMetadataTooLarge:
    case S3StatusErrorEntityTooSmall:
    case S3StatusErrorEntityTooLarge:
    case S3StatusErrorExpiredToken:
    case S3StatusErrorInvalidToken:
    case S3StatusErrorRequestTimeout:
    case S3StatusErrorUnexpectedContent: return 400;
    case S3StatusHttpErrorForbidden:
    case S3StatusErrorAccessDenied:
    case S3StatusErrorAccountProblem:
    case S3StatusErrorInvalidAccessKeyId:
    case S3StatusErrorInvalidSecurity:
    case S3StatusErrorNotSignedUp:
    case S3StatusErrorRequestTimeTooSkewed:
    case S3StatusErrorSignatureDoesNotMatch: return 403;
    case S3StatusHttpErrorNotFound:
    case S3StatusErrorNoSuchBucket:
    case S3StatusErrorNoSuchKey: return 404;
    case S3StatusErrorMethodNotAllowed: return 405;
    case S3StatusHttpErrorConflict:
    case S3StatusErrorBucketAlreadyExists:
    case S3StatusErrorBucketAlreadyOwnedByYou:
    case S3StatusErrorBucketNotEmpty:
    case S3StatusErrorOperationAborted: return 409;
    case S3StatusErrorMissingContentLength: return 411;
    case S3StatusErrorPreconditionFailed: return 412;
    case S3StatusErrorInvalidRange: return 416;
    case S3StatusErrorInternalError: return 500;
    case S3StatusErrorNotImplemented: return 501;
    case S3StatusErrorSlowDown: return 503;
    default: return 0;
    }
}

Outcome outcome_of(S3Status status) {
    switch (status) {
    case S3StatusOK:
        return Outcome::Ok;
    case S3StatusHttpErrorNotFound:
    case S3StatusErrorNoSuchKey:
        return Outcome::NotFound;
    // No usable answer: nothing listening, connection reset, DNS, curl
    // errors libs3 2.0 lumps into InternalError (send/receive failures, an
    // empty reply), an aborted request.
    case S3StatusNameLookupError:
    case S3StatusFailedToConnect:
    case S3StatusConnectionFailed:
    case S3StatusServerFailedVerification:
    case S3StatusInternalError:
    case S3StatusInterrupted:
    // The store (or a gateway in front of it) says "later".
    case S3StatusErrorInternalError:
    case S3StatusErrorSlowDown:
    case S3StatusErrorRequestTimeout:
    case S3StatusErrorOperationAborted:
    // An HTTP error without an S3 error body (502/504 from a gateway, 429);
    // an error code libs3 2.0 does not know (ServiceUnavailable, the egress
    // proxy's BadGateway/GatewayTimeout); an error body that is not XML (a
    // load balancer's HTML page).
    case S3StatusHttpErrorUnknown:
    case S3StatusErrorUnknown:
    case S3StatusXmlParseFailure:
        return Outcome::Unavailable;
    default:
        return Outcome::Failed;
    }
}

std::string printable(const char* text, size_t max) {
    std::string out;
    for (const char* p = text; *p && out.size() < max; ++p) {
        unsigned char c = static_cast<unsigned char>(*p);
        out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : ' ';
    }
    return out;
}

// ---------------------------------------------------------------------------
// One call's state, shared with libs3's C callbacks.  The callbacks do only
// what cannot throw, or catch, so no exception crosses libs3.

struct Call {
    bool done = false;
    bool abandoned = false;  // deadline passed: later callbacks are ignored
    S3Status status = S3StatusInternalError;
    std::string message;     // S3's <Message>, printable, truncated
    std::string egress;      // <Egress> of the egress proxy's own error answers

    // put
    const uint8_t* data = nullptr;
    size_t size = 0;
    size_t offset = 0;
    // head
    ObjectInfo* info = nullptr;
    // list (one page)
    std::vector<std::string>* keys = nullptr;
    bool truncated = false;
    std::string next_marker;
    std::string last_key;
};

extern "C" {

static S3Status on_properties(const S3ResponseProperties* properties, void* data) noexcept {
    Call* call = static_cast<Call*>(data);
    if (!call->info || call->abandoned) return S3StatusOK;
    try {
        ObjectInfo* info = call->info;
        info->size = static_cast<int64_t>(properties->contentLength);
        info->content_type = properties->contentType ? properties->contentType : "";
        info->etag = properties->eTag ? properties->eTag : "";
        info->last_modified = properties->lastModified;
    } catch (...) {
        return S3StatusOutOfMemory;
    }
    return S3StatusOK;
}

static void on_complete(S3Status status, const S3ErrorDetails* error, void* data) noexcept {
    Call* call = static_cast<Call*>(data);
    if (call->abandoned) return;
    call->done = true;
    call->status = status;
    try {
        if (status != S3StatusOK && error && error->message) call->message = printable(error->message, kMaxMessage);
        if (status != S3StatusOK && error)
            for (int i = 0; i < error->extraDetailsCount; ++i)
                if (error->extraDetails[i].name && error->extraDetails[i].value &&
                    std::strcmp(error->extraDetails[i].name, "Egress") == 0)
                    call->egress = printable(error->extraDetails[i].value, 40);
    } catch (...) {
        call->message.clear();
    }
}

static int on_put_data(int buffer_size, char* buffer, void* data) noexcept {
    Call* call = static_cast<Call*>(data);
    if (call->abandoned || buffer_size < 0) return -1;
    size_t n = std::min(static_cast<size_t>(buffer_size), call->size - call->offset);
    if (n) std::memcpy(buffer, call->data + call->offset, n);
    call->offset += n;
    return static_cast<int>(n);
}

static S3Status on_list(int is_truncated, const char* next_marker, int count, const S3ListBucketContent* contents,
                        int, const char**, void* data) noexcept {
    Call* call = static_cast<Call*>(data);
    if (call->abandoned) return S3StatusAbortedByCallback;
    try {
        for (int i = 0; i < count; ++i) {
            call->keys->emplace_back(contents[i].key);
            call->last_key = contents[i].key;
        }
        call->truncated = is_truncated != 0;
        call->next_marker = next_marker ? next_marker : "";
    } catch (...) {
        return S3StatusOutOfMemory;
    }
    return S3StatusOK;
}

}  // extern "C"

const S3ResponseHandler kResponseHandler = {&on_properties, &on_complete};
const S3PutObjectHandler kPutHandler = {{&on_properties, &on_complete}, &on_put_data};
const S3ListBucketHandler kListHandler = {{&on_properties, &on_complete}, &on_list};

// ---------------------------------------------------------------------------
// The deadline loop

struct ContextDeleter {
    void operator()(S3RequestContext* context) const noexcept { S3_destroy_request_context(context); }
};
using Context = std::unique_ptr<S3RequestContext, ContextDeleter>;

struct Deadline {
    Clock::time_point start;
    Clock::time_point end;
    int seconds;
    explicit Deadline(int timeout_seconds)
        : start(Clock::now()), end(start + std::chrono::seconds(timeout_seconds)), seconds(timeout_seconds) {}
    int64_t remaining_ms() const {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
        return std::max<int64_t>(left, 0);
    }
    bool passed() const { return Clock::now() >= end; }
};

// Waits until one of the context's descriptors is ready or wait_ms passes.
void wait_for_io(S3RequestContext* context, int64_t wait_ms) {
    fd_set readable, writable, failed;
    FD_ZERO(&readable);
    FD_ZERO(&writable);
    FD_ZERO(&failed);
    int max_fd = -1;
    if (S3_get_request_context_fdsets(context, &readable, &writable, &failed, &max_fd) != S3StatusOK) max_fd = -1;
    if (max_fd < 0) wait_ms = std::min<int64_t>(wait_ms, kIdleWaitMs);

    std::vector<pollfd> fds;
    for (int fd = 0; fd <= max_fd; ++fd) {
        short events = 0;
        if (FD_ISSET(fd, &readable)) events |= POLLIN;
        if (FD_ISSET(fd, &writable)) events |= POLLOUT;
        if (FD_ISSET(fd, &failed)) events |= POLLPRI;
        if (events) fds.push_back(pollfd{fd, events, 0});
    }
    poll(fds.data(), fds.size(), static_cast<int>(wait_ms));  // EINTR: the caller loops and rechecks the deadline
}

// Starts one request with `start(context)` and runs it to completion or to
// the deadline.  Leaves libs3's status in call->status; false when the
// deadline passed (the request is then aborted).
template <typename Start>
bool run(Call* call, const Deadline& deadline, Start&& start) {
    S3RequestContext* raw = nullptr;
    S3Status created = S3_create_request_context(&raw);
    if (created != S3StatusOK) {
        call->status = created;
        return true;
    }
    Context context(raw);
    start(context.get());  // libs3 may complete at once (a bad bucket name)

    while (!call->done) {
        int remaining = 0;
        S3Status ran = S3_runonce_request_context(context.get(), &remaining);
        if (call->done) break;
        if (ran != S3StatusOK || remaining == 0) {
            call->abandoned = true;
            call->status = ran != S3StatusOK ? ran : S3StatusInternalError;
            return true;  // context destroyed on return
        }
        if (deadline.passed()) {
            call->abandoned = true;  // S3_destroy_request_context reports S3StatusInterrupted: ignored
            return false;
        }
        int64_t wait_ms = deadline.remaining_ms();
        int64_t libs3_ms = S3_get_request_context_timeout(context.get());
        if (libs3_ms >= 0) wait_ms = std::min(wait_ms, libs3_ms);
        wait_for_io(context.get(), wait_ms);
    }
    return true;
}

// Whether a call that failed certainly changed nothing in the store: no
// connection was made, or the store itself answered with an error.  A
// timeout, a connection lost mid-way, an answer that is not the store's
// (a gateway's 502/504 after it reached the store, a body that is not S3's
// XML) or the store's 500 may follow a write that landed.  The egress proxy
// (nginx/talentd-egress.conf) says in <Egress>no-connection</Egress> that
// its error answer came without ever reaching the store.
bool certainly_nothing_written(const Call& call) {
    switch (call.status) {
    case S3StatusNameLookupError:
    case S3StatusFailedToConnect:
    case S3StatusServerFailedVerification:
        return true;
    case S3StatusErrorInternalError:
        return false;
    case S3StatusErrorUnknown:
        // An error code libs3 2.0 does not know: the egress proxy's own
        // (marked), or the store's (ServiceUnavailable, unmarked).
        return call.egress.empty() || call.egress == "no-connection";
    case S3StatusHttpErrorMovedTemporarily:
    case S3StatusHttpErrorBadRequest:
    case S3StatusHttpErrorForbidden:
    case S3StatusHttpErrorNotFound:
    case S3StatusHttpErrorConflict:
        return true;
    default:
        // Every other S3StatusErrorXxx is an S3 error document: the store's answer.
        return call.status >= S3StatusErrorAccessDenied && call.status < S3StatusErrorUnknown;
    }
}

Result finish(const Call& call, bool in_time, const Deadline& deadline, int ok_status) {
    Result result;
    result.seconds = std::chrono::duration<double>(Clock::now() - deadline.start).count();
    if (!in_time) {
        result.outcome = Outcome::Unavailable;
        result.detail = "timeout after " + std::to_string(deadline.seconds) + " s";
        return result;
    }
    result.outcome = outcome_of(call.status);
    result.http_status = call.status == S3StatusOK ? ok_status : implied_http_status(call.status);
    result.nothing_written = !result.ok() && certainly_nothing_written(call);
    result.detail = S3_get_status_name(call.status);
    if (!call.message.empty()) result.detail += ": " + call.message;
    return result;
}

// An empty key would address the bucket itself: PUT creates it, DELETE
// deletes it.
bool valid_key(const std::string& key) { return !key.empty(); }

Result refuse(const std::string& why) {
    Result result;
    result.outcome = Outcome::Failed;
    result.nothing_written = true;
    result.detail = why;
    return result;
}

std::string md5_base64(const uint8_t* data, size_t size) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;
    if (EVP_Digest(data, size, digest, &digest_size, EVP_md5(), nullptr) != 1) return "";
    unsigned char text[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    int length = EVP_EncodeBlock(text, digest, static_cast<int>(digest_size));
    return std::string(reinterpret_cast<char*>(text), static_cast<size_t>(length));
}

// libs3's bucket context; points into `settings`, which must outlive it.
S3BucketContext bucket_context(const StoreSettings& settings) {
    S3BucketContext context{};
    context.hostName = settings.endpoint.c_str();
    context.bucketName = settings.bucket.c_str();
    context.protocol = settings.https ? S3ProtocolHTTPS : S3ProtocolHTTP;
    context.uriStyle = settings.virtual_host_style ? S3UriStyleVirtualHost : S3UriStylePath;
    context.accessKeyId = settings.access_key.c_str();
    context.secretAccessKey = settings.secret_key.c_str();
    return context;
}

bool initialized = false;

}  // namespace

// ---------------------------------------------------------------------------

const char* outcome_name(Outcome outcome) {
    switch (outcome) {
    case Outcome::Ok: return "Ok";
    case Outcome::NotFound: return "NotFound";
    case Outcome::Unavailable: return "Unavailable";
    case Outcome::Failed: return "Failed";
    }
    return "Failed";
}

StoreSettings store_settings_from(const Config& config) {
    StoreSettings settings;
    settings.endpoint = config.s3_endpoint;
    settings.bucket = config.s3_bucket;
    settings.https = config.s3_protocol == "https";
    settings.virtual_host_style = config.s3_uri_style == "virtual";
    settings.access_key = config.s3_access_key;
    settings.secret_key = config.s3_secret_key;
    settings.acl = config.s3_acl;
    settings.timeout_seconds = config.s3_timeout;
    return settings;
}

bool validate_settings(const StoreSettings& settings, std::string* why) {
    HostPort endpoint;
    if (!split_endpoint(settings.endpoint, &endpoint) || settings.endpoint.size() >= S3_MAX_HOSTNAME_SIZE) {
        *why = "s3_endpoint \"" + printable(settings.endpoint.c_str(), 100) + "\" is not host[:port]";
        return false;
    }
    if (settings.https && !is_loopback_host(endpoint.host)) {
        *why = "s3_protocol https is refused for " + endpoint.host +
               ": libs3 2.0 does not verify certificates; point s3_endpoint at the loopback "
               "egress proxy (nginx/talentd-egress.conf) over http";
        return false;
    }
    S3CannedAcl acl;
    if (!parse_acl(settings.acl, &acl)) {
        *why = "s3_acl \"" + printable(settings.acl.c_str(), 40) +
               "\" is not private, public-read, public-read-write or authenticated-read";
        return false;
    }
    if (settings.timeout_seconds < 1) {
        *why = "s3_timeout must be at least 1 second";
        return false;
    }
    if (settings.list_page_size < 1 || settings.list_page_size > 1000) {
        *why = "list page size must be 1 to 1000";
        return false;
    }
    S3Status bucket = S3_validate_bucket_name(settings.bucket.c_str(),
                                              settings.virtual_host_style ? S3UriStyleVirtualHost : S3UriStylePath);
    if (bucket != S3StatusOK) {
        *why = "s3_bucket \"" + printable(settings.bucket.c_str(), 80) + "\": " + S3_get_status_name(bucket);
        return false;
    }
    return true;
}

bool initialize_process(const StoreSettings& settings, std::string* why) {
    if (initialized) return true;
    if (!validate_settings(settings, why)) return false;
    // The user agent must outlive libs3 (it is not copied): a literal.
    S3Status status = S3_initialize("talentd", S3_INIT_ALL, settings.endpoint.c_str());
    if (status != S3StatusOK) {
        *why = std::string("S3_initialize: ") + S3_get_status_name(status);
        return false;
    }
    initialized = true;
    return true;
}

void shutdown_process() {
    if (!initialized) return;
    S3_deinitialize();
    initialized = false;
}

Store::Store(StoreSettings settings) : settings_(std::move(settings)) {}

Result Store::put(const std::string& key, const uint8_t* data, size_t size, const std::string& content_type) {
    if (!valid_key(key)) return refuse("empty key");
    S3CannedAcl acl;
    if (!parse_acl(settings_.acl, &acl)) return refuse("unknown ACL " + settings_.acl);
    if (!data && size) return refuse("no data");
    std::string md5 = md5_base64(data ? data : reinterpret_cast<const uint8_t*>(""), size);
    if (md5.empty()) return refuse("MD5 unavailable");

    S3PutProperties properties{};
    properties.contentType = content_type.empty() ? nullptr : content_type.c_str();
    properties.md5 = md5.c_str();
    properties.cacheControl = settings_.cache_control.empty() ? nullptr : settings_.cache_control.c_str();
    properties.expires = -1;
    properties.cannedAcl = acl;

    Deadline deadline(settings_.timeout_seconds);
    S3BucketContext bucket = bucket_context(settings_);
    Call call;
    call.data = data;
    call.size = size;
    bool in_time = run(&call, deadline, [&](S3RequestContext* context) {
        S3_put_object(&bucket, key.c_str(), size, &properties, context, &kPutHandler, &call);
    });
    return observed(trace::StoreOp::Put, finish(call, in_time, deadline, 200));
}

Result Store::remove(const std::string& key) {
    if (!valid_key(key)) return refuse("empty key");
    Deadline deadline(settings_.timeout_seconds);
    S3BucketContext bucket = bucket_context(settings_);
    Call call;
    bool in_time = run(&call, deadline, [&](S3RequestContext* context) {
        S3_delete_object(&bucket, key.c_str(), context, &kResponseHandler, &call);
    });
    Result result = finish(call, in_time, deadline, 204);
    if (result.outcome == Outcome::NotFound) result.outcome = Outcome::Ok;
    return observed(trace::StoreOp::Delete, std::move(result));
}

Result Store::head(const std::string& key, ObjectInfo* info) {
    if (!valid_key(key)) return refuse("empty key");
    Deadline deadline(settings_.timeout_seconds);
    S3BucketContext bucket = bucket_context(settings_);
    ObjectInfo found;
    Call call;
    call.info = &found;
    bool in_time = run(&call, deadline, [&](S3RequestContext* context) {
        S3_head_object(&bucket, key.c_str(), context, &kResponseHandler, &call);
    });
    Result result = finish(call, in_time, deadline, 200);
    if (result.ok() && info) *info = std::move(found);
    return observed(trace::StoreOp::Head, std::move(result));
}

Result Store::list(const std::string& prefix, std::vector<std::string>* keys) {
    Deadline deadline(settings_.timeout_seconds);
    S3BucketContext bucket = bucket_context(settings_);
    std::vector<std::string> found;
    std::string marker;
    for (;;) {
        Call call;
        call.keys = &found;
        bool in_time = run(&call, deadline, [&](S3RequestContext* context) {
            S3_list_bucket(&bucket, prefix.empty() ? nullptr : prefix.c_str(), marker.empty() ? nullptr : marker.c_str(),
                           nullptr, settings_.list_page_size, context, &kListHandler, &call);
        });
        Result result = finish(call, in_time, deadline, 200);
        if (!result.ok() || !call.truncated) {
            if (result.ok()) *keys = std::move(found);
            return result;
        }
        // Without a delimiter S3 sends no NextMarker: continue after the last key.
        std::string next = call.next_marker.empty() ? call.last_key : call.next_marker;
        if (next.empty() || next <= marker) {
            result.outcome = Outcome::Failed;
            result.detail = "truncated listing did not advance";
            return result;
        }
        marker = std::move(next);
    }
}

Result Store::observed(trace::StoreOp op, Result result) const {
    if (!recorder_) return result;
    trace::StoreResult kind = trace::StoreResult::Ok;
    if (result.outcome == Outcome::Unavailable)
        kind = result.detail.rfind("timeout", 0) == 0 ? trace::StoreResult::Timeout : trace::StoreResult::Unavailable;
    else if (result.outcome == Outcome::Failed)
        kind = trace::StoreResult::Refused;
    recorder_->store_call(op, kind, result.seconds);
    return result;
}

Result Store::create_bucket() {
    Deadline deadline(settings_.timeout_seconds);
    Call call;
    bool in_time = run(&call, deadline, [&](S3RequestContext* context) {
        S3_create_bucket(settings_.https ? S3ProtocolHTTPS : S3ProtocolHTTP, settings_.access_key.c_str(),
                         settings_.secret_key.c_str(), settings_.endpoint.c_str(), settings_.bucket.c_str(),
                         S3CannedAclPrivate, nullptr, context, &kResponseHandler, &call);
    });
    if (in_time && call.status == S3StatusErrorBucketAlreadyOwnedByYou) call.status = S3StatusOK;
    return finish(call, in_time, deadline, 200);
}

}  // namespace talentd::storage
