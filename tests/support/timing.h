// Time in tests: waiting for a condition, and the one scale factor every
// generous time bound is multiplied by.
//
// Tests assert no wall-clock upper bound on the code under test (speed is
// measured in bench/).  A wait that must end somewhere ("the worker was
// replaced within 20 s") is scaled by TALENTD_TIME_SCALE (default 1; the
// Makefile sets 4 under SANITIZE=1), so a slow or sanitized machine waits
// longer instead of failing.
#pragma once

#include <functional>

namespace talentd::test {

// seconds * TALENTD_TIME_SCALE.
double scaled(double seconds);

// Polls `done` every 20 ms; true as soon as it holds, false after
// scaled(seconds) have passed without it.
bool wait_for(const std::function<bool()>& done, double seconds);

// CLOCK_MONOTONIC in seconds: the clock talentd's own timers use, so a
// test can compare its times with theirs.
double monotonic_seconds();

// CPU seconds (user + system) process `pid` has used, from /proc/PID/stat;
// -1 if it cannot be read.  For "an idle process sleeps" checks, not speed.
double process_cpu_seconds(int pid);

}  // namespace talentd::test
