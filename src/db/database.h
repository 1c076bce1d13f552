// Database — the SQLite store: users, talent profiles and the storage journal.
//
// One connection per process, opened after fork.  WAL mode; commits of the
// picture protocol are synchronous=FULL (a commit that points a profile at a
// new picture must survive a power cut before the old picture is deleted),
// field-only updates synchronous=NORMAL (durable against a crash of talentd;
// a power cut may lose the latest of them, never a picture); a busy timeout;
// prepared statements cached for the life of the connection.
//
// Schema versions are forward migrations kept in database.cc and recorded in
// PRAGMA user_version; `migrate()` (talentctl init) applies the missing ones in
// one transaction.  Workers refuse to run against an older schema.
//
// The storage journal has one row per object key that may have to be
// deleted from the bucket:
//   pending — a PUT is (or was) in flight; the key is not yet referenced.
//             Dropped by the commit that points a profile at the key.
//   remove  — the key was replaced or cleared; delete the object, then the row.
// Errors are values: every call returns false / nullopt and says why in *why.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "profile/model.h"

struct sqlite3;
struct sqlite3_stmt;

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

// How much of the journal waits (the operator's metrics).
struct JournalSummary {
    int64_t pending = 0, remove = 0;            // rows in each state
    int64_t oldest_pending = 0, oldest_remove = 0;  // created_at of the oldest row, unix seconds; 0: none
};

// The outcome of committing an update (step 3 of the replacement protocol).
enum class CommitResult {
    Committed,
    PendingLost,   // the pending journal row of the new key is gone (the reaper
                   // claimed it as abandoned): nothing was changed
    NoProfile,     // the user has no talent profile any more
    Error,
};

// What the update changes about the picture.
struct PictureUpdate {
    enum class Kind { Keep, Clear, Replace } kind = Kind::Keep;
    std::string new_key;   // for Replace
};

class Database {
public:
    // Opens (creating the file if needed) and configures the connection.
    static std::unique_ptr<Database> open(const std::string& path, int busy_timeout_ms, std::string* why);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    static int latest_schema_version();
    int schema_version();
    // Applies every missing migration in one transaction; *applied gets how many.
    bool migrate(int* applied, std::string* why);

    // --- users --------------------------------------------------------------
    std::optional<Account> load_account(int64_t user_id, std::string* why);
    // Inserts the user and, for a talent user, an empty profile.
    bool add_user(const User& user, std::string* why);
    // Writes email, names and flags; a user becoming a talent gets a profile.
    bool update_user(const User& user, std::string* why);
    bool list_users(std::vector<Account>* out, std::string* why);
    // All or nothing, in one transaction.
    bool import_users(const std::vector<User>& users, std::string* why);

    // --- profile updates -----------------------------------------------------
    // Step 1: records `key` as pending for `user_id` (committed on return).
    bool journal_pending(const std::string& key, int64_t user_id, int64_t now, std::string* why);
    // Step 3: one IMMEDIATE transaction that writes the user's names (only
    // those: email and flags belong to the administrator) and the
    // profile's fields, applies `picture`, journals the replaced key (read
    // under the write lock, so concurrent uploads each journal theirs) for
    // removal and drops the pending row of the new key.  *old_key gets the
    // key that was replaced or cleared, if any.
    CommitResult commit_update(const User& user, const Profile& profile, const PictureUpdate& picture,
                               int64_t now, std::optional<std::string>* old_key, std::string* why);

    // --- the journal (cleanup module, talentctl journal) ----------------------
    bool journal_entries(std::vector<JournalEntry>* out, std::string* why);
    // Removal rows due at `now` and pending rows older than `pending_before`.
    bool due_entries(int64_t now, int64_t pending_before, std::vector<JournalEntry>* out, std::string* why);
    // Turns an abandoned pending row into a removal row, only if it is still
    // pending (atomic with a worker's commit); *claimed says whether it was.
    bool claim_pending(const std::string& key, int64_t now, bool* claimed, std::string* why);
    bool journal_remove(const std::string& key, int64_t user_id, int64_t now, std::string* why);
    bool journal_done(const std::string& key, std::string* why);
    bool journal_retry_later(const std::string& key, int64_t next_attempt_at, const std::string& error,
                             std::string* why);
    bool is_referenced(const std::string& key, bool* referenced, std::string* why);
    bool referenced_keys(std::vector<std::string>* out, std::string* why);
    // Rows per state and the oldest of each (talentd_storage_journal_* metrics).
    bool journal_summary(JournalSummary* out, std::string* why);

    // Checks the connection with a trivial query (talentctl check, healthz).
    bool ping(std::string* why);

private:
    explicit Database(sqlite3* handle);
    sqlite3_stmt* statement(int id, const char* sql, std::string* why);
    bool exec(const char* sql, std::string* why);
    bool insert_user_row(const User& user, std::string* why);
    bool ensure_profile_row(const User& user, std::string* why);

    static int on_busy(void* self, int attempts);

    sqlite3* db_;
    std::vector<sqlite3_stmt*> statements_;
    int busy_timeout_ms_ = 5000;
    int64_t busy_waited_us_ = 0;
};

}  // namespace talentd::db
