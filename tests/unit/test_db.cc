// The SQLite store against a real database file: migrations, users, the
// all-or-nothing import, and the journal rules the replacement protocol and
// the reaper rely on.
#include <stdlib.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "db/database.h"

#include <check.h>
#include <sqlite3.h>

#include "../support/raw_sql.h"

using talentd::db::Account;
using talentd::db::CommitResult;
using talentd::db::Database;
using talentd::db::JournalCursor;
using talentd::db::JournalEntry;
using talentd::db::PictureUpdate;
using talentd::profile::User;

namespace {

std::string dir;

void make_dir() {
    char tmpl[] = "/tmp/talentd-test-db-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    dir = tmpl;
}

void remove_dir() {
    std::string cmd = "rm -rf '" + dir + "'";
    ck_assert_int_eq(system(cmd.c_str()), 0);
}

std::unique_ptr<Database> fresh_db(std::string* path = nullptr) {
    static int n = 0;
    std::string why;
    const std::string file = dir + "/t" + std::to_string(getpid()) + "_" + std::to_string(n++) + ".db";
    if (path) *path = file;
    auto db = Database::open(file, 1000, &why);
    ck_assert_msg(db != nullptr, "%s", why.c_str());
    int applied = 0;
    ck_assert_msg(db->migrate(&applied, &why), "%s", why.c_str());
    return db;
}

User talent(int64_t id) {
    User u;
    u.id = id;
    u.email = "u" + std::to_string(id) + "@example.com";
    u.first_name = "F";
    u.last_name = "L";
    u.is_talent = true;
    return u;
}

// Talent user `id` added, and its account read back.
Account talent_account(Database& db, int64_t id = 1) {
    std::string why;
    ck_assert_msg(db.add_user(talent(id), &why), "add user: %s", why.c_str());
    auto account = db.load_account(id, &why);
    ck_assert_msg(account.has_value(), "load account: %s", why.c_str());
    return *account;
}

using talentd::test::raw_sql;

}  // namespace

START_TEST(test_migrate_is_idempotent) {
    auto db = fresh_db();
    ck_assert_int_eq(db->schema_version(), Database::latest_schema_version());
    int applied = -1;
    std::string why;
    ck_assert(db->migrate(&applied, &why));
    ck_assert_int_eq(applied, 0);
}
END_TEST

START_TEST(test_users_and_profiles) {
    auto db = fresh_db();
    std::string why;
    ck_assert(db->add_user(talent(1), &why));
    User plain = talent(2);
    plain.is_talent = false;
    ck_assert(db->add_user(plain, &why));
    ck_assert(!db->add_user(talent(1), &why));   // duplicate id
    auto a = db->load_account(1, &why);
    ck_assert(a && a->profile);
    ck_assert(!a->profile->picture_key);
    ck_assert_str_eq(a->profile->account_type.c_str(), "free");
    auto b = db->load_account(2, &why);
    ck_assert(b && !b->profile);
    ck_assert(!db->load_account(3, &why));
    ck_assert(why.empty());   // absent, not an error
    // Becoming a talent creates the profile.
    plain.is_talent = true;
    ck_assert(db->update_user(plain, &why));
    ck_assert(db->load_account(2, &why)->profile.has_value());
    std::vector<Account> all;
    ck_assert(db->list_users(&all, &why));
    ck_assert_int_eq(all.size(), 2);
}
END_TEST

START_TEST(test_import_all_or_nothing) {
    auto db = fresh_db();
    std::string why;
    std::vector<User> users = {talent(1), talent(2), talent(1)};   // the third collides
    ck_assert(!db->import_users(users, &why));
    std::vector<Account> all;
    ck_assert(db->list_users(&all, &why));
    ck_assert_int_eq(all.size(), 0);
    users.pop_back();
    ck_assert(db->import_users(users, &why));
    ck_assert(db->list_users(&all, &why));
    ck_assert_int_eq(all.size(), 2);
}
END_TEST

START_TEST(test_replace_journals_old_key) {
    auto db = fresh_db();
    std::string why;
    auto a = talent_account(*db);
    std::optional<std::string> old;

    ck_assert(db->journal_pending("k1", 1, 100, &why));
    ck_assert(db->commit_update(a.user, *a.profile, {PictureUpdate::Kind::Replace, "k1"}, 100, &old, &why) ==
              CommitResult::Committed);
    ck_assert(!old);
    std::vector<JournalEntry> j;
    ck_assert(db->journal_entries(&j, &why));
    ck_assert_int_eq(j.size(), 0);   // pending dropped, nothing replaced

    ck_assert(db->journal_pending("k2", 1, 101, &why));
    ck_assert(db->commit_update(a.user, *a.profile, {PictureUpdate::Kind::Replace, "k2"}, 101, &old, &why) ==
              CommitResult::Committed);
    ck_assert(old && *old == "k1");
    ck_assert(db->journal_entries(&j, &why));
    ck_assert_int_eq(j.size(), 1);
    ck_assert_str_eq(j[0].key.c_str(), "k1");
    ck_assert_str_eq(j[0].state.c_str(), "remove");
    bool referenced = true;
    ck_assert(db->is_referenced("k1", &referenced, &why));
    ck_assert(!referenced);
    ck_assert(db->is_referenced("k2", &referenced, &why));
    ck_assert(referenced);

    // Clearing journals the current key too.
    ck_assert(db->commit_update(a.user, *a.profile, {PictureUpdate::Kind::Clear, ""}, 102, &old, &why) ==
              CommitResult::Committed);
    ck_assert(old && *old == "k2");
    ck_assert(!db->load_account(1, &why)->profile->picture_key);
}
END_TEST

START_TEST(test_claimed_pending_blocks_commit) {
    auto db = fresh_db();
    std::string why;
    auto a = talent_account(*db);
    ck_assert(db->journal_pending("late", 1, 100, &why));
    // The reaper gives up on the upload first...
    std::vector<JournalEntry> due;
    ck_assert(db->due_entries(5000, 5000 - 3600, &due, &why));
    ck_assert_int_eq(due.size(), 1);
    bool claimed = false;
    ck_assert(db->claim_pending("late", 5000, &claimed, &why));
    ck_assert(claimed);
    // ...so the late commit must not point the profile at an object about to go.
    std::optional<std::string> old;
    ck_assert(db->commit_update(a.user, *a.profile, {PictureUpdate::Kind::Replace, "late"}, 5001, &old, &why) ==
              CommitResult::PendingLost);
    ck_assert(!db->load_account(1, &why)->profile->picture_key);
    // A second claim finds nothing: the row is a removal now.
    ck_assert(db->claim_pending("late", 5002, &claimed, &why));
    ck_assert(!claimed);
}
END_TEST

START_TEST(test_due_entries_and_backoff_rows) {
    auto db = fresh_db();
    std::string why;
    ck_assert(db->journal_remove("r1", 1, 100, &why));
    ck_assert(db->journal_pending("p1", 1, 100, &why));
    std::vector<JournalEntry> due;
    // At 150 with a grace of 3600 only the removal is due.
    ck_assert(db->due_entries(150, 150 - 3600, &due, &why));
    ck_assert_int_eq(due.size(), 1);
    ck_assert_str_eq(due[0].key.c_str(), "r1");
    ck_assert(db->journal_retry_later("r1", 400, "503 Service Unavailable", &why));
    ck_assert(db->due_entries(399, 399 - 3600, &due, &why));
    ck_assert_int_eq(due.size(), 0);
    ck_assert(db->due_entries(4000, 4000 - 3600, &due, &why));
    ck_assert_int_eq(due.size(), 2);
    std::vector<JournalEntry> all;
    ck_assert(db->journal_entries(&all, &why));
    for (const auto& e : all)
        if (e.key == "r1") {
            ck_assert_int_eq(e.attempts, 1);
            ck_assert_str_eq(e.last_error.c_str(), "503 Service Unavailable");
        }
    ck_assert(db->journal_done("r1", &why));
    ck_assert(db->journal_entries(&all, &why));
    ck_assert_int_eq(all.size(), 1);
}
END_TEST

// Due rows come in (created_at, key) order, a page after a cursor: ties of
// one second split across pages, rows not due never listed.
START_TEST(test_due_entries_in_pages) {
    auto db = fresh_db();
    std::string why;
    ck_assert(db->journal_remove("b", 1, 100, &why));
    ck_assert(db->journal_remove("a", 1, 100, &why));
    ck_assert(db->journal_remove("c", 1, 100, &why));
    ck_assert(db->journal_remove("z", 1, 50, &why));
    ck_assert(db->journal_pending("p", 1, 60, &why));     // due: older than pending_before
    ck_assert(db->journal_pending("q", 1, 4000, &why));   // not due: too young
    ck_assert(db->journal_remove("later", 1, 200, &why));
    ck_assert(db->journal_retry_later("later", 9000, "503", &why));   // not due: backing off
    std::vector<std::string> seen;
    JournalCursor after;
    std::vector<JournalEntry> page;
    int pages = 0;
    do {
        ck_assert_msg(db->due_entries(5000, 1000, after, 2, &page, &why), "%s", why.c_str());
        ck_assert_uint_le(page.size(), 2);
        for (const auto& e : page) seen.push_back(e.key);
        if (!page.empty()) after = {page.back().created_at, page.back().key};
        ++pages;
    } while (page.size() == 2 && pages < 10);
    std::string order;
    for (const auto& k : seen) order += k + " ";
    ck_assert_str_eq(order.c_str(), "z p a b c ");
    ck_assert_int_eq(pages, 3);
    // After the last row: nothing.
    ck_assert(db->due_entries(5000, 1000, JournalCursor{100, "c"}, 2, &page, &why));
    ck_assert_uint_eq(page.size(), 0);
}
END_TEST

START_TEST(test_field_update_keeps_picture) {
    auto db = fresh_db();
    std::string why;
    auto a = talent_account(*db);
    std::optional<std::string> old;
    ck_assert(db->journal_pending("k1", 1, 100, &why));
    ck_assert(db->commit_update(a.user, *a.profile, {PictureUpdate::Kind::Replace, "k1"}, 100, &old, &why) ==
              CommitResult::Committed);
    // A stale copy of the profile (loaded before the upload) updates fields only.
    a.profile->city = "Oslo";
    a.user.first_name = "New";
    ck_assert(db->commit_update(a.user, *a.profile, {}, 101, &old, &why) == CommitResult::Committed);
    auto b = *db->load_account(1, &why);
    ck_assert_str_eq(b.profile->city.c_str(), "Oslo");
    ck_assert_str_eq(b.user.first_name.c_str(), "New");
    ck_assert(b.profile->picture_key && *b.profile->picture_key == "k1");
}
END_TEST

// journal_summary() feeds the metrics' journal gauges: the rows in each
// state and the created_at of the oldest of each (0: none).  Rows are added
// out of time order so that "oldest" is not just "first inserted".
START_TEST(test_journal_summary) {
    auto db = fresh_db();
    std::string why;
    talentd::db::JournalSummary sum;
    sum.pending = sum.remove = sum.oldest_pending = sum.oldest_remove = 99;   // all overwritten
    ck_assert_msg(db->journal_summary(&sum, &why), "%s", why.c_str());
    ck_assert_int_eq(sum.pending, 0);
    ck_assert_int_eq(sum.remove, 0);
    ck_assert_int_eq(sum.oldest_pending, 0);
    ck_assert_int_eq(sum.oldest_remove, 0);

    ck_assert(db->journal_pending("p-late", 1, 300, &why));
    ck_assert(db->journal_pending("p-early", 1, 200, &why));
    ck_assert(db->journal_remove("r-mid", 1, 500, &why));
    ck_assert(db->journal_remove("r-early", 1, 400, &why));
    ck_assert(db->journal_remove("r-late", 1, 600, &why));
    ck_assert_msg(db->journal_summary(&sum, &why), "%s", why.c_str());
    ck_assert_int_eq(sum.pending, 2);
    ck_assert_int_eq(sum.remove, 3);
    ck_assert_int_eq(sum.oldest_pending, 200);
    ck_assert_int_eq(sum.oldest_remove, 400);
}
END_TEST

// A journal that cannot be read makes journal_summary() fail with a reason:
// the metrics then say the database is unreachable instead of publishing
// gauges of rows nobody read (zeros, or the caller's stale values).
START_TEST(test_journal_summary_fails_with_the_database) {
    std::string path;
    auto db = fresh_db(&path);
    std::string why;
    ck_assert(db->journal_remove("r1", 1, 100, &why));
    raw_sql(path, "ALTER TABLE storage_journal RENAME TO journal_gone");
    talentd::db::JournalSummary sum;
    why.clear();
    ck_assert_msg(!db->journal_summary(&sum, &why), "journal_summary succeeded with storage_journal gone");
    ck_assert_msg(!why.empty(), "journal_summary failed without a reason");
}
END_TEST

// Every journal function fails, with a reason, when its table cannot be
// used: the reaper and the upload path stop on a false, and a true here
// would make them act on a journal row that was never written or read.
// Both ways a statement can fail: prepared for the first time with the
// table already gone (sqlite3_prepare fails), and prepared before (a cached
// statement whose step fails).  The tables are renamed away on a second
// connection: the database's own error, nothing injected into the code.
namespace {

struct JournalCall {
    const char* name;
    const char* table;   // the table it needs
    std::function<bool(Database&, std::string*)> call;
};

std::vector<JournalCall> journal_calls() {
    return {
        {"journal_pending", "storage_journal",
         [](Database& db, std::string* why) { return db.journal_pending("p-new", 1, 100, why); }},
        {"journal_remove", "storage_journal",
         [](Database& db, std::string* why) { return db.journal_remove("r-new", 1, 100, why); }},
        {"journal_entries", "storage_journal",
         [](Database& db, std::string* why) {
             std::vector<JournalEntry> out;
             return db.journal_entries(&out, why);
         }},
        {"journal_summary", "storage_journal",
         [](Database& db, std::string* why) {
             talentd::db::JournalSummary out;
             return db.journal_summary(&out, why);
         }},
        {"due_entries", "storage_journal",
         [](Database& db, std::string* why) {
             std::vector<JournalEntry> out;
             return db.due_entries(5000, 5000, &out, why);
         }},
        {"take_entry", "storage_journal",
         [](Database& db, std::string* why) {
             JournalEntry entry;
             bool taken = false;
             return db.take_entry("r1", 5000, 5000, &entry, &taken, why);
         }},
        {"claim_pending", "storage_journal",
         [](Database& db, std::string* why) {
             bool claimed = false;
             return db.claim_pending("p1", 5000, &claimed, why);
         }},
        {"journal_done", "storage_journal", [](Database& db, std::string* why) { return db.journal_done("r1", why); }},
        {"journal_drop_pending", "storage_journal",
         [](Database& db, std::string* why) { return db.journal_drop_pending("p1", why); }},
        {"journal_retry_later", "storage_journal",
         [](Database& db, std::string* why) { return db.journal_retry_later("r1", 6000, "503", why); }},
        {"is_referenced", "talent_profiles",
         [](Database& db, std::string* why) {
             bool referenced = false;
             return db.is_referenced("k1", &referenced, why);
         }},
        {"referenced_keys", "talent_profiles",
         [](Database& db, std::string* why) {
             std::vector<std::string> out;
             return db.referenced_keys(&out, why);
         }},
    };
}

void check_journal_calls_fail(bool prepared_first) {
    for (const JournalCall& c : journal_calls()) {
        std::string path;
        auto db = fresh_db(&path);
        std::string why;
        // The rows are written on the second connection: through db, they
        // would prepare journal_pending's and journal_remove's statements.
        raw_sql(path,
                "INSERT INTO storage_journal (key, state, user_id, created_at, next_attempt_at) VALUES "
                "('r1', 'remove', 1, 100, 100), ('p1', 'pending', 1, 100, 100)");
        if (prepared_first) ck_assert_msg(c.call(*db, &why), "%s: %s", c.name, why.c_str());
        raw_sql(path, std::string("ALTER TABLE ") + c.table + " RENAME TO table_gone");
        // A statement that reads a table makes this connection load the new
        // schema: without it, a first prepare would still succeed against
        // the schema it read at open, and fail only at its step.
        (void)db->load_account(1, &why);
        why.clear();
        ck_assert_msg(!c.call(*db, &why), "%s succeeded with %s gone (%s)", c.name, c.table,
                      prepared_first ? "statement prepared before" : "statement prepared after");
        ck_assert_msg(why.find("database: ") == 0, "%s failed with the reason \"%s\"", c.name, why.c_str());
    }
}

}  // namespace

START_TEST(test_journal_calls_fail_when_table_gone) { check_journal_calls_fail(false); }
END_TEST

START_TEST(test_journal_calls_fail_when_table_gone_prepared) { check_journal_calls_fail(true); }
END_TEST

// commit_update() reports a database error as Error (the upload answers 5xx
// and the pending row stays for the reaper), not as Committed.
START_TEST(test_commit_update_fails_when_journal_gone) {
    for (bool prepared_first : {false, true}) {
        std::string path;
        auto db = fresh_db(&path);
        std::string why;
        auto a = talent_account(*db);
        std::optional<std::string> old;
        if (prepared_first) {
            ck_assert(db->journal_pending("k0", 1, 99, &why));
            ck_assert(db->commit_update(a.user, *a.profile, {PictureUpdate::Kind::Replace, "k0"}, 99, &old, &why) ==
                      CommitResult::Committed);
        }
        ck_assert(db->journal_pending("k1", 1, 100, &why));
        raw_sql(path, "ALTER TABLE storage_journal RENAME TO journal_gone");
        why.clear();
        const CommitResult r =
            db->commit_update(a.user, *a.profile, {PictureUpdate::Kind::Replace, "k1"}, 100, &old, &why);
        ck_assert_msg(r == CommitResult::Error, "commit_update gave %d with storage_journal gone (%s)",
                      static_cast<int>(r), prepared_first ? "prepared before" : "prepared after");
        ck_assert_msg(!old, "commit_update failed but reported a replaced key");
        ck_assert_msg(why.find("database: ") == 0, "commit_update failed with the reason \"%s\"", why.c_str());
        raw_sql(path, "ALTER TABLE journal_gone RENAME TO storage_journal");
        auto b = *db->load_account(1, &why);
        ck_assert_msg(!b.profile->picture_key || *b.profile->picture_key == "k0",
                      "the failed commit changed the picture to %s", b.profile->picture_key->c_str());
    }
}
END_TEST

// A commit that changes the picture runs under synchronous=FULL (in WAL
// mode a power cut cannot take it back after the client was told it is
// stored: the reaper would then delete the new object as an abandoned
// upload); a plain field update keeps NORMAL.  The setting is read, as the
// UPDATE of talent_profiles runs, by a trigger on the same connection
// (pragma_synchronous: 2 is FULL, 1 NORMAL).
START_TEST(test_picture_commits_are_durable) {
    std::string path;
    auto db = fresh_db(&path);
    std::string why;
    ck_assert(db->add_user(talent(1), &why));
    raw_sql(path,
            "CREATE TABLE seen_sync (n INTEGER PRIMARY KEY, sync INTEGER);"
            "CREATE TRIGGER note_sync AFTER UPDATE ON talent_profiles BEGIN "
            "INSERT INTO seen_sync (sync) SELECT synchronous FROM pragma_synchronous; END");
    auto a = *db->load_account(1, &why);
    std::optional<std::string> old;
    ck_assert(db->journal_pending("k1", 1, 100, &why));
    ck_assert(db->commit_update(a.user, *a.profile, {PictureUpdate::Kind::Replace, "k1"}, 100, &old, &why) ==
              CommitResult::Committed);
    ck_assert(db->commit_update(a.user, *a.profile, {}, 101, &old, &why) == CommitResult::Committed);
    ck_assert(db->commit_update(a.user, *a.profile, {PictureUpdate::Kind::Clear, ""}, 102, &old, &why) ==
              CommitResult::Committed);
    sqlite3* raw = nullptr;
    ck_assert_int_eq(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    ck_assert_int_eq(sqlite3_prepare_v2(raw, "SELECT sync FROM seen_sync ORDER BY n", -1, &q, nullptr), SQLITE_OK);
    std::vector<int> seen;
    while (sqlite3_step(q) == SQLITE_ROW) seen.push_back(sqlite3_column_int(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(raw);
    ck_assert_int_eq(seen.size(), 3);
    ck_assert_msg(seen[0] == 2, "the replacing commit ran with synchronous=%d, not FULL (2)", seen[0]);
    ck_assert_msg(seen[1] == 1, "the field update ran with synchronous=%d, not NORMAL (1)", seen[1]);
    ck_assert_msg(seen[2] == 2, "the clearing commit ran with synchronous=%d, not FULL (2)", seen[2]);
}
END_TEST

namespace {

JournalEntry entry_of(Database& db, const std::string& key) {
    std::vector<JournalEntry> all;
    std::string why;
    ck_assert_msg(db.journal_entries(&all, &why), "%s", why.c_str());
    for (const JournalEntry& e : all)
        if (e.key == key) return e;
    ck_abort_msg("no journal row %s", key.c_str());
    return {};
}

}  // namespace

// Every column of a journal row reaches JournalEntry as written, each with
// a value no other column has (user 7, created 100, retried for 250...):
// the reaper's backoff reads attempts, `talentctl journal` and the audit
// show user_id and next_attempt_at.
START_TEST(test_journal_rows_read_back) {
    auto db = fresh_db();
    std::string why;
    ck_assert(db->journal_pending("p7", 7, 100, &why));
    JournalEntry e = entry_of(*db, "p7");
    ck_assert_str_eq(e.state.c_str(), "pending");
    ck_assert_int_eq(e.user_id, 7);
    ck_assert_int_eq(e.created_at, 100);
    ck_assert_int_eq(e.attempts, 0);
    ck_assert_int_eq(e.next_attempt_at, 100);
    ck_assert_str_eq(e.last_error.c_str(), "");

    ck_assert(db->journal_retry_later("p7", 250, "timeout", &why));
    e = entry_of(*db, "p7");
    ck_assert_int_eq(e.user_id, 7);
    ck_assert_int_eq(e.created_at, 100);
    ck_assert_int_eq(e.attempts, 1);
    ck_assert_int_eq(e.next_attempt_at, 250);
    ck_assert_str_eq(e.last_error.c_str(), "timeout");

    // A pending row turned into a removal keeps its user and creation time.
    ck_assert(db->journal_remove("p7", 7, 300, &why));
    e = entry_of(*db, "p7");
    ck_assert_str_eq(e.state.c_str(), "remove");
    ck_assert_int_eq(e.user_id, 7);
    ck_assert_int_eq(e.created_at, 100);
    ck_assert_int_eq(e.next_attempt_at, 300);

    ck_assert(db->journal_remove("r9", 9, 400, &why));
    e = entry_of(*db, "r9");
    ck_assert_str_eq(e.state.c_str(), "remove");
    ck_assert_int_eq(e.user_id, 9);
    ck_assert_int_eq(e.created_at, 400);
    ck_assert_int_eq(e.attempts, 0);
    ck_assert_int_eq(e.next_attempt_at, 400);

    // take_entry() reads the same row.
    JournalEntry taken_entry;
    bool taken = false;
    ck_assert(db->take_entry("r9", 500, 0, &taken_entry, &taken, &why));
    ck_assert(taken);
    ck_assert_str_eq(taken_entry.key.c_str(), "r9");
    ck_assert_int_eq(taken_entry.user_id, 9);
    ck_assert_int_eq(taken_entry.created_at, 400);
    ck_assert_int_eq(taken_entry.next_attempt_at, 400);
}
END_TEST

// Out-parameters are set, not added to: a caller's vector or optional
// that still holds an earlier call's answer gets only this call's.
START_TEST(test_outputs_are_replaced) {
    auto db = fresh_db();
    std::string why;
    auto a = talent_account(*db);
    std::optional<std::string> old = std::string("stale");
    ck_assert(db->journal_pending("k1", 1, 100, &why));
    ck_assert(db->commit_update(a.user, *a.profile, {PictureUpdate::Kind::Replace, "k1"}, 100, &old, &why) ==
              CommitResult::Committed);
    ck_assert_msg(!old, "the first picture replaced \"%s\"", old->c_str());

    std::vector<std::string> keys = {"stale"};
    ck_assert(db->referenced_keys(&keys, &why));
    ck_assert_int_eq(keys.size(), 1);
    ck_assert_str_eq(keys[0].c_str(), "k1");

    std::vector<JournalEntry> rows(2);
    ck_assert(db->journal_remove("r1", 1, 100, &why));
    ck_assert(db->journal_entries(&rows, &why));
    ck_assert_int_eq(rows.size(), 1);
    rows.resize(3);
    ck_assert(db->due_entries(100, 0, &rows, &why));
    ck_assert_int_eq(rows.size(), 1);
}
END_TEST

// commit_update() writes every field of the form where it belongs, each
// with a value no other field has, with and without a picture change, and
// a date of birth both set and cleared (its column alone may be NULL).
START_TEST(test_commit_update_writes_every_field) {
    auto db = fresh_db();
    std::string why;
    ck_assert(db->add_user(talent(1), &why));
    ck_assert(db->add_user(talent(2), &why));   // a neighbour the update must leave alone
    auto a = *db->load_account(1, &why);
    std::optional<std::string> old;
    for (bool with_picture : {false, true}) {
        const std::string tag = with_picture ? "p" : "f";
        a.user.first_name = "First-" + tag;
        a.user.last_name = "Last-" + tag;
        a.profile->aboutyou = "About-" + tag;
        a.profile->city = "City-" + tag;
        a.profile->country = "Country-" + tag;
        a.profile->gender = "Gender-" + tag;
        a.profile->date_of_birth = with_picture ? "1990-02-03" : "1980-01-02";
        a.profile->phone = with_picture ? "+4711" : "+4722";
        talentd::db::PictureUpdate picture;
        if (with_picture) {
            ck_assert(db->journal_pending("k-" + tag, 1, 100, &why));
            picture = {PictureUpdate::Kind::Replace, "k-" + tag};
        }
        ck_assert(db->commit_update(a.user, *a.profile, picture, 100, &old, &why) == CommitResult::Committed);
        auto b = *db->load_account(1, &why);
        ck_assert_str_eq(b.user.first_name.c_str(), a.user.first_name.c_str());
        ck_assert_str_eq(b.user.last_name.c_str(), a.user.last_name.c_str());
        ck_assert_str_eq(b.profile->aboutyou.c_str(), a.profile->aboutyou.c_str());
        ck_assert_str_eq(b.profile->city.c_str(), a.profile->city.c_str());
        ck_assert_str_eq(b.profile->country.c_str(), a.profile->country.c_str());
        ck_assert_str_eq(b.profile->gender.c_str(), a.profile->gender.c_str());
        ck_assert_msg(b.profile->date_of_birth && *b.profile->date_of_birth == *a.profile->date_of_birth,
                      "date of birth %s, not %s", b.profile->date_of_birth ? b.profile->date_of_birth->c_str() : "NULL",
                      a.profile->date_of_birth->c_str());
        ck_assert_str_eq(b.profile->phone.c_str(), a.profile->phone.c_str());
        if (with_picture) ck_assert(b.profile->picture_key && *b.profile->picture_key == "k-p");
        else ck_assert(!b.profile->picture_key);
        auto other = *db->load_account(2, &why);
        ck_assert_str_eq(other.user.first_name.c_str(), "F");
        ck_assert_str_eq(other.profile->city.c_str(), "");
    }
    a.profile->date_of_birth.reset();
    ck_assert(db->commit_update(a.user, *a.profile, {}, 101, &old, &why) == CommitResult::Committed);
    ck_assert(!db->load_account(1, &why)->profile->date_of_birth);
}
END_TEST

// A COMMIT that fails (here a deferred foreign key the transaction broke,
// checked only at COMMIT: the test's own table and trigger) is an Error
// that names no replaced key -- the caller would otherwise delete the
// picture the profile still points at -- and leaves everything as it was.
START_TEST(test_failed_commit_replaces_nothing) {
    std::string path;
    auto db = fresh_db(&path);
    std::string why;
    auto a = talent_account(*db);
    std::optional<std::string> old;
    ck_assert(db->journal_pending("k1", 1, 100, &why));
    ck_assert(db->commit_update(a.user, *a.profile, {PictureUpdate::Kind::Replace, "k1"}, 100, &old, &why) ==
              CommitResult::Committed);
    raw_sql(path,
            "CREATE TABLE dangling (user_id INTEGER REFERENCES users(id) DEFERRABLE INITIALLY DEFERRED);"
            "CREATE TRIGGER break_commit AFTER UPDATE OF profile_picture ON talent_profiles BEGIN "
            "INSERT INTO dangling VALUES (-1); END");
    ck_assert(db->journal_pending("k2", 1, 101, &why));
    why.clear();
    const CommitResult r =
        db->commit_update(a.user, *a.profile, {PictureUpdate::Kind::Replace, "k2"}, 101, &old, &why);
    ck_assert_msg(r == CommitResult::Error, "commit_update gave %d when its COMMIT failed", static_cast<int>(r));
    ck_assert_msg(!old, "a failed commit reported the replaced key \"%s\"", old->c_str());
    ck_assert_msg(why.find("database: ") == 0, "the reason \"%s\"", why.c_str());
    auto b = *db->load_account(1, &why);
    ck_assert(b.profile->picture_key && *b.profile->picture_key == "k1");
    ck_assert_int_eq(entry_of(*db, "k2").state == "pending", 1);   // still pending: the reaper's
    std::vector<JournalEntry> all;
    ck_assert(db->journal_entries(&all, &why));
    ck_assert_int_eq(all.size(), 1);   // k1 not journaled for removal
}
END_TEST

int main() {
    Suite* s = suite_create("db");
    TCase* tc = tcase_create("sqlite");
    tcase_add_unchecked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, test_migrate_is_idempotent);
    tcase_add_test(tc, test_users_and_profiles);
    tcase_add_test(tc, test_import_all_or_nothing);
    tcase_add_test(tc, test_replace_journals_old_key);
    tcase_add_test(tc, test_claimed_pending_blocks_commit);
    tcase_add_test(tc, test_due_entries_and_backoff_rows);
    tcase_add_test(tc, test_due_entries_in_pages);
    tcase_add_test(tc, test_field_update_keeps_picture);
    tcase_add_test(tc, test_journal_summary);
    tcase_add_test(tc, test_journal_summary_fails_with_the_database);
    tcase_add_test(tc, test_journal_calls_fail_when_table_gone);
    tcase_add_test(tc, test_journal_calls_fail_when_table_gone_prepared);
    tcase_add_test(tc, test_commit_update_fails_when_journal_gone);
    tcase_add_test(tc, test_picture_commits_are_durable);
    tcase_add_test(tc, test_journal_rows_read_back);
    tcase_add_test(tc, test_outputs_are_replaced);
    tcase_add_test(tc, test_commit_update_writes_every_field);
    tcase_add_test(tc, test_failed_commit_replaces_nothing);
    suite_add_tcase(s, tc);
    SRunner* r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
