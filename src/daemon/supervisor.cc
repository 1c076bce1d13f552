#include "daemon/supervisor.h"

#include <algorithm>
#include <cmath>

namespace talentd::daemon {

Supervisor::Supervisor(int workers, double backoff_max, double stable_after)
    : workers_(workers), backoff_max_(backoff_max), stable_after_(stable_after) {}

void Supervisor::started(pid_t pid, double now) { children_[pid] = Child{generation_, now}; }

Supervisor::Exit Supervisor::exited(pid_t pid, bool exited_normally, int exit_status, double now) {
    Exit e;
    auto it = children_.find(pid);
    if (it == children_.end()) return e;
    e.known = true;
    const Child child = it->second;
    children_.erase(it);
    e.crashed = !(exited_normally && exit_status == 0);
    if (stopping_ || child.generation != generation_) return e;
    e.replace = true;
    if (!e.crashed) return e;
    if (now - child.started >= stable_after_) crashes_ = 0;
    ++crashes_;
    e.delay = crashes_ <= 1 ? 0.0 : std::min(backoff_max_, std::pow(2.0, crashes_ - 2));
    return e;
}

std::vector<pid_t> Supervisor::new_generation(int workers) {
    std::vector<pid_t> old = pids();
    ++generation_;
    workers_ = workers;
    crashes_ = 0;
    return old;
}

int Supervisor::missing() const {
    int current = 0;
    for (const auto& [pid, child] : children_)
        if (child.generation == generation_) ++current;
    return std::max(0, workers_ - current);
}

std::vector<pid_t> Supervisor::pids() const {
    std::vector<pid_t> out;
    for (const auto& [pid, child] : children_) out.push_back(pid);
    return out;
}

}  // namespace talentd::daemon
