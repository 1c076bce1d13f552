// application/json bodies: jansson builds the values; errors are worded the
// way DRF's JSONParser words them (Python's json module + codecs), so clients
// see the same "JSON parse error - ..." text as from the Django service.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/api_error.h"
#include "form/body.h"

namespace talentd::form {

// Python's repr()/str() of a float: shortest round-trip digits, fixed
// notation for 1e-4 <= |x| < 1e16 ("100000.0", "0.0001"), else exponent
// notation ("1e+16", "1.5e-05").
std::string python_float_repr(double value);

// The error Python's json.loads() (C scanner, strict=True, DRF's
// parse_constant refusing NaN/Infinity) raises for `text`, which must be
// valid UTF-8; e.g. "Expecting value: line 1 column 1 (char 0)".  nullopt
// when Python would accept the document.
std::optional<std::string> python_json_error(std::string_view text);

// python_json_error, also counting the values of the document (every
// string, number, literal, array and object, at any depth).
std::optional<std::string> scan_json(std::string_view text, size_t* values);

// Parses a JSON body into *fields.  On failure returns false with *error set
// (see body.h).  A document of more than limits.max_fields values (the
// top-level object aside) is refused like a form with too many fields: JSON
// has no such limit in Django, but it bounds what a 6 MiB body can cost
// (jansson needs ~40 bytes per value).
bool parse_json(std::string_view body, const BodyLimits& limits, Fields* fields, ApiError* error);

}  // namespace talentd::form
