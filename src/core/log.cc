#include "core/log.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace talentd::log {
namespace {

// The one piece of process-wide state: set once at start-up, read-only after.
Level threshold = Level::Info;
bool journal = false;
std::string program = "talentd";

const char* level_name(Level level) {
    switch (level) {
        case Level::Error: return "error";
        case Level::Warn: return "warn";
        case Level::Info: return "info";
        case Level::Debug: return "debug";
    }
    return "info";
}

}  // namespace

void configure(std::string_view level, std::string_view name) {
    if (level == "error") threshold = Level::Error;
    else if (level == "warn") threshold = Level::Warn;
    else if (level == "debug") threshold = Level::Debug;
    else threshold = Level::Info;
    journal = std::getenv("JOURNAL_STREAM") != nullptr;
    program = std::string(name);
}

bool enabled(Level level) { return static_cast<int>(level) <= static_cast<int>(threshold); }

void write(Level level, const char* format, ...) {
    char line[2048];
    int n;
    if (journal)
        n = std::snprintf(line, sizeof line, "<%d>", static_cast<int>(level));
    else
        n = std::snprintf(line, sizeof line, "%s[%d] %s: ", program.c_str(), static_cast<int>(getpid()),
                          level_name(level));
    if (n < 0) return;
    va_list ap;
    va_start(ap, format);
    int m = std::vsnprintf(line + n, sizeof line - n - 1, format, ap);
    va_end(ap);
    if (m < 0) return;
    size_t len = static_cast<size_t>(n) + static_cast<size_t>(m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t ignored = ::write(STDERR_FILENO, line, len);
    (void)ignored;
}

}  // namespace talentd::log
