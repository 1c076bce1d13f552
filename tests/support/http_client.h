// A minimal HTTP client for tests (libcurl), loopback only: a URL whose host
// is not 127.0.0.1, [::1] or localhost is refused without sending anything.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace talentd::test {

struct HttpResponse {
    long status = 0;                             // 0: no answer (see error)
    std::map<std::string, std::string> headers;  // names lower-cased; last value wins
    std::string body;
    std::string error;                           // curl's message when status is 0
    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? "" : it->second;
    }
};

// method: GET, HEAD, PUT, POST, DELETE ...; request_headers: "Name: value".
HttpResponse http_request(const std::string& method, const std::string& url, const std::string& body = "",
                          const std::vector<std::string>& request_headers = {}, long timeout_seconds = 10);

inline HttpResponse http_get(const std::string& url) { return http_request("GET", url); }

}  // namespace talentd::test
