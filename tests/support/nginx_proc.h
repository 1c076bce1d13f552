// nginx for integration tests: one process (master_process off, daemon off)
// in its own temporary directory, on loopback ports the test chose.
//
//   talentd::test::NginxProc nginx;
//   if (!nginx.start("server { listen 127.0.0.1:" + port + "; ... }", port, &error)) ...;
//
// start() writes DIR/nginx.conf around the text given for the http {}
// context: pid, error log (DIR/error.log, level info), access log
// (DIR/access.log) and every temp path inside DIR; then runs
// `nginx -p DIR/ -c DIR/nginx.conf -e DIR/error.log` and waits until
// wait_port accepts connections (start_on_ports: until nginx itself
// listens on each of its ports).  stop() and the destructor send SIGQUIT
// (graceful) to that pid only, then SIGKILL if needed, and reap it.
// The nginx binary is $TALENTD_NGINX, else /usr/sbin/nginx, else nginx in $PATH.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "temp_dir.h"

namespace talentd::test {

class NginxProc {
  public:
    NginxProc() = default;
    ~NginxProc() { stop(); }

    bool start(const std::string& http_context, int wait_port, std::string* error, double wait_seconds = 10);

    // The way to start it on ports of its own: picks `count` free ports,
    // builds the http {} text from them, starts nginx and waits until this
    // very process listens on every one of them.  A port another process
    // took in between ("Address already in use") costs a retry with fresh
    // ports (up to 5 attempts).  *ports gets the ports in use.
    bool start_on_ports(int count, const std::function<std::string(const std::vector<int>&)>& http_context,
                        std::vector<int>* ports, std::string* error, double wait_seconds = 10);
    void stop();

    const std::string& dir() const { return dir_.path(); }
    std::string file(const std::string& name) const { return dir_.file(name); }
    std::string error_log() const { return read_file(dir_.file("error.log")); }
    std::string access_log() const { return read_file(dir_.file("access.log")); }
    pid_t pid() const { return process_.pid(); }

  private:
    TempDir dir_{"talentd-nginx"};
    ChildProcess process_;
};

// The shipped egress proxy, nginx/talentd-egress.conf, with its EDIT values
// replaced for a test.  Each value must occur exactly once in the file, so
// a test fails when the shipped file drifts from what this expects.
struct EgressTarget {
    int listen_port = 0;         // instead of 127.0.0.1:8081
    std::string store_name;      // TLS name and Host, instead of fra1.digitaloceanspaces.com
    std::string store_address;   // host:port to connect to
    std::string trusted_ca;      // PEM file, instead of /etc/ssl/certs/ca-certificates.crt
};
bool render_egress_conf(const EgressTarget& target, std::string* conf, std::string* error);

// A self-signed certificate for `name` (CN and subjectAltName DNS:name,
// EC P-256, valid one day) made with the openssl command in dir:
// dir/<file_stem>.pem and dir/<file_stem>.key.  It serves as its own CA.
bool make_self_signed_cert(const std::string& dir, const std::string& file_stem, const std::string& name,
                           std::string* error);

}  // namespace talentd::test
