// Text helpers shared by the body parsers and the profile rules: UTF-8
// checks, code point counts, Python's str.strip(), and the display of raw
// header bytes.  Pure functions over bytes; nothing here allocates unless it
// returns a string.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace talentd::form {

// True when `text` is well-formed UTF-8 (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view text);

// Number of code points in valid UTF-8 text (counts lead bytes).
size_t code_points(std::string_view text);

// Python's str.isspace() for one code point.
bool is_python_space(char32_t cp);

// Python's str.strip() on valid UTF-8 text: removes leading and trailing
// characters for which str.isspace() is true (ASCII white space, U+001C..1F,
// U+0085, U+00A0, U+1680, U+2000..200A, U+2028, U+2029, U+202F, U+205F,
// U+3000).  Invalid UTF-8 is returned unchanged.
std::string_view python_strip(std::string_view text);

// bytes.strip(): removes ASCII white space (space, \t, \n, \r, \v, \f).
std::string_view ascii_strip(std::string_view text);

// Header values reach Python as ISO-8859-1 text (PEP 3333); this shows raw
// header bytes the way Django would echo them, as UTF-8.
std::string latin1_to_utf8(std::string_view bytes);

// The strict, non-final UTF-8 decode Python's codecs.StreamReader performs on
// a JSON body (DRF's JSONParser).  Returns the length of the decodable prefix:
// the whole text, or the text minus a trailing incomplete sequence (which a
// non-final decode silently keeps buffered and then drops).  On an invalid
// sequence returns npos and sets *message to Python's UnicodeDecodeError text,
// e.g. "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte".
size_t python_utf8_prefix(std::string_view bytes, std::string* message);

}  // namespace talentd::form
