#include "nginx_proc.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "free_port.h"

namespace talentd::test {

namespace {

std::string nginx_binary() {
    if (const char* path = getenv("TALENTD_NGINX"); path && *path) return path;
    if (access("/usr/sbin/nginx", X_OK) == 0) return "/usr/sbin/nginx";
    return find_program("nginx");
}

// Replaces the single occurrence of `from`; false if it occurs 0 or 2+ times.
bool replace_once(std::string* text, const std::string& from, const std::string& to) {
    size_t at = text->find(from);
    if (at == std::string::npos || text->find(from, at + 1) != std::string::npos) return false;
    text->replace(at, from.size(), to);
    return true;
}

}  // namespace

bool NginxProc::start(const std::string& http_context, int wait_port, std::string* error, double wait_seconds) {
    const std::string& d = dir_.path();
    if (d.empty()) {
        *error = "nginx: no temporary directory";
        return false;
    }
    std::string binary = nginx_binary();
    if (binary.empty()) {
        *error = "nginx not found";
        return false;
    }
    mkdir((d + "/tmp").c_str(), 0700);
    std::string conf =
        "# written by tests/support/nginx_proc.cc\n"
        "daemon off;\n"
        "master_process off;\n"
        "pid " + d + "/nginx.pid;\n"
        "error_log " + d + "/error.log info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "    access_log " + d + "/access.log;\n"
        "    client_body_temp_path " + d + "/tmp/client_body;\n"
        "    proxy_temp_path " + d + "/tmp/proxy;\n"
        "    fastcgi_temp_path " + d + "/tmp/fastcgi;\n"
        "    uwsgi_temp_path " + d + "/tmp/uwsgi;\n"
        "    scgi_temp_path " + d + "/tmp/scgi;\n"
        "    default_type application/octet-stream;\n" +
        http_context +
        "\n}\n";
    if (!write_file(d + "/nginx.conf", conf)) {
        *error = "cannot write " + d + "/nginx.conf";
        return false;
    }
    if (!process_.start({binary, "-p", d + "/", "-c", d + "/nginx.conf", "-e", d + "/error.log"}, d + "/stderr.log",
                        error)) {
        return false;
    }
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
    while (process_.running()) {
        if (wait_for_port(wait_port, 0.05)) return true;
        if (std::chrono::steady_clock::now() >= end) {
            process_.stop();
            *error = "nginx did not listen on port " + std::to_string(wait_port) + "; error log:\n" + error_log();
            return false;
        }
    }
    *error = "nginx exited at start; error log:\n" + error_log() + read_file(d + "/stderr.log");
    return false;
}

bool NginxProc::start_on_ports(int count, const std::function<std::string(const std::vector<int>&)>& http_context,
                               std::vector<int>* ports, std::string* error, double wait_seconds) {
    for (int attempt = 1; attempt <= 5; ++attempt) {
        ports->clear();
        for (int i = 0; i < count; ++i) {
            int port = free_port();
            if (port == 0) {
                *error = "no free port";
                return false;
            }
            ports->push_back(port);
        }
        if (!start(http_context(*ports), (*ports)[0], error, wait_seconds)) {
            if (error->find("Address already in use") != std::string::npos) continue;
            return false;
        }
        // Up only if nginx itself holds every port: the connection above may
        // have reached another process that took the first one.
        bool owned = true;
        for (int port : *ports) owned = owned && port_owned_by(process_.pid(), port);
        if (owned) return true;
        stop();
        *error = "nginx does not listen on its ports (taken by another process?); error log:\n" + error_log();
    }
    return false;
}

void NginxProc::stop() { process_.stop(SIGQUIT); }

bool render_egress_conf(const EgressTarget& target, std::string* conf, std::string* error) {
    std::string path = source_path("nginx/talentd-egress.conf");
    std::string text = path.empty() ? "" : read_file(path);
    if (text.empty()) {
        *error = "nginx/talentd-egress.conf not found";
        return false;
    }
    struct Edit {
        const char* from;
        std::string to;
    } edits[] = {
        {"listen 127.0.0.1:8081;", "listen 127.0.0.1:" + std::to_string(target.listen_port) + ";"},
        {"set $s3_name fra1.digitaloceanspaces.com;", "set $s3_name " + target.store_name + ";"},
        {"set $s3_address fra1.digitaloceanspaces.com:443;", "set $s3_address " + target.store_address + ";"},
        {"proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;",
         "proxy_ssl_trusted_certificate " + target.trusted_ca + ";"},
    };
    for (const Edit& edit : edits) {
        if (!replace_once(&text, edit.from, edit.to)) {
            *error = std::string("nginx/talentd-egress.conf: \"") + edit.from + "\" must occur exactly once";
            return false;
        }
    }
    *conf = text;
    return true;
}

bool make_self_signed_cert(const std::string& dir, const std::string& file_stem, const std::string& name,
                           std::string* error) {
    std::string openssl = find_program("openssl");
    if (openssl.empty()) {
        *error = "openssl not found";
        return false;
    }
    ChildProcess process;
    if (!process.start({openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=" + name, "-addext", "subjectAltName=DNS:" + name,
                        "-keyout", dir + "/" + file_stem + ".key", "-out", dir + "/" + file_stem + ".pem"},
                       dir + "/openssl.log", error)) {
        return false;
    }
    while (process.running()) usleep(10 * 1000);
    int status = process.exit_status();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        *error = "openssl req failed: " + read_file(dir + "/openssl.log");
        return false;
    }
    return true;
}

}  // namespace talentd::test
