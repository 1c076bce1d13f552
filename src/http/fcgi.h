// FastCGI edge — one FastCGI request at a time, over libfcgi, on
// connections nginx may keep open between requests.
//
// A worker owns one FcgiChannel on the listening socket it inherited from
// the master.  accept() takes the next request — from the connection kept
// from the last one, or from a new connection on the listening socket (it
// returns false when there was none after all: another worker took it, or
// nginx closed the kept connection); request() gives the parameters as an
// http::Request; body() streams FCGI_STDIN; respond() writes the status
// line, headers and body; finish() completes the request.
//
// Connection reuse (nginx `fastcgi_keep_conn on` + an upstream `keepalive`
// pool).  libfcgi keeps a connection when nginx sets FCGI_KEEP_CONN, and
// its FCGX_Accept_r then blocks in read() on it for the next request: a
// worker would sit on an idle connection while new ones wait in the
// listen queue.  So this class never lets libfcgi wait: the connection
// kept after finish() is handed to the worker (kept()), which polls it
// together with the listening socket and calls accept() for whichever
// became readable.  At most one connection is kept: when a request
// accepted from the listening socket is answered while another connection
// is kept, the answered one stays and the older one is closed — unless a
// request already waits on the older one, which then stays (it is served
// next) and the answered one is closed right after its answer.
//
// nginx may be sending a request on a connection at the instant it is
// closed here: it then retries it on a new connection, for the idempotent
// methods that are the only ones the shipped nginx files send on kept
// connections (nginx/talentd.conf, map $talentd_upstream).  The most likely
// victim is the connection just answered (nginx reuses the last one it got
// back, often before this worker runs again), which is why the older idle
// one is the one closed.
#pragma once

#include <fcgiapp.h>

#include "http/message.h"

namespace talentd::http {

class FcgiChannel {
public:
    // Initialises libfcgi (once per process) and the request structure.
    explicit FcgiChannel(int listen_fd);
    ~FcgiChannel();
    FcgiChannel(const FcgiChannel&) = delete;
    FcgiChannel& operator=(const FcgiChannel&) = delete;

    // The idle connection kept from the last request, -1 if none: poll it
    // for nginx's next request on it (readable, or hung up when nginx closed
    // it).
    int kept() const { return kept_fd_; }

    // Takes the next request: from the kept connection when `from_kept`,
    // else from a new connection on the listening socket (non-blocking: a
    // kept connection stays kept meanwhile).  false when there is no
    // request after all: nginx closed the kept connection (it is then
    // closed here too), another worker took the new connection, a signal
    // interrupted, or a protocol error.  Call only when poll() said the
    // descriptor was readable.
    bool accept(bool from_kept);
    Request request() const;
    BodySource& body() { return body_; }
    // Writes the whole response; returns the number of body bytes sent.
    size_t respond(const Response& response);
    // Completes the request.  The connection stays open (as kept()) only
    // when `keep` allows it, nginx asked for it (FCGI_KEEP_CONN), the
    // request's input was read to its end and no request waits on the
    // connection kept before (that one is closed otherwise); else it is
    // closed right after the answer.
    void finish(bool keep);
    // Closes the kept connection, if any.
    void release();

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

    FCGX_Request request_{};
    Stdin body_{&request_};
    bool accepted_ = false;
    bool unix_socket_ = false;
    int kept_fd_ = -1;
};

}  // namespace talentd::http
