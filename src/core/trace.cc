#include "core/trace.h"

namespace talentd::trace {

const char* step_name(Step step) {
    switch (step) {
        case Step::Idle: return "idle";
        case Step::Starting: return "starting";
        case Step::Authenticating: return "authenticating";
        case Step::Reading: return "reading";
        case Step::Parsing: return "parsing";
        case Step::Decoding: return "decoding";
        case Step::Storing: return "storing";
        case Step::Committing: return "committing";
        case Step::CleaningUp: return "cleaning_up";
        case Step::Responding: return "responding";
        case Step::Reporting: return "reporting";
    }
    return "unknown";
}

const char* route_name(Route route) {
    switch (route) {
        case Route::Profile: return "profile";
        case Route::ProfileRedirect: return "profile_redirect";
        case Route::Page: return "page";
        case Route::Healthz: return "healthz";
        case Route::DemoLogin: return "demo_login";
        case Route::Status: return "status";
        case Route::Metrics: return "metrics";
        case Route::Other: return "other";
    }
    return "other";
}

const char* store_op_name(StoreOp op) {
    switch (op) {
        case StoreOp::Put: return "put";
        case StoreOp::Delete: return "delete";
        case StoreOp::Head: return "head";
        case StoreOp::List: return "list";
    }
    return "unknown";
}

const char* store_result_name(StoreResult result) {
    switch (result) {
        case StoreResult::Ok: return "ok";
        case StoreResult::Timeout: return "timeout";
        case StoreResult::Unavailable: return "unavailable";
        case StoreResult::Refused: return "refused";
    }
    return "unknown";
}

const char* image_format_name(ImageFormat format) {
    switch (format) {
        case ImageFormat::Jpeg: return "jpeg";
        case ImageFormat::Png: return "png";
        case ImageFormat::Gif: return "gif";
        case ImageFormat::Webp: return "webp";
        case ImageFormat::Other: return "other";
    }
    return "other";
}

Recorder& no_recorder() {
    static Recorder none;
    return none;
}

}  // namespace talentd::trace
