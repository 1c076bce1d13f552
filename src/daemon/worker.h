// Worker — one pre-forked process serving FastCGI requests one at a time.
//
// The loop: wait for the listening socket — and the FastCGI connections
// kept from earlier requests, when nginx asked to keep them — to become
// readable (ppoll, with SIGTERM/SIGHUP/SIGINT deliverable only while
// waiting), check that no stop signal is pending, take one request from
// whichever is ready (a kept connection first, but not twice in a row
// while a new connection waits; the kept ones in turn), let the handler
// answer it, write one log line, repeat.  A stop signal that arrives during
// a request is noticed after it: the request in flight always finishes,
// and no new connection is accepted, however busy the socket.  After
// max_requests the worker exits 0 and the master replaces it.
//
// Kept connections (http/fcgi.h): an idle worker always waits on the
// listening socket too, so idle connections kept for nginx never leave a
// new connection unserved.  A connection is kept only after a GET, HEAD or
// OPTIONS (the requests the shipped nginx files send on kept connections,
// the ones nginx retries), one per worker (FcgiChannel::kMaxKept); a
// worker never closes a connection nginx may be sending on: one it will not
// keep is declined with its answer (nginx closes it), a kept one is closed
// after keepalive_timeout idle seconds only (nginx's shorter timeout closes
// it first).
//
// Retiring (recycled after max_requests, or a stop signal): the worker
// accepts no new connection and, for up to kRetireMs, serves the requests
// nginx sends on its kept connections, declining each connection with its
// answer (nginx then closes it instead of pooling it); it exits as soon as
// it holds none.  Only connections nginx left idle that long are closed
// without that (logged: nginx may still pick one, see a reset and retry the
// request elsewhere).  The last answer before a recycling or a stop the
// worker already knows of declines its connection too.
//
// While the handler keeps memory for the next request
// (Handler::holds_idle_memory), the wait is at most kIdleReleaseMs; when it
// passes without a request the handler gives that memory back.
#pragma once

#include "core/config.h"
#include "http/handler.h"

namespace talentd::daemon {

// How long a worker waits without a request before the handler's idle():
// long enough to keep an upload's buffers across a burst of uploads, short
// enough that a worker left idle soon holds none (issue 14's idle target).
inline constexpr long kIdleReleaseMs = 1000;

// How long a retiring worker (recycled, or stopped) keeps serving requests
// nginx sends on its kept connections before it closes those still idle.
inline constexpr long kRetireMs = 1000;

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
