// Unit tests of the profile rules (SPEC §3, DRF messages), the score and the
// JSON rendering.
#include <memory>  // before check.h, whose fail() macro breaks <ios>

#include <check.h>

#include <string>

#include "form/body.h"
#include "profile/render.h"
#include "profile/rules.h"

using namespace talentd;
using namespace talentd::form;
using namespace talentd::profile;
using namespace std::string_literals;

#define expect_eq(a, b)                                                                   \
    do {                                                                                  \
        const std::string a_ = (a), b_ = (b);                                             \
        ck_assert_msg(a_ == b_, "\"%s\" != \"%s\"", a_.c_str(), b_.c_str());            \
    } while (0)

namespace {

const Today kToday{2025, 6, 15};

Value text(std::string s) {
    Value v;
    v.text = std::move(s);
    return v;
}

Value null_value() {
    Value v;
    v.kind = Value::Kind::Null;
    return v;
}

Value other(std::string json_type, std::string s) {
    Value v;
    v.kind = Value::Kind::Other;
    v.json_type = std::move(json_type);
    v.text = std::move(s);
    return v;
}

Value file(std::string data, std::string filename = "a.png") {
    Value v;
    v.kind = Value::Kind::File;
    v.file.filename = std::move(filename);
    v.file.own(std::move(data));
    return v;
}

std::string repeat(const std::string& s, size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += s;
    return out;
}

// Validates one field partially and returns its errors as "a|b".
std::string errors_of(const std::string& name, const Value& value, Today today = kToday) {
    Fields fields{{name, value}};
    FieldErrors errors;
    std::optional<Changes> changes = validate_update(fields, true, today, &errors);
    ck_assert(changes.has_value() == errors.empty());
    std::string out;
    for (const auto& [field, messages] : errors) {
        ck_assert_str_eq(field.c_str(), name.c_str());
        for (const auto& m : messages) out += (out.empty() ? "" : "|") + m;
    }
    return out;
}

Changes changes_of(const Fields& fields, bool partial = true) {
    FieldErrors errors;
    std::optional<Changes> changes = validate_update(fields, partial, kToday, &errors);
    ck_assert_msg(changes.has_value(), "unexpected errors: %s", ApiError::fields(errors).body.c_str());
    return *changes;
}

const char* kTooLong150 = "Ensure this field has no more than 150 characters.";
const char* kNotString = "Not a valid string.";
const char* kNull = "This field may not be null.";
const char* kBlank = "This field may not be blank.";
const char* kNul = "Null characters are not allowed.";
const char* kDateFormat = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.";
const char* kPhone = "Enter a valid phone number (7 to 15 digits, optionally starting with +).";
const char* kNotFile = "The submitted data was not a file. Check the encoding type on the form.";

}  // namespace

START_TEST(test_required_unless_partial) {
    FieldErrors errors;
    ck_assert(!validate_update({}, false, kToday, &errors));
    expect_eq(ApiError::fields(errors).body,
              "{\"first_name\":[\"This field is required.\"],\"last_name\":[\"This field is required.\"]}");
    errors.clear();
    std::optional<Changes> c = validate_update({}, true, kToday, &errors);
    ck_assert(c && errors.empty());
    ck_assert(!c->first_name && !c->last_name && !c->aboutyou && !c->date_of_birth);
    ck_assert(c->picture == PictureChange::Keep);
    // Full update with both names only.
    Changes full = changes_of({{"first_name", text("Ann")}, {"last_name", text("Lee")}}, false);
    expect_eq(*full.first_name, "Ann");
    ck_assert(!full.city);   // optional fields absent: unchanged
}
END_TEST

START_TEST(test_names) {
    const std::string e = "\xc3\xa9";   // 2 bytes, 1 code point
    ck_assert(errors_of("first_name", text(repeat(e, 150))).empty());
    expect_eq(errors_of("first_name", text(repeat(e, 151))), kTooLong150);
    expect_eq(errors_of("last_name", text(repeat("\xf0\x9f\x98\x80", 151))), kTooLong150);
    ck_assert(errors_of("last_name", text(repeat("\xf0\x9f\x98\x80", 150))).empty());
    // Trimmed before the length check.
    ck_assert(errors_of("first_name", text("  " + repeat("a", 150) + "\xc2\xa0\n")).empty());
    expect_eq(errors_of("first_name", text("")), kBlank);
    expect_eq(errors_of("first_name", text(" \t\xe3\x80\x80 ")), kBlank);
    expect_eq(errors_of("first_name", null_value()), kNull);
    expect_eq(errors_of("first_name", other("boolean", "true")), kNotString);
    expect_eq(errors_of("first_name", other("array", "[]")), kNotString);
    expect_eq(errors_of("first_name", other("object", "{}")), kNotString);
    expect_eq(errors_of("first_name", file("x")), kNotString);
    expect_eq(errors_of("first_name", text("a\0b"s)), kNul);
    // Every validator reports: max length first, then NUL.
    expect_eq(errors_of("first_name", text(repeat("a", 151) + "\0"s)), kTooLong150 + "|"s + kNul);
    expect_eq(errors_of("first_name", text("ab\xff")), "Invalid UTF-8 text.");
    expect_eq(errors_of("first_name", text("\xed\xa0\x80")), "Invalid UTF-8 text.");   // surrogate
    Changes c = changes_of({{"first_name", text("  Ann\xc2\xa0")}, {"last_name", other("integer", "42")}});
    expect_eq(*c.first_name, "Ann");
    expect_eq(*c.last_name, "42");   // DRF's CharField accepts numbers as str()
}
END_TEST

START_TEST(test_about_city_country) {
    ck_assert(errors_of("aboutyou", text(repeat("\xe2\x82\xac", 2000))).empty());
    expect_eq(errors_of("aboutyou", text(repeat("\xe2\x82\xac", 2001))),
              "Ensure this field has no more than 2000 characters.");
    for (const char* field : {"city", "country"}) {
        ck_assert(errors_of(field, text(repeat("\xc3\xa9", 100))).empty());
        expect_eq(errors_of(field, text(repeat("\xc3\xa9", 101))), "Ensure this field has no more than 100 characters.");
        expect_eq(errors_of(field, null_value()), kNull);
        expect_eq(errors_of(field, text("x\0"s)), kNul);
    }
    Changes c = changes_of({{"aboutyou", text("   ")}, {"city", text(" Paris ")}, {"country", other("number", "1.5")}});
    expect_eq(*c.aboutyou, "");   // blank allowed: clears
    expect_eq(*c.city, "Paris");
    expect_eq(*c.country, "1.5");
}
END_TEST

START_TEST(test_gender) {
    for (const char* g : {"Male", "Female", "Other", "Prefer not to say"}) {
        Changes c = changes_of({{"gender", text(std::string(" ") + g + "\n")}});
        expect_eq(*c.gender, g);
    }
    expect_eq(*changes_of({{"gender", text("")}}).gender, "");
    expect_eq(*changes_of({{"gender", text("  ")}}).gender, "");
    expect_eq(errors_of("gender", text("male")), "\"male\" is not a valid choice.");
    expect_eq(errors_of("gender", text(" robot ")), "\"robot\" is not a valid choice.");
    expect_eq(errors_of("gender", other("boolean", "true")), "\"True\" is not a valid choice.");
    expect_eq(errors_of("gender", other("integer", "1")), "\"1\" is not a valid choice.");
    // Not echoed at full length: 64 code points, then an ellipsis (never a
    // character cut in two).
    expect_eq(errors_of("gender", text(std::string(64, 'x'))), "\"" + std::string(64, 'x') + "\" is not a valid choice.");
    expect_eq(errors_of("gender", text(std::string(1000000, 'x'))),
              "\"" + std::string(64, 'x') + "\u2026\" is not a valid choice.");
    std::string euros;
    for (int i = 0; i < 100; ++i) euros += "\u20ac";
    expect_eq(errors_of("gender", text(euros)), "\"" + euros.substr(0, 64 * 3) + "\u2026\" is not a valid choice.");
    expect_eq(errors_of("gender", null_value()), kNull);
    expect_eq(errors_of("gender", text("\xff")), "Invalid UTF-8 text.");
}
END_TEST

START_TEST(test_date_of_birth) {
    const auto dob = [](const std::string& s) {
        Changes c = changes_of({{"date_of_birth", text(s)}});
        ck_assert(c.date_of_birth.has_value());
        return c.date_of_birth->value_or("<null>");
    };
    expect_eq(dob("1900-01-01"), "1900-01-01");
    expect_eq(dob("2024-02-29"), "2024-02-29");
    expect_eq(dob("2000-02-29"), "2000-02-29");
    expect_eq(dob("1990-1-1"), "1990-01-01");   // Django's date_re accepts 1-digit month/day
    expect_eq(dob(" 1990-12-31\n"), "1990-12-31");
    expect_eq(dob("2025-06-15"), "2025-06-15");   // today
    expect_eq(dob(""), "<null>");
    Changes cleared = changes_of({{"date_of_birth", null_value()}});
    ck_assert(cleared.date_of_birth.has_value() && !cleared.date_of_birth->has_value());

    expect_eq(errors_of("date_of_birth", text("1899-12-31")), "Date of birth must be on or after 1900-01-01.");
    expect_eq(errors_of("date_of_birth", text("2025-06-16")), "Date of birth cannot be in the future.");
    expect_eq(errors_of("date_of_birth", text("2025-07-01")), "Date of birth cannot be in the future.");
    expect_eq(errors_of("date_of_birth", text("2026-01-01")), "Date of birth cannot be in the future.");
    ck_assert(errors_of("date_of_birth", text("2024-12-31"), Today{2024, 12, 31}).empty());
    expect_eq(errors_of("date_of_birth", text("2025-01-01"), Today{2024, 12, 31}),
              "Date of birth cannot be in the future.");
    for (const char* bad : {"2023-02-29", "1900-02-29", "1990-13-01", "1990-00-10", "1990-01-00", "1990-04-31",
                            "0000-01-01", "1990/01/01", "19900101", "90-01-01", "1990-001-01", "1990-01-01x",
                            "x1990-01-01", "12345-01-01", "1990-01-01T00:00", "1990-1-", "-1990-01-01"})
        expect_eq(errors_of("date_of_birth", text(bad)), kDateFormat);
    expect_eq(errors_of("date_of_birth", other("integer", "19900101")), kDateFormat);
    expect_eq(errors_of("date_of_birth", other("boolean", "true")), kDateFormat);
    expect_eq(errors_of("date_of_birth", file("x")), kDateFormat);
}
END_TEST

START_TEST(test_phone) {
    const auto phone = [](const Value& v) { return *changes_of({{"phone", v}}).phone; };
    expect_eq(phone(text("+1 (234) 567-890")), "+1234567890");
    expect_eq(phone(text("1234567")), "1234567");
    expect_eq(phone(text("123456789012345")), "123456789012345");
    expect_eq(phone(text("+123456789012345")), "+123456789012345");
    expect_eq(phone(text("123.456.7890")), "1234567890");
    expect_eq(phone(text("(+44) 20 7946-0958")), "+442079460958");
    expect_eq(phone(text("  ")), "");
    expect_eq(phone(text("")), "");
    expect_eq(phone(other("integer", "1234567")), "1234567");
    for (const char* bad : {"123456", "1234567890123456", "+", "+123456", "12a4567", "++1234567", "1+234567",
                            "1234567+", "12_34567", "\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4\xd9\xa5\xd9\xa6\xd9\xa7"})
        expect_eq(errors_of("phone", text(bad)), kPhone);
    expect_eq(errors_of("phone", text("1234567\0"s)), kPhone + "|"s + kNul);
    expect_eq(errors_of("phone", null_value()), kNull);
    expect_eq(errors_of("phone", other("boolean", "false")), kNotString);
}
END_TEST

START_TEST(test_picture) {
    Fields with_file{{"profile_picture", file("PNG")}};
    Changes c = changes_of(with_file);
    ck_assert(c.picture == PictureChange::Replace);
    ck_assert(c.picture_file == &with_file.at("profile_picture").file);
    Changes empty_file = changes_of({{"profile_picture", file("")}});
    ck_assert(empty_file.picture == PictureChange::Replace);   // the image module says "empty"
    ck_assert(changes_of({{"profile_picture", text("")}}).picture == PictureChange::Clear);
    ck_assert(changes_of({{"profile_picture", null_value()}}).picture == PictureChange::Clear);
    ck_assert(changes_of({}).picture == PictureChange::Keep);
    expect_eq(errors_of("profile_picture", text("abc")), kNotFile);
    expect_eq(errors_of("profile_picture", text(" ")), kNotFile);
    expect_eq(errors_of("profile_picture", other("integer", "1")), kNotFile);
    expect_eq(errors_of("profile_picture", other("object", "{}")), kNotFile);
}
END_TEST

START_TEST(test_read_only_and_unknown_ignored) {
    Fields fields{{"id", text("9")}, {"user", other("object", "{\"id\":1}")}, {"email", text("x@y")},
                  {"is_verified", other("boolean", "true")}, {"account_type", text("pro")},
                  {"profile_score", other("integer", "100")}, {"profile_complete", other("boolean", "true")},
                  {"is_talent", text("true")}, {"whatever", file("x")}};
    Changes c = changes_of(fields);
    User user;
    Profile profile;
    apply_changes(c, user, profile);
    ck_assert(!profile.is_verified);
    expect_eq(profile.account_type, "free");
    expect_eq(user.email, "");
}
END_TEST

START_TEST(test_all_errors_in_order) {
    Fields fields{{"phone", text("12")},
                  {"date_of_birth", text("nope")},
                  {"gender", text("x")},
                  {"country", text(repeat("c", 101))},
                  {"city", null_value()},
                  {"aboutyou", other("array", "[]")},
                  {"profile_picture", text("not a file")},
                  {"last_name", text(" ")}};
    FieldErrors errors;
    ck_assert(!validate_update(fields, false, kToday, &errors));
    expect_eq(ApiError::fields(errors).body,
              "{\"first_name\":[\"This field is required.\"],"
              "\"last_name\":[\"This field may not be blank.\"],"
              "\"profile_picture\":[\"The submitted data was not a file. Check the encoding type on the form.\"],"
              "\"aboutyou\":[\"Not a valid string.\"],"
              "\"city\":[\"This field may not be null.\"],"
              "\"country\":[\"Ensure this field has no more than 100 characters.\"],"
              "\"gender\":[\"\\\"x\\\" is not a valid choice.\"],"
              "\"date_of_birth\":[\"Date has wrong format. Use one of these formats instead: YYYY-MM-DD.\"],"
              "\"phone\":[\"Enter a valid phone number (7 to 15 digits, optionally starting with +).\"]}");
}
END_TEST

START_TEST(test_apply_changes) {
    User user;
    user.first_name = "Old";
    user.last_name = "Name";
    Profile profile;
    profile.city = "Berlin";
    profile.date_of_birth = "1980-05-05";
    profile.picture_key = "media/profile_pictures/k.png";
    Changes c = changes_of({{"first_name", text("New")}, {"aboutyou", text("Hi")}, {"date_of_birth", text("")},
                            {"gender", text("Female")}, {"phone", text("+49 30 1234567")}, {"profile_picture", text("")}});
    apply_changes(c, user, profile);
    expect_eq(user.first_name, "New");
    expect_eq(user.last_name, "Name");
    expect_eq(profile.aboutyou, "Hi");
    expect_eq(profile.city, "Berlin");
    ck_assert(!profile.date_of_birth.has_value());
    expect_eq(profile.gender, "Female");
    expect_eq(profile.phone, "+49301234567");
    ck_assert(profile.picture_key.has_value());   // the picture is the caller's business
    ck_assert(c.picture == PictureChange::Clear);
}
END_TEST

namespace {

void spec_example(User& user, Profile& profile) {
    user.id = 456;
    user.email = "user@example.com";
    user.first_name = "John";
    user.last_name = "Doe";
    profile.id = 123;
    profile.user_id = 456;
    profile.picture_key = "media/profile_pictures/user_456_3f9c.jpg";
    profile.aboutyou = "\xe2\x80\xa6";
    profile.city = "New York";
    profile.country = "USA";
    profile.gender = "Male";
    profile.date_of_birth = "1990-01-01";
    profile.phone = "+1234567890";
}

}  // namespace

START_TEST(test_score_and_complete) {
    User user;
    Profile profile;
    spec_example(user, profile);
    ck_assert_int_eq(profile_score(user, profile), 85);
    ck_assert(profile_complete(user, profile));
    profile.is_verified = true;
    ck_assert_int_eq(profile_score(user, profile), 100);
    profile.gender.clear();
    ck_assert_int_eq(profile_score(user, profile), 95);
    ck_assert(!profile_complete(user, profile));
    User empty_user;
    Profile empty_profile;
    ck_assert_int_eq(profile_score(empty_user, empty_profile), 0);
    ck_assert(!profile_complete(empty_user, empty_profile));
    empty_profile.picture_key = "";
    ck_assert_int_eq(profile_score(empty_user, empty_profile), 0);
    const struct { void (*set)(User&, Profile&); int points; } parts[] = {
        {[](User&, Profile& p) { p.picture_key = "k"; }, 20},
        {[](User& u, Profile&) { u.first_name = "a"; }, 10},
        {[](User& u, Profile&) { u.last_name = "a"; }, 10},
        {[](User&, Profile& p) { p.aboutyou = "a"; }, 10},
        {[](User&, Profile& p) { p.date_of_birth = "1990-01-01"; }, 10},
        {[](User&, Profile& p) { p.phone = "1234567"; }, 10},
        {[](User&, Profile& p) { p.city = "a"; }, 5},
        {[](User&, Profile& p) { p.country = "a"; }, 5},
        {[](User&, Profile& p) { p.gender = "Other"; }, 5},
        {[](User&, Profile& p) { p.is_verified = true; }, 15},
    };
    for (const auto& part : parts) {
        User u;
        Profile p;
        part.set(u, p);
        ck_assert_int_eq(profile_score(u, p), part.points);
    }
}
END_TEST

START_TEST(test_picture_url) {
    const std::optional<std::string> key = "media/profile_pictures/user_1_ab.png";
    expect_eq(picture_url("https://cdn.example", key), "https://cdn.example/media/profile_pictures/user_1_ab.png");
    expect_eq(picture_url("https://cdn.example/", key), "https://cdn.example/media/profile_pictures/user_1_ab.png");
    expect_eq(picture_url("https://cdn.example//", "/" + *key), "https://cdn.example/media/profile_pictures/user_1_ab.png");
    expect_eq(picture_url("https://cdn.example", std::string("a b\"\xc3\xa9")), "https://cdn.example/a%20b%22%C3%A9");
    expect_eq(picture_url("https://cdn.example", std::nullopt), "");
    expect_eq(picture_url("https://cdn.example", std::string()), "");
}
END_TEST

START_TEST(test_render_profile) {
    User user;
    Profile profile;
    spec_example(user, profile);
    const std::string expected_profile =
        "{\"id\":123,\"user\":{\"id\":456,\"email\":\"user@example.com\",\"first_name\":\"John\",\"last_name\":\"Doe\"},"
        "\"profile_picture\":\"https://gan7club-spaces.fra1.cdn.digitaloceanspaces.com/media/profile_pictures/user_456_3f9c.jpg\","
        "\"aboutyou\":\"\xe2\x80\xa6\",\"city\":\"New York\",\"country\":\"USA\",\"gender\":\"Male\","
        "\"date_of_birth\":\"1990-01-01\",\"phone\":\"+1234567890\",\"is_verified\":false,"
        "\"profile_complete\":true,\"account_type\":\"free\",\"profile_score\":85}";
    Config config;
    expect_eq(render_profile(user, profile, config.public_base_url), expected_profile);
    expect_eq(render_update_success(user, profile, config.public_base_url),
              "{\"message\":\"Profile updated successfully\",\"profile\":" + expected_profile + "}");
    expect_eq(render_profile_with_limits(user, profile, config),
              expected_profile.substr(0, expected_profile.size() - 1) +
                  ",\"file_limits\":{\"max_image_size\":5242880,\"max_video_size\":104857600,"
                  "\"allowed_image_types\":[\"jpg\",\"jpeg\",\"png\",\"gif\",\"webp\"],"
                  "\"allowed_video_types\":[\"mp4\",\"mov\",\"avi\"]}}");
    config.allowed_video_types.clear();
    config.max_image_size = 1;
    ck_assert(render_profile_with_limits(user, profile, config)
                  .find(",\"file_limits\":{\"max_image_size\":1,\"max_video_size\":104857600,"
                        "\"allowed_image_types\":[\"jpg\",\"jpeg\",\"png\",\"gif\",\"webp\"],"
                        "\"allowed_video_types\":[]}}") != std::string::npos);
}
END_TEST

START_TEST(test_render_empty_and_escaped) {
    User user;
    user.id = 7;
    user.email = "a\"b@x";
    user.first_name = "L\xc3\xa9" "a\n";
    Profile profile;
    profile.id = 9223372036854775807;
    profile.aboutyou = std::string("tab\there\\ \x01 \0", 13);
    profile.account_type = "free";
    expect_eq(render_profile(user, profile, "https://cdn"),
              "{\"id\":9223372036854775807,\"user\":{\"id\":7,\"email\":\"a\\\"b@x\",\"first_name\":\"L\xc3\xa9" "a\\n\","
              "\"last_name\":\"\"},\"profile_picture\":null,\"aboutyou\":\"tab\\there\\\\ \\u0001 \\u0000\","
              "\"city\":\"\",\"country\":\"\",\"gender\":\"\",\"date_of_birth\":null,\"phone\":\"\","
              "\"is_verified\":false,\"profile_complete\":false,\"account_type\":\"free\",\"profile_score\":20}");
}
END_TEST

START_TEST(test_end_to_end_multipart_update) {
    // A browser form: names, an empty file input, a date; then the rendered result.
    std::string body =
        "--b\r\nContent-Disposition: form-data; name=\"first_name\"\r\n\r\n  Zo\xc3\xab \r\n"
        "--b\r\nContent-Disposition: form-data; name=\"last_name\"\r\n\r\nAdams\r\n"
        "--b\r\nContent-Disposition: form-data; name=\"profile_picture\"; filename=\"\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n\r\n"
        "--b\r\nContent-Disposition: form-data; name=\"date_of_birth\"\r\n\r\n2001-9-9\r\n"
        "--b\r\nContent-Disposition: form-data; name=\"is_talent\"\r\n\r\ntrue\r\n--b--\r\n";
    ApiError error;
    std::optional<Fields> fields = parse_body("multipart/form-data; boundary=b", body, &error);
    ck_assert(fields);
    Changes c = changes_of(*fields, false);
    ck_assert(c.picture == PictureChange::Keep);   // no file chosen: picture untouched
    User user;
    Profile profile;
    apply_changes(c, user, profile);
    expect_eq(user.first_name, "Zo\xc3\xab");
    expect_eq(*profile.date_of_birth, "2001-09-09");
}
END_TEST

START_TEST(test_today_utc) {
    Today t = today_utc(0);
    ck_assert(t.year == 1970 && t.month == 1 && t.day == 1);
    t = today_utc(1709251199);   // 2024-02-29T23:59:59Z
    ck_assert(t.year == 2024 && t.month == 2 && t.day == 29);
}
END_TEST

int main() {
    Suite* s = suite_create("profile");
    TCase* tc = tcase_create("core");
    tcase_add_test(tc, test_required_unless_partial);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_about_city_country);
    tcase_add_test(tc, test_gender);
    tcase_add_test(tc, test_date_of_birth);
    tcase_add_test(tc, test_phone);
    tcase_add_test(tc, test_picture);
    tcase_add_test(tc, test_read_only_and_unknown_ignored);
    tcase_add_test(tc, test_all_errors_in_order);
    tcase_add_test(tc, test_apply_changes);
    tcase_add_test(tc, test_score_and_complete);
    tcase_add_test(tc, test_picture_url);
    tcase_add_test(tc, test_render_profile);
    tcase_add_test(tc, test_render_empty_and_escaped);
    tcase_add_test(tc, test_end_to_end_multipart_update);
    tcase_add_test(tc, test_today_utc);
    suite_add_tcase(s, tc);
    SRunner* sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
