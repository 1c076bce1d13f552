// s3rver (the S3 emulator from tests/node) on a free loopback port, for
// integration tests.
//
//   talentd::test::S3rver s3;
//   std::string error;
//   if (!s3.start("talentd-test", &error)) ...;   // bucket created before it listens
//   storage settings: endpoint = s3.endpoint(), access/secret = S3rver::kAccessKey/kSecretKey
//
// It runs `node .../s3rver/bin/s3rver.js -d DIR/data -a 127.0.0.1 -p PORT
// --no-vhost-buckets --configure-bucket BUCKET` in its own temporary
// directory (log in DIR/s3rver.log), node started directly so that pid() is
// the server itself.  s3rver checks signatures (V2 and V4) against its
// fixed credentials.  --no-vhost-buckets makes every request path-style
// whatever its Host header, as behind the egress proxy.
//
// Bucket-level requests (list, create bucket) and libs3: libs3 2.0 signs
// "GET /bucket/?prefix=..." with the resource "/bucket/", as S3 and Spaces
// expect, but s3rver 3.7 recomputes it as "/bucket" and answers 403
// SignatureDoesNotMatch.  Object requests are unaffected.  Start it with
// Signatures::Lenient (--allow-mismatched-signatures: well-formed signatures
// pass, whatever their value; unknown access keys are still refused) where
// a test or a stack needs talentd to list the bucket.
//
// Finds node in $PATH (or $TALENTD_NODE) and s3rver.js in the source tree
// (or $TALENTD_S3RVER).  stop() and the destructor send SIGTERM to that pid
// only and reap it.
#pragma once

#include <string>

#include "temp_dir.h"

namespace talentd::test {

class S3rver {
  public:
    static constexpr const char* kAccessKey = "S3RVER";
    static constexpr const char* kSecretKey = "S3RVER";

    S3rver() = default;
    ~S3rver() { stop(); }

    enum class Signatures { Checked, Lenient };

    // Starts it and waits (up to wait_seconds) until it accepts connections.
    bool start(const std::string& bucket, std::string* error, Signatures signatures = Signatures::Checked,
               double wait_seconds = 20);
    void stop();

    int port() const { return port_; }
    std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }  // host:port
    std::string url() const { return "http://" + endpoint(); }
    pid_t pid() const { return process_.pid(); }
    std::string log() const { return read_file(dir_.file("s3rver.log")); }

  private:
    TempDir dir_{"talentd-s3rver"};
    ChildProcess process_;
    int port_ = 0;
};

}  // namespace talentd::test
