// talentd-scoreboard-bench — the CPU cost of a worker's bookkeeping per
// request (docs/BENCHMARKS.md, "The scoreboard's cost"): begin(), the steps
// of a GET (authenticating, responding), finish(), on a scoreboard with
// `workers` live slots, in CPU time (immune to other load on the machine).
//
//   talentd-scoreboard-bench [requests] [workers]   (default 2000000 4)
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "daemon/scoreboard.h"

using talentd::daemon::Scoreboard;

namespace {
double cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
}  // namespace

int main(int argc, char** argv) {
    const long requests = argc > 1 ? std::atol(argv[1]) : 2000000;
    const int workers = argc > 2 ? std::atoi(argv[2]) : 4;
    std::string why;
    auto board = Scoreboard::create(&why);
    if (!board) {
        std::fprintf(stderr, "%s\n", why.c_str());
        return 1;
    }
    board->set_workers_configured(workers);
    for (int i = 0; i < workers; ++i) board->spawned(board->assign_slot(), 100000 + i, 1);
    board->become_worker(0);
    const double start = cpu_seconds();
    for (long i = 0; i < requests; ++i) {
        board->begin("GET", "/api/profile/talent/");
        board->step(talentd::trace::Step::Authenticating);
        board->user(42);
        board->step(talentd::trace::Step::Responding);
        board->finish(200, talentd::trace::Route::Profile);
    }
    const double spent = cpu_seconds() - start;
    std::printf("%ld requests, %d workers: %.3f us CPU per request\n", requests, workers, spent / requests * 1e6);
    return 0;
}
