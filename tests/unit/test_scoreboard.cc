// Unit tests of the operator's bookkeeping without the stack: the
// scoreboard across real forked processes (counters shared and exact, a
// worker that dies mid-request accounted and its slot freed), the operator
// pages' gate (TALENTD_OPERATOR) in front of the real profile API on a
// SQLite file, the metrics' shape, and talentctl's FastCGI answer reader.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "api/operator_api.h"
#include "api/profile_api.h"
#include "core/config.h"
#include "daemon/listen_queue.h"
#include "daemon/scoreboard.h"
#include "db/database.h"
#include "http/fcgi_client.h"
#include "storage/store.h"
#include "../support/temp_dir.h"

// Last: check.h defines a `fail` macro that breaks the standard headers.
#include <check.h>

namespace t = talentd::test;
using talentd::daemon::Scoreboard;
using talentd::trace::Route;
using talentd::trace::Step;

namespace {

pid_t fork_child(const std::function<void()>& body) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        body();
        _exit(0);
    }
    return pid;
}

int wait_for(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

class EmptyBody : public talentd::http::BodySource {
public:
    long read(char*, size_t) override { return 0; }
};

}  // namespace

// Four processes, each answering 1000 requests: every one is counted once,
// in the memory the parent owns.
START_TEST(counters_are_shared_and_exact) {
    std::string why;
    auto board = Scoreboard::create(&why);
    ck_assert_msg(board != nullptr, "%s", why.c_str());
    board->set_workers_configured(4);
    std::vector<pid_t> children;
    for (int w = 0; w < 4; ++w) {
        int slot = board->assign_slot();
        ck_assert_int_ge(slot, 0);
        pid_t pid = fork_child([&, slot] {
            board->become_worker(slot);
            for (int i = 0; i < 1000; ++i) {
                board->begin("GET", "/healthz");
                board->step(Step::Responding);
                board->finish(i % 2 ? 200 : 503, Route::Healthz);
            }
        });
        board->spawned(slot, pid, 1);
        children.push_back(pid);
    }
    for (pid_t pid : children) {
        ck_assert_int_eq(wait_for(pid), 0);
        ck_assert(board->reaped(pid));
    }
    talentd::daemon::Snapshot s = board->snapshot();
    ck_assert_uint_eq(s.accepted, 4000);
    ck_assert_uint_eq(s.completed(), 4000);
    const int get = talentd::daemon::method_index("GET"), healthz = static_cast<int>(Route::Healthz);
    ck_assert_uint_eq(s.requests[get][healthz][talentd::daemon::status_index(200)], 2000);
    ck_assert_uint_eq(s.requests[get][healthz][talentd::daemon::status_index(503)], 2000);
    ck_assert_uint_eq(s.duration[healthz].count, 4000);
    ck_assert_uint_eq(s.aborted, 0);
    ck_assert_int_eq(s.total, 0);  // all reaped
}
END_TEST

// A worker killed in the middle of a request: the master's reaping counts
// it as aborted and frees the slot for the next worker.
START_TEST(dead_worker_is_accounted) {
    std::string why;
    auto board = Scoreboard::create(&why);
    ck_assert(board != nullptr);
    board->set_workers_configured(1);
    int slot = board->assign_slot();
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = fork_child([&] {
        board->become_worker(slot);
        board->begin("POST", "/api/profile/talent/");
        board->user(42);
        board->step(Step::Storing);
        (void)!write(ready[1], "x", 1);
        pause();
    });
    board->spawned(slot, pid, 1);
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    talentd::daemon::Snapshot s = board->snapshot();
    ck_assert_int_eq(s.busy, 1);
    ck_assert_uint_eq(s.max_children_reached, 1);  // its only worker was busy
    ck_assert_int_eq(static_cast<int>(s.workers.at(0).step), static_cast<int>(Step::Storing));
    ck_assert_str_eq(s.workers.at(0).path.c_str(), "/api/profile/talent/");
    ck_assert_int_eq(s.workers.at(0).user_id, 42);
    ck_assert_int_eq(board->running_longer_than(0).size(), 1);
    kill(pid, SIGKILL);
    wait_for(pid);
    ck_assert(board->reaped(pid));
    s = board->snapshot();
    ck_assert_uint_eq(s.aborted, 1);
    ck_assert_int_eq(s.total, 0);
    ck_assert_int_eq(board->assign_slot(), slot);  // free again
    ck_assert(!board->reaped(pid));                // only once
}
END_TEST

// /status and /metrics exist only for requests marked TALENTD_OPERATOR=1;
// any other request for them gets the profile API's 404.
START_TEST(operator_pages_need_the_operator_mark) {
    t::TempDir dir("talentd-operator-unit");
    std::string why;
    auto db = talentd::db::Database::open(dir.file("t.db"), 1000, &why);
    ck_assert_msg(db != nullptr, "%s", why.c_str());
    int applied = 0;
    ck_assert_msg(db->migrate(&applied, &why), "%s", why.c_str());
    auto board = Scoreboard::create(&why);
    ck_assert(board != nullptr);
    talentd::Config config;
    talentd::storage::Store store(talentd::storage::store_settings_from(config));
    talentd::api::ProfileApi profile(config, *db, store, nullptr, *board);
    talentd::api::OperatorApi pages(config, *db, *board, -1, profile);
    EmptyBody body;
    for (const char* path : {"/status", "/metrics"}) {
        talentd::http::Request r;
        r.method = "GET";
        r.path = path;
        talentd::http::RequestNote note;
        talentd::http::Response public_answer = pages.handle(r, body, &note);
        ck_assert_int_eq(public_answer.status, 404);
        ck_assert_str_eq(public_answer.body.c_str(), "{\"detail\":\"Not found.\"}");
        r.operator_access = true;
        talentd::http::Response operator_answer = pages.handle(r, body, &note);
        ck_assert_int_eq(operator_answer.status, 200);
        ck_assert_int_eq(static_cast<int>(note.route),
                         static_cast<int>(std::string(path) == "/status" ? Route::Status : Route::Metrics));
    }
}
END_TEST

START_TEST(metrics_shape) {
    std::string why;
    auto board = Scoreboard::create(&why);
    ck_assert(board != nullptr);
    board->become_worker(-1);
    board->begin("PATCH", "/api/profile/talent/");
    board->store_call(talentd::trace::StoreOp::Put, talentd::trace::StoreResult::Timeout, 10.0);
    board->decoded(talentd::trace::ImageFormat::Png, 0.02);
    board->finish(503, Route::Profile);
    talentd::api::StatusView view;
    view.snapshot = board->snapshot();
    talentd::db::JournalSummary journal;
    journal.pending = 3;
    journal.oldest_pending = view.snapshot.now_unix - 100;
    std::string m = talentd::api::render_metrics(view, &journal);
    for (const char* line :
         {"talentd_http_requests_total{method=\"PATCH\",route=\"profile\",status=\"503\"} 1\n",
          "talentd_store_requests_total{operation=\"put\",result=\"timeout\"} 1\n",
          "talentd_store_request_duration_seconds_bucket{operation=\"put\",le=\"10\"} 1\n",
          "talentd_store_request_duration_seconds_bucket{operation=\"put\",le=\"5\"} 0\n",
          "talentd_image_decode_duration_seconds_count{format=\"png\"} 1\n",
          "talentd_storage_journal_rows{state=\"pending\"} 3\n",
          "talentd_storage_journal_oldest_age_seconds{state=\"remove\"} 0\n"})
        ck_assert_msg(m.find(line) != std::string::npos, "no %s in\n%s", line, m.c_str());
    const std::string age = "talentd_storage_journal_oldest_age_seconds{state=\"pending\"} ";
    ck_assert_msg(m.find(age) != std::string::npos && std::stod(m.substr(m.find(age) + age.size())) >= 100,
                  "pending age");
}
END_TEST

// talentctl's reader takes an answer in any slices.
START_TEST(fcgi_answer_in_any_slices) {
    // STDOUT "Status: 404 Not Found\r\n\r\nnope" in two records (one padded), STDERR, END_REQUEST.
    auto rec = [](uint8_t type, const std::string& content, uint8_t padding) {
        std::string r = {1, static_cast<char>(type), 0, 1, static_cast<char>(content.size() >> 8),
                         static_cast<char>(content.size() & 0xff), static_cast<char>(padding), 0};
        return r + content + std::string(padding, '\0');
    };
    const std::string stream = rec(6, "Status: 404 Not Found\r\nContent-Type: text/plain\r\n", 3) +
                               rec(7, "warn", 0) + rec(6, "\r\nnope", 0) + rec(6, "", 0) +
                               rec(3, std::string(8, '\0'), 0) + "trailing junk";
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
        talentd::http::FcgiAnswerReader reader;
        std::string why;
        ck_assert(reader.feed(reinterpret_cast<const uint8_t*>(stream.data()), cut, &why));
        ck_assert(reader.feed(reinterpret_cast<const uint8_t*>(stream.data()) + cut, stream.size() - cut, &why));
        ck_assert(reader.ended());
        ck_assert_str_eq(reader.err().c_str(), "warn");
        int status = 0;
        std::string body;
        ck_assert(talentd::http::split_cgi_answer(reader.out(), &status, &body));
        ck_assert_int_eq(status, 404);
        ck_assert_str_eq(body.c_str(), "nope");
    }
    talentd::http::FcgiAnswerReader bad;
    std::string why;
    const std::string http = "HTTP/1.1 200 OK\r\n\r\n";
    ck_assert(!bad.feed(reinterpret_cast<const uint8_t*>(http.data()), http.size(), &why));
    ck_assert_msg(why.find("not a FastCGI answer") != std::string::npos, "%s", why.c_str());
}
END_TEST

// Connections nobody accepted yet, as the kernel counts them: a unix socket
// through sock_diag, a TCP socket through TCP_INFO.
START_TEST(listen_queue_from_the_kernel) {
    t::TempDir dir("talentd-queue");
    for (int family : {AF_UNIX, AF_INET}) {
        int server = socket(family, SOCK_STREAM, 0);
        ck_assert_int_ge(server, 0);
        sockaddr_storage addr{};
        socklen_t len;
        if (family == AF_UNIX) {
            auto* un = reinterpret_cast<sockaddr_un*>(&addr);
            un->sun_family = AF_UNIX;
            std::string path = dir.file("q.sock");
            std::snprintf(un->sun_path, sizeof un->sun_path, "%s", path.c_str());
            len = sizeof(sockaddr_un);
        } else {
            auto* in = reinterpret_cast<sockaddr_in*>(&addr);
            in->sin_family = AF_INET;
            in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            len = sizeof(sockaddr_in);
        }
        ck_assert_int_eq(bind(server, reinterpret_cast<sockaddr*>(&addr), len), 0);
        ck_assert_int_eq(listen(server, 17), 0);
        len = sizeof addr;
        getsockname(server, reinterpret_cast<sockaddr*>(&addr), &len);
        talentd::daemon::ListenQueue q;
        std::string why;
        ck_assert_msg(talentd::daemon::read_listen_queue(server, &q, &why), "%s", why.c_str());
        ck_assert_uint_eq(q.waiting, 0);
        ck_assert_uint_eq(q.backlog, 17);
        std::vector<int> clients;
        for (int i = 0; i < 3; ++i) {
            int c = socket(family, SOCK_STREAM, 0);
            ck_assert_int_eq(connect(c, reinterpret_cast<sockaddr*>(&addr), len), 0);
            clients.push_back(c);
        }
        // A loopback TCP connect() returns once the SYN-ACK is in; the
        // server's side of the last ACK may still be in a softirq on a busy
        // machine, so the queue may lag the connects by a moment.
        for (int tries = 0; tries < 500; ++tries) {
            ck_assert_msg(talentd::daemon::read_listen_queue(server, &q, &why), "%s", why.c_str());
            if (q.waiting >= 3) break;
            usleep(10 * 1000);
        }
        ck_assert_msg(q.waiting == 3, "family %d: %llu waiting, 3 connected", family,
                      static_cast<unsigned long long>(q.waiting));
        close(accept(server, nullptr, nullptr));
        ck_assert(talentd::daemon::read_listen_queue(server, &q, &why));
        ck_assert_uint_eq(q.waiting, 2);
        for (int c : clients) close(c);
        close(server);
    }
}
END_TEST

int main() {
    Suite* suite = suite_create("scoreboard");
    TCase* tc = tcase_create("scoreboard");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, counters_are_shared_and_exact);
    tcase_add_test(tc, dead_worker_is_accounted);
    tcase_add_test(tc, operator_pages_need_the_operator_mark);
    tcase_add_test(tc, metrics_shape);
    tcase_add_test(tc, fcgi_answer_in_any_slices);
    tcase_add_test(tc, listen_queue_from_the_kernel);
    suite_add_tcase(suite, tc);
    SRunner* runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
