// SqliteDatabase — the Database of one host: talentd's own tables in one
// SQLite file (see database.h for the interface).
//
// One connection per process, opened after fork.  WAL mode; commits of the
// picture protocol are synchronous=FULL (a commit that points a profile at a
// new picture must survive a power cut before the old picture is deleted),
// field-only updates synchronous=NORMAL (durable against a crash of talentd;
// a power cut may lose the latest of them, never a picture); a busy handler
// with short jittered sleeps up to database_busy_timeout (then
// Failure::Unavailable); prepared statements cached for the life of the
// connection.  Schema versions are recorded in PRAGMA user_version.
#pragma once

#include "db/database.h"

struct sqlite3;
struct sqlite3_stmt;

namespace talentd::db {

class SqliteDatabase final : public Database {
public:
    // Opens (creating the file if needed) and configures the connection.
    static std::unique_ptr<SqliteDatabase> open(const std::string& path, int busy_timeout_ms, std::string* why);
    ~SqliteDatabase() override;

    int expected_schema_version() const override;
    int schema_version() override;
    bool migrate(int* applied, std::string* why) override;

    std::optional<Account> load_account(int64_t user_id, std::string* why) override;
    bool add_user(const User& user, std::string* why) override;
    bool update_user(const User& user, std::string* why) override;
    bool list_users(std::vector<Account>* out, std::string* why) override;
    bool import_users(const std::vector<User>& users, std::string* why) override;

    bool journal_pending(const std::string& key, int64_t user_id, int64_t now, std::string* why) override;
    CommitResult commit_update(const User& user, const Profile& profile, const PictureUpdate& picture, int64_t now,
                               std::optional<std::string>* old_key, std::string* why) override;

    bool journal_entries(std::vector<JournalEntry>* out, std::string* why) override;
    bool journal_summary(JournalSummary* out, std::string* why) override;
    using Database::due_entries;
    bool due_entries(int64_t now, int64_t pending_before, const JournalCursor& after, int64_t limit,
                     std::vector<JournalEntry>* out, std::string* why) override;
    bool take_entry(const std::string& key, int64_t now, int64_t pending_before, JournalEntry* entry, bool* taken,
                    std::string* why) override;
    bool release_entry(std::string* why) override;
    bool claim_pending(const std::string& key, int64_t now, bool* claimed, std::string* why) override;
    bool journal_remove(const std::string& key, int64_t user_id, int64_t now, std::string* why) override;
    bool journal_done(const std::string& key, std::string* why) override;
    bool journal_drop_pending(const std::string& key, std::string* why) override;
    bool journal_retry_later(const std::string& key, int64_t next_attempt_at, const std::string& error,
                             std::string* why) override;
    bool is_referenced(const std::string& key, bool* referenced, std::string* why) override;
    bool referenced_keys(std::vector<std::string>* out, std::string* why) override;

    bool ping(std::string* why) override;

private:
    explicit SqliteDatabase(sqlite3* handle);
    sqlite3_stmt* statement(int id, const char* sql, std::string* why);
    bool exec(const char* sql, std::string* why);
    bool insert_user_row(const User& user, std::string* why);
    bool ensure_profile_row(const User& user, std::string* why);
    bool fail(std::string* why);   // failure_ and *why from the connection's last error

    static int on_busy(void* self, int attempts);

    sqlite3* db_;
    std::vector<sqlite3_stmt*> statements_;
    int busy_timeout_ms_ = 5000;
    int64_t busy_waited_us_ = 0;
};

}  // namespace talentd::db
