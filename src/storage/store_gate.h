// StoreGate — the bulkhead and the circuit breaker in front of the object
// store, shared by every worker of one master.
//
// Why
//   A store that stops answering holds each worker that calls it until
//   s3_timeout.  Without a gate every worker ends up waiting on it and GETs
//   and field-only updates, which never touch the store, queue behind them.
//
// Bulkhead
//   At most `store_concurrency` workers are inside a store call at once
//   (default: workers - 1, at least 1).  A call beyond that waits while the
//   store is quick — some slot holder has been inside its call for less than
//   `store_busy_wait` ms — and at most that long; it is refused (the caller
//   answers 503 with Retry-After) once every holder has been inside for
//   longer, i.e. at once when the store is slow or silent.  Why the wait: a
//   healthy store frees a slot within milliseconds, and refusing then would
//   turn ordinary contention under load (four workers busy with uploads, all
//   briefly in their PUTs) into 503s; a silent store still holds that many
//   workers and no more.
//
// Circuit breaker
//   closed     calls pass; `store_breaker_failures` consecutive calls that
//              found the store unavailable (timeout, refused, 5xx, the
//              egress proxy's 502/504) open it;
//   open       every call is refused at once for `store_breaker_cooldown`
//              seconds;
//   half-open  after the cool-down one call (the probe) is let through and
//              the others are still refused; the probe's success closes the
//              breaker, its failure opens it for another cool-down.
//   A store that answers at all (even 403 or 404) counts as a success: the
//   breaker is about reachability, not about one request's fate.
//
// Shared state, no lock
//   A few atomics in a MAP_SHARED anonymous mapping that the master creates
//   before it forks.  A worker in a store call holds a slot: its pid in one
//   of the first store_concurrency slots of its generation's half, taken by
//   compare-and-swap.  A reload starts a new generation (next_generation()),
//   whose workers count in the other half: old workers finishing their
//   uploads do not make the new ones refuse theirs, so a reload loses no
//   request (the store sees at most twice the limit while the old drain).  Nothing
//   a worker holds can stay held when it dies: the master calls
//   release_process(pid) for every worker it reaps, which frees its slot and,
//   if it was the probe, lets the next call probe.
//
// Reading it (status page, metrics): snapshot().
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "core/config.h"

namespace talentd::storage {

enum class BreakerState { Closed = 0, Open = 1, HalfOpen = 2 };

// "closed", "open", "half-open".
const char* breaker_state_name(BreakerState state);

struct GateSettings {
    int concurrency = 1;         // workers allowed inside a store call at once
    int failure_threshold = 3;   // consecutive unavailable calls that open the breaker (0: never opens)
    int cooldown_seconds = 10;   // how long an open breaker refuses before the probe
    int generation = 0;          // the worker's (StoreGate::generation() when it started)
    int busy_wait_ms = 250;      // how long a call beyond the bulkhead waits for a quick store's slot
};

// store_concurrency (0: workers - 1, at least 1), store_breaker_failures,
// store_breaker_cooldown.
GateSettings gate_settings_from(const Config& config);

// Slots per generation half: store_concurrency's maximum.
inline constexpr int kGateSlots = 512;

// What the gate looks like now, for the status page, metrics and tests.
struct GateSnapshot {
    int in_store = 0;                  // slots held: workers inside a store call
    BreakerState breaker = BreakerState::Closed;
    int consecutive_failures = 0;
    int64_t open_ms_left = 0;          // open: milliseconds until the probe may go
    uint64_t admitted = 0;             // calls let through
    uint64_t refused_busy = 0;         // refused by the bulkhead
    uint64_t refused_open = 0;         // refused by the breaker (open or half-open)
    uint64_t failures = 0;             // calls that found the store unavailable
    uint64_t openings = 0;             // times the breaker opened
};

// Milliseconds of CLOCK_MONOTONIC (the same clock in every process).
int64_t monotonic_ms();

struct GateShared;

class StoreGate {
public:
    // Maps the shared state (all closed, nothing held).  nullptr with *why
    // when mmap fails.  Call in the master, before forking.
    static std::unique_ptr<StoreGate> create(std::string* why);
    ~StoreGate();
    StoreGate(const StoreGate&) = delete;
    StoreGate& operator=(const StoreGate&) = delete;

    enum class Verdict { Admitted, Busy, Open };

    // A ticket for one store call.  Admitted: make the call, then report its
    // outcome with finish().  Destroying a pass frees its slot; a probe
    // destroyed without finish() lets the next call probe.
    class Pass {
    public:
        Pass() = default;
        Pass(Pass&& other) noexcept;
        Pass& operator=(Pass&& other) noexcept;
        ~Pass();

        // A pass with no gate behind it (talentctl, no shared state): admitted.
        static Pass ungated() {
            Pass pass;
            pass.verdict_ = Verdict::Admitted;
            return pass;
        }

        Verdict verdict() const { return verdict_; }
        bool admitted() const { return verdict_ == Verdict::Admitted; }
        bool probe() const { return probe_; }
        // store_unavailable: the call found the store unavailable (timeout,
        // no connection, 5xx); false for any answer from the store.
        void finish(bool store_unavailable, int64_t now_ms = monotonic_ms());

    private:
        friend class StoreGate;
        void release();
        StoreGate* gate_ = nullptr;
        GateSettings settings_;
        int slot_ = -1;
        bool probe_ = false;
        Verdict verdict_ = Verdict::Busy;
    };

    // Asks to enter a store call under `settings` (each worker passes its
    // own configuration's).  Blocks only while the bulkhead is full of calls
    // younger than settings.busy_wait_ms, and never longer than that; with
    // now_ms given (tests) it never blocks.
    Pass enter(const GateSettings& settings, int64_t now_ms = -1);

    // The master, for a worker it reaped: frees what `pid` held.
    void release_process(pid_t pid, int64_t now_ms = monotonic_ms());

    // The master, on a successful reload, before it forks the new workers.
    void next_generation();
    int generation() const;

    GateSnapshot snapshot(int64_t now_ms = monotonic_ms()) const;

private:
    explicit StoreGate(GateShared* shared);
    void finish(Pass& pass, bool store_unavailable, int64_t now_ms);
    GateShared* shared_;
};

}  // namespace talentd::storage
