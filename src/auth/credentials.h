// auth/credentials — where a request's credentials come from, and whether a
// cookie-authenticated request may change anything.  Pure functions over
// header values (as FastCGI passes them); no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace talentd::auth {

// simplejwt JWTAuthentication.get_raw_token on the Authorization header value:
// the value is split on runs of ASCII white space (Python's bytes.split()).
//   Absent    — no header, an empty one, or a first word that is not exactly
//               "Bearer" (case-sensitive, as simplejwt compares header types):
//               the request is simply not JWT-authenticated;
//   Token     — "Bearer <token>": *token is set;
//   Malformed — "Bearer" followed by anything but exactly one word: simplejwt
//               answers 401 {"detail": "Authorization header must contain two
//               space-delimited values", "code": "bad_authorization_header"}.
enum class BearerParse { Absent, Token, Malformed };
BearerParse parse_bearer(std::string_view authorization, std::string* token);

// The value of cookie `name` in a Cookie header value, as Django's
// parse_cookie reads it: pairs split on ';', name and value split on the first
// '=', both trimmed of white space; a value in double quotes is unquoted
// (backslash escapes and \ooo octal escapes undone).  When the name occurs
// more than once, the last one wins (Django's dict).  nullopt when absent or
// `name` is empty.
std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name);

// Django CsrfViewMiddleware's origin checks for a cookie-authenticated unsafe
// request (POST, PATCH).  An empty string means the header is absent.
//   - Origin given: it must be a trusted origin (is_trusted_origin);
//   - else Referer given: its scheme://host[:port] must be a trusted origin;
//   - else refused.
// Returns nullopt when trusted, else the message DRF puts in {"detail": …}:
//   "CSRF Failed: Origin checking failed - <origin> does not match any trusted origins."
//   "CSRF Failed: Referer checking failed - <referer> does not match any trusted origins."
//   "CSRF Failed: Referer checking failed - Referer is malformed."   (no scheme://host)
//   "CSRF Failed: Referer checking failed - no Referer."
// (<origin>/<referer> are the header values as sent; quote them as JSON.)
std::optional<std::string> csrf_origin_failure(std::string_view origin, std::string_view referer,
                                               const std::vector<std::string>& trusted_origins);

// Whether `origin` (an Origin header value, "scheme://host[:port]") is in
// `trusted_origins` (for CSRF and for CORS preflight).  Scheme and host compare
// ASCII case-insensitively, the port exactly.  An entry "https://*.example.com"
// trusts example.com and every subdomain of it, on that scheme and the entry's
// port (Django's CSRF_TRUSTED_ORIGINS wildcard).  "null" is never trusted.
bool is_trusted_origin(std::string_view origin, const std::vector<std::string>& trusted_origins);

}  // namespace talentd::auth
