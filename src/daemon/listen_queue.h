// Listen queue — how many connections wait on the listening socket for a
// worker to accept them, as `ss -l` shows it (Recv-Q / Send-Q).
//
// Unix socket: the kernel's sock_diag netlink interface (unix_diag with
// UDIAG_SHOW_RQLEN), asked for the socket's inode; its rqueue is the number
// of connections waiting, wqueue the backlog.  No privilege needed.
// TCP socket: getsockopt(TCP_INFO) on the listening socket, where the kernel
// reports the accept queue in tcpi_unacked and the backlog in tcpi_sacked.
#pragma once

#include <cstdint>
#include <string>

namespace talentd::daemon {

struct ListenQueue {
    uint64_t waiting = 0;   // connections not yet accepted
    uint64_t backlog = 0;   // the most the kernel queues
};

// false with *why (the socket is of another kind, or the kernel refused).
bool read_listen_queue(int listen_fd, ListenQueue* queue, std::string* why);

}  // namespace talentd::daemon
