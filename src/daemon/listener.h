// Listener — the one listening socket all workers accept on.
//
// `listen` forms (talentd.conf(5)):
//   unix:/run/talentd/talentd.sock   a unix socket talentd creates (mode socket_mode)
//   127.0.0.1:9000, [::1]:9000       a TCP socket
//   systemd                          fd 3 handed over by socket activation (LISTEN_FDS=1,
//                                    LISTEN_PID = our pid)
// The socket is made non-blocking: workers poll it and a worker that loses
// the race for a connection gets EAGAIN instead of sleeping in accept(),
// which would keep it from noticing SIGTERM.
#pragma once

#include <string>

namespace talentd::daemon {


// Returns the listening fd, or -1 with *why.  `backlog` for sockets we create.
int open_listener(const std::string& listen, int backlog, const std::string& socket_mode, std::string* why);

// Whether `listen` names a unix socket path we created (removed on exit).
bool listener_is_unix_path(const std::string& listen, std::string* path);

}  // namespace talentd::daemon
