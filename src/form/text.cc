#include "form/text.h"

#include <cstdio>

namespace talentd::form {

namespace {

bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

// Decodes one well-formed UTF-8 sequence at text[i]; returns its length, or 0.
size_t decode_one(std::string_view text, size_t i, char32_t* cp) {
    const size_t n = text.size();
    const auto b = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
    unsigned char c = b(i);
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xC2) return 0;
    if (c < 0xE0) {
        if (i + 1 >= n || !is_cont(b(i + 1))) return 0;
        *cp = (char32_t(c & 0x1F) << 6) | (b(i + 1) & 0x3F);
        return 2;
    }
    if (c < 0xF0) {
        if (i + 2 >= n) return 0;
        unsigned char c2 = b(i + 1), c3 = b(i + 2);
        if (!is_cont(c2) || !is_cont(c3)) return 0;
        if (c == 0xE0 && c2 < 0xA0) return 0;   // overlong
        if (c == 0xED && c2 >= 0xA0) return 0;  // surrogate
        *cp = (char32_t(c & 0x0F) << 12) | (char32_t(c2 & 0x3F) << 6) | (c3 & 0x3F);
        return 3;
    }
    if (c < 0xF5) {
        if (i + 3 >= n) return 0;
        unsigned char c2 = b(i + 1), c3 = b(i + 2), c4 = b(i + 3);
        if (!is_cont(c2) || !is_cont(c3) || !is_cont(c4)) return 0;
        if (c == 0xF0 && c2 < 0x90) return 0;   // overlong
        if (c == 0xF4 && c2 >= 0x90) return 0;  // above U+10FFFF
        *cp = (char32_t(c & 0x07) << 18) | (char32_t(c2 & 0x3F) << 12) |
              (char32_t(c3 & 0x3F) << 6) | (c4 & 0x3F);
        return 4;
    }
    return 0;
}

}  // namespace

bool valid_utf8(std::string_view text) {
    size_t i = 0;
    const size_t n = text.size();
    while (i < n) {
        if (static_cast<unsigned char>(text[i]) < 0x80) {
            ++i;
            continue;
        }
        char32_t cp;
        size_t len = decode_one(text, i, &cp);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

size_t code_points(std::string_view text) {
    size_t count = 0;
    for (unsigned char c : text)
        if (!is_cont(c)) ++count;
    return count;
}

bool is_python_space(char32_t cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    switch (cp) {
        case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
        case 0x202F: case 0x205F: case 0x3000:
            return true;
        default:
            return cp >= 0x2000 && cp <= 0x200A;
    }
}

std::string_view python_strip(std::string_view text) {
    if (!valid_utf8(text)) return text;
    size_t begin = 0;
    while (begin < text.size()) {
        char32_t cp;
        size_t len = decode_one(text, begin, &cp);
        if (!is_python_space(cp)) break;
        begin += len;
    }
    size_t end = text.size();
    while (end > begin) {
        size_t start = end - 1;
        while (start > begin && is_cont(static_cast<unsigned char>(text[start]))) --start;
        char32_t cp;
        decode_one(text, start, &cp);
        if (!is_python_space(cp)) break;
        end = start;
    }
    return text.substr(begin, end - begin);
}

std::string_view ascii_strip(std::string_view text) {
    const auto space = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
    };
    size_t begin = 0, end = text.size();
    while (begin < end && space(text[begin])) ++begin;
    while (end > begin && space(text[end - 1])) --end;
    return text.substr(begin, end - begin);
}

std::string latin1_to_utf8(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (unsigned char c : bytes) {
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back(static_cast<char>(0xC0 | (c >> 6)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
    }
    return out;
}

// A port of CPython's UTF-8 decoder error classification (Objects/stringlib/
// codecs.h and unicode_decode_utf8 with `consumed` set, i.e. final=False).
size_t python_utf8_prefix(std::string_view bytes, std::string* message) {
    const size_t n = bytes.size();
    const auto b = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
    size_t i = 0;
    size_t bad_len = 0;   // length of the byte range Python reports
    const char* reason = nullptr;
    while (i < n) {
        unsigned char c = b(i);
        if (c < 0x80) {
            ++i;
            continue;
        }
        const size_t left = n - i;
        if (c < 0xC2 || c >= 0xF5) {
            reason = "invalid start byte";
            bad_len = 1;
            break;
        }
        if (c < 0xE0) {
            if (left < 2) return i;                       // truncated: dropped
            if (!is_cont(b(i + 1))) { reason = "invalid continuation byte"; bad_len = 1; break; }
            i += 2;
            continue;
        }
        if (c < 0xF0) {
            if (left < 3) {
                if (left < 2) return i;
                unsigned char c2 = b(i + 1);
                if (!is_cont(c2) || (c2 < 0xA0 ? c == 0xE0 : c == 0xED)) {
                    // CPython keeps a truncated surrogate (\xED\xA0-\xBF) buffered.
                    if (c == 0xED && c2 >= 0xA0 && c2 <= 0xBF) return i;
                    reason = "invalid continuation byte";
                    bad_len = 1;
                    break;
                }
                return i;
            }
            unsigned char c2 = b(i + 1), c3 = b(i + 2);
            if (!is_cont(c2) || (c == 0xE0 && c2 < 0xA0) || (c == 0xED && c2 >= 0xA0)) {
                reason = "invalid continuation byte";
                bad_len = 1;
                break;
            }
            if (!is_cont(c3)) { reason = "invalid continuation byte"; bad_len = 2; break; }
            i += 3;
            continue;
        }
        // 0xF0..0xF4
        if (left < 4) {
            if (left < 2) return i;
            unsigned char c2 = b(i + 1);
            if (!is_cont(c2) || (c2 < 0x90 ? c == 0xF0 : c == 0xF4)) {
                reason = "invalid continuation byte";
                bad_len = 1;
                break;
            }
            if (left < 3) return i;
            if (!is_cont(b(i + 2))) { reason = "invalid continuation byte"; bad_len = 2; break; }
            return i;
        }
        unsigned char c2 = b(i + 1), c3 = b(i + 2), c4 = b(i + 3);
        if (!is_cont(c2) || (c == 0xF0 && c2 < 0x90) || (c == 0xF4 && c2 >= 0x90)) {
            reason = "invalid continuation byte";
            bad_len = 1;
            break;
        }
        if (!is_cont(c3)) { reason = "invalid continuation byte"; bad_len = 2; break; }
        if (!is_cont(c4)) { reason = "invalid continuation byte"; bad_len = 3; break; }
        i += 4;
    }
    if (!reason) return n;
    if (message) {
        char buf[160];
        if (bad_len == 1)
            std::snprintf(buf, sizeof buf, "'utf-8' codec can't decode byte 0x%02x in position %zu: %s",
                          b(i), i, reason);
        else
            std::snprintf(buf, sizeof buf, "'utf-8' codec can't decode bytes in position %zu-%zu: %s",
                          i, i + bad_len - 1, reason);
        *message = buf;
    }
    return std::string_view::npos;
}

}  // namespace talentd::form
