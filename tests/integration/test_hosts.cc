// Several hosts on one PostgreSQL in Django's layout, through the real stack
// (nginx, talentd, PostgreSQL 15, PgBouncer, s3rver): issue #12.
//
//   "hosts"     two talentd masters, each on its own socket, behind one
//               nginx upstream, on Django's tables (schema.sql, users
//               inserted by SQL as Django's create_user does):
//               - a user created in Django is served at once, its profile row
//                 made with every NOT NULL column filled; changes made by
//                 Django are seen on the next request; talentd's writes are
//                 what Django reads (names, fields, updated_at, picture name);
//               - concurrent uploads for one user, spread over both hosts,
//                 leave exactly one object, the referenced one;
//               - reapers running at once never delete a key twice, never a
//                 referenced key, and skip none (the egress proxy's access
//                 log counts every DELETE);
//               - PostgreSQL stopped under load: 503 with Retry-After, never
//                 500/502 or a hang; /healthz 503; recovery without a
//                 restart; no update lost or invented; the bucket equals the
//                 referenced keys after a reaper pass.
//   "pgbouncer" one host through PgBouncer in transaction mode with a pool
//               smaller than talentd's workers, so consecutive transactions
//               of one worker land on different server connections: reads,
//               updates and uploads under load, then a PostgreSQL restart
//               behind PgBouncer.
// Needs PostgreSQL 15 and PgBouncer (make deps); every server runs in the
// stack's folder, on unix sockets and loopback ports.
#include <jansson.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "db/database.h"
#include "storage/store.h"
#include "../support/payload.h"
#include "../support/stack.h"
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
Stack* hosts_stack = nullptr;
Stack* bouncer_stack = nullptr;

// --- helpers ---------------------------------------------------------------------------------

int64_t fresh_user(const Stack& s) { return talentd::test::fresh_talent_user(s, 200000); }

using talentd::test::bearer;

HttpResponse get(const Stack& s, int64_t id) { return s.request("GET", kPath, "", bearer(s, id)); }

HttpResponse set_city(const Stack& s, int64_t id, const std::string& city) {
    auto h = bearer(s, id);
    h.push_back("Content-Type: application/json");
    return s.request("PATCH", kPath, "{\"city\": \"" + city + "\"}", h);
}

std::string corpus(const std::string& relative) {
    std::string bytes = t::read_file(t::corpus_dir() + "/" + relative);
    if (bytes.empty()) ck_abort_msg("corpus file %s missing", relative.c_str());
    return bytes;
}

// The same JPEG with a COM segment after SOI: a different valid file.
std::string with_comment(const std::string& jpeg, const std::string& text) {
    std::string seg = "\xFF\xFE";
    seg.push_back(static_cast<char>((text.size() + 2) >> 8));
    seg.push_back(static_cast<char>((text.size() + 2) & 0xFF));
    return jpeg.substr(0, 2) + seg + text + jpeg.substr(2);
}

HttpResponse upload(const Stack& s, int64_t id, const std::string& bytes) {
    auto mp = t::make_multipart({{"profile_picture", bytes, "p.jpg", "image/jpeg"}});
    auto h = bearer(s, id);
    h.push_back("Content-Type: " + mp.content_type);
    return s.request("POST", kPath + "?partial=true", mp.body, h, 60);
}

std::string sql(const Stack& s, const std::string& statement) {
    std::string out;
    int rc = s.sql(statement, &out);
    ck_assert_msg(rc == 0, "sql %s: %d %s", statement.c_str(), rc, out.c_str());
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

int ctl(const Stack& s, const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
        std::string* out) {
    std::vector<std::string> argv = {t::stack_build_dir() + "/talentctl", "-c", s.get("TALENTD_CONF")};
    argv.insert(argv.end(), args.begin(), args.end());
    return t::run_command(argv, env, out);
}

// The bucket's keys under media_prefix, from s3rver's data directory.
std::set<std::string> bucket_keys(const Stack& s) {
    namespace fs = std::filesystem;
    const fs::path bucket = fs::path(s.dir()) / "s3" / s.get("S3_BUCKET");
    const std::string suffix = "._S3rver_object", prefix = s.get("MEDIA_PREFIX");
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

std::set<std::string> referenced_keys(const Stack& s) {
    std::string why;
    auto db = s.open_database(&why);
    ck_assert_msg(db != nullptr, "%s", why.c_str());
    std::vector<std::string> keys;
    ck_assert_msg(db->referenced_keys(&keys, &why), "%s", why.c_str());
    return {keys.begin(), keys.end()};
}

std::string join(const std::set<std::string>& keys) {
    std::string out;
    for (const auto& k : keys) out += "  " + k + "\n";
    return out.empty() ? "  (none)\n" : out;
}

// After a reaper pass that may take every pending row: the bucket's keys
// are exactly the profiles' keys, and the journal is empty.
void assert_bucket_is_referenced(const Stack& s) {
    std::string out;
    int rc = ctl(s, {"reap"}, {{"TALENTD_PENDING_GRACE", "0"}}, &out);
    ck_assert_msg(rc == 0, "reap: %d %s", rc, out.c_str());
    EXPECT_STR(join(bucket_keys(s)), join(referenced_keys(s)));
    EXPECT_STR(sql(s, "SELECT count(*) FROM talentd_storage_journal"), "0");
}

int count(const std::string& haystack, const std::string& needle) {
    int n = 0;
    for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
    return n;
}

Stack* start(const std::map<std::string, std::string>& env) {
    std::string why;
    std::map<std::string, std::string> all = {{"STACK_DATABASE", "postgresql"}, {"STACK_DB_LAYOUT", "django"},
                                              {"STACK_REAP_INTERVAL", "0"}};
    for (const auto& [k, v] : env) all[k] = v;
    Stack* s = Stack::start(all, &why).release();
    if (!s) {
        fprintf(stderr, "stack did not start:\n%s\n", why.c_str());
        abort();
    }
    return s;
}

// store_concurrency = workers: these tests race uploads on purpose, and the
// store's bulkhead (default workers - 1) would shed some with 503 (test_store_faults
// tests the bulkhead).
void start_hosts() {
    hosts_stack = start({{"STACK_HOSTS", "2"}, {"STACK_WORKERS", "3"}, {"STACK_EXTRA_CONF", "store_concurrency = 3"}});
}
void stop_hosts() {
    delete hosts_stack;
    hosts_stack = nullptr;
}
void start_bouncer() {
    bouncer_stack =
        start({{"STACK_PGBOUNCER", "1"}, {"STACK_WORKERS", "4"}, {"STACK_EXTRA_CONF", "store_concurrency = 4"}});
}
void stop_bouncer() {
    delete bouncer_stack;
    bouncer_stack = nullptr;
}

// Each test starts with PostgreSQL up (a failed fault test may have left it down).
void db_up_hosts() { ck_assert_int_eq(hosts_stack->control("start-db"), 0); }
void db_up_bouncer() { ck_assert_int_eq(bouncer_stack->control("start-db"), 0); }

}  // namespace

// --- hosts: Django's rows ----------------------------------------------------------------------

START_TEST(test_django_user_served_at_once) {
    const Stack& s = *hosts_stack;
    const int64_t id = fresh_user(s);
    const std::string n = std::to_string(id);
    EXPECT_STR(sql(s, "SELECT count(*) FROM talent_profile WHERE user_id = " + n), "0");
    // talentctl init made one table, its journal, and nothing else is talentd's.
    EXPECT_STR(sql(s, "SELECT string_agg(tablename, ',') FROM pg_tables WHERE tableowner = 'talentd'"),
               "talentd_storage_journal");
    EXPECT_STR(sql(s, "SELECT obj_description('talentd_storage_journal'::regclass, 'pg_class')"),
               "talentd schema version 1");
    HttpResponse r = get(s, id);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body.c_str());
    // get_or_create: the row Django's model defaults would make.
    EXPECT_STR(sql(s, "SELECT concat_ws('|', coalesce(profile_picture, 'NULL'), aboutyou, city, country, gender, "
                      "coalesce(date_of_birth::text, 'NULL'), phone, is_verified, account_type, "
                      "created_at IS NOT NULL AND updated_at IS NOT NULL) FROM talent_profile WHERE user_id = " + n),
               "|||||NULL||f|free|t");
    ck_assert_msg(r.body.find("\"profile_picture\":null") != std::string::npos, "%s", r.body.c_str());
    EXPECT_STR(sql(s, "SELECT count(*) FROM talent_profile WHERE user_id = " + n), "1");
    ck_assert_int_eq(get(s, id).status, 200);
    EXPECT_STR(sql(s, "SELECT count(*) FROM talent_profile WHERE user_id = " + n), "1");

    // Django changes a field: the next request shows it (no cache).
    sql(s, "UPDATE talent_profile SET city = 'Lagos', profile_picture = NULL WHERE user_id = " + n);
    r = get(s, id);
    ck_assert_msg(r.body.find("\"city\":\"Lagos\"") != std::string::npos, "%s", r.body.c_str());
    ck_assert_msg(r.body.find("\"profile_picture\":null") != std::string::npos, "NULL is no picture: %s",
                  r.body.c_str());
    // A name Django stored: talentd builds the same URL Django does.
    sql(s, "UPDATE talent_profile SET profile_picture = 'profile_pictures/django_made.jpg' WHERE user_id = " + n);
    r = get(s, id);
    const std::string url = s.get("PUBLIC_BASE_URL") + "/media/profile_pictures/django_made.jpg";
    ck_assert_msg(r.body.find("\"profile_picture\":\"" + url + "\"") != std::string::npos, "%s", r.body.c_str());
    sql(s, "UPDATE talent_profile SET profile_picture = '' WHERE user_id = " + n);

    // talentd's writes, as Django reads them: names on the user, fields and
    // updated_at on the profile.
    const std::string before = sql(s, "SELECT updated_at FROM talent_profile WHERE user_id = " + n);
    auto h = bearer(s, id);
    h.push_back("Content-Type: application/json");
    r = s.request("POST", kPath, "{\"first_name\": \"Ada\", \"last_name\": \"Obi\", \"city\": \"Accra\", "
                                 "\"date_of_birth\": \"1991-04-05\", \"gender\": \"Female\"}", h);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body.c_str());
    EXPECT_STR(sql(s, "SELECT first_name || ' ' || last_name FROM accounts_user WHERE id = " + n), "Ada Obi");
    EXPECT_STR(sql(s, "SELECT city || ' ' || date_of_birth || ' ' || gender FROM talent_profile WHERE user_id = " + n),
               "Accra 1991-04-05 Female");
    ck_assert_msg(sql(s, "SELECT updated_at > '" + before + "' FROM talent_profile WHERE user_id = " + n) == "t",
                  "updated_at changes on every save");

    // Deactivated or no longer a talent in Django's admin: seen at once.
    sql(s, "UPDATE accounts_user SET is_talent = false WHERE id = " + n);
    ck_assert_int_eq(get(s, id).status, 403);
    sql(s, "UPDATE accounts_user SET is_talent = true, is_active = false WHERE id = " + n);
    ck_assert_int_eq(get(s, id).status, 401);
}
END_TEST

START_TEST(test_picture_name_is_djangos) {
    const Stack& s = *hosts_stack;
    const int64_t id = fresh_user(s);
    const std::string n = std::to_string(id);
    HttpResponse r = upload(s, id, corpus("valid/jpeg/testorig.jpg"));
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body.c_str());
    const std::string name = sql(s, "SELECT profile_picture FROM talent_profile WHERE user_id = " + n);
    ck_assert_msg(name.rfind("profile_pictures/user_" + n + "_", 0) == 0 && name.size() < 100,
                  "stored as the storage name relative to media/: %s", name.c_str());
    const std::string url = s.get("PUBLIC_BASE_URL") + "/media/" + name;
    ck_assert_msg(r.body.find("\"profile_picture\":\"" + url + "\"") != std::string::npos, "%s", r.body.c_str());
    ck_assert_msg(bucket_keys(s).count("media/" + name), "object media/%s in the bucket", name.c_str());
    // Clearing stores Django's "no file", the empty name.
    auto h = bearer(s, id);
    h.push_back("Content-Type: application/json");
    r = s.request("PATCH", kPath, "{\"profile_picture\": null}", h);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body.c_str());
    EXPECT_STR(sql(s, "SELECT coalesce(profile_picture, 'NULL') FROM talent_profile WHERE user_id = " + n), "");
    ck_assert_msg(!bucket_keys(s).count("media/" + name), "cleared object deleted");
}
END_TEST

// --- hosts: concurrency ------------------------------------------------------------------------

START_TEST(test_concurrent_uploads_on_two_hosts) {
    const Stack& s = *hosts_stack;
    const int64_t id = fresh_user(s);
    constexpr int kUploads = 12;
    const std::string base = corpus("valid/jpeg/testorig.jpg");
    const std::string log1_before = s.talentd_log(), log2_before = t::read_file(s.get("TALENTD2_LOG"));
    std::vector<t::Multipart> bodies;
    for (int i = 0; i < kUploads; ++i)
        bodies.push_back(t::make_multipart({{"profile_picture", with_comment(base, "u" + std::to_string(i)), "p.jpg",
                                             "image/jpeg"}}));
    const auto h0 = bearer(s, id);
    std::vector<HttpResponse> answers(kUploads);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kUploads; ++i)
        threads.emplace_back([&, i] {
            auto h = h0;
            h.push_back("Content-Type: " + bodies[i].content_type);
            ++ready;
            while (ready.load() < kUploads) std::this_thread::yield();
            answers[i] = s.request("POST", kPath + "?partial=true", bodies[i].body, h, 60);
        });
    for (auto& th : threads) th.join();
    for (int i = 0; i < kUploads; ++i)
        ck_assert_msg(answers[i].status == 200, "upload %d: %ld %s", i, answers[i].status, answers[i].body.c_str());

    // Both hosts took part.
    const std::string log1 = s.talentd_log().substr(log1_before.size());
    const std::string log2 = t::read_file(s.get("TALENTD2_LOG")).substr(log2_before.size());
    ck_assert_msg(count(log1, "POST /api/profile/talent/ 200") > 0 && count(log2, "POST /api/profile/talent/ 200") > 0,
                  "uploads on both hosts: %d and %d", count(log1, "POST /api/profile/talent/ 200"),
                  count(log2, "POST /api/profile/talent/ 200"));

    // Exactly one object of this user, the referenced one; nothing journaled.
    const std::string n = std::to_string(id);
    const std::string key = "media/" + sql(s, "SELECT profile_picture FROM talent_profile WHERE user_id = " + n);
    std::set<std::string> mine;
    for (const auto& k : bucket_keys(s))
        if (k.rfind(s.get("MEDIA_PREFIX") + "user_" + n + "_", 0) == 0) mine.insert(k);
    EXPECT_STR(join(mine), join({key}));
    EXPECT_STR(sql(s, "SELECT count(*) FROM talentd_storage_journal WHERE user_id = " + n), "0");
}
END_TEST

START_TEST(test_concurrent_reapers_delete_each_key_once) {
    const Stack& s = *hosts_stack;
    talentd::ConfigError error;
    auto config = talentd::load_config(s.get("TALENTD_CONF"), {}, &error);
    ck_assert_msg(config.has_value(), "%s", error.message.c_str());
    auto settings = talentd::storage::store_settings_from(*config);
    std::string why;
    ck_assert_msg(talentd::storage::initialize_process(settings, &why), "%s", why.c_str());
    talentd::storage::Store store(settings);

    // 40 removals and 20 abandoned uploads, all due; 4 profiles whose keys
    // carry stale removal rows (they must survive).
    const std::string jpeg = corpus("valid/jpeg/testorig.jpg");
    std::vector<std::string> doomed, kept;
    std::string rows;
    const int64_t owner = fresh_user(s);
    for (int i = 0; i < 60; ++i) {
        std::string key = talentd::storage::new_object_key(config->media_prefix, owner, "jpg");
        auto put = store.put(key, reinterpret_cast<const uint8_t*>(jpeg.data()), jpeg.size(), "image/jpeg");
        ck_assert_msg(put.ok(), "put: %s", put.detail.c_str());
        doomed.push_back(key);
        rows += std::string(rows.empty() ? "" : ", ") + "('" + key + "', '" + (i < 40 ? "remove" : "pending") + "', " +
                std::to_string(owner) + ", 0, 0)";
    }
    for (int i = 0; i < 4; ++i) {
        const int64_t id = fresh_user(s);
        HttpResponse r = upload(s, id, with_comment(jpeg, "kept " + std::to_string(i)));
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body.c_str());
        kept.push_back("media/" + sql(s, "SELECT profile_picture FROM talent_profile WHERE user_id = " + std::to_string(id)));
        rows += ", ('" + kept.back() + "', 'remove', " + std::to_string(id) + ", 0, 0)";
    }
    sql(s, "INSERT INTO talentd_storage_journal (key, state, user_id, created_at, next_attempt_at) VALUES " + rows);
    talentd::storage::shutdown_process();

    const std::string access_before = t::read_file(s.get("NGINX_ACCESS_LOG"));
    // Four reapers at once, two per host (the second host's environment).
    constexpr int kReapers = 4;
    std::vector<std::string> outputs(kReapers);
    std::vector<int> codes(kReapers);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kReapers; ++i)
        threads.emplace_back([&, i] {
            std::map<std::string, std::string> env = {{"TALENTD_PENDING_GRACE", "60"}};
            if (i % 2) env["TALENTD_LISTEN"] = "unix:" + s.get("TALENTD2_SOCKET");
            ++ready;
            while (ready.load() < kReapers) std::this_thread::yield();
            codes[i] = ctl(s, {"reap"}, env, &outputs[i]);
        });
    for (auto& th : threads) th.join();
    for (int i = 0; i < kReapers; ++i) ck_assert_msg(codes[i] == 0, "reaper %d: %d %s", i, codes[i], outputs[i].c_str());

    const std::string access = t::read_file(s.get("NGINX_ACCESS_LOG")).substr(access_before.size());
    const std::string bucket = s.get("S3_BUCKET");
    std::string doubles;
    for (const auto& key : doomed) {
        int deletes = count(access, "\"DELETE /" + bucket + "/" + key + " ");
        if (deletes != 1) doubles += "  " + key + ": " + std::to_string(deletes) + " DELETEs\n";
    }
    ck_assert_msg(doubles.empty(), "each journaled key deleted exactly once:\n%s", doubles.c_str());
    for (const auto& key : kept)
        ck_assert_msg(count(access, "\"DELETE /" + bucket + "/" + key + " ") == 0, "referenced key deleted: %s",
                      key.c_str());
    EXPECT_STR(sql(s, "SELECT count(*) FROM talentd_storage_journal"), "0");
    std::set<std::string> in_bucket = bucket_keys(s);
    for (const auto& key : doomed) ck_assert_msg(!in_bucket.count(key), "left in the bucket: %s", key.c_str());
    for (const auto& key : kept) ck_assert_msg(in_bucket.count(key), "referenced key gone: %s", key.c_str());
}
END_TEST

// --- faults ---------------------------------------------------------------------------------------

namespace {

// Clients keep both hosts busy (more clients than workers) with GETs and
// JSON updates while `fault` runs; returns when `fault` has returned and
// every client has seen `after` successes in a row.
struct LoadReport {
    std::map<long, int> statuses;
    int without_retry_after = 0;   // 503s lacking Retry-After
    std::vector<std::string> odd;  // transport errors, bodies of unexpected answers
};

struct ClientRecord {
    int64_t user = 0;
    std::string last_ok;                  // city of the last 200
    std::vector<std::string> maybe;       // cities sent after it that got 503
    bool recovered = false;               // 20 successes in a row after the fault
};

void run_load(const Stack& s, int clients, const std::function<void()>& fault, LoadReport* report,
              std::vector<ClientRecord>* records) {
    records->resize(clients);
    for (auto& r : *records) r.user = fresh_user(s);
    std::atomic<bool> fault_done{false};
    std::mutex mu;
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
        threads.emplace_back([&, c] {
            ClientRecord& rec = (*records)[c];
            rec.recovered = false;
            int in_a_row = 0, after_fault = 0;
            for (int i = 0;; ++i) {
                const bool write = i % 2 == 1;
                const std::string city = "c" + std::to_string(c) + "_" + std::to_string(i);
                HttpResponse r = write ? set_city(s, rec.user, city) : get(s, rec.user);
                std::lock_guard<std::mutex> lock(mu);
                ++report->statuses[r.error.empty() ? r.status : -1];
                if (!r.error.empty()) report->odd.push_back("transport: " + r.error);
                else if (r.status == 503 && !r.headers.count("retry-after")) ++report->without_retry_after;
                else if (r.status != 200 && r.status != 503) report->odd.push_back(std::to_string(r.status) + " " + r.body);
                if (write && r.status == 200) rec.last_ok = city, rec.maybe.clear();
                else if (write) rec.maybe.push_back(city);
                in_a_row = r.status == 200 ? in_a_row + 1 : 0;
                // Recovered: 20 successes in a row once the fault is over
                // (given up after 400 requests: the check below fails).
                if (fault_done.load() && (in_a_row >= 20 || ++after_fault > 400)) break;
            }
            rec.recovered = in_a_row >= 20;
        });
    fault();
    fault_done = true;
    for (auto& th : threads) th.join();
}

void database_restart_under_load(const Stack& s, int clients) {
    LoadReport report;
    std::vector<ClientRecord> records;
    bool healthz_503 = false, healthz_retry_after = false;
    run_load(s, clients, [&] {
        usleep(300 * 1000);
        ck_assert_int_eq(s.control("stop-db"), 0);
        // While it is down: requests keep answering, 503.
        for (int i = 0; i < 10; ++i) {
            HttpResponse h = s.request("GET", "/healthz");
            healthz_503 = healthz_503 || h.status == 503;
            healthz_retry_after = healthz_retry_after || (h.status == 503 && h.headers.count("retry-after"));
            usleep(100 * 1000);
        }
        ck_assert_int_eq(s.control("start-db"), 0);
    }, &report, &records);

    std::string summary;
    for (const auto& [status, n] : report.statuses) summary += " " + std::to_string(status) + "x" + std::to_string(n);
    ck_assert_msg(report.odd.empty(), "only 200 and 503 (%s); first odd answer: %s", summary.c_str(),
                  report.odd.empty() ? "" : report.odd.front().c_str());
    ck_assert_msg(report.statuses[503] > 0, "the outage was seen (%s)", summary.c_str());
    ck_assert_msg(report.statuses[200] > 0, "(%s)", summary.c_str());
    ck_assert_int_eq(report.without_retry_after, 0);
    ck_assert_msg(healthz_503 && healthz_retry_after, "/healthz said 503 with Retry-After while the database was down");
    ck_assert_int_eq(s.request("GET", "/healthz").status, 200);

    // Nothing lost, nothing invented: each client's city is its last
    // acknowledged one, or one sent after it whose answer was a 503.
    for (const auto& rec : records) {
        ck_assert_msg(rec.recovered, "user %lld: no recovery without a restart (%s)", static_cast<long long>(rec.user),
                      summary.c_str());
        const std::string city = sql(s, "SELECT city FROM talent_profile WHERE user_id = " + std::to_string(rec.user));
        const bool ok = city == rec.last_ok || std::find(rec.maybe.begin(), rec.maybe.end(), city) != rec.maybe.end();
        ck_assert_msg(ok, "user %lld: city %s, last acknowledged %s", static_cast<long long>(rec.user), city.c_str(),
                      rec.last_ok.c_str());
    }
}

}  // namespace

START_TEST(test_database_restart_under_load) {
    const Stack& s = *hosts_stack;
    // And uploads during the outage: what a failed commit left is reaped.
    std::atomic<bool> stop{false};
    const int64_t uploader = fresh_user(s);
    const std::string jpeg = corpus("valid/jpeg/testorig.jpg");
    std::thread uploads([&] {
        for (int i = 0; !stop.load(); ++i) upload(s, uploader, with_comment(jpeg, "o" + std::to_string(i)));
    });
    database_restart_under_load(s, 8);
    stop = true;
    uploads.join();
    ck_assert_int_eq(upload(s, uploader, jpeg).status, 200);
    assert_bucket_is_referenced(s);
}
END_TEST

// --- pgbouncer -----------------------------------------------------------------------------------

START_TEST(test_pgbouncer_transaction_mode) {
    const Stack& s = *bouncer_stack;
    ck_assert_msg(s.get("DATABASE_URL").find("pgbouncer") != std::string::npos, "talentd talks to PgBouncer: %s",
                  s.get("DATABASE_URL").c_str());
    // More clients than the pool has server connections: every worker's
    // transactions hop between server connections.
    constexpr int kClients = 8;
    const std::string jpeg = corpus("valid/jpeg/testorig.jpg");
    std::vector<int64_t> users;
    for (int i = 0; i < kClients; ++i) users.push_back(fresh_user(s));
    std::vector<std::string> failures(kClients);
    std::vector<std::thread> threads;
    for (int c = 0; c < kClients; ++c)
        threads.emplace_back([&, c] {
            for (int i = 0; i < 24 && failures[c].empty(); ++i) {
                HttpResponse r = i % 8 == 7   ? upload(s, users[c], with_comment(jpeg, std::to_string(i)))
                                 : i % 2      ? set_city(s, users[c], "b" + std::to_string(i))
                                              : get(s, users[c]);
                if (r.status != 200) failures[c] = std::to_string(r.status) + " " + r.error + " " + r.body;
            }
        });
    for (auto& th : threads) th.join();
    for (int c = 0; c < kClients; ++c) ck_assert_msg(failures[c].empty(), "client %d: %s", c, failures[c].c_str());
    for (int c = 0; c < kClients; ++c)
        EXPECT_STR(sql(s, "SELECT city FROM talent_profile WHERE user_id = " + std::to_string(users[c])), "b21");   // the last update (23 is an upload)
    const std::string log = t::read_file(s.dir() + "/pgbouncer/pgbouncer.log");
    ck_assert_msg(log.find("prepared statement") == std::string::npos, "PgBouncer complained:\n%s", log.c_str());
    // PostgreSQL restarted behind PgBouncer: 503s, then recovery.
    database_restart_under_load(s, 6);
    assert_bucket_is_referenced(s);
}
END_TEST

Suite* hosts_suite() {
    Suite* s = suite_create("hosts");
    TCase* tc = tcase_create("hosts");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, start_hosts, stop_hosts);
    tcase_add_checked_fixture(tc, db_up_hosts, nullptr);
    tcase_add_test(tc, test_django_user_served_at_once);
    tcase_add_test(tc, test_picture_name_is_djangos);
    tcase_add_test(tc, test_concurrent_uploads_on_two_hosts);
    tcase_add_test(tc, test_concurrent_reapers_delete_each_key_once);
    tcase_add_test(tc, test_database_restart_under_load);
    suite_add_tcase(s, tc);
    TCase* pb = tcase_create("pgbouncer");
    tcase_set_timeout(pb, 600);
    tcase_add_unchecked_fixture(pb, start_bouncer, stop_bouncer);
    tcase_add_checked_fixture(pb, db_up_bouncer, nullptr);
    tcase_add_test(pb, test_pgbouncer_transaction_mode);
    suite_add_tcase(s, pb);
    return s;
}

int main() {
    SRunner* sr = srunner_create(hosts_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
