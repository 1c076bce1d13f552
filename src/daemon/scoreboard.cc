#include "daemon/scoreboard.h"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>

namespace talentd::daemon {

static_assert(std::atomic<uint64_t>::is_always_lock_free, "counters must be lock-free to live in shared memory");
static_assert(std::atomic<int64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

const double kLatencyBounds[kLatencyBuckets - 1] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                    0.25,  0.5,    1,     2.5,  5,     10,   30};
const double kSizeBounds[kSizeBuckets - 1] = {1024,   10240,   102400,  262144,
                                              524288, 1048576, 2097152, 5242880};

namespace {

constexpr const char* kMethods[kMethodCount] = {"GET", "HEAD", "POST", "PATCH", "OPTIONS", "other"};
constexpr int kStatuses[kStatusCount - 1] = {200, 204, 301, 303, 308, 400, 401, 403,
                                             404, 405, 413, 415, 429, 500, 502, 503};
constexpr size_t kMethodBytes = 16;
constexpr size_t kPathBytes = 64;
constexpr uint32_t kMagic = 0x7a1e5c0b;

template <int N>
struct Histogram {
    std::atomic<uint64_t> buckets[N];
    std::atomic<uint64_t> count;
    std::atomic<uint64_t> sum;  // microseconds or bytes

    void add(double value, const double* bounds, double scale) {
        int i = 0;
        while (i < N - 1 && value > bounds[i]) ++i;
        buckets[i].fetch_add(1, std::memory_order_relaxed);
        count.fetch_add(1, std::memory_order_relaxed);
        sum.fetch_add(static_cast<uint64_t>(std::llround(std::max(0.0, value) * scale)), std::memory_order_relaxed);
    }
    HistogramCopy<N> copy(double scale) const {
        HistogramCopy<N> out;
        for (int i = 0; i < N; ++i) out.buckets[i] = buckets[i].load(std::memory_order_relaxed);
        out.count = count.load(std::memory_order_relaxed);
        out.sum = static_cast<double>(sum.load(std::memory_order_relaxed)) / scale;
        return out;
    }
};

struct Slot {
    // Master-written while the slot is free.
    std::atomic<int32_t> pid;
    std::atomic<int32_t> generation;
    std::atomic<int64_t> spawned_unix;
    // Worker-written.
    std::atomic<uint32_t> step;
    std::atomic<int64_t> request_start_ns;   // CLOCK_MONOTONIC, system-wide
    std::atomic<int64_t> step_start_ns;
    std::atomic<int64_t> user_id;
    std::atomic<uint64_t> served;
    std::atomic<uint32_t> last_status;
    std::atomic<int64_t> last_us, last_cpu_us;
    std::atomic<uint32_t> seq;               // odd while method/path are rewritten
    char method[kMethodBytes];
    char path[kPathBytes];
};

}  // namespace

struct Shared {
    uint32_t magic;
    int64_t start_unix;
    std::atomic<int32_t> workers_configured;
    std::atomic<int32_t> slots_used;         // high-water mark of slot indexes
    std::atomic<uint64_t> accepted, reused, aborted, slow, max_children_reached, listen_queue_max, db_errors;
    std::atomic<uint64_t> respawns[kRespawnCauseCount];
    std::atomic<uint64_t> requests[kMethodCount][trace::kRouteCount][kStatusCount];
    Histogram<kLatencyBuckets> duration[trace::kRouteCount];
    Histogram<kSizeBuckets> upload_size;
    Histogram<kLatencyBuckets> decode[trace::kImageFormatCount];
    Histogram<kLatencyBuckets> store_latency[trace::kStoreOpCount];
    std::atomic<uint64_t> store_calls[trace::kStoreOpCount][trace::kStoreResultCount];
    std::atomic<uint64_t> reaper_runs_ok, reaper_runs_failed, reaper_removed, reaper_remove_failures,
        reaper_abandoned;
    Slot slots[kSlotCapacity];
};

namespace {

int64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t cpu_ns() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// Printable ASCII only (a path may hold any byte): the page and its JSON
// stay valid whatever was requested.
void copy_printable(char* dst, size_t cap, std::string_view src) {
    size_t n = std::min(cap - 1, src.size());
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = static_cast<unsigned char>(src[i]);
        dst[i] = (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
    }
    dst[n] = '\0';
}

// The seqlock's reader: false when the writer kept it busy.
bool read_strings(const Slot& s, std::string* method, std::string* path) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        uint32_t before = s.seq.load(std::memory_order_acquire);
        if (before & 1) continue;
        char m[kMethodBytes], p[kPathBytes];
        std::memcpy(m, s.method, sizeof m);
        std::memcpy(p, s.path, sizeof p);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (s.seq.load(std::memory_order_relaxed) != before) continue;
        m[kMethodBytes - 1] = p[kPathBytes - 1] = '\0';
        *method = m;
        *path = p;
        return true;
    }
    return false;
}

void raise_to(std::atomic<uint64_t>& max, uint64_t value) {
    uint64_t cur = max.load(std::memory_order_relaxed);
    while (value > cur && !max.compare_exchange_weak(cur, value, std::memory_order_relaxed)) {
    }
}

constexpr auto relaxed = std::memory_order_relaxed;

}  // namespace

const char* method_label(int index) { return index >= 0 && index < kMethodCount ? kMethods[index] : "other"; }
int status_code_at(int index) { return index >= 0 && index < kStatusCount - 1 ? kStatuses[index] : 0; }

int method_index(std::string_view method) {
    for (int i = 0; i < kMethodCount - 1; ++i)
        if (method == kMethods[i]) return i;
    return kMethodCount - 1;
}

int status_index(int status) {
    for (int i = 0; i < kStatusCount - 1; ++i)
        if (status == kStatuses[i]) return i;
    return kStatusCount - 1;
}

const char* respawn_cause_name(RespawnCause cause) {
    switch (cause) {
        case RespawnCause::Crash: return "crash";
        case RespawnCause::Recycle: return "recycle";
        case RespawnCause::Reload: return "reload";
    }
    return "unknown";
}

uint64_t Snapshot::completed() const {
    uint64_t n = 0;
    for (const auto& by_route : requests)
        for (const auto& by_status : by_route)
            for (uint64_t v : by_status) n += v;
    return n;
}

std::unique_ptr<Scoreboard> Scoreboard::create(std::string* why) {
    void* p = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        *why = std::string("scoreboard: mmap of ") + std::to_string(sizeof(Shared)) + " bytes: " + std::strerror(errno);
        return nullptr;
    }
    // The mapping is zero-filled, which is every atomic's zero value; the
    // placement new only gives the object a lifetime.
    Shared* shared = new (p) Shared;
    shared->magic = kMagic;
    shared->start_unix = static_cast<int64_t>(::time(nullptr));
    return std::unique_ptr<Scoreboard>(new Scoreboard(shared));
}

Scoreboard::Scoreboard(Shared* shared) : shared_(shared) { steps_.reserve(16); }

Scoreboard::~Scoreboard() { munmap(shared_, sizeof(Shared)); }

// --- master ------------------------------------------------------------------------

int Scoreboard::assign_slot() {
    for (int i = 0; i < kSlotCapacity; ++i)
        if (shared_->slots[i].pid.load(relaxed) == 0) return i;
    return -1;
}

void Scoreboard::spawned(int slot, pid_t pid, int generation) {
    if (slot < 0 || slot >= kSlotCapacity) return;
    Slot& s = shared_->slots[slot];
    s.generation.store(generation, relaxed);
    s.spawned_unix.store(static_cast<int64_t>(::time(nullptr)), relaxed);
    s.pid.store(pid, std::memory_order_release);
    int used = shared_->slots_used.load(relaxed);
    while (slot + 1 > used && !shared_->slots_used.compare_exchange_weak(used, slot + 1, relaxed)) {
    }
}

bool Scoreboard::reaped(pid_t pid) {
    const int used = shared_->slots_used.load(relaxed);
    for (int i = 0; i < used; ++i) {
        Slot& s = shared_->slots[i];
        if (s.pid.load(relaxed) != pid) continue;
        if (static_cast<trace::Step>(s.step.load(relaxed)) != trace::Step::Idle) shared_->aborted.fetch_add(1, relaxed);
        // The worker is gone: nobody else writes this slot now.
        s.step.store(0, relaxed);
        s.request_start_ns.store(0, relaxed);
        s.step_start_ns.store(0, relaxed);
        s.user_id.store(0, relaxed);
        s.served.store(0, relaxed);
        s.last_status.store(0, relaxed);
        s.last_us.store(0, relaxed);
        s.last_cpu_us.store(0, relaxed);
        s.seq.store(0, relaxed);
        std::memset(s.method, 0, sizeof s.method);
        std::memset(s.path, 0, sizeof s.path);
        s.generation.store(0, relaxed);
        s.pid.store(0, std::memory_order_release);
        return true;
    }
    return false;
}

void Scoreboard::count_respawn(RespawnCause cause, int how_many) {
    if (how_many > 0) shared_->respawns[static_cast<int>(cause)].fetch_add(how_many, relaxed);
}

void Scoreboard::set_workers_configured(int workers) { shared_->workers_configured.store(workers, relaxed); }

void Scoreboard::note_listen_queue(uint64_t depth) { raise_to(shared_->listen_queue_max, depth); }

std::vector<RunningRequest> Scoreboard::running_longer_than(double seconds) const {
    std::vector<RunningRequest> out;
    const int64_t now = monotonic_ns();
    const int used = shared_->slots_used.load(relaxed);
    for (int i = 0; i < used; ++i) {
        const Slot& s = shared_->slots[i];
        pid_t pid = s.pid.load(std::memory_order_acquire);
        if (pid == 0) continue;
        auto step = static_cast<trace::Step>(s.step.load(relaxed));
        if (step == trace::Step::Idle) continue;
        int64_t started = s.request_start_ns.load(relaxed);
        if (started == 0 || (now - started) / 1e9 < seconds) continue;
        RunningRequest r;
        r.pid = pid;
        r.sequence = s.served.load(relaxed) + 1;
        if (!read_strings(s, &r.method, &r.path)) r.method = r.path = "?";
        r.user_id = s.user_id.load(relaxed);
        r.step = step;
        r.request_seconds = (now - started) / 1e9;
        r.step_seconds = (now - s.step_start_ns.load(relaxed)) / 1e9;
        out.push_back(std::move(r));
    }
    return out;
}

// --- worker --------------------------------------------------------------------------

void Scoreboard::become_worker(int slot) {
    slot_ = slot >= 0 && slot < kSlotCapacity ? slot : -1;
    cpu_start_ns_ = cpu_ns();
}

void Scoreboard::begin(std::string_view method, std::string_view path, bool reused) {
    shared_->accepted.fetch_add(1, relaxed);
    if (reused) shared_->reused.fetch_add(1, relaxed);
    method_ = method_index(method);
    request_start_ns_ = monotonic_ns();
    steps_.clear();
    steps_.push_back({trace::Step::Starting, request_start_ns_});
    if (slot_ < 0) return;
    Slot& s = shared_->slots[slot_];
    uint32_t seq = s.seq.load(relaxed);
    s.seq.store(seq + 1, relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    copy_printable(s.method, sizeof s.method, method);
    copy_printable(s.path, sizeof s.path, path);
    s.seq.store(seq + 2, std::memory_order_release);
    s.user_id.store(0, relaxed);
    s.request_start_ns.store(request_start_ns_, relaxed);
    s.step_start_ns.store(request_start_ns_, relaxed);
    s.step.store(static_cast<uint32_t>(trace::Step::Starting), std::memory_order_release);

    // "max children reached": this request found every worker busy.
    const int configured = shared_->workers_configured.load(relaxed);
    const int used = shared_->slots_used.load(relaxed);
    // This worker counts itself: its slot's pid may not be in yet, as the
    // master records it only when fork() returns there, and a fresh worker
    // can be handed a request before that.
    int busy = 1;
    for (int i = 0; i < used; ++i) {
        if (i == slot_) continue;
        const Slot& o = shared_->slots[i];
        if (o.pid.load(relaxed) != 0 && o.step.load(relaxed) != 0) ++busy;
    }
    if (configured > 0 && busy >= configured) shared_->max_children_reached.fetch_add(1, relaxed);
}

RequestTimes Scoreboard::finish(int status, trace::Route route) {
    const int64_t end = monotonic_ns();
    RequestTimes times;
    times.seconds = (end - request_start_ns_) / 1e9;
    // The process CPU clock is a system call (no vDSO): read once per
    // request, so a request's CPU time runs from the previous answer (its
    // log line, the wait and the accept included, which cost little).
    const int64_t cpu_now = cpu_ns();
    times.cpu_seconds = (cpu_now - cpu_start_ns_) / 1e9;
    cpu_start_ns_ = cpu_now;
    for (size_t i = 0; i < steps_.size(); ++i) {
        int64_t until = i + 1 < steps_.size() ? steps_[i + 1].second : end;
        times.steps.push_back({steps_[i].first, (until - steps_[i].second) / 1e9});
    }
    const int r = static_cast<int>(route);
    shared_->requests[method_][r][status_index(status)].fetch_add(1, relaxed);
    shared_->duration[r].add(times.seconds, kLatencyBounds, 1e6);
    if (slot_ >= 0) {
        Slot& s = shared_->slots[slot_];
        s.last_status.store(static_cast<uint32_t>(status), relaxed);
        s.last_us.store(static_cast<int64_t>(times.seconds * 1e6), relaxed);
        s.last_cpu_us.store(static_cast<int64_t>(times.cpu_seconds * 1e6), relaxed);
        s.served.fetch_add(1, relaxed);
        s.step.store(static_cast<uint32_t>(trace::Step::Idle), std::memory_order_release);
        s.step_start_ns.store(end, relaxed);
        s.request_start_ns.store(0, relaxed);
    }
    return times;
}

void Scoreboard::count_slow() { shared_->slow.fetch_add(1, relaxed); }

void Scoreboard::step(trace::Step step) {
    if (request_start_ns_ == 0) return;
    const int64_t now = monotonic_ns();
    steps_.push_back({step, now});
    if (slot_ < 0) return;
    Slot& s = shared_->slots[slot_];
    s.step_start_ns.store(now, relaxed);
    s.step.store(static_cast<uint32_t>(step), std::memory_order_release);
}

void Scoreboard::user(int64_t user_id) {
    if (slot_ >= 0) shared_->slots[slot_].user_id.store(user_id, relaxed);
}

void Scoreboard::upload(int64_t bytes) { shared_->upload_size.add(static_cast<double>(bytes), kSizeBounds, 1); }

void Scoreboard::decoded(trace::ImageFormat format, double seconds) {
    shared_->decode[static_cast<int>(format)].add(seconds, kLatencyBounds, 1e6);
}

void Scoreboard::store_call(trace::StoreOp op, trace::StoreResult result, double seconds) {
    shared_->store_latency[static_cast<int>(op)].add(seconds, kLatencyBounds, 1e6);
    shared_->store_calls[static_cast<int>(op)][static_cast<int>(result)].fetch_add(1, relaxed);
}

void Scoreboard::db_error() { shared_->db_errors.fetch_add(1, relaxed); }

void Scoreboard::reaper_pass(bool ok, int removed, int failed, int abandoned) {
    (ok ? shared_->reaper_runs_ok : shared_->reaper_runs_failed).fetch_add(1, relaxed);
    shared_->reaper_removed.fetch_add(static_cast<uint64_t>(std::max(0, removed)), relaxed);
    shared_->reaper_remove_failures.fetch_add(static_cast<uint64_t>(std::max(0, failed)), relaxed);
    shared_->reaper_abandoned.fetch_add(static_cast<uint64_t>(std::max(0, abandoned)), relaxed);
}

// --- reading ---------------------------------------------------------------------------

Snapshot Scoreboard::snapshot() const {
    Snapshot out;
    const Shared& sh = *shared_;
    const int64_t now = monotonic_ns();
    out.start_unix = sh.start_unix;
    out.now_unix = static_cast<int64_t>(::time(nullptr));
    out.uptime_seconds = static_cast<double>(out.now_unix - out.start_unix);
    out.workers_configured = sh.workers_configured.load(relaxed);
    const int used = sh.slots_used.load(relaxed);
    for (int i = 0; i < used; ++i) {
        const Slot& s = sh.slots[i];
        pid_t pid = s.pid.load(std::memory_order_acquire);
        if (pid == 0) continue;
        WorkerRow row;
        row.pid = pid;
        row.generation = s.generation.load(relaxed);
        row.spawned_unix = s.spawned_unix.load(relaxed);
        row.step = static_cast<trace::Step>(s.step.load(std::memory_order_acquire));
        if (static_cast<int>(row.step) >= trace::kStepCount) row.step = trace::Step::Idle;
        row.served = s.served.load(relaxed);
        row.last_status = static_cast<int>(s.last_status.load(relaxed));
        row.last_seconds = s.last_us.load(relaxed) / 1e6;
        row.last_cpu_seconds = s.last_cpu_us.load(relaxed) / 1e6;
        if (row.step != trace::Step::Idle) {
            if (!read_strings(s, &row.method, &row.path)) row.method = row.path = "?";
            row.user_id = s.user_id.load(relaxed);
            int64_t started = s.request_start_ns.load(relaxed), step_started = s.step_start_ns.load(relaxed);
            row.request_seconds = started ? std::max<int64_t>(0, now - started) / 1e9 : 0;
            row.step_seconds = step_started ? std::max<int64_t>(0, now - step_started) / 1e9 : 0;
            ++out.busy;
        } else {
            ++out.idle;
        }
        out.workers.push_back(std::move(row));
    }
    out.total = out.idle + out.busy;
    out.accepted = sh.accepted.load(relaxed);
    out.reused = sh.reused.load(relaxed);
    out.aborted = sh.aborted.load(relaxed);
    out.slow = sh.slow.load(relaxed);
    out.max_children_reached = sh.max_children_reached.load(relaxed);
    out.listen_queue_max = sh.listen_queue_max.load(relaxed);
    for (int i = 0; i < kRespawnCauseCount; ++i) out.respawns[i] = sh.respawns[i].load(relaxed);
    out.db_errors = sh.db_errors.load(relaxed);
    for (int m = 0; m < kMethodCount; ++m)
        for (int r = 0; r < trace::kRouteCount; ++r)
            for (int st = 0; st < kStatusCount; ++st) out.requests[m][r][st] = sh.requests[m][r][st].load(relaxed);
    for (int r = 0; r < trace::kRouteCount; ++r) out.duration[r] = sh.duration[r].copy(1e6);
    out.upload_size = sh.upload_size.copy(1);
    for (int f = 0; f < trace::kImageFormatCount; ++f) out.decode[f] = sh.decode[f].copy(1e6);
    for (int o = 0; o < trace::kStoreOpCount; ++o) {
        out.store_latency[o] = sh.store_latency[o].copy(1e6);
        for (int k = 0; k < trace::kStoreResultCount; ++k) out.store_calls[o][k] = sh.store_calls[o][k].load(relaxed);
    }
    out.reaper_runs_ok = sh.reaper_runs_ok.load(relaxed);
    out.reaper_runs_failed = sh.reaper_runs_failed.load(relaxed);
    out.reaper_removed = sh.reaper_removed.load(relaxed);
    out.reaper_remove_failures = sh.reaper_remove_failures.load(relaxed);
    out.reaper_abandoned = sh.reaper_abandoned.load(relaxed);
    return out;
}

std::string format_steps(const RequestTimes& times) {
    std::string out;
    char buf[64];
    for (const auto& [step, seconds] : times.steps) {
        std::snprintf(buf, sizeof buf, "%s%s %.3fs", out.empty() ? "" : ", ", trace::step_name(step), seconds);
        out += buf;
    }
    return out;
}

}  // namespace talentd::daemon
