#include "form/json_body.h"

#include <jansson.h>

#include <charconv>
#include <cstdlib>
#include <cmath>
#include <memory>
#include <vector>

#include "form/text.h"

namespace talentd::form {

namespace {

struct JsonDeleter {
    void operator()(json_t* j) const { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDeleter>;

struct FreeDeleter {
    void operator()(char* p) const { std::free(p); }
};

ApiError json_error(std::string_view reason) {
    std::string message = "JSON parse error - ";
    message += reason;
    return ApiError::detail(400, message);
}

bool is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
int hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// JSONDecodeError's text: "<msg>: line L column C (char N)", positions in
// code points.
std::string with_position(std::string_view text, const char* msg, size_t byte_pos) {
    size_t chars = 0, line = 1, last_newline_char = 0;
    bool seen_newline = false;
    for (size_t i = 0; i < byte_pos && i < text.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if ((c & 0xC0) == 0x80) continue;
        if (c == '\n') {
            ++line;
            last_newline_char = chars;
            seen_newline = true;
        }
        ++chars;
    }
    size_t column = seen_newline ? chars - last_newline_char : chars + 1;
    return std::string(msg) + ": line " + std::to_string(line) + " column " + std::to_string(column) +
           " (char " + std::to_string(chars) + ")";
}

struct Failure {
    const char* msg;
    size_t pos;
};

// CPython's scanstring_unicode (strict): `end` is just past the opening quote.
// Returns the offset past the closing quote, or a failure.
bool scan_string(std::string_view s, size_t end, size_t* out, Failure* failure) {
    const size_t n = s.size();
    const size_t begin = end - 1;
    const auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    while (true) {
        size_t next = end;
        unsigned char c = 0;
        for (; next < n; ++next) {
            c = at(next);
            if (c == '"' || c == '\\') break;
            if (c <= 0x1f) {
                *failure = {"Invalid control character at", next};
                return false;
            }
        }
        if (next >= n) {
            *failure = {"Unterminated string starting at", begin};
            return false;
        }
        ++next;
        if (c == '"') {
            *out = next;
            return true;
        }
        if (next == n) {
            *failure = {"Unterminated string starting at", begin};
            return false;
        }
        c = at(next);
        if (c != 'u') {
            end = next + 1;
            switch (c) {
                case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                    break;
                default:
                    *failure = {"Invalid \\escape", end - 2};
                    return false;
            }
        } else {
            ++next;
            end = next + 4;
            if (end >= n) {
                *failure = {"Invalid \\uXXXX escape", next - 1};
                return false;
            }
            unsigned cp = 0;
            for (; next < end; ++next) {
                int d = hex_digit(at(next));
                if (d < 0) {
                    *failure = {"Invalid \\uXXXX escape", end - 5};
                    return false;
                }
                cp = (cp << 4) | static_cast<unsigned>(d);
            }
            if (cp >= 0xD800 && cp <= 0xDBFF && end + 6 < n && at(next++) == '\\' && at(next++) == 'u') {
                unsigned cp2 = 0;
                end += 6;
                for (; next < end; ++next) {
                    int d = hex_digit(at(next));
                    if (d < 0) {
                        *failure = {"Invalid \\uXXXX escape", end - 5};
                        return false;
                    }
                    cp2 = (cp2 << 4) | static_cast<unsigned>(d);
                }
                if (!(cp2 >= 0xDC00 && cp2 <= 0xDFFF)) end -= 6;
            }
        }
    }
}

// CPython's _match_number_unicode; returns false (StopIteration) when no
// number starts at idx.
bool match_number(std::string_view s, size_t idx, size_t* out) {
    const size_t n = s.size();
    const auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    if (at(idx) == '-') {
        ++idx;
        if (idx >= n) return false;
    }
    if (at(idx) >= '1' && at(idx) <= '9') {
        ++idx;
        while (idx < n && is_digit(at(idx))) ++idx;
    } else if (at(idx) == '0') {
        ++idx;
    } else {
        return false;
    }
    if (idx + 1 < n && at(idx) == '.' && is_digit(at(idx + 1))) {
        idx += 2;
        while (idx < n && is_digit(at(idx))) ++idx;
    }
    if (idx + 1 < n && (at(idx) == 'e' || at(idx) == 'E')) {
        size_t e_start = idx;
        ++idx;
        if (idx + 1 < n && (at(idx) == '-' || at(idx) == '+')) ++idx;
        while (idx < n && is_digit(at(idx))) ++idx;
        if (!is_digit(at(idx - 1))) idx = e_start;
    }
    *out = idx;
    return true;
}

bool literal_at(std::string_view s, size_t idx, std::string_view word) {
    return s.substr(idx, word.size()) == word;
}

}  // namespace

std::string python_float_repr(double value) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    char buf[64];
    auto result = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
    std::string_view t(buf, static_cast<size_t>(result.ptr - buf));
    std::string out;
    if (!t.empty() && t[0] == '-') {
        out.push_back('-');
        t.remove_prefix(1);
    }
    size_t e = t.find('e');
    std::string digits;
    for (char c : t.substr(0, e))
        if (c != '.') digits.push_back(c);
    int exponent = 0;
    std::from_chars(t.data() + e + 1 + (t[e + 1] == '+' ? 1 : 0), t.data() + t.size(), exponent);
    const int decpt = exponent + 1;   // value = 0.DIGITS x 10^decpt
    const int ndigits = static_cast<int>(digits.size());
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            out += "0.";
            out.append(static_cast<size_t>(-decpt), '0');
            out += digits;
        } else if (decpt >= ndigits) {
            out += digits;
            out.append(static_cast<size_t>(decpt - ndigits), '0');
            out += ".0";
        } else {
            out += digits.substr(0, static_cast<size_t>(decpt));
            out.push_back('.');
            out += digits.substr(static_cast<size_t>(decpt));
        }
    } else {
        out.push_back(digits[0]);
        if (ndigits > 1) {
            out.push_back('.');
            out += digits.substr(1);
        }
        int x = decpt - 1;
        out.push_back('e');
        out.push_back(x < 0 ? '-' : '+');
        if (x < 0) x = -x;
        if (x < 10) out.push_back('0');
        out += std::to_string(x);
    }
    return out;
}

std::optional<std::string> python_json_error(std::string_view s) {
    size_t values;
    return scan_json(s, &values);
}

std::optional<std::string> scan_json(std::string_view s, size_t* values) {
    *values = 0;
    const size_t n = s.size();
    const auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const auto skip_ws = [&](size_t i) {
        while (i < n && is_ws(at(i))) ++i;
        return i;
    };
    if (literal_at(s, 0, "\xEF\xBB\xBF"))
        return with_position(s, "Unexpected UTF-8 BOM (decode using utf-8-sig)", 0);

    std::vector<char> stack;   // '{' or '['
    Failure failure{};
    size_t i = skip_ws(0);
    enum class Step { Value, Key, After } step = Step::Value;
    while (true) {
        if (step == Step::Key) {
            if (i >= n || at(i) != '"') {
                failure = {"Expecting property name enclosed in double quotes", i};
                break;
            }
            if (!scan_string(s, i + 1, &i, &failure)) break;
            i = skip_ws(i);
            if (i >= n || at(i) != ':') {
                failure = {"Expecting ':' delimiter", i};
                break;
            }
            i = skip_ws(i + 1);
            step = Step::Value;
            continue;
        }
        if (step == Step::After) {
            if (stack.empty()) {
                i = skip_ws(i);
                if (i != n) {
                    failure = {"Extra data", i};
                    break;
                }
                return std::nullopt;
            }
            i = skip_ws(i);
            const char close = stack.back() == '{' ? '}' : ']';
            if (i < n && at(i) == static_cast<unsigned char>(close)) {
                stack.pop_back();
                ++i;
                continue;
            }
            if (i >= n || at(i) != ',') {
                failure = {"Expecting ',' delimiter", i};
                break;
            }
            i = skip_ws(i + 1);
            step = stack.back() == '{' ? Step::Key : Step::Value;
            continue;
        }
        // Step::Value: CPython's scan_once_unicode.
        if (i >= n) {
            failure = {"Expecting value", i};
            break;
        }
        const unsigned char c = at(i);
        ++*values;
        step = Step::After;
        if (c == '"') {
            if (!scan_string(s, i + 1, &i, &failure)) break;
            continue;
        }
        if (c == '{' || c == '[') {
            size_t j = skip_ws(i + 1);
            const unsigned char close = c == '{' ? '}' : ']';
            if (j < n && at(j) == close) {
                i = j + 1;
                continue;
            }
            stack.push_back(static_cast<char>(c));
            i = j;
            step = c == '{' ? Step::Key : Step::Value;
            continue;
        }
        if (c == 'n' && i + 3 < n && literal_at(s, i, "null")) { i += 4; continue; }
        if (c == 't' && i + 3 < n && literal_at(s, i, "true")) { i += 4; continue; }
        if (c == 'f' && i + 4 < n && literal_at(s, i, "false")) { i += 5; continue; }
        // DRF's strict_constant: ValueError without a position.
        if (c == 'N' && i + 2 < n && literal_at(s, i, "NaN"))
            return std::string("Out of range float values are not JSON compliant: 'NaN'");
        if (c == 'I' && i + 7 < n && literal_at(s, i, "Infinity"))
            return std::string("Out of range float values are not JSON compliant: 'Infinity'");
        if (c == '-' && i + 8 < n && literal_at(s, i, "-Infinity"))
            return std::string("Out of range float values are not JSON compliant: '-Infinity'");
        if (!match_number(s, i, &i)) {
            failure = {"Expecting value", i};
            break;
        }
    }
    return with_position(s, failure.msg, failure.pos);
}

bool parse_json(std::string_view body, const BodyLimits& limits, Fields* fields, ApiError* error) {
    std::string decode_error;
    size_t usable = python_utf8_prefix(body, &decode_error);
    if (usable == std::string_view::npos) {
        *error = json_error(decode_error);
        return false;
    }
    std::string_view text = body.substr(0, usable);
    // Python's verdict first (an allocation-free pass): its error text, and
    // the number of values, which bounds what jansson will allocate.  This
    // also refuses what jansson 2.14 wrongly accepts (it skips a raw NUL
    // byte after a number or literal: "1\0").
    size_t values = 0;
    if (std::optional<std::string> python = scan_json(text, &values)) {
        *error = json_error(*python);
        return false;
    }
    if (values > limits.max_fields + 1) {   // the top-level object is not a field
        *error = too_many_fields_error();
        return false;
    }
    json_error_t jerr;
    JsonPtr root(json_loadb(text.data(), text.size(), JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr));
    if (!root) {
        // Valid for Python, refused by jansson: integers beyond 64 bits, NUL
        // in a key, lone surrogate escapes.  jansson's own words.
        *error = json_error(jerr.text);
        return false;
    }
    if (!json_is_object(root.get())) {
        if (json_is_null(root.get())) {
            *error = ApiError::fields({{"non_field_errors", {"No data provided"}}});
            return false;
        }
        const char* type = "list";
        switch (json_typeof(root.get())) {
            case JSON_STRING: type = "str"; break;
            case JSON_INTEGER: type = "int"; break;
            case JSON_REAL: type = "float"; break;
            case JSON_TRUE: case JSON_FALSE: type = "bool"; break;
            default: break;
        }
        *error = ApiError::fields(
            {{"non_field_errors", {std::string("Invalid data. Expected a dictionary, but got ") + type + "."}}});
        return false;
    }
    const char* key;
    json_t* item;
    json_object_foreach(root.get(), key, item) {
        Value value;
        switch (json_typeof(item)) {
            case JSON_STRING:
                value.text.assign(json_string_value(item), json_string_length(item));
                break;
            case JSON_NULL:
                value.kind = Value::Kind::Null;
                break;
            case JSON_INTEGER:
                value.kind = Value::Kind::Other;
                value.json_type = "integer";
                value.text = std::to_string(json_integer_value(item));
                break;
            case JSON_REAL:
                value.kind = Value::Kind::Other;
                value.json_type = "number";
                value.text = python_float_repr(json_real_value(item));
                break;
            case JSON_TRUE:
            case JSON_FALSE:
                value.kind = Value::Kind::Other;
                value.json_type = "boolean";
                value.text = json_is_true(item) ? "true" : "false";
                break;
            default: {
                value.kind = Value::Kind::Other;
                value.json_type = json_is_array(item) ? "array" : "object";
                std::unique_ptr<char, FreeDeleter> dumped(json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY));
                if (dumped) value.text = dumped.get();
            }
        }
        (*fields)[key] = std::move(value);
    }
    return true;
}

}  // namespace talentd::form
