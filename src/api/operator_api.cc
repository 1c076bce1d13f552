#include "api/operator_api.h"

#include <jansson.h>
#include <time.h>

#include <cstdio>
#include <memory>

#include "api/page.h"
#include "core/log.h"
#include "form/body.h"

namespace talentd::api {
namespace {

using daemon::Snapshot;
using daemon::WorkerRow;

struct JsonFree {
    void operator()(json_t* j) const { json_decref(j); }
};
using Json = std::unique_ptr<json_t, JsonFree>;

// php-fpm's date format: 30/Nov/2026:13:51:53 +0000.
std::string clf_time(int64_t unix_seconds) {
    time_t t = static_cast<time_t>(unix_seconds);
    tm parts{};
    gmtime_r(&t, &parts);
    char buf[40];
    strftime(buf, sizeof buf, "%d/%b/%Y:%H:%M:%S +0000", &parts);
    return buf;
}

std::string fmt(const char* format, auto... args) {
    char buf[256];
    std::snprintf(buf, sizeof buf, format, args...);
    return buf;
}

// The status counts, in the page's order: (label, value).
std::vector<std::pair<std::string, std::string>> summary_lines(const StatusView& v) {
    const Snapshot& s = v.snapshot;
    std::vector<std::pair<std::string, std::string>> out = {
        {"pool", "talentd"},
        {"process manager", "static"},
        {"listen", v.listen},
        {"start time", clf_time(s.start_unix)},
        {"start since", std::to_string(static_cast<int64_t>(s.uptime_seconds))},
        {"accepted conn", std::to_string(s.accepted)},
        {"reused conn", std::to_string(s.reused)},
        {"listen queue", v.queue_known ? std::to_string(v.queue.waiting) : "-"},
        {"max listen queue", std::to_string(s.listen_queue_max)},
        {"listen queue len", v.queue_known ? std::to_string(v.queue.backlog) : "-"},
        {"idle processes", std::to_string(s.idle)},
        {"active processes", std::to_string(s.busy)},
        {"total processes", std::to_string(s.total)},
        {"configured processes", std::to_string(s.workers_configured)},
        {"max children reached", std::to_string(s.max_children_reached)},
        {"slow requests", std::to_string(s.slow)},
        {"aborted requests", std::to_string(s.aborted)},
        {"respawns crash", std::to_string(s.respawns[0])},
        {"respawns recycle", std::to_string(s.respawns[1])},
        {"respawns reload", std::to_string(s.respawns[2])},
    };
    if (v.gate_known) {
        out.push_back({"store calls in flight", std::to_string(v.gate.in_store)});
        out.push_back({"store breaker", storage::breaker_state_name(v.gate.breaker)});
        out.push_back({"store refused busy", std::to_string(v.gate.refused_busy)});
        out.push_back({"store refused open", std::to_string(v.gate.refused_open)});
    }
    return out;
}

// Completed requests by status code (sum over methods and routes).
std::vector<std::pair<std::string, uint64_t>> by_status(const Snapshot& s) {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (int st = 0; st < daemon::kStatusCount; ++st) {
        uint64_t n = 0;
        for (const auto& by_route : s.requests)
            for (const auto& by_status : by_route) n += by_status[st];
        if (n == 0) continue;
        int code = daemon::status_code_at(st);
        out.push_back({code ? std::to_string(code) : "other", n});
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> worker_lines(const WorkerRow& w, int64_t now_unix) {
    const bool busy = w.step != trace::Step::Idle;
    return {
        {"pid", std::to_string(w.pid)},
        {"generation", std::to_string(w.generation)},
        {"state", busy ? "busy" : "idle"},
        {"step", trace::step_name(w.step)},
        {"start time", clf_time(w.spawned_unix)},
        {"start since", std::to_string(now_unix - w.spawned_unix)},
        {"requests", std::to_string(w.served)},
        {"request method", busy ? w.method : "-"},
        {"request path", busy ? w.path : "-"},
        {"user id", busy && w.user_id ? std::to_string(w.user_id) : "-"},
        {"request duration", busy ? fmt("%.3f", w.request_seconds) : "-"},
        {"step duration", busy ? fmt("%.3f", w.step_seconds) : "-"},
        {"last request status", w.last_status ? std::to_string(w.last_status) : "-"},
        {"last request duration", fmt("%.3f", w.last_seconds)},
        {"last request cpu", fmt("%.3f", w.last_cpu_seconds)},
    };
}

void set(json_t* o, const char* key, json_t* value) { json_object_set_new(o, key, value); }

}  // namespace

std::string render_status_text(const StatusView& v, bool full) {
    std::string out;
    for (const auto& [label, value] : summary_lines(v)) out += fmt("%-24s%s\n", (label + ":").c_str(), value.c_str());
    for (const auto& [code, n] : by_status(v.snapshot))
        out += fmt("%-24s%llu\n", ("status " + code + ":").c_str(), static_cast<unsigned long long>(n));
    if (!full) return out;
    for (const WorkerRow& w : v.snapshot.workers) {
        out += "\n************************\n";
        for (const auto& [label, value] : worker_lines(w, v.snapshot.now_unix))
            out += fmt("%-24s%s\n", (label + ":").c_str(), value.c_str());
    }
    return out;
}

std::string render_status_json(const StatusView& v, bool full) {
    const Snapshot& s = v.snapshot;
    Json root(json_object());
    json_t* o = root.get();
    set(o, "pool", json_string("talentd"));
    set(o, "process manager", json_string("static"));
    set(o, "listen", json_string(v.listen.c_str()));
    set(o, "start time", json_integer(s.start_unix));
    set(o, "start since", json_integer(static_cast<json_int_t>(s.uptime_seconds)));
    set(o, "accepted conn", json_integer(static_cast<json_int_t>(s.accepted)));
    set(o, "reused conn", json_integer(static_cast<json_int_t>(s.reused)));
    set(o, "listen queue", v.queue_known ? json_integer(static_cast<json_int_t>(v.queue.waiting)) : json_null());
    set(o, "max listen queue", json_integer(static_cast<json_int_t>(s.listen_queue_max)));
    set(o, "listen queue len", v.queue_known ? json_integer(static_cast<json_int_t>(v.queue.backlog)) : json_null());
    set(o, "idle processes", json_integer(s.idle));
    set(o, "active processes", json_integer(s.busy));
    set(o, "total processes", json_integer(s.total));
    set(o, "configured processes", json_integer(s.workers_configured));
    set(o, "max children reached", json_integer(static_cast<json_int_t>(s.max_children_reached)));
    set(o, "slow requests", json_integer(static_cast<json_int_t>(s.slow)));
    set(o, "aborted requests", json_integer(static_cast<json_int_t>(s.aborted)));
    json_t* respawns = json_object();
    for (int c = 0; c < daemon::kRespawnCauseCount; ++c)
        set(respawns, daemon::respawn_cause_name(static_cast<daemon::RespawnCause>(c)),
            json_integer(static_cast<json_int_t>(s.respawns[c])));
    set(o, "respawns", respawns);
    json_t* statuses = json_object();
    for (const auto& [code, n] : by_status(s)) set(statuses, code.c_str(), json_integer(static_cast<json_int_t>(n)));
    set(o, "statuses", statuses);
    if (v.gate_known) {
        set(o, "store calls in flight", json_integer(v.gate.in_store));
        set(o, "store breaker", json_string(storage::breaker_state_name(v.gate.breaker)));
        set(o, "store refused busy", json_integer(static_cast<json_int_t>(v.gate.refused_busy)));
        set(o, "store refused open", json_integer(static_cast<json_int_t>(v.gate.refused_open)));
    }
    if (full) {
        json_t* rows = json_array();
        for (const WorkerRow& w : s.workers) {
            const bool busy = w.step != trace::Step::Idle;
            json_t* r = json_object();
            set(r, "pid", json_integer(w.pid));
            set(r, "generation", json_integer(w.generation));
            set(r, "state", json_string(busy ? "busy" : "idle"));
            set(r, "step", json_string(trace::step_name(w.step)));
            set(r, "start time", json_integer(w.spawned_unix));
            set(r, "start since", json_integer(s.now_unix - w.spawned_unix));
            set(r, "requests", json_integer(static_cast<json_int_t>(w.served)));
            set(r, "request method", busy ? json_string(w.method.c_str()) : json_null());
            set(r, "request path", busy ? json_string(w.path.c_str()) : json_null());
            set(r, "user id", busy && w.user_id ? json_integer(w.user_id) : json_null());
            set(r, "request duration", busy ? json_real(w.request_seconds) : json_null());
            set(r, "step duration", busy ? json_real(w.step_seconds) : json_null());
            set(r, "last request status", w.last_status ? json_integer(w.last_status) : json_null());
            set(r, "last request duration", json_real(w.last_seconds));
            set(r, "last request cpu", json_real(w.last_cpu_seconds));
            json_array_append_new(rows, r);
        }
        set(o, "processes", rows);
    }
    char* text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    std::string out = text ? text : "{}";
    free(text);
    return out + "\n";
}

std::string render_status_html(const StatusView& v, bool full) {
    std::string out =
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>talentd status</title></head>"
        "<body>\n<table>\n";
    for (const auto& [label, value] : summary_lines(v))
        out += "<tr><th>" + html_escape(label) + "</th><td>" + html_escape(value) + "</td></tr>\n";
    for (const auto& [code, n] : by_status(v.snapshot))
        out += "<tr><th>status " + html_escape(code) + "</th><td>" + std::to_string(n) + "</td></tr>\n";
    out += "</table>\n";
    if (full && !v.snapshot.workers.empty()) {
        out += "<table>\n<tr>";
        for (const auto& [label, value] : worker_lines(v.snapshot.workers.front(), v.snapshot.now_unix))
            out += "<th>" + html_escape(label) + "</th>";
        out += "</tr>\n";
        for (const WorkerRow& w : v.snapshot.workers) {
            out += "<tr>";
            for (const auto& [label, value] : worker_lines(w, v.snapshot.now_unix))
                out += "<td>" + html_escape(value) + "</td>";
            out += "</tr>\n";
        }
        out += "</table>\n";
    }
    return out + "</body></html>\n";
}

// --- metrics -----------------------------------------------------------------------

namespace {

class Exposition {
public:
    void family(const char* name, const char* type, const char* help) {
        out_ += fmt("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    }
    void sample(const std::string& name, const std::string& labels, double value) {
        out_ += name;
        if (!labels.empty()) out_ += "{" + labels + "}";
        out_ += fmt(" %.17g\n", value);
    }
    void sample(const std::string& name, const std::string& labels, uint64_t value) {
        out_ += name;
        if (!labels.empty()) out_ += "{" + labels + "}";
        out_ += " " + std::to_string(value) + "\n";
    }
    template <int N>
    void histogram(const std::string& name, const std::string& labels, const daemon::HistogramCopy<N>& h,
                   const double* bounds) {
        const std::string sep = labels.empty() ? "" : labels + ",";
        uint64_t cumulative = 0;
        for (int i = 0; i < N; ++i) {
            cumulative += h.buckets[i];
            std::string le = i < N - 1 ? fmt("%g", bounds[i]) : "+Inf";
            sample(name + "_bucket", sep + "le=\"" + le + "\"", cumulative);
        }
        sample(name + "_sum", labels, h.sum);
        sample(name + "_count", labels, h.count);
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

std::string label(const char* name, const std::string& value) { return std::string(name) + "=\"" + value + "\""; }

}  // namespace

std::string render_metrics(const StatusView& v, const db::JournalSummary* journal) {
    const Snapshot& s = v.snapshot;
    Exposition e;
    e.family("talentd_start_time_seconds", "gauge", "When the master started, in unix seconds.");
    e.sample("talentd_start_time_seconds", "", static_cast<double>(s.start_unix));

    e.family("talentd_workers", "gauge", "Worker processes alive now, by state.");
    e.sample("talentd_workers", label("state", "idle"), static_cast<uint64_t>(s.idle));
    e.sample("talentd_workers", label("state", "busy"), static_cast<uint64_t>(s.busy));
    e.family("talentd_workers_configured", "gauge", "The workers setting.");
    e.sample("talentd_workers_configured", "", static_cast<uint64_t>(s.workers_configured));
    e.family("talentd_accepted_requests_total", "counter", "Requests a worker accepted.");
    e.sample("talentd_accepted_requests_total", "", s.accepted);
    e.family("talentd_reused_connection_requests_total", "counter",
             "Requests that arrived on a FastCGI connection kept from the previous one.");
    e.sample("talentd_reused_connection_requests_total", "", s.reused);
    e.family("talentd_aborted_requests_total", "counter", "Accepted requests whose worker died before answering.");
    e.sample("talentd_aborted_requests_total", "", s.aborted);
    e.family("talentd_slow_requests_total", "counter", "Requests slower than slow_request_threshold.");
    e.sample("talentd_slow_requests_total", "", s.slow);
    e.family("talentd_max_children_reached_total", "counter", "Requests that found every worker busy.");
    e.sample("talentd_max_children_reached_total", "", s.max_children_reached);
    e.family("talentd_worker_respawns_total", "counter", "Workers started to replace others, by cause.");
    for (int c = 0; c < daemon::kRespawnCauseCount; ++c)
        e.sample("talentd_worker_respawns_total",
                 label("cause", daemon::respawn_cause_name(static_cast<daemon::RespawnCause>(c))), s.respawns[c]);
    e.family("talentd_listen_queue_connections", "gauge", "Connections waiting to be accepted now.");
    if (v.queue_known) e.sample("talentd_listen_queue_connections", "", v.queue.waiting);
    e.family("talentd_listen_queue_max_connections", "gauge", "The most connections seen waiting since the start.");
    e.sample("talentd_listen_queue_max_connections", "", s.listen_queue_max);
    e.family("talentd_listen_queue_length_connections", "gauge", "The listening socket's backlog.");
    if (v.queue_known) e.sample("talentd_listen_queue_length_connections", "", v.queue.backlog);

    e.family("talentd_http_requests_total", "counter", "Requests answered, by method, route and status.");
    for (int m = 0; m < daemon::kMethodCount; ++m)
        for (int r = 0; r < trace::kRouteCount; ++r)
            for (int st = 0; st < daemon::kStatusCount; ++st) {
                uint64_t n = s.requests[m][r][st];
                if (n == 0) continue;
                int code = daemon::status_code_at(st);
                e.sample("talentd_http_requests_total",
                         label("method", daemon::method_label(m)) + "," +
                             label("route", trace::route_name(static_cast<trace::Route>(r))) + "," +
                             label("status", code ? std::to_string(code) : "other"),
                         n);
            }
    e.family("talentd_http_request_duration_seconds", "histogram", "Time from accept to the answer, by route.");
    for (int r = 0; r < trace::kRouteCount; ++r)
        if (s.duration[r].count)
            e.histogram("talentd_http_request_duration_seconds",
                        label("route", trace::route_name(static_cast<trace::Route>(r))), s.duration[r],
                        daemon::kLatencyBounds);
    e.family("talentd_upload_size_bytes", "histogram", "Bodies of profile updates, in bytes.");
    e.histogram("talentd_upload_size_bytes", "", s.upload_size, daemon::kSizeBounds);
    e.family("talentd_image_decode_duration_seconds", "histogram", "Picture validation (full decode), by format.");
    for (int f = 0; f < trace::kImageFormatCount; ++f)
        if (s.decode[f].count)
            e.histogram("talentd_image_decode_duration_seconds",
                        label("format", trace::image_format_name(static_cast<trace::ImageFormat>(f))), s.decode[f],
                        daemon::kLatencyBounds);

    e.family("talentd_store_request_duration_seconds", "histogram", "Object store calls, by operation.");
    for (int o = 0; o < trace::kStoreOpCount; ++o)
        if (s.store_latency[o].count)
            e.histogram("talentd_store_request_duration_seconds",
                        label("operation", trace::store_op_name(static_cast<trace::StoreOp>(o))), s.store_latency[o],
                        daemon::kLatencyBounds);
    e.family("talentd_store_requests_total", "counter",
             "Object store calls, by operation and result (ok, timeout, unavailable, refused).");
    for (int o = 0; o < trace::kStoreOpCount; ++o)
        for (int k = 0; k < trace::kStoreResultCount; ++k)
            if (s.store_calls[o][k])
                e.sample("talentd_store_requests_total",
                         label("operation", trace::store_op_name(static_cast<trace::StoreOp>(o))) + "," +
                             label("result", trace::store_result_name(static_cast<trace::StoreResult>(k))),
                         s.store_calls[o][k]);

    e.family("talentd_storage_journal_rows", "gauge", "Storage journal rows, by state (pending uploads, removals).");
    e.family("talentd_storage_journal_oldest_age_seconds", "gauge", "Age of the oldest journal row, by state.");
    if (journal) {
        e.sample("talentd_storage_journal_rows", label("state", "pending"), static_cast<uint64_t>(journal->pending));
        e.sample("talentd_storage_journal_rows", label("state", "remove"), static_cast<uint64_t>(journal->remove));
        auto age = [&](int64_t oldest) { return oldest ? static_cast<double>(std::max<int64_t>(0, s.now_unix - oldest)) : 0.0; };
        e.sample("talentd_storage_journal_oldest_age_seconds", label("state", "pending"), age(journal->oldest_pending));
        e.sample("talentd_storage_journal_oldest_age_seconds", label("state", "remove"), age(journal->oldest_remove));
    }
    e.family("talentd_reaper_runs_total", "counter", "Reaper passes, by result.");
    e.sample("talentd_reaper_runs_total", label("result", "ok"), s.reaper_runs_ok);
    e.sample("talentd_reaper_runs_total", label("result", "failed"), s.reaper_runs_failed);
    e.family("talentd_reaper_deletions_total", "counter", "Objects the reaper deleted (or found gone).");
    e.sample("talentd_reaper_deletions_total", "", s.reaper_removed);
    e.family("talentd_reaper_delete_failures_total", "counter", "Deletes the reaper tried and will retry.");
    e.sample("talentd_reaper_delete_failures_total", "", s.reaper_remove_failures);
    e.family("talentd_reaper_abandoned_uploads_total", "counter", "Pending uploads the reaper found abandoned.");
    e.sample("talentd_reaper_abandoned_uploads_total", "", s.reaper_abandoned);
    e.family("talentd_db_errors_total", "counter", "Database calls that failed.");
    e.sample("talentd_db_errors_total", "", s.db_errors);
    if (v.gate_known) {
        const storage::GateSnapshot& g = v.gate;
        e.family("talentd_store_calls_in_flight", "gauge", "Workers inside a store call now (the bulkhead's slots).");
        e.sample("talentd_store_calls_in_flight", "", static_cast<uint64_t>(g.in_store));
        e.family("talentd_store_breaker_state", "gauge", "The store circuit breaker: 1 for its current state.");
        for (auto st : {storage::BreakerState::Closed, storage::BreakerState::Open, storage::BreakerState::HalfOpen})
            e.sample("talentd_store_breaker_state", label("state", storage::breaker_state_name(st)),
                     static_cast<uint64_t>(g.breaker == st ? 1 : 0));
        e.family("talentd_store_gate_admitted_total", "counter", "Store calls the bulkhead and breaker let through.");
        e.sample("talentd_store_gate_admitted_total", "", g.admitted);
        e.family("talentd_store_gate_refused_total", "counter",
                 "Store calls refused at once, by reason (busy: bulkhead full; open: breaker).");
        e.sample("talentd_store_gate_refused_total", label("reason", "busy"), g.refused_busy);
        e.sample("talentd_store_gate_refused_total", label("reason", "open"), g.refused_open);
        e.family("talentd_store_breaker_openings_total", "counter", "Times the store circuit breaker opened.");
        e.sample("talentd_store_breaker_openings_total", "", g.openings);
    }
    return e.take();
}

// --- the handler ---------------------------------------------------------------------

OperatorApi::OperatorApi(const Config& config, db::Database& db, daemon::Scoreboard& board, int listen_fd,
                         http::Handler& next, const storage::StoreGate* gate)
    : config_(config), db_(db), board_(board), listen_fd_(listen_fd), next_(next), gate_(gate) {}

StatusView OperatorApi::gather() {
    StatusView v;
    v.listen = config_.listen;
    std::string why;
    v.queue_known = daemon::read_listen_queue(listen_fd_, &v.queue, &why);
    if (v.queue_known) board_.note_listen_queue(v.queue.waiting);
    else LOG_DEBUG("listen queue: %s", why.c_str());
    v.snapshot = board_.snapshot();
    if (gate_) {
        v.gate_known = true;
        v.gate = gate_->snapshot();
    }
    return v;
}

http::Response OperatorApi::handle(const http::Request& request, http::BodySource& body, http::RequestNote* note) {
    const bool status = request.path == "/status", metrics = request.path == "/metrics";
    if ((!status && !metrics) || !request.operator_access) return next_.handle(request, body, note);
    note->route = status ? trace::Route::Status : trace::Route::Metrics;
    board_.step(trace::Step::Reporting);
    http::Response r;
    r.add_header("Cache-Control", "no-store");
    r.add_header("X-Content-Type-Options", "nosniff");
    if (request.method != "GET" && request.method != "HEAD") {
        r.status = 405;
        r.add_header("Allow", "GET, HEAD");
        r.body = "{\"detail\":\"Method not allowed.\"}";
        return r;
    }
    r.head_only = request.method == "HEAD";
    StatusView view = gather();
    if (metrics) {
        db::JournalSummary journal;
        std::string why;
        const bool journal_ok = db_.journal_summary(&journal, &why);
        if (!journal_ok) {
            board_.db_error();
            LOG_ERROR("metrics: journal: %s", why.c_str());
        }
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = render_metrics(view, journal_ok ? &journal : nullptr);
        return r;
    }
    auto query = form::parse_query(request.query);
    const bool full = query.count("full") > 0;
    if (query.count("json")) {
        r.content_type = "application/json";
        r.body = render_status_json(view, full);
    } else if (query.count("html")) {
        r.content_type = "text/html; charset=utf-8";
        r.add_header("Content-Security-Policy", "default-src 'none'");
        r.body = render_status_html(view, full);
    } else {
        r.content_type = "text/plain; charset=utf-8";
        r.body = render_status_text(view, full);
    }
    return r;
}

}  // namespace talentd::api
