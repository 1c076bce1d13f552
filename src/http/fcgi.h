// FastCGI edge — one accepted FastCGI request at a time, over libfcgi.
//
// A worker owns one FcgiChannel on the listening socket it inherited from
// the master.  accept() waits for the next request (returns false when a
// signal interrupted the wait, so the worker can check its stop flag);
// request() gives the parameters as an http::Request; body() streams
// FCGI_STDIN; respond() writes the status line, headers and body; finish()
// completes the request.
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

    // Blocks until a request arrives; false on EINTR or an accept error.
    bool accept();
    Request request() const;
    BodySource& body() { return body_; }
    // Writes the whole response; returns the number of body bytes sent.
    size_t respond(const Response& response);
    void finish();

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
};

}  // namespace talentd::http
