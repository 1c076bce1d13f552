// The cleanup module: the reaper and the audit on a temporary SQLite
// database and a real s3rver (started once by main(), before the tests
// fork); the backoff and the partial flag.
//
// The reaper and audit are called with an explicit `now`, so the grace and
// the backoff are tested to the second without waiting.
#include "api/profile_api.h"
#include "cleanup/pictures.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../support/raw_sql.h"
#include "../support/s3rver.h"
#include "../support/stack.h"
#include "../support/temp_dir.h"
#include "core/config.h"
#include "db/database.h"
#include "storage/store.h"
#include "storage/store_gate.h"

// Last: check.h defines a `fail` macro that breaks the standard headers.
#include <check.h>

using talentd::api::partial_requested;
using talentd::cleanup::backoff_seconds;
namespace t = talentd::test;
namespace cleanup = talentd::cleanup;
namespace db = talentd::db;
namespace storage = talentd::storage;

namespace {

constexpr const char* kBucket = "talentd-cleanup";
constexpr int64_t kNow = 1'800'000'000;   // the reaper's clock in these tests
t::S3rver* g_s3 = nullptr;

// A fresh database with talent user 7, a configuration pointing at s3rver
// and a store; one per test.
struct World {
    t::TempDir dir{"talentd-cleanup-test"};
    talentd::Config config;
    std::unique_ptr<db::Database> database;
    std::unique_ptr<storage::Store> store;

    World() {
        config.database = dir.file("talentd.db");
        config.s3_endpoint = g_s3->endpoint();
        config.s3_bucket = kBucket;
        config.s3_access_key = t::S3rver::kAccessKey;
        config.s3_secret_key = t::S3rver::kSecretKey;
        config.pending_grace = 3600;
        config.reap_backoff_base = 60;
        config.reap_backoff_max = 86400;
        std::string why;
        database = db::Database::open(config.database, 5000, &why);
        ck_assert_msg(database != nullptr, "%s", why.c_str());
        int applied = 0;
        ck_assert_msg(database->migrate(&applied, &why), "%s", why.c_str());
        talentd::profile::User user;
        user.id = 7;
        user.email = "user7@example.com";
        user.is_talent = true;
        ck_assert_msg(database->add_user(user, &why), "%s", why.c_str());
        storage::StoreSettings settings = storage::store_settings_from(config);
        ck_assert_msg(storage::initialize_process(settings, &why), "%s", why.c_str());
        store = std::make_unique<storage::Store>(settings);
    }
    ~World() { storage::shutdown_process(); }

    std::string key(const std::string& tag) const {
        return config.media_prefix + "user_7_" + tag + std::string(32 - tag.size(), '0') + ".png";
    }
    void put(const std::string& key) const {
        storage::Result r = store->put(key, reinterpret_cast<const uint8_t*>("png!"), 4, "image/png");
        ck_assert_msg(r.ok(), "put %s: %s", key.c_str(), r.detail.c_str());
    }
    bool exists(const std::string& key) const {
        storage::ObjectInfo info;
        storage::Result r = store->head(key, &info);
        ck_assert_msg(r.ok() || r.outcome == storage::Outcome::NotFound, "head %s: %s", key.c_str(),
                      r.detail.c_str());
        return r.ok();
    }
    // Points user 7's profile at `key` through the replacement protocol.
    void reference(const std::string& key, int64_t at) const {
        std::string why;
        ck_assert_msg(database->journal_pending(key, 7, at, &why), "%s", why.c_str());
        auto account = database->load_account(7, &why);
        ck_assert_msg(account && account->profile, "user 7: %s", why.c_str());
        db::PictureUpdate picture;
        picture.kind = db::PictureUpdate::Kind::Replace;
        picture.new_key = key;
        std::optional<std::string> old_key;
        ck_assert(database->commit_update(account->user, *account->profile, picture, at, &old_key, &why) ==
                  db::CommitResult::Committed);
    }
    std::vector<db::JournalEntry> journal() const {
        std::vector<db::JournalEntry> rows;
        std::string why;
        ck_assert_msg(database->journal_entries(&rows, &why), "%s", why.c_str());
        return rows;
    }
    // SQL on a second connection to the same file: the faults below are the
    // database's own (a trigger that aborts a statement, a table gone).
    void sql(const std::string& text) const { talentd::test::raw_sql(config.database, text); }
    // reap() that must fail (a database error): false, a reason, and the
    // object of `key` still in the bucket unless `deleted_first`.
    void reap_fails(int64_t now, const std::string& key, bool deleted_first, const char* what) const {
        cleanup::ReapReport report;
        std::string why;
        ck_assert_msg(!cleanup::reap(config, *database, *store, now, &report, &why),
                      "%s: reap() said it succeeded (removed %d, dropped %d, failed %d)", what, report.removed,
                      report.dropped_referenced, report.failed);
        ck_assert_msg(!why.empty(), "%s: no reason given", what);
        ck_assert_msg(exists(key) != deleted_first, "%s: the object is %s", what, deleted_first ? "still there" : "gone");
    }
    cleanup::ReapReport reap(int64_t now) const {
        cleanup::ReapReport report;
        std::string why;
        ck_assert_msg(cleanup::reap(config, *database, *store, now, &report, &why), "reap: %s", why.c_str());
        return report;
    }
};

// The real SQLite database with one step injected, take_entry(): it fails
// (SQLite cannot make that read fail while due_entries(), a read of the
// same table just before it, succeeds: WAL readers are never busy), or it
// finds every row held by another host's reaper (PostgreSQL's SKIP LOCKED,
// which one SQLite connection cannot show); or, in mode CommittedMeanwhile,
// take_entry() is the database's own and the first pending row is
// committed by a worker between the take and the claim (its row dropped
// just before claim_pending(), a race no single-threaded test can time).
// Everything else is the database's own.
class TakeFails : public db::Database {
  public:
    enum class Mode { Fails, HeldElsewhere, CommittedMeanwhile };
    explicit TakeFails(db::Database& real, Mode mode = Mode::Fails) : real_(real), mode_(mode) {}
    int takes = 0;
    int claims = 0;
    int expected_schema_version() const override { return real_.expected_schema_version(); }
    int schema_version() override { return real_.schema_version(); }
    bool migrate(int* applied, std::string* why) override { return real_.migrate(applied, why); }
    std::optional<db::Account> load_account(int64_t id, std::string* why) override { return real_.load_account(id, why); }
    bool add_user(const db::User& u, std::string* why) override { return real_.add_user(u, why); }
    bool update_user(const db::User& u, std::string* why) override { return real_.update_user(u, why); }
    bool list_users(std::vector<db::Account>* out, std::string* why) override { return real_.list_users(out, why); }
    bool import_users(const std::vector<db::User>& u, std::string* why) override { return real_.import_users(u, why); }
    bool journal_pending(const std::string& k, int64_t u, int64_t now, std::string* why) override {
        return real_.journal_pending(k, u, now, why);
    }
    db::CommitResult commit_update(const db::User& u, const db::Profile& p, const db::PictureUpdate& pic, int64_t now,
                                   std::optional<std::string>* old_key, std::string* why) override {
        return real_.commit_update(u, p, pic, now, old_key, why);
    }
    bool journal_entries(std::vector<db::JournalEntry>* out, std::string* why) override {
        return real_.journal_entries(out, why);
    }
    bool journal_summary(db::JournalSummary* out, std::string* why) override {
        return real_.journal_summary(out, why);
    }
    bool due_entries(int64_t now, int64_t before, const db::JournalCursor& after, int64_t limit,
                     std::vector<db::JournalEntry>* out, std::string* why) override {
        return real_.due_entries(now, before, after, limit, out, why);
    }
    bool take_entry(const std::string& k, int64_t now, int64_t before, db::JournalEntry* entry, bool* taken,
                    std::string* why) override {
        ++takes;
        if (mode_ == Mode::CommittedMeanwhile) return real_.take_entry(k, now, before, entry, taken, why);
        *taken = false;
        if (mode_ == Mode::HeldElsewhere) {
            if (takes <= 100'000) return true;
            *why = "take_entry: the reaper keeps asking for rows it was refused";   // fail fast, not at the time-out
            return false;
        }
        *why = "take_entry: injected failure";
        return false;
    }
    bool release_entry(std::string* why) override { return real_.release_entry(why); }
    bool claim_pending(const std::string& k, int64_t now, bool* claimed, std::string* why) override {
        if (mode_ == Mode::CommittedMeanwhile && claims++ == 0 && !real_.journal_drop_pending(k, why)) return false;
        return real_.claim_pending(k, now, claimed, why);
    }
    bool journal_remove(const std::string& k, int64_t u, int64_t now, std::string* why) override {
        return real_.journal_remove(k, u, now, why);
    }
    bool journal_done(const std::string& k, std::string* why) override { return real_.journal_done(k, why); }
    bool journal_drop_pending(const std::string& k, std::string* why) override { return real_.journal_drop_pending(k, why); }
    bool journal_retry_later(const std::string& k, int64_t next, const std::string& e, std::string* why) override {
        return real_.journal_retry_later(k, next, e, why);
    }
    bool is_referenced(const std::string& k, bool* referenced, std::string* why) override {
        return real_.is_referenced(k, referenced, why);
    }
    bool referenced_keys(std::vector<std::string>* out, std::string* why) override { return real_.referenced_keys(out, why); }
    bool ping(std::string* why) override { return real_.ping(why); }

  private:
    db::Database& real_;
    Mode mode_;
};

}  // namespace

// A removal row for a key a profile still shows (a stale row): the row is
// dropped, the object stays.
START_TEST(reaper_never_deletes_a_referenced_key) {
    World w;
    const std::string shown = w.key("a1");
    w.put(shown);
    w.reference(shown, kNow - 10);
    std::string why;
    ck_assert(w.database->journal_remove(shown, 7, kNow - 5, &why));
    cleanup::ReapReport report = w.reap(kNow);
    ck_assert_int_eq(report.dropped_referenced, 1);
    ck_assert_int_eq(report.removed, 0);
    ck_assert_int_eq(report.failed, 0);
    ck_assert_msg(w.exists(shown), "the reaper deleted the picture a profile shows");
    ck_assert_uint_eq(w.journal().size(), 0);
}
END_TEST

// A pending row (an upload in flight) is left alone until pending_grace has
// passed since it was journaled — to the second — then claimed and removed.
START_TEST(reaper_respects_pending_grace) {
    World w;
    const std::string uploading = w.key("b2");
    std::string why;
    ck_assert(w.database->journal_pending(uploading, 7, kNow, &why));
    w.put(uploading);
    for (int64_t now : {kNow, kNow + 1, kNow + w.config.pending_grace - 1}) {
        cleanup::ReapReport report = w.reap(now);
        ck_assert_msg(report.claimed_pending == 0 && report.removed == 0, "at +%lld s: claimed %d removed %d",
                      static_cast<long long>(now - kNow), report.claimed_pending, report.removed);
        ck_assert_msg(w.exists(uploading), "an upload inside pending_grace was deleted");
        std::vector<db::JournalEntry> rows = w.journal();
        ck_assert_uint_eq(rows.size(), 1);
        ck_assert_str_eq(rows[0].state.c_str(), "pending");
    }
    cleanup::ReapReport report = w.reap(kNow + w.config.pending_grace);
    ck_assert_int_eq(report.claimed_pending, 1);
    ck_assert_int_eq(report.removed, 1);
    ck_assert_msg(!w.exists(uploading), "the abandoned upload is still in the bucket");
    ck_assert_uint_eq(w.journal().size(), 0);
}
END_TEST

// A pending row whose upload was committed meanwhile is not the reaper's:
// the commit dropped it, and the object is the profile's.
START_TEST(reaper_leaves_committed_uploads) {
    World w;
    const std::string committed = w.key("c3");
    w.put(committed);
    w.reference(committed, kNow - 2 * w.config.pending_grace);
    cleanup::ReapReport report = w.reap(kNow);
    ck_assert_int_eq(report.claimed_pending + report.removed + report.dropped_referenced, 0);
    ck_assert(w.exists(committed));
}
END_TEST

// A replaced key is deleted when due; a failed delete is retried later with
// the backoff, and not before.
START_TEST(reaper_removes_due_keys_and_backs_off) {
    World w;
    const std::string old_key = w.key("d4");
    w.put(old_key);
    std::string why;
    ck_assert(w.database->journal_remove(old_key, 7, kNow, &why));
    // Due at once (next_attempt_at = now): removed.
    cleanup::ReapReport report = w.reap(kNow);
    ck_assert_int_eq(report.removed, 1);
    ck_assert(!w.exists(old_key));
    ck_assert_uint_eq(w.journal().size(), 0);

    // A store that refuses (an unknown access key): failed, next attempt after the base delay.
    const std::string kept = w.key("e5");
    w.put(kept);
    ck_assert(w.database->journal_remove(kept, 7, kNow, &why));
    storage::StoreSettings bad = w.store->settings();
    bad.access_key = "NOBODY";
    storage::Store refusing(bad);
    cleanup::ReapReport failed;
    ck_assert(cleanup::reap(w.config, *w.database, refusing, kNow, &failed, &why));
    ck_assert_int_eq(failed.failed, 1);
    ck_assert_uint_eq(failed.errors.size(), 1);
    std::vector<db::JournalEntry> rows = w.journal();
    ck_assert_uint_eq(rows.size(), 1);
    ck_assert_int_eq(rows[0].attempts, 1);
    ck_assert_int_eq(rows[0].next_attempt_at, kNow + 60);
    ck_assert(w.exists(kept));
    // Not due one second before: untouched; due at the time: removed.
    report = w.reap(kNow + 59);
    ck_assert_int_eq(report.removed + report.failed, 0);
    ck_assert(w.exists(kept));
    report = w.reap(kNow + 60);
    ck_assert_int_eq(report.removed, 1);
    ck_assert(!w.exists(kept));
}
END_TEST

// The audit: orphans (in the bucket, referenced by no profile, journaled or
// not) and missing keys (referenced, not in the bucket); keys outside
// media_prefix are not its business.
START_TEST(audit_reports_orphans_and_missing_keys) {
    World w;
    w.config.media_prefix = "media/audit-" + std::to_string(getpid()) + "/";
    const std::string shown = w.key("f6"), orphan = w.key("a7"), journaled = w.key("b8");
    w.put(shown);
    w.reference(shown, kNow);
    cleanup::AuditReport clean;
    std::string why;
    ck_assert_msg(cleanup::audit(w.config, *w.database, *w.store, &clean, &why), "%s", why.c_str());
    ck_assert_uint_eq(clean.unreferenced.size(), 0);
    ck_assert_uint_eq(clean.missing.size(), 0);
    ck_assert_uint_eq(clean.bucket_keys, 1);
    ck_assert_uint_eq(clean.referenced_keys, 1);

    w.put(orphan);
    w.put(journaled);
    ck_assert(w.database->journal_pending(journaled, 7, kNow, &why));
    w.put("elsewhere/" + orphan);
    cleanup::AuditReport report;
    ck_assert_msg(cleanup::audit(w.config, *w.database, *w.store, &report, &why), "%s", why.c_str());
    std::vector<std::string> expected = {orphan, journaled};
    std::sort(expected.begin(), expected.end());
    std::vector<std::string> got = report.unreferenced;
    std::sort(got.begin(), got.end());
    ck_assert_msg(got == expected, "%zu unreferenced keys reported", got.size());
    ck_assert_uint_eq(report.missing.size(), 0);
    ck_assert_uint_eq(report.bucket_keys, 3);

    // The profile's object disappears: missing.
    ck_assert(w.store->remove(shown).ok());
    cleanup::AuditReport gone;
    ck_assert(cleanup::audit(w.config, *w.database, *w.store, &gone, &why));
    ck_assert_uint_eq(gone.missing.size(), 1);
    ck_assert_str_eq(gone.missing[0].c_str(), shown.c_str());
}
END_TEST

// `talentctl audit` exits 0 on a clean bucket, 1 with an orphan or a
// missing key, and names them.
START_TEST(talentctl_audit_exit_status) {
    World w;
    const std::string prefix = "media/ctl-" + std::to_string(getpid()) + "/";
    w.config.media_prefix = prefix;
    ck_assert(t::write_file(w.dir.file("s3_secret"), std::string(t::S3rver::kSecretKey) + "\n"));
    ck_assert(t::write_file(w.dir.file("jwt_secret"), "0123456789abcdef0123456789abcdef\n"));
    ck_assert(t::write_file(w.dir.file("talentd.conf"),
                            "database = " + w.config.database + "\ns3_endpoint = " + w.config.s3_endpoint +
                                "\ns3_bucket = " + kBucket + "\ns3_access_key = " + t::S3rver::kAccessKey +
                                "\ns3_secret_key_file = " + w.dir.file("s3_secret") +
                                "\njwt_secret_file = " + w.dir.file("jwt_secret") + "\nmedia_prefix = " + prefix +
                                "\n"));
    const std::string talentctl = t::stack_build_dir() + "/talentctl";
    auto audit = [&](std::string* out) {
        return t::run_command({talentctl, "-c", w.dir.file("talentd.conf"), "audit"}, {}, out);
    };
    const std::string shown = w.key("c9");
    w.put(shown);
    w.reference(shown, kNow);
    std::string out;
    int rc = audit(&out);
    ck_assert_msg(rc == 0, "clean bucket: status %d\n%s", rc, out.c_str());
    ck_assert_msg(out.find("1 referenced, 0 unreferenced, 0 missing") != std::string::npos, "%s", out.c_str());
    const std::string orphan = w.key("d0");
    w.put(orphan);
    rc = audit(&out);
    ck_assert_msg(rc == 1, "an orphan: status %d\n%s", rc, out.c_str());
    ck_assert_msg(out.find("unreferenced " + orphan) != std::string::npos, "%s", out.c_str());
    ck_assert(w.store->remove(orphan).ok());
    ck_assert(w.store->remove(shown).ok());
    rc = audit(&out);
    ck_assert_msg(rc == 1, "a missing key: status %d\n%s", rc, out.c_str());
    ck_assert_msg(out.find("missing " + shown) != std::string::npos, "%s", out.c_str());
}
END_TEST

// A database error at any step of the reaper fails the pass (false and a
// reason: the master counts a failed run and the operator sees it), and
// deletes nothing it should not have.  The errors are SQLite's own: a
// trigger that aborts the statement, or a table renamed away.
START_TEST(reaper_fails_on_database_errors) {
    {   // listing the due rows
        World w;
        const std::string k = w.key("e1");
        w.put(k);
        std::string why;
        ck_assert(w.database->journal_remove(k, 7, kNow, &why));
        w.sql("ALTER TABLE storage_journal RENAME TO journal_gone");
        w.reap_fails(kNow, k, false, "due_entries");
    }
    {   // claiming an abandoned upload
        World w;
        const std::string k = w.key("e2");
        std::string why;
        ck_assert(w.database->journal_pending(k, 7, kNow, &why));
        w.put(k);
        w.sql("CREATE TRIGGER no_claim BEFORE UPDATE ON storage_journal WHEN OLD.state = 'pending' "
              "BEGIN SELECT RAISE(ABORT, 'injected'); END");
        w.reap_fails(kNow + w.config.pending_grace, k, false, "claim_pending");
    }
    {   // asking whether a profile shows the key
        World w;
        const std::string k = w.key("e3");
        w.put(k);
        std::string why;
        ck_assert(w.database->journal_remove(k, 7, kNow, &why));
        w.sql("ALTER TABLE talent_profiles RENAME TO profiles_gone");
        w.reap_fails(kNow, k, false, "is_referenced");
    }
    {   // dropping the stale row of a key a profile shows
        World w;
        const std::string k = w.key("e4");
        w.put(k);
        w.reference(k, kNow - 10);
        std::string why;
        ck_assert(w.database->journal_remove(k, 7, kNow - 5, &why));
        w.sql("CREATE TRIGGER no_done BEFORE DELETE ON storage_journal BEGIN SELECT RAISE(ABORT, 'injected'); END");
        w.reap_fails(kNow, k, false, "journal_done of a referenced key");
    }
    {   // forgetting the row of an object just deleted
        World w;
        const std::string k = w.key("e5");
        w.put(k);
        std::string why;
        ck_assert(w.database->journal_remove(k, 7, kNow, &why));
        w.sql("CREATE TRIGGER no_done BEFORE DELETE ON storage_journal BEGIN SELECT RAISE(ABORT, 'injected'); END");
        w.reap_fails(kNow, k, true, "journal_done after the delete");
        ck_assert_uint_eq(w.journal().size(), 1);   // the row stays: the next pass finds the object gone
    }
    {   // taking the row (injected: see TakeFails)
        World w;
        const std::string k = w.key("e7");
        w.put(k);
        std::string why;
        ck_assert(w.database->journal_remove(k, 7, kNow, &why));
        TakeFails faulty(*w.database);
        cleanup::ReapReport report;
        ck_assert_msg(!cleanup::reap(w.config, faulty, *w.store, kNow, &report, &why), "take_entry: reap() succeeded");
        ck_assert_msg(why.find("injected") != std::string::npos, "reason: %s", why.c_str());
        ck_assert(w.exists(k));
    }
    {   // recording a failed delete for later
        World w;
        const std::string k = w.key("e6");
        w.put(k);
        std::string why;
        ck_assert(w.database->journal_remove(k, 7, kNow, &why));
        w.sql("CREATE TRIGGER no_retry BEFORE UPDATE ON storage_journal WHEN NEW.attempts > OLD.attempts "
              "BEGIN SELECT RAISE(ABORT, 'injected'); END");
        storage::StoreSettings bad = w.store->settings();
        bad.access_key = "NOBODY";
        storage::Store refusing(bad);
        cleanup::ReapReport report;
        ck_assert_msg(!cleanup::reap(w.config, *w.database, refusing, kNow, &report, &why),
                      "journal_retry_later: reap() said it succeeded");
        ck_assert(w.exists(k));
    }
}
END_TEST

// Consecutive failed deletes of one key wait longer each time: the attempt
// count read back from the row drives the backoff (60 s, then 120 s).
START_TEST(reaper_backoff_grows_with_attempts) {
    World w;
    const std::string k = w.key("f7");
    w.put(k);
    std::string why;
    ck_assert(w.database->journal_remove(k, 7, kNow, &why));
    storage::StoreSettings bad = w.store->settings();
    bad.access_key = "NOBODY";
    storage::Store refusing(bad);
    cleanup::ReapReport report;
    ck_assert(cleanup::reap(w.config, *w.database, refusing, kNow, &report, &why));
    std::vector<db::JournalEntry> rows = w.journal();
    ck_assert_uint_eq(rows.size(), 1);
    ck_assert_int_eq(rows[0].attempts, 1);
    ck_assert_int_eq(rows[0].next_attempt_at, kNow + 60);
    ck_assert(cleanup::reap(w.config, *w.database, refusing, kNow + 60, &report, &why));
    rows = w.journal();
    ck_assert_int_eq(rows[0].attempts, 2);
    ck_assert_int_eq(rows[0].next_attempt_at, kNow + 60 + 120);
    ck_assert(w.exists(k));
}
END_TEST

// A backlog longer than a page (the reaper reads kReapPageRows due rows at
// a time, rows of one second spanning the pages): each row is worked on
// exactly once per pass.  With every row held by another reaper (they stay
// due), the pass still ends, after one look at each.
START_TEST(reaper_reads_a_long_backlog_page_by_page) {
    World w;
    const int rows = static_cast<int>(cleanup::kReapPageRows) + 7;
    std::string why;
    for (int i = 0; i < rows; ++i) {
        char tag[16];
        std::snprintf(tag, sizeof tag, "p%04d", i);   // w.key() pads with zeros: "p1" would be "p10"
        ck_assert(w.database->journal_remove(w.key(tag), 7, kNow - 1000 + i / 3, &why));
    }
    // Uploads still in flight (inside pending_grace): never listed, so never taken.
    for (int i = 0; i < 5; ++i)
        ck_assert(w.database->journal_pending(w.key("young" + std::to_string(i)), 7, kNow - 10, &why));

    TakeFails held(*w.database, TakeFails::Mode::HeldElsewhere);
    cleanup::ReapReport report;
    ck_assert_msg(cleanup::reap(w.config, held, *w.store, kNow, &report, &why), "%s", why.c_str());
    ck_assert_int_eq(held.takes, rows);
    ck_assert_int_eq(report.removed + report.failed, 0);

    storage::StoreSettings bad = w.store->settings();
    bad.access_key = "NOBODY";
    storage::Store refusing(bad);
    report = {};
    ck_assert_msg(cleanup::reap(w.config, *w.database, refusing, kNow, &report, &why), "%s", why.c_str());
    ck_assert_int_eq(report.failed, rows);
    std::vector<db::JournalEntry> journal = w.journal();
    ck_assert_uint_eq(journal.size(), static_cast<size_t>(rows) + 5);
    for (const db::JournalEntry& row : journal)
        if (row.state == "remove")
            ck_assert_msg(row.attempts == 1, "%s: %d attempts in one pass", row.key.c_str(), row.attempts);
}
END_TEST

// An abandoned upload that a worker commits between the reaper's take and
// its claim: the reaper leaves that key alone and goes on with the rest of
// the pass (it is not a database error).
START_TEST(reaper_goes_on_after_a_commit_wins_the_claim) {
    World w;
    const std::string first = w.key("c1"), second = w.key("c2");
    w.put(first);
    w.put(second);
    std::string why;
    ck_assert(w.database->journal_pending(first, 7, kNow - 7200, &why));
    ck_assert(w.database->journal_pending(second, 7, kNow - 7100, &why));
    TakeFails racing(*w.database, TakeFails::Mode::CommittedMeanwhile);
    cleanup::ReapReport report;
    ck_assert_msg(cleanup::reap(w.config, racing, *w.store, kNow, &report, &why), "reap failed: %s", why.c_str());
    ck_assert_int_eq(racing.claims, 2);
    ck_assert_int_eq(report.claimed_pending, 1);
    ck_assert_int_eq(report.removed, 1);
    ck_assert(w.exists(first));
    ck_assert(!w.exists(second));
    ck_assert_uint_eq(w.journal().size(), 0);
}
END_TEST

// The audit fails, with a reason, when the bucket cannot be listed or the
// database cannot be read: an audit that cannot see both sides must not
// report a clean bucket.
START_TEST(audit_fails_when_it_cannot_see) {
    World w;
    w.config.media_prefix = "media/audit-fail-" + std::to_string(getpid()) + "/";
    w.put(w.key("a8"));
    storage::StoreSettings bad = w.store->settings();
    bad.access_key = "NOBODY";
    storage::Store refusing(bad);
    cleanup::AuditReport report;
    std::string why;
    ck_assert_msg(!cleanup::audit(w.config, *w.database, refusing, &report, &why), "a refused listing passed");
    ck_assert_msg(why.find("listing the bucket failed") != std::string::npos, "reason: %s", why.c_str());
    why.clear();
    w.sql("ALTER TABLE talent_profiles RENAME TO profiles_gone");
    ck_assert_msg(!cleanup::audit(w.config, *w.database, *w.store, &report, &why), "an unreadable database passed");
    ck_assert_msg(!why.empty(), "no reason given");
}
END_TEST

// --- Pictures: the upload path's answers, its gate, a failed commit ------------------------

namespace {

// A 127.0.0.1 port bound and never listened on: every connection to it is
// refused, and no other process can take it while the test holds it.
struct RefusedPort {
    int fd = -1;
    int port = 0;
    RefusedPort() {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert(fd >= 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        socklen_t len = sizeof addr;
        ck_assert(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        port = ntohs(addr.sin_port);
    }
    ~RefusedPort() { close(fd); }
};

const uint8_t kPng[] = {0x89, 'P', 'N', 'G'};

cleanup::PictureBytes png() {
    cleanup::PictureBytes picture;
    picture.data = kPng;
    picture.size = sizeof kPng;
    picture.extension = "png";
    picture.content_type = "image/png";
    return picture;
}

std::string header_of(const talentd::ApiError& error, const std::string& name) {
    for (const auto& h : error.headers)
        if (h.name == name) return h.value;
    return "";
}

// 503 with the configured Retry-After and the message of `what`.
void assert_503(const talentd::ApiError& error, const char* what, const char* context) {
    ck_assert_msg(error.status == 503, "%s: status %d %s", context, error.status, error.body.c_str());
    ck_assert_msg(header_of(error, "Retry-After") == "17", "%s: Retry-After \"%s\"", context,
                  header_of(error, "Retry-After").c_str());
    ck_assert_msg(error.body.find(what) != std::string::npos, "%s: body %s", context, error.body.c_str());
}

}  // namespace

// The answers of a failed upload: 503 with Retry-After when the store or the
// database is unavailable (the client retries), 500 without when the
// database refused the statement (retrying will not help).
START_TEST(upload_failures_answer_503_or_500) {
    World w;
    w.config.retry_after = 17;
    assert_503(cleanup::storage_unavailable(w.config), "Storage temporarily unavailable", "storage_unavailable");

    // The database busy past its timeout: another connection holds the write lock.
    std::string why;
    auto busy = db::Database::open(w.config.database, 20, &why);
    ck_assert_msg(busy != nullptr, "%s", why.c_str());
    sqlite3* holder = nullptr;
    ck_assert_int_eq(sqlite3_open(w.config.database.c_str(), &holder), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(holder, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    {
        cleanup::Pictures pictures(w.config, *busy, *w.store);
        talentd::ApiError error;
        ck_assert(!pictures.store(7, png(), &error));
        assert_503(error, "Database temporarily unavailable", "database busy");
    }
    sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(holder);

    // The statement refused: the journal is gone.
    w.sql("ALTER TABLE storage_journal RENAME TO journal_gone");
    cleanup::Pictures pictures(w.config, *busy, *w.store);
    talentd::ApiError error;
    ck_assert(!pictures.store(7, png(), &error));
    ck_assert_msg(error.status == 500, "database error: status %d %s", error.status, error.body.c_str());
    ck_assert_msg(header_of(error, "Retry-After").empty(), "a 500 with Retry-After");
    ck_assert_msg(error.body.find("A server error occurred.") != std::string::npos, "body %s", error.body.c_str());
}
END_TEST

// Every store call passes the gate of its generation: refused by the
// bulkhead or the open breaker, an upload journals nothing and answers 503,
// a delete is left to the reaper (the row names why and is due after the
// backoff base); a store found unavailable opens the breaker, one that
// answers keeps it closed.
START_TEST(uploads_and_deletes_pass_the_gate) {
    World w;
    w.config.retry_after = 17;
    w.config.store_concurrency = 1;
    w.config.store_busy_wait = 1;
    w.config.store_breaker_failures = 1;
    w.config.store_breaker_cooldown = 3600;
    std::string why;
    auto gate = storage::StoreGate::create(&why);
    ck_assert_msg(gate != nullptr, "%s", why.c_str());
    // After a reload: the workers count in the other half of the slots.
    gate->next_generation();
    storage::GateSettings settings = storage::gate_settings_from(w.config);
    settings.generation = gate->generation();

    const std::string kept = w.key("g1");
    w.put(kept);
    ck_assert(w.database->journal_remove(kept, 7, kNow, &why));
    {
        // The one slot of this generation is taken by a store call that is not quick.
        storage::StoreGate::Pass holder = gate->enter(settings);
        ck_assert(holder.admitted());
        usleep(5000);
        cleanup::Pictures pictures(w.config, *w.database, *w.store, gate.get());
        talentd::ApiError error;
        ck_assert_msg(!pictures.store(7, png(), &error), "an upload passed a full bulkhead");
        assert_503(error, "Storage temporarily unavailable", "bulkhead full");
        ck_assert_uint_eq(w.journal().size(), 1);   // only the removal row: the upload journaled nothing

        const int64_t t0 = time(nullptr);
        pictures.clean_up(kept, 7);
        const int64_t t1 = time(nullptr);
        ck_assert_msg(w.exists(kept), "a delete passed a full bulkhead");
        std::vector<db::JournalEntry> rows = w.journal();
        ck_assert_uint_eq(rows.size(), 1);
        ck_assert_int_eq(rows[0].attempts, 1);
        ck_assert_str_eq(rows[0].last_error.c_str(), "store_concurrency reached");
        ck_assert_msg(rows[0].next_attempt_at >= t0 + 60 && rows[0].next_attempt_at <= t1 + 60,
                      "next attempt %lld s after the refusal", static_cast<long long>(rows[0].next_attempt_at - t0));
    }

    // A store that answers (s3rver): admitted, the breaker stays closed.
    {
        cleanup::Pictures pictures(w.config, *w.database, *w.store, gate.get());
        talentd::ApiError error;
        std::optional<std::string> key = pictures.store(7, png(), &error);
        ck_assert_msg(key, "upload: %d %s", error.status, error.body.c_str());
        ck_assert(w.exists(*key));
        ck_assert_msg(gate->snapshot().breaker == storage::BreakerState::Closed, "a stored upload opened the breaker");
        ck_assert(w.database->journal_drop_pending(*key, &why));
    }

    // A store that refuses connections: the upload answers 503, drops its
    // pending row (nothing can have been written) and opens the breaker.
    RefusedPort refused;
    storage::StoreSettings dead_settings = w.store->settings();
    dead_settings.endpoint = "127.0.0.1:" + std::to_string(refused.port);
    storage::Store dead(dead_settings);
    {
        cleanup::Pictures pictures(w.config, *w.database, dead, gate.get());
        talentd::ApiError error;
        ck_assert(!pictures.store(7, png(), &error));
        assert_503(error, "Storage temporarily unavailable", "store down");
        ck_assert_uint_eq(w.journal().size(), 1);   // the pending row dropped, the removal row kept
        ck_assert_msg(gate->snapshot().breaker == storage::BreakerState::Open, "a failed upload left the breaker %s",
                      storage::breaker_state_name(gate->snapshot().breaker));
    }
    // Open: even the store that answers is not called.
    {
        cleanup::Pictures pictures(w.config, *w.database, *w.store, gate.get());
        pictures.clean_up(kept, 7);
        ck_assert_msg(w.exists(kept), "a delete passed an open breaker");
        std::vector<db::JournalEntry> rows = w.journal();
        ck_assert_uint_eq(rows.size(), 1);
        ck_assert_int_eq(rows[0].attempts, 2);
        ck_assert_str_eq(rows[0].last_error.c_str(), "store breaker open");
    }

    // A delete that finds the store unavailable opens a fresh gate's breaker
    // and is left to the reaper after the backoff base.
    auto gate2 = storage::StoreGate::create(&why);
    ck_assert_msg(gate2 != nullptr, "%s", why.c_str());
    const std::string replaced = w.key("g2");
    w.put(replaced);
    ck_assert(w.database->journal_remove(replaced, 7, kNow, &why));
    {
        cleanup::Pictures pictures(w.config, *w.database, dead, gate2.get());
        const int64_t t0 = time(nullptr);
        pictures.clean_up(replaced, 7);
        const int64_t t1 = time(nullptr);
        ck_assert(w.exists(replaced));
        bool kept_row = false;
        for (const db::JournalEntry& e : w.journal())
            if (e.key == replaced) {
                kept_row = true;
                ck_assert_int_eq(e.attempts, 1);
                ck_assert_msg(!e.last_error.empty(), "no last_error");
                ck_assert_msg(e.next_attempt_at >= t0 + 60 && e.next_attempt_at <= t1 + 60, "next attempt %lld s after",
                              static_cast<long long>(e.next_attempt_at - t0));
            }
        ck_assert_msg(kept_row, "a failed delete forgot its journal row");
        ck_assert_msg(gate2->snapshot().breaker == storage::BreakerState::Open, "a failed delete left the breaker %s",
                      storage::breaker_state_name(gate2->snapshot().breaker));
    }
    // Through a closed gate the delete goes through and forgets the row.
    auto gate3 = storage::StoreGate::create(&why);
    ck_assert_msg(gate3 != nullptr, "%s", why.c_str());
    {
        cleanup::Pictures pictures(w.config, *w.database, *w.store, gate3.get());
        pictures.clean_up(replaced, 7);
        ck_assert(!w.exists(replaced));
        for (const db::JournalEntry& e : w.journal()) ck_assert_str_ne(e.key.c_str(), replaced.c_str());
        ck_assert(gate3->snapshot().breaker == storage::BreakerState::Closed);
    }
}
END_TEST

// A commit that fails for another reason than a lost pending row leaves the
// new key to the reaper: the object and its pending row stay.  Deleting it
// at once would be wrong where the commit's outcome is unknown (PostgreSQL's
// connection lost at COMMIT): the profile may show it now.
START_TEST(failed_commit_leaves_the_new_key_to_the_reaper) {
    World w;
    cleanup::Pictures pictures(w.config, *w.database, *w.store);
    talentd::ApiError error;
    std::optional<std::string> key = pictures.store(7, png(), &error);
    ck_assert_msg(key, "upload: %d %s", error.status, error.body.c_str());
    w.sql("CREATE TRIGGER no_commit BEFORE UPDATE ON talent_profiles BEGIN SELECT RAISE(ABORT, 'injected'); END");
    std::string why;
    auto account = w.database->load_account(7, &why);
    ck_assert_msg(account && account->profile, "user 7: %s", why.c_str());
    db::PictureUpdate picture;
    picture.kind = db::PictureUpdate::Kind::Replace;
    picture.new_key = *key;
    std::optional<std::string> old_key;
    ck_assert(pictures.commit(account->user, *account->profile, picture, &old_key, &why) == db::CommitResult::Error);
    ck_assert_msg(w.exists(*key), "a failed commit deleted its new object");
    std::vector<db::JournalEntry> rows = w.journal();
    ck_assert_uint_eq(rows.size(), 1);
    ck_assert_str_eq(rows[0].key.c_str(), key->c_str());
    ck_assert_str_eq(rows[0].state.c_str(), "pending");
}
END_TEST

START_TEST(test_backoff_doubles_and_caps) {
    ck_assert_int_eq(backoff_seconds(1, 60, 86400), 60);
    ck_assert_int_eq(backoff_seconds(2, 60, 86400), 120);
    ck_assert_int_eq(backoff_seconds(3, 60, 86400), 240);
    ck_assert_int_eq(backoff_seconds(11, 60, 86400), 61440);
    ck_assert_int_eq(backoff_seconds(12, 60, 86400), 86400);
    ck_assert_int_eq(backoff_seconds(1000, 60, 86400), 86400);   // no overflow
    ck_assert_int_eq(backoff_seconds(0, 60, 86400), 60);
}
END_TEST

START_TEST(test_partial_flag) {
    ck_assert(partial_requested("partial=true"));
    ck_assert(partial_requested("partial=True"));
    ck_assert(partial_requested("a=b&partial=1"));
    ck_assert(partial_requested("partial=yes"));
    ck_assert(!partial_requested("partial=false"));
    ck_assert(!partial_requested("partial=0"));
    ck_assert(!partial_requested("partial="));
    ck_assert(!partial_requested(""));
    ck_assert(!partial_requested("partially=true"));
}
END_TEST

int main() {
    // s3rver lets well-formed signatures pass: the audit lists the bucket
    // (see tests/support/s3rver.h); an unknown access key is still refused.
    t::S3rver s3;
    std::string error;
    if (!s3.start(kBucket, &error, t::S3rver::Signatures::Lenient)) {
        std::fprintf(stderr, "test_cleanup: %s\n", error.c_str());
        return 1;
    }
    g_s3 = &s3;
    Suite* s = suite_create("cleanup");
    TCase* tc = tcase_create("pure");
    tcase_add_test(tc, test_backoff_doubles_and_caps);
    tcase_add_test(tc, test_partial_flag);
    suite_add_tcase(s, tc);
    TCase* reaper = tcase_create("reaper");
    tcase_set_timeout(reaper, 60);
    tcase_add_test(reaper, reaper_never_deletes_a_referenced_key);
    tcase_add_test(reaper, reaper_respects_pending_grace);
    tcase_add_test(reaper, reaper_leaves_committed_uploads);
    tcase_add_test(reaper, reaper_removes_due_keys_and_backs_off);
    tcase_add_test(reaper, audit_reports_orphans_and_missing_keys);
    tcase_add_test(reaper, talentctl_audit_exit_status);
    tcase_add_test(reaper, reaper_fails_on_database_errors);
    tcase_add_test(reaper, reaper_backoff_grows_with_attempts);
    tcase_add_test(reaper, reaper_reads_a_long_backlog_page_by_page);
    tcase_add_test(reaper, reaper_goes_on_after_a_commit_wins_the_claim);
    tcase_add_test(reaper, audit_fails_when_it_cannot_see);
    tcase_add_test(reaper, upload_failures_answer_503_or_500);
    tcase_add_test(reaper, uploads_and_deletes_pass_the_gate);
    tcase_add_test(reaper, failed_commit_leaves_the_new_key_to_the_reaper);
    suite_add_tcase(s, reaper);
    SRunner* r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
