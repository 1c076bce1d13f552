// Scoreboard — what every talentd process is doing, in memory the master
// owns and every child shares: the source of the status page, the metrics
// and the slow log (talentd(8), OPERATOR PAGES).
//
// Memory
//   One anonymous MAP_SHARED mapping, made by create() in the master before
//   the first fork, inherited by every worker and the reaper; it outlives
//   them all, so counters survive worker crashes, recycling and reloads
//   (they start at zero when talentd starts).
//
// Who writes what (no lock anywhere: a process killed at any instruction
// leaves nothing held)
//   * counters (requests, histograms, store calls, reaper passes...) are
//     64-bit atomics that any process increments;
//   * a worker slot is written by the master only while it is free (pid,
//     generation, spawn time, just before the fork) and after its worker
//     has been reaped (cleared, counting the request it died in as aborted);
//     in between only its worker writes it;
//   * the method and path of a slot's request are a seqlock (the worker bumps
//     a sequence number to odd, writes, bumps it to even); a reader that
//     sees it odd or changed retries a few times, then shows "?" — a worker
//     killed mid-write is only ever one odd number, cleared at its reaping.
//
// Processes
//   master:  assign_slot() before each fork, spawned() after it, reaped()
//            for each worker it waits for, counters for respawns and the
//            listen queue;
//   worker:  become_worker(slot) in the child, then begin()/finish() around
//            each request and the trace::Recorder calls in between;
//   reaper and anyone else: the trace::Recorder calls (store calls, database
//            errors) and reaper_pass().
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/trace.h"

namespace talentd::daemon {

// Label sets of the request counters: fixed, so that nothing a client
// sends becomes a label.
inline constexpr int kMethodCount = 6;     // GET HEAD POST PATCH OPTIONS other
inline constexpr int kStatusCount = 17;    // the codes below, then "other"
const char* method_label(int index);
int status_code_at(int index);             // 0 for "other"
int method_index(std::string_view method);
int status_index(int status);

// Histogram buckets: seconds for latencies, bytes for upload sizes.
inline constexpr int kLatencyBuckets = 15;  // 14 bounds, then +Inf
inline constexpr int kSizeBuckets = 9;      // 8 bounds, then +Inf
extern const double kLatencyBounds[kLatencyBuckets - 1];
extern const double kSizeBounds[kSizeBuckets - 1];

enum class RespawnCause { Crash, Recycle, Reload };
inline constexpr int kRespawnCauseCount = 3;
const char* respawn_cause_name(RespawnCause cause);  // "crash", "recycle", "reload"

// The largest number of workers alive at once: talentd.conf allows 1024
// workers, and during a reload the old generation finishes beside the new.
inline constexpr int kSlotCapacity = 2 * 1024 + 16;

// A copy of one histogram (non-cumulative bucket counts).
template <int N>
struct HistogramCopy {
    std::array<uint64_t, N> buckets{};
    uint64_t count = 0;
    double sum = 0;  // seconds or bytes
};
using LatencyCopy = HistogramCopy<kLatencyBuckets>;
using SizeCopy = HistogramCopy<kSizeBuckets>;

// One process's row on the status page.
struct WorkerRow {
    pid_t pid = 0;
    int generation = 0;
    int64_t spawned_unix = 0;
    trace::Step step = trace::Step::Idle;
    // The current request, when step != Idle.
    std::string method, path;   // "?" when unreadable (being rewritten)
    int64_t user_id = 0;        // 0: not (yet) authenticated
    double request_seconds = 0; // since it was accepted
    double step_seconds = 0;    // since it entered `step`
    // Totals of this process.
    uint64_t served = 0;
    int last_status = 0;
    double last_seconds = 0, last_cpu_seconds = 0;
};

// Everything the status page and the metrics show, copied at one moment.
struct Snapshot {
    int64_t start_unix = 0;
    int64_t now_unix = 0;
    double uptime_seconds = 0;
    int workers_configured = 0;
    int total = 0, idle = 0, busy = 0;
    uint64_t accepted = 0;             // requests accepted by a worker
    uint64_t reused = 0;               // ... of which on a kept FastCGI connection
    uint64_t aborted = 0;              // accepted, then their worker died
    uint64_t slow = 0;                 // finished above slow_request_threshold
    uint64_t max_children_reached = 0; // a request found every worker busy
    uint64_t listen_queue_max = 0;
    std::array<uint64_t, kRespawnCauseCount> respawns{};
    uint64_t db_errors = 0;
    // [method][route][status]
    std::array<std::array<std::array<uint64_t, kStatusCount>, trace::kRouteCount>, kMethodCount> requests{};
    std::array<LatencyCopy, trace::kRouteCount> duration{};
    SizeCopy upload_size;
    std::array<LatencyCopy, trace::kImageFormatCount> decode{};
    std::array<LatencyCopy, trace::kStoreOpCount> store_latency{};
    std::array<std::array<uint64_t, trace::kStoreResultCount>, trace::kStoreOpCount> store_calls{};
    uint64_t reaper_runs_ok = 0, reaper_runs_failed = 0, reaper_removed = 0, reaper_remove_failures = 0,
             reaper_abandoned = 0;
    std::vector<WorkerRow> workers;   // every live worker, by slot

    uint64_t completed() const;       // sum of requests over every label
};

// A request that has run for a while, for the master's slow log.
struct RunningRequest {
    pid_t pid = 0;
    uint64_t sequence = 0;            // which request of that worker
    std::string method, path;
    int64_t user_id = 0;
    trace::Step step = trace::Step::Idle;
    double request_seconds = 0, step_seconds = 0;
};

// Step timings of one finished request, for the slow log.
struct RequestTimes {
    double seconds = 0;
    double cpu_seconds = 0;  // since the previous request's answer (or the worker's start)
    std::vector<std::pair<trace::Step, double>> steps;  // in order; a step may repeat
};

struct Shared;

class Scoreboard : public trace::Recorder {
public:
    // Maps the shared memory (zeroed); nullptr with *why on failure.
    static std::unique_ptr<Scoreboard> create(std::string* why);
    ~Scoreboard() override;
    Scoreboard(const Scoreboard&) = delete;
    Scoreboard& operator=(const Scoreboard&) = delete;

    // --- master ---------------------------------------------------------------
    // A free slot for the next worker, or -1 when all are taken.
    int assign_slot();
    void spawned(int slot, pid_t pid, int generation);
    // The worker `pid` is gone: counts the request it was serving (if any)
    // as aborted and frees its slot.  False if pid had no slot.
    bool reaped(pid_t pid);
    void count_respawn(RespawnCause cause, int how_many = 1);
    void set_workers_configured(int workers);
    // Raises the maximum seen so far.
    void note_listen_queue(uint64_t depth);
    // Busy requests older than `seconds`.
    std::vector<RunningRequest> running_longer_than(double seconds) const;

    // --- worker ---------------------------------------------------------------
    // In the child: this process is the worker of `slot`.
    void become_worker(int slot);
    // A request was accepted (`reused`: on a FastCGI connection kept from
    // the previous one).  Counts it, publishes its method and path.
    void begin(std::string_view method, std::string_view path, bool reused = false);
    // The request was answered.  Counts it by method, route and status,
    // returns its step timings.
    RequestTimes finish(int status, trace::Route route);
    void count_slow();

    // --- trace::Recorder: the current request (worker), any process (the rest)
    void step(trace::Step step) override;
    void user(int64_t user_id) override;
    void upload(int64_t bytes) override;
    void decoded(trace::ImageFormat format, double seconds) override;
    void store_call(trace::StoreOp op, trace::StoreResult result, double seconds) override;
    void db_error() override;

    // --- reaper ---------------------------------------------------------------
    void reaper_pass(bool ok, int removed, int failed, int abandoned);

    // --- anyone -----------------------------------------------------------------
    Snapshot snapshot() const;

private:
    explicit Scoreboard(Shared* shared);
    Shared* shared_;
    int slot_ = -1;
    // The current request's steps (this process only).
    int64_t request_start_ns_ = 0;
    int64_t cpu_start_ns_ = 0;
    std::vector<std::pair<trace::Step, int64_t>> steps_;
    int method_ = 0;
};

// Step timings as one slow-log phrase:
// "starting 0.000s, authenticating 0.001s, reading 0.010s, storing 9.800s".
std::string format_steps(const RequestTimes& times);

}  // namespace talentd::daemon
