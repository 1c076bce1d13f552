#include "profile/render.h"

#include <charconv>

#include "core/api_error.h"
#include "profile/rules.h"

namespace talentd::profile {

namespace {

void append_int(std::string& out, int64_t value) {
    char buf[24];
    auto result = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, result.ptr);
}

void append_key(std::string& out, const char* key_with_quotes_and_colon) { out += key_with_quotes_and_colon; }

void append_string(std::string& out, const std::string& text) { out += json_quote(text); }

void append_string_list(std::string& out, const std::vector<std::string>& items) {
    out.push_back('[');
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out.push_back(',');
        append_string(out, items[i]);
    }
    out.push_back(']');
}

bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '/';
}

// The profile object without its closing brace.
void append_profile_fields(std::string& out, const User& user, const Profile& profile,
                           const std::string& public_base_url) {
    append_key(out, "{\"id\":");
    append_int(out, profile.id);
    append_key(out, ",\"user\":{\"id\":");
    append_int(out, user.id);
    append_key(out, ",\"email\":");
    append_string(out, user.email);
    append_key(out, ",\"first_name\":");
    append_string(out, user.first_name);
    append_key(out, ",\"last_name\":");
    append_string(out, user.last_name);
    append_key(out, "},\"profile_picture\":");
    std::string url = picture_url(public_base_url, profile.picture_key);
    if (url.empty())
        out += "null";
    else
        append_string(out, url);
    append_key(out, ",\"aboutyou\":");
    append_string(out, profile.aboutyou);
    append_key(out, ",\"city\":");
    append_string(out, profile.city);
    append_key(out, ",\"country\":");
    append_string(out, profile.country);
    append_key(out, ",\"gender\":");
    append_string(out, profile.gender);
    append_key(out, ",\"date_of_birth\":");
    if (profile.date_of_birth && !profile.date_of_birth->empty())
        append_string(out, *profile.date_of_birth);
    else
        out += "null";
    append_key(out, ",\"phone\":");
    append_string(out, profile.phone);
    append_key(out, ",\"is_verified\":");
    out += profile.is_verified ? "true" : "false";
    append_key(out, ",\"profile_complete\":");
    out += profile_complete(user, profile) ? "true" : "false";
    append_key(out, ",\"account_type\":");
    append_string(out, profile.account_type);
    append_key(out, ",\"profile_score\":");
    append_int(out, profile_score(user, profile));
}

constexpr size_t kTypicalSize = 768;

}  // namespace

std::string picture_url(const std::string& public_base_url, const std::optional<std::string>& key) {
    if (!key || key->empty()) return std::string();
    std::string_view base(public_base_url);
    while (!base.empty() && base.back() == '/') base.remove_suffix(1);
    std::string_view path(*key);
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    std::string url;
    url.reserve(base.size() + path.size() + 1);
    url.append(base);
    url.push_back('/');
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (unsigned char c : path) {
        if (unreserved(c)) {
            url.push_back(static_cast<char>(c));
        } else {
            url.push_back('%');
            url.push_back(kHex[c >> 4]);
            url.push_back(kHex[c & 0x0F]);
        }
    }
    return url;
}

std::string render_profile(const User& user, const Profile& profile, const std::string& public_base_url) {
    std::string out;
    out.reserve(kTypicalSize);
    append_profile_fields(out, user, profile, public_base_url);
    out.push_back('}');
    return out;
}

std::string render_profile_with_limits(const User& user, const Profile& profile, const Config& config) {
    std::string out;
    out.reserve(kTypicalSize);
    append_profile_fields(out, user, profile, config.public_base_url);
    append_key(out, ",\"file_limits\":{\"max_image_size\":");
    append_int(out, config.max_image_size);
    append_key(out, ",\"max_video_size\":");
    append_int(out, config.max_video_size);
    append_key(out, ",\"allowed_image_types\":");
    append_string_list(out, config.allowed_image_types);
    append_key(out, ",\"allowed_video_types\":");
    append_string_list(out, config.allowed_video_types);
    out += "}}";
    return out;
}

std::string render_update_success(const User& user, const Profile& profile,
                                  const std::string& public_base_url) {
    std::string out;
    out.reserve(kTypicalSize);
    out += "{\"message\":\"Profile updated successfully\",\"profile\":";
    append_profile_fields(out, user, profile, public_base_url);
    out += "}}";
    return out;
}

}  // namespace talentd::profile
