// libFuzzer target of the form module (and the profile rules behind it).
// The first input byte picks what the rest is:
//   0  a multipart/form-data body (boundary "XyZ")
//   1  an application/x-www-form-urlencoded body
//   2  an application/json body
//   3  "<Content-Type>\n<body>": classification, header parameters, 415s
//   4  a query string
//   5  fields encoded as multipart by this harness: the parse must give them
//      back byte for byte (round trip)
// Every result is checked: an error is 400/415 with a body that is valid
// UTF-8 JSON; parsed fields go through validate_update and rendering; a JSON
// body jansson accepts must be one Python's json accepts too.
#include <jansson.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "form/body.h"
#include "form/json_body.h"
#include "form/multipart.h"
#include "form/text.h"
#include "form/urlencoded.h"
#include "profile/render.h"
#include "profile/rules.h"

using namespace talentd;
using namespace talentd::form;

namespace {

void check(bool condition, const char* what) {
    if (!condition) {
        fprintf(stderr, "fuzz_body invariant failed: %s\n", what);
        abort();
    }
}

void check_json_text(const std::string& text) {
    json_error_t error;
    json_t* root = json_loadb(text.data(), text.size(), JSON_ALLOW_NUL, &error);
    check(root != nullptr, "an error/rendered body is not valid JSON");
    json_decref(root);
}

void exercise_rules(const Fields& fields) {
    for (bool partial : {false, true}) {
        FieldErrors errors;
        std::optional<profile::Changes> changes =
            profile::validate_update(fields, partial, profile::Today{2025, 6, 15}, &errors);
        check(changes.has_value() == errors.empty(), "validate_update: result and errors disagree");
        if (!changes) {
            check_json_text(ApiError::fields(errors).body);
            continue;
        }
        profile::User user;
        profile::Profile profile;
        profile::apply_changes(*changes, user, profile);
        if (changes->picture == profile::PictureChange::Replace) {
            check(changes->picture_file != nullptr, "Replace without a file");
            profile.picture_key = changes->picture_file->filename;
        }
        check(valid_utf8(user.first_name) && valid_utf8(profile.aboutyou) && valid_utf8(profile.phone),
              "accepted text is not UTF-8");
        check_json_text(profile::render_update_success(user, profile, "https://cdn.example"));
    }
}

void parse_and_check(std::string_view content_type, std::string_view body) {
    ApiError error;
    std::optional<Fields> fields = parse_body(content_type, body, &error);
    if (!fields) {
        check(error.status == 400 || error.status == 415, "unexpected status");
        check_json_text(error.body);
        return;
    }
    exercise_rules(*fields);
}

void json_mode(std::string_view body) {
    parse_and_check("application/json", body);
    // Differential: whatever jansson accepts, Python's json accepts.
    size_t usable = python_utf8_prefix(body, nullptr);
    if (usable == std::string_view::npos) return;
    std::string_view text = body.substr(0, usable);
    json_error_t error;
    json_t* root = json_loadb(text.data(), text.size(), JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (root && text.substr(0, 3) != "\xEF\xBB\xBF" && text.find('\0') == std::string_view::npos)
        check(!python_json_error(text), "jansson accepts what Python refuses");
    if (text.find('\0') != std::string_view::npos) check(python_json_error(text).has_value(), "raw NUL accepted");
    json_decref(root);
}

void round_trip(std::string_view in) {
    static const char* const kNames[] = {"first_name", "profile_picture", "aboutyou", "a", "b b", "c\"d", "e;f"};
    struct Item {
        std::string name;
        bool is_file;
        std::string content;
    };
    std::vector<Item> items;
    size_t pos = 0;
    while (pos < in.size() && items.size() < 16) {
        size_t end = in.find('\xfe', pos);
        if (end == std::string_view::npos) end = in.size();
        std::string_view chunk = in.substr(pos, end - pos);
        pos = end + 1;
        if (chunk.empty()) continue;
        unsigned char selector = static_cast<unsigned char>(chunk[0]);
        items.push_back({kNames[(selector >> 1) % std::size(kNames)], (selector & 1) != 0,
                         std::string(chunk.substr(1))});
    }
    std::string boundary = "fuzzB";
    for (int n = 0;; ++n) {
        bool clash = false;
        for (const Item& item : items)
            if (item.content.find("--" + boundary) != std::string::npos) clash = true;
        if (!clash) break;
        boundary = "fuzzB" + std::to_string(n);
    }
    std::string body;
    Fields expected;
    for (const Item& item : items) {
        std::string quoted;
        for (char c : item.name) quoted += c == '"' ? std::string("\\\"") : std::string(1, c);
        body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + quoted + "\"";
        if (item.is_file) body += "; filename=\"up.bin\"\r\nContent-Type: application/octet-stream";
        body += "\r\n\r\n" + item.content + "\r\n";
        Value& slot = expected[item.name];
        if (item.is_file) {
            slot = Value{};
            slot.kind = Value::Kind::File;
            slot.file.data = item.content;
        } else if (slot.kind != Value::Kind::File) {
            slot = Value{};
            slot.text = item.content;
        }
    }
    body += "--" + boundary + "--\r\n";
    ApiError error;
    std::optional<Fields> fields = parse_body("multipart/form-data; boundary=" + boundary, body, &error);
    check(fields.has_value(), "round trip: a well-formed body was refused");
    check(fields->size() == expected.size(), "round trip: field count differs");
    for (const auto& [name, value] : expected) {
        auto it = fields->find(name);
        check(it != fields->end(), "round trip: field missing");
        check(it->second.kind == value.kind, "round trip: kind differs");
        if (value.kind == Value::Kind::File)
            check(it->second.file.data == value.file.data, "round trip: file bytes differ");
        else
            check(it->second.text == value.text, "round trip: text differs");
    }
    exercise_rules(*fields);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 6) {
        case 0:
            parse_and_check("multipart/form-data; boundary=XyZ", in);
            break;
        case 1:
            parse_and_check("application/x-www-form-urlencoded", in);
            break;
        case 2:
            json_mode(in);
            break;
        case 3: {
            size_t newline = in.find('\n');
            std::string_view content_type = in.substr(0, newline);
            std::string_view body = newline == std::string_view::npos ? std::string_view() : in.substr(newline + 1);
            (void)classify(content_type);
            HeaderParameters params = parse_header_parameters(content_type);
            (void)params.get("boundary");
            parse_and_check(content_type, body);
            break;
        }
        case 4: {
            auto query = parse_query(in);
            for (const auto& [name, value] : query) check(name.size() <= in.size() && value.size() <= in.size(), "query grew");
            std::string decoded;
            (void)base64_decode(in, &decoded);
            (void)python_strip(in);
            break;
        }
        default:
            round_trip(in);
    }
    return 0;
}
