// Master — supervises the workers; never serves a request itself.
//
//   start      open the listener, fork `workers` workers, sd_notify READY=1
//   SIGCHLD    reap; replace crashed workers (with backoff) and recycled ones
//   SIGHUP     re-read the configuration; on success start a new generation
//              of workers, then ask the old ones to finish (SIGTERM) — the
//              listening socket stays open throughout, so no request is lost;
//              on failure keep running with the old configuration
//   SIGTERM/INT  stop: sd_notify STOPPING=1, SIGTERM to every worker, wait
//              up to drain_timeout for in-flight requests, SIGKILL the rest.
//              A worker accepts nothing after its SIGTERM, so a stop takes
//              as long as the longest request in flight, not drain_timeout
//   timer      every reap_interval seconds fork the reaper (hooks.reaper);
//              every second sample the listen queue and log requests running
//              longer than slow_request_threshold (hooks.scoreboard)
//
// The master opens no database and no storage connection: fork first, then
// open — each child does its own.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "core/config.h"

namespace talentd::daemon {

class Scoreboard;

struct MasterHooks {
    // Runs in a forked worker; returns its exit status.
    std::function<int(const Config& config, int listen_fd)> worker;
    // Runs in a forked reaper child; returns its exit status.  May be empty.
    std::function<int(const Config& config)> reaper;
    // Re-reads the configuration (SIGHUP); false with *why on error.
    std::function<bool(Config* config, std::string* why)> reload;
    // Called for every worker reaped (crashed, recycled or drained), before
    // any replacement starts: frees what it held in shared state.  May be empty.
    std::function<void(pid_t pid)> worker_exited;
    // Shared memory made before the first fork (may be null): the master
    // gives each worker its slot, clears the slot of a worker it reaps and
    // counts respawns by cause.
    Scoreboard* scoreboard = nullptr;
};

int run_master(Config config, int listen_fd, const MasterHooks& hooks);

}  // namespace talentd::daemon
