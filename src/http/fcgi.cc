#include "http/fcgi.h"

#include <sys/socket.h>

#include <algorithm>
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
}

bool FcgiChannel::accept() {
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

void FcgiChannel::finish() {
    if (!accepted_) return;
    // libfcgi closes a connection "lingering": shutdown(), then up to 2 s of
    // reads until nginx closes its side — a fifth of a short request's time.
    // On a unix socket with nothing left unread nothing can be lost by a
    // plain close, so it is skipped there.  A request refused before its
    // body was read keeps the lingering close, so nginx gets the answer.
    if (unix_socket_ && drain_stdin(64 * 1024)) request_.detached = 1;
    FCGX_Finish_r(&request_);
    request_.detached = 0;
    accepted_ = false;
}

}  // namespace talentd::http
