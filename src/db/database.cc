#include "db/database.h"

#include "db/postgres.h"
#include "db/sqlite.h"

namespace talentd::db {

std::unique_ptr<Database> Database::open(const Config& config, std::string* why) {
    if (is_postgresql(config.database)) return std::make_unique<PostgresDatabase>(postgres_settings_from(config));
    if (config.database_layout != "talentd") {
        if (why) *why = "database_layout = " + config.database_layout + " needs a PostgreSQL database";
        return nullptr;
    }
    return SqliteDatabase::open(config.database, config.database_busy_timeout, why);
}

std::unique_ptr<Database> Database::open(const std::string& path, int busy_timeout_ms, std::string* why) {
    return SqliteDatabase::open(path, busy_timeout_ms, why);
}

bool Database::is_postgresql(const std::string& database) { return database_is_postgresql(database); }

std::string Database::describe(const std::string& database) {
    if (!is_postgresql(database)) return database;
    std::string out = database;
    if (out.rfind("postgres", 0) == 0) {
        // postgresql://user:secret@host/db -> postgresql://user:***@host/db
        const size_t scheme = out.find("://");
        const size_t at = out.find('@', scheme + 3);
        const size_t slash = out.find('/', scheme + 3);
        if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
            const size_t colon = out.find(':', scheme + 3);
            if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
        }
        // …?password=secret&…
        for (size_t p = out.find("password="); p != std::string::npos; p = out.find("password=", p + 1)) {
            const size_t end = out.find('&', p);
            out.replace(p + 9, (end == std::string::npos ? out.size() : end) - p - 9, "***");
        }
        return out;
    }
    // key=value pairs: password=secret or password='sec ret'
    for (size_t p = out.find("password"); p != std::string::npos; p = out.find("password", p + 1)) {
        if (p > 0 && out[p - 1] != ' ' && out[p - 1] != '\t') continue;
        size_t eq = p + 8;
        while (eq < out.size() && out[eq] == ' ') ++eq;
        if (eq >= out.size() || out[eq] != '=') continue;
        size_t v = eq + 1;
        while (v < out.size() && out[v] == ' ') ++v;
        size_t end = v;
        if (end < out.size() && out[end] == '\'') {
            for (++end; end < out.size() && out[end] != '\''; ++end)
                if (out[end] == '\\') ++end;
            if (end < out.size()) ++end;
        } else {
            while (end < out.size() && out[end] != ' ') ++end;
        }
        out.replace(v, end - v, "***");
    }
    return out;
}

}  // namespace talentd::db
