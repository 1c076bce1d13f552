// Pictures — the replacement protocol of SPEC §5 and the reaper.
//
// Replacing a profile picture never loses one and never leaves an orphan:
//   1. store():   journal the new key as pending (committed), then PUT it;
//   2. commit():  one transaction points the profile at the new key, journals
//                 the old key for removal and drops the pending row;
//   3. clean_up(): delete the old object now, best effort; on failure its
//                 journal row stays and the reaper retries.
// Every store call passes the StoreGate first (when there is one): a call
// the bulkhead or the open breaker refuses is not made — an upload answers
// 503 before anything is journaled, a delete is left to the reaper.  A PUT
// that failed while certainly writing nothing (Result::nothing_written)
// drops its own pending row; only uncertain outcomes wait for the reaper.
// A crash between any two steps leaves only journaled keys behind, which the
// reaper resolves: removal rows are retried with exponential backoff; pending
// rows older than pending_grace are claimed (atomically with any late commit,
// which then fails instead of pointing a profile at a deleted object) and
// removed.  The reaper never deletes a key a profile references.
// After a reaper pass the bucket's keys under media_prefix are exactly the
// profiles' picture keys.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/api_error.h"
#include "core/config.h"
#include "db/database.h"
#include "storage/store.h"
#include "storage/store_gate.h"

namespace talentd::cleanup {

// A picture that passed validation, ready to be stored.
struct PictureBytes {
    const uint8_t* data = nullptr;
    size_t size = 0;                 // canonical length: trailing bytes already dropped
    std::string extension;           // jpg png gif webp
    std::string content_type;
};

// 503 {"detail": "Storage temporarily unavailable, please retry."} with Retry-After.
ApiError storage_unavailable(const Config& config);
// 503 {"detail": "Database temporarily unavailable, please retry."} with
// Retry-After: the database is unreachable or timed out (db::Failure::Unavailable).
ApiError database_unavailable(const Config& config);
// database_unavailable() when db's last failure says so, else the 500.
ApiError database_error(const Config& config, const db::Database& db);

class Pictures {
public:
    // gate: nullptr for none (talentctl).
    Pictures(const Config& config, db::Database& db, storage::Store& store, storage::StoreGate* gate = nullptr);

    // Steps 1-2.  Returns the new key, or nullopt with *error = 503
    // (the gate refused: nothing journaled; or storage unavailable: nothing
    // referenced, the pending row dropped when the PUT certainly wrote
    // nothing, else left for the reaper; or database unavailable before the
    // PUT) or 500 (database error).
    std::optional<std::string> store(int64_t user_id, const PictureBytes& picture, ApiError* error);

    // Step 3: the transaction.  *old_key gets the key to delete afterwards.
    // PendingLost (the reaper claimed the new key while its PUT was in
    // flight): the new key, whose object may have landed after the reaper's
    // delete, is journaled for removal and deleted, so nothing is orphaned.
    db::CommitResult commit(const profile::User& user, const profile::Profile& profile,
                            const db::PictureUpdate& picture, std::optional<std::string>* old_key,
                            std::string* why);

    // Step 4: best-effort delete of a replaced or cleared key.
    void clean_up(const std::string& old_key, int64_t user_id);

    // Test-only fault injection: SIGKILLs the process when `step` equals
    // the test_crash_at key (after_pending, after_put, after_commit, after_delete).
    void crash_point(const char* step) const;

private:
    // Deletes `key` now; on success drops its removal row, on failure leaves
    // it for the reaper.
    void remove_now(const std::string& key, int64_t user_id);

    const Config& config_;
    db::Database& db_;
    storage::Store& store_;
    storage::StoreGate* gate_;
    storage::GateSettings gate_settings_;
};

struct ReapReport {
    int removed = 0;            // objects deleted (or found already gone)
    int dropped_referenced = 0; // journal rows dropped because a profile uses the key
    int claimed_pending = 0;    // abandoned pending keys turned into removals
    int failed = 0;             // deletes that failed, retried later
    std::vector<std::string> errors;
};

// One reaper pass at `now` (unix seconds).  Returns false on a database error.
// Each due row is worked on under the database's hold (take_entry): reapers
// on several hosts at once never delete a key twice and never skip one.
// The due rows are read kReapPageRows at a time (docs/BENCHMARKS.md, "The
// reaper": loading 100 k at once took 41 MiB).
inline constexpr int64_t kReapPageRows = 500;
bool reap(const Config& config, db::Database& db, storage::Store& store, int64_t now, ReapReport* report,
          std::string* why);

// The delay before retry number `attempts` (1-based): base * 2^(attempts-1), capped.
int64_t backoff_seconds(int attempts, int64_t base, int64_t max);

// Audit: keys in the bucket under media_prefix that no profile references
// (orphans, journaled or not), and referenced keys missing from the bucket.
struct AuditReport {
    std::vector<std::string> unreferenced;
    std::vector<std::string> missing;
    size_t bucket_keys = 0;
    size_t referenced_keys = 0;
};
bool audit(const Config& config, db::Database& db, storage::Store& store, AuditReport* report, std::string* why);

}  // namespace talentd::cleanup
