// Log — one line per event on stderr, which systemd hands to journald.
//
// Under journald (JOURNAL_STREAM set) each line starts with the sd-daemon
// priority prefix ("<6>"), so `journalctl -p` filters work; on a terminal it
// starts with the level name.  Lines never contain a token or a secret: the
// callers log identities (user ids), keys and outcomes only.
#pragma once

#include <string_view>

namespace talentd::log {

enum class Level { Error = 3, Warn = 4, Info = 6, Debug = 7 };

// Sets the threshold from the log_level key ("error", "warn", "info", "debug")
// and the prefix ("talentd[pid]" style name).  Called once per process.
void configure(std::string_view level, std::string_view program);
bool enabled(Level level);

// printf-style; one line is written with a single write(2), so the lines of
// concurrent workers never interleave.
void write(Level level, const char* format, ...) __attribute__((format(printf, 2, 3)));

#define TALENTD_LOG(level, ...)                                                     \
    do {                                                                            \
        if (::talentd::log::enabled(level)) ::talentd::log::write(level, __VA_ARGS__); \
    } while (0)
#define LOG_ERROR(...) TALENTD_LOG(::talentd::log::Level::Error, __VA_ARGS__)
#define LOG_WARN(...) TALENTD_LOG(::talentd::log::Level::Warn, __VA_ARGS__)
#define LOG_INFO(...) TALENTD_LOG(::talentd::log::Level::Info, __VA_ARGS__)
#define LOG_DEBUG(...) TALENTD_LOG(::talentd::log::Level::Debug, __VA_ARGS__)

}  // namespace talentd::log
