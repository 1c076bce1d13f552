#include "http/fcgi.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace talentd::http {

FcgiChannel::FcgiChannel(int listen_fd) {
    static const bool initialised = FCGX_Init() == 0;
    (void)initialised;
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    unix_socket_ = getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 && addr.ss_family == AF_UNIX;
    // FAIL_ACCEPT_ON_INTR: a SIGTERM/SIGHUP interrupts accept() so the worker
    // can stop between requests instead of waiting for one more.
    FCGX_InitRequest(&request_, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
}

FcgiChannel::~FcgiChannel() {
    if (accepted_) FCGX_Finish_r(&request_);
    FCGX_Free(&request_, 1);
    release();
}

bool FcgiChannel::accept(bool from_kept) {
    // Between requests request_ holds no connection (finish() moved a kept
    // one to kept_fd_), so FCGX_Accept_r reads from the descriptor put in
    // ipcFd, or accepts on the listening socket when it is -1.
    // keepConnection = 1: the FCGX_Finish_r it starts with must not close
    // the descriptor just handed to it.
    request_.ipcFd = -1;
    request_.keepConnection = 1;
    if (from_kept) {
        if (kept_fd_ < 0) return false;
        // nginx closed it (its keepalive_timeout, or its pool was full):
        // close our end too, quietly.  Nothing there yet: a spurious wake-up.
        char byte;
        ssize_t n = recv(kept_fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            release();
            return false;
        }
        if (n < 0) return false;
        request_.ipcFd = kept_fd_;
        kept_fd_ = -1;
    }
    accepted_ = FCGX_Accept_r(&request_) == 0;
    return accepted_;
}

Request FcgiChannel::request() const {
    Request r;
    for (char** p = request_.envp; p && *p; ++p) {
        const char* kv = *p;
        const char* eq = std::strchr(kv, '=');
        if (!eq) continue;
        std::string_view name(kv, static_cast<size_t>(eq - kv));
        const char* value = eq + 1;
        if (name.substr(0, 5) == "HTTP_") {
            r.headers[header_name_from_param(name)] = value;
        } else if (name == "REQUEST_METHOD") {
            r.method = value;
        } else if (name == "DOCUMENT_URI") {
            r.path = value;
        } else if (name == "QUERY_STRING") {
            r.query = value;
        } else if (name == "CONTENT_TYPE") {
            r.content_type = value;
        } else if (name == "CONTENT_LENGTH") {
            if (*value) {
                char* end = nullptr;
                long long n = std::strtoll(value, &end, 10);
                r.content_length = (*end == '\0' && n >= 0) ? n : -1;
            }
        } else if (name == "HTTPS") {
            r.https = std::strcmp(value, "on") == 0;
        } else if (name == "REMOTE_ADDR") {
            r.remote_addr = value;
        } else if (name == "TALENTD_OPERATOR") {
            r.operator_access = std::strcmp(value, "1") == 0;
        } else if (name == "REQUEST_URI" && r.path.empty()) {
            std::string_view uri(value);
            r.path = std::string(uri.substr(0, uri.find('?')));
        }
    }
    return r;
}

long FcgiChannel::Stdin::read(char* buf, size_t size) {
    int n = FCGX_GetStr(buf, static_cast<int>(size), r_->in);
    if (n < 0) return -1;
    if (n == 0 && FCGX_GetError(r_->in) != 0) return -1;
    return n;
}

size_t FcgiChannel::respond(const Response& response) {
    std::string head;
    head.reserve(256);
    head += "Status: ";
    const char* text = status_text(response.status);
    head += text ? text : std::to_string(response.status);
    head += "\r\n";
    if (!response.content_type.empty()) head += "Content-Type: " + response.content_type + "\r\n";
    head += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
    for (const auto& h : response.headers) head += h.name + ": " + h.value + "\r\n";
    head += "\r\n";
    FCGX_PutStr(head.data(), static_cast<int>(head.size()), request_.out);
    if (!response.head_only && !response.body.empty())
        FCGX_PutStr(response.body.data(), static_cast<int>(response.body.size()), request_.out);
    return response.head_only ? 0 : response.body.size();
}

bool FcgiChannel::drain_stdin(size_t budget) {
    char buf[8192];
    while (budget > 0) {
        int n = FCGX_GetStr(buf, static_cast<int>(std::min(budget, sizeof buf)), request_.in);
        if (n <= 0) return FCGX_HasSeenEOF(request_.in) == EOF && FCGX_GetError(request_.in) == 0;
        budget -= static_cast<size_t>(n);
    }
    return FCGX_HasSeenEOF(request_.in) == EOF;
}

void FcgiChannel::finish(bool keep) {
    if (!accepted_) return;
    const bool drained = drain_stdin(64 * 1024);
    // Kept only when the next record on it can be the next request's
    // FCGI_BEGIN_REQUEST (all of this one's input read), and only one: a
    // second kept connection would hold requests nginx sends on it while
    // this worker serves the other (nginx never waits for a connection: it
    // opens a new one).  Of two, the one just answered stays: nginx reuses
    // the connection whose answer it got last, often before this worker
    // runs again (the FCGI_END_REQUEST written below wakes it), so closing
    // that one right after its answer races with nginx's next request on
    // it far more often than closing the older, idle one.  The older one
    // stays only when a request already waits on it.
    bool kept = keep && request_.keepConnection && drained;
    if (kept && kept_fd_ >= 0) {
        pollfd p{kept_fd_, POLLIN, 0};
        const bool waiting = poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
        if (waiting) {
            kept = false;
        } else {
            release();
        }
    }
    if (!kept) {
        request_.keepConnection = 0;
        // libfcgi closes a connection "lingering": shutdown(), then up to
        // 2 s of reads until nginx closes its side — a fifth of a short
        // request's time.  On a unix socket with nothing left unread nothing
        // can be lost by a plain close, so it is skipped there.  A request
        // refused before its body was read keeps the lingering close, so
        // nginx gets the answer.
        if (unix_socket_ && drained) request_.detached = 1;
    }
    // Writes what is buffered and FCGI_END_REQUEST, then closes the
    // connection unless it is kept (an error writing closes it too).
    FCGX_Finish_r(&request_);
    request_.detached = 0;
    if (request_.ipcFd >= 0) {
        kept_fd_ = request_.ipcFd;
        request_.ipcFd = -1;
    }
    accepted_ = false;
}

void FcgiChannel::release() {
    if (kept_fd_ < 0) return;
    close(kept_fd_);
    kept_fd_ = -1;
}

}  // namespace talentd::http
