// Database — users, talent profiles and the storage journal, behind one
// interface whatever holds them.
//
// Backends (chosen by the `database` key, see open()):
//   SQLite      one host; talentd's own tables in one file (db/sqlite.h).
//   PostgreSQL  one or several hosts through libpq (db/postgres.h), either
//               on talentd's own tables or on the Django site's tables
//               (`database_layout = django`), where Django owns the users
//               and talentd keeps only its storage journal beside them.
// Callers (the API, the cleanup module, talentctl) never know which one runs.
//
// Schema versions are forward migrations kept by each backend; `migrate()`
// (talentctl init) applies the missing ones in one transaction.  Workers
// refuse to run against an older schema.  In Django's layout the migrations
// create talentd's journal only: Django's migrations own Django's tables.
//
// The storage journal has one row per object key that may have to be
// deleted from the bucket:
//   pending — a PUT is (or was) in flight; the key is not yet referenced.
//             Dropped by the commit that points a profile at the key.
//   remove  — the key was replaced or cleared; delete the object, then the row.
// Picture keys are whole object keys (media/profile_pictures/user_7_<hex>.jpg)
// at this interface, whatever a layout stores (Django stores the name
// relative to its storage location: profile_pictures/user_7_<hex>.jpg).
//
// Errors are values: every call returns false / nullopt / CommitResult::Error
// and says why in *why (never a password); failure() then tells whether the
// database was unreachable or timed out (Failure::Unavailable: the caller
// answers 503 with Retry-After) or refused the statement (Failure::Error).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "profile/model.h"

namespace talentd::db {

using profile::Profile;
using profile::User;

// A user with the talent profile attached to it (absent for non-talent users).
struct Account {
    User user;
    std::optional<Profile> profile;
};

struct JournalEntry {
    std::string key;
    std::string state;          // "pending" | "remove"
    int64_t user_id = 0;
    int64_t created_at = 0;     // unix seconds
    int attempts = 0;
    int64_t next_attempt_at = 0;
    std::string last_error;
};

// Where a page of due journal rows starts: after this (created_at, key),
// the order due_entries() returns them in.  The default starts at the top.
struct JournalCursor {
    int64_t created_at = INT64_MIN;
    std::string key;
};

// How much of the journal waits (the operator's metrics).
struct JournalSummary {
    int64_t pending = 0, remove = 0;                // rows in each state
    int64_t oldest_pending = 0, oldest_remove = 0;  // created_at of the oldest row, unix seconds; 0: none
};

// The outcome of committing an update (step 3 of the replacement protocol).
enum class CommitResult {
    Committed,
    PendingLost,   // the pending journal row of the new key is gone (the reaper
                   // claimed it as abandoned): nothing was changed
    NoProfile,     // the user has no talent profile any more
    Error,         // see failure()
};

// What the update changes about the picture.
struct PictureUpdate {
    enum class Kind { Keep, Clear, Replace } kind = Kind::Keep;
    std::string new_key;   // for Replace
};

// Why the last call failed.
enum class Failure {
    None,
    Unavailable,   // unreachable, connection lost, deadline passed, locked
                   // too long, serialization retries exhausted: try again later
    Error,         // the database refused the statement (a bug or a broken schema)
};

class Database {
public:
    // The backend `config.database` names: a value starting with
    // postgresql:// or postgres://, or a libpq connection string
    // ("host=... dbname=..."), is PostgreSQL; anything else is an SQLite
    // file.  A PostgreSQL backend connects lazily: open() succeeds while the
    // server is down, and every call reconnects as needed.
    static std::unique_ptr<Database> open(const Config& config, std::string* why);
    // An SQLite file with talentd's own tables (tests, tools).
    static std::unique_ptr<Database> open(const std::string& path, int busy_timeout_ms, std::string* why);
    // True when `database` names a PostgreSQL server rather than a file.
    static bool is_postgresql(const std::string& database);
    // `database` fit for a log line or a message: a password in a URI or a
    // connection string replaced by "***".
    static std::string describe(const std::string& database);

    virtual ~Database() = default;
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    // The SQLite backend's latest schema version (kept for its tests).
    static int latest_schema_version();
    // This backend's and layout's latest schema version.
    virtual int expected_schema_version() const = 0;
    // The version found, -1 when it cannot be read (failure() says why).
    virtual int schema_version() = 0;
    // Applies every missing migration in one transaction; *applied gets how many.
    virtual bool migrate(int* applied, std::string* why) = 0;

    // False in Django's layout: users are Django's to create and change.
    virtual bool manages_users() const { return true; }

    // --- users --------------------------------------------------------------
    // One round trip.  In Django's layout an active talent user without a
    // profile row gets one here, as Django's get_or_create would make it.
    virtual std::optional<Account> load_account(int64_t user_id, std::string* why) = 0;
    // Inserts the user and, for a talent user, an empty profile.
    virtual bool add_user(const User& user, std::string* why) = 0;
    // Writes email, names and flags; a user becoming a talent gets a profile.
    virtual bool update_user(const User& user, std::string* why) = 0;
    virtual bool list_users(std::vector<Account>* out, std::string* why) = 0;
    // All or nothing, in one transaction.
    virtual bool import_users(const std::vector<User>& users, std::string* why) = 0;

    // --- profile updates -----------------------------------------------------
    // Step 1: records `key` as pending for `user_id` (committed on return).
    virtual bool journal_pending(const std::string& key, int64_t user_id, int64_t now, std::string* why) = 0;
    // Step 3: one transaction that writes the user's names (only those:
    // email and flags belong to the administrator) and the profile's
    // fields (and updated_at), applies `picture`, journals the replaced key
    // (read under a lock on the profile row, so concurrent uploads, on any
    // host, each journal theirs) for removal and drops the pending row of
    // the new key.  *old_key gets the key that was replaced or cleared.
    virtual CommitResult commit_update(const User& user, const Profile& profile, const PictureUpdate& picture,
                                       int64_t now, std::optional<std::string>* old_key, std::string* why) = 0;

    // --- the journal (cleanup module, talentctl journal) ----------------------
    virtual bool journal_entries(std::vector<JournalEntry>* out, std::string* why) = 0;
    // Removal rows due at `now` and pending rows older than `pending_before`,
    // in (created_at, key) order: at most `limit` of them, those after
    // `after`.  The reaper reads a long journal (a store outage piles rows
    // up) a page at a time, so its memory does not grow with the backlog.
    virtual bool due_entries(int64_t now, int64_t pending_before, const JournalCursor& after, int64_t limit,
                             std::vector<JournalEntry>* out, std::string* why) = 0;
    // Every due row at once (tests).
    bool due_entries(int64_t now, int64_t pending_before, std::vector<JournalEntry>* out, std::string* why) {
        return due_entries(now, pending_before, JournalCursor{}, INT64_MAX, out, why);
    }
    // A reaper's hold on one row, so that reapers on several hosts never
    // work on the same key: takes the row of `key` if it is still due (as
    // due_entries() says) and no other reaper holds it (*taken false
    // otherwise, *entry refreshed when true).  The calls that follow act
    // within the hold until release_entry(), which makes them durable.
    // PostgreSQL: a transaction with SELECT ... FOR UPDATE SKIP LOCKED.
    // SQLite (one host, one reaper at a time): a re-read, no lock.
    virtual bool take_entry(const std::string& key, int64_t now, int64_t pending_before, JournalEntry* entry,
                            bool* taken, std::string* why) = 0;
    virtual bool release_entry(std::string* why) = 0;
    // Turns an abandoned pending row into a removal row, only if it is still
    // pending (atomic with a worker's commit); *claimed says whether it was.
    virtual bool claim_pending(const std::string& key, int64_t now, bool* claimed, std::string* why) = 0;
    virtual bool journal_remove(const std::string& key, int64_t user_id, int64_t now, std::string* why) = 0;
    virtual bool journal_done(const std::string& key, std::string* why) = 0;
    // A worker's PUT certainly wrote nothing: drops the key's row if it is
    // still pending (a row the reaper already claimed stays its own).
    virtual bool journal_drop_pending(const std::string& key, std::string* why) = 0;
    virtual bool journal_retry_later(const std::string& key, int64_t next_attempt_at, const std::string& error,
                                     std::string* why) = 0;
    virtual bool is_referenced(const std::string& key, bool* referenced, std::string* why) = 0;
    virtual bool referenced_keys(std::vector<std::string>* out, std::string* why) = 0;
    // Rows per state and the oldest of each (talentd_storage_journal_*
    // metrics): one aggregate query, as the journal holds a few rows
    // normally but can hold 100 k after a long store outage, when a
    // worker answering /metrics must not read them all.
    virtual bool journal_summary(JournalSummary* out, std::string* why) = 0;

    // Checks the connection with a trivial query (talentctl check, healthz).
    virtual bool ping(std::string* why) = 0;

    // What the last failed call ran into.
    Failure failure() const { return failure_; }

protected:
    Database() = default;
    Failure failure_ = Failure::None;
};

}  // namespace talentd::db
