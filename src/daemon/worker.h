// Worker — one pre-forked process serving FastCGI requests one at a time.
//
// The loop: wait for the listening socket to become readable (ppoll, with
// SIGTERM/SIGHUP/SIGINT deliverable only while waiting), check that no stop
// signal is pending, accept one request, let the handler answer it, write
// one log line, repeat.  A stop signal that arrives during a request is
// noticed after it: the request in flight always finishes, and no other is
// accepted, however busy the socket.  After max_requests the worker exits 0
// and the master replaces it.  While the handler keeps memory for the next
// request (Handler::holds_idle_memory), the wait is at most kIdleRelease;
// when it passes without a request the handler gives that memory back.
#pragma once

#include "core/config.h"
#include "http/handler.h"

namespace talentd::daemon {

// How long a worker waits without a request before the handler's idle():
// long enough to keep an upload's buffers across a burst of uploads, short
// enough that a worker left idle soon holds none (issue 14's idle target).
inline constexpr long kIdleReleaseMs = 1000;

// Blocks the stop signals and installs their handlers; call first thing in
// the child, before opening anything.
void prepare_worker_signals();

class Scoreboard;

// Serves until stopped or recycled; returns the process exit status.
// `board` (may be null): where the worker publishes each request's state
// and counts it; a request slower than slow_request_threshold is logged
// with its steps.
int run_worker(const Config& config, int listen_fd, http::Handler& handler, Scoreboard* board = nullptr);

}  // namespace talentd::daemon
