// trace — what a process tells the operator about the work it is doing.
//
// The request path (api/), the store (storage/) and the reaper report their
// progress through a Recorder: which step the current request is in, who
// made it, how long a decode or a store call took and how it ended.  The
// daemon's scoreboard (daemon/scoreboard.h) implements it in the master's
// shared memory, which the status page, the metrics and the slow log read;
// tests and talentctl pass none (every call is optional and cheap).
//
// Nothing reported here may identify a token or a secret: user ids, never
// emails; route names, never query strings.
#pragma once

#include <cstdint>

namespace talentd::trace {

// The steps of one request, in the order they normally happen (DESIGN.md,
// "One request, top to bottom").  Idle: between requests.
enum class Step : uint8_t {
    Idle,
    Starting,        // accepted; FastCGI parameters read
    Authenticating,  // token, user row
    Reading,         // the body, from nginx
    Parsing,         // multipart / urlencoded / JSON into fields
    Decoding,        // field rules and the full decode of the picture
    Storing,         // journal pending row, PUT
    Committing,      // the transaction
    CleaningUp,      // DELETE of the replaced picture
    Responding,      // rendering and writing the answer
    Reporting,       // an operator page (status, metrics)
};
inline constexpr int kStepCount = 11;
// "idle", "starting", "authenticating", "reading", "parsing", "decoding",
// "storing", "committing", "cleaning_up", "responding", "reporting".
const char* step_name(Step step);

// Which of talentd's routes answered; a fixed set, so that metrics labels
// never carry what a client typed.
enum class Route : uint8_t { Profile, ProfileRedirect, Page, Healthz, DemoLogin, Status, Metrics, Other };
inline constexpr int kRouteCount = 8;
// "profile", "profile_redirect", "page", "healthz", "demo_login", "status", "metrics", "other".
const char* route_name(Route route);

enum class StoreOp : uint8_t { Put, Delete, Head, List };
inline constexpr int kStoreOpCount = 4;
const char* store_op_name(StoreOp op);  // "put", "delete", "head", "list"

// How a store call ended, from the operator's side: ok (a missing object
// included), timeout (the deadline fired), unavailable (no or a 5xx answer),
// refused (the store said no: signature, access, bucket).
enum class StoreResult : uint8_t { Ok, Timeout, Unavailable, Refused };
inline constexpr int kStoreResultCount = 4;
const char* store_result_name(StoreResult result);  // "ok", "timeout", "unavailable", "refused"

// Picture formats for decode timings: jpeg, png, gif, webp, other (refused
// before or during the decode).
enum class ImageFormat : uint8_t { Jpeg, Png, Gif, Webp, Other };
inline constexpr int kImageFormatCount = 5;
const char* image_format_name(ImageFormat format);

class Recorder {
public:
    virtual ~Recorder() = default;
    // The current request entered `step` (the previous step ends now).
    virtual void step(Step) {}
    // The current request is made by this user (once authenticated).
    virtual void user(int64_t) {}
    // An upload body of `bytes` was read.
    virtual void upload(int64_t) {}
    // A picture was decoded (or refused) in `seconds`.
    virtual void decoded(ImageFormat, double) {}
    // A store call ended.
    virtual void store_call(StoreOp, StoreResult, double) {}
    // A database call failed (not "no such row": an error).
    virtual void db_error() {}
};

// A Recorder that records nothing.
Recorder& no_recorder();

}  // namespace talentd::trace
