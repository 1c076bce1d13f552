#include "s3rver.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "free_port.h"

namespace talentd::test {

namespace {

std::string from_env_or(const char* name, const std::string& fallback) {
    const char* value = getenv(name);
    return value && *value ? value : fallback;
}

}  // namespace

bool S3rver::start(const std::string& bucket, std::string* error, Signatures signatures, double wait_seconds) {
    if (dir_.path().empty()) {
        *error = "s3rver: no temporary directory";
        return false;
    }
    std::string node = from_env_or("TALENTD_NODE", find_program("node"));
    std::string script = from_env_or("TALENTD_S3RVER", source_path("tests/node/node_modules/s3rver/bin/s3rver.js"));
    if (node.empty() || script.empty()) {
        *error = "s3rver: node or tests/node/node_modules/s3rver not found (run tests/install-deps)";
        return false;
    }
    std::string data = dir_.file("data");
    mkdir(data.c_str(), 0700);

    // The port may be taken between free_port() and s3rver's listen: retry.
    for (int attempt = 0; attempt < 3; ++attempt) {
        port_ = free_port();
        std::vector<std::string> argv = {node, script, "-d", data, "-a", "127.0.0.1", "-p", std::to_string(port_),
                                         "--no-vhost-buckets"};
        if (signatures == Signatures::Lenient) argv.push_back("--allow-mismatched-signatures");
        argv.insert(argv.end(), {"--configure-bucket", bucket});
        if (!process_.start(argv, dir_.file("s3rver.log"), error)) {
            return false;
        }
        auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
        while (process_.running()) {
            // Up when s3rver itself listens: a connection may reach another
            // process that took the port first (s3rver then exits, retried below).
            if (wait_for_port(port_, 0.05) && port_owned_by(process_.pid(), port_)) return true;
            if (std::chrono::steady_clock::now() >= end) {
                process_.stop();
                *error = "s3rver did not listen on " + endpoint() + " within the time allowed; log:\n" + log();
                return false;
            }
        }
        // It exited: address in use, or something worse.
        if (log().find("EADDRINUSE") == std::string::npos) break;
    }
    *error = "s3rver exited at start; log:\n" + log();
    return false;
}

void S3rver::stop() { process_.stop(); }

}  // namespace talentd::test
