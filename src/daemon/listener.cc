#include "daemon/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace talentd::daemon {
namespace {

bool set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

int fail(std::string* why, const std::string& message) {
    if (why) *why = message;
    return -1;
}

int open_unix(const std::string& path, int backlog, const std::string& mode, std::string* why) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return fail(why, "unix socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(why, std::string("socket: ") + std::strerror(errno));
    // A stale socket file from a crashed run would make bind fail.
    struct stat st{};
    if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path.c_str());
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int e = errno;
        close(fd);
        return fail(why, "bind " + path + ": " + std::strerror(e));
    }
    chmod(path.c_str(), static_cast<mode_t>(std::strtol(mode.c_str(), nullptr, 8)));
    if (listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        return fail(why, "listen " + path + ": " + std::strerror(e));
    }
    return fd;
}

int open_tcp(const std::string& spec, int backlog, std::string* why) {
    std::string host, port;
    if (!spec.empty() && spec[0] == '[') {
        auto close_bracket = spec.find(']');
        if (close_bracket == std::string::npos || close_bracket + 1 >= spec.size() || spec[close_bracket + 1] != ':')
            return fail(why, "bad listen address: " + spec);
        host = spec.substr(1, close_bracket - 1);
        port = spec.substr(close_bracket + 2);
    } else {
        auto colon = spec.rfind(':');
        if (colon == std::string::npos) return fail(why, "bad listen address (HOST:PORT expected): " + spec);
        host = spec.substr(0, colon);
        port = spec.substr(colon + 1);
    }
    // getaddrinfo takes an empty service for port 0: a listener on a
    // random port nginx would never find.
    if (port.empty()) return fail(why, "bad listen address (no port): " + spec);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) return fail(why, "bad listen address " + spec + ": " + gai_strerror(rc));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return fail(why, std::string("socket: ") + std::strerror(errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        freeaddrinfo(res);
        close(fd);
        return fail(why, "bind/listen " + spec + ": " + std::strerror(e));
    }
    freeaddrinfo(res);
    return fd;
}

}  // namespace

bool listener_is_unix_path(const std::string& listen, std::string* path) {
    if (listen.rfind("unix:", 0) != 0) return false;
    *path = listen.substr(5);
    return true;
}

int open_listener(const std::string& listen, int backlog, const std::string& socket_mode, std::string* why) {
    int fd;
    std::string path;
    if (listen == "systemd") {
        int n = sd_listen_fds(1);
        if (n != 1) return fail(why, "listen = systemd, but systemd passed " + std::to_string(n < 0 ? 0 : n) +
                                         " sockets (expected 1: talentd.socket)");
        fd = SD_LISTEN_FDS_START;
        if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
            return fail(why, "fd 3 from systemd is not a listening stream socket");
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    } else if (listener_is_unix_path(listen, &path)) {
        fd = open_unix(path, backlog, socket_mode, why);
    } else {
        fd = open_tcp(listen, backlog, why);
    }
    if (fd >= 0 && !set_nonblocking(fd)) {
        close(fd);
        return fail(why, std::string("fcntl O_NONBLOCK: ") + std::strerror(errno));
    }
    return fd;
}

}  // namespace talentd::daemon
