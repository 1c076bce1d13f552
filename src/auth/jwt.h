// auth/jwt — simplejwt access tokens: verification on every request, minting
// for `talentctl token`.
//
// talentd replaces a Django REST Framework view authenticated by
// djangorestframework-simplejwt, so a token is accepted exactly when simplejwt
// (PyJWT underneath) would accept it, and every refusal is the same to the
// client: 401 {"detail": "Given token not valid for any token type",
// "code": "token_not_valid"}.  The reason goes to the log only.
//
// Verification, in order (SPEC §2):
//   1. length <= JwtSettings::max_token_length (8 KiB) — before any parsing;
//   2. exactly three '.'-separated segments, each canonical unpadded base64url;
//   3. the header is a JSON object whose "alg" equals the configured algorithm
//      exactly.  This is checked here, before any signature work, because
//      Debian's libjwt 1.10 takes the algorithm from the token: "none", a
//      switched HS512, or an RS256 token "signed" with the HMAC secret are
//      all refused at this step;
//   4. the signature:
//        HS256/384/512 — OpenSSL HMAC over "header.payload" with the shared
//          secret, compared with CRYPTO_memcmp (constant time).  libjwt is
//          not used on this path: it re-parses the token and allocates a lot,
//          and HMAC verification runs on every request.  A secret that looks
//          like a PEM key or certificate is refused (as PyJWT does);
//        RS256 / ES256 — OpenSSL EVP_DigestVerify (RSASSA-PKCS1-v1_5 /
//          ECDSA P-256 with the JWS raw R||S signature) on the public key
//          parsed once, when the settings are prepared (jwt_settings_from()
//          or prepare_jwt_settings() do it).  Unprepared settings fall back to
//          libjwt's jwt_decode() with the PEM text: same verdicts (the tests
//          check both), but libjwt re-parses the PEM on every call, which
//          costs ~250 µs under OpenSSL 3 against ~20 µs (RS256) / ~60 µs
//          (ES256) for the verification itself.  libjwt also refuses a "typ"
//          other than "JWT", which PyJWT does not;
//   5. the payload is a JSON object (duplicate keys refused) with
//        token_type == "access"                           (simplejwt)
//        exp: a number, exp + leeway > now                (required)
//        nbf: when present, a number, nbf <= now + leeway
//        iat: when present, a number; not compared to now (PyJWT >= 2.4
//             refuses iat > now + leeway; talentd tolerates clock skew
//             between the issuing Django and itself instead)
//        jti: present (any JSON value)                    (required)
//        iss: when `issuer` is set, present and equal to it
//        aud: when `audience` is set, a string or an array of strings that
//             contains it; when not set, a non-empty "aud" is refused — PyJWT's
//             rule with audience=None, stricter than simplejwt, which then
//             skips the check ("verify_aud": audience is not None): a token
//             minted for another audience under the same key is not taken
//        <user_id_claim>: a positive integer, or a string of ASCII digits
//             with a positive value that fits in int64 (floats, booleans,
//             signs, white space, other strings are refused).
//
// Pure functions: no sockets, no files, no global state.  The token itself is
// never copied into a reason, a log line or an exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.h"

namespace talentd::auth {

// A verification key parsed once (opaque; owns an OpenSSL EVP_PKEY).
struct PreparedKey;

struct JwtSettings {
    std::string algorithm = "HS256";     // HS256 HS384 HS512 RS256 ES256 — pinned
    std::string verify_key;              // HS*: the shared secret; RS256/ES256: PEM public key
    std::string signing_key;             // HS*: the secret; RS256/ES256: PEM private key (minting only)
    std::string user_id_claim = "user_id";
    std::string issuer;                  // "iss" checked (and minted) when non-empty
    std::string audience;                // "aud" checked (and minted) when non-empty
    int leeway = 0;                      // seconds, for exp and nbf
    std::size_t max_token_length = 8192; // bytes; longer tokens are refused unparsed

    // RS256/ES256: verify_key parsed, set by prepare_jwt_settings().  Shared
    // by copies; re-prepare after changing algorithm or verify_key.
    std::shared_ptr<const PreparedKey> prepared;
};

// Checks the settings (supported algorithm, key material present, an HMAC
// secret that is not a PEM/SSH key, a PEM public key of the right type: RSA
// for RS256, EC P-256 for ES256) and, for RS256/ES256, parses verify_key
// into `prepared`.  False with *why when the settings cannot verify tokens
// (`prepared` is then left empty).  For `talentctl check` and start-up.
bool prepare_jwt_settings(JwtSettings& settings, std::string* why);

// The settings a Config describes (jwt_* keys; the key material already loaded
// from its files by load_config), prepared when possible.  Call it once per
// process (after fork is fine), not per request.
JwtSettings jwt_settings_from(const Config& config);

// True when `algorithm` is one talentd supports (HS256 HS384 HS512 RS256 ES256).
bool jwt_algorithm_supported(std::string_view algorithm);

// Who a valid token speaks for.
struct Identity {
    int64_t user_id = 0;
    std::string jti;          // the "jti" claim (a non-string jti as compact JSON)
    int64_t expires_at = 0;   // "exp", unix seconds (a fractional exp truncated)
};

// Every failure maps to simplejwt's token_not_valid.
enum class TokenFailure { None, Invalid };

// Verifies an access token at time `now` (unix seconds).  On failure returns
// nullopt and, when `why` is not null, sets *why to a short reason for the log
// ("expired", "alg \"none\" refused (configured HS256)", …) — never the token.
std::optional<Identity> verify_access_token(std::string_view token, const JwtSettings& settings,
                                            int64_t now, std::string* why);

// Mints a simplejwt-compatible access token with libjwt: header
// {"alg": <algorithm>, "typ": "JWT"}, claims token_type="access",
// exp=now+ttl_seconds, iat=now, jti=32 random hex digits,
// <user_id_claim>=user_id (an integer), plus iss/aud when configured.
// Signed with signing_key.  nullopt (with *why) when the settings or
// arguments are unusable (user_id <= 0, ttl_seconds <= 0, no key, bad PEM…).
std::optional<std::string> mint_access_token(int64_t user_id, const JwtSettings& settings,
                                             int64_t now, int ttl_seconds, std::string* why);

}  // namespace talentd::auth
