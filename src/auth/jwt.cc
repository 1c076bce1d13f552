#include "auth/jwt.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "auth/base64url.h"

namespace talentd::auth {

struct PreparedKey {
    std::string algorithm;   // what it was prepared for
    std::string pem;         // ... and from
    EVP_PKEY* pkey = nullptr;
    PreparedKey() = default;
    PreparedKey(const PreparedKey&) = delete;
    PreparedKey& operator=(const PreparedKey&) = delete;
    ~PreparedKey() { EVP_PKEY_free(pkey); }
};

namespace {

// --- RAII for the C objects -------------------------------------------------

struct JsonDecref {
    void operator()(json_t* j) const { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

struct JwtFree {
    void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;

struct MallocFree {
    void operator()(void* p) const { std::free(p); }
};
using CStrPtr = std::unique_ptr<char, MallocFree>;

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
    void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
struct BnFree {
    void operator()(BIGNUM* b) const { BN_free(b); }
};
struct OpensslFree {
    void operator()(unsigned char* p) const { OPENSSL_free(p); }
};

// --- the algorithms -----------------------------------------------------------

enum class Family { Hmac, Rsa, Ec };

struct Algorithm {
    std::string_view name;
    Family family;
    jwt_alg_t jwt_alg;
    const EVP_MD* (*md)();
};

constexpr Algorithm kAlgorithms[] = {
    {"HS256", Family::Hmac, JWT_ALG_HS256, EVP_sha256},
    {"HS384", Family::Hmac, JWT_ALG_HS384, EVP_sha384},
    {"HS512", Family::Hmac, JWT_ALG_HS512, EVP_sha512},
    {"RS256", Family::Rsa, JWT_ALG_RS256, EVP_sha256},
    {"ES256", Family::Ec, JWT_ALG_ES256, EVP_sha256},
};

const Algorithm* find_algorithm(std::string_view name) {
    for (const auto& a : kAlgorithms)
        if (a.name == name) return &a;
    return nullptr;
}

bool fail(std::string* why, std::string reason) {
    if (why) *why = std::move(reason);
    return false;
}

// PyJWT refuses an HMAC secret that is an asymmetric key or a certificate, so
// that a public key can never double as a shared secret.
bool looks_like_asymmetric_key(std::string_view key) {
    return key.find("-----BEGIN ") != std::string_view::npos || key.starts_with("ssh-") ||
           key.starts_with("ecdsa-sha2-");
}

// A value from the token, safe to put in a log line: short, alphanumeric.
std::string printable_alg(const json_t* alg) {
    if (!json_is_string(alg)) return "(not a string)";
    std::string_view s(json_string_value(alg), json_string_length(alg));
    if (s.empty() || s.size() > 10) return "(unrecognised)";
    for (char c : s)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return "(unrecognised)";
    return "\"" + std::string(s) + "\"";
}

// base64url segment -> JSON object; nullptr when either step fails.
JsonPtr decode_object(std::string_view segment, const char* what, std::string* why) {
    std::string raw;
    if (!base64url_decode(segment, &raw)) {
        fail(why, std::string(what) + ": malformed base64url");
        return nullptr;
    }
    json_error_t error;
    JsonPtr value(json_loadb(raw.data(), raw.size(), JSON_REJECT_DUPLICATES, &error));
    if (!value) {
        fail(why, std::string(what) + ": not JSON");
        return nullptr;
    }
    if (!json_is_object(value.get())) {
        fail(why, std::string(what) + ": not a JSON object");
        return nullptr;
    }
    return value;
}

// A NumericDate as PyJWT reads it (int(value)): an integer, or a real
// truncated toward zero.  Strings and booleans are refused.
bool numeric_date(const json_t* value, int64_t* out) {
    if (json_is_integer(value)) {
        *out = json_integer_value(value);
        return true;
    }
    if (json_is_real(value)) {
        double d = json_real_value(value);
        // Beyond ±2^62 no date matters; refuse rather than overflow the cast.
        if (!std::isfinite(d) || std::fabs(d) >= 4.6e18) return false;
        *out = static_cast<int64_t>(std::trunc(d));
        return true;
    }
    return false;
}

// Python truthiness of a JSON value, for PyJWT's `not payload["aud"]`.
bool truthy(const json_t* value) {
    switch (json_typeof(value)) {
        case JSON_NULL:
        case JSON_FALSE: return false;
        case JSON_TRUE: return true;
        case JSON_INTEGER: return json_integer_value(value) != 0;
        case JSON_REAL: return json_real_value(value) != 0.0;
        case JSON_STRING: return json_string_length(value) != 0;
        case JSON_ARRAY: return json_array_size(value) != 0;
        case JSON_OBJECT: return json_object_size(value) != 0;
    }
    return true;
}

bool json_string_equals(const json_t* value, std::string_view expected) {
    return json_is_string(value) &&
           std::string_view(json_string_value(value), json_string_length(value)) == expected;
}

bool check_audience(const json_t* aud, const std::string& audience, std::string* why) {
    if (audience.empty()) {
        if (aud && truthy(aud)) return fail(why, "token has \"aud\" but no jwt_audience is configured");
        return true;
    }
    if (!aud || !truthy(aud)) return fail(why, "missing \"aud\"");
    if (json_is_string(aud)) {
        if (json_string_equals(aud, audience)) return true;
        return fail(why, "audience mismatch");
    }
    if (!json_is_array(aud)) return fail(why, "malformed \"aud\"");
    bool found = false;
    size_t i;
    json_t* item;
    json_array_foreach(aud, i, item) {
        if (!json_is_string(item)) return fail(why, "malformed \"aud\"");
        if (json_string_equals(item, audience)) found = true;
    }
    return found || fail(why, "audience mismatch");
}

// The user id as Django's integer primary key lookup would take it, positive
// integers only: a JSON integer, or a string of ASCII digits.
bool user_id_value(const json_t* value, int64_t* out) {
    if (json_is_integer(value)) {
        *out = json_integer_value(value);
        return *out > 0;
    }
    if (!json_is_string(value)) return false;
    std::string_view s(json_string_value(value), json_string_length(value));
    if (s.empty()) return false;
    int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, c - '0', &v)) return false;
    }
    *out = v;
    return v > 0;
}

bool check_claims(const json_t* claims, const JwtSettings& settings, int64_t now, Identity* identity,
                  std::string* why) {
    if (!json_string_equals(json_object_get(claims, "token_type"), "access"))
        return fail(why, json_object_get(claims, "token_type") ? "token_type is not \"access\""
                                                                : "missing token_type");

    const json_t* exp_value = json_object_get(claims, "exp");
    if (!exp_value) return fail(why, "missing \"exp\"");
    int64_t exp = 0;
    if (!numeric_date(exp_value, &exp)) return fail(why, "\"exp\" is not a number");
    // PyJWT/simplejwt: expired when exp <= now - leeway.
    if (exp <= now - settings.leeway) return fail(why, "expired");

    if (const json_t* nbf_value = json_object_get(claims, "nbf")) {
        int64_t nbf = 0;
        if (!numeric_date(nbf_value, &nbf)) return fail(why, "\"nbf\" is not a number");
        if (nbf > now + settings.leeway) return fail(why, "not yet valid (nbf)");
    }
    if (const json_t* iat_value = json_object_get(claims, "iat")) {
        int64_t iat = 0;
        if (!numeric_date(iat_value, &iat)) return fail(why, "\"iat\" is not a number");
    }

    const json_t* jti = json_object_get(claims, "jti");
    if (!jti) return fail(why, "missing \"jti\"");

    if (!settings.issuer.empty()) {
        const json_t* iss = json_object_get(claims, "iss");
        if (!iss) return fail(why, "missing \"iss\"");
        if (!json_string_equals(iss, settings.issuer)) return fail(why, "issuer mismatch");
    }
    if (!check_audience(json_object_get(claims, "aud"), settings.audience, why)) return false;

    const json_t* uid = json_object_get(claims, settings.user_id_claim.c_str());
    if (!uid) return fail(why, "missing user id claim \"" + settings.user_id_claim + "\"");
    int64_t user_id = 0;
    if (!user_id_value(uid, &user_id)) return fail(why, "user id claim is not a positive integer");

    identity->user_id = user_id;
    identity->expires_at = exp;
    if (json_is_string(jti)) {
        identity->jti.assign(json_string_value(jti), json_string_length(jti));
    } else {
        CStrPtr text(json_dumps(jti, JSON_COMPACT | JSON_ENCODE_ANY));
        identity->jti = text ? text.get() : "";
    }
    return true;
}

bool verify_hmac(const Algorithm& alg, std::string_view signing_input, std::string_view signature_b64,
                 const std::string& key, std::string* why) {
    std::string signature;
    if (!base64url_decode(signature_b64, &signature)) return fail(why, "signature: malformed base64url");
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(alg.md(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
              &mac_len))
        return fail(why, "HMAC failed");
    if (signature.size() != mac_len || CRYPTO_memcmp(signature.data(), mac, mac_len) != 0)
        return fail(why, "bad signature");
    return true;
}

bool verify_with_libjwt(const Algorithm& alg, std::string_view token, const std::string& key,
                        std::string* why) {
    std::string copy(token);  // libjwt wants a NUL-terminated string
    jwt_t* raw = nullptr;
    int rc = jwt_decode(&raw, copy.c_str(), reinterpret_cast<const unsigned char*>(key.data()),
                        static_cast<int>(key.size()));
    JwtPtr decoded(raw);
    if (rc != 0 || !decoded) return fail(why, "bad signature (libjwt: " + std::string(std::strerror(rc)) + ")");
    // Belt and braces: libjwt must have verified with the algorithm we pinned.
    if (jwt_get_alg(decoded.get()) != alg.jwt_alg) return fail(why, "libjwt algorithm mismatch");
    return true;
}

// JWS ES256 signature (R||S, 32 bytes each) -> the DER ECDSA-Sig-Value
// OpenSSL verifies.  Empty on a wrong length.
std::string es256_der(std::string_view raw) {
    if (raw.size() != 64) return {};
    auto bytes = reinterpret_cast<const unsigned char*>(raw.data());
    std::unique_ptr<BIGNUM, BnFree> r(BN_bin2bn(bytes, 32, nullptr));
    std::unique_ptr<BIGNUM, BnFree> s(BN_bin2bn(bytes + 32, 32, nullptr));
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
    if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return {};
    r.release();  // owned by sig now
    s.release();
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(sig.get(), &der);
    std::unique_ptr<unsigned char, OpensslFree> owned(der);
    if (len <= 0) return {};
    return std::string(reinterpret_cast<char*>(der), static_cast<size_t>(len));
}

bool verify_with_evp(const Algorithm& alg, std::string_view signing_input, std::string_view signature_b64,
                     EVP_PKEY* pkey, std::string* why) {
    std::string signature;
    if (!base64url_decode(signature_b64, &signature)) return fail(why, "signature: malformed base64url");
    if (alg.family == Family::Ec) {
        signature = es256_der(signature);
        if (signature.empty()) return fail(why, "bad signature (length)");
    }
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, alg.md(), nullptr, pkey) != 1)
        return fail(why, "EVP_DigestVerifyInit failed");
    int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                              reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
    if (rc != 1) return fail(why, "bad signature");
    return true;
}

// The PEM public key for alg, or null with *why.
EVP_PKEY* parse_public_key(const Algorithm& alg, const std::string& pem, std::string* why) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    EVP_PKEY* pkey = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (!pkey) return fail(why, "verify key is not a PEM public key"), nullptr;
    bool right;
    if (alg.family == Family::Rsa) {
        right = EVP_PKEY_is_a(pkey, "RSA");
    } else {
        char group[64] = "";
        size_t len = 0;
        right = EVP_PKEY_is_a(pkey, "EC") && EVP_PKEY_get_group_name(pkey, group, sizeof group, &len) == 1 &&
                std::string_view(group, len) == "prime256v1";
    }
    if (!right) {
        EVP_PKEY_free(pkey);
        return fail(why, std::string("verify key is not ") +
                             (alg.family == Family::Rsa ? "an RSA key" : "an EC P-256 key")),
               nullptr;
    }
    return pkey;
}

std::string random_hex(size_t bytes) {
    unsigned char buf[32];
    if (bytes > sizeof buf || RAND_bytes(buf, static_cast<int>(bytes)) != 1) return {};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < bytes; ++i) {
        out.push_back(kHex[buf[i] >> 4]);
        out.push_back(kHex[buf[i] & 15]);
    }
    return out;
}

}  // namespace

bool jwt_algorithm_supported(std::string_view algorithm) { return find_algorithm(algorithm) != nullptr; }

bool prepare_jwt_settings(JwtSettings& settings, std::string* why) {
    settings.prepared.reset();
    const Algorithm* alg = find_algorithm(settings.algorithm);
    if (!alg) return fail(why, "unsupported jwt_algorithm \"" + settings.algorithm + "\"");
    if (settings.verify_key.empty()) return fail(why, "no verification key configured");
    if (alg->family == Family::Hmac) {
        if (looks_like_asymmetric_key(settings.verify_key))
            return fail(why, "the HMAC secret is an asymmetric key or certificate");
        return true;
    }
    auto prepared = std::make_shared<PreparedKey>();
    prepared->algorithm = settings.algorithm;
    prepared->pem = settings.verify_key;
    prepared->pkey = parse_public_key(*alg, settings.verify_key, why);
    if (!prepared->pkey) return false;
    settings.prepared = std::move(prepared);
    return true;
}

JwtSettings jwt_settings_from(const Config& config) {
    JwtSettings s;
    s.algorithm = config.jwt_algorithm;
    const Algorithm* alg = find_algorithm(config.jwt_algorithm);
    bool hmac = alg && alg->family == Family::Hmac;
    s.verify_key = hmac ? config.jwt_secret : config.jwt_public_key;
    s.signing_key = hmac ? config.jwt_secret : config.jwt_private_key;
    s.user_id_claim = config.jwt_user_id_claim;
    s.issuer = config.jwt_issuer;
    s.audience = config.jwt_audience;
    s.leeway = config.jwt_leeway;
    prepare_jwt_settings(s, nullptr);  // unusable settings fail at verification, with the reason
    return s;
}

std::optional<Identity> verify_access_token(std::string_view token, const JwtSettings& settings, int64_t now,
                                            std::string* why) {
    const Algorithm* alg = find_algorithm(settings.algorithm);
    if (!alg) return fail(why, "unsupported jwt_algorithm configured"), std::nullopt;
    if (settings.verify_key.empty()) return fail(why, "no verification key configured"), std::nullopt;
    if (alg->family == Family::Hmac && looks_like_asymmetric_key(settings.verify_key))
        return fail(why, "the HMAC secret is an asymmetric key"), std::nullopt;
    if (token.size() > settings.max_token_length) return fail(why, "token too long"), std::nullopt;

    size_t dot1 = token.find('.');
    size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
        return fail(why, "not three segments"), std::nullopt;
    std::string_view header_b64 = token.substr(0, dot1);
    std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    std::string_view signature_b64 = token.substr(dot2 + 1);
    if (signature_b64.empty()) return fail(why, "no signature"), std::nullopt;

    // The algorithm is pinned before any signature work.
    JsonPtr header = decode_object(header_b64, "header", why);
    if (!header) return std::nullopt;
    const json_t* alg_value = json_object_get(header.get(), "alg");
    if (!json_string_equals(alg_value, alg->name)) {
        std::string reason = alg_value ? "alg " + printable_alg(alg_value) + " refused" : "no alg";
        return fail(why, reason + " (configured " + std::string(alg->name) + ")"), std::nullopt;
    }
    // RFC 7515 §4.1.11: a recipient must refuse a token whose "crit" names an
    // extension it does not understand.  talentd understands none, so any
    // "crit" (well-formed or not) refuses the token.
    if (json_object_get(header.get(), "crit"))
        return fail(why, "crit header parameter refused (no JWS extension is understood)"), std::nullopt;

    bool signature_ok;
    const PreparedKey* prepared = settings.prepared.get();
    if (alg->family == Family::Hmac)
        signature_ok = verify_hmac(*alg, token.substr(0, dot2), signature_b64, settings.verify_key, why);
    else if (prepared && prepared->algorithm == settings.algorithm && prepared->pem == settings.verify_key)
        signature_ok = verify_with_evp(*alg, token.substr(0, dot2), signature_b64, prepared->pkey, why);
    else
        signature_ok = verify_with_libjwt(*alg, token, settings.verify_key, why);
    if (!signature_ok) return std::nullopt;

    JsonPtr claims = decode_object(payload_b64, "payload", why);
    if (!claims) return std::nullopt;
    Identity identity;
    if (!check_claims(claims.get(), settings, now, &identity, why)) return std::nullopt;
    return identity;
}

std::optional<std::string> mint_access_token(int64_t user_id, const JwtSettings& settings, int64_t now,
                                             int ttl_seconds, std::string* why) {
    const Algorithm* alg = find_algorithm(settings.algorithm);
    if (!alg) return fail(why, "unsupported jwt_algorithm configured"), std::nullopt;
    if (settings.signing_key.empty()) return fail(why, "no signing key configured"), std::nullopt;
    if (alg->family == Family::Hmac && looks_like_asymmetric_key(settings.signing_key))
        return fail(why, "the HMAC secret is an asymmetric key"), std::nullopt;
    if (user_id <= 0) return fail(why, "user id must be positive"), std::nullopt;
    if (ttl_seconds <= 0) return fail(why, "lifetime must be positive"), std::nullopt;
    if (settings.user_id_claim.empty()) return fail(why, "empty user id claim name"), std::nullopt;

    std::string jti = random_hex(16);
    if (jti.empty()) return fail(why, "no randomness for jti"), std::nullopt;

    jwt_t* raw = nullptr;
    if (jwt_new(&raw) != 0 || !raw) return fail(why, "jwt_new failed"), std::nullopt;
    JwtPtr token(raw);
    jwt_t* t = token.get();
    // jwt_add_grant refuses a claim that already exists, so a user id claim
    // named like a registered claim ("exp"…) fails here.
    if (jwt_add_grant(t, "token_type", "access") != 0 || jwt_add_grant_int(t, "exp", now + ttl_seconds) != 0 ||
        jwt_add_grant_int(t, "iat", now) != 0 || jwt_add_grant(t, "jti", jti.c_str()) != 0 ||
        jwt_add_grant_int(t, settings.user_id_claim.c_str(), user_id) != 0)
        return fail(why, "cannot add the claims (user id claim name clashes?)"), std::nullopt;
    if (!settings.issuer.empty() && jwt_add_grant(t, "iss", settings.issuer.c_str()) != 0)
        return fail(why, "cannot add \"iss\""), std::nullopt;
    if (!settings.audience.empty() && jwt_add_grant(t, "aud", settings.audience.c_str()) != 0)
        return fail(why, "cannot add \"aud\""), std::nullopt;
    if (jwt_set_alg(t, alg->jwt_alg, reinterpret_cast<const unsigned char*>(settings.signing_key.data()),
                    static_cast<int>(settings.signing_key.size())) != 0)
        return fail(why, "jwt_set_alg failed"), std::nullopt;
    CStrPtr encoded(jwt_encode_str(t));
    if (!encoded) return fail(why, "signing failed (bad key?)"), std::nullopt;
    return std::string(encoded.get());
}

}  // namespace talentd::auth
