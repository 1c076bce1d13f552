// Request and Response — HTTP as talentd's handler sees it, free of FastCGI.
//
// A Request is built from the FastCGI parameters nginx sends (fastcgi_params)
// by the fcgi edge, or directly by tests.  Its body is not part of it: the
// handler pulls the body through a BodySource only after authentication and
// permission have been decided, so a refused request never costs a body read.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/api_error.h"
#include "http/body_buffer.h"

namespace talentd::http {

struct Request {
    std::string method;          // REQUEST_METHOD
    std::string path;            // DOCUMENT_URI (decoded path, no query)
    std::string query;           // QUERY_STRING
    std::string content_type;    // CONTENT_TYPE, as sent
    int64_t content_length = -1; // CONTENT_LENGTH; -1 when absent
    bool https = false;          // HTTPS=on
    std::string remote_addr;
    // TALENTD_OPERATOR=1: set only by nginx's operator locations
    // (talentd-operator.conf) or `talentctl status`, never by a client (its
    // headers arrive as HTTP_*).  The status page and the metrics need it.
    bool operator_access = false;
    // Request headers, lower-case names with '-' ("is-talent", "authorization"),
    // from the HTTP_* parameters.
    std::map<std::string, std::string> headers;

    // The header's value, or "" when absent.
    const std::string& header(std::string_view lower_name) const;
    bool has_header(std::string_view lower_name) const;
};

struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::vector<Header> headers;
    std::string body;
    bool head_only = false;      // HEAD: headers (Content-Length of the full body) only

    void add_header(std::string name, std::string value) { headers.push_back({std::move(name), std::move(value)}); }
    static Response from_error(const ApiError& error);
};

// Where the handler reads the request body from.  read() returns the number
// of bytes placed in buf, 0 at the end of the body, -1 on a transport error.
class BodySource {
public:
    virtual ~BodySource() = default;
    virtual long read(char* buf, size_t size) = 0;
};

// Reads the whole body into *body (emptied first), at most `limit` bytes.
// Returns false when the body is longer than `limit` (stops reading there;
// *too_large) or the transport failed.  `expected` (CONTENT_LENGTH, -1 if
// unknown) sizes the buffer up front: the bytes are read straight into it,
// with no growth and no copy of their own; a body longer than announced
// still arrives whole (the buffer then grows).
bool read_body(BodySource& source, int64_t limit, BodyBuffer* body, bool* too_large, int64_t expected = -1);

// "200 OK", "404 Not Found", ... (the reason phrase nginx passes on).
const char* status_text(int status);

// Converts one HTTP_* FastCGI parameter name to a header name ("HTTP_IS_TALENT" -> "is-talent").
std::string header_name_from_param(std::string_view param);

}  // namespace talentd::http
