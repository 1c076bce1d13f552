#include "daemon/listen_queue.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace talentd::daemon {
namespace {

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

bool fail(std::string* why, const std::string& what) {
    *why = what + ": " + std::strerror(errno);
    return false;
}

bool unix_queue(int fd, ListenQueue* queue, std::string* why) {
    struct stat st;
    if (fstat(fd, &st) != 0) return fail(why, "fstat");
    Fd nl(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (nl.get() < 0) return fail(why, "netlink socket");
    struct {
        nlmsghdr nlh;
        unix_diag_req req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST;
    msg.req.sdiag_family = AF_UNIX;
    msg.req.udiag_states = ~0u;
    msg.req.udiag_ino = static_cast<__u32>(st.st_ino);
    msg.req.udiag_show = UDIAG_SHOW_RQLEN;
    // No cookie: the kernel matches the inode alone.
    msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = ~0u;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(nl.get(), &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
        return fail(why, "sock_diag request");
    alignas(nlmsghdr) char buf[8192];
    ssize_t n = recv(nl.get(), buf, sizeof buf, 0);
    if (n < 0) return fail(why, "sock_diag answer");
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<unsigned>(n)); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type == NLMSG_ERROR) {
            auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
            errno = -err->error;
            return fail(why, "sock_diag");
        }
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
        auto* diag = static_cast<unix_diag_msg*>(NLMSG_DATA(h));
        int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *diag));
        for (auto* a = reinterpret_cast<rtattr*>(diag + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
            if (a->rta_type != UNIX_DIAG_RQLEN || RTA_PAYLOAD(a) < sizeof(unix_diag_rqlen)) continue;
            unix_diag_rqlen q;
            std::memcpy(&q, RTA_DATA(a), sizeof q);
            queue->waiting = q.udiag_rqueue;
            queue->backlog = q.udiag_wqueue;
            return true;
        }
    }
    *why = "sock_diag: no queue length in the answer";
    return false;
}

bool tcp_queue(int fd, ListenQueue* queue, std::string* why) {
    tcp_info info{};
    socklen_t len = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return fail(why, "TCP_INFO");
    // For a listening socket the kernel puts the accept queue here.
    queue->waiting = info.tcpi_unacked;
    queue->backlog = info.tcpi_sacked;
    return true;
}

}  // namespace

bool read_listen_queue(int listen_fd, ListenQueue* queue, std::string* why) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return fail(why, "getsockname");
    if (addr.ss_family == AF_UNIX) return unix_queue(listen_fd, queue, why);
    if (addr.ss_family == AF_INET || addr.ss_family == AF_INET6) return tcp_queue(listen_fd, queue, why);
    *why = "not a unix or TCP socket";
    return false;
}

}  // namespace talentd::daemon
