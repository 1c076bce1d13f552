#include "auth/credentials.h"

namespace talentd::auth {
namespace {

// Python's bytes.split() / str.strip() white space (ASCII).
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

bool iends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

// Python's http.cookies._unquote.
std::string unquote(std::string_view v) {
    if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::string(v);
    v = v.substr(1, v.size() - 2);
    std::string out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] != '\\' || i + 1 == v.size()) {
            out.push_back(v[i]);
            continue;
        }
        // \ooo (three octal digits, first 0-3) or \c
        if (i + 3 < v.size() && v[i + 1] >= '0' && v[i + 1] <= '3' &&
            v[i + 2] >= '0' && v[i + 2] <= '7' && v[i + 3] >= '0' && v[i + 3] <= '7') {
            out.push_back(static_cast<char>((v[i + 1] - '0') * 64 + (v[i + 2] - '0') * 8 + (v[i + 3] - '0')));
            i += 3;
        } else {
            out.push_back(v[i + 1]);
            i += 1;
        }
    }
    return out;
}

// "scheme://authority" of an absolute URL; empty when it has no scheme or
// no authority.
std::string_view url_origin(std::string_view url) {
    size_t sep = url.find("://");
    if (sep == std::string_view::npos || sep == 0) return {};
    for (size_t i = 0; i < sep; ++i) {
        char c = url[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
        if (!ok) return {};
    }
    size_t end = url.find_first_of("/?#", sep + 3);
    if (end == std::string_view::npos) end = url.size();
    if (end == sep + 3) return {};
    return url.substr(0, end);
}

bool origin_matches(std::string_view origin, std::string_view entry) {
    if (iequals(origin, entry)) return true;
    size_t sep = entry.find("://*.");
    if (sep == std::string_view::npos) return false;
    // Wildcard entry: same scheme, host[:port] equal to or a subdomain of
    // the suffix.  The host must be a plain host[:port] (no userinfo, path…).
    std::string_view domain = entry.substr(sep + 4);  // ".example.com[:port]"
    if (origin.size() <= sep + 3 || !iequals(origin.substr(0, sep + 3), entry.substr(0, sep + 3))) return false;
    std::string_view host = origin.substr(sep + 3);
    for (char c : host)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '.' || c == ':'))
            return false;
    return iends_with(host, domain) || iequals(host, domain.substr(1));
}

}  // namespace

BearerParse parse_bearer(std::string_view authorization, std::string* token) {
    std::string_view parts[3];
    size_t count = 0;
    std::string_view rest = authorization;
    while (count < 3) {
        rest = trim(rest);
        if (rest.empty()) break;
        size_t end = 0;
        while (end < rest.size() && !is_space(rest[end])) ++end;
        parts[count++] = rest.substr(0, end);
        rest.remove_prefix(end);
    }
    if (count == 0 || parts[0] != "Bearer") return BearerParse::Absent;
    if (count != 2) return BearerParse::Malformed;
    if (token) token->assign(parts[1]);
    return BearerParse::Token;
}

std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name) {
    if (name.empty()) return std::nullopt;
    std::optional<std::string> found;
    while (true) {
        size_t semi = cookie_header.find(';');
        std::string_view chunk = cookie_header.substr(0, semi);
        size_t eq = chunk.find('=');
        if (eq != std::string_view::npos && trim(chunk.substr(0, eq)) == name)
            found = unquote(trim(chunk.substr(eq + 1)));
        if (semi == std::string_view::npos) break;
        cookie_header.remove_prefix(semi + 1);
    }
    return found;
}

bool is_trusted_origin(std::string_view origin, const std::vector<std::string>& trusted_origins) {
    if (origin.empty() || origin == "null") return false;
    for (const auto& entry : trusted_origins)
        if (origin_matches(origin, entry)) return true;
    return false;
}

std::optional<std::string> csrf_origin_failure(std::string_view origin, std::string_view referer,
                                               const std::vector<std::string>& trusted_origins) {
    if (!origin.empty()) {
        if (is_trusted_origin(origin, trusted_origins)) return std::nullopt;
        return "CSRF Failed: Origin checking failed - " + std::string(origin) +
               " does not match any trusted origins.";
    }
    if (referer.empty()) return "CSRF Failed: Referer checking failed - no Referer.";
    std::string_view referer_origin = url_origin(referer);
    if (referer_origin.empty()) return "CSRF Failed: Referer checking failed - Referer is malformed.";
    if (is_trusted_origin(referer_origin, trusted_origins)) return std::nullopt;
    return "CSRF Failed: Referer checking failed - " + std::string(referer) +
           " does not match any trusted origins.";
}

}  // namespace talentd::auth
