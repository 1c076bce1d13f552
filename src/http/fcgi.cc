#include "http/fcgi.h"

#include <fastcgi.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
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
    release_all();
}

double FcgiChannel::now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void FcgiChannel::drop_kept(size_t index) {
    close(kept_[index].fd);
    kept_.erase(kept_.begin() + static_cast<std::ptrdiff_t>(index));
}

bool FcgiChannel::accept(int kept_fd) {
    // Between requests request_ holds no connection (finish() moved a kept
    // one to kept_), so FCGX_Accept_r reads from the descriptor put in
    // ipcFd, or accepts on the listening socket when it is -1.
    // keepConnection = 1: the FCGX_Finish_r it starts with must not close
    // the descriptor just handed to it.
    request_.ipcFd = -1;
    request_.keepConnection = 1;
    if (kept_fd >= 0) {
        size_t i = 0;
        while (i < kept_.size() && kept_[i].fd != kept_fd) ++i;
        if (i == kept_.size()) return false;
        // nginx closed it (its keepalive_timeout, or its pool was full):
        // close our end too, quietly.  Nothing there yet: a spurious wake-up.
        char byte;
        ssize_t n = recv(kept_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            drop_kept(i);
            return false;
        }
        if (n < 0) return false;
        request_.ipcFd = kept_fd;
        kept_.erase(kept_.begin() + static_cast<std::ptrdiff_t>(i));
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

namespace {

void put_header(unsigned char* h, unsigned char type, int request_id, unsigned content_length) {
    h[0] = FCGI_VERSION_1;
    h[1] = type;
    h[2] = static_cast<unsigned char>((request_id >> 8) & 0xff);
    h[3] = static_cast<unsigned char>(request_id & 0xff);
    h[4] = static_cast<unsigned char>((content_length >> 8) & 0xff);
    h[5] = static_cast<unsigned char>(content_length & 0xff);
    h[6] = 0;  // padding
    h[7] = 0;
}

bool write_all(int fd, const unsigned char* p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

}  // namespace

bool FcgiChannel::end_declining() {
    // What FCGX_Finish_r would write (the rest of FCGI_STDOUT, its empty
    // record, FCGI_END_REQUEST), then an FCGI_UNKNOWN_TYPE record for
    // request 0, all of the end in one write.  nginx reads the answer up to
    // FCGI_END_REQUEST; with bytes after it in the same read it ends the
    // request without marking the connection reusable
    // (ngx_http_fastcgi_input_filter: keepalive only when the padding of
    // FCGI_END_REQUEST ends the data read), so it closes the connection
    // instead of pooling it.  Should the extra record arrive in a later
    // read, nginx's pool sees the connection readable and closes it.
    if (FCGX_FFlush(request_.out) != 0 || FCGX_FClose(request_.err) != 0) return false;
    unsigned char end[8 + 8 + 8 + 8 + 8];
    put_header(end, FCGI_STDOUT, request_.requestId, 0);
    put_header(end + 8, FCGI_END_REQUEST, request_.requestId, 8);
    unsigned char* body = end + 16;
    const unsigned status = static_cast<unsigned>(request_.appStatus);
    body[0] = static_cast<unsigned char>((status >> 24) & 0xff);
    body[1] = static_cast<unsigned char>((status >> 16) & 0xff);
    body[2] = static_cast<unsigned char>((status >> 8) & 0xff);
    body[3] = static_cast<unsigned char>(status & 0xff);
    body[4] = FCGI_REQUEST_COMPLETE;
    body[5] = body[6] = body[7] = 0;
    put_header(end + 24, FCGI_UNKNOWN_TYPE, 0, 8);
    std::memset(end + 32, 0, 8);
    end[32] = FCGI_UNKNOWN_TYPE;
    if (!write_all(request_.ipcFd, end, sizeof end)) return false;
    // Nothing more for libfcgi to write: FCGX_Finish_r only closes.
    request_.out->wasFCloseCalled = 1;
    request_.out->isClosed = 1;
    return true;
}

void FcgiChannel::finish(bool keep) {
    if (!accepted_) return;
    const bool drained = drain_stdin(64 * 1024);
    const bool nginx_keeps = request_.keepConnection != 0;
    const bool kept = keep && nginx_keeps && drained && kept_.size() < kMaxKept;
    if (!kept) {
        // A connection nginx would pool is declined with the answer, so
        // nginx never sends a request on it after it is closed here.
        if (nginx_keeps) end_declining();
        request_.keepConnection = 0;
        // libfcgi closes a connection "lingering": shutdown(), then up to
        // 2 s of reads until nginx closes its side — a fifth of a short
        // request's time.  On a unix socket with nothing left unread nothing
        // can be lost by a plain close, so it is skipped there.  A request
        // refused before its body was read keeps the lingering close, so
        // nginx gets the answer.
        if (unix_socket_ && drained) request_.detached = 1;
    }
    // Writes what is buffered and FCGI_END_REQUEST (unless end_declining
    // did), then closes the connection unless it is kept (an error writing
    // closes it too).
    FCGX_Finish_r(&request_);
    request_.detached = 0;
    if (request_.ipcFd >= 0) {
        kept_.push_back({request_.ipcFd, now_ms()});
        request_.ipcFd = -1;
    }
    accepted_ = false;
}

double FcgiChannel::release_idle(double max_idle_ms) {
    const double now = now_ms();
    double next = -1;
    for (size_t i = 0; i < kept_.size();) {
        const double left = kept_[i].idle_since_ms + max_idle_ms - now;
        if (left <= 0) {
            drop_kept(i);
            continue;
        }
        if (next < 0 || left < next) next = left;
        ++i;
    }
    return next;
}

void FcgiChannel::release_all() {
    while (!kept_.empty()) drop_kept(kept_.size() - 1);
}

}  // namespace talentd::http
