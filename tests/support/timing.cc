#include "timing.h"

#include <chrono>
#include <cstdlib>
#include <thread>

namespace talentd::test {

double scaled(double seconds) {
    static const double factor = [] {
        const char* value = std::getenv("TALENTD_TIME_SCALE");
        double f = value ? std::atof(value) : 1.0;
        return f >= 1.0 ? f : 1.0;
    }();
    return seconds * factor;
}

bool wait_for(const std::function<bool()>& done, double seconds) {
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(scaled(seconds));
    for (;;) {
        if (done()) return true;
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

}  // namespace talentd::test
