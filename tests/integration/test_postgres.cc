// PostgreSQL faults that a stopped server does not show, through the real
// stack (nginx, talentd, PostgreSQL 15 in Django's layout, s3rver): issue #12.
// (test_hosts stops and restarts the server under load; this file covers the
// rest.)
//
//   "hung"     - the server frozen (`tests/stack freeze-db`: SIGSTOP of the
//                postmaster and its backends): connections are taken and
//                statements sent, nothing ever answers.  Every request gets
//                503 with Retry-After within database_timeout (an open
//                connection) or database_connect_timeout (a new one),
//                /healthz too; an update and an upload change nothing; after
//                the thaw service comes back by itself.
//              - one profile row locked by another session (SELECT … FOR
//                UPDATE, as a slow Django transaction would): that user's
//                updates get 503 within database_timeout while reads, other
//                users and /healthz carry on; an upload whose commit timed out
//                leaves only what SPEC §5 allows (its object and a pending
//                journal row, which the reaper removes); then the whole table
//                locked (LOCK TABLE … ACCESS EXCLUSIVE): reads get 503 too.
//   "retry"    - a trigger the test installs on talent_profile raises a real
//                SQLSTATE 40P01 (deadlock) or 40001 (serialization failure)
//                the first N times a user's row is updated (the count kept in
//                a sequence, which no rollback undoes): N <= database_retries
//                gives 200 and exactly one committed update, each rerun
//                logged; N > database_retries gives 503 with Retry-After and
//                the row unchanged.
// Every time bound is scaled (tests/support/timing.h).
#include <jansson.h>
#include <libpq-fe.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "db/database.h"
#include "../support/payload.h"
#include "../support/stack.h"
#include "../support/timing.h"
#include "../support/talent.h"

#include <check.h>

namespace t = talentd::test;
using t::HttpResponse;
using t::Stack;

#define EXPECT_STR(actual, expected)                                                                    \
    do {                                                                                                \
        const std::string ck_a_ = (actual), ck_e_ = (expected);                                         \
        ck_assert_msg(ck_a_ == ck_e_, "%s is \"%s\", expected \"%s\"", #actual, ck_a_.c_str(), ck_e_.c_str()); \
    } while (0)

namespace {

const std::string kPath = "/api/profile/talent/";
// The stack's deadlines (STACK_EXTRA_CONF below), in seconds.
constexpr double kTimeout = 0.3;   // database_timeout = 300 (ms)
constexpr int kConnectTimeout = 1; // database_connect_timeout = 1 (s)
constexpr int kRetries = 2;        // database_retries
const std::string kRetryAfter = "7";
// What nginx, TLS and talentd add to an answer, beyond the deadline.
constexpr double kOverhead = 0.7;

Stack* stack = nullptr;

// --- helpers -----------------------------------------------------------------------------------

int64_t fresh_user(const Stack& s) { return talentd::test::fresh_talent_user(s, 300000); }

using talentd::test::bearer;

// A request's answer and how long it took.
struct Timed {
    HttpResponse r;
    double seconds = 0;
};

// curl gives up well after any bound below, so a hang fails the bound, not Check's timeout.
long curl_limit() { return static_cast<long>(std::ceil(t::scaled(10))); }

Timed timed(const std::function<HttpResponse()>& request) {
    auto start = std::chrono::steady_clock::now();
    Timed out;
    out.r = request();
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

HttpResponse get(const Stack& s, int64_t id) { return s.request("GET", kPath, "", bearer(s, id), curl_limit()); }

HttpResponse set_city(const Stack& s, int64_t id, const std::string& city) {
    auto h = bearer(s, id);
    h.push_back("Content-Type: application/json");
    return s.request("PATCH", kPath, "{\"city\": \"" + city + "\"}", h, curl_limit());
}

std::string corpus(const std::string& relative) {
    std::string bytes = t::read_file(t::corpus_dir() + "/" + relative);
    if (bytes.empty()) ck_abort_msg("corpus file %s missing", relative.c_str());
    return bytes;
}

// The same JPEG with a COM segment after SOI: a different valid file.
std::string jpeg(const std::string& comment) {
    static const std::string base = corpus("valid/jpeg/testorig.jpg");
    std::string seg = "\xFF\xFE";
    seg.push_back(static_cast<char>((comment.size() + 2) >> 8));
    seg.push_back(static_cast<char>((comment.size() + 2) & 0xFF));
    return base.substr(0, 2) + seg + comment + base.substr(2);
}

HttpResponse upload(const Stack& s, int64_t id, const std::string& bytes) {
    auto mp = t::make_multipart({{"profile_picture", bytes, "p.jpg", "image/jpeg"}});
    auto h = bearer(s, id);
    h.push_back("Content-Type: " + mp.content_type);
    return s.request("POST", kPath + "?partial=true", mp.body, h, curl_limit());
}

// A string field of a JSON answer, or of its "profile" (an update's answer);
// "" when absent or not JSON.
std::string json_field(const std::string& body, const char* name) {
    json_t* root = json_loads(body.c_str(), 0, nullptr);
    const char* v = root ? json_string_value(json_object_get(root, name)) : nullptr;
    if (!v && root) v = json_string_value(json_object_get(json_object_get(root, "profile"), name));
    std::string out = v ? v : "";
    json_decref(root);
    return out;
}

std::string sql(const Stack& s, const std::string& statement) {
    std::string out;
    int rc = s.sql(statement, &out);
    ck_assert_msg(rc == 0, "sql %s: %d %s", statement.c_str(), rc, out.c_str());
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

std::string profile_column(const Stack& s, int64_t id, const std::string& column) {
    return sql(s, "SELECT " + column + " FROM talent_profile WHERE user_id = " + std::to_string(id));
}

// The bucket's keys of one user's pictures, from s3rver's data directory.
std::set<std::string> bucket_keys(const Stack& s, int64_t id) {
    namespace fs = std::filesystem;
    const fs::path bucket = fs::path(s.dir()) / "s3" / s.get("S3_BUCKET");
    const std::string suffix = "._S3rver_object", prefix = s.get("MEDIA_PREFIX") + "user_" + std::to_string(id) + "_";
    std::set<std::string> keys;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(bucket, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        std::string rel = fs::relative(it->path(), bucket).string();
        if (rel.size() <= suffix.size() || rel.compare(rel.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
        rel.resize(rel.size() - suffix.size());
        if (rel.rfind(prefix, 0) == 0) keys.insert(rel);
    }
    return keys;
}

std::string join(const std::set<std::string>& keys) {
    std::string out;
    for (const auto& k : keys) out += "  " + k + "\n";
    return out.empty() ? "  (none)\n" : out;
}

// A user's journal rows, "key state" a line, "" when none.
std::string journal(const Stack& s, int64_t id) {
    return sql(s, "SELECT key || ' ' || state FROM talentd_storage_journal WHERE user_id = " + std::to_string(id) +
                      " ORDER BY key");
}

// 503 with Retry-After and the database's message, within `bound` seconds
// (scaled).
void expect_unavailable(const Timed& a, double bound, const char* what,
                        const std::string& detail = "Database temporarily unavailable, please retry.") {
    ck_assert_msg(a.r.error.empty(), "%s: no answer (%s) after %.2f s", what, a.r.error.c_str(), a.seconds);
    ck_assert_msg(a.r.status == 503, "%s: %ld %s", what, a.r.status, a.r.body.c_str());
    EXPECT_STR(a.r.header("retry-after"), kRetryAfter);
    EXPECT_STR(json_field(a.r.body, "detail"), detail);
    ck_assert_msg(a.seconds < t::scaled(bound), "%s: answered after %.2f s, bound %.2f s", what, a.seconds,
                  t::scaled(bound));
}

// The picture's key as the bucket knows it (Django stores it relative to "media/").
std::string picture_key(const Stack& s, int64_t id) { return "media/" + profile_column(s, id, "profile_picture"); }

// A session of the test's own on the stack's database, as its superuser.
class Session {
  public:
    explicit Session(const Stack& s) {
        const std::string conninfo = "host=" + s.get("PG_SOCKET_DIR") + " port=" + s.get("PG_PORT") + " dbname=" +
                                     s.get("PG_DATABASE") + " user=postgres password=" + s.get("PG_SUPER_PASSWORD") +
                                     " application_name=test_postgres";
        conn_ = PQconnectdb(conninfo.c_str());
        ck_assert_msg(PQstatus(conn_) == CONNECTION_OK, "test session: %s", PQerrorMessage(conn_));
    }
    ~Session() { PQfinish(conn_); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    void exec(const std::string& statement) {
        PGresult* r = PQexec(conn_, statement.c_str());
        const ExecStatusType st = PQresultStatus(r);
        std::string message = PQresultErrorMessage(r);
        PQclear(r);
        ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", statement.c_str(), message.c_str());
    }

  private:
    PGconn* conn_ = nullptr;
};

void start_stack() {
    std::string why;
    stack = Stack::start({{"STACK_DATABASE", "postgresql"},
                          {"STACK_DB_LAYOUT", "django"},
                          {"STACK_REAP_INTERVAL", "0"},
                          {"STACK_WORKERS", "2"},
                          {"STACK_EXTRA_CONF", "database_timeout = 300\n"
                                               "database_connect_timeout = 1\n"
                                               "database_retries = 2\n"
                                               "retry_after = 7\n"}},
                         &why)
                .release();
    if (!stack) {
        fprintf(stderr, "stack did not start:\n%s\n", why.c_str());
        abort();
    }
}

void stop_stack() {
    if (stack) stack->control("thaw-db");
    delete stack;
    stack = nullptr;
}

// Each test starts with the server up and answering (a failed test may have left it frozen).
void db_up() {
    ck_assert_int_eq(stack->control("thaw-db"), 0);
    ck_assert_int_eq(stack->control("start-db"), 0);
}

// Service is back without a restart: the first 200 within 10 s, then 10 in a row.
void expect_recovery(const Stack& s, int64_t id) {
    ck_assert_msg(t::wait_for([&] { return get(s, id).status == 200; }, 10), "no recovery within %.0f s",
                  t::scaled(10));
    for (int i = 0; i < 10; ++i) {
        HttpResponse r = get(s, id);
        ck_assert_msg(r.status == 200, "after recovery: %ld %s %s", r.status, r.error.c_str(), r.body.c_str());
    }
    ck_assert_int_eq(s.request("GET", "/healthz").status, 200);
}

}  // namespace

// --- hung ---------------------------------------------------------------------------------------

START_TEST(test_frozen_server) {
    const Stack& s = *stack;
    const int64_t id = fresh_user(s);
    ck_assert_int_eq(upload(s, id, jpeg("before")).status, 200);
    ck_assert_int_eq(set_city(s, id, "before").status, 200);
    const std::string picture = picture_key(s, id);
    ck_assert_int_eq(get(s, id).status, 200);

    std::string out;
    ck_assert_msg(s.control("freeze-db", &out) == 0, "freeze-db: %s", out.c_str());
    // An open connection waits database_timeout, a new one
    // database_connect_timeout: never both, as nothing connects.
    const double bound = std::max(kTimeout, static_cast<double>(kConnectTimeout)) + kOverhead;
    for (int i = 0; i < 4; ++i) expect_unavailable(timed([&] { return get(s, id); }), bound, "GET while frozen");
    expect_unavailable(timed([&] { return set_city(s, id, "during"); }), bound, "PATCH while frozen");
    expect_unavailable(timed([&] { return upload(s, id, jpeg("during")); }), bound + kOverhead, "upload while frozen");
    Timed h = timed([&] { return s.request("GET", "/healthz", "", {}, curl_limit()); });
    expect_unavailable(h, bound, "/healthz while frozen", "Database unavailable.");
    // Nothing reached the store.
    EXPECT_STR(join(bucket_keys(s, id)), join({picture}));
    ck_assert_msg(s.control("thaw-db", &out) == 0, "thaw-db: %s", out.c_str());

    expect_recovery(s, id);
    // Nothing half-written: the update and the upload that got 503 left no trace.
    EXPECT_STR(profile_column(s, id, "city"), "before");
    EXPECT_STR(picture_key(s, id), picture);
    EXPECT_STR(journal(s, id), "");
    EXPECT_STR(join(bucket_keys(s, id)), join({picture}));
    ck_assert_int_eq(set_city(s, id, "after").status, 200);
    EXPECT_STR(profile_column(s, id, "city"), "after");
}
END_TEST

START_TEST(test_locked_row_and_table) {
    const Stack& s = *stack;
    const int64_t id = fresh_user(s), other = fresh_user(s);
    ck_assert_int_eq(upload(s, id, jpeg("first")).status, 200);
    ck_assert_int_eq(set_city(s, id, "before").status, 200);
    ck_assert_int_eq(get(s, other).status, 200);
    const std::string picture = picture_key(s, id);
    const double bound = kTimeout + kOverhead;
    {
        // A transaction elsewhere holds the user's profile row.
        Session holder(s);
        holder.exec("BEGIN");
        holder.exec("SELECT 1 FROM talent_profile WHERE user_id = " + std::to_string(id) + " FOR UPDATE");
        expect_unavailable(timed([&] { return set_city(s, id, "during"); }), bound, "PATCH of a locked row");
        // The upload's object is stored before its commit waits on the row.
        expect_unavailable(timed([&] { return upload(s, id, jpeg("second")); }), bound + kOverhead,
                           "upload onto a locked row");
        // Nobody else waits: reads, other users, /healthz.
        HttpResponse r = get(s, id);
        ck_assert_msg(r.status == 200 && json_field(r.body, "city") == "before", "GET: %ld %s", r.status,
                      r.body.c_str());
        ck_assert_int_eq(set_city(s, other, "elsewhere").status, 200);
        ck_assert_int_eq(s.request("GET", "/healthz").status, 200);
        holder.exec("ROLLBACK");
    }
    // The row is free again; what the timed-out transactions began was rolled back.
    ck_assert_msg(t::wait_for([&] { return set_city(s, id, "after").status == 200; }, 10), "PATCH after the lock");
    EXPECT_STR(profile_column(s, id, "city"), "after");
    EXPECT_STR(picture_key(s, id), picture);
    // SPEC §5: the upload whose commit failed left its object and a pending
    // row, nothing else; the reaper (pending_grace 0 here) removes both.
    std::set<std::string> keys = bucket_keys(s, id);
    ck_assert_msg(keys.size() == 2 && keys.count(picture), "the old picture and the uncommitted one:\n%s",
                  join(keys).c_str());
    keys.erase(picture);
    const std::string stray = *keys.begin();
    EXPECT_STR(journal(s, id), stray + " pending");
    std::string out;
    std::vector<std::string> argv = {t::stack_build_dir() + "/talentctl", "-c", s.get("TALENTD_CONF"), "reap"};
    int rc = t::run_command(argv, {{"TALENTD_PENDING_GRACE", "0"}}, &out);
    ck_assert_msg(rc == 0, "reap: %d %s", rc, out.c_str());
    EXPECT_STR(join(bucket_keys(s, id)), join({picture}));
    EXPECT_STR(journal(s, id), "");

    {
        // The whole table locked: reads wait too, and get 503 in time.
        Session holder(s);
        holder.exec("BEGIN");
        holder.exec("LOCK TABLE talent_profile IN ACCESS EXCLUSIVE MODE");
        expect_unavailable(timed([&] { return get(s, id); }), bound, "GET of a locked table");
        expect_unavailable(timed([&] { return get(s, other); }), bound, "GET of a locked table");
        ck_assert_int_eq(s.request("GET", "/healthz").status, 200);   // the server answers
        holder.exec("ROLLBACK");
    }
    expect_recovery(s, id);
    EXPECT_STR(profile_column(s, id, "city"), "after");
}
END_TEST

// --- retry --------------------------------------------------------------------------------------

namespace {

// The test's fault: user_id's next `failures` profile updates raise `state`.
// Attempts are counted by a sequence (not undone by the rollback), committed
// updates by an AFTER trigger (undone with their transaction).
void install_fault_triggers(const Stack& s) {
    sql(s, R"sql(
CREATE TABLE IF NOT EXISTS test_faults (
    user_id  bigint PRIMARY KEY,
    state    text   NOT NULL,
    failures int    NOT NULL,
    updates  int    NOT NULL DEFAULT 0
);
CREATE OR REPLACE FUNCTION test_fault_before() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
DECLARE
    f test_faults%ROWTYPE;
    attempt bigint;
BEGIN
    SELECT * INTO f FROM test_faults WHERE user_id = NEW.user_id;
    IF NOT FOUND THEN RETURN NEW; END IF;
    attempt := nextval(format('test_attempts_%s', NEW.user_id)::regclass);
    IF attempt <= f.failures THEN
        RAISE EXCEPTION 'injected by test_postgres: attempt % of %', attempt, f.failures USING ERRCODE = f.state;
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION test_fault_after() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
BEGIN
    UPDATE test_faults SET updates = updates + 1 WHERE user_id = NEW.user_id;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS test_fault_before ON talent_profile;
DROP TRIGGER IF EXISTS test_fault_after ON talent_profile;
CREATE TRIGGER test_fault_before BEFORE UPDATE ON talent_profile FOR EACH ROW EXECUTE FUNCTION test_fault_before();
CREATE TRIGGER test_fault_after AFTER UPDATE ON talent_profile FOR EACH ROW EXECUTE FUNCTION test_fault_after();
)sql");
}

// A fresh user with a profile row, whose updates fail `failures` times with `state`.
int64_t faulty_user(const Stack& s, const std::string& state, int failures) {
    const int64_t id = fresh_user(s);
    ck_assert_int_eq(get(s, id).status, 200);   // the profile row, made by the GET
    const std::string n = std::to_string(id);
    sql(s, "CREATE SEQUENCE test_attempts_" + n + "; INSERT INTO test_faults (user_id, state, failures) VALUES (" +
               n + ", '" + state + "', " + std::to_string(failures) + ")");
    return id;
}

std::string attempts(const Stack& s, int64_t id) {
    const std::string n = std::to_string(id);
    return sql(s, "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM test_attempts_" + n);
}

std::string committed_updates(const Stack& s, int64_t id) {
    return sql(s, "SELECT updates FROM test_faults WHERE user_id = " + std::to_string(id));
}

bool log_has(const Stack& s, const std::string& text) {
    return t::wait_for([&] { return s.talentd_log().find(text) != std::string::npos; }, 5);
}

}  // namespace

START_TEST(test_deadlock_and_serialization_retried) {
    const Stack& s = *stack;
    install_fault_triggers(s);
    struct Case {
        const char* state;
        int failures;
    };
    for (const Case c : {Case{"40P01", kRetries}, Case{"40001", 1}}) {
        const int64_t id = faulty_user(s, c.state, c.failures);
        const std::string city = std::string("retried_") + c.state;
        HttpResponse r = set_city(s, id, city);
        ck_assert_msg(r.status == 200, "%s x%d: %ld %s", c.state, c.failures, r.status, r.body.c_str());
        EXPECT_STR(json_field(r.body, "city"), city);
        EXPECT_STR(profile_column(s, id, "city"), city);
        EXPECT_STR(attempts(s, id), std::to_string(c.failures + 1));
        EXPECT_STR(committed_updates(s, id), "1");   // updated exactly once
        for (int i = 1; i <= c.failures; ++i) {
            const std::string line = "(SQLSTATE " + std::string(c.state) + "): rolled back, retry " +
                                     std::to_string(i) + " of " + std::to_string(kRetries);
            ck_assert_msg(log_has(s, line), "the log names the retry: \"%s\"", line.c_str());
        }
    }
}
END_TEST

START_TEST(test_retries_exhausted) {
    const Stack& s = *stack;
    install_fault_triggers(s);
    const int64_t id = faulty_user(s, "40P01", kRetries + 1);
    const std::string updated_at = profile_column(s, id, "updated_at");
    // Only the reruns' jittered sleeps (milliseconds) add to the round trips.
    Timed a = timed([&] { return set_city(s, id, "lost"); });
    expect_unavailable(a, kTimeout + kOverhead, "PATCH failing more often than database_retries");
    EXPECT_STR(attempts(s, id), std::to_string(kRetries + 1));   // the first run and each retry, no more
    EXPECT_STR(committed_updates(s, id), "0");
    EXPECT_STR(profile_column(s, id, "city"), "");
    EXPECT_STR(profile_column(s, id, "updated_at"), updated_at);
    const std::string gave_up = "still failing after " + std::to_string(kRetries) + " retries";
    ck_assert_msg(log_has(s, gave_up), "the log says \"%s\"", gave_up.c_str());
    // The fault gone, the same update goes through once.
    sql(s, "DELETE FROM test_faults WHERE user_id = " + std::to_string(id));
    ck_assert_int_eq(set_city(s, id, "kept").status, 200);
    EXPECT_STR(profile_column(s, id, "city"), "kept");
}
END_TEST

namespace {

// The stack's database, opened as talentd opens it, for calls the API
// cannot time (a row deleted between read and commit, a row read back).
std::unique_ptr<talentd::db::Database> open_database(const Stack& s) {
    std::string why;
    auto db = s.open_database(&why);
    ck_assert_msg(db != nullptr, "%s", why.c_str());
    return db;
}

}  // namespace

// The profile row deleted between the request's read and its commit (Django's
// admin removing it meanwhile): every kind of update reports NoProfile (the
// API's 403), not a database error (a 500 and a db_error count), and a
// Replace keeps its pending row for the reaper.
START_TEST(test_commit_without_profile) {
    const Stack& s = *stack;
    const int64_t id = fresh_user(s);
    std::string why;
    auto db = open_database(s);
    auto account = db->load_account(id, &why);
    ck_assert_msg(account && account->profile, "user %lld: %s", static_cast<long long>(id), why.c_str());
    sql(s, "DELETE FROM talent_profile WHERE user_id = " + std::to_string(id));
    const std::string key = "media/profile_pictures/user_" + std::to_string(id) + "_nop.jpg";
    ck_assert_msg(db->journal_pending(key, id, 100, &why), "%s", why.c_str());
    using Kind = talentd::db::PictureUpdate::Kind;
    for (Kind kind : {Kind::Keep, Kind::Clear, Kind::Replace}) {
        talentd::db::PictureUpdate picture;
        picture.kind = kind;
        if (kind == Kind::Replace) picture.new_key = key;
        std::optional<std::string> old_key = std::string("stale");
        talentd::db::CommitResult result = db->commit_update(account->user, *account->profile, picture, 101, &old_key, &why);
        ck_assert_msg(result == talentd::db::CommitResult::NoProfile, "kind %d: result %d (%s)", static_cast<int>(kind),
                      static_cast<int>(result), why.c_str());
        ck_assert_msg(!old_key, "kind %d replaced \"%s\"", static_cast<int>(kind), old_key->c_str());
    }
    EXPECT_STR(sql(s, "SELECT state FROM talentd_storage_journal WHERE key = '" + key + "'"), "pending");
    sql(s, "DELETE FROM talentd_storage_journal WHERE key = '" + key + "'");
}
END_TEST

// In Django's layout the profile column holds names relative to the storage
// location ("media/"): a key outside it (a media_prefix changed since it was
// journaled) is one no profile can show, so the reaper deletes its object
// instead of dropping its row as stale and leaving the object behind.
START_TEST(test_key_outside_the_location_is_unreferenced) {
    const Stack& s = *stack;
    std::string why;
    auto db = open_database(s);
    bool referenced = true;
    ck_assert_msg(db->is_referenced("elsewhere/profile_pictures/user_1_x.jpg", &referenced, &why),
                  "is_referenced failed on a key outside the location: \"%s\"", why.c_str());
    ck_assert_msg(!referenced, "a key outside the storage location counted as referenced");
    // Inside it, a name no profile holds: not referenced either (the query answers).
    referenced = true;
    ck_assert_msg(db->is_referenced("media/profile_pictures/user_1_none.jpg", &referenced, &why), "%s", why.c_str());
    ck_assert(!referenced);
}
END_TEST

// Every column of a PostgreSQL journal row reaches JournalEntry as written,
// each with a value no other column has: `talentctl journal` and /metrics'
// oldest-row age read created_at, the reaper's backoff reads attempts.
START_TEST(test_journal_rows_read_back) {
    const Stack& s = *stack;
    const int64_t id = fresh_user(s);
    std::string why;
    auto db = open_database(s);
    const std::string key = "media/profile_pictures/user_" + std::to_string(id) + "_rows.jpg";
    ck_assert_msg(db->journal_pending(key, id, 100, &why), "%s", why.c_str());
    ck_assert_msg(db->journal_retry_later(key, 250, "timeout", &why), "%s", why.c_str());
    std::vector<talentd::db::JournalEntry> rows;
    ck_assert_msg(db->journal_entries(&rows, &why), "%s", why.c_str());
    bool found = false;
    for (const auto& e : rows) {
        if (e.key != key) continue;
        found = true;
        EXPECT_STR(e.state, "pending");
        ck_assert_int_eq(e.user_id, id);
        ck_assert_int_eq(e.created_at, 100);
        ck_assert_int_eq(e.attempts, 1);
        ck_assert_int_eq(e.next_attempt_at, 250);
        EXPECT_STR(e.last_error, "timeout");
    }
    ck_assert_msg(found, "no journal row %s", key.c_str());
    sql(s, "DELETE FROM talentd_storage_journal WHERE key = '" + key + "'");
}
END_TEST

Suite* postgres_suite() {
    Suite* s = suite_create("postgres");
    TCase* tc = tcase_create("faults");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, start_stack, stop_stack);
    tcase_add_checked_fixture(tc, db_up, nullptr);
    tcase_add_test(tc, test_frozen_server);
    tcase_add_test(tc, test_locked_row_and_table);
    tcase_add_test(tc, test_deadlock_and_serialization_retried);
    tcase_add_test(tc, test_retries_exhausted);
    tcase_add_test(tc, test_commit_without_profile);
    tcase_add_test(tc, test_key_outside_the_location_is_unreferenced);
    tcase_add_test(tc, test_journal_rows_read_back);
    suite_add_tcase(s, tc);
    return s;
}

int main() {
    SRunner* sr = srunner_create(postgres_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
