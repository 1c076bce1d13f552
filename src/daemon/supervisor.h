// Supervisor — the master's bookkeeping of its workers, free of processes
// and signals so that it can be unit-tested: which workers run, of which
// generation, when a replacement may be started, and how long to back off.
//
// Rules:
//  * a worker that exits with status 0 (recycled after max_requests, or
//    drained) is replaced at once;
//  * a worker that crashes (non-zero status or killed by a signal) is
//    replaced after a backoff that doubles with each consecutive crash —
//    0 s, 1 s, 2 s, 4 s … up to backoff_max — so a crash loop does not spin;
//    a worker that ran for `stable_after` seconds resets the count;
//  * workers of an older generation (before a reload) are never replaced.
#pragma once

#include <sys/types.h>

#include <map>
#include <vector>

namespace talentd::daemon {

class Supervisor {
public:
    Supervisor(int workers, double backoff_max, double stable_after = 10.0);

    struct Exit {
        bool known = false;       // one of ours
        bool crashed = false;
        bool replace = false;     // start a replacement
        double delay = 0;         // seconds to wait before starting it
    };

    void started(pid_t pid, double now);
    Exit exited(pid_t pid, bool exited_normally, int exit_status, double now);

    // Starts a new generation (reload): existing workers become old; returns their pids.
    std::vector<pid_t> new_generation(int workers);
    // Workers of the current generation missing now (to start).
    int missing() const;
    int generation() const { return generation_; }
    std::vector<pid_t> pids() const;
    size_t running() const { return children_.size(); }
    int consecutive_crashes() const { return crashes_; }
    // Forget the target size: no replacement from now on (shutdown).
    void stop() { workers_ = 0; stopping_ = true; }

private:
    struct Child {
        int generation;
        double started;
    };
    int workers_;
    double backoff_max_;
    double stable_after_;
    int generation_ = 1;
    int crashes_ = 0;
    bool stopping_ = false;
    std::map<pid_t, Child> children_;
};

}  // namespace talentd::daemon
