// multipart/form-data (RFC 7578 / RFC 2046), read the way Django's
// MultiPartParser reads it, with structural errors reported instead of
// silently skipped (see body.h).
//
// Why not cgicc (3.2.19, Debian 12): its Cgicc::parseFormInput cannot tell
// filename="" from a text field, takes `name="` from inside `filename="` when
// filename comes first, percent-decodes file names, ignores a quoted or
// upper-case boundary parameter, silently drops the last part when the closing
// delimiter lacks its CRLF, reports no error for any malformed body, and
// copies the whole body four times.  This parser is a single pass over the
// body, copies each text value once and no file (a file is a view into the
// body), and is fuzzed (tests/fuzz/fuzz_body.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/api_error.h"
#include "form/body.h"

namespace talentd::form {

// django.utils.http.parse_header_parameters: "form-data; name=\"a\"" ->
// key "form-data" (lower-cased), params [("name", "a")] (names lower-cased,
// quotes and backslash escapes removed, RFC 2231 name*=utf-8''%xx decoded).
inline constexpr size_t kMaxHeaderParameters = 64;

struct HeaderParameters {
    std::string key;
    std::vector<std::pair<std::string, std::string>> params;   // in order; duplicates kept
    // The last value for `name`, or nullopt.
    std::optional<std::string> get(std::string_view name) const;
};
// At most max_params parameters are read (the rest of the line is not even
// split); *too_many, when given, says whether there were more.
HeaderParameters parse_header_parameters(std::string_view line, size_t max_params = kMaxHeaderParameters,
                                         bool* too_many = nullptr);

// Python's base64.b64decode (non-strict: characters outside the alphabet are
// skipped, input ends at complete padding).  False on "Incorrect padding" and
// on a lone trailing character.
bool base64_decode(std::string_view text, std::string* out);

// Parses a multipart/form-data body into *fields (which it adds to).  On
// failure returns false with *error set (400, see body.h).  Bounded memory
// whatever the caller sends: a part's header block longer than
// limits.max_part_header_size bytes ("Multipart form parse error - Part
// headers exceed N bytes."), or a header line (or the Content-Type) with more
// than limits.max_header_parameters parameters ("... - Too many parameters
// in a part header (limit N)."), is refused before it is split.
bool parse_multipart(std::string_view content_type, std::string_view body, const BodyLimits& limits,
                     Fields* fields, ApiError* error);

}  // namespace talentd::form
