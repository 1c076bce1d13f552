#include "core/api_error.h"

#include <cstdio>

namespace talentd {

std::string json_quote(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out.push_back('"');
    for (unsigned char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
    }
    out.push_back('"');
    return out;
}

ApiError ApiError::detail(int status, std::string_view message) {
    return ApiError{status, "{\"detail\":" + json_quote(message) + "}", {}, std::string(message), {}};
}

ApiError ApiError::detail_code(int status, std::string_view message, std::string_view code) {
    return ApiError{status,
                    "{\"detail\":" + json_quote(message) + ",\"code\":" + json_quote(code) + "}",
                    {}, std::string(message), {}};
}

ApiError ApiError::fields(const FieldErrors& errors) {
    std::string body = "{";
    bool first_field = true;
    for (const auto& [field, messages] : errors) {
        if (!first_field) body += ",";
        first_field = false;
        body += json_quote(field) + ":[";
        for (size_t i = 0; i < messages.size(); ++i) {
            if (i) body += ",";
            body += json_quote(messages[i]);
        }
        body += "]";
    }
    body += "}";
    return ApiError{400, std::move(body), {}, {}, errors};
}

void add_field_error(FieldErrors& errors, std::string_view field, std::string message) {
    for (auto& [name, messages] : errors) {
        if (name == field) {
            messages.push_back(std::move(message));
            return;
        }
    }
    errors.push_back({std::string(field), {std::move(message)}});
}

}  // namespace talentd
