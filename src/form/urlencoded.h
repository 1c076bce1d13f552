// application/x-www-form-urlencoded, as Python's urllib.parse.parse_qsl
// (keep_blank_values=True, separator '&') decodes it for Django's QueryDict.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace talentd::form {

// '+' -> ' ' (when plus_is_space), then %XX (either case) -> byte; a '%' not
// followed by two hex digits stays as it is.
std::string percent_decode(std::string_view text, bool plus_is_space);

// Number of fields Django counts against DATA_UPLOAD_MAX_NUMBER_FIELDS:
// 1 + the number of '&' (0 for an empty string).
size_t urlencoded_field_count(std::string_view text);

// Calls sink(name, value) for every pair, in order: empty segments are
// skipped, a segment without '=' is a name with an empty value.
void parse_urlencoded(std::string_view text,
                      const std::function<void(std::string&&, std::string&&)>& sink);

}  // namespace talentd::form
