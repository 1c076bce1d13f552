// Handler — what a worker runs for each request.  The daemon knows only this
// interface; the API (api/) implements it.
#pragma once

#include <cstdint>
#include <string>

#include "core/trace.h"
#include "http/message.h"

namespace talentd::http {

// Facts about a request for its log line, filled in by the handler.
struct RequestNote {
    int64_t user_id = 0;         // 0: not authenticated
    std::string detail;          // short, secret-free ("picture replaced", "token expired")
    trace::Route route = trace::Route::Other;  // which route answered (metrics label)
};

class Handler {
public:
    virtual ~Handler() = default;
    virtual Response handle(const Request& request, BodySource& body, RequestNote* note) = 0;

    // Memory kept from one request for the next (an upload's buffers, so
    // the next upload touches no fresh pages): holds_idle_memory() says
    // whether there is any; idle() gives it back.  The worker calls idle()
    // once it has waited kIdleRelease without a request, so an idle worker
    // holds none.  Must not throw.
    virtual bool holds_idle_memory() const { return false; }
    virtual void idle() {}
};

}  // namespace talentd::http
