#include "storage/egress_check.h"

#include <cctype>
#include <fstream>
#include <sstream>
#include <vector>

namespace talentd::storage {
namespace {

constexpr long long kNginxDefaultMs = 60 * 1000;   // proxy_send/read_timeout
constexpr size_t kMaxTimeText = 32;

// nginx's words: comments dropped, ';' '{' '}' as words of their own, quotes
// kept around a word (a quoted value is not a time: it fails to parse).
std::vector<std::string> words_of(const std::string& text) {
    std::vector<std::string> words;
    std::string word;
    bool comment = false;
    char quote = 0;
    auto flush = [&] {
        if (!word.empty()) words.push_back(word);
        word.clear();
    };
    for (char c : text) {
        if (comment) {
            if (c == '\n') comment = false;
            continue;
        }
        if (quote) {
            word.push_back(c);
            if (c == quote) quote = 0;
            continue;
        }
        if (c == '"' || c == '\'') {
            quote = c;
            word.push_back(c);
        } else if (c == '#') {
            flush();
            comment = true;
        } else if (c == ';' || c == '{' || c == '}') {
            flush();
            words.emplace_back(1, c);
        } else if (std::isspace(static_cast<unsigned char>(c))) {
            flush();
        } else {
            word.push_back(c);
        }
    }
    flush();
    return words;
}

}  // namespace

std::optional<long long> parse_nginx_time(const std::string& text) {
    if (text.empty() || text.size() > kMaxTimeText) return std::nullopt;
    long long total = 0;
    size_t i = 0;
    while (i < text.size()) {
        if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
        long long n = 0;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
            n = n * 10 + (text[i] - '0');
            if (n > 1000000000LL) return std::nullopt;
            ++i;
        }
        std::string unit;
        while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) unit.push_back(text[i++]);
        long long scale;
        if (unit.empty() || unit == "s") scale = 1000;
        else if (unit == "ms") scale = 1;
        else if (unit == "m") scale = 60 * 1000;
        else if (unit == "h") scale = 3600 * 1000;
        else if (unit == "d") scale = 86400 * 1000LL;
        else return std::nullopt;
        total += n * scale;
        if (unit.empty() && i < text.size()) return std::nullopt;   // a bare number ends the value
    }
    return total;
}

bool check_egress_timeouts(const std::string& nginx_text, int s3_timeout, std::string* why) {
    const long long deadline_ms = static_cast<long long>(s3_timeout) * 1000;
    const std::vector<std::string> words = words_of(nginx_text);
    bool seen_send = false, seen_read = false;
    for (size_t i = 0; i < words.size(); ++i) {
        const std::string& name = words[i];
        if (name != "proxy_send_timeout" && name != "proxy_read_timeout" && name != "proxy_next_upstream_timeout")
            continue;
        // A directive is a word at the start of a statement: after ';', '{', '}' or the file's start.
        if (i > 0 && words[i - 1] != ";" && words[i - 1] != "{" && words[i - 1] != "}") continue;
        if (i + 2 >= words.size() || words[i + 2] != ";") {
            *why = name + " must have one value";
            return false;
        }
        auto ms = parse_nginx_time(words[i + 1]);
        if (!ms) {
            *why = name + " " + words[i + 1] + ": not an nginx time";
            return false;
        }
        if (name == "proxy_send_timeout") seen_send = true;
        if (name == "proxy_read_timeout") seen_read = true;
        if (name == "proxy_next_upstream_timeout" && *ms == 0) continue;   // 0: no limit
        if (*ms <= deadline_ms) {
            *why = name + " " + words[i + 1] + " fires before s3_timeout (" + std::to_string(s3_timeout) +
                   " s): make it longer than s3_timeout, so that talentd's deadline is the one that answers";
            return false;
        }
    }
    if ((!seen_send || !seen_read) && kNginxDefaultMs <= deadline_ms) {
        *why = std::string(!seen_send ? "proxy_send_timeout" : "proxy_read_timeout") +
               " is absent (nginx's default, 60 s) and fires before s3_timeout (" + std::to_string(s3_timeout) +
               " s): set it longer than s3_timeout";
        return false;
    }
    return true;
}

bool check_egress_file(const std::string& path, int s3_timeout, std::string* why) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        *why = "s3_egress_config " + path + ": cannot read it";
        return false;
    }
    std::stringstream text;
    text << in.rdbuf();
    if (!check_egress_timeouts(text.str(), s3_timeout, why)) {
        *why = "s3_egress_config " + path + ": " + *why;
        return false;
    }
    return true;
}

}  // namespace talentd::storage
