#include "profile/rules.h"

#include <cstdio>
#include <string_view>

#include "form/text.h"

namespace talentd::profile {

namespace {

using form::Value;

// At most kMaxEchoedChars code points of `value` (UTF-8 lead bytes counted;
// never cut inside a character), then "…" when something was cut.
std::string echoed(std::string_view value) {
    size_t chars = 0;
    for (size_t i = 0; i < value.size(); ++i) {
        if ((static_cast<unsigned char>(value[i]) & 0xC0) == 0x80) continue;
        if (chars++ == kMaxEchoedChars) return std::string(value.substr(0, i)) + "\u2026";
    }
    return std::string(value);
}

constexpr const char* kRequired = "This field is required.";
constexpr const char* kNull = "This field may not be null.";
constexpr const char* kBlank = "This field may not be blank.";
constexpr const char* kNotString = "Not a valid string.";
constexpr const char* kNulChar = "Null characters are not allowed.";
constexpr const char* kBadUtf8 = "Invalid UTF-8 text.";
constexpr const char* kNotFile = "The submitted data was not a file. Check the encoding type on the form.";
constexpr const char* kDateFormat = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.";
constexpr const char* kDateFuture = "Date of birth cannot be in the future.";
constexpr const char* kDateTooEarly = "Date of birth must be on or after 1900-01-01.";
constexpr const char* kPhone = "Enter a valid phone number (7 to 15 digits, optionally starting with +).";

constexpr std::string_view kGenders[] = {"Male", "Female", "Other", "Prefer not to say"};

constexpr size_t kMinPhoneDigits = 7;
constexpr size_t kMaxPhoneDigits = 15;

const Value* find(const form::Fields& fields, const char* name) {
    auto it = fields.find(name);
    return it == fields.end() ? nullptr : &it->second;
}

bool is_number(const Value& v) {
    return v.kind == Value::Kind::Other && (v.json_type == "integer" || v.json_type == "number");
}

// The text DRF's CharField sees (str(data) for numbers), or an error.
std::optional<std::string_view> string_input(const Value& v, const char* field, FieldErrors* errors) {
    switch (v.kind) {
        case Value::Kind::Null:
            add_field_error(*errors, field, kNull);
            return std::nullopt;
        case Value::Kind::File:
            add_field_error(*errors, field, kNotString);
            return std::nullopt;
        case Value::Kind::Other:
            if (!is_number(v)) {
                add_field_error(*errors, field, kNotString);
                return std::nullopt;
            }
            break;
        case Value::Kind::Text:
            break;
    }
    if (!form::valid_utf8(v.text)) {
        add_field_error(*errors, field, kBadUtf8);
        return std::nullopt;
    }
    return form::python_strip(v.text);
}

// Phone: separators removed, then '+'? and 7..15 digits.
bool normalise_phone(std::string_view text, std::string* out) {
    std::string result;
    for (char c : text) {
        if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') continue;
        result.push_back(c);
    }
    std::string_view digits(result);
    if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
    if (digits.size() < kMinPhoneDigits || digits.size() > kMaxPhoneDigits) return false;
    for (char c : digits)
        if (c < '0' || c > '9') return false;
    *out = std::move(result);
    return true;
}

enum class Custom { None, Phone };

// A DRF CharField: blank check, null/type check, then every validator.
std::optional<std::string> char_field(const Value& v, const char* field, size_t max_length, bool allow_blank,
                                      FieldErrors* errors, Custom custom = Custom::None) {
    std::optional<std::string_view> text = string_input(v, field, errors);
    if (!text) return std::nullopt;
    if (text->empty()) {
        if (allow_blank) return std::string();
        add_field_error(*errors, field, kBlank);
        return std::nullopt;
    }
    bool ok = true;
    std::string value(*text);
    if (custom == Custom::Phone && !normalise_phone(*text, &value)) {
        add_field_error(*errors, field, kPhone);
        ok = false;
    }
    if (max_length && form::code_points(*text) > max_length) {
        add_field_error(*errors, field,
                        "Ensure this field has no more than " + std::to_string(max_length) + " characters.");
        ok = false;
    }
    if (text->find('\0') != std::string_view::npos) {
        add_field_error(*errors, field, kNulChar);
        ok = false;
    }
    if (!ok) return std::nullopt;
    return value;
}

// DRF ChoiceField (allow_blank): str(data) looked up in the choices.
std::optional<std::string> gender_field(const Value& v, FieldErrors* errors) {
    constexpr const char* field = "gender";
    std::string shown;
    switch (v.kind) {
        case Value::Kind::Null:
            add_field_error(*errors, field, kNull);
            return std::nullopt;
        case Value::Kind::File:
            shown = v.file.filename;
            break;
        case Value::Kind::Other:
            shown = v.json_type == "boolean" ? (v.text == "true" ? "True" : "False") : v.text;
            break;
        case Value::Kind::Text: {
            if (!form::valid_utf8(v.text)) {
                add_field_error(*errors, field, kBadUtf8);
                return std::nullopt;
            }
            std::string_view text = form::python_strip(v.text);
            if (text.empty()) return std::string();
            for (std::string_view choice : kGenders)
                if (text == choice) return std::string(choice);
            shown = text;
            break;
        }
    }
    add_field_error(*errors, field, "\"" + echoed(shown) + "\" is not a valid choice.");
    return std::nullopt;
}

bool is_leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : kDays[month - 1];
}

// Django's date_re, r"(\d{4})-(\d{1,2})-(\d{1,2})$" (ASCII digits), then
// datetime.date(): a real date, year >= 1.
bool parse_date(std::string_view text, int* year, int* month, int* day) {
    size_t i = 0;
    const auto digits = [&](size_t min, size_t max, int* out) {
        size_t start = i;
        int value = 0;
        while (i < text.size() && i - start < max && text[i] >= '0' && text[i] <= '9')
            value = value * 10 + (text[i++] - '0');
        *out = value;
        return i - start >= min;
    };
    if (!digits(4, 4, year) || i >= text.size() || text[i++] != '-') return false;
    if (!digits(1, 2, month) || i >= text.size() || text[i++] != '-') return false;
    if (!digits(1, 2, day) || i != text.size()) return false;
    if (*year < 1 || *month < 1 || *month > 12) return false;
    return *day >= 1 && *day <= days_in_month(*year, *month);
}

// DRF DateField (allow_null) plus the two birth-date validators; the outer
// optional is "valid", the inner one the value (nullopt clears).
std::optional<std::optional<std::string>> date_field(const Value& v, Today today, FieldErrors* errors) {
    constexpr const char* field = "date_of_birth";
    if (v.kind == Value::Kind::Null) return std::optional<std::string>();
    if (v.kind != Value::Kind::Text) {
        add_field_error(*errors, field, kDateFormat);
        return std::nullopt;
    }
    if (!form::valid_utf8(v.text)) {
        add_field_error(*errors, field, kBadUtf8);
        return std::nullopt;
    }
    std::string_view text = form::python_strip(v.text);
    if (text.empty()) return std::optional<std::string>();
    int year, month, day;
    if (!parse_date(text, &year, &month, &day)) {
        add_field_error(*errors, field, kDateFormat);
        return std::nullopt;
    }
    if (year < kMinBirthYear) {
        add_field_error(*errors, field, kDateTooEarly);
        return std::nullopt;
    }
    if (year > today.year || (year == today.year && (month > today.month ||
                                                     (month == today.month && day > today.day)))) {
        add_field_error(*errors, field, kDateFuture);
        return std::nullopt;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
    return std::optional<std::string>(buf);
}

}  // namespace

Today today_utc(std::time_t now) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    return Today{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

std::optional<Changes> validate_update(const form::Fields& fields, bool partial, Today today,
                                       FieldErrors* errors) {
    Changes changes;
    const size_t errors_before = errors->size();

    const auto name_field = [&](const char* name, std::optional<std::string>* slot) {
        if (const Value* v = find(fields, name))
            *slot = char_field(*v, name, kMaxNameLength, false, errors);
        else if (!partial)
            add_field_error(*errors, name, kRequired);
    };
    name_field("first_name", &changes.first_name);
    name_field("last_name", &changes.last_name);

    if (const Value* v = find(fields, "profile_picture")) {
        if (v->kind == Value::Kind::File) {
            changes.picture = PictureChange::Replace;
            changes.picture_file = &v->file;
        } else if (v->kind == Value::Kind::Null || (v->kind == Value::Kind::Text && v->text.empty())) {
            changes.picture = PictureChange::Clear;
        } else {
            add_field_error(*errors, "profile_picture", kNotFile);
        }
    }

    if (const Value* v = find(fields, "aboutyou"))
        changes.aboutyou = char_field(*v, "aboutyou", kMaxAboutLength, true, errors);
    if (const Value* v = find(fields, "city"))
        changes.city = char_field(*v, "city", kMaxPlaceLength, true, errors);
    if (const Value* v = find(fields, "country"))
        changes.country = char_field(*v, "country", kMaxPlaceLength, true, errors);
    if (const Value* v = find(fields, "gender")) changes.gender = gender_field(*v, errors);
    if (const Value* v = find(fields, "date_of_birth")) changes.date_of_birth = date_field(*v, today, errors);
    if (const Value* v = find(fields, "phone"))
        changes.phone = char_field(*v, "phone", 0, true, errors, Custom::Phone);

    if (errors->size() != errors_before) return std::nullopt;
    return changes;
}

void apply_changes(const Changes& changes, User& user, Profile& profile) {
    if (changes.first_name) user.first_name = *changes.first_name;
    if (changes.last_name) user.last_name = *changes.last_name;
    if (changes.aboutyou) profile.aboutyou = *changes.aboutyou;
    if (changes.city) profile.city = *changes.city;
    if (changes.country) profile.country = *changes.country;
    if (changes.gender) profile.gender = *changes.gender;
    if (changes.date_of_birth) profile.date_of_birth = *changes.date_of_birth;
    if (changes.phone) profile.phone = *changes.phone;
}

namespace {

bool has_picture(const Profile& profile) { return profile.picture_key && !profile.picture_key->empty(); }
bool has_birth_date(const Profile& profile) { return profile.date_of_birth && !profile.date_of_birth->empty(); }

}  // namespace

int profile_score(const User& user, const Profile& profile) {
    int score = 0;
    if (has_picture(profile)) score += 20;
    if (!user.first_name.empty()) score += 10;
    if (!user.last_name.empty()) score += 10;
    if (!profile.aboutyou.empty()) score += 10;
    if (has_birth_date(profile)) score += 10;
    if (!profile.phone.empty()) score += 10;
    if (!profile.city.empty()) score += 5;
    if (!profile.country.empty()) score += 5;
    if (!profile.gender.empty()) score += 5;
    if (profile.is_verified) score += 15;
    return score;
}

bool profile_complete(const User& user, const Profile& profile) {
    return has_picture(profile) && !user.first_name.empty() && !user.last_name.empty() &&
           !profile.aboutyou.empty() && has_birth_date(profile) && !profile.phone.empty() &&
           !profile.city.empty() && !profile.country.empty() && !profile.gender.empty();
}

}  // namespace talentd::profile
