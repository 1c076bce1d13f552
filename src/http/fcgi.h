// FastCGI edge — one FastCGI request at a time, over libfcgi, on
// connections nginx may keep open between requests.
//
// A worker owns one FcgiChannel on the listening socket it inherited from
// the master.  accept() takes the next request — from a connection kept
// from an earlier one, or from a new connection on the listening socket (it
// returns false when there was none after all: another worker took it, or
// nginx closed the kept connection); request() gives the parameters as an
// http::Request; body() streams FCGI_STDIN; respond() writes the status
// line, headers and body; finish() completes the request.
//
// Connection reuse (nginx `fastcgi_keep_conn on` + an upstream `keepalive`
// pool).  libfcgi keeps a connection when nginx sets FCGI_KEEP_CONN, and
// its FCGX_Accept_r then blocks in read() on it for the next request: a
// worker would sit on an idle connection while new ones wait in the
// listen queue.  So this class never lets libfcgi wait: the connections
// kept after finish() are handed to the worker (kept()), which polls them
// together with the listening socket and calls accept() for whichever
// became readable.
//
// A worker never closes a connection nginx may be about to use (issue 17).
// nginx keeps an idle connection in its pool until its own
// keepalive_timeout or until the pool is full, and may send the next
// request on it at any instant; a connection closed here meanwhile costs
// a reset, a retry on another connection and, with two or more servers in
// the upstream, a server marked failed or a 502 (nginx tries each server
// once per request).  So a connection nginx asked to keep stays kept
// until nginx closes it, and one the worker will not keep (it already
// keeps kMaxKept) is given up only by declining it with its
// answer (finish(false)): FCGI_END_REQUEST followed, in the same write, by
// one more record — nginx keeps a connection only when its answer ends
// exactly with FCGI_END_REQUEST, so it closes this one itself instead of
// pooling it.  Only idle connections past keepalive_timeout (nginx's
// shorter timeout closes them first) and those left when a retiring worker
// gives up (worker.h) are closed here without that.
#pragma once

#include <fcgiapp.h>

#include <vector>

#include "http/message.h"

namespace talentd::http {

class FcgiChannel {
public:
    // At most this many idle connections kept; more are declined.  One:
    // nginx reuses the connection it got back last, so several kept by one
    // worker concentrate nginx's next requests on it (two at once both wait
    // for it while another worker idles); one each spreads them.
    static constexpr size_t kMaxKept = 1;

    struct Kept {
        int fd;
        double idle_since_ms;  // CLOCK_MONOTONIC, when its last answer was sent
    };

    // Initialises libfcgi (once per process) and the request structure.
    explicit FcgiChannel(int listen_fd);
    ~FcgiChannel();
    FcgiChannel(const FcgiChannel&) = delete;
    FcgiChannel& operator=(const FcgiChannel&) = delete;

    // The idle connections kept from earlier requests, oldest first: poll
    // them for nginx's next request (readable, or hung up when nginx closed
    // it).
    const std::vector<Kept>& kept() const { return kept_; }

    // Takes the next request: from the kept connection `kept_fd`, or from a
    // new connection on the listening socket when it is -1 (non-blocking:
    // kept connections stay kept meanwhile).  false when there is no
    // request after all: nginx closed the kept connection (it is then
    // closed here too), another worker took the new connection, a signal
    // interrupted, or a protocol error.  Call only when poll() said the
    // descriptor was readable.
    bool accept(int kept_fd);
    Request request() const;
    BodySource& body() { return body_; }
    // Writes the whole response; returns the number of body bytes sent.
    size_t respond(const Response& response);
    // Completes the request.  The connection is kept (added to kept())
    // only when `keep` allows it, nginx asked for it (FCGI_KEEP_CONN), the
    // request's input was read to its end and fewer than kMaxKept are kept;
    // else it is declined (see above) and closed right after the answer.
    void finish(bool keep);
    // Closes the kept connections idle for max_idle_ms or longer; returns
    // the milliseconds until the next one would be (-1: none kept).
    double release_idle(double max_idle_ms);
    // Closes every kept connection.
    void release_all();

    static double now_ms();

private:
    class Stdin : public BodySource {
    public:
        explicit Stdin(FCGX_Request* r) : r_(r) {}
        long read(char* buf, size_t size) override;

    private:
        FCGX_Request* r_;
    };

    // Reads what is left of FCGI_STDIN, at most `budget` bytes; true when
    // the end was reached.
    bool drain_stdin(size_t budget);
    // Ends the request with FCGI_END_REQUEST and the record after it that
    // tells nginx not to pool the connection; false when the connection
    // failed (libfcgi then finishes as usual).
    bool end_declining();
    void drop_kept(size_t index);

    FCGX_Request request_{};
    Stdin body_{&request_};
    bool accepted_ = false;
    bool unix_socket_ = false;
    std::vector<Kept> kept_;
};

}  // namespace talentd::http
