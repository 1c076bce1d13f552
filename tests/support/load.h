// Mixed load against a Stack for fault tests and the soak: `clients`
// threads, each looping over talent users picked at random, sending GETs of
// the profile, field-only updates, picture uploads (one of a few valid
// pictures), clears and invalid files, and recording every outcome.
//
//   t::Load load(stack, options);
//   load.start();  ...faults...  load.stop();
//   for (const t::LoadRecord& r : load.records()) ...
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "stack.h"

namespace talentd::test {

enum class LoadKind : char { Get = 'G', Fields = 'F', Upload = 'U', Clear = 'C', Invalid = 'I' };
const char* load_kind_name(LoadKind kind);

struct LoadOptions {
    int clients = 8;
    std::vector<int64_t> users;              // talent users that exist in the stack
    std::vector<std::string> pictures;       // bytes of valid pictures to upload
    // Weights of the request kinds (need not sum to 100).
    int get = 50, fields = 20, upload = 25, clear = 2, invalid = 3;
    long timeout_seconds = 60;
};

struct LoadRecord {
    LoadKind kind = LoadKind::Get;
    int64_t user = 0;
    int picture = -1;             // index into options.pictures (uploads)
    long status = 0;              // 0: no answer
    double start = 0, end = 0;    // seconds since Load::start()
    std::string key;              // the picture key a 200 upload answered
    std::string retry_after;      // of a 503
    std::string error;            // curl's, or a short body for unexpected statuses
};

class Load {
public:
    Load(const Stack& stack, LoadOptions options);
    ~Load();
    void start();
    void stop();                                 // waits for the requests in flight
    double now() const;                          // seconds since start()
    size_t completed() const { return completed_.load(); }
    std::vector<LoadRecord> records() const;     // a copy, safe while running

private:
    void client(int index);
    LoadRecord one(LoadKind kind, int64_t user, unsigned* seed);

    const Stack& stack_;
    LoadOptions options_;
    std::vector<std::string> tokens_;
    std::chrono::steady_clock::time_point started_;
    std::atomic<bool> stopping_{false};
    std::atomic<size_t> completed_{0};
    mutable std::mutex mutex_;
    std::vector<LoadRecord> records_;
    std::vector<std::thread> threads_;
};

// The picture key in a profile answer (…/media/profile_pictures/user_…), "" if none.
std::string picture_key_in(const std::string& body, const std::string& media_prefix);

}  // namespace talentd::test
