// Unit tests of the form module: body classification, urlencoded, JSON and
// multipart parsing, with DRF/Django's exact error texts.
#include <memory>  // before check.h, whose fail() macro breaks <ios>
#include <string>

#include <check.h>

#include "form/body.h"
#include "form/json_body.h"
#include "form/multipart.h"
#include "form/text.h"
#include "form/urlencoded.h"

using namespace talentd;
using namespace talentd::form;
using namespace std::string_literals;

// ck_assert_str_eq evaluates its arguments twice (dangling temporaries) and
// stops at NUL; this compares std::strings once.
#define expect_eq(a, b)                                                                   \
    do {                                                                                  \
        const std::string a_ = (a), b_ = (b);                                             \
        ck_assert_msg(a_ == b_, "\"%s\" != \"%s\"", a_.c_str(), b_.c_str());            \
    } while (0)

namespace {

const std::string kMultipart = "multipart/form-data; boundary=XyZ";

Fields parse_ok(const std::string& content_type, const std::string& body) {
    ApiError error;
    std::optional<Fields> fields = parse_body(content_type, body, &error);
    ck_assert_msg(fields.has_value(), "parse failed: %d %s", error.status, error.body.c_str());
    return *fields;
}

ApiError parse_fail(const std::string& content_type, const std::string& body) {
    ApiError error;
    std::optional<Fields> fields = parse_body(content_type, body, &error);
    ck_assert_msg(!fields.has_value(), "parse unexpectedly succeeded");
    return error;
}

void expect_detail(const std::string& content_type, const std::string& body, int status,
                   const std::string& detail) {
    ApiError error = parse_fail(content_type, body);
    ck_assert_int_eq(error.status, status);
    expect_eq(error.body.c_str(), ApiError::detail(status, detail).body.c_str());
}

void expect_json_error(const std::string& body, const std::string& reason) {
    expect_detail("application/json", body, 400, "JSON parse error - " + reason);
}

void expect_multipart_error(const std::string& content_type, const std::string& body,
                            const std::string& reason) {
    expect_detail(content_type, body, 400, "Multipart form parse error - " + reason);
}

const Value& field(const Fields& fields, const std::string& name) {
    auto it = fields.find(name);
    ck_assert_msg(it != fields.end(), "field %s missing", name.c_str());
    return it->second;
}

std::string text_of(const Fields& fields, const std::string& name) {
    const Value& v = field(fields, name);
    ck_assert_int_eq(static_cast<int>(v.kind), static_cast<int>(Value::Kind::Text));
    return v.text;
}

std::string part(const std::string& headers, const std::string& content) {
    return "--XyZ\r\n" + headers + "\r\n\r\n" + content + "\r\n";
}

std::string text_part(const std::string& name, const std::string& content) {
    return part("Content-Disposition: form-data; name=\"" + name + "\"", content);
}

std::string file_part(const std::string& name, const std::string& filename, const std::string& content) {
    return part("Content-Disposition: form-data; name=\"" + name + "\"; filename=\"" + filename +
                    "\"\r\nContent-Type: image/png",
                content);
}

const std::string kClose = "--XyZ--\r\n";

}  // namespace

// --- classification and 415 -------------------------------------------------

START_TEST(test_classify) {
    ck_assert(classify("application/json") == BodyType::Json);
    ck_assert(classify("Application/JSON; charset=utf-8") == BodyType::Json);
    ck_assert(classify("application/x-www-form-urlencoded") == BodyType::UrlEncoded);
    ck_assert(classify("multipart/form-data; boundary=a") == BodyType::Multipart);
    ck_assert(classify("MULTIPART/FORM-DATA;boundary=a") == BodyType::Multipart);
    ck_assert(classify("multipart/*; boundary=a") == BodyType::Multipart);
    ck_assert(classify("*/*") == BodyType::Json);   // DRF: first parser matches
    ck_assert(classify("application/*") == BodyType::Json);
    ck_assert(classify("text/plain") == BodyType::Unsupported);
    ck_assert(classify("multipart/mixed; boundary=a") == BodyType::Unsupported);
    ck_assert(classify("application/vnd.api+json") == BodyType::Unsupported);
    ck_assert(classify("application/json garbage") == BodyType::Unsupported);
    ck_assert(classify("") == BodyType::Empty);
    ck_assert(classify("  ") == BodyType::Empty);
}
END_TEST

START_TEST(test_unsupported_media_type) {
    expect_detail("text/plain", "x", 415, "Unsupported media type \"text/plain\" in request.");
    expect_detail("text/plain; charset=utf-8", "x", 415,
                  "Unsupported media type \"text/plain; charset=utf-8\" in request.");
    expect_detail("", "x", 415, "Unsupported media type \"\" in request.");
    // Header bytes are ISO-8859-1 to Django: shown as UTF-8.
    expect_detail("text/\xe9", "x", 415, "Unsupported media type \"text/\xc3\xa9\" in request.");
    ApiError error = parse_fail("text/plain", "x");
    expect_eq(error.body.c_str(), "{\"detail\":\"Unsupported media type \\\"text/plain\\\" in request.\"}");
}
END_TEST

START_TEST(test_empty_body) {
    // DRF never runs a parser on a zero-length body, whatever the type.
    ck_assert(parse_ok("text/plain", "").empty());
    ck_assert(parse_ok("", "").empty());
    ck_assert(parse_ok("application/json", "").empty());
    ck_assert(parse_ok("multipart/form-data", "").empty());   // even without a boundary
    ck_assert(parse_ok("application/x-www-form-urlencoded", "").empty());
}
END_TEST

// --- urlencoded ----------------------------------------------------------------

START_TEST(test_urlencoded) {
    Fields f = parse_ok("application/x-www-form-urlencoded",
                        "a=1&b=x+y%41%7a&a=3&&c&=e&d=%zz%4&e=%E2%82%AC&f=a=b");
    ck_assert_uint_eq(f.size(), 7);
    expect_eq(text_of(f, "a").c_str(), "3");   // last wins
    expect_eq(text_of(f, "b").c_str(), "x yAz");
    expect_eq(text_of(f, "c").c_str(), "");
    expect_eq(text_of(f, "").c_str(), "e");
    expect_eq(text_of(f, "d").c_str(), "%zz%4");
    expect_eq(text_of(f, "e").c_str(), "\xe2\x82\xac");
    expect_eq(text_of(f, "f").c_str(), "a=b");
}
END_TEST

START_TEST(test_urlencoded_binary_and_charset) {
    Fields f = parse_ok("application/x-www-form-urlencoded; charset=utf-8", "n=%00%FF%0D%0A&m=%2B+");
    ck_assert(text_of(f, "n") == "\0\xff\r\n"s);
    expect_eq(text_of(f, "m").c_str(), "+ ");
}
END_TEST

START_TEST(test_urlencoded_field_limit) {
    std::string body;
    for (int i = 0; i < 1000; ++i) body += (i ? "&" : "") + std::string("k") + std::to_string(i) + "=v";
    ck_assert_uint_eq(parse_ok("application/x-www-form-urlencoded", body).size(), 1000);
    body += "&";   // Django counts separators: 1001 fields
    expect_detail("application/x-www-form-urlencoded", body, 400,
                  "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS.");
}
END_TEST

START_TEST(test_query) {
    auto q = parse_query("partial=true&x=1&x=2&y=a+b%20c&&flag");
    expect_eq(q["partial"].c_str(), "true");
    expect_eq(q["x"].c_str(), "2");
    expect_eq(q["y"].c_str(), "a b c");
    ck_assert(q.count("flag") == 1 && q["flag"].empty());
    ck_assert(parse_query("").empty());
    expect_eq(percent_decode("a+b%2", false).c_str(), "a+b%2");
}
END_TEST

// --- JSON ----------------------------------------------------------------------

START_TEST(test_json_values) {
    Fields f = parse_ok("application/json",
                        "{\"s\":\"caf\\u00e9\",\"n\":null,\"i\":-12,\"r\":1.5,\"e\":1e5,\"big\":1e16,"
                        "\"t\":true,\"a\":[1, \"x\"],\"o\":{\"k\": 1},\"z\":\"a\\u0000b\",\"d\":1,\"d\":2}");
    expect_eq(text_of(f, "s").c_str(), "caf\xc3\xa9");
    ck_assert(field(f, "n").kind == Value::Kind::Null);
    const Value& i = field(f, "i");
    ck_assert(i.kind == Value::Kind::Other);
    expect_eq(i.json_type.c_str(), "integer");
    expect_eq(i.text.c_str(), "-12");
    expect_eq(field(f, "r").json_type.c_str(), "number");
    expect_eq(field(f, "r").text.c_str(), "1.5");
    expect_eq(field(f, "e").text.c_str(), "100000.0");
    expect_eq(field(f, "big").text.c_str(), "1e+16");
    expect_eq(field(f, "t").json_type.c_str(), "boolean");
    expect_eq(field(f, "a").json_type.c_str(), "array");
    expect_eq(field(f, "a").text.c_str(), "[1,\"x\"]");
    expect_eq(field(f, "o").json_type.c_str(), "object");
    ck_assert(text_of(f, "z") == "a\0b"s);   // NUL reaches the rules
    expect_eq(field(f, "d").text.c_str(), "2");   // Python keeps the last duplicate
}
END_TEST

START_TEST(test_python_float_repr) {
    const std::pair<double, const char*> cases[] = {
        {1e5, "100000.0"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"}, {0.0001, "0.0001"},
        {0.00001, "1e-05"}, {-0.0, "-0.0"}, {0.0, "0.0"}, {1.5, "1.5"}, {123.456, "123.456"},
        {1e-7, "1e-07"}, {2.5e300, "2.5e+300"}, {0.1 + 0.2, "0.30000000000000004"}, {-1234.5, "-1234.5"},
    };
    for (auto [value, text] : cases) expect_eq(python_float_repr(value).c_str(), text);
}
END_TEST

START_TEST(test_json_not_an_object) {
    const std::pair<const char*, const char*> cases[] = {
        {"[1]", "list"}, {"\"x\"", "str"}, {"1", "int"}, {"1.5", "float"}, {"true", "bool"},
    };
    for (auto [body, type] : cases) {
        ApiError error = parse_fail("application/json", body);
        ck_assert_int_eq(error.status, 400);
        std::string expected = std::string("Invalid data. Expected a dictionary, but got ") + type + ".";
        expect_eq(error.body.c_str(), ApiError::fields({{"non_field_errors", {expected}}}).body.c_str());
    }
    ApiError error = parse_fail("application/json", "null");
    expect_eq(error.body.c_str(), ApiError::fields({{"non_field_errors", {"No data provided"}}}).body.c_str());
}
END_TEST

START_TEST(test_json_syntax_errors) {
    // Texts checked against CPython 3's json module.
    expect_json_error("x", "Expecting value: line 1 column 1 (char 0)");
    expect_json_error("   ", "Expecting value: line 1 column 4 (char 3)");
    expect_json_error("{\"a\":}", "Expecting value: line 1 column 6 (char 5)");
    expect_json_error("{\"a\" 1}", "Expecting ':' delimiter: line 1 column 6 (char 5)");
    expect_json_error("{\"a\":1,}", "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)");
    expect_json_error("[1 2]", "Expecting ',' delimiter: line 1 column 4 (char 3)");
    expect_json_error("{\"a\":1} x", "Extra data: line 1 column 9 (char 8)");
    expect_json_error("{\"a\":\"\x01\"}", "Invalid control character at: line 1 column 7 (char 6)");
    expect_json_error("{\"a\":\"\\q\"}", "Invalid \\escape: line 1 column 7 (char 6)");
    expect_json_error("{\"a\":\"abc", "Unterminated string starting at: line 1 column 6 (char 5)");
    expect_json_error("{\n\"a\":\n}", "Expecting value: line 3 column 1 (char 7)");
    expect_json_error("{\"\xc3\xa9\": x}", "Expecting value: line 1 column 7 (char 6)");
    expect_json_error("{\"a\":\"\\u12\"}", "Invalid \\uXXXX escape: line 1 column 8 (char 7)");
    expect_json_error("{\"a\":\"\\ud800\\uzz\"}", "Invalid \\uXXXX escape: line 1 column 14 (char 13)");
    expect_json_error("-", "Expecting value: line 1 column 1 (char 0)");
    expect_json_error("[1.]", "Expecting ',' delimiter: line 1 column 3 (char 2)");
    expect_json_error("01", "Extra data: line 1 column 2 (char 1)");
    expect_json_error("{\"a\":1e}", "Expecting ',' delimiter: line 1 column 7 (char 6)");
    expect_json_error("{\"a\":nul}", "Expecting value: line 1 column 6 (char 5)");
    expect_json_error("\"\\", "Unterminated string starting at: line 1 column 1 (char 0)");
    expect_json_error("{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)");
    expect_json_error("[", "Expecting value: line 1 column 2 (char 1)");
    // DRF's strict_constant.
    expect_json_error("{\"a\": NaN}", "Out of range float values are not JSON compliant: 'NaN'");
    expect_json_error("[-Infinity]", "Out of range float values are not JSON compliant: '-Infinity'");
    expect_json_error("[Infinity", "Out of range float values are not JSON compliant: 'Infinity'");
    // jansson skips a raw NUL after a token; Python refuses it.
    expect_json_error("{\"a\":1\0}"s, "Expecting ',' delimiter: line 1 column 7 (char 6)");
    expect_json_error("11\0  "s, "Extra data: line 1 column 3 (char 2)");
    expect_json_error("\xef\xbb\xbf{}", "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)");
}
END_TEST

START_TEST(test_json_encoding_errors) {
    expect_json_error("{\"a\":\"\xff\"}", "'utf-8' codec can't decode byte 0xff in position 6: invalid start byte");
    expect_json_error("\xe2(\xa1", "'utf-8' codec can't decode byte 0xe2 in position 0: invalid continuation byte");
    expect_json_error("\xe2\x82(", "'utf-8' codec can't decode bytes in position 0-1: invalid continuation byte");
    expect_json_error("\xf0\x90\x8c(", "'utf-8' codec can't decode bytes in position 0-2: invalid continuation byte");
    expect_json_error("ab\xed\xa0\x80", "'utf-8' codec can't decode byte 0xed in position 2: invalid continuation byte");
    expect_json_error("\xc0\xaf", "'utf-8' codec can't decode byte 0xc0 in position 0: invalid start byte");
    // A trailing incomplete sequence is dropped by Python's non-final decode.
    expect_eq(text_of(parse_ok("application/json", "{\"a\":\"b\"}\xe2\x82"), "a").c_str(), "b");
    expect_eq(text_of(parse_ok("application/json", "{\"a\":\"b\"}\xed\xa0"), "a").c_str(), "b");
    expect_json_error("{\"a\":\"b\"}\xe2(", "'utf-8' codec can't decode byte 0xe2 in position 9: invalid continuation byte");
}
END_TEST

START_TEST(test_json_value_limit) {
    std::string body = "{\"a\":[";
    for (int i = 0; i < 999; ++i) body += i ? ",1" : "1";
    body += "]}";   // the top-level object, then 1000 values: the array and 999 numbers
    ck_assert_uint_eq(parse_ok("application/json", body).size(), 1);
    body.insert(body.size() - 2, ",2");
    expect_detail("application/json", body, 400,
                  "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS.");
    size_t values = 0;
    ck_assert(!scan_json("{\"a\": [1, {\"b\": null}], \"c\": \"x\"}", &values));
    ck_assert_uint_eq(values, 6);
    ApiError error;
    ck_assert(!parse_body("application/json", "{\"a\":1,\"b\":2}", &error, BodyLimits{1, 1}));
    ck_assert(parse_body("application/json", "{\"a\":1}", &error, BodyLimits{1, 1}));
}
END_TEST

START_TEST(test_json_jansson_only_errors) {
    // Valid for Python, refused by jansson: jansson's own text.
    ApiError error = parse_fail("application/json", "{\"a\": 123456789012345678901234567890}");
    ck_assert_int_eq(error.status, 400);
    ck_assert_msg(error.body.find("JSON parse error - ") != std::string::npos, "%s", error.body.c_str());
}
END_TEST

// --- multipart -------------------------------------------------------------

START_TEST(test_multipart_basic) {
    std::string body = text_part("first_name", "Ann") + file_part("profile_picture", "me.png", "PNGDATA") +
                       text_part("city", "") + kClose;
    Fields f = parse_ok(kMultipart, body);
    ck_assert_uint_eq(f.size(), 3);
    expect_eq(text_of(f, "first_name").c_str(), "Ann");
    expect_eq(text_of(f, "city").c_str(), "");
    const Value& pic = field(f, "profile_picture");
    ck_assert(pic.kind == Value::Kind::File);
    expect_eq(pic.file.filename.c_str(), "me.png");
    expect_eq(pic.file.content_type.c_str(), "image/png");
    expect_eq(std::string(pic.file.data), "PNGDATA");
}
END_TEST

START_TEST(test_multipart_binary_round_trip) {
    std::string data;
    for (int i = 0; i < 256; ++i) data.push_back(static_cast<char>(i));
    data += "\r\n--XyZ-not-a-delimiter\r\n--XyZX\r\n--Xy\r\n\r\n--XyZ \t x\r\n";   // boundary-like content
    data += "a--XyZ\r\n";            // not preceded by CRLF
    data += std::string("\0\r\n\0", 4);
    data += "\r\n";                   // trailing CRLF belongs to the data
    std::string body = file_part("profile_picture", "x.bin", data) + text_part("t", data) + kClose;
    Fields f = parse_ok(kMultipart, body);
    ck_assert_uint_eq(field(f, "profile_picture").file.data.size(), data.size());
    ck_assert(field(f, "profile_picture").file.data == data);
    ck_assert(text_of(f, "t") == data);
}
END_TEST

// A file part is a view into the body, not a copy (issue 17); a base64 part
// owns its decoded bytes, which stay valid when the Fields are copied or
// moved (a short value lives inside std::string itself).
START_TEST(test_multipart_file_is_a_view) {
    const std::string data(100000, 'x');
    const std::string body = file_part("profile_picture", "me.jpg", data) + kClose;
    Fields f = parse_ok(kMultipart, body);
    const std::string_view d = field(f, "profile_picture").file.data;
    ck_assert(d == data);
    ck_assert_msg(d.data() >= body.data() && d.data() + d.size() <= body.data() + body.size(), "a copy of the part");

    const std::string encoded = part("Content-Disposition: form-data; name=\"p\"; filename=\"a.png\"\r\n"
                                     "Content-Transfer-Encoding: base64",
                                     "aGk=") +
                                kClose;
    std::optional<Fields> moved;
    Fields copied;
    {
        Fields original = parse_ok(kMultipart, encoded);
        copied = original;
        moved = std::move(original);
    }
    ck_assert(field(copied, "p").file.data == "hi");
    ck_assert(field(*moved, "p").file.data == "hi");
    const std::string_view owned = field(*moved, "p").file.data;
    ck_assert(owned.data() < encoded.data() || owned.data() >= encoded.data() + encoded.size());
}
END_TEST

START_TEST(test_multipart_repeated_keys) {
    // Text: last wins.  A file wins over text whatever the order.
    std::string body = text_part("a", "1") + text_part("a", "2") + file_part("p", "1.png", "one") +
                       text_part("p", "text after file") + text_part("q", "text before file") +
                       file_part("q", "2.png", "two") + file_part("q", "3.png", "three") + kClose;
    Fields f = parse_ok(kMultipart, body);
    expect_eq(text_of(f, "a").c_str(), "2");
    expect_eq(std::string(field(f, "p").file.data), "one");
    expect_eq(std::string(field(f, "q").file.data), "three");
}
END_TEST

START_TEST(test_multipart_empty_filename_is_no_file) {
    std::string body = file_part("profile_picture", "", "") + file_part("other", "/", "x") +
                       file_part("dots", "..", "x") + file_part("path", "C:\\dir\\a/b\\c.png", "x") + kClose;
    Fields f = parse_ok(kMultipart, body);
    ck_assert(f.count("profile_picture") == 0);
    ck_assert(f.count("other") == 0);
    ck_assert(f.count("dots") == 0);
    expect_eq(field(f, "path").file.filename.c_str(), "c.png");
}
END_TEST

START_TEST(test_multipart_header_forms) {
    std::string body =
        "preamble ignored\r\n"
        "--XyZ  \t\r\n"   // transport padding
        "content-disposition: form-data; filename=\"a+b%41.png\"; name=\"pic\"\r\n"
        "CONTENT-TYPE: Image/PNG\r\n\r\nDATA\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"semi;colon\"\r\n\r\nv1\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"q\\\"uote\"\r\n\r\nv2\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name*=UTF-8''caf%C3%A9\r\n\r\nv3\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=unquoted\r\nX-Other: 1\r\n\r\nv4\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\" spaced \"\r\n\r\nv5\r\n"
        "--XyZ--";   // no CRLF after the close delimiter, no epilogue
    Fields f = parse_ok(kMultipart, body);
    const Value& pic = field(f, "pic");
    ck_assert(pic.kind == Value::Kind::File);
    expect_eq(pic.file.filename.c_str(), "a+b%41.png");   // not percent-decoded
    expect_eq(pic.file.content_type.c_str(), "image/png");
    expect_eq(text_of(f, "semi;colon").c_str(), "v1");
    expect_eq(text_of(f, "q\"uote").c_str(), "v2");
    expect_eq(text_of(f, "caf\xc3\xa9").c_str(), "v3");
    expect_eq(text_of(f, "unquoted").c_str(), "v4");
    expect_eq(text_of(f, "spaced").c_str(), "v5");
}
END_TEST

START_TEST(test_multipart_boundary_forms) {
    std::string body = text_part("a", "1") + kClose + "epilogue";
    expect_eq(text_of(parse_ok("multipart/form-data; boundary=\"XyZ\"", body), "a").c_str(), "1");
    expect_eq(text_of(parse_ok("multipart/form-data; BOUNDARY=XyZ; charset=utf-8", body), "a").c_str(), "1");
    expect_eq(text_of(parse_ok("multipart/form-data;boundary=XyZ", body), "a").c_str(), "1");
    // Only a close delimiter: no fields.
    ck_assert(parse_ok(kMultipart, "--XyZ--\r\n").empty());
    // An empty text value and an empty part body.
    Fields f = parse_ok(kMultipart, "--XyZ\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n\r\n--XyZ--\r\n");
    expect_eq(text_of(f, "e").c_str(), "");
}
END_TEST

START_TEST(test_multipart_errors) {
    const std::string body = text_part("a", "1") + kClose;
    expect_multipart_error("multipart/form-data", body, "Invalid boundary in multipart: None");
    expect_multipart_error("multipart/form-data; boundary=", body, "Invalid boundary in multipart: ");
    expect_multipart_error("multipart/form-data; boundary=\"ab \"", body, "Invalid boundary in multipart: ab ");
    expect_multipart_error("multipart/form-data; boundary=" + std::string(202, 'a'), body,
                           "Invalid boundary in multipart: " + std::string(202, 'a'));
    expect_multipart_error("Multipart/form-data; boundary=XyZ", body,
                           "Invalid Content-Type: Multipart/form-data; boundary=XyZ");
    expect_multipart_error("multipart/form-data; boundary=XyZ; x=\xe9", body,
                           "Invalid non-ASCII Content-Type in multipart: multipart/form-data; boundary=XyZ; x=\xc3\xa9");
    expect_multipart_error(kMultipart, "hello", "Missing opening boundary.");
    expect_multipart_error(kMultipart, "--XyZX\r\n", "Missing opening boundary.");
    expect_multipart_error(kMultipart, text_part("a", "1"), "Missing closing boundary.");
    expect_multipart_error(kMultipart, text_part("a", "1") + "--XyZ-", "Missing closing boundary.");
    expect_multipart_error(kMultipart, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nvalue\r\n--XyZ--",
                           "Part headers are not terminated.");
    expect_multipart_error(kMultipart, part("Content-Type: text/plain", "x") + kClose,
                           "Part has no Content-Disposition name.");
    expect_multipart_error(kMultipart, part("Content-Disposition: form-data", "x") + kClose,
                           "Part has no Content-Disposition name.");
    expect_multipart_error(kMultipart, "--XyZ\r\n\r\nx\r\n--XyZ--", "Part has no Content-Disposition name.");
    expect_multipart_error(kMultipart, "--XyZ\r\n--XyZ--", "Part headers are not terminated.");
}
END_TEST

START_TEST(test_multipart_base64) {
    std::string body = part("Content-Disposition: form-data; name=\"p\"; filename=\"a.png\"\r\n"
                            "Content-Transfer-Encoding: base64",
                            "AAEC\r\n/w==") +
                       part("Content-Disposition: form-data; name=\"t\"\r\nContent-Transfer-Encoding: BASE64",
                            "aGk=") +
                       part("Content-Disposition: form-data; name=\"raw\"\r\nContent-Transfer-Encoding: base64",
                            "abc") +
                       kClose;
    Fields f = parse_ok(kMultipart, body);
    ck_assert(field(f, "p").file.data == "\x00\x01\x02\xff"s);
    expect_eq(text_of(f, "t").c_str(), "hi");
    expect_eq(text_of(f, "raw").c_str(), "abc");   // undecodable text is kept raw (Django)
    expect_multipart_error(kMultipart,
                           part("Content-Disposition: form-data; name=\"p\"; filename=\"a\"\r\n"
                                "Content-Transfer-Encoding: base64",
                                "abc") + kClose,
                           "Could not decode base64 data.");
    std::string out;
    ck_assert(base64_decode("aGVsbG8", &out) == false);   // Incorrect padding
    ck_assert(base64_decode("a", &out) == false);
    ck_assert(base64_decode("aGVsbG8=trailing", &out) && out == "hello");
}
END_TEST

START_TEST(test_multipart_limits) {
    std::string body;
    for (int i = 0; i < 1001; ++i) body += text_part("k", "v");
    body += kClose;
    expect_detail(kMultipart, body, 400,
                  "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS.");
    body.clear();
    for (int i = 0; i < 101; ++i) body += file_part("f", "a.png", "x");
    body += kClose;
    expect_detail(kMultipart, body, 400, "The number of files exceeded settings.DATA_UPLOAD_MAX_NUMBER_FILES.");
    ApiError error;
    BodyLimits limits{2, 1};
    ck_assert(!parse_body(kMultipart, text_part("a", "1") + text_part("b", "2") + text_part("c", "3") + kClose,
                          &error, limits));
    ck_assert(parse_body(kMultipart, text_part("a", "1") + text_part("b", "2") + kClose, &error, limits));
}
END_TEST

START_TEST(test_multipart_header_bounds) {
    // Issue 10: a part header with 1.2 million ";a=b" parameters held 165 MiB.
    // Now: at most max_header_parameters parameters a line, at most
    // max_part_header_size bytes of part headers, a 400 past either.
    BodyLimits limits;
    limits.max_header_parameters = 4;
    limits.max_part_header_size = 200;
    ApiError error;
    auto params = [](int n) {
        std::string p;
        for (int i = 0; i < n; ++i) p += "; a=b";
        return p;
    };
    // name + 3 more = 4: exactly at the limit.
    ck_assert(parse_body(kMultipart, part("Content-Disposition: form-data; name=\"f\"" + params(3), "1") + kClose,
                         &error, limits));
    ck_assert(!parse_body(kMultipart, part("Content-Disposition: form-data; name=\"f\"" + params(4), "1") + kClose,
                          &error, limits));
    ck_assert_int_eq(error.status, 400);
    expect_eq(error.body.c_str(),
              "{\"detail\":\"Multipart form parse error - Too many parameters in a part header (limit 4).\"}");
    // The Content-Type too.
    ck_assert(!parse_body(std::string(kMultipart) + params(4), text_part("f", "1") + kClose, &error, limits));
    expect_eq(error.body.c_str(),
              "{\"detail\":\"Multipart form parse error - Too many parameters in the Content-Type (limit 4).\"}");
    // Header block size: 200 bytes pass, 201 do not.
    const std::string head = "Content-Disposition: form-data; name=\"f\"\r\nX-Pad: ";
    ck_assert(parse_body(kMultipart, part(head + std::string(200 - head.size(), 'p'), "1") + kClose, &error, limits));
    ck_assert(!parse_body(kMultipart, part(head + std::string(201 - head.size(), 'p'), "1") + kClose, &error, limits));
    expect_eq(error.body.c_str(), "{\"detail\":\"Multipart form parse error - Part headers exceed 200 bytes.\"}");
    // The defaults (Django reads 1024 bytes of part headers) refuse the
    // issue's 4.8 MB header before splitting it.
    const BodyLimits defaults;
    ck_assert_uint_eq(defaults.max_part_header_size, 1024);
    ck_assert_uint_eq(defaults.max_header_parameters, 64);
    ck_assert(!parse_body(kMultipart, part("Content-Disposition: form-data; name=\"f\"" + params(1200000), "1") + kClose,
                          &error, defaults));
    expect_eq(error.body.c_str(), "{\"detail\":\"Multipart form parse error - Part headers exceed 1024 bytes.\"}");
    // Split alone, the line stops at the limit and says so.
    bool too_many = false;
    HeaderParameters h = parse_header_parameters("form-data" + params(1200000), 64, &too_many);
    ck_assert(too_many);
    ck_assert_uint_le(h.params.size(), 64);
    h = parse_header_parameters("form-data" + params(64), 64, &too_many);
    ck_assert(!too_many);
    ck_assert_uint_eq(h.params.size(), 64);
}
END_TEST

START_TEST(test_header_parameters) {
    HeaderParameters h = parse_header_parameters("Form-Data; NAME=\"a\\\\b\"; filename*=utf-8'en'%41%42; x; y=\"1;2\"");
    expect_eq(h.key.c_str(), "form-data");
    expect_eq(h.get("name")->c_str(), "a\\b");
    expect_eq(h.get("filename")->c_str(), "AB");
    expect_eq(h.get("y")->c_str(), "1;2");
    ck_assert(!h.get("x"));
}
END_TEST

// --- text helpers ----------------------------------------------------------

START_TEST(test_text_helpers) {
    ck_assert(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    ck_assert(!valid_utf8("\xc0\xaf"));           // overlong
    ck_assert(!valid_utf8("\xed\xa0\x80"));       // surrogate
    ck_assert(!valid_utf8("\xf4\x90\x80\x80"));   // > U+10FFFF
    ck_assert(!valid_utf8("\xe2\x82"));           // truncated
    ck_assert(!valid_utf8("\xff"));
    ck_assert_uint_eq(code_points("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), 3);
    ck_assert(python_strip(" \t\n\r\v\f\x1c\xc2\xa0\xe3\x80\x80x y\xe2\x80\xa8\xc2\x85 ") == "x y");
    ck_assert(python_strip("\xe2\x80\x8bx") == "\xe2\x80\x8bx");   // ZERO WIDTH SPACE is not white space
    ck_assert(python_strip(std::string("\0x\0", 3)) == std::string("\0x\0", 3));
    ck_assert(ascii_strip("\t a b \v") == "a b");
    expect_eq(latin1_to_utf8("a\xe9").c_str(), "a\xc3\xa9");
}
END_TEST

int main() {
    Suite* s = suite_create("form");
    TCase* tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_classify);
    tcase_add_test(tc, test_unsupported_media_type);
    tcase_add_test(tc, test_empty_body);
    tcase_add_test(tc, test_urlencoded);
    tcase_add_test(tc, test_urlencoded_binary_and_charset);
    tcase_add_test(tc, test_urlencoded_field_limit);
    tcase_add_test(tc, test_query);
    tcase_add_test(tc, test_json_values);
    tcase_add_test(tc, test_python_float_repr);
    tcase_add_test(tc, test_json_not_an_object);
    tcase_add_test(tc, test_json_syntax_errors);
    tcase_add_test(tc, test_json_encoding_errors);
    tcase_add_test(tc, test_json_value_limit);
    tcase_add_test(tc, test_json_jansson_only_errors);
    tcase_add_test(tc, test_multipart_basic);
    tcase_add_test(tc, test_multipart_binary_round_trip);
    tcase_add_test(tc, test_multipart_file_is_a_view);
    tcase_add_test(tc, test_multipart_repeated_keys);
    tcase_add_test(tc, test_multipart_empty_filename_is_no_file);
    tcase_add_test(tc, test_multipart_header_forms);
    tcase_add_test(tc, test_multipart_boundary_forms);
    tcase_add_test(tc, test_multipart_errors);
    tcase_add_test(tc, test_multipart_base64);
    tcase_add_test(tc, test_multipart_limits);
    tcase_add_test(tc, test_multipart_header_bounds);
    tcase_add_test(tc, test_header_parameters);
    tcase_add_test(tc, test_text_helpers);
    suite_add_tcase(s, tc);
    SRunner* sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
