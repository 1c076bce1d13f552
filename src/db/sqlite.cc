#include "db/sqlite.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>

namespace talentd::db {
namespace {

// Forward migrations; version N is the state after applying migrations[0..N-1].
const char* const kMigrations[] = {
    // 1: users, talent profiles, the storage journal.
    R"sql(
CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    email       TEXT    NOT NULL UNIQUE,
    first_name  TEXT    NOT NULL DEFAULT '',
    last_name   TEXT    NOT NULL DEFAULT '',
    is_active   INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    is_talent   INTEGER NOT NULL DEFAULT 0 CHECK (is_talent IN (0, 1))
);
CREATE TABLE talent_profiles (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    profile_picture TEXT,
    aboutyou        TEXT    NOT NULL DEFAULT '',
    city            TEXT    NOT NULL DEFAULT '',
    country         TEXT    NOT NULL DEFAULT '',
    gender          TEXT    NOT NULL DEFAULT '',
    date_of_birth   TEXT,
    phone           TEXT    NOT NULL DEFAULT '',
    is_verified     INTEGER NOT NULL DEFAULT 0 CHECK (is_verified IN (0, 1)),
    account_type    TEXT    NOT NULL DEFAULT 'free'
);
CREATE INDEX talent_profiles_picture ON talent_profiles(profile_picture)
    WHERE profile_picture IS NOT NULL;
CREATE TABLE storage_journal (
    key             TEXT    PRIMARY KEY,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'remove')),
    user_id         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX storage_journal_due ON storage_journal(state, next_attempt_at);
)sql",
};

constexpr int kLatest = sizeof kMigrations / sizeof kMigrations[0];

// Statement ids of the cache.
enum Stmt {
    kLoadAccount,
    kInsertUser,
    kInsertProfile,
    kUpdateUser,
    kUpdateNames,
    kListUsers,
    kJournalPending,
    kCurrentPicture,
    kUpdateProfile,
    kUpdateProfileWithPicture,
    kJournalRemove,
    kDropPending,
    kJournalAll,
    kJournalDue,
    kClaimPending,
    kJournalDone,
    kJournalRetry,
    kIsReferenced,
    kReferencedKeys,
    kUserIsTalent,
    kJournalTake,
    kJournalSummary,
    kCount
};

// Resets a cached statement when the step that used it ends, whatever path it takes.
class Use {
public:
    explicit Use(sqlite3_stmt* s) : s_(s) {}
    ~Use() {
        if (s_) {
            sqlite3_reset(s_);
            sqlite3_clear_bindings(s_);
        }
    }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    sqlite3_stmt* get() const { return s_; }
    explicit operator bool() const { return s_ != nullptr; }

private:
    sqlite3_stmt* s_;
};

void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
void bind_optional(sqlite3_stmt* s, int i, const std::optional<std::string>& v) {
    if (v) bind_text(s, i, *v);
    else sqlite3_bind_null(s, i);
}
// email, first_name, last_name, is_active, is_talent from parameter `first` on.
void bind_user_columns(sqlite3_stmt* s, int first, const User& u) {
    bind_text(s, first, u.email);
    bind_text(s, first + 1, u.first_name);
    bind_text(s, first + 2, u.last_name);
    sqlite3_bind_int(s, first + 3, u.is_active);
    sqlite3_bind_int(s, first + 4, u.is_talent);
}

std::string column_text(sqlite3_stmt* s, int i) {
    const unsigned char* t = sqlite3_column_text(s, i);
    return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s, i)) : std::string();
}
std::optional<std::string> column_optional(sqlite3_stmt* s, int i) {
    if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
    return column_text(s, i);
}

// Columns: u.id, email, first_name, last_name, is_active, is_talent,
//          p.id, profile_picture, aboutyou, city, country, gender, date_of_birth, phone, is_verified, account_type
constexpr const char* kAccountColumns =
    "u.id, u.email, u.first_name, u.last_name, u.is_active, u.is_talent, "
    "p.id, p.profile_picture, p.aboutyou, p.city, p.country, p.gender, p.date_of_birth, p.phone, "
    "p.is_verified, p.account_type";

Account read_account(sqlite3_stmt* s) {
    Account a;
    a.user.id = sqlite3_column_int64(s, 0);
    a.user.email = column_text(s, 1);
    a.user.first_name = column_text(s, 2);
    a.user.last_name = column_text(s, 3);
    a.user.is_active = sqlite3_column_int(s, 4) != 0;
    a.user.is_talent = sqlite3_column_int(s, 5) != 0;
    if (sqlite3_column_type(s, 6) != SQLITE_NULL) {
        Profile p;
        p.id = sqlite3_column_int64(s, 6);
        p.user_id = a.user.id;
        p.picture_key = column_optional(s, 7);
        p.aboutyou = column_text(s, 8);
        p.city = column_text(s, 9);
        p.country = column_text(s, 10);
        p.gender = column_text(s, 11);
        p.date_of_birth = column_optional(s, 12);
        p.phone = column_text(s, 13);
        p.is_verified = sqlite3_column_int(s, 14) != 0;
        p.account_type = column_text(s, 15);
        a.profile = std::move(p);
    }
    return a;
}

JournalEntry read_journal(sqlite3_stmt* s) {
    JournalEntry e;
    e.key = column_text(s, 0);
    e.state = column_text(s, 1);
    e.user_id = sqlite3_column_int64(s, 2);
    e.created_at = sqlite3_column_int64(s, 3);
    e.attempts = sqlite3_column_int(s, 4);
    e.next_attempt_at = sqlite3_column_int64(s, 5);
    e.last_error = column_text(s, 6);
    return e;
}

bool set_why(std::string* why, std::string message) {
    if (why) *why = std::move(message);
    return false;
}

constexpr const char* kJournalColumns = "key, state, user_id, created_at, attempts, next_attempt_at, last_error";

// Makes the commits in its scope durable on return (fsync of the WAL), for
// the steps of the picture protocol whose order must survive a power cut:
// the pending row before the PUT, the new key before the old object's
// delete.  Plain field updates keep synchronous=NORMAL: in WAL mode they
// survive a crash of talentd, and a power cut can only lose the latest.
class Durable {
public:
    explicit Durable(sqlite3* db, bool on = true) : db_(on ? db : nullptr) {
        if (db_) sqlite3_exec(db_, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
    }
    ~Durable() {
        if (db_) sqlite3_exec(db_, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
    }
    Durable(const Durable&) = delete;
    Durable& operator=(const Durable&) = delete;

private:
    sqlite3* db_;
};

// Rolls back on scope exit unless committed.
class Transaction {
public:
    Transaction(sqlite3* db, const char* begin) : db_(db) {
        active_ = sqlite3_exec(db_, begin, nullptr, nullptr, nullptr) == SQLITE_OK;
    }
    ~Transaction() {
        if (active_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    bool started() const { return active_; }
    bool commit() {
        if (!active_) return false;
        active_ = false;
        if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK) return true;
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return false;
    }

private:
    sqlite3* db_;
    bool active_;
};

}  // namespace

SqliteDatabase::SqliteDatabase(sqlite3* handle) : db_(handle), statements_(kCount, nullptr) {}

SqliteDatabase::~SqliteDatabase() {
    for (sqlite3_stmt* s : statements_) sqlite3_finalize(s);
    sqlite3_close_v2(db_);
}

std::unique_ptr<SqliteDatabase> SqliteDatabase::open(const std::string& path, int busy_timeout_ms, std::string* why) {
    sqlite3* handle = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
        if (why) *why = "cannot open database " + path + ": " + (handle ? sqlite3_errmsg(handle) : sqlite3_errstr(rc));
        sqlite3_close_v2(handle);
        return nullptr;
    }
    std::unique_ptr<SqliteDatabase> db(new SqliteDatabase(handle));
    db->busy_timeout_ms_ = busy_timeout_ms;
    sqlite3_busy_handler(handle, &SqliteDatabase::on_busy, db.get());
    if (!db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", why)) return nullptr;
    return db;
}

// SQLite's own busy timeout sleeps 1, 2, 5 … 100 ms between retries, far
// longer than the write transactions it waits for (tens of microseconds, a
// few milliseconds when one fsyncs): short, jittered sleeps keep the tail
// latency of concurrent updates low.
int SqliteDatabase::on_busy(void* self, int attempts) {
    auto* db = static_cast<SqliteDatabase*>(self);
    if (attempts == 0) db->busy_waited_us_ = 0;
    if (db->busy_waited_us_ >= static_cast<int64_t>(db->busy_timeout_ms_) * 1000) return 0;
    const int64_t sleep_us = 50 + (std::rand() % 450);
    usleep(static_cast<useconds_t>(sleep_us));
    db->busy_waited_us_ += sleep_us;
    return 1;
}

// Busy or locked past the busy timeout is a wait the client may retry (503);
// anything else is an error of the statement or the file.
bool SqliteDatabase::fail(std::string* why) {
    const int code = sqlite3_errcode(db_) & 0xff;
    failure_ = code == SQLITE_BUSY || code == SQLITE_LOCKED ? Failure::Unavailable : Failure::Error;
    return set_why(why, std::string("database: ") + sqlite3_errmsg(db_));
}

bool SqliteDatabase::exec(const char* sql, std::string* why) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        const int code = sqlite3_errcode(db_) & 0xff;
        failure_ = code == SQLITE_BUSY || code == SQLITE_LOCKED ? Failure::Unavailable : Failure::Error;
        if (why) *why = std::string("database: ") + (err ? err : sqlite3_errmsg(db_));
        sqlite3_free(err);
        return false;
    }
    return true;
}

sqlite3_stmt* SqliteDatabase::statement(int id, const char* sql, std::string* why) {
    sqlite3_stmt*& s = statements_[id];
    if (!s && sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
        fail(why);
        s = nullptr;
    }
    return s;
}

int Database::latest_schema_version() { return kLatest; }
int SqliteDatabase::expected_schema_version() const { return kLatest; }

int SqliteDatabase::schema_version() {
    sqlite3_stmt* s = nullptr;
    int version = -1;
    if (sqlite3_prepare_v2(db_, "PRAGMA user_version", -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return version;
}

bool SqliteDatabase::migrate(int* applied, std::string* why) {
    Transaction tx(db_, "BEGIN IMMEDIATE");
    if (!tx.started()) return fail(why);
    int version = schema_version();
    if (version < 0) return set_why(why, "database: cannot read schema version");
    if (version > kLatest) {
        if (why) *why = "database schema version " + std::to_string(version) + " is newer than this talentd (" +
                        std::to_string(kLatest) + ")";
        return false;
    }
    int count = 0;
    for (int v = version; v < kLatest; ++v, ++count)
        if (!exec(kMigrations[v], why)) return false;
    std::string set_version = "PRAGMA user_version = " + std::to_string(kLatest);
    if (!exec(set_version.c_str(), why)) return false;
    if (!tx.commit()) return fail(why);
    if (applied) *applied = count;
    return true;
}

#define FAIL_DB() fail(why)

std::optional<Account> SqliteDatabase::load_account(int64_t user_id, std::string* why) {
    static const std::string sql = std::string("SELECT ") + kAccountColumns +
                                   " FROM users u LEFT JOIN talent_profiles p ON p.user_id = u.id WHERE u.id = ?";
    Use s(statement(kLoadAccount, sql.c_str(), why));
    if (!s) return std::nullopt;
    sqlite3_bind_int64(s.get(), 1, user_id);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) return read_account(s.get());
    if (rc != SQLITE_DONE) fail(why);
    else if (why) why->clear();
    return std::nullopt;
}

// The writes user administration shares; each runs inside the caller's
// transaction.
bool SqliteDatabase::insert_user_row(const User& u, std::string* why) {
    Use s(statement(kInsertUser,
                    "INSERT INTO users (id, email, first_name, last_name, is_active, is_talent) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    why));
    if (!s) return false;
    sqlite3_bind_int64(s.get(), 1, u.id);
    bind_user_columns(s.get(), 2, u);
    if (sqlite3_step(s.get()) != SQLITE_DONE)
        return set_why(why, "user " + std::to_string(u.id) + ": " + sqlite3_errmsg(db_));
    return true;
}

bool SqliteDatabase::ensure_profile_row(const User& u, std::string* why) {
    if (!u.is_talent) return true;
    Use s(statement(kInsertProfile, "INSERT OR IGNORE INTO talent_profiles (user_id) VALUES (?)", why));
    if (!s) return false;
    sqlite3_bind_int64(s.get(), 1, u.id);
    return sqlite3_step(s.get()) == SQLITE_DONE || FAIL_DB();
}

bool SqliteDatabase::add_user(const User& u, std::string* why) { return import_users({u}, why); }

bool SqliteDatabase::update_user(const User& u, std::string* why) {
    Transaction tx(db_, "BEGIN IMMEDIATE");
    if (!tx.started()) return FAIL_DB();
    {
        Use s(statement(kUpdateUser,
                        "UPDATE users SET email = ?, first_name = ?, last_name = ?, is_active = ?, is_talent = ? "
                        "WHERE id = ?",
                        why));
        if (!s) return false;
        bind_user_columns(s.get(), 1, u);
        sqlite3_bind_int64(s.get(), 6, u.id);
        if (sqlite3_step(s.get()) != SQLITE_DONE) return FAIL_DB();
        if (sqlite3_changes(db_) == 0) return set_why(why, "no user " + std::to_string(u.id));
    }
    if (!ensure_profile_row(u, why)) return false;
    return tx.commit() || FAIL_DB();
}

bool SqliteDatabase::list_users(std::vector<Account>* out, std::string* why) {
    static const std::string sql = std::string("SELECT ") + kAccountColumns +
                                   " FROM users u LEFT JOIN talent_profiles p ON p.user_id = u.id ORDER BY u.id";
    Use s(statement(kListUsers, sql.c_str(), why));
    if (!s) return false;
    out->clear();
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out->push_back(read_account(s.get()));
    return rc == SQLITE_DONE || FAIL_DB();
}

bool SqliteDatabase::import_users(const std::vector<User>& users, std::string* why) {
    Transaction tx(db_, "BEGIN IMMEDIATE");
    if (!tx.started()) return FAIL_DB();
    for (const User& u : users)
        if (!insert_user_row(u, why) || !ensure_profile_row(u, why)) return false;
    return tx.commit() || FAIL_DB();
}

bool SqliteDatabase::journal_pending(const std::string& key, int64_t user_id, int64_t now, std::string* why) {
    Durable durable(db_);
    Use s(statement(kJournalPending,
                    "INSERT INTO storage_journal (key, state, user_id, created_at, next_attempt_at) "
                    "VALUES (?, 'pending', ?, ?, ?)",
                    why));
    if (!s) return false;
    bind_text(s.get(), 1, key);
    sqlite3_bind_int64(s.get(), 2, user_id);
    sqlite3_bind_int64(s.get(), 3, now);
    sqlite3_bind_int64(s.get(), 4, now);
    return sqlite3_step(s.get()) == SQLITE_DONE || FAIL_DB();
}

CommitResult SqliteDatabase::commit_update(const User& u, const Profile& p, const PictureUpdate& picture, int64_t now,
                                     std::optional<std::string>* old_key, std::string* why) {
    old_key->reset();
    Durable durable(db_, picture.kind != PictureUpdate::Kind::Keep);
    Transaction tx(db_, "BEGIN IMMEDIATE");
    if (!tx.started()) return FAIL_DB(), CommitResult::Error;

    // The current key is read under the write lock: with concurrent uploads
    // for one user, each transaction journals the key it really replaces.
    std::optional<std::string> current;
    {
        Use s(statement(kCurrentPicture, "SELECT profile_picture FROM talent_profiles WHERE user_id = ?", why));
        if (!s) return CommitResult::Error;
        sqlite3_bind_int64(s.get(), 1, u.id);
        int rc = sqlite3_step(s.get());
        if (rc == SQLITE_DONE) return CommitResult::NoProfile;
        if (rc != SQLITE_ROW) return FAIL_DB(), CommitResult::Error;
        current = column_optional(s.get(), 0);
    }
    if (picture.kind == PictureUpdate::Kind::Replace) {
        Use s(statement(kDropPending, "DELETE FROM storage_journal WHERE key = ? AND state = 'pending'", why));
        if (!s) return CommitResult::Error;
        bind_text(s.get(), 1, picture.new_key);
        if (sqlite3_step(s.get()) != SQLITE_DONE) return FAIL_DB(), CommitResult::Error;
        if (sqlite3_changes(db_) != 1) return CommitResult::PendingLost;
    }
    {
        // Only what a profile update may change: an administrator's
        // concurrent change of email or flags is never overwritten.
        Use s(statement(kUpdateNames, "UPDATE users SET first_name = ?, last_name = ? WHERE id = ?", why));
        if (!s) return CommitResult::Error;
        bind_text(s.get(), 1, u.first_name);
        bind_text(s.get(), 2, u.last_name);
        sqlite3_bind_int64(s.get(), 3, u.id);
        if (sqlite3_step(s.get()) != SQLITE_DONE) return FAIL_DB(), CommitResult::Error;
    }
    const bool change_picture = picture.kind != PictureUpdate::Kind::Keep;
    {
        Use s(change_picture
                  ? statement(kUpdateProfileWithPicture,
                              "UPDATE talent_profiles SET aboutyou = ?, city = ?, country = ?, gender = ?, "
                              "date_of_birth = ?, phone = ?, profile_picture = ? WHERE user_id = ?",
                              why)
                  : statement(kUpdateProfile,
                              "UPDATE talent_profiles SET aboutyou = ?, city = ?, country = ?, gender = ?, "
                              "date_of_birth = ?, phone = ? WHERE user_id = ?",
                              why));
        if (!s) return CommitResult::Error;
        bind_text(s.get(), 1, p.aboutyou);
        bind_text(s.get(), 2, p.city);
        bind_text(s.get(), 3, p.country);
        bind_text(s.get(), 4, p.gender);
        bind_optional(s.get(), 5, p.date_of_birth);
        bind_text(s.get(), 6, p.phone);
        int next = 7;
        if (change_picture) {
            if (picture.kind == PictureUpdate::Kind::Replace) bind_text(s.get(), next, picture.new_key);
            else sqlite3_bind_null(s.get(), next);
            ++next;
        }
        sqlite3_bind_int64(s.get(), next, u.id);
        if (sqlite3_step(s.get()) != SQLITE_DONE) return FAIL_DB(), CommitResult::Error;
    }
    if (change_picture && current && !(picture.kind == PictureUpdate::Kind::Replace && *current == picture.new_key)) {
        if (!journal_remove(*current, u.id, now, why)) return CommitResult::Error;
        *old_key = current;
    }
    if (!tx.commit()) {
        old_key->reset();
        return FAIL_DB(), CommitResult::Error;
    }
    return CommitResult::Committed;
}

bool SqliteDatabase::journal_remove(const std::string& key, int64_t user_id, int64_t now, std::string* why) {
    Use s(statement(kJournalRemove,
                    "INSERT INTO storage_journal (key, state, user_id, created_at, next_attempt_at) "
                    "VALUES (?, 'remove', ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET state = 'remove', next_attempt_at = excluded.next_attempt_at",
                    why));
    if (!s) return false;
    bind_text(s.get(), 1, key);
    sqlite3_bind_int64(s.get(), 2, user_id);
    sqlite3_bind_int64(s.get(), 3, now);
    sqlite3_bind_int64(s.get(), 4, now);
    return sqlite3_step(s.get()) == SQLITE_DONE || FAIL_DB();
}

bool SqliteDatabase::journal_entries(std::vector<JournalEntry>* out, std::string* why) {
    static const std::string sql =
        std::string("SELECT ") + kJournalColumns + " FROM storage_journal ORDER BY created_at, key";
    Use s(statement(kJournalAll, sql.c_str(), why));
    if (!s) return false;
    out->clear();
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out->push_back(read_journal(s.get()));
    return rc == SQLITE_DONE || FAIL_DB();
}

bool SqliteDatabase::journal_summary(JournalSummary* out, std::string* why) {
    Use s(statement(kJournalSummary,
                    "SELECT state, count(*), min(created_at) FROM storage_journal GROUP BY state", why));
    if (!s) return false;
    *out = JournalSummary{};
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
        const std::string state = column_text(s.get(), 0);
        const int64_t rows = sqlite3_column_int64(s.get(), 1), oldest = sqlite3_column_int64(s.get(), 2);
        if (state == "pending") {
            out->pending = rows;
            out->oldest_pending = oldest;
        } else if (state == "remove") {
            out->remove = rows;
            out->oldest_remove = oldest;
        }
    }
    return rc == SQLITE_DONE || FAIL_DB();
}

bool SqliteDatabase::due_entries(int64_t now, int64_t pending_before, const JournalCursor& after, int64_t limit,
                                 std::vector<JournalEntry>* out, std::string* why) {
    static const std::string sql = std::string("SELECT ") + kJournalColumns +
                                   " FROM storage_journal WHERE ((state = 'remove' AND next_attempt_at <= ?1) "
                                   "OR (state = 'pending' AND created_at <= ?2)) "
                                   "AND (created_at > ?3 OR (created_at = ?3 AND key > ?4)) "
                                   "ORDER BY created_at, key LIMIT ?5";
    Use s(statement(kJournalDue, sql.c_str(), why));
    if (!s) return false;
    sqlite3_bind_int64(s.get(), 1, now);
    sqlite3_bind_int64(s.get(), 2, pending_before);
    sqlite3_bind_int64(s.get(), 3, after.created_at);
    bind_text(s.get(), 4, after.key);
    sqlite3_bind_int64(s.get(), 5, limit);
    out->clear();
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out->push_back(read_journal(s.get()));
    return rc == SQLITE_DONE || FAIL_DB();
}

// One host has one reaper at a time (the master's, or talentctl reap while
// it sleeps): a re-read tells whether the row is still due, no lock is held.
bool SqliteDatabase::take_entry(const std::string& key, int64_t now, int64_t pending_before, JournalEntry* entry,
                                bool* taken, std::string* why) {
    static const std::string sql = std::string("SELECT ") + kJournalColumns +
                                   " FROM storage_journal WHERE key = ? AND ((state = 'remove' AND next_attempt_at <= ?) "
                                   "OR (state = 'pending' AND created_at <= ?))";
    Use s(statement(kJournalTake, sql.c_str(), why));
    if (!s) return false;
    bind_text(s.get(), 1, key);
    sqlite3_bind_int64(s.get(), 2, now);
    sqlite3_bind_int64(s.get(), 3, pending_before);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) *entry = read_journal(s.get());
    else if (rc != SQLITE_DONE) return FAIL_DB();
    *taken = rc == SQLITE_ROW;
    return true;
}

bool SqliteDatabase::release_entry(std::string*) { return true; }

bool SqliteDatabase::claim_pending(const std::string& key, int64_t now, bool* claimed, std::string* why) {
    Use s(statement(kClaimPending,
                    "UPDATE storage_journal SET state = 'remove', next_attempt_at = ? "
                    "WHERE key = ? AND state = 'pending'",
                    why));
    if (!s) return false;
    sqlite3_bind_int64(s.get(), 1, now);
    bind_text(s.get(), 2, key);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return FAIL_DB();
    *claimed = sqlite3_changes(db_) == 1;
    return true;
}

bool SqliteDatabase::journal_done(const std::string& key, std::string* why) {
    Use s(statement(kJournalDone, "DELETE FROM storage_journal WHERE key = ? AND state = 'remove'", why));
    if (!s) return false;
    bind_text(s.get(), 1, key);
    return sqlite3_step(s.get()) == SQLITE_DONE || FAIL_DB();
}

bool SqliteDatabase::journal_drop_pending(const std::string& key, std::string* why) {
    Use s(statement(kDropPending, "DELETE FROM storage_journal WHERE key = ? AND state = 'pending'", why));
    if (!s) return false;
    bind_text(s.get(), 1, key);
    return sqlite3_step(s.get()) == SQLITE_DONE || FAIL_DB();
}

bool SqliteDatabase::journal_retry_later(const std::string& key, int64_t next_attempt_at, const std::string& error,
                                   std::string* why) {
    Use s(statement(kJournalRetry,
                    "UPDATE storage_journal SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
                    "WHERE key = ?",
                    why));
    if (!s) return false;
    sqlite3_bind_int64(s.get(), 1, next_attempt_at);
    bind_text(s.get(), 2, error);
    bind_text(s.get(), 3, key);
    return sqlite3_step(s.get()) == SQLITE_DONE || FAIL_DB();
}

bool SqliteDatabase::is_referenced(const std::string& key, bool* referenced, std::string* why) {
    Use s(statement(kIsReferenced, "SELECT 1 FROM talent_profiles WHERE profile_picture = ? LIMIT 1", why));
    if (!s) return false;
    bind_text(s.get(), 1, key);
    int rc = sqlite3_step(s.get());
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return FAIL_DB();
    *referenced = rc == SQLITE_ROW;
    return true;
}

bool SqliteDatabase::referenced_keys(std::vector<std::string>* out, std::string* why) {
    Use s(statement(kReferencedKeys,
                    "SELECT profile_picture FROM talent_profiles WHERE profile_picture IS NOT NULL "
                    "ORDER BY profile_picture",
                    why));
    if (!s) return false;
    out->clear();
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out->push_back(column_text(s.get(), 0));
    return rc == SQLITE_DONE || FAIL_DB();
}

bool SqliteDatabase::ping(std::string* why) { return exec("SELECT 1", why); }

}  // namespace talentd::db
