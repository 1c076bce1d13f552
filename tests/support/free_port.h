// Loopback TCP ports for tests.
#pragma once

namespace talentd::test {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0,
// read back, closed).  Another process may take it before you do: retry a
// start that fails with "address in use".  0 on error.
int free_port();

// True once something accepts TCP connections on 127.0.0.1:port, false
// after `seconds`.
bool wait_for_port(int port, double seconds);

// True if process `pid` itself holds a TCP socket listening on port (read
// from /proc/net/tcp{,6} and /proc/PID/fd).  A server started on a port
// from free_port() is up only when this holds: a connection to the port
// may reach whoever took it in between.
bool port_owned_by(int pid, int port);

// A listening socket on 127.0.0.1 that never accepts and never answers:
// the kernel completes connections into its backlog and the client waits
// forever.  For deadline tests.
class SilentListener {
  public:
    SilentListener();
    ~SilentListener();
    SilentListener(const SilentListener&) = delete;
    SilentListener& operator=(const SilentListener&) = delete;

    bool ok() const { return fd_ >= 0; }
    int port() const { return port_; }

  private:
    int fd_ = -1;
    int port_ = 0;
};

}  // namespace talentd::test
