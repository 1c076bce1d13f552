#include "storage/store_gate.h"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>

#include "core/log.h"

namespace talentd::storage {

// Lives in the shared mapping: plain atomics only (no pointers, no
// destructors), lock-free so that they work across processes.
struct GateShared {
    std::atomic<int32_t> state{static_cast<int32_t>(BreakerState::Closed)};
    std::atomic<int32_t> consecutive_failures{0};
    std::atomic<int64_t> open_until_ms{0};
    std::atomic<int32_t> probe_pid{0};
    std::atomic<uint64_t> admitted{0}, refused_busy{0}, refused_open{0}, failures{0}, openings{0};
    std::atomic<int32_t> generation{0};
    std::atomic<int32_t> slots[2 * kGateSlots];   // two halves (generations); 0 free, else a pid in a store call
    std::atomic<int64_t> slot_since_ms[2 * kGateSlots];   // when the slot's holder entered its call
};

static_assert(std::atomic<int32_t>::is_always_lock_free && std::atomic<int64_t>::is_always_lock_free &&
                  std::atomic<uint64_t>::is_always_lock_free,
              "the gate's atomics must be lock-free to be shared between processes");

namespace {

constexpr int32_t kClosed = static_cast<int32_t>(BreakerState::Closed);
constexpr int32_t kOpen = static_cast<int32_t>(BreakerState::Open);
constexpr int32_t kHalfOpen = static_cast<int32_t>(BreakerState::HalfOpen);

// Lets the next caller probe at once: the probe went away without a verdict.
void reopen_for_next_probe(GateShared* s, int64_t now_ms) {
    s->probe_pid.store(0);
    s->open_until_ms.store(now_ms);
    int32_t expected = kHalfOpen;
    s->state.compare_exchange_strong(expected, kOpen);
}

}  // namespace

const char* breaker_state_name(BreakerState state) {
    switch (state) {
        case BreakerState::Closed: return "closed";
        case BreakerState::Open: return "open";
        case BreakerState::HalfOpen: return "half-open";
    }
    return "closed";
}

GateSettings gate_settings_from(const Config& config) {
    GateSettings settings;
    settings.concurrency = config.store_concurrency > 0 ? config.store_concurrency : std::max(1, config.workers - 1);
    settings.concurrency = std::min(settings.concurrency, kGateSlots);
    settings.failure_threshold = config.store_breaker_failures;
    settings.cooldown_seconds = config.store_breaker_cooldown;
    settings.busy_wait_ms = config.store_busy_wait;
    return settings;
}

int64_t monotonic_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::unique_ptr<StoreGate> StoreGate::create(std::string* why) {
    void* memory = mmap(nullptr, sizeof(GateShared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
        *why = std::string("store gate: mmap: ") + std::strerror(errno);
        return nullptr;
    }
    return std::unique_ptr<StoreGate>(new StoreGate(new (memory) GateShared()));
}

StoreGate::StoreGate(GateShared* shared) : shared_(shared) {}

StoreGate::~StoreGate() { munmap(shared_, sizeof(GateShared)); }

StoreGate::Pass StoreGate::enter(const GateSettings& settings, int64_t now_ms) {
    const bool may_wait = now_ms < 0;
    if (now_ms < 0) now_ms = monotonic_ms();
    GateShared* s = shared_;
    Pass pass;
    pass.settings_ = settings;
    const int32_t me = static_cast<int32_t>(getpid());

    const int32_t state = s->state.load();
    if (state == kHalfOpen) {
        s->refused_open.fetch_add(1);
        pass.verdict_ = Verdict::Open;
        return pass;
    }
    if (state == kOpen) {
        if (now_ms < s->open_until_ms.load()) {
            s->refused_open.fetch_add(1);
            pass.verdict_ = Verdict::Open;
            return pass;
        }
        // The cool-down is over: whoever swaps open for half-open probes.
        int32_t expected = kOpen;
        if (!s->state.compare_exchange_strong(expected, kHalfOpen)) {
            s->refused_open.fetch_add(1);
            pass.verdict_ = Verdict::Open;
            return pass;
        }
        s->probe_pid.store(me);
        pass.probe_ = true;
        LOG_INFO("store breaker half-open: one upload probes the store");
    }

    const int limit = std::clamp(settings.concurrency, 1, kGateSlots);
    const int base = (settings.generation & 1) * kGateSlots;
    const int64_t started_ms = now_ms;
    for (;;) {
        int64_t youngest_since = INT64_MIN;
        for (int i = base; i < base + limit; ++i) {
            int32_t expected = 0;
            if (s->slots[i].load() == 0 && s->slots[i].compare_exchange_strong(expected, me)) {
                s->slot_since_ms[i].store(now_ms);
                pass.slot_ = i;
                break;
            }
            youngest_since = std::max(youngest_since, s->slot_since_ms[i].load());
        }
        if (pass.slot_ >= 0 || !may_wait) break;
        // Full: wait only while some holder is young (a quick store frees
        // its slot soon), and never past busy_wait_ms in all.
        if (now_ms - youngest_since >= settings.busy_wait_ms || now_ms - started_ms >= settings.busy_wait_ms) break;
        usleep(1000);
        now_ms = monotonic_ms();
    }
    if (pass.slot_ < 0) {
        if (pass.probe_) {
            pass.probe_ = false;
            reopen_for_next_probe(s, now_ms);
        }
        s->refused_busy.fetch_add(1);
        pass.verdict_ = Verdict::Busy;
        return pass;
    }
    s->admitted.fetch_add(1);
    pass.gate_ = this;
    pass.verdict_ = Verdict::Admitted;
    return pass;
}

void StoreGate::finish(Pass& pass, bool store_unavailable, int64_t now_ms) {
    GateShared* s = shared_;
    const GateSettings& settings = pass.settings_;
    if (!store_unavailable) {
        s->consecutive_failures.store(0);
        if (pass.probe_) {
            s->probe_pid.store(0);
            s->state.store(kClosed);
            LOG_WARN("store breaker closed: the probe got an answer, uploads pass again");
        }
        return;
    }
    s->failures.fetch_add(1);
    const int failures = s->consecutive_failures.fetch_add(1) + 1;
    if (pass.probe_) {
        s->open_until_ms.store(now_ms + settings.cooldown_seconds * 1000LL);
        s->probe_pid.store(0);
        s->state.store(kOpen);
        s->openings.fetch_add(1);
        LOG_WARN("store breaker open again: the probe found the store unavailable; uploads refused for %d s",
                 settings.cooldown_seconds);
        return;
    }
    if (settings.failure_threshold <= 0 || failures < settings.failure_threshold) return;
    // open_until first: a closed breaker ignores it, an open one needs it.
    if (s->state.load() != kClosed) return;
    s->open_until_ms.store(now_ms + settings.cooldown_seconds * 1000LL);
    int32_t expected = kClosed;
    if (s->state.compare_exchange_strong(expected, kOpen)) {
        s->openings.fetch_add(1);
        LOG_WARN("store breaker open: %d consecutive store calls found the store unavailable; uploads refused "
                 "for %d s, then one probes",
                 failures, settings.cooldown_seconds);
    }
}

void StoreGate::release_process(pid_t pid, int64_t now_ms) {
    GateShared* s = shared_;
    const int32_t who = static_cast<int32_t>(pid);
    if (who <= 0) return;
    for (auto& slot : s->slots) {
        int32_t expected = who;
        slot.compare_exchange_strong(expected, 0);
    }
    int32_t expected = who;
    if (s->probe_pid.compare_exchange_strong(expected, 0)) reopen_for_next_probe(s, now_ms);
}

void StoreGate::next_generation() { shared_->generation.fetch_add(1); }

int StoreGate::generation() const { return shared_->generation.load(); }

GateSnapshot StoreGate::snapshot(int64_t now_ms) const {
    const GateShared* s = shared_;
    GateSnapshot snap;
    for (const auto& slot : s->slots)
        if (slot.load() != 0) ++snap.in_store;
    snap.breaker = static_cast<BreakerState>(s->state.load());
    snap.consecutive_failures = s->consecutive_failures.load();
    if (snap.breaker == BreakerState::Open) snap.open_ms_left = std::max<int64_t>(0, s->open_until_ms.load() - now_ms);
    snap.admitted = s->admitted.load();
    snap.refused_busy = s->refused_busy.load();
    snap.refused_open = s->refused_open.load();
    snap.failures = s->failures.load();
    snap.openings = s->openings.load();
    return snap;
}

// --- Pass ------------------------------------------------------------------------

StoreGate::Pass::Pass(Pass&& other) noexcept
    : gate_(other.gate_), settings_(other.settings_), slot_(other.slot_), probe_(other.probe_),
      verdict_(other.verdict_) {
    other.gate_ = nullptr;
    other.slot_ = -1;
    other.probe_ = false;
}

StoreGate::Pass& StoreGate::Pass::operator=(Pass&& other) noexcept {
    if (this != &other) {
        release();
        gate_ = other.gate_;
        settings_ = other.settings_;
        slot_ = other.slot_;
        probe_ = other.probe_;
        verdict_ = other.verdict_;
        other.gate_ = nullptr;
        other.slot_ = -1;
        other.probe_ = false;
    }
    return *this;
}

StoreGate::Pass::~Pass() { release(); }

void StoreGate::Pass::finish(bool store_unavailable, int64_t now_ms) {
    if (!gate_) return;
    gate_->finish(*this, store_unavailable, now_ms);
    probe_ = false;
    release();
}

void StoreGate::Pass::release() {
    if (!gate_) return;
    GateShared* s = gate_->shared_;
    if (slot_ >= 0) {
        int32_t expected = static_cast<int32_t>(getpid());
        s->slots[slot_].compare_exchange_strong(expected, 0);
    }
    if (probe_) reopen_for_next_probe(s, monotonic_ms());
    gate_ = nullptr;
    slot_ = -1;
    probe_ = false;
}

}  // namespace talentd::storage
