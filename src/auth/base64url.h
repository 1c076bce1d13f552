// base64url — the unpadded URL-safe base64 of RFC 4648 §5, as JWS uses it.
//
// Internal to the auth module.  Decoding is strict: only [A-Za-z0-9_-], no
// padding, no white space, a length that is not 1 mod 4, and zero trailing
// bits (the canonical encoding).  Anything else is refused.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace talentd::auth {

// Appends the decoded bytes of `in` to *out; false (and *out unspecified) when
// `in` is not canonical unpadded base64url.
bool base64url_decode(std::string_view in, std::string* out);

// The unpadded base64url text of `in`.
std::string base64url_encode(std::string_view in);

}  // namespace talentd::auth
