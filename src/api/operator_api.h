// OperatorApi — the operator's pages: /status (php-fpm's status page, for
// people and scripts) and /metrics (Prometheus text format), from the
// daemon's scoreboard and the storage journal.  talentd(8), OPERATOR PAGES.
//
// Only for operators: both paths are answered only when the request carries
// TALENTD_OPERATOR=1, which the shipped nginx files set only in the
// operator server (loopback and an allow list; nginx/talentd-operator.conf)
// and `talentctl status` sets on its own connection to the socket.  Any
// other request for them goes on to the next handler (the profile API,
// whose answer is DRF's 404).  Nothing on them identifies a token or a
// secret: user ids, never emails; paths, never query strings.
//
// /status formats, chosen as php-fpm does: plain text by default, ?json,
// ?html; ?full adds one row per worker (pid, state, current request and
// step with their ages, last request's status, duration and CPU).
#pragma once

#include <string>

#include "core/config.h"
#include "daemon/listen_queue.h"
#include "daemon/scoreboard.h"
#include "db/database.h"
#include "http/handler.h"
#include "storage/store_gate.h"

namespace talentd::api {

// What the status page shows, gathered at one moment.
struct StatusView {
    daemon::Snapshot snapshot;
    bool queue_known = false;
    daemon::ListenQueue queue;        // now
    std::string listen;               // talentd.conf's listen
    bool gate_known = false;
    storage::GateSnapshot gate;       // the store's bulkhead and breaker (storage/store_gate.h)
};

std::string render_status_text(const StatusView& view, bool full);
std::string render_status_json(const StatusView& view, bool full);
std::string render_status_html(const StatusView& view, bool full);

// The Prometheus text exposition format (version 0.0.4), one HELP and TYPE
// per family.  `journal` may be null (the database did not answer).
std::string render_metrics(const StatusView& view, const db::JournalSummary* journal);

class OperatorApi : public http::Handler {
public:
    // gate: the store's bulkhead and breaker, shown beside the rest (may be null).
    OperatorApi(const Config& config, db::Database& db, daemon::Scoreboard& board, int listen_fd,
                http::Handler& next, const storage::StoreGate* gate = nullptr);
    http::Response handle(const http::Request& request, http::BodySource& body, http::RequestNote* note) override;
    bool holds_idle_memory() const override { return next_.holds_idle_memory(); }
    void idle() override { next_.idle(); }

private:
    StatusView gather();

    const Config& config_;
    db::Database& db_;
    daemon::Scoreboard& board_;
    int listen_fd_;
    http::Handler& next_;
    const storage::StoreGate* gate_;
};

}  // namespace talentd::api
