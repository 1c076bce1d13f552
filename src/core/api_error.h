// ApiError — a refusal on its way to the client.
//
// Every step of a request returns either its result or an ApiError: the HTTP
// status, the DRF-shaped JSON body and any extra headers.  It is rendered in
// one place (the handler), so a step never writes to the socket itself.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace talentd {

struct Header {
    std::string name;
    std::string value;
};

// Field name -> its messages, in the order the fields were checked.
using FieldErrors = std::vector<std::pair<std::string, std::vector<std::string>>>;

struct ApiError {
    int status = 0;
    std::string body;              // compact JSON text as DRF renders it, e.g. {"detail":"Not found."}
    std::vector<Header> headers;   // e.g. WWW-Authenticate, Allow, Retry-After
    // The same content unrendered, for the HTML answers of form posts:
    std::string detail_text;       // the "detail" message, if any
    FieldErrors field_errors;      // the per-field messages of a 400

    // {"detail": message}
    static ApiError detail(int status, std::string_view message);
    // {"detail": message, "code": code}  (simplejwt's shape)
    static ApiError detail_code(int status, std::string_view message, std::string_view code);
    // 400 {"field": ["message", ...], ...}
    static ApiError fields(const FieldErrors& errors);

    ApiError&& with_header(std::string name, std::string value) && {
        headers.push_back({std::move(name), std::move(value)});
        return std::move(*this);
    }
};

// Adds message to field's list, creating the entry in order of first use.
void add_field_error(FieldErrors& errors, std::string_view field, std::string message);

// A JSON string literal (quotes included) for any UTF-8 text; invalid bytes
// are never produced by talentd, but are escaped as U+FFFD defensively.
std::string json_quote(std::string_view text);

}  // namespace talentd
