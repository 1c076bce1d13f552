#include "http/fcgi_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <strings.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace talentd::http {
namespace {

// FastCGI 1.0, section 8.
constexpr uint8_t kVersion = 1;
constexpr uint8_t kBeginRequest = 1, kEndRequest = 3, kParams = 4, kStdin = 5, kStdout = 6, kStderr = 7;
constexpr uint8_t kResponder = 1;
constexpr size_t kHeaderBytes = 8;

void record(std::string* out, uint8_t type, const std::string& content) {
    // Content up to 65535 bytes per record; ours is far smaller, but split anyway.
    size_t offset = 0;
    do {
        size_t n = std::min<size_t>(content.size() - offset, 65535);
        const uint8_t header[kHeaderBytes] = {kVersion, type, 0, 1, static_cast<uint8_t>(n >> 8),
                                              static_cast<uint8_t>(n & 0xff), 0, 0};
        out->append(reinterpret_cast<const char*>(header), kHeaderBytes);
        out->append(content, offset, n);
        offset += n;
    } while (offset < content.size());
}

void length(std::string* out, size_t n) {
    if (n < 128) {
        out->push_back(static_cast<char>(n));
        return;
    }
    out->push_back(static_cast<char>(0x80 | ((n >> 24) & 0x7f)));
    out->push_back(static_cast<char>((n >> 16) & 0xff));
    out->push_back(static_cast<char>((n >> 8) & 0xff));
    out->push_back(static_cast<char>(n & 0xff));
}

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

double now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int connect_unix(const std::string& path, std::string* why) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return *why = "socket path too long: " + path, -1;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return *why = std::string("socket: ") + std::strerror(errno), -1;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        *why = path + ": " + std::strerror(errno);
        close(fd);
        return -1;
    }
    return fd;
}

int connect_tcp(const std::string& spec, std::string* why) {
    std::string host, port;
    if (!spec.empty() && spec[0] == '[') {
        size_t close_bracket = spec.find("]:");
        if (close_bracket == std::string::npos) return *why = "bad address " + spec, -1;
        host = spec.substr(1, close_bracket - 1);
        port = spec.substr(close_bracket + 2);
    } else {
        size_t colon = spec.rfind(':');
        if (colon == std::string::npos) return *why = "bad address " + spec, -1;
        host = spec.substr(0, colon);
        port = spec.substr(colon + 1);
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
        return *why = spec + ": " + gai_strerror(rc), -1;
    int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
        *why = spec + ": " + std::strerror(errno);
        close(fd);
        fd = -1;
    } else if (fd < 0) {
        *why = std::string("socket: ") + std::strerror(errno);
    }
    freeaddrinfo(found);
    return fd;
}

}  // namespace

bool FcgiAnswerReader::feed(const uint8_t* data, size_t size, std::string* why) {
    if (ended_) return true;  // what follows END_REQUEST is ignored
    pending_.append(reinterpret_cast<const char*>(data), size);
    size_t pos = 0;
    while (pending_.size() - pos >= kHeaderBytes) {
        const auto* h = reinterpret_cast<const uint8_t*>(pending_.data() + pos);
        if (h[0] != kVersion) return *why = "not a FastCGI answer (version " + std::to_string(h[0]) + ")", false;
        const size_t content = (static_cast<size_t>(h[4]) << 8) | h[5], padding = h[6];
        if (pending_.size() - pos < kHeaderBytes + content + padding) break;
        const char* body = pending_.data() + pos + kHeaderBytes;
        switch (h[1]) {
            case kStdout: out_.append(body, content); break;
            case kStderr: err_.append(body, content); break;
            case kEndRequest: ended_ = true; break;
            default: break;  // unknown record types are skipped (FastCGI 1.0 says ignore)
        }
        pos += kHeaderBytes + content + padding;
        if (out_.size() + err_.size() > max_bytes_) return *why = "answer larger than expected", false;
        if (ended_) break;
    }
    pending_.erase(0, pos);
    return true;
}

bool split_cgi_answer(const std::string& answer, int* status, std::string* body) {
    size_t end = answer.find("\r\n\r\n");
    size_t skip = 4;
    if (end == std::string::npos) {
        end = answer.find("\n\n");
        skip = 2;
    }
    if (end == std::string::npos) return false;
    *status = 200;
    size_t line = 0;
    while (line < end) {
        size_t eol = answer.find('\n', line);
        if (eol == std::string::npos || eol > end) eol = end;
        std::string header = answer.substr(line, eol - line);
        if (!header.empty() && header.back() == '\r') header.pop_back();
        if (header.size() > 7 && strncasecmp(header.c_str(), "Status:", 7) == 0) {
            int code = std::atoi(header.c_str() + 7);
            if (code >= 100 && code <= 999) *status = code;
        }
        line = eol + 1;
    }
    *body = answer.substr(end + skip);
    return true;
}

std::string encode_fcgi_get(const std::vector<std::pair<std::string, std::string>>& params) {
    std::string out;
    // role responder, flags 0: close the connection after the answer.
    record(&out, kBeginRequest, std::string("\0\1\0\0\0\0\0\0", 8));
    std::string encoded;
    for (const auto& [name, value] : params) {
        length(&encoded, name.size());
        length(&encoded, value.size());
        encoded += name;
        encoded += value;
    }
    record(&out, kParams, encoded);
    record(&out, kParams, "");
    record(&out, kStdin, "");
    return out;
}

bool fcgi_get(const std::string& address, const std::vector<std::pair<std::string, std::string>>& params,
              int timeout_seconds, int* status, std::string* body, std::string* why) {
    int raw = address.rfind("unix:", 0) == 0 ? connect_unix(address.substr(5), why) : connect_tcp(address, why);
    if (raw < 0) return false;
    Fd fd(raw);
    const double deadline = now_s() + timeout_seconds;
    const std::string request = encode_fcgi_get(params);
    size_t sent = 0;
    while (sent < request.size()) {
        ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return *why = std::string("send: ") + std::strerror(errno), false;
        sent += static_cast<size_t>(n);
    }
    FcgiAnswerReader reader;
    uint8_t buf[16384];
    while (!reader.ended()) {
        const double left = deadline - now_s();
        if (left <= 0) return *why = "no answer within " + std::to_string(timeout_seconds) + " s", false;
        pollfd pfd{fd.get(), POLLIN, 0};
        int ready = poll(&pfd, 1, static_cast<int>(left * 1000) + 1);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) continue;
        ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return *why = std::string("recv: ") + std::strerror(errno), false;
        if (n == 0) return *why = "connection closed before the end of the answer", false;
        if (!reader.feed(buf, static_cast<size_t>(n), why)) return false;
    }
    if (!split_cgi_answer(reader.out(), status, body)) return *why = "answer without headers", false;
    return true;
}

}  // namespace talentd::http
