#include "db/postgres.h"

#include <libpq-fe.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/log.h"

namespace talentd::db {

// A PGresult owned for one statement.
class PostgresDatabase::Result {
public:
    explicit Result(PGresult* r) : r_(r) {}
    ~Result() { PQclear(r_); }
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
    int rows() const { return PQntuples(r_); }
    bool null(int row, int col) const { return PQgetisnull(r_, row, col); }
    const char* text(int row, int col) const { return PQgetvalue(r_, row, col); }
    std::string str(int row, int col) const { return std::string(text(row, col), PQgetlength(r_, row, col)); }
    std::optional<std::string> opt(int row, int col) const {
        return null(row, col) ? std::nullopt : std::optional<std::string>(str(row, col));
    }
    int64_t integer(int row, int col) const { return std::strtoll(text(row, col), nullptr, 10); }
    bool boolean(int row, int col) const { return text(row, col)[0] == 't'; }
    long affected() const { return std::strtol(PQcmdTuples(r_), nullptr, 10); }

private:
    PGresult* r_;
};

namespace {

// Forward migrations of each layout; version N is the state after [0..N-1].
const char* const kTalentdMigrations[] = {
    // 1: users, talent profiles (Django's columns, so one set of statements
    //    serves both layouts), the storage journal.
    R"sql(
CREATE TABLE users (
    id          bigint  PRIMARY KEY,
    email       text    NOT NULL UNIQUE,
    first_name  text    NOT NULL DEFAULT '',
    last_name   text    NOT NULL DEFAULT '',
    is_active   boolean NOT NULL DEFAULT true,
    is_talent   boolean NOT NULL DEFAULT false
);
CREATE TABLE talent_profiles (
    id              bigserial PRIMARY KEY,
    user_id         bigint  NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    profile_picture text,
    aboutyou        text    NOT NULL DEFAULT '',
    city            text    NOT NULL DEFAULT '',
    country         text    NOT NULL DEFAULT '',
    gender          text    NOT NULL DEFAULT '',
    date_of_birth   date,
    phone           text    NOT NULL DEFAULT '',
    is_verified     boolean NOT NULL DEFAULT false,
    account_type    text    NOT NULL DEFAULT 'free',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX talent_profiles_picture ON talent_profiles(profile_picture) WHERE profile_picture IS NOT NULL;
CREATE TABLE storage_journal (
    key             text    PRIMARY KEY,
    state           text    NOT NULL CHECK (state IN ('pending', 'remove')),
    user_id         bigint  NOT NULL,
    created_at      bigint  NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at bigint  NOT NULL,
    last_error      text    NOT NULL DEFAULT ''
);
CREATE INDEX storage_journal_due ON storage_journal(state, next_attempt_at);
)sql",
};

const char* const kDjangoMigrations[] = {
    // 1: the storage journal only; Django's migrations own Django's tables.
    R"sql(
CREATE TABLE talentd_storage_journal (
    key             text    PRIMARY KEY,
    state           text    NOT NULL CHECK (state IN ('pending', 'remove')),
    user_id         bigint  NOT NULL,
    created_at      bigint  NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at bigint  NOT NULL,
    last_error      text    NOT NULL DEFAULT ''
);
CREATE INDEX talentd_storage_journal_due ON talentd_storage_journal(state, next_attempt_at);
)sql",
};

constexpr int kTalentdLatest = sizeof kTalentdMigrations / sizeof kTalentdMigrations[0];
constexpr int kDjangoLatest = sizeof kDjangoMigrations / sizeof kDjangoMigrations[0];

// The schema version is the comment of the journal table ("talentd schema
// version N"): talentd adds no table beyond its journal.  Inits of several
// hosts at once queue on a transaction-scoped advisory lock (fine through
// PgBouncer in transaction mode).
constexpr const char* kVersionComment = "talentd schema version ";
constexpr const char* kInitLock = "SELECT pg_advisory_xact_lock(7346110412)";

int parse_version(const PostgresDatabase::Result& r) {
    if (r.rows() == 0 || r.null(0, 0)) return 0;
    const std::string comment = r.str(0, 0);
    if (comment.rfind(kVersionComment, 0) != 0) return 0;
    return std::atoi(comment.c_str() + std::strlen(kVersionComment));
}

// "schema.table" -> "schema"."table" (names are [a-z0-9_] by configuration).
std::string quote_name(const std::string& name) {
    auto dot = name.find('.');
    if (dot == std::string::npos) return "\"" + name + "\"";
    return "\"" + name.substr(0, dot) + "\".\"" + name.substr(dot + 1) + "\"";
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
    return s;
}

double now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

bool set_why(std::string* why, std::string message) {
    if (why) *why = std::move(message);
    return false;
}

std::string one_line(const char* message) {
    std::string s = message ? message : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    for (char& c : s)
        if (c == '\n') c = ' ';
    return s;
}

// Server notices ("relation already exists, skipping") are not errors.
void on_notice(void*, const char* message) { LOG_DEBUG("database: %s", one_line(message).c_str()); }

// SQLSTATE classes that mean "try again later", not "this statement is wrong".
bool unavailable_state(const std::string& state) {
    return state.rfind("08", 0) == 0 ||      // connection exception
           state == "57P01" || state == "57P02" || state == "57P03" ||   // shutdown, crash, cannot connect now
           state == "53300" ||               // too many connections
           state == "57014" ||               // statement timeout / canceled
           state == "55P03" ||               // lock not available
           state == "40001" || state == "40P01";
}

}  // namespace

PostgresSettings postgres_settings_from(const Config& config) {
    PostgresSettings s;
    s.conninfo = config.database;
    s.password = config.database_password;
    s.connect_timeout = config.database_connect_timeout;
    s.timeout_ms = config.database_timeout;
    s.retries = config.database_retries;
    s.django = config.database_layout == "django";
    if (s.django) {
        s.users_table = config.django_user_table;
        s.profiles_table = config.django_profile_table;
        s.location_prefix = config.django_media_location + "/";
    }
    return s;
}

PostgresDatabase::PostgresDatabase(PostgresSettings settings) : settings_(std::move(settings)) {
    journal_table_ = settings_.django ? "talentd_storage_journal" : "storage_journal";
    sql_version_ = "SELECT obj_description(to_regclass($1), 'pg_class')";
    auto sql = [&](const char* text) {
        std::string s = replace_all(text, "{users}", quote_name(settings_.users_table));
        s = replace_all(s, "{profiles}", quote_name(settings_.profiles_table));
        return replace_all(s, "{journal}", quote_name(journal_table_));
    };
    // Columns: u.id, email, first_name, last_name, is_active, is_talent,
    //          p.id, profile_picture, aboutyou, city, country, gender, date_of_birth, phone, is_verified, account_type
    const char* profile_columns =
        "id, profile_picture, aboutyou, city, country, gender, to_char(date_of_birth, 'YYYY-MM-DD') AS "
        "date_of_birth, phone, is_verified, account_type";
    const std::string account_columns =
        "u.id, u.email, u.first_name, u.last_name, u.is_active, u.is_talent, p.id, p.profile_picture, p.aboutyou, "
        "p.city, p.country, p.gender, p.date_of_birth, p.phone, p.is_verified, p.account_type";
    // Django's get_or_create, in the same statement as the read: every NOT
    // NULL column filled as Django's model defaults would ('' blanks, no
    // picture as '', not verified, free, both timestamps now).  The row a
    // data-modifying CTE inserts is invisible to the rest of the statement,
    // hence the UNION with what it returns.
    sql_load_account_ = sql((std::string(R"sql(
WITH u AS (
    SELECT id, email, first_name, last_name, is_active, is_talent FROM {users} WHERE id = $1
), made AS (
    INSERT INTO {profiles} (profile_picture, aboutyou, city, country, gender, phone, is_verified, account_type,
                            created_at, updated_at, user_id)
    SELECT '', '', '', '', '', '', false, 'free', now(), now(), u.id FROM u
    WHERE u.is_talent AND u.is_active AND NOT EXISTS (SELECT 1 FROM {profiles} x WHERE x.user_id = u.id)
    ON CONFLICT (user_id) DO NOTHING
    RETURNING )sql") + profile_columns + R"sql(
)
SELECT )sql" + account_columns + R"sql(
FROM u LEFT JOIN LATERAL (
    SELECT )sql" + profile_columns + R"sql( FROM {profiles} WHERE user_id = u.id
    UNION ALL SELECT * FROM made
) p ON true)sql").c_str());
    // The common case, a user whose profile exists: a plain two-table read,
    // which PostgreSQL plans in a fraction of the CTE's time (every
    // statement is planned anew: unnamed statements, for PgBouncer).
    sql_read_account_ = sql((std::string("SELECT ") + account_columns + " FROM {users} u LEFT JOIN (SELECT user_id, " +
                             profile_columns + " FROM {profiles}) p ON p.user_id = u.id WHERE u.id = $1")
                                .c_str());
    sql_list_users_ = sql((std::string("SELECT ") + account_columns + " FROM {users} u LEFT JOIN (SELECT user_id, " +
                           profile_columns + " FROM {profiles}) p ON p.user_id = u.id ORDER BY u.id")
                              .c_str());
    sql_insert_user_ = sql(
        "INSERT INTO {users} (id, email, first_name, last_name, is_active, is_talent) VALUES ($1, $2, $3, $4, $5, $6)");
    sql_ensure_profile_ = sql(
        "INSERT INTO {profiles} (profile_picture, aboutyou, city, country, gender, phone, is_verified, account_type, "
        "created_at, updated_at, user_id) VALUES (NULL, '', '', '', '', '', false, 'free', now(), now(), $1) "
        "ON CONFLICT (user_id) DO NOTHING");
    sql_update_user_ = sql(
        "UPDATE {users} SET email = $1, first_name = $2, last_name = $3, is_active = $4, is_talent = $5 WHERE id = $6");
    sql_update_names_ = sql("UPDATE {users} SET first_name = $1, last_name = $2 WHERE id = $3");
    // An update that keeps the picture journals nothing and needs no lock:
    // names and profile in one statement, atomic by itself, one round trip.
    sql_update_keep_picture_ = sql(
        "WITH names AS (UPDATE {users} SET first_name = $1, last_name = $2 WHERE id = $3 "
        "AND EXISTS (SELECT 1 FROM {profiles} WHERE user_id = $3)) "
        "UPDATE {profiles} SET aboutyou = $4, city = $5, country = $6, gender = $7, date_of_birth = $8::date, "
        "phone = $9, updated_at = now() WHERE user_id = $3");
    sql_lock_profile_ = sql("SELECT profile_picture FROM {profiles} WHERE user_id = $1 FOR UPDATE");
    sql_update_profile_ = sql(
        "UPDATE {profiles} SET aboutyou = $1, city = $2, country = $3, gender = $4, date_of_birth = $5::date, "
        "phone = $6, updated_at = now() WHERE user_id = $7");
    sql_update_profile_picture_ = sql(
        "UPDATE {profiles} SET aboutyou = $1, city = $2, country = $3, gender = $4, date_of_birth = $5::date, "
        "phone = $6, profile_picture = $7, updated_at = now() WHERE user_id = $8");
    sql_is_referenced_ = sql("SELECT 1 FROM {profiles} WHERE profile_picture = $1 LIMIT 1");
    sql_referenced_keys_ = sql(
        "SELECT profile_picture FROM {profiles} WHERE profile_picture IS NOT NULL AND profile_picture <> '' "
        "ORDER BY profile_picture");
    const char* journal_columns = "key, state, user_id, created_at, attempts, next_attempt_at, last_error";
    sql_journal_pending_ = sql(
        "INSERT INTO {journal} (key, state, user_id, created_at, next_attempt_at) VALUES ($1, 'pending', $2, $3, $3)");
    sql_drop_pending_ = sql("DELETE FROM {journal} WHERE key = $1 AND state = 'pending'");
    sql_journal_remove_ = sql(
        "INSERT INTO {journal} (key, state, user_id, created_at, next_attempt_at) VALUES ($1, 'remove', $2, $3, $3) "
        "ON CONFLICT (key) DO UPDATE SET state = 'remove', next_attempt_at = excluded.next_attempt_at");
    sql_journal_summary_ = sql("SELECT state, count(*), min(created_at) FROM {journal} GROUP BY state");
    sql_journal_all_ = sql((std::string("SELECT ") + journal_columns + " FROM {journal} ORDER BY created_at, key").c_str());
    sql_journal_due_ = sql((std::string("SELECT ") + journal_columns +
                            " FROM {journal} WHERE ((state = 'remove' AND next_attempt_at <= $1) "
                            "OR (state = 'pending' AND created_at <= $2)) "
                            "AND (created_at > $3 OR (created_at = $3 AND key > $4)) "
                            "ORDER BY created_at, key LIMIT $5")
                               .c_str());
    sql_journal_take_ = sql((std::string("SELECT ") + journal_columns +
                             " FROM {journal} WHERE key = $1 AND ((state = 'remove' AND next_attempt_at <= $2) "
                             "OR (state = 'pending' AND created_at <= $3)) FOR UPDATE SKIP LOCKED")
                                .c_str());
    sql_claim_pending_ = sql(
        "UPDATE {journal} SET state = 'remove', next_attempt_at = $1 WHERE key = $2 AND state = 'pending'");
    sql_journal_done_ = sql("DELETE FROM {journal} WHERE key = $1 AND state = 'remove'");
    sql_journal_retry_ = sql(
        "UPDATE {journal} SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE key = $3");
}

PostgresDatabase::~PostgresDatabase() { disconnect(); }

void PostgresDatabase::disconnect() {
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
    holding_ = false;
}

bool PostgresDatabase::connect(std::string* why) {
    disconnect();
    // Driven with PQconnectPoll under our own deadline, not libpq's
    // connect_timeout: that one waits at least 2 s (1 is read as 2) and
    // applies to each address anew.  A server that takes the connection and
    // never answers (stopped, swapping) costs at most connect_timeout.
    std::vector<const char*> keys = {"dbname", "fallback_application_name"};
    std::vector<const char*> values = {settings_.conninfo.c_str(), "talentd"};
    if (!settings_.password.empty()) {
        keys.push_back("password");
        values.push_back(settings_.password.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    auto failed = [&](const std::string& message) {
        disconnect();
        failure_ = Failure::Unavailable;
        return set_why(why, "database: cannot connect: " + message);
    };
    conn_ = PQconnectStartParams(keys.data(), values.data(), 1);
    if (!conn_) return failed("out of memory");
    if (PQstatus(conn_) == CONNECTION_BAD) return failed(one_line(PQerrorMessage(conn_)));
    const double deadline = now_ms() + settings_.connect_timeout * 1000.0;
    for (PostgresPollingStatusType state = PGRES_POLLING_WRITING; state != PGRES_POLLING_OK;) {
        if (state == PGRES_POLLING_FAILED) return failed(one_line(PQerrorMessage(conn_)));
        const double left = deadline - now_ms();
        if (left <= 0)
            return failed("no answer within " + std::to_string(settings_.connect_timeout) + " s");
        // The socket may change from one call to the next (another address).
        pollfd pfd{PQsocket(conn_), static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
        const int n = poll(&pfd, 1, static_cast<int>(left) + 1);
        if (n < 0 && errno != EINTR) return failed("poll failed");
        if (n > 0) state = PQconnectPoll(conn_);
    }
    PQsetNoticeProcessor(conn_, on_notice, nullptr);
    if (PQsetnonblocking(conn_, 1) != 0) {
        std::string message = one_line(PQerrorMessage(conn_));
        disconnect();
        failure_ = Failure::Error;
        return set_why(why, "database: " + message);
    }
    return true;
}

std::unique_ptr<PostgresDatabase::Result> PostgresDatabase::run(const std::string& sql, const Params& params,
                                                                std::string* why) {
    const bool reused = conn_ != nullptr;
    const bool first = statements_in_unit_++ == 0;
    if (!conn_ && !connect(why)) return nullptr;
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);

    // The connection is lost (or past its deadline): drop it; the server
    // rolls back whatever it had not committed.
    auto lost = [&](const std::string& what) -> std::unique_ptr<Result> {
        std::string message = what.empty() ? one_line(PQerrorMessage(conn_)) : what;
        disconnect();
        failure_ = Failure::Unavailable;
        stale_ = reused && first && what.empty();
        set_why(why, "database: " + message);
        return nullptr;
    };
    const double deadline = now_ms() + settings_.timeout_ms;
    auto wait = [&](short events) -> int {   // 1 ready, 0 deadline passed, -1 error
        for (;;) {
            const double left = deadline - now_ms();
            if (left <= 0) return 0;
            pollfd pfd{PQsocket(conn_), events, 0};
            int n = poll(&pfd, 1, static_cast<int>(left) + 1);
            if (n > 0) return 1;
            if (n == 0) continue;
            if (errno != EINTR) return -1;
        }
    };
    const std::string timeout = "no answer within " + std::to_string(settings_.timeout_ms) + " ms";
    // Without parameters the simple protocol: one message, and migrations
    // may hold several statements.  With them an unnamed statement.
    const int sent = params.empty() ? PQsendQuery(conn_, sql.c_str())
                                    : PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                                        values.data(), nullptr, nullptr, 0);
    if (!sent) return lost("");
    for (;;) {
        int flushed = PQflush(conn_);
        if (flushed == 0) break;
        if (flushed < 0) return lost("");
        int w = wait(POLLOUT | POLLIN);
        if (w == 0) return lost(timeout);
        if (w < 0) return lost("poll failed");
        if (!PQconsumeInput(conn_)) return lost("");
    }
    PGresult* result = nullptr;
    for (;;) {
        while (PQisBusy(conn_)) {
            int w = wait(POLLIN);
            if (w == 0) {
                PQclear(result);
                return lost(timeout);
            }
            if (w < 0 || !PQconsumeInput(conn_)) {
                PQclear(result);
                return lost(w < 0 ? "poll failed" : "");
            }
        }
        PGresult* next = PQgetResult(conn_);
        if (!next) break;
        // Several statements give several results: the first error, else the last.
        const ExecStatusType kept = result ? PQresultStatus(result) : PGRES_COMMAND_OK;
        if (result && kept != PGRES_COMMAND_OK && kept != PGRES_TUPLES_OK) {
            PQclear(next);
        } else {
            PQclear(result);
            result = next;
        }
    }
    if (!result) return lost("");
    const ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return std::make_unique<Result>(result);
    const char* state_field = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    const std::string state = state_field ? state_field : "";
    std::string message = one_line(PQresultErrorMessage(result));
    PQclear(result);
    if (PQstatus(conn_) == CONNECTION_BAD) {
        disconnect();
        failure_ = Failure::Unavailable;
        stale_ = reused && first;
        set_why(why, "database: " + message);
        return nullptr;
    }
    retryable_ = state == "40001" || state == "40P01";
    failure_ = unavailable_state(state) ? Failure::Unavailable : Failure::Error;
    set_why(why, "database: " + message + (state.empty() ? "" : " (SQLSTATE " + state + ")"));
    return nullptr;
}

bool PostgresDatabase::run_command(const std::string& sql, const Params& params, std::string* why, long* affected) {
    auto r = run(sql, params, why);
    if (!r) return false;
    if (affected) *affected = r->affected();
    return true;
}

bool PostgresDatabase::unit(bool transaction, const std::function<bool()>& body, std::string* why) {
    // Within a reaper's hold (or a unit already running) the statements join
    // the open transaction, and the caller owns its fate.
    if (holding_ || in_unit_) return body();
    for (int attempt = 0;; ++attempt) {
        in_unit_ = true;
        statements_in_unit_ = 0;
        retryable_ = stale_ = false;
        bool ok = true;
        if (transaction) ok = run_command("BEGIN", {}, why);
        if (ok) ok = body();
        if (ok && transaction) ok = run_command("COMMIT", {}, why);
        in_unit_ = false;
        if (ok) return true;
        if (transaction && conn_) {
            std::string ignored;
            in_unit_ = true;
            if (!run_command("ROLLBACK", {}, &ignored)) disconnect();
            in_unit_ = false;
        }
        if (stale_ && attempt == 0) {
            LOG_INFO("database: connection lost since the last request, reconnecting");
            continue;
        }
        if (retryable_ && attempt < settings_.retries) {
            // "database: … (SQLSTATE 40P01): rolled back, retry 1 of 3"
            LOG_WARN("%s: rolled back, retry %d of %d",
                     why && !why->empty() ? why->c_str() : "database: serialization failure or deadlock", attempt + 1,
                     settings_.retries);
            // 1 ms plus up to 4, 8, … 256 ms of jitter (the shift capped: retries may be 100).
            usleep(static_cast<useconds_t>(1000 + std::rand() % (4000 << std::min(attempt, 6))));
            continue;
        }
        if (retryable_ && settings_.retries > 0)
            LOG_WARN("database: still failing after %d retries: giving up", settings_.retries);
        return false;
    }
}

// --- schema ---------------------------------------------------------------------------

int PostgresDatabase::expected_schema_version() const { return settings_.django ? kDjangoLatest : kTalentdLatest; }

int PostgresDatabase::schema_version() {
    int version = -1;
    std::string why;
    unit(false, [&] {
        auto r = run(sql_version_, {journal_table_}, &why);
        if (!r) return false;
        version = parse_version(*r);
        return true;
    }, &why);
    if (version < 0) LOG_DEBUG("schema version: %s", why.c_str());
    return version;
}

bool PostgresDatabase::migrate(int* applied, std::string* why) {
    const char* const* migrations = settings_.django ? kDjangoMigrations : kTalentdMigrations;
    const int latest = expected_schema_version();
    int count = 0;
    bool ok = unit(true, [&] {
        count = 0;
        if (!run_command(kInitLock, {}, why)) return false;
        auto r = run(sql_version_, {journal_table_}, why);
        if (!r) return false;
        const int version = parse_version(*r);
        if (version > latest) {
            failure_ = Failure::Error;
            return set_why(why, "database schema version " + std::to_string(version) + " is newer than this talentd (" +
                                    std::to_string(latest) + ")");
        }
        for (int v = version; v < latest; ++v, ++count)
            if (!run_command(migrations[v], {}, why)) return false;
        if (!run_command("COMMENT ON TABLE " + quote_name(journal_table_) + " IS '" + kVersionComment +
                             std::to_string(latest) + "'",
                         {}, why))
            return false;
        if (!settings_.django) return true;
        // Django's tables must be there, with the columns talentd uses.
        std::string check = replace_all(
            replace_all("SELECT u.id, u.email, u.first_name, u.last_name, u.is_active, u.is_talent, p.id, p.user_id, "
                        "p.profile_picture, p.aboutyou, p.city, p.country, p.gender, p.date_of_birth, p.phone, "
                        "p.is_verified, p.account_type, p.created_at, p.updated_at FROM {users} u JOIN {profiles} p "
                        "ON p.user_id = u.id LIMIT 0",
                        "{users}", quote_name(settings_.users_table)),
            "{profiles}", quote_name(settings_.profiles_table));
        std::string check_why;
        if (!run_command(check, {}, &check_why)) {
            failure_ = Failure::Error;
            return set_why(why, "Django's tables " + settings_.users_table + " and " + settings_.profiles_table +
                                    " are not as talentd expects (" + check_why +
                                    "): check django_user_table and django_profile_table");
        }
        return true;
    }, why);
    if (ok && applied) *applied = count;
    return ok;
}

// --- pictures: key <-> what the layout stores --------------------------------------------------

std::string PostgresDatabase::stored_name(const std::string& key) const {
    if (settings_.location_prefix.empty()) return key;
    if (key.compare(0, settings_.location_prefix.size(), settings_.location_prefix) != 0) return key;
    return key.substr(settings_.location_prefix.size());
}

std::optional<std::string> PostgresDatabase::key_of(const char* stored) const {
    if (!stored || !*stored) return std::nullopt;
    return settings_.location_prefix + stored;
}

// --- users ------------------------------------------------------------------------------------

bool PostgresDatabase::read_accounts(const Result& r, std::vector<Account>* out) const {
    for (int i = 0; i < r.rows(); ++i) {
        Account a;
        a.user.id = r.integer(i, 0);
        a.user.email = r.str(i, 1);
        a.user.first_name = r.str(i, 2);
        a.user.last_name = r.str(i, 3);
        a.user.is_active = r.boolean(i, 4);
        a.user.is_talent = r.boolean(i, 5);
        if (!r.null(i, 6)) {
            Profile p;
            p.id = r.integer(i, 6);
            p.user_id = a.user.id;
            p.picture_key = key_of(r.null(i, 7) ? nullptr : r.text(i, 7));
            p.aboutyou = r.str(i, 8);
            p.city = r.str(i, 9);
            p.country = r.str(i, 10);
            p.gender = r.str(i, 11);
            p.date_of_birth = r.opt(i, 12);
            p.phone = r.str(i, 13);
            p.is_verified = r.boolean(i, 14);
            p.account_type = r.str(i, 15);
            a.profile = std::move(p);
        }
        out->push_back(std::move(a));
    }
    return true;
}

std::optional<Account> PostgresDatabase::load_account(int64_t user_id, std::string* why) {
    std::vector<Account> found;
    if (why) why->clear();
    bool ok = unit(false, [&] {
        found.clear();
        {
            auto r = run(sql_read_account_, {std::to_string(user_id)}, why);
            if (!r) return false;
            read_accounts(*r, &found);
            if (found.empty() || found[0].profile || !found[0].user.is_talent || !found[0].user.is_active) return true;
        }
        for (int pass = 0; pass < 2; ++pass) {
            found.clear();
            auto r = run(sql_load_account_, {std::to_string(user_id)}, why);
            if (!r) return false;
            read_accounts(*r, &found);
            // Another request created the profile between this statement's
            // snapshot and its insert: the second pass sees it.
            if (found.empty() || found[0].profile || !found[0].user.is_talent || !found[0].user.is_active) break;
        }
        return true;
    }, why);
    if (!ok || found.empty()) {
        if (ok && why) why->clear();
        return std::nullopt;
    }
    return std::move(found[0]);
}

namespace {
const char* flag(bool b) { return b ? "true" : "false"; }
}  // namespace

bool PostgresDatabase::add_user(const User& u, std::string* why) { return import_users({u}, why); }

bool PostgresDatabase::update_user(const User& u, std::string* why) {
    if (!manages_users()) return failure_ = Failure::Error, set_why(why, "users belong to Django in this layout");
    return unit(true, [&] {
        long affected = 0;
        if (!run_command(sql_update_user_,
                         {u.email, u.first_name, u.last_name, std::string(flag(u.is_active)),
                          std::string(flag(u.is_talent)), std::to_string(u.id)},
                         why, &affected))
            return false;
        if (affected == 0) return failure_ = Failure::Error, set_why(why, "no user " + std::to_string(u.id));
        return !u.is_talent || run_command(sql_ensure_profile_, {std::to_string(u.id)}, why);
    }, why);
}

bool PostgresDatabase::list_users(std::vector<Account>* out, std::string* why) {
    return unit(false, [&] {
        out->clear();
        auto r = run(sql_list_users_, {}, why);
        return r && read_accounts(*r, out);
    }, why);
}

bool PostgresDatabase::import_users(const std::vector<User>& users, std::string* why) {
    if (!manages_users()) return failure_ = Failure::Error, set_why(why, "users belong to Django in this layout");
    return unit(true, [&] {
        for (const User& u : users) {
            std::string inner;
            if (!run_command(sql_insert_user_,
                             {std::to_string(u.id), u.email, u.first_name, u.last_name, std::string(flag(u.is_active)),
                              std::string(flag(u.is_talent))},
                             &inner))
                return set_why(why, "user " + std::to_string(u.id) + ": " + inner);
            if (u.is_talent && !run_command(sql_ensure_profile_, {std::to_string(u.id)}, why)) return false;
        }
        return true;
    }, why);
}

// --- profile updates ------------------------------------------------------------------------------

bool PostgresDatabase::journal_pending(const std::string& key, int64_t user_id, int64_t now, std::string* why) {
    return unit(false, [&] {
        return run_command(sql_journal_pending_, {key, std::to_string(user_id), std::to_string(now)}, why);
    }, why);
}

CommitResult PostgresDatabase::commit_update(const User& u, const Profile& p, const PictureUpdate& picture, int64_t now,
                                             std::optional<std::string>* old_key, std::string* why) {
    CommitResult result = CommitResult::Error;
    const std::string id = std::to_string(u.id);
    if (picture.kind == PictureUpdate::Kind::Keep) {
        old_key->reset();
        long updated = 0;
        bool ok = unit(false, [&] {
            return run_command(sql_update_keep_picture_,
                               {u.first_name, u.last_name, id, p.aboutyou, p.city, p.country, p.gender, p.date_of_birth,
                                p.phone},
                               why, &updated);
        }, why);
        if (!ok) return CommitResult::Error;
        return updated == 1 ? CommitResult::Committed : CommitResult::NoProfile;
    }
    bool ok = unit(true, [&] {
        old_key->reset();
        result = CommitResult::Error;
        // The profile row locked: concurrent updates of one user, on any
        // host, run one after the other, and each journals the key it
        // really replaces.
        auto current_row = run(sql_lock_profile_, {id}, why);
        if (!current_row) return false;
        if (current_row->rows() == 0) {
            result = CommitResult::NoProfile;
            return false;
        }
        std::optional<std::string> current = key_of(current_row->null(0, 0) ? nullptr : current_row->text(0, 0));
        if (picture.kind == PictureUpdate::Kind::Replace) {
            long dropped = 0;
            if (!run_command(sql_drop_pending_, {picture.new_key}, why, &dropped)) return false;
            if (dropped != 1) {
                result = CommitResult::PendingLost;
                return false;
            }
        }
        if (!run_command(sql_update_names_, {u.first_name, u.last_name, id}, why)) return false;
        const bool change_picture = picture.kind != PictureUpdate::Kind::Keep;
        Params params = {p.aboutyou, p.city, p.country, p.gender, p.date_of_birth, p.phone};
        if (change_picture) {
            if (picture.kind == PictureUpdate::Kind::Replace) params.push_back(stored_name(picture.new_key));
            else if (settings_.django) params.push_back(std::string());   // Django's "no file"
            else params.push_back(std::nullopt);
        }
        params.push_back(id);
        if (!run_command(change_picture ? sql_update_profile_picture_ : sql_update_profile_, params, why)) return false;
        if (change_picture && current && !(picture.kind == PictureUpdate::Kind::Replace && *current == picture.new_key)) {
            if (!run_command(sql_journal_remove_, {*current, id, std::to_string(now)}, why)) return false;
            *old_key = current;
        }
        return true;
    }, why);
    if (ok) return CommitResult::Committed;
    old_key->reset();
    return result;
}

// --- the journal -------------------------------------------------------------------------------------

namespace {
JournalEntry journal_row(const PostgresDatabase::Result& r, int i);
}

bool PostgresDatabase::journal_entries(std::vector<JournalEntry>* out, std::string* why) {
    return unit(false, [&] {
        out->clear();
        auto r = run(sql_journal_all_, {}, why);
        if (!r) return false;
        for (int i = 0; i < r->rows(); ++i) out->push_back(journal_row(*r, i));
        return true;
    }, why);
}

bool PostgresDatabase::journal_summary(JournalSummary* out, std::string* why) {
    return unit(false, [&] {
        *out = JournalSummary{};
        auto r = run(sql_journal_summary_, {}, why);
        if (!r) return false;
        for (int i = 0; i < r->rows(); ++i) {
            const std::string state = r->str(i, 0);
            if (state == "pending") {
                out->pending = r->integer(i, 1);
                out->oldest_pending = r->integer(i, 2);
            } else if (state == "remove") {
                out->remove = r->integer(i, 1);
                out->oldest_remove = r->integer(i, 2);
            }
        }
        return true;
    }, why);
}

bool PostgresDatabase::due_entries(int64_t now, int64_t pending_before, const JournalCursor& after, int64_t limit,
                                   std::vector<JournalEntry>* out, std::string* why) {
    return unit(false, [&] {
        out->clear();
        auto r = run(sql_journal_due_,
                     {std::to_string(now), std::to_string(pending_before), std::to_string(after.created_at),
                      after.key, std::to_string(limit)},
                     why);
        if (!r) return false;
        for (int i = 0; i < r->rows(); ++i) out->push_back(journal_row(*r, i));
        return true;
    }, why);
}

bool PostgresDatabase::take_entry(const std::string& key, int64_t now, int64_t pending_before, JournalEntry* entry,
                                  bool* taken, std::string* why) {
    *taken = false;
    if (holding_ && !release_entry(why)) return false;
    statements_in_unit_ = 0;
    in_unit_ = true;
    bool ok = run_command("BEGIN", {}, why);
    std::unique_ptr<Result> r;
    if (ok) r = run(sql_journal_take_, {key, std::to_string(now), std::to_string(pending_before)}, why);
    in_unit_ = false;
    if (!r) {
        if (conn_) {
            std::string ignored;
            if (!run_command("ROLLBACK", {}, &ignored)) disconnect();
        }
        return false;
    }
    if (r->rows() == 0) {
        // Done meanwhile, or another reaper holds it.
        std::string ignored;
        if (!run_command("ROLLBACK", {}, &ignored)) disconnect();
        return true;
    }
    *entry = journal_row(*r, 0);
    holding_ = *taken = true;
    return true;
}

bool PostgresDatabase::release_entry(std::string* why) {
    if (!holding_) return true;
    holding_ = false;
    in_unit_ = true;
    bool ok = run_command("COMMIT", {}, why);
    in_unit_ = false;
    return ok;
}

bool PostgresDatabase::claim_pending(const std::string& key, int64_t now, bool* claimed, std::string* why) {
    return unit(false, [&] {
        long affected = 0;
        if (!run_command(sql_claim_pending_, {std::to_string(now), key}, why, &affected)) return false;
        *claimed = affected == 1;
        return true;
    }, why);
}

bool PostgresDatabase::journal_remove(const std::string& key, int64_t user_id, int64_t now, std::string* why) {
    return unit(false, [&] {
        return run_command(sql_journal_remove_, {key, std::to_string(user_id), std::to_string(now)}, why);
    }, why);
}

bool PostgresDatabase::journal_done(const std::string& key, std::string* why) {
    return unit(false, [&] { return run_command(sql_journal_done_, {key}, why); }, why);
}

bool PostgresDatabase::journal_drop_pending(const std::string& key, std::string* why) {
    return unit(false, [&] { return run_command(sql_drop_pending_, {key}, why); }, why);
}

bool PostgresDatabase::journal_retry_later(const std::string& key, int64_t next_attempt_at, const std::string& error,
                                           std::string* why) {
    return unit(false, [&] {
        return run_command(sql_journal_retry_, {std::to_string(next_attempt_at), error, key}, why);
    }, why);
}

bool PostgresDatabase::is_referenced(const std::string& key, bool* referenced, std::string* why) {
    if (!settings_.location_prefix.empty() &&
        key.compare(0, settings_.location_prefix.size(), settings_.location_prefix) != 0) {
        *referenced = false;   // outside Django's storage location: no name can point at it
        return true;
    }
    return unit(false, [&] {
        auto r = run(sql_is_referenced_, {stored_name(key)}, why);
        if (!r) return false;
        *referenced = r->rows() > 0;
        return true;
    }, why);
}

bool PostgresDatabase::referenced_keys(std::vector<std::string>* out, std::string* why) {
    return unit(false, [&] {
        out->clear();
        auto r = run(sql_referenced_keys_, {}, why);
        if (!r) return false;
        for (int i = 0; i < r->rows(); ++i) out->push_back(*key_of(r->text(i, 0)));
        return true;
    }, why);
}

bool PostgresDatabase::ping(std::string* why) {
    return unit(false, [&] { return run("SELECT 1", {}, why) != nullptr; }, why);
}

namespace {
JournalEntry journal_row(const PostgresDatabase::Result& r, int i) {
    JournalEntry e;
    e.key = r.str(i, 0);
    e.state = r.str(i, 1);
    e.user_id = r.integer(i, 2);
    e.created_at = r.integer(i, 3);
    e.attempts = static_cast<int>(r.integer(i, 4));
    e.next_attempt_at = r.integer(i, 5);
    e.last_error = r.str(i, 6);
    return e;
}
}  // namespace

}  // namespace talentd::db
