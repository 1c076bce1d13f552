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
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/config.h"
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

// A fresh user whose profile row exists (talentd makes it on the user's
// first load).
int64_t user_with_profile(const Stack& s, talentd::db::Database& db) {
    const int64_t id = fresh_user(s);
    std::string why;
    auto account = db.load_account(id, &why);
    ck_assert_msg(account && account->profile, "user %lld: %s", static_cast<long long>(id), why.c_str());
    return id;
}

// A connection of talentd's own code whose server process the test can find
// in pg_stat_activity: the stack's conninfo with an application_name.
std::unique_ptr<talentd::db::Database> open_named_database(const Stack& s, const std::string& name) {
    talentd::ConfigError error;
    auto config = talentd::load_config(s.get("TALENTD_CONF"), {}, &error);
    ck_assert_msg(config.has_value(), "configuration: %s", error.message.c_str());
    config->database += " application_name=" + name;
    std::string why;
    auto db = talentd::db::Database::open(*config, &why);
    ck_assert_msg(db != nullptr, "%s", why.c_str());
    return db;
}

// The server processes of the connections named `name`, oldest first.
std::string backends(const Stack& s, const std::string& name) {
    return sql(s, "SELECT string_agg(pid::text, ',' ORDER BY backend_start) FROM pg_stat_activity "
                  "WHERE application_name = '" + name + "'");
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

// referenced_keys fills the caller's vector afresh (the audit reuses one),
// and without the profile table both reads fail: the reaper must never take
// "nothing referenced" for an answer, or it would delete every picture.
START_TEST(test_referenced_reads_refill_and_fail) {
    const Stack& s = *stack;
    std::string why;
    auto db = open_database(s);
    const int64_t id = user_with_profile(s, *db);
    const std::string name = "profile_pictures/user_" + std::to_string(id) + "_referenced.jpg";
    sql(s, "UPDATE talent_profile SET profile_picture = '" + name + "' WHERE user_id = " + std::to_string(id));
    std::vector<std::string> keys;
    ck_assert_msg(db->referenced_keys(&keys, &why), "%s", why.c_str());
    const size_t first = keys.size();
    ck_assert_msg(std::count(keys.begin(), keys.end(), "media/" + name) == 1, "media/%s not among %zu keys",
                  name.c_str(), first);
    ck_assert_msg(db->referenced_keys(&keys, &why), "%s", why.c_str());
    ck_assert_msg(keys.size() == first, "%zu keys, then %zu read into the same vector", first, keys.size());
    bool referenced = false;
    ck_assert_msg(db->is_referenced("media/" + name, &referenced, &why) && referenced, "%s", why.c_str());

    sql(s, "ALTER TABLE talent_profile RENAME TO talent_profile_away");
    std::string listed_why, one_why;
    const bool listed = db->referenced_keys(&keys, &listed_why);
    const bool one = db->is_referenced("media/" + name, &referenced, &one_why);
    sql(s, "ALTER TABLE talent_profile_away RENAME TO talent_profile");
    ck_assert_msg(!listed, "referenced_keys without the profile table succeeded (%zu keys)", keys.size());
    ck_assert_msg(!one, "is_referenced without the profile table succeeded");
    ck_assert_msg(listed_why.find("talent_profile") != std::string::npos, "%s", listed_why.c_str());
    sql(s, "UPDATE talent_profile SET profile_picture = '' WHERE user_id = " + std::to_string(id));
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

// --- the journal's contract on PostgreSQL ----------------------------------------------------------
// What test_db checks row by row on SQLite, here on the stack's PostgreSQL
// (either layout), through the same Database calls the reaper and the
// upload path make.  The rows these tests write carry created_at and
// next_attempt_at values far in the past (100 .. 9000), so a due listing at
// "now = 5000" sees only them: the stack's own rows are stamped with today.

namespace {

std::string jkey(int64_t id, const std::string& name) {
    return "media/profile_pictures/jc_" + std::to_string(id) + "_" + name + ".jpg";
}

// A copy: the rows are usually a temporary.
std::optional<talentd::db::JournalEntry> find_row(const std::vector<talentd::db::JournalEntry>& rows,
                                                  const std::string& key) {
    for (const auto& e : rows)
        if (e.key == key) return e;
    return std::nullopt;
}

std::vector<talentd::db::JournalEntry> journal(talentd::db::Database& db) {
    std::vector<talentd::db::JournalEntry> rows;
    std::string why;
    ck_assert_msg(db.journal_entries(&rows, &why), "journal_entries: %s", why.c_str());
    return rows;
}

std::optional<std::string> picture_of(talentd::db::Database& db, int64_t id) {
    std::string why;
    auto account = db.load_account(id, &why);
    ck_assert_msg(account && account->profile, "user %lld: %s", static_cast<long long>(id), why.c_str());
    return account->profile->picture_key;
}

}  // namespace

// Replace, replace again, the same key again, then clear: each replaced key
// becomes a removal row (with the user and the commit's time), the new
// pending row is dropped, references follow the profile.
START_TEST(test_journal_replace_and_clear) {
    const Stack& s = *stack;
    const int64_t id = fresh_user(s);
    std::string why;
    auto db = open_database(s);
    auto account = db->load_account(id, &why);
    ck_assert_msg(account && account->profile, "%s", why.c_str());
    using Kind = talentd::db::PictureUpdate::Kind;
    using talentd::db::CommitResult;
    const std::string k1 = jkey(id, "one"), k2 = jkey(id, "two");
    std::optional<std::string> old = std::string("stale");

    ck_assert(db->journal_pending(k1, id, 100, &why));
    ck_assert_msg(find_row(journal(*db), k1) && find_row(journal(*db), k1)->state == "pending", "no pending row");
    CommitResult r = db->commit_update(account->user, *account->profile, {Kind::Replace, k1}, 100, &old, &why);
    ck_assert_msg(r == CommitResult::Committed, "result %d: %s", static_cast<int>(r), why.c_str());
    ck_assert_msg(!old, "the first picture replaced \"%s\"", old ? old->c_str() : "");
    ck_assert_msg(!find_row(journal(*db), k1), "the committed upload's pending row is still there");
    ck_assert(picture_of(*db, id) == k1);

    ck_assert(db->journal_pending(k2, id, 101, &why));
    r = db->commit_update(account->user, *account->profile, {Kind::Replace, k2}, 102, &old, &why);
    ck_assert_msg(r == CommitResult::Committed, "result %d: %s", static_cast<int>(r), why.c_str());
    ck_assert_msg(old && *old == k1, "replaced \"%s\", expected %s", old ? old->c_str() : "(none)", k1.c_str());
    auto rows = journal(*db);
    const auto removal = find_row(rows, k1);
    ck_assert_msg(removal, "the replaced key has no removal row");
    EXPECT_STR(removal->state, "remove");
    ck_assert_int_eq(removal->user_id, id);
    ck_assert_int_eq(removal->created_at, 102);
    ck_assert_int_eq(removal->next_attempt_at, 102);
    ck_assert_int_eq(removal->attempts, 0);
    ck_assert_msg(!find_row(rows, k2), "the second upload's pending row is still there");
    bool referenced = true;
    ck_assert(db->is_referenced(k1, &referenced, &why));
    ck_assert_msg(!referenced, "the replaced key counts as referenced");
    ck_assert(db->is_referenced(k2, &referenced, &why));
    ck_assert_msg(referenced, "the current key counts as unreferenced");
    std::vector<std::string> keys;
    ck_assert_msg(db->referenced_keys(&keys, &why), "%s", why.c_str());
    ck_assert_msg(std::find(keys.begin(), keys.end(), k2) != keys.end(), "referenced_keys lacks the current key");
    ck_assert_msg(std::find(keys.begin(), keys.end(), k1) == keys.end(), "referenced_keys holds the replaced key");

    // The same key again (a retried commit): nothing to remove.
    ck_assert(db->journal_pending(k2 + ".again", id, 103, &why));
    ck_assert(db->journal_done(k1, &why));
    r = db->commit_update(account->user, *account->profile, {Kind::Replace, k2}, 103, &old, &why);
    ck_assert_msg(r == CommitResult::PendingLost, "a replace without its pending row: result %d", static_cast<int>(r));
    ck_assert(db->journal_pending(k2, id, 103, &why));
    r = db->commit_update(account->user, *account->profile, {Kind::Replace, k2}, 103, &old, &why);
    ck_assert_msg(r == CommitResult::Committed, "result %d: %s", static_cast<int>(r), why.c_str());
    ck_assert_msg(!old, "replacing a key by itself journaled \"%s\"", old ? old->c_str() : "");
    ck_assert_msg(!find_row(journal(*db), k2), "replacing a key by itself left a row for it");

    // Clear: the current key is journaled, the profile shows none.
    r = db->commit_update(account->user, *account->profile, {Kind::Clear, ""}, 104, &old, &why);
    ck_assert_msg(r == CommitResult::Committed, "result %d: %s", static_cast<int>(r), why.c_str());
    ck_assert_msg(old && *old == k2, "clear replaced \"%s\"", old ? old->c_str() : "(none)");
    ck_assert_msg(!picture_of(*db, id), "the profile still shows a picture");
    ck_assert(find_row(journal(*db), k2) && find_row(journal(*db), k2)->state == "remove");
    // Clear with no picture: nothing to journal.
    r = db->commit_update(account->user, *account->profile, {Kind::Clear, ""}, 105, &old, &why);
    ck_assert(r == CommitResult::Committed && !old);
    // Keep: the fields change, the picture does not.
    account->profile->city = "Bergen";
    account->user.first_name = "Kept";
    r = db->commit_update(account->user, *account->profile, {}, 106, &old, &why);
    ck_assert_msg(r == CommitResult::Committed && !old, "keep: result %d", static_cast<int>(r));
    auto after = db->load_account(id, &why);
    EXPECT_STR(after->profile->city, "Bergen");
    EXPECT_STR(after->user.first_name, "Kept");
    for (const std::string& k : {k1, k2, k2 + ".again"})
        sql(s, "DELETE FROM talentd_storage_journal WHERE key = '" + k + "'");
}
END_TEST

// A pending row the reaper claimed (the upload given up on) makes the late
// commit fail with PendingLost and leaves the profile alone; a second claim,
// or a claim of a key with no pending row, claims nothing.
START_TEST(test_journal_claimed_pending_blocks_commit) {
    const Stack& s = *stack;
    const int64_t id = fresh_user(s);
    std::string why;
    auto db = open_database(s);
    auto account = db->load_account(id, &why);
    ck_assert(account && account->profile);
    const std::string late = jkey(id, "late");
    ck_assert(db->journal_pending(late, id, 100, &why));
    bool claimed = false;
    ck_assert_msg(db->claim_pending(late, 5000, &claimed, &why), "%s", why.c_str());
    ck_assert_msg(claimed, "the pending row was not claimed");
    const auto row = find_row(journal(*db), late);
    ck_assert(row.has_value());
    EXPECT_STR(row->state, "remove");
    ck_assert_int_eq(row->next_attempt_at, 5000);
    std::optional<std::string> old;
    auto r = db->commit_update(account->user, *account->profile, {talentd::db::PictureUpdate::Kind::Replace, late}, 5001,
                               &old, &why);
    ck_assert_msg(r == talentd::db::CommitResult::PendingLost, "result %d", static_cast<int>(r));
    ck_assert_msg(!picture_of(*db, id), "the profile points at a claimed upload");
    claimed = true;
    ck_assert(db->claim_pending(late, 5002, &claimed, &why));
    ck_assert_msg(!claimed, "a removal row was claimed again");
    claimed = true;
    ck_assert(db->claim_pending(jkey(id, "never"), 5002, &claimed, &why));
    ck_assert(!claimed);
    sql(s, "DELETE FROM talentd_storage_journal WHERE key = '" + late + "'");
}
END_TEST

// Due rows: removals once next_attempt_at has come, pending rows older than
// the grace; retry_later counts the attempt and postpones; done and
// drop_pending delete only their own state.
// The pending row's drop fails (a database error, not the row being gone):
// the commit is an Error, retried or reported as such, never PendingLost,
// which would have the new upload deleted as if the reaper had claimed it.
START_TEST(test_journal_failed_drop_is_an_error) {
    const Stack& s = *stack;
    const int64_t id = fresh_user(s);
    std::string why;
    auto db = open_database(s);
    auto account = db->load_account(id, &why);
    ck_assert(account && account->profile);
    const std::string upload = jkey(id, "undroppable");
    ck_assert(db->journal_pending(upload, id, 100, &why));
    sql(s, R"sql(
CREATE OR REPLACE FUNCTION test_refuse_drop() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.key LIKE '%undroppable%' THEN RAISE EXCEPTION 'injected by test_postgres: no drop'; END IF;
    RETURN OLD;
END $$;
DROP TRIGGER IF EXISTS test_refuse_drop ON talentd_storage_journal;
CREATE TRIGGER test_refuse_drop BEFORE DELETE ON talentd_storage_journal FOR EACH ROW EXECUTE FUNCTION test_refuse_drop();
)sql");
    std::optional<std::string> old;
    const auto r = db->commit_update(account->user, *account->profile,
                                     {talentd::db::PictureUpdate::Kind::Replace, upload}, 101, &old, &why);
    sql(s, "DROP TRIGGER test_refuse_drop ON talentd_storage_journal");
    // Read, then cleaned up before any assertion: the paging test reads every row.
    const std::string state = sql(s, "SELECT state FROM talentd_storage_journal WHERE key = '" + upload + "'");
    sql(s, "DELETE FROM talentd_storage_journal WHERE key = '" + upload + "'");
    ck_assert_msg(r == talentd::db::CommitResult::Error, "result %d (%s)", static_cast<int>(r), why.c_str());
    ck_assert_msg(why.find("no drop") != std::string::npos, "%s", why.c_str());
    ck_assert_msg(!picture_of(*db, id), "the profile points at the upload");
    EXPECT_STR(state, "pending");
}
END_TEST

// Each statement of a replacing commit fails in turn (an injected error that
// is not retried): the commit is an Error and nothing of it stays — the
// names, the picture, the journal are as before.  A statement whose failure
// were taken for success would COMMIT the aborted transaction (PostgreSQL
// answers ROLLBACK) and report Committed.
START_TEST(test_commit_statement_errors_are_errors) {
    const Stack& s = *stack;
    const int64_t id = fresh_user(s);
    const std::string n = std::to_string(id);
    std::string why;
    auto db = open_database(s);
    auto account = db->load_account(id, &why);
    ck_assert(account && account->profile);
    const std::string first = jkey(id, "first");
    ck_assert(db->journal_pending(first, id, 100, &why));
    std::optional<std::string> old;
    ck_assert(db->commit_update(account->user, *account->profile, {talentd::db::PictureUpdate::Kind::Replace, first},
                                101, &old, &why) == talentd::db::CommitResult::Committed);
    // One trigger function for the three tables: it fails when the test
    // names this user's rows' table in test_fail_on.
    sql(s, R"sql(
CREATE TABLE IF NOT EXISTS test_fail_on (tbl text PRIMARY KEY);
CREATE OR REPLACE FUNCTION test_fail_statement() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM test_fail_on WHERE tbl = TG_TABLE_NAME) THEN
        RAISE EXCEPTION 'injected by test_postgres: % fails', TG_TABLE_NAME;
    END IF;
    RETURN NEW;
END $$;
DO $$
DECLARE users text;
BEGIN
    SELECT table_name INTO users FROM information_schema.columns
     WHERE table_schema = current_schema() AND column_name = 'is_talent' LIMIT 1;
    EXECUTE format('DROP TRIGGER IF EXISTS test_fail_statement ON %I', users);
    EXECUTE format('CREATE TRIGGER test_fail_statement BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION test_fail_statement()', users);
    INSERT INTO test_fail_on VALUES ('users:' || users);
END $$;
DROP TRIGGER IF EXISTS test_fail_statement ON talent_profile;
CREATE TRIGGER test_fail_statement BEFORE UPDATE ON talent_profile FOR EACH ROW EXECUTE FUNCTION test_fail_statement();
DROP TRIGGER IF EXISTS test_fail_statement ON talentd_storage_journal;
CREATE TRIGGER test_fail_statement BEFORE INSERT OR UPDATE ON talentd_storage_journal FOR EACH ROW
    WHEN (NEW.state = 'remove') EXECUTE FUNCTION test_fail_statement();
)sql");
    const std::string users = sql(s, "SELECT substr(tbl, 7) FROM test_fail_on WHERE tbl LIKE 'users:%'");
    sql(s, "DELETE FROM test_fail_on");
    // A reaper's take that found nothing ran on this connection before: the
    // commits after it are still whole transactions.
    talentd::db::JournalEntry nothing;
    bool none_taken = true;
    ck_assert(db->take_entry(jkey(id, "no-such-row"), 5000, 1000, &nothing, &none_taken, &why) && !none_taken);
    struct Outcome {
        std::string table, why, state, first_rows, first_name;
        talentd::db::CommitResult result;
        std::optional<std::string> picture;
    };
    std::vector<Outcome> outcomes;
    int k = 0;
    for (const std::string& table : {users, std::string("talent_profile"), std::string("talentd_storage_journal")}) {
        Outcome o{table, "", "", "", "", talentd::db::CommitResult::Committed, std::nullopt};
        const std::string next = jkey(id, "next" + std::to_string(k++));
        ck_assert(db->journal_pending(next, id, 200, &why));
        talentd::profile::User user = account->user;
        user.first_name = "Renamed";
        sql(s, "INSERT INTO test_fail_on VALUES ('" + table + "')");
        old.reset();
        o.result = db->commit_update(user, *account->profile, {talentd::db::PictureUpdate::Kind::Replace, next}, 201,
                                     &old, &o.why);
        sql(s, "DELETE FROM test_fail_on");
        o.state = sql(s, "SELECT state FROM talentd_storage_journal WHERE key = '" + next + "'");
        o.first_rows = sql(s, "SELECT count(*) FROM talentd_storage_journal WHERE key = '" + first + "'");
        sql(s, "DELETE FROM talentd_storage_journal WHERE key = '" + next + "'");
        const auto now = db->load_account(id, &why);
        ck_assert(now && now->profile);
        o.first_name = now->user.first_name;
        o.picture = now->profile->picture_key;
        outcomes.push_back(o);
    }
    // Cleaned up before any assertion: every later test writes these tables.
    sql(s, "DROP TRIGGER test_fail_statement ON " + users + "; DROP TRIGGER test_fail_statement ON talent_profile; "
           "DROP TRIGGER test_fail_statement ON talentd_storage_journal");
    for (const Outcome& o : outcomes) {
        ck_assert_msg(o.result == talentd::db::CommitResult::Error, "%s failing: result %d (%s)", o.table.c_str(),
                      static_cast<int>(o.result), o.why.c_str());
        ck_assert_msg(o.why.find(o.table + " fails") != std::string::npos, "%s failing: %s", o.table.c_str(),
                      o.why.c_str());
        EXPECT_STR(o.state, "pending");
        EXPECT_STR(o.first_rows, "0");   // the current picture was not journaled for removal
        EXPECT_STR(o.first_name, account->user.first_name);
        ck_assert_msg(o.picture == first, "%s failing: the picture moved", o.table.c_str());
    }
}
END_TEST

START_TEST(test_journal_due_retry_done) {
    const Stack& s = *stack;
    const int64_t id = fresh_user(s);
    std::string why;
    auto db = open_database(s);
    const std::string r1 = jkey(id, "r1"), p1 = jkey(id, "p1");
    ck_assert(db->journal_remove(r1, id, 100, &why));
    ck_assert(db->journal_pending(p1, id, 100, &why));
    auto due = [&](int64_t now, int64_t before) {
        std::vector<talentd::db::JournalEntry> out;
        ck_assert_msg(db->due_entries(now, before, talentd::db::JournalCursor{}, 500, &out, &why), "%s", why.c_str());
        std::string keys;
        for (const auto& e : out)
            if (e.key == r1 || e.key == p1) keys += (e.key == r1 ? "r1 " : "p1 ");
        return keys;
    };
    EXPECT_STR(due(150, 99), "r1 ");
    EXPECT_STR(due(99, 99), "");
    EXPECT_STR(due(150, 100), "p1 r1 ");   // created_at ties: by key
    ck_assert(db->journal_retry_later(r1, 400, "503 Service Unavailable", &why));
    EXPECT_STR(due(399, 99), "");
    EXPECT_STR(due(400, 99), "r1 ");
    const auto row = find_row(journal(*db), r1);
    ck_assert(row.has_value());
    ck_assert_int_eq(row->attempts, 1);
    ck_assert_int_eq(row->next_attempt_at, 400);
    EXPECT_STR(row->last_error, "503 Service Unavailable");
    ck_assert(db->journal_retry_later(r1, 500, "timeout", &why));
    ck_assert_int_eq(find_row(journal(*db), r1)->attempts, 2);
    // done removes removals only, drop_pending pending rows only.
    ck_assert(db->journal_done(p1, &why));
    ck_assert_msg(find_row(journal(*db), p1), "journal_done deleted a pending row");
    ck_assert(db->journal_drop_pending(r1, &why));
    ck_assert_msg(find_row(journal(*db), r1), "journal_drop_pending deleted a removal");
    ck_assert(db->journal_done(r1, &why));
    ck_assert(db->journal_drop_pending(p1, &why));
    ck_assert_msg(!find_row(journal(*db), r1) && !find_row(journal(*db), p1), "rows left after done/drop");
}
END_TEST

// Due rows come in (created_at, key) order, a page after a cursor: ties of
// one second split across pages, rows not due never listed.
START_TEST(test_journal_due_in_pages) {
    const Stack& s = *stack;
    const int64_t id = fresh_user(s);
    std::string why;
    auto db = open_database(s);
    std::map<std::string, std::string> name;   // key -> short name
    auto k = [&](const std::string& n) {
        name[jkey(id, n)] = n;
        return jkey(id, n);
    };
    ck_assert(db->journal_remove(k("b"), id, 100, &why));
    ck_assert(db->journal_remove(k("a"), id, 100, &why));
    ck_assert(db->journal_remove(k("c"), id, 100, &why));
    ck_assert(db->journal_remove(k("z"), id, 50, &why));
    ck_assert(db->journal_pending(k("p"), id, 60, &why));      // due: older than pending_before
    ck_assert(db->journal_pending(k("q"), id, 4000, &why));    // not due: too young
    ck_assert(db->journal_remove(k("later"), id, 200, &why));
    ck_assert(db->journal_retry_later(k("later"), 9000, "503", &why));   // not due: backing off
    std::string order;
    talentd::db::JournalCursor after;
    std::vector<talentd::db::JournalEntry> page;
    int pages = 0;
    do {
        ck_assert_msg(db->due_entries(5000, 1000, after, 2, &page, &why), "%s", why.c_str());
        ck_assert_uint_le(page.size(), 2);
        for (const auto& e : page) order += (name.count(e.key) ? name[e.key] : "(other " + e.key + ")") + " ";
        if (!page.empty()) after = {page.back().created_at, page.back().key};
        ++pages;
    } while (page.size() == 2 && pages < 10);
    EXPECT_STR(order, "z p a b c ");
    ck_assert_int_eq(pages, 3);
    ck_assert(db->due_entries(5000, 1000, talentd::db::JournalCursor{100, k("c")}, 2, &page, &why));
    ck_assert_uint_eq(page.size(), 0);

    // The gauges: counts by state and the oldest of each, over the whole
    // journal (the stack's rows are younger than these).
    talentd::db::JournalSummary sum;
    ck_assert_msg(db->journal_summary(&sum, &why), "%s", why.c_str());
    ck_assert_int_ge(sum.pending, 2);
    ck_assert_int_ge(sum.remove, 5);
    ck_assert_int_eq(sum.oldest_pending, 60);
    ck_assert_int_eq(sum.oldest_remove, 50);
    const int64_t pending = sum.pending, remove = sum.remove;
    ck_assert(db->journal_drop_pending(k("p"), &why));
    ck_assert(db->journal_done(k("z"), &why));
    ck_assert(db->journal_summary(&sum, &why));
    ck_assert_int_eq(sum.pending, pending - 1);
    ck_assert_int_eq(sum.remove, remove - 1);
    ck_assert_int_eq(sum.oldest_pending, 4000);
    ck_assert_int_eq(sum.oldest_remove, 100);
    for (const auto& [key, n] : name) sql(s, "DELETE FROM talentd_storage_journal WHERE key = '" + key + "'");
}
END_TEST

// take_entry holds the row until release_entry: another connection (another
// host's reaper) is refused it meanwhile and gets it afterwards; rows that
// are not due are never taken.
START_TEST(test_journal_take_holds_the_row) {
    const Stack& s = *stack;
    const int64_t id = fresh_user(s);
    std::string why;
    auto db = open_database(s);
    auto other = open_database(s);
    const std::string due = jkey(id, "due"), young = jkey(id, "young"), waiting = jkey(id, "waiting");
    ck_assert(db->journal_remove(due, id, 100, &why));
    ck_assert(db->journal_retry_later(due, 150, "first try failed", &why));
    ck_assert(db->journal_pending(young, id, 4000, &why));
    ck_assert(db->journal_remove(waiting, id, 100, &why));
    ck_assert(db->journal_retry_later(waiting, 9000, "503", &why));

    talentd::db::JournalEntry entry;
    bool taken = false;
    ck_assert_msg(db->take_entry(due, 5000, 1000, &entry, &taken, &why), "%s", why.c_str());
    ck_assert_msg(taken, "a due row was not taken");
    EXPECT_STR(entry.key, due);
    EXPECT_STR(entry.state, "remove");
    ck_assert_int_eq(entry.user_id, id);
    ck_assert_int_eq(entry.created_at, 100);
    ck_assert_int_eq(entry.attempts, 1);
    ck_assert_int_eq(entry.next_attempt_at, 150);
    EXPECT_STR(entry.last_error, "first try failed");
    bool other_taken = true;
    ck_assert_msg(other->take_entry(due, 5000, 1000, &entry, &other_taken, &why), "%s", why.c_str());
    ck_assert_msg(!other_taken, "two connections took the same row at once");
    ck_assert(other->release_entry(&why));
    // The holder works on it; released, the other one may take it.
    ck_assert_msg(db->release_entry(&why), "%s", why.c_str());
    ck_assert(other->take_entry(due, 5000, 1000, &entry, &other_taken, &why));
    ck_assert_msg(other_taken, "a released row could not be taken");
    ck_assert(other->journal_done(due, &why));
    ck_assert(other->release_entry(&why));
    ck_assert_msg(!find_row(journal(*db), due), "done under the hold did not delete the row");

    for (const std::string& k : {young, waiting}) {
        taken = true;
        ck_assert(db->take_entry(k, 5000, 1000, &entry, &taken, &why));
        ck_assert_msg(!taken, "%s taken although not due", k.c_str());
    }
    // Due by their own rules: the young pending row once older than the
    // grace, the backing-off removal once its time came.
    ck_assert(db->take_entry(young, 5000, 4000, &entry, &taken, &why));
    ck_assert_msg(taken, "a pending row as old as pending_before was not taken");
    ck_assert(db->release_entry(&why));
    ck_assert(db->take_entry(waiting, 9000, 1000, &entry, &taken, &why));
    ck_assert_msg(taken, "a removal whose next_attempt_at came was not taken");
    ck_assert(db->release_entry(&why));
    // A key with no row: not taken, no error.
    ck_assert(db->take_entry(jkey(id, "none"), 9000, 9000, &entry, &taken, &why));
    ck_assert(!taken);
    for (const std::string& k : {young, waiting}) sql(s, "DELETE FROM talentd_storage_journal WHERE key = '" + k + "'");
}
END_TEST

// A take that fails while the connection stays up (here: the journal
// table renamed away by an admin for a moment) rolls its transaction back:
// the connection's next statements work, instead of failing with "current
// transaction is aborted" until it is closed.
START_TEST(test_journal_failed_take_leaves_the_connection_usable) {
    const Stack& s = *stack;
    const int64_t id = fresh_user(s);
    std::string why;
    auto db = open_named_database(s, "test_failed_take");
    const std::string due = jkey(id, "after-failed-take");
    ck_assert(db->journal_remove(due, id, 100, &why));
    const std::string backend = backends(s, "test_failed_take");
    ck_assert_msg(!backend.empty() && backend.find(',') == std::string::npos, "connections: \"%s\"", backend.c_str());
    talentd::db::JournalEntry entry;
    bool taken = true;
    sql(s, "ALTER TABLE talentd_storage_journal RENAME TO talentd_storage_journal_away");
    const bool took = db->take_entry(due, 5000, 1000, &entry, &taken, &why);
    // Every journal read fails too, rather than answering "nothing".
    std::vector<talentd::db::JournalEntry> none;
    std::string read_why;
    const bool listed = db->journal_entries(&none, &read_why);
    const bool paged = db->due_entries(5000, 1000, &none, &read_why);
    talentd::db::JournalSummary summary;
    const bool summed = db->journal_summary(&summary, &read_why);
    bool claimed = false;
    const bool claim_ran = db->claim_pending(due, 5000, &claimed, &read_why);
    sql(s, "ALTER TABLE talentd_storage_journal_away RENAME TO talentd_storage_journal");
    ck_assert_msg(!claim_ran, "claim_pending without its table succeeded");
    ck_assert_msg(!took && !taken, "a take without its table succeeded");
    ck_assert_msg(!listed && !paged && !summed, "journal reads without their table succeeded: %d %d %d", listed,
                  paged, summed);
    ck_assert_msg(why.find("talentd_storage_journal") != std::string::npos, "%s", why.c_str());
    std::vector<talentd::db::JournalEntry> rows;
    ck_assert_msg(db->journal_entries(&rows, &why), "the connection is unusable after a failed take: %s",
                  why.c_str());
    ck_assert_msg(find_row(rows, due), "the journal row is gone");
    // Rolled back on the same connection: not closed and opened afresh.
    const std::string after = backends(s, "test_failed_take");
    ck_assert_msg(after == backend, "server process %s before the failed take, %s after", backend.c_str(),
                  after.c_str());
    ck_assert_msg(db->take_entry(due, 5000, 1000, &entry, &taken, &why) && taken, "%s", why.c_str());
    ck_assert(db->journal_done(due, &why));
    ck_assert(db->release_entry(&why));
    // A take that finds nothing rolls back on the same connection too.
    ck_assert_msg(db->take_entry(jkey(id, "no-such-row"), 5000, 1000, &entry, &taken, &why) && !taken, "%s",
                  why.c_str());
    const std::string at_end = backends(s, "test_failed_take");
    ck_assert_msg(at_end == backend, "server process %s before, %s after a take that found nothing",
                  backend.c_str(), at_end.c_str());
}
END_TEST

// The journal reads fill the caller's vector afresh (a reaper reuses one
// for every page); a take while a row is held releases it first; a held
// row whose COMMIT cannot happen (the server ended the session) makes that
// next take fail, never a silent "not taken".
START_TEST(test_journal_reads_and_takes_in_sequence) {
    const Stack& s = *stack;
    const int64_t id = fresh_user(s);
    std::string why;
    auto db = open_database(s);
    const std::string a = jkey(id, "seq-a"), b = jkey(id, "seq-b");
    ck_assert(db->journal_remove(a, id, 100, &why));
    ck_assert(db->journal_remove(b, id, 100, &why));
    const size_t rows = journal(*db).size();
    talentd::db::JournalEntry stale;
    stale.key = "stale-entry";
    std::vector<talentd::db::JournalEntry> reused(3, stale);
    ck_assert(db->journal_entries(&reused, &why));
    ck_assert_uint_eq(reused.size(), rows);
    reused.assign(3, stale);
    ck_assert(db->due_entries(5000, 1000, &reused, &why));
    ck_assert_msg(!find_row(reused, "stale-entry"), "due_entries kept the caller's rows");
    ck_assert(find_row(reused, a) && find_row(reused, b));

    talentd::db::JournalEntry entry;
    bool taken = false;
    ck_assert(db->take_entry(a, 5000, 1000, &entry, &taken, &why) && taken);
    ck_assert_msg(db->take_entry(b, 5000, 1000, &entry, &taken, &why), "a take while holding: %s", why.c_str());
    ck_assert_msg(taken, "b not taken while a was held");
    EXPECT_STR(entry.key, b);
    // The session holding b ends (an admin, a failover): releasing it
    // cannot commit, so the next take reports the error.
    sql(s, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle in transaction' "
           "AND query LIKE '%SKIP LOCKED%'");
    taken = true;
    const bool next = db->take_entry(a, 5000, 1000, &entry, &taken, &why);
    ck_assert_msg(!next && !taken, "a take after the held session was ended: %d taken %d", next, taken);
    auto fresh = open_database(s);
    ck_assert(fresh->journal_done(a, &why));
    ck_assert(fresh->journal_done(b, &why));
}
END_TEST

Suite* postgres_suite() {
    Suite* s = suite_create("postgres");
    TCase* tc = tcase_create("faults");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, start_stack, stop_stack);
    tcase_add_checked_fixture(tc, db_up, nullptr);
    // The journal's contract first: the fastest, and what kills most
    // mutants of postgres.cc's journal (tests/mutate).
    tcase_add_test(tc, test_journal_replace_and_clear);
    tcase_add_test(tc, test_journal_claimed_pending_blocks_commit);
    tcase_add_test(tc, test_journal_failed_drop_is_an_error);
    tcase_add_test(tc, test_commit_statement_errors_are_errors);
    tcase_add_test(tc, test_journal_due_retry_done);
    tcase_add_test(tc, test_journal_due_in_pages);
    tcase_add_test(tc, test_journal_take_holds_the_row);
    tcase_add_test(tc, test_journal_failed_take_leaves_the_connection_usable);
    tcase_add_test(tc, test_journal_reads_and_takes_in_sequence);
    tcase_add_test(tc, test_frozen_server);
    tcase_add_test(tc, test_locked_row_and_table);
    tcase_add_test(tc, test_deadlock_and_serialization_retried);
    tcase_add_test(tc, test_retries_exhausted);
    tcase_add_test(tc, test_commit_without_profile);
    tcase_add_test(tc, test_key_outside_the_location_is_unreferenced);
    tcase_add_test(tc, test_referenced_reads_refill_and_fail);
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
