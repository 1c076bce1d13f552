#include "http/message.h"

#include <algorithm>
#include <cstring>

namespace talentd::http {

const std::string& Request::header(std::string_view lower_name) const {
    static const std::string empty;
    auto it = headers.find(std::string(lower_name));
    return it == headers.end() ? empty : it->second;
}

bool Request::has_header(std::string_view lower_name) const { return headers.count(std::string(lower_name)) != 0; }

Response Response::from_error(const ApiError& error) {
    Response r;
    r.status = error.status;
    r.body = error.body;
    r.headers = error.headers;
    return r;
}

bool read_body(BodySource& source, int64_t limit, BodyBuffer* body, bool* too_large, int64_t expected) {
    *too_large = false;
    body->clear();
    const size_t max = limit > 0 ? static_cast<size_t>(limit) : 0;
    // One allocation of the announced size (kept from the last body when
    // that was as large): never more than `limit`, so reading into the
    // room left can never pass it.
    body->reserve(expected > 0 && static_cast<size_t>(expected) <= max ? static_cast<size_t>(expected)
                                                                        : std::min<size_t>(max, 64 * 1024));
    for (;;) {
        const size_t room = std::min<size_t>(body->capacity() - body->size(), 1 << 30);
        if (room > 0) {
            const long n = source.read(body->end(), room);
            if (n < 0) return false;
            if (n == 0) return true;
            body->added(static_cast<size_t>(n));
            continue;
        }
        // Full: the body should end here.  Look with a small read, so that
        // a body of the announced size costs no growth.
        char spill[4096];
        const long n = source.read(spill, sizeof spill);
        if (n < 0) return false;
        if (n == 0) return true;
        if (body->size() + static_cast<size_t>(n) > max) {
            *too_large = true;
            return false;
        }
        body->reserve(std::min(max, std::max({body->size() + static_cast<size_t>(n), 2 * body->capacity(),
                                              size_t{64 * 1024}})));
        std::memcpy(body->end(), spill, static_cast<size_t>(n));
        body->added(static_cast<size_t>(n));
    }
}

const char* status_text(int status) {
    switch (status) {
        case 200: return "200 OK";
        case 204: return "204 No Content";
        case 303: return "303 See Other";
        case 308: return "308 Permanent Redirect";
        case 400: return "400 Bad Request";
        case 401: return "401 Unauthorized";
        case 403: return "403 Forbidden";
        case 404: return "404 Not Found";
        case 405: return "405 Method Not Allowed";
        case 413: return "413 Request Entity Too Large";
        case 415: return "415 Unsupported Media Type";
        case 500: return "500 Internal Server Error";
        case 503: return "503 Service Unavailable";
        default: return nullptr;
    }
}

std::string header_name_from_param(std::string_view param) {
    std::string name;
    if (param.substr(0, 5) == "HTTP_") param.remove_prefix(5);
    name.reserve(param.size());
    for (char c : param) name.push_back(c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return name;
}

}  // namespace talentd::http
