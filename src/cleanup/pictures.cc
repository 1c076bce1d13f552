#include "cleanup/pictures.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "core/log.h"

namespace talentd::cleanup {
namespace {

int64_t wall_now() { return static_cast<int64_t>(::time(nullptr)); }

}  // namespace

ApiError storage_unavailable(const Config& config) {
    return ApiError::detail(503, "Storage temporarily unavailable, please retry.")
        .with_header("Retry-After", std::to_string(config.retry_after));
}

ApiError database_unavailable(const Config& config) {
    return ApiError::detail(503, "Database temporarily unavailable, please retry.")
        .with_header("Retry-After", std::to_string(config.retry_after));
}

ApiError database_error(const Config& config, const db::Database& db) {
    if (db.failure() == db::Failure::Unavailable) return database_unavailable(config);
    return ApiError::detail(500, "A server error occurred.");
}

Pictures::Pictures(const Config& config, db::Database& db, storage::Store& store, storage::StoreGate* gate)
    : config_(config), db_(db), store_(store), gate_(gate), gate_settings_(storage::gate_settings_from(config)) {
    // Constructed in the worker after fork: the generation it belongs to.
    if (gate_) gate_settings_.generation = gate_->generation();
}

namespace {

// Enters the gate, if any: an ungated call is always admitted.
storage::StoreGate::Pass enter(storage::StoreGate* gate, const storage::GateSettings& settings) {
    return gate ? gate->enter(settings) : storage::StoreGate::Pass::ungated();
}

const char* refusal(const storage::StoreGate::Pass& pass) {
    return pass.verdict() == storage::StoreGate::Verdict::Busy ? "store_concurrency reached" : "store breaker open";
}

}  // namespace

void Pictures::crash_point(const char* step) const {
    if (!config_.test_crash_at.empty() && config_.test_crash_at == step) {
        LOG_WARN("test_crash_at=%s: killing this worker on purpose", step);
        kill(getpid(), SIGKILL);
    }
}

std::optional<std::string> Pictures::store(int64_t user_id, const PictureBytes& picture, ApiError* error) {
    // The gate first: a refused upload journals nothing.
    storage::StoreGate::Pass pass = enter(gate_, gate_settings_);
    if (!pass.admitted()) {
        LOG_WARN("user=%lld upload refused at once: %s", static_cast<long long>(user_id), refusal(pass));
        *error = storage_unavailable(config_);
        return std::nullopt;
    }
    const std::string key = storage::new_object_key(config_.media_prefix, user_id, picture.extension);
    std::string why;
    if (!db_.journal_pending(key, user_id, wall_now(), &why)) {
        LOG_ERROR("user=%lld journal pending %s: %s", static_cast<long long>(user_id), key.c_str(), why.c_str());
        *error = database_error(config_, db_);
        return std::nullopt;
    }
    crash_point("after_pending");
    storage::Result put = store_.put(key, picture.data, picture.size, picture.content_type);
    pass.finish(put.outcome == storage::Outcome::Unavailable);
    LOG_DEBUG("user=%lld put %s (%zu bytes, %s): %s %d %s %.1fms", static_cast<long long>(user_id), key.c_str(),
              picture.size, picture.content_type.c_str(), put.ok() ? "ok" : "failed", put.http_status,
              put.detail.c_str(), put.seconds * 1e3);
    if (!put.ok()) {
        LOG_WARN("user=%lld storage put failed for %s: %s", static_cast<long long>(user_id), key.c_str(),
                 put.detail.c_str());
        *error = storage_unavailable(config_);
        if (put.nothing_written) {
            // Nothing can be in the store under this key: the row goes now.
            if (!db_.journal_drop_pending(key, &why))
                LOG_WARN("user=%lld dropping pending %s: %s (left to the reaper)", static_cast<long long>(user_id),
                         key.c_str(), why.c_str());
            return std::nullopt;
        }
        // The PUT may have landed even though we saw no answer: the pending
        // row stays and the reaper removes the object after pending_grace.
        return std::nullopt;
    }
    crash_point("after_put");
    return key;
}

db::CommitResult Pictures::commit(const profile::User& user, const profile::Profile& profile,
                                  const db::PictureUpdate& picture, std::optional<std::string>* old_key,
                                  std::string* why) {
    db::CommitResult result = db_.commit_update(user, profile, picture, wall_now(), old_key, why);
    if (result == db::CommitResult::Committed) {
        if (picture.kind != db::PictureUpdate::Kind::Keep)
            LOG_DEBUG("user=%lld committed picture %s (old %s)", static_cast<long long>(user.id),
                      picture.kind == db::PictureUpdate::Kind::Replace ? picture.new_key.c_str() : "cleared",
                      *old_key ? (*old_key)->c_str() : "none");
        crash_point("after_commit");
    } else if (result == db::CommitResult::PendingLost && picture.kind == db::PictureUpdate::Kind::Replace) {
        // The reaper claimed the pending row while this upload was in flight
        // and may have deleted the key before our PUT landed: the object is
        // there now and nothing references it.  Journal it for removal and
        // delete it, as a replaced key.
        std::string journal_why;
        if (db_.journal_remove(picture.new_key, user.id, wall_now(), &journal_why))
            remove_now(picture.new_key, user.id);
        else
            LOG_ERROR("user=%lld journal remove %s: %s", static_cast<long long>(user.id), picture.new_key.c_str(),
                      journal_why.c_str());
    }
    return result;
}

void Pictures::clean_up(const std::string& old_key, int64_t user_id) {
    remove_now(old_key, user_id);
    crash_point("after_delete");
}

void Pictures::remove_now(const std::string& key, int64_t user_id) {
    storage::StoreGate::Pass pass = enter(gate_, gate_settings_);
    std::string why;
    if (!pass.admitted()) {
        LOG_INFO("user=%lld delete of %s left to the reaper: %s", static_cast<long long>(user_id), key.c_str(),
                 refusal(pass));
        if (!db_.journal_retry_later(key, wall_now() + config_.reap_backoff_base, refusal(pass), &why))
            LOG_WARN("journal retry %s: %s", key.c_str(), why.c_str());
        return;
    }
    storage::Result del = store_.remove(key);
    pass.finish(del.outcome == storage::Outcome::Unavailable);
    LOG_DEBUG("user=%lld delete %s: %s %d %s %.1fms", static_cast<long long>(user_id), key.c_str(),
              del.ok() ? "ok" : "failed", del.http_status, del.detail.c_str(), del.seconds * 1e3);
    if (del.ok()) {
        if (!db_.journal_done(key, &why)) LOG_WARN("journal done %s: %s", key.c_str(), why.c_str());
    } else {
        LOG_WARN("user=%lld delete of %s failed (%s): left to the reaper", static_cast<long long>(user_id),
                 key.c_str(), del.detail.c_str());
        if (!db_.journal_retry_later(key, wall_now() + config_.reap_backoff_base, del.detail, &why))
            LOG_WARN("journal retry %s: %s", key.c_str(), why.c_str());
    }
}

int64_t backoff_seconds(int attempts, int64_t base, int64_t max) {
    int64_t delay = base;
    for (int i = 1; i < attempts && delay < max; ++i) delay *= 2;
    return std::min(delay, max);
}

namespace {

// Releases the hold of the entry being worked on, whatever path ends it.
struct Hold {
    db::Database& db;
    bool held = false;
    ~Hold() {
        std::string ignored;
        if (held) db.release_entry(&ignored);
    }
    bool release(std::string* why) {
        held = false;
        return db.release_entry(why);
    }
};

// One due row, as listed: false on a database error only.
bool reap_entry(const Config& config, db::Database& db, storage::Store& store, int64_t now,
                const db::JournalEntry& listed, ReapReport* report, std::string* why) {
    Hold hold{db};
    db::JournalEntry entry;
    bool taken = false;
    if (!db.take_entry(listed.key, now, now - config.pending_grace, &entry, &taken, why)) return false;
    if (!taken) return true;   // done meanwhile, or another host's reaper has it
    hold.held = true;
    if (entry.state == "pending") {
        bool claimed = false;
        if (!db.claim_pending(entry.key, now, &claimed, why)) return false;
        if (!claimed) return true;   // a worker committed it meanwhile
        ++report->claimed_pending;
    }
    bool referenced = false;
    if (!db.is_referenced(entry.key, &referenced, why)) return false;
    if (referenced) {
        // Never delete what a profile shows; the row is stale.
        if (!db.journal_done(entry.key, why) || !hold.release(why)) return false;
        ++report->dropped_referenced;
        LOG_INFO("reaper: %s is referenced by a profile: journal entry dropped", entry.key.c_str());
        return true;
    }
    storage::Result del = store.remove(entry.key);
    if (del.ok()) {
        if (!db.journal_done(entry.key, why) || !hold.release(why)) return false;
        ++report->removed;
        LOG_INFO("reaper: removed %s", entry.key.c_str());
    } else {
        const int attempts = entry.attempts + 1;
        const int64_t next = now + backoff_seconds(attempts, config.reap_backoff_base, config.reap_backoff_max);
        if (!db.journal_retry_later(entry.key, next, del.detail, why) || !hold.release(why)) return false;
        ++report->failed;
        report->errors.push_back(entry.key + ": " + del.detail);
        LOG_WARN("reaper: delete %s failed (%s), attempt %d, next in %lld s", entry.key.c_str(),
                 del.detail.c_str(), attempts, static_cast<long long>(next - now));
    }
    return true;
}

}  // namespace

bool reap(const Config& config, db::Database& db, storage::Store& store, int64_t now, ReapReport* report,
          std::string* why) {
    // A page at a time, in (created_at, key) order, each page after the
    // last row of the one before: rows this pass retries or removes are
    // not seen again, and a backlog of any length costs one page of memory.
    db::JournalCursor after;
    std::vector<db::JournalEntry> due;
    do {
        if (!db.due_entries(now, now - config.pending_grace, after, kReapPageRows, &due, why)) return false;
        for (const db::JournalEntry& listed : due)
            if (!reap_entry(config, db, store, now, listed, report, why)) return false;
        if (!due.empty()) after = {due.back().created_at, due.back().key};
    } while (static_cast<int64_t>(due.size()) == kReapPageRows);
    return true;
}

bool audit(const Config& config, db::Database& db, storage::Store& store, AuditReport* report, std::string* why) {
    std::vector<std::string> bucket;
    storage::Result listed = store.list(config.media_prefix, &bucket);
    if (!listed.ok()) {
        if (why) *why = "listing the bucket failed: " + listed.detail;
        return false;
    }
    std::vector<std::string> referenced;
    if (!db.referenced_keys(&referenced, why)) return false;
    std::set<std::string> in_bucket(bucket.begin(), bucket.end());
    std::set<std::string> in_db(referenced.begin(), referenced.end());
    report->bucket_keys = in_bucket.size();
    report->referenced_keys = in_db.size();
    for (const auto& k : in_bucket)
        if (!in_db.count(k)) report->unreferenced.push_back(k);
    for (const auto& k : in_db)
        if (!in_bucket.count(k)) report->missing.push_back(k);
    return true;
}

}  // namespace talentd::cleanup
