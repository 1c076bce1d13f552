// PostgresDatabase — the Database of one or several hosts, through libpq
// (see database.h for the interface).
//
// Round trips
//   Every statement is PQsendQueryParams with text parameters: an unnamed
//   prepared statement that lives for one round trip, so PgBouncer in
//   transaction mode (DigitalOcean's managed PostgreSQL) works, and no
//   session state (SET, prepared names, temporary tables) outlives a
//   transaction.  A GET is one statement: the user, its profile and, in
//   Django's layout, the get_or_create of a missing profile row.
//
// Deadlines and failures
//   A connection attempt waits at most database_connect_timeout seconds in
//   all (polled under our own deadline: libpq's connect_timeout reads 1 as 2
//   and restarts for each address); each round trip at most
//   database_timeout milliseconds (the connection is non-blocking and
//   polled), after which the connection is dropped — the
//   server rolls back what it had not committed — and the call fails with
//   Failure::Unavailable.  Connection errors and PostgreSQL's "cannot
//   connect now", "admin shutdown" and "too many connections" are
//   Unavailable too.  The next call reconnects by itself.  A statement that
//   fails on a connection reused from an earlier call, before anything ran,
//   is run once more on a fresh connection (the server restarted between
//   two requests).  Serialization failures and deadlocks roll back and rerun
//   the whole transaction up to database_retries times, after a short
//   jittered sleep, each rerun logged at warn ("… (SQLSTATE 40P01): rolled
//   back, retry 1 of 3"); then they are Unavailable.
//
// Layouts
//   talentd  talentd's own tables (users, talent_profiles, storage_journal),
//            created by migrate().
//   django   Django's tables (django_user_table, django_profile_table) read
//            and written in place, never altered; talentd keeps only
//            talentd_storage_journal beside them (its comment holds the
//            schema version).  Pictures are stored as Django's storage names, relative
//            to django_media_location; '' clears one and '' or NULL read as
//            none.
#pragma once

#include <functional>

#include "db/database.h"

struct pg_conn;

namespace talentd::db {

struct PostgresSettings {
    std::string conninfo;         // postgresql://… or "host=… dbname=…"
    std::string password;         // "" = libpq's own ways (PGPASSFILE, URI)
    int connect_timeout = 5;      // seconds
    int timeout_ms = 5000;        // each round trip
    int retries = 3;              // serialization failures, deadlocks
    bool django = false;
    std::string users_table = "users";
    std::string profiles_table = "talent_profiles";
    std::string location_prefix;  // django: "media/": key = prefix + stored name
};

PostgresSettings postgres_settings_from(const Config& config);

class PostgresDatabase final : public Database {
public:
    explicit PostgresDatabase(PostgresSettings settings);
    ~PostgresDatabase() override;

    bool manages_users() const override { return !settings_.django; }

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

    // A statement's result; internal, public for the helpers in postgres.cc.
    class Result;
    using Params = std::vector<std::optional<std::string>>;

private:
    bool connect(std::string* why);
    void disconnect();
    // One round trip within the deadline.  nullptr on failure (failure_, *why).
    std::unique_ptr<Result> run(const std::string& sql, const Params& params, std::string* why);
    bool run_command(const std::string& sql, const Params& params, std::string* why, long* affected = nullptr);
    // Runs `body` (its statements) as one unit of work, in a transaction
    // when `transaction`; reruns it as described above.  The body returns
    // false on failure, having set failure_ and *why.
    bool unit(bool transaction, const std::function<bool()>& body, std::string* why);

    std::string stored_name(const std::string& key) const;
    std::optional<std::string> key_of(const char* stored) const;
    bool read_accounts(const Result& r, std::vector<Account>* out) const;

    PostgresSettings settings_;
    pg_conn* conn_ = nullptr;
    bool in_unit_ = false;        // inside unit(): statements join its transaction
    bool holding_ = false;        // inside take_entry() … release_entry()
    int statements_in_unit_ = 0;  // for the stale-connection rerun
    bool retryable_ = false;      // the last failure was a serialization failure or deadlock
    bool stale_ = false;          // the last failure was a dead reused connection, nothing ran

    // SQL with the layout's table names, built once.
    std::string journal_table_, sql_version_, sql_read_account_, sql_load_account_, sql_list_users_, sql_insert_user_, sql_ensure_profile_,
        sql_update_user_, sql_update_names_, sql_update_keep_picture_, sql_lock_profile_, sql_update_profile_, sql_update_profile_picture_,
        sql_is_referenced_, sql_referenced_keys_, sql_journal_pending_, sql_drop_pending_, sql_journal_remove_,
        sql_journal_all_, sql_journal_summary_, sql_journal_due_, sql_journal_take_, sql_claim_pending_, sql_journal_done_,
        sql_journal_retry_;
};

}  // namespace talentd::db
