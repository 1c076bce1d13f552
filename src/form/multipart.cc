#include "form/multipart.h"

#include "form/text.h"
#include "form/urlencoded.h"

namespace talentd::form {

namespace {

constexpr std::string_view kPrefix = "Multipart form parse error - ";

ApiError parse_error(std::string_view reason) {
    std::string message(kPrefix);
    message += reason;
    return ApiError::detail(400, message);
}

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    while (true) {
        size_t hit = text.find(from, pos);
        if (hit == std::string_view::npos) break;
        out.append(text.substr(pos, hit - pos));
        out.append(to);
        pos = hit + from.size();
    }
    out.append(text.substr(pos));
    return out;
}

// django.utils.http._parseparam over ";" + line: splits on ';' outside
// double quotes (a quote preceded by a backslash does not count), strips.
// Stops after max_parts parts (the rest is not split; *more says so).
std::vector<std::string_view> split_params(std::string_view line, std::string& storage, size_t max_parts,
                                           bool* more) {
    storage.assign(1, ';');
    storage.append(line);
    const std::string_view s(storage);
    std::vector<std::string_view> parts;
    size_t p = 0;
    while (p < s.size() && s[p] == ';') {
        if (parts.size() >= max_parts) {
            *more = true;
            break;
        }
        ++p;   // s = s[1:]
        size_t end = s.find(';', p);
        size_t quotes = 0, escaped = 0, counted = p;
        const auto count_to = [&](size_t stop) {
            for (; counted < stop; ++counted) {
                if (s[counted] == '"') {
                    ++quotes;
                    if (counted > p && s[counted - 1] == '\\') ++escaped;
                }
            }
        };
        while (end != std::string_view::npos && end > p) {
            count_to(end);
            if ((quotes - escaped) % 2 == 0) break;
            end = s.find(';', end + 1);
        }
        if (end == std::string_view::npos) end = s.size();
        parts.push_back(python_strip(s.substr(p, end - p)));
        p = end;
    }
    return parts;
}

// cgi.valid_boundary / Django's boundary_re: [ -~]{0,200}[!-~]
bool valid_boundary(std::string_view b) {
    if (b.empty() || b.size() > 201) return false;
    for (char c : b)
        if (c < ' ' || c > '~') return false;
    return b.back() != ' ';
}

enum class Delimiter { None, Part, Close };

// A delimiter line "--boundary" at `at`: the close delimiter ("--" after it)
// or a part delimiter (optional spaces/tabs, then CRLF).  *next is the offset
// just past it.
Delimiter delimiter_at(std::string_view body, size_t at, std::string_view dash_boundary,
                       size_t* next) {
    if (body.substr(at, dash_boundary.size()) != dash_boundary) return Delimiter::None;
    size_t i = at + dash_boundary.size();
    if (body.substr(i, 2) == "--") {
        *next = i + 2;
        return Delimiter::Close;
    }
    while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;
    if (body.substr(i, 2) == "\r\n") {
        *next = i + 2;
        return Delimiter::Part;
    }
    return Delimiter::None;
}

// The next "\r\n--boundary" delimiter at or after `from`; returns the offset
// of its CR, or npos.  Occurrences not followed by "--" or CRLF are content.
size_t find_delimiter(std::string_view body, size_t from, std::string_view crlf_dash_boundary,
                      Delimiter* kind, size_t* next) {
    size_t pos = from;
    while ((pos = body.find(crlf_dash_boundary, pos)) != std::string_view::npos) {
        *kind = delimiter_at(body, pos + 2, crlf_dash_boundary.substr(2), next);
        if (*kind != Delimiter::None) return pos;
        ++pos;
    }
    return std::string_view::npos;
}

// Django's MultiPartParser.sanitize_file_name, without html.unescape: the
// base name, control characters removed; "", "." and ".." mean no file.
std::string sanitize_file_name(std::string_view name) {
    size_t slash = name.find_last_of('/');
    if (slash != std::string_view::npos) name = name.substr(slash + 1);
    size_t backslash = name.find_last_of('\\');
    if (backslash != std::string_view::npos) name = name.substr(backslash + 1);
    std::string out;
    for (char c : name)
        if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7F) out.push_back(c);
    if (out == "." || out == "..") out.clear();
    return out;
}

struct PartState {
    const BodyLimits& limits;
    Fields* fields;
    size_t text_count = 0;
    size_t file_count = 0;
};

ApiError too_many_parameters(size_t limit, std::string_view where) {
    return parse_error("Too many parameters in " + std::string(where) + " (limit " + std::to_string(limit) + ").");
}

bool handle_part(std::string_view part, PartState& state, ApiError* error) {
    std::string_view headers, content;
    if (part.substr(0, 2) == "\r\n") {
        content = part.substr(2);
    } else {
        size_t end = part.find("\r\n\r\n");
        if (end == std::string_view::npos) {
            *error = parse_error("Part headers are not terminated.");
            return false;
        }
        if (end > state.limits.max_part_header_size) {
            *error = parse_error("Part headers exceed " + std::to_string(state.limits.max_part_header_size) +
                                 " bytes.");
            return false;
        }
        headers = part.substr(0, end);
        content = part.substr(end + 4);
    }

    std::optional<HeaderParameters> disposition;
    std::string content_type, transfer_encoding;
    size_t pos = 0;
    while (pos < headers.size()) {
        size_t eol = headers.find("\r\n", pos);
        if (eol == std::string_view::npos) eol = headers.size();
        std::string_view line = headers.substr(pos, eol - pos);
        pos = eol + 2;
        if (line.empty() || !valid_utf8(line)) continue;   // Django: line.decode() fails -> skipped
        bool too_many = false;
        HeaderParameters header = parse_header_parameters(line, state.limits.max_header_parameters, &too_many);
        if (too_many) {
            *error = too_many_parameters(state.limits.max_header_parameters, "a part header");
            return false;
        }
        size_t colon = header.key.find(':');
        if (colon == std::string::npos) continue;
        std::string_view name = std::string_view(header.key).substr(0, colon);
        std::string_view value = python_strip(std::string_view(header.key).substr(colon + 1));
        if (name == "content-disposition") {
            disposition = std::move(header);
        } else if (name == "content-type") {
            content_type = value;
        } else if (name == "content-transfer-encoding") {
            transfer_encoding = value;
        }
    }
    std::optional<std::string> field_name;
    if (disposition) field_name = disposition->get("name");
    if (!field_name) {
        *error = parse_error("Part has no Content-Disposition name.");
        return false;
    }
    std::string name(ascii_strip(*field_name));
    const bool base64 = transfer_encoding == "base64";

    if (std::optional<std::string> filename = disposition->get("filename")) {
        if (++state.file_count > state.limits.max_files) {
            *error = ApiError::detail(
                400, "The number of files exceeded settings.DATA_UPLOAD_MAX_NUMBER_FILES.");
            return false;
        }
        std::string base = sanitize_file_name(*filename);
        if (base.empty()) return true;   // no file chosen
        Value value;
        value.kind = Value::Kind::File;
        value.file.filename = std::move(base);
        value.file.content_type = std::move(content_type);
        if (base64) {
            std::string decoded;
            if (!base64_decode(content, &decoded)) {
                *error = parse_error("Could not decode base64 data.");
                return false;
            }
            value.file.own(std::move(decoded));
        } else {
            value.file.data = content;   // a view into the body: no copy
        }
        (*state.fields)[name] = std::move(value);
        return true;
    }

    if (++state.text_count > state.limits.max_fields) {
        *error = too_many_fields_error();
        return false;
    }
    Value& slot = (*state.fields)[name];
    if (slot.kind == Value::Kind::File) return true;   // request.FILES is merged last
    slot = Value{};
    if (!base64 || !base64_decode(content, &slot.text)) slot.text.assign(content);
    return true;
}

}  // namespace

std::optional<std::string> HeaderParameters::get(std::string_view name) const {
    for (auto it = params.rbegin(); it != params.rend(); ++it)
        if (it->first == name) return it->second;
    return std::nullopt;
}

HeaderParameters parse_header_parameters(std::string_view line, size_t max_params, bool* too_many) {
    std::string storage;
    bool more = false;
    // The key, then max_params parameters (the key is not one).
    std::vector<std::string_view> parts =
        split_params(line, storage, max_params == SIZE_MAX ? SIZE_MAX : max_params + 1, &more);
    if (too_many) *too_many = more;
    HeaderParameters result;
    if (parts.empty()) return result;
    result.key = ascii_lower(parts[0]);
    for (size_t k = 1; k < parts.size(); ++k) {
        std::string_view p = parts[k];
        size_t eq = p.find('=');
        if (eq == std::string_view::npos) continue;
        std::string name = ascii_lower(python_strip(p.substr(0, eq)));
        bool has_encoding = false;
        if (!name.empty() && name.back() == '*') {
            name.pop_back();
            size_t apostrophes = 0;
            for (char c : p)
                if (c == '\'') ++apostrophes;
            has_encoding = apostrophes == 2;
        }
        std::string_view raw = python_strip(p.substr(eq + 1));
        std::string value;
        if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"') {
            value = replace_all(replace_all(raw.substr(1, raw.size() - 2), "\\\\", "\\"), "\\\"", "\"");
        } else {
            value.assign(raw);
        }
        if (has_encoding) {
            // encoding, lang, value = value.split("'"): Python raises unless
            // there are exactly two apostrophes; the parameter is then dropped.
            size_t first = value.find('\'');
            size_t second = first == std::string::npos ? first : value.find('\'', first + 1);
            if (second == std::string::npos || value.find('\'', second + 1) != std::string::npos)
                continue;
            value = percent_decode(std::string_view(value).substr(second + 1), false);
        }
        result.params.emplace_back(std::move(name), std::move(value));
    }
    return result;
}

// A port of CPython's binascii.a2b_base64 with strict_mode=False.
bool base64_decode(std::string_view text, std::string* out) {
    static constexpr signed char kTable[256] = {
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
        52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
        -1, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,
        15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
        -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
        41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    };
    std::string result;
    result.reserve(text.size() / 4 * 3 + 3);
    int quad_pos = 0, pads = 0;
    unsigned leftchar = 0;
    for (unsigned char ch : text) {
        if (ch == '=') {
            if (quad_pos >= 2 && quad_pos + ++pads >= 4) {
                out->swap(result);
                return true;
            }
            continue;
        }
        int v = kTable[ch];
        if (v < 0) continue;
        switch (quad_pos) {
            case 0:
                quad_pos = 1;
                leftchar = static_cast<unsigned>(v);
                break;
            case 1:
                quad_pos = 2;
                result.push_back(static_cast<char>((leftchar << 2) | (static_cast<unsigned>(v) >> 4)));
                leftchar = static_cast<unsigned>(v) & 0x0F;
                break;
            case 2:
                quad_pos = 3;
                result.push_back(static_cast<char>((leftchar << 4) | (static_cast<unsigned>(v) >> 2)));
                leftchar = static_cast<unsigned>(v) & 0x03;
                break;
            default:
                quad_pos = 0;
                result.push_back(static_cast<char>((leftchar << 6) | static_cast<unsigned>(v)));
                leftchar = 0;
        }
    }
    if (quad_pos != 0) return false;
    out->swap(result);
    return true;
}

bool parse_multipart(std::string_view content_type, std::string_view body, const BodyLimits& limits,
                     Fields* fields, ApiError* error) {
    // Django's MultiPartParser.__init__ checks, in its order.
    if (content_type.substr(0, 10) != "multipart/") {
        *error = parse_error("Invalid Content-Type: " + latin1_to_utf8(content_type));
        return false;
    }
    for (unsigned char c : content_type) {
        if (c >= 0x80) {
            *error = parse_error("Invalid non-ASCII Content-Type in multipart: " +
                                 latin1_to_utf8(content_type));
            return false;
        }
    }
    bool too_many = false;
    std::optional<std::string> boundary =
        parse_header_parameters(content_type, limits.max_header_parameters, &too_many).get("boundary");
    if (too_many) {
        *error = too_many_parameters(limits.max_header_parameters, "the Content-Type");
        return false;
    }
    if (!boundary || !valid_boundary(*boundary)) {
        *error = parse_error("Invalid boundary in multipart: " + (boundary ? *boundary : "None"));
        return false;
    }

    const std::string crlf_dash_boundary = "\r\n--" + *boundary;
    const std::string_view dash_boundary = std::string_view(crlf_dash_boundary).substr(2);
    size_t next = 0;
    Delimiter kind = delimiter_at(body, 0, dash_boundary, &next);
    if (kind == Delimiter::None &&
        find_delimiter(body, 0, crlf_dash_boundary, &kind, &next) == std::string_view::npos) {
        *error = parse_error("Missing opening boundary.");
        return false;
    }
    PartState state{limits, fields};
    while (kind == Delimiter::Part) {
        const size_t part_start = next;
        // The CRLF ending a delimiter line may also open the next delimiter
        // (an empty part without headers).
        size_t end = find_delimiter(body, part_start - 2, crlf_dash_boundary, &kind, &next);
        if (end == std::string_view::npos) {
            *error = parse_error("Missing closing boundary.");
            return false;
        }
        std::string_view part = end > part_start ? body.substr(part_start, end - part_start)
                                                 : std::string_view();
        if (!handle_part(part, state, error)) return false;
    }
    return true;
}

}  // namespace talentd::form
