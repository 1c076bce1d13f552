// Unit tests of the auth module: JWT verification (simplejwt semantics),
// minting, Authorization/Cookie parsing and the CSRF origin rules.
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "auth/base64url.h"
#include "auth/credentials.h"
#include "auth/jwt.h"

// Last: check.h defines a `fail` macro that breaks the standard headers.
#include <check.h>

using namespace talentd::auth;

// Compares as std::string (ck_assert_str_eq would keep a pointer into a
// temporary).
#define CK_STR_EQ(a, b)                                                                 \
    do {                                                                                \
        std::string ck_a_ = (a), ck_b_ = (b);                                           \
        ck_assert_msg(ck_a_ == ck_b_, "\"%s\" != \"%s\"", ck_a_.c_str(), ck_b_.c_str()); \
    } while (0)

namespace {

constexpr int64_t kNow = 1700000000;
const std::string kSecret = "django-insecure-signing-key-for-tests-0123456789";

struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string b64(std::string_view s) { return base64url_encode(s); }

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(md, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), mac, &len);
    return std::string(reinterpret_cast<char*>(mac), len);
}

// header.payload signed with HMAC (md) under key.
std::string hs_token(std::string_view header, std::string_view payload, const EVP_MD* md = EVP_sha256(),
                     std::string_view key = kSecret) {
    std::string input = b64(header) + "." + b64(payload);
    return input + "." + b64(hmac(md, key, input));
}

std::string claims(std::string_view extra = "", int64_t exp = kNow + 300) {
    std::string s = "{\"token_type\":\"access\",\"exp\":" + std::to_string(exp) +
                    ",\"iat\":" + std::to_string(kNow) + ",\"jti\":\"0123456789abcdef0123456789abcdef\"";
    if (!extra.empty()) s += "," + std::string(extra);
    return s + "}";
}
std::string claims_uid(std::string_view extra = "") {
    return claims(extra.empty() ? "\"user_id\":42" : "\"user_id\":42," + std::string(extra));
}
const char* kHS256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

JwtSettings hs_settings() {
    JwtSettings s;
    s.algorithm = "HS256";
    s.verify_key = kSecret;
    s.signing_key = kSecret;
    return s;
}

bool valid(const std::string& token, const JwtSettings& s = hs_settings(), int64_t now = kNow,
           std::string* why_out = nullptr) {
    std::string why;
    auto id = verify_access_token(token, s, now, &why);
    if (why_out) *why_out = why;
    if (id) return true;
    ck_assert_msg(!why.empty(), "a refusal must say why");
    // The reason never contains the token.
    ck_assert_msg(token.size() < 16 || why.find(token) == std::string::npos, "reason leaks the token");
    return false;
}

PkeyPtr keygen(const char* type) {
    EVP_PKEY* k = std::string_view(type) == "RSA" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                                                  : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    ck_assert_ptr_nonnull(k);
    return PkeyPtr(k);
}

std::string pem(EVP_PKEY* k, bool priv) {
    BIO* bio = BIO_new(BIO_s_mem());
    int ok = priv ? PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr)
                  : PEM_write_bio_PUBKEY(bio, k);
    ck_assert_int_eq(ok, 1);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
}

// An asymmetric signature as JWS wants it (ES256: raw R||S, 64 bytes).
std::string asym_sign(EVP_PKEY* k, std::string_view data, bool ec) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, k), 1);
    size_t len = 0;
    ck_assert_int_eq(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                                    data.size()), 1);
    std::string sig(len, '\0');
    ck_assert_int_eq(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                                    reinterpret_cast<const unsigned char*>(data.data()), data.size()), 1);
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    if (!ec) return sig;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    ck_assert_ptr_nonnull(es);
    unsigned char raw[64];
    BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
    ECDSA_SIG_free(es);
    return std::string(reinterpret_cast<char*>(raw), 64);
}

std::string asym_token(EVP_PKEY* k, std::string_view header, std::string_view payload, bool ec) {
    std::string input = b64(header) + "." + b64(payload);
    return input + "." + b64(asym_sign(k, input, ec));
}

}  // namespace

// --- base64url --------------------------------------------------------------

START_TEST(base64url_round_trip) {
    for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00\x01"}) {
        std::string back;
        ck_assert(base64url_decode(base64url_encode(s), &back));
        ck_assert(back == s);
    }
    std::string out;
    CK_STR_EQ(base64url_encode("\xfb\xff"), "-_8");
    ck_assert(!base64url_decode("Zg==", &out));   // padding refused
    ck_assert(!base64url_decode("Z", &out));      // 1 mod 4
    ck_assert(!base64url_decode("Zh", &out));     // non-zero trailing bits
    ck_assert(!base64url_decode("Zm+v", &out));   // '+' is not base64url
    ck_assert(!base64url_decode("Zm 9v", &out));  // white space
}
END_TEST

// RFC 4648 §10's vectors (unpadded), both ways: a round trip alone would
// not see an encoder and decoder wrong in the same way.
START_TEST(base64url_rfc4648_vectors) {
    const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg"},         {"fo", "Zm8"},
                                                           {"foo", "Zm9v"},  {"foob", "Zm9vYg"},  {"fooba", "Zm9vYmE"},
                                                           {"foobar", "Zm9vYmFy"}};
    for (auto [plain, encoded] : vectors) {
        CK_STR_EQ(base64url_encode(plain), encoded);
        std::string out;
        ck_assert_msg(base64url_decode(encoded, &out), "%s refused", encoded);
        CK_STR_EQ(out, plain);
    }
    // Decoding appends.
    std::string out = "x";
    ck_assert(base64url_decode("Zm9v", &out));
    CK_STR_EQ(out, "xfoo");
    // Every byte value, through every position of a 3-byte group.
    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    for (size_t skip = 0; skip < 3; ++skip) {
        std::string in = all.substr(skip), back;
        ck_assert(base64url_decode(base64url_encode(in), &back));
        ck_assert_msg(back == in, "256 bytes from %zu did not come back", skip);
    }
    // 5 characters is 1 mod 4, even with zero trailing bits.
    ck_assert(!base64url_decode("Zm9vA", &out));
    ck_assert(!base64url_decode("Zm9vYmFyA", &out));
}
END_TEST

// Each of the 64 characters decodes to its own value; every other byte value
// (NUL, '+', '/', '=', white space, 8-bit) is refused.
START_TEST(base64url_alphabet) {
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int c = 0; c < 256; ++c) {
        std::string in = "AAA";
        in.push_back(static_cast<char>(c));
        std::string out;
        size_t value = alphabet.find(static_cast<char>(c));
        if (value == std::string::npos) {
            ck_assert_msg(!base64url_decode(in, &out), "byte %d taken as base64url", c);
        } else {
            ck_assert_msg(base64url_decode(in, &out), "'%c' refused", c);
            ck_assert_msg(out.size() == 3 && out[0] == 0 && out[1] == 0 && static_cast<unsigned char>(out[2]) == value,
                          "'%c' decoded wrong", c);
        }
    }
}
END_TEST

// --- verification: HS256 ------------------------------------------------------

START_TEST(valid_token) {
    std::string why;
    auto id = verify_access_token(hs_token(kHS256, claims_uid()), hs_settings(), kNow, &why);
    ck_assert_msg(id.has_value(), "%s", why.c_str());
    ck_assert_int_eq(id->user_id, 42);
    ck_assert_str_eq(id->jti.c_str(), "0123456789abcdef0123456789abcdef");
    ck_assert_int_eq(id->expires_at, kNow + 300);
    // A header without typ (PyJWT does not require it) and extra claims.
    ck_assert(valid(hs_token("{\"alg\":\"HS256\"}", claims_uid("\"foo\":[1,{\"a\":null}]"))));
    // An exp that is a real number (PyJWT int()s it).
    ck_assert(valid(hs_token(kHS256, "{\"token_type\":\"access\",\"exp\":1700000300.5,\"jti\":\"x\",\"user_id\":1}")));
}
END_TEST

START_TEST(expired_and_leeway) {
    std::string why;
    std::string t = hs_token(kHS256, claims("\"user_id\":42", kNow - 10));
    ck_assert(!valid(t, hs_settings(), kNow, &why));
    ck_assert_str_eq(why.c_str(), "expired");
    // exp == now is expired (exp <= now - leeway).
    ck_assert(!valid(hs_token(kHS256, claims("\"user_id\":42", kNow))));
    ck_assert(valid(hs_token(kHS256, claims("\"user_id\":42", kNow + 1))));
    JwtSettings s = hs_settings();
    s.leeway = 30;
    ck_assert(valid(t, s));
    s.leeway = 10;
    ck_assert(!valid(t, s));
    s.leeway = 11;
    ck_assert(valid(t, s));
}
END_TEST

START_TEST(nbf_checks) {
    ck_assert(!valid(hs_token(kHS256, claims_uid("\"nbf\":" + std::to_string(kNow + 60)))));
    ck_assert(valid(hs_token(kHS256, claims_uid("\"nbf\":" + std::to_string(kNow)))));
    ck_assert(!valid(hs_token(kHS256, claims_uid("\"nbf\":\"soon\""))));
    JwtSettings s = hs_settings();
    s.leeway = 60;
    ck_assert(valid(hs_token(kHS256, claims_uid("\"nbf\":" + std::to_string(kNow + 60))), s));
    // iat is not compared to now, but must be a number when present.
    ck_assert(valid(hs_token(kHS256, "{\"token_type\":\"access\",\"exp\":1700000300,\"iat\":1800000000,\"jti\":\"x\",\"user_id\":1}")));
    ck_assert(!valid(hs_token(kHS256, "{\"token_type\":\"access\",\"exp\":1700000300,\"iat\":\"x\",\"jti\":\"x\",\"user_id\":1}")));
}
END_TEST

START_TEST(wrong_key_and_tampering) {
    std::string why;
    ck_assert(!valid(hs_token(kHS256, claims_uid(), EVP_sha256(), "another-secret"), hs_settings(), kNow, &why));
    ck_assert_str_eq(why.c_str(), "bad signature");
    // Payload swapped after signing.
    std::string t = hs_token(kHS256, claims_uid());
    size_t d1 = t.find('.'), d2 = t.rfind('.');
    std::string forged = t.substr(0, d1 + 1) + b64(claims("\"user_id\":1")) + t.substr(d2);
    ck_assert(!valid(forged));
    // Truncated signature.
    ck_assert(!valid(t.substr(0, t.size() - 4)));
    // Empty signature.
    ck_assert(!valid(t.substr(0, d2 + 1)));
    // No key configured.
    JwtSettings s = hs_settings();
    s.verify_key.clear();
    ck_assert(!valid(t, s));
}
END_TEST

START_TEST(alg_none_refused) {
    std::string why;
    std::string t = b64("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + b64(claims_uid()) + ".";
    ck_assert(!valid(t, hs_settings(), kNow, &why));
    ck_assert(!valid(t + "AAAA", hs_settings(), kNow, &why));
    ck_assert_msg(why.find("\"none\" refused") != std::string::npos, "%s", why.c_str());
    ck_assert(!valid(b64("{\"alg\":\"None\"}") + "." + b64(claims_uid()) + ".AAAA"));
    ck_assert(!valid(b64("{\"typ\":\"JWT\"}") + "." + b64(claims_uid()) + ".AAAA"));
    ck_assert(!valid(b64("{\"alg\":null}") + "." + b64(claims_uid()) + ".AAAA"));
    ck_assert(!valid(b64("{\"alg\":[\"HS256\"]}") + "." + b64(claims_uid()) + ".AAAA"));
}
END_TEST

START_TEST(crit_header_refused) {
    // RFC 7515 §4.1.11: talentd understands no extension, so any "crit" refuses.
    std::string why;
    ck_assert(!valid(hs_token("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":true}", claims_uid()), hs_settings(),
                     kNow, &why));
    ck_assert_msg(why.find("crit") != std::string::npos, "%s", why.c_str());
    ck_assert(!valid(hs_token("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", claims_uid())));
    ck_assert(!valid(hs_token("{\"alg\":\"HS256\",\"crit\":[]}", claims_uid())));
    ck_assert(!valid(hs_token("{\"alg\":\"HS256\",\"crit\":\"x\"}", claims_uid())));
    // Other unknown header parameters are ignored, as before.
    ck_assert(valid(hs_token("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\",\"x5t\":\"y\"}", claims_uid())));
}
END_TEST

START_TEST(switched_hs512_refused) {
    std::string why;
    std::string t = hs_token("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", claims_uid(), EVP_sha512());
    ck_assert(!valid(t, hs_settings(), kNow, &why));
    ck_assert_str_eq(why.c_str(), "alg \"HS512\" refused (configured HS256)");
    // ...and accepted when HS512 is what is configured.
    JwtSettings s = hs_settings();
    s.algorithm = "HS512";
    ck_assert(valid(t, s));
    s.algorithm = "HS384";
    ck_assert(valid(hs_token("{\"alg\":\"HS384\"}", claims_uid(), EVP_sha384()), s));
    // Case matters: "hs256" is not HS256.
    ck_assert(!valid(hs_token("{\"alg\":\"hs256\"}", claims_uid())));
}
END_TEST

START_TEST(rs256_signed_with_hmac_secret_refused) {
    // The classic key-confusion forgery: alg RS256, HMAC'd with what the
    // attacker knows — the HMAC secret, or an RS public key.
    auto rsa = keygen("RSA");
    std::string pub = pem(rsa.get(), false);
    std::string t = hs_token("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", claims_uid(), EVP_sha256(), kSecret);
    ck_assert(!valid(t));
    JwtSettings rs;
    rs.algorithm = "RS256";
    rs.verify_key = pub;
    ck_assert(!valid(t, rs));
    ck_assert(!valid(hs_token("{\"alg\":\"RS256\"}", claims_uid(), EVP_sha256(), pub), rs));
    // An HS256 token HMAC'd with the public key, against an RS256 service.
    ck_assert(!valid(hs_token(kHS256, claims_uid(), EVP_sha256(), pub), rs));
    ck_assert(prepare_jwt_settings(rs, nullptr));
    ck_assert(!valid(t, rs));
    ck_assert(!valid(hs_token("{\"alg\":\"RS256\"}", claims_uid(), EVP_sha256(), pub), rs));
    // And a service misconfigured with a PEM as its HMAC secret refuses all.
    JwtSettings hs = hs_settings();
    hs.verify_key = pub;
    ck_assert(!valid(hs_token(kHS256, claims_uid(), EVP_sha256(), pub), hs));
}
END_TEST

START_TEST(rs256_and_es256) {
    auto rsa = keygen("RSA");
    auto ec = keygen("EC");
    JwtSettings rs;
    rs.algorithm = "RS256";
    rs.verify_key = pem(rsa.get(), false);
    rs.signing_key = pem(rsa.get(), true);
    JwtSettings es;
    es.algorithm = "ES256";
    es.verify_key = pem(ec.get(), false);
    es.signing_key = pem(ec.get(), true);

    std::string why;
    // Both paths: prepared (OpenSSL EVP on the parsed key) and not (libjwt).
    JwtSettings rs_prep = rs, es_prep = es;
    ck_assert_msg(prepare_jwt_settings(rs_prep, &why), "%s", why.c_str());
    ck_assert_msg(prepare_jwt_settings(es_prep, &why), "%s", why.c_str());
    ck_assert(rs_prep.prepared && es_prep.prepared && !rs.prepared && !es.prepared);
    for (bool prepared : {false, true}) {
        if (prepared) {
            rs = rs_prep;
            es = es_prep;
        }
        // Tokens signed as PyJWT would (OpenSSL directly, raw R||S for ES256).
        std::string rt = asym_token(rsa.get(), "{\"typ\":\"JWT\",\"alg\":\"RS256\"}", claims_uid(), false);
        auto id = verify_access_token(rt, rs, kNow, &why);
        ck_assert_msg(id.has_value(), "%s", why.c_str());
        ck_assert_int_eq(id->user_id, 42);
        std::string et = asym_token(ec.get(), "{\"typ\":\"JWT\",\"alg\":\"ES256\"}", claims_uid(), true);
        id = verify_access_token(et, es, kNow, &why);
        ck_assert_msg(id.has_value(), "%s", why.c_str());

        // Cross-configuration and tampering.
        ck_assert(!valid(rt, es));
        ck_assert(!valid(et, rs));
        ck_assert(!valid(rt));
        auto other = keygen("EC");
        JwtSettings es2 = es;
        es2.verify_key = pem(other.get(), false);
        ck_assert(!valid(et, es2));
        std::string bad = et;
        bad[bad.size() - 5] = bad[bad.size() - 5] == 'A' ? 'B' : 'A';
        ck_assert(!valid(bad, es));
        // Claims are still checked after a good signature.
        ck_assert(!valid(asym_token(rsa.get(), "{\"alg\":\"RS256\"}", claims("\"user_id\":42", kNow - 1), false), rs));
        ck_assert(!valid(asym_token(ec.get(), "{\"alg\":\"ES256\"}", claims("\"token_type\":\"refresh\""), true), es));

        // Minted with libjwt, verified.
        for (const JwtSettings* s : {&rs, &es}) {
            auto minted = mint_access_token(7, *s, kNow, 300, &why);
            ck_assert_msg(minted.has_value(), "%s", why.c_str());
            id = verify_access_token(*minted, *s, kNow, &why);
            ck_assert_msg(id.has_value(), "%s: %s", s->algorithm.c_str(), why.c_str());
            ck_assert_int_eq(id->user_id, 7);
        }
        // ES256 signature of the wrong length, or DER instead of R||S.
        std::string input = b64("{\"alg\":\"ES256\"}") + "." + b64(claims_uid());
        ck_assert(!valid(input + "." + b64(asym_sign(ec.get(), input, true) + "x"), es));
        ck_assert(!valid(input + "." + b64(asym_sign(ec.get(), input, true).substr(1)), es));
        ck_assert(!valid(input + "." + b64(std::string(64, '\0')), es));
        ck_assert(!valid(input + "." + b64(asym_sign(ec.get(), input, false)), es));
    }
    // A prepared key no longer matching verify_key is not used.
    JwtSettings changed = es_prep;
    changed.verify_key = pem(keygen("EC").get(), false);
    ck_assert(!valid(asym_token(ec.get(), "{\"alg\":\"ES256\"}", claims_uid(), true), changed));
}
END_TEST

START_TEST(prepare_settings) {
    std::string why;
    auto rsa = keygen("RSA");
    auto ec = keygen("EC");
    JwtSettings s = hs_settings();
    ck_assert(prepare_jwt_settings(s, &why));
    ck_assert(!s.prepared);  // nothing to parse for HMAC
    s.verify_key = pem(rsa.get(), false);
    ck_assert(!prepare_jwt_settings(s, &why));
    ck_assert_str_eq(why.c_str(), "the HMAC secret is an asymmetric key or certificate");
    s.verify_key = "ssh-rsa AAAAB3NzaC1yc2E";
    ck_assert(!prepare_jwt_settings(s, &why));
    s.verify_key.clear();
    ck_assert(!prepare_jwt_settings(s, &why));
    s = hs_settings();
    s.algorithm = "none";
    ck_assert(!prepare_jwt_settings(s, &why));
    s.algorithm = "RS256";
    s.verify_key = pem(ec.get(), false);
    ck_assert(!prepare_jwt_settings(s, &why));
    ck_assert_str_eq(why.c_str(), "verify key is not an RSA key");
    s.verify_key = "garbage";
    ck_assert(!prepare_jwt_settings(s, &why));
    ck_assert(!s.prepared);
    s.algorithm = "ES256";
    s.verify_key = pem(rsa.get(), false);
    ck_assert(!prepare_jwt_settings(s, &why));
    ck_assert_str_eq(why.c_str(), "verify key is not an EC P-256 key");
    PkeyPtr k1(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp256k1"));
    s.verify_key = pem(k1.get(), false);
    ck_assert(!prepare_jwt_settings(s, &why));
    s.verify_key = pem(ec.get(), false);
    ck_assert(prepare_jwt_settings(s, &why));
    ck_assert(s.prepared);
}
END_TEST

START_TEST(claim_rules) {
    std::string why;
    // token_type
    ck_assert(!valid(hs_token(kHS256, "{\"token_type\":\"refresh\",\"exp\":1700000300,\"jti\":\"x\",\"user_id\":1}"),
                     hs_settings(), kNow, &why));
    ck_assert_str_eq(why.c_str(), "token_type is not \"access\"");
    ck_assert(!valid(hs_token(kHS256, "{\"exp\":1700000300,\"jti\":\"x\",\"user_id\":1}")));
    ck_assert(!valid(hs_token(kHS256, "{\"token_type\":[\"access\"],\"exp\":1700000300,\"jti\":\"x\",\"user_id\":1}")));
    // exp / jti / user_id required
    ck_assert(!valid(hs_token(kHS256, "{\"token_type\":\"access\",\"jti\":\"x\",\"user_id\":1}"), hs_settings(), kNow, &why));
    ck_assert_str_eq(why.c_str(), "missing \"exp\"");
    ck_assert(!valid(hs_token(kHS256, "{\"token_type\":\"access\",\"exp\":\"1700000300\",\"jti\":\"x\",\"user_id\":1}")));
    ck_assert(!valid(hs_token(kHS256, "{\"token_type\":\"access\",\"exp\":true,\"jti\":\"x\",\"user_id\":1}")));
    ck_assert(!valid(hs_token(kHS256, "{\"token_type\":\"access\",\"exp\":1e300,\"jti\":\"x\",\"user_id\":1}")));
    ck_assert(!valid(hs_token(kHS256, "{\"token_type\":\"access\",\"exp\":1700000300,\"user_id\":1}"), hs_settings(), kNow, &why));
    ck_assert_str_eq(why.c_str(), "missing \"jti\"");
    ck_assert(!valid(hs_token(kHS256, claims()), hs_settings(), kNow, &why));
    ck_assert_str_eq(why.c_str(), "missing user id claim \"user_id\"");
    // A non-string jti is kept as JSON.
    auto id = verify_access_token(hs_token(kHS256, "{\"token_type\":\"access\",\"exp\":1700000300,\"jti\":17,\"user_id\":1}"),
                                  hs_settings(), kNow, &why);
    ck_assert(id && id->jti == "17");
}
END_TEST

START_TEST(user_id_forms) {
    auto uid = [](std::string_view v) {
        return verify_access_token(hs_token(kHS256, claims("\"user_id\":" + std::string(v))), hs_settings(), kNow,
                                   nullptr);
    };
    ck_assert_int_eq(uid("42")->user_id, 42);
    ck_assert_int_eq(uid("\"42\"")->user_id, 42);
    ck_assert_int_eq(uid("\"007\"")->user_id, 7);
    ck_assert_int_eq(uid("9223372036854775807")->user_id, INT64_MAX);
    ck_assert(!uid("\"9223372036854775808\""));  // overflow
    ck_assert(!uid("42.0"));
    ck_assert(!uid("4.2"));
    ck_assert(!uid("true"));
    ck_assert(!uid("false"));
    ck_assert(!uid("null"));
    ck_assert(!uid("\"abc\""));
    ck_assert(!uid("\"\""));
    ck_assert(!uid("\"-1\""));
    ck_assert(!uid("\" 42\""));
    ck_assert(!uid("\"+42\""));
    ck_assert(!uid("\"4e2\""));
    ck_assert(!uid("0"));
    ck_assert(!uid("-5"));
    ck_assert(!uid("[42]"));
    ck_assert(!uid("{}"));
    // A configurable claim name.
    JwtSettings s = hs_settings();
    s.user_id_claim = "uid";
    ck_assert(!valid(hs_token(kHS256, claims_uid()), s));
    auto id = verify_access_token(hs_token(kHS256, claims("\"uid\":\"9\"")), s, kNow, nullptr);
    ck_assert(id && id->user_id == 9);
}
END_TEST

START_TEST(issuer_and_audience) {
    JwtSettings s = hs_settings();
    s.issuer = "https://auth.example.com";
    ck_assert(valid(hs_token(kHS256, claims_uid("\"iss\":\"https://auth.example.com\"")), s));
    ck_assert(!valid(hs_token(kHS256, claims_uid("\"iss\":\"https://evil.example.com\"")), s));
    ck_assert(!valid(hs_token(kHS256, claims_uid("\"iss\":[\"https://auth.example.com\"]")), s));
    ck_assert(!valid(hs_token(kHS256, claims_uid()), s));
    // Not configured: iss ignored.
    ck_assert(valid(hs_token(kHS256, claims_uid("\"iss\":\"anyone\""))));

    s = hs_settings();
    s.audience = "talentd";
    ck_assert(valid(hs_token(kHS256, claims_uid("\"aud\":\"talentd\"")), s));
    ck_assert(valid(hs_token(kHS256, claims_uid("\"aud\":[\"other\",\"talentd\"]")), s));
    ck_assert(!valid(hs_token(kHS256, claims_uid("\"aud\":\"other\"")), s));
    ck_assert(!valid(hs_token(kHS256, claims_uid("\"aud\":[\"other\"]")), s));
    ck_assert(!valid(hs_token(kHS256, claims_uid("\"aud\":[\"talentd\",1]")), s));
    ck_assert(!valid(hs_token(kHS256, claims_uid("\"aud\":{\"talentd\":1}")), s));
    ck_assert(!valid(hs_token(kHS256, claims_uid("\"aud\":[]")), s));
    ck_assert(!valid(hs_token(kHS256, claims_uid()), s));
    // Not configured but present and non-empty: PyJWT's InvalidAudienceError.
    ck_assert(!valid(hs_token(kHS256, claims_uid("\"aud\":\"talentd\""))));
    ck_assert(!valid(hs_token(kHS256, claims_uid("\"aud\":[\"talentd\"]"))));
    ck_assert(valid(hs_token(kHS256, claims_uid("\"aud\":\"\""))));
    ck_assert(valid(hs_token(kHS256, claims_uid("\"aud\":null"))));
}
END_TEST

START_TEST(malformed_tokens) {
    std::string good = hs_token(kHS256, claims_uid());
    size_t d1 = good.find('.'), d2 = good.rfind('.');
    std::string sig = good.substr(d2);
    auto signed_raw = [](std::string_view h, std::string_view p) {
        std::string input = std::string(h) + "." + std::string(p);
        return input + "." + b64(hmac(EVP_sha256(), kSecret, input));
    };
    ck_assert(!valid(""));
    ck_assert(!valid("."));
    ck_assert(!valid(".."));
    ck_assert(!valid("abc"));
    ck_assert(!valid(good.substr(0, d2)));           // two segments
    ck_assert(!valid(good + ".AAAA"));              // four segments
    ck_assert(!valid(good + "."));
    ck_assert(!valid(" " + good));
    ck_assert(!valid(good.substr(0, d1) + "=" + good.substr(d1)));
    // Bad base64url (even when correctly HMAC'd over the text).
    ck_assert(!valid(signed_raw("eyJ!bGciOiJIUzI1NiJ9", b64(claims_uid()))));
    ck_assert(!valid(signed_raw(b64(kHS256), b64(claims_uid()) + "=")));
    ck_assert(!valid(signed_raw(b64(kHS256), "A")));
    // Bad JSON, non-objects, duplicate keys, trailing garbage.
    ck_assert(!valid(hs_token("{\"alg\":\"HS256\"", claims_uid())));
    ck_assert(!valid(hs_token("[\"HS256\"]", claims_uid())));
    ck_assert(!valid(hs_token("\"HS256\"", claims_uid())));
    ck_assert(!valid(hs_token("{\"alg\":\"HS256\",\"alg\":\"none\"}", claims_uid())));
    ck_assert(!valid(hs_token(kHS256, "{\"token_type\":\"access\"")));
    ck_assert(!valid(hs_token(kHS256, "[1,2,3]")));
    ck_assert(!valid(hs_token(kHS256, "null")));
    ck_assert(!valid(hs_token(kHS256, claims_uid() + "x")));
    ck_assert(!valid(hs_token(kHS256, claims("\"user_id\":1,\"user_id\":2"))));
    ck_assert(!valid(hs_token(kHS256, std::string("{\"a\":\"\0\"}", 10))));
    ck_assert(!valid(hs_token(kHS256, "")));
    (void)sig;
}
END_TEST

START_TEST(oversized_token) {
    std::string why;
    std::string big = hs_token(kHS256, claims_uid("\"pad\":\"" + std::string(100 * 1024, 'x') + "\""));
    ck_assert(!valid(big, hs_settings(), kNow, &why));
    ck_assert_str_eq(why.c_str(), "token too long");
    std::string junk(100 * 1024, 'A');
    ck_assert(!valid(junk, hs_settings(), kNow, &why));
    ck_assert_str_eq(why.c_str(), "token too long");
    // Just under the cap is parsed normally.
    std::string pad(5000, 'y');
    ck_assert(valid(hs_token(kHS256, claims_uid("\"pad\":\"" + pad + "\""))));
}
END_TEST

START_TEST(mint_round_trip) {
    std::string why;
    for (const char* alg : {"HS256", "HS384", "HS512"}) {
        JwtSettings s = hs_settings();
        s.algorithm = alg;
        s.issuer = "https://auth.example.com";
        s.audience = "talentd";
        s.user_id_claim = "uid";
        auto t = mint_access_token(123, s, kNow, 300, &why);
        ck_assert_msg(t.has_value(), "%s", why.c_str());
        auto id = verify_access_token(*t, s, kNow + 299, &why);
        ck_assert_msg(id.has_value(), "%s: %s", alg, why.c_str());
        ck_assert_int_eq(id->user_id, 123);
        ck_assert_int_eq(id->expires_at, kNow + 300);
        ck_assert_uint_eq(id->jti.size(), 32u);
        ck_assert_uint_eq(id->jti.find_first_not_of("0123456789abcdef"), std::string::npos);
        ck_assert(!verify_access_token(*t, s, kNow + 300, &why));
        ck_assert_str_eq(why.c_str(), "expired");

        // The header and claims as simplejwt writes them.
        std::string header, payload;
        size_t d1 = t->find('.'), d2 = t->rfind('.');
        ck_assert(base64url_decode(std::string_view(*t).substr(0, d1), &header));
        ck_assert(base64url_decode(std::string_view(*t).substr(d1 + 1, d2 - d1 - 1), &payload));
        ck_assert_msg(header.find(std::string("\"alg\":\"") + alg + "\"") != std::string::npos, "%s", header.c_str());
        ck_assert_msg(header.find("\"typ\":\"JWT\"") != std::string::npos, "%s", header.c_str());
        for (const char* c : {"\"token_type\":\"access\"", "\"uid\":123", "\"iss\":\"https://auth.example.com\"",
                              "\"aud\":\"talentd\"", "\"iat\":1700000000", "\"exp\":1700000300"})
            ck_assert_msg(payload.find(c) != std::string::npos, "%s lacks %s", payload.c_str(), c);
    }
    // Two tokens never share a jti.
    auto a = mint_access_token(1, hs_settings(), kNow, 60, nullptr);
    auto b = mint_access_token(1, hs_settings(), kNow, 60, nullptr);
    ck_assert(a && b && *a != *b);
    // Unusable arguments.
    ck_assert(!mint_access_token(0, hs_settings(), kNow, 60, &why));
    ck_assert(!mint_access_token(1, hs_settings(), kNow, 0, &why));
    JwtSettings s = hs_settings();
    s.signing_key.clear();
    ck_assert(!mint_access_token(1, s, kNow, 60, &why));
    s = hs_settings();
    s.algorithm = "none";
    ck_assert(!mint_access_token(1, s, kNow, 60, &why));
    s = hs_settings();
    s.user_id_claim = "exp";
    ck_assert(!mint_access_token(1, s, kNow, 60, &why));
    s = hs_settings();
    s.algorithm = "RS256";
    s.signing_key = "not a pem";
    ck_assert(!mint_access_token(1, s, kNow, 60, &why));
}
END_TEST

START_TEST(settings_from_config) {
    talentd::Config c;
    c.jwt_secret = "s";
    c.jwt_public_key = "pub";
    c.jwt_private_key = "priv";
    c.jwt_leeway = 5;
    c.jwt_issuer = "i";
    c.jwt_audience = "a";
    c.jwt_user_id_claim = "uid";
    JwtSettings s = jwt_settings_from(c);
    ck_assert_str_eq(s.algorithm.c_str(), "HS256");
    ck_assert_str_eq(s.verify_key.c_str(), "s");
    ck_assert_str_eq(s.signing_key.c_str(), "s");
    ck_assert_int_eq(s.leeway, 5);
    ck_assert_str_eq(s.issuer.c_str(), "i");
    ck_assert_str_eq(s.audience.c_str(), "a");
    ck_assert_str_eq(s.user_id_claim.c_str(), "uid");
    c.jwt_algorithm = "ES256";
    s = jwt_settings_from(c);
    ck_assert_str_eq(s.verify_key.c_str(), "pub");
    ck_assert_str_eq(s.signing_key.c_str(), "priv");
    ck_assert(jwt_algorithm_supported("RS256"));
    ck_assert(!jwt_algorithm_supported("none"));
    ck_assert(!jwt_algorithm_supported("RS512"));
}
END_TEST

// The reason names the refused alg only when it is short and alphanumeric:
// anything else from the token stays out of the log line.
START_TEST(refused_alg_in_reason) {
    auto reason = [](std::string_view header) {
        std::string why;
        ck_assert(!valid(hs_token(header, claims_uid()), hs_settings(), kNow, &why));
        return why;
    };
    CK_STR_EQ(reason("{\"alg\":\"AZaz09\"}"), "alg \"AZaz09\" refused (configured HS256)");
    CK_STR_EQ(reason("{\"alg\":\"ABCDEFGHIJ\"}"), "alg \"ABCDEFGHIJ\" refused (configured HS256)");
    CK_STR_EQ(reason("{\"alg\":\"ABCDEFGHIJK\"}"), "alg (unrecognised) refused (configured HS256)");
    CK_STR_EQ(reason("{\"alg\":\"\"}"), "alg (unrecognised) refused (configured HS256)");
    for (const char* bad : {"HS$56", "HS 256", "HS@", "HS[", "HS`", "HS{", "HS/", "HS:", "HS\\n"})
        CK_STR_EQ(reason("{\"alg\":\"" + std::string(bad) + "\"}"), "alg (unrecognised) refused (configured HS256)");
    CK_STR_EQ(reason("{\"alg\":256}"), "alg (not a string) refused (configured HS256)");
    CK_STR_EQ(reason("{\"typ\":\"JWT\"}"), "no alg (configured HS256)");
}
END_TEST

// A NumericDate beyond ±4.6e18 is refused rather than cast (the cast of 1e300
// gives INT64_MIN, which would make any nbf valid).
START_TEST(numeric_date_limits) {
    std::string why;
    auto with = [](std::string_view claim) {
        return hs_token(kHS256, "{\"token_type\":\"access\",\"jti\":\"x\",\"user_id\":1," + std::string(claim) + "}");
    };
    ck_assert(!valid(with("\"exp\":4.6e18"), hs_settings(), kNow, &why));
    CK_STR_EQ(why, "\"exp\" is not a number");
    ck_assert_msg(valid(with("\"exp\":4.5e18"), hs_settings(), kNow, &why), "%s", why.c_str());
    ck_assert(!valid(with("\"exp\":1700000300,\"nbf\":1e300"), hs_settings(), kNow, &why));
    CK_STR_EQ(why, "\"nbf\" is not a number");
    ck_assert(!valid(with("\"exp\":1700000300,\"nbf\":-1e300"), hs_settings(), kNow, &why));
    CK_STR_EQ(why, "\"nbf\" is not a number");
    ck_assert(!valid(with("\"exp\":1700000300,\"nbf\":4.6e18")));
    // A real nbf is truncated like an integer one.
    ck_assert(valid(with("\"exp\":1700000300,\"nbf\":1700000000.9")));
    ck_assert(!valid(with("\"exp\":1700000300,\"nbf\":1700000001.0")));
}
END_TEST

// With no audience configured, "aud" is refused exactly when Python finds it
// truthy (PyJWT: `if not payload["aud"]`... skips only falsy values).
START_TEST(unconfigured_audience_truthiness) {
    for (const char* falsy : {"null", "false", "0", "0.0", "\"\"", "[]", "{}"})
        ck_assert_msg(valid(hs_token(kHS256, claims_uid(std::string("\"aud\":") + falsy))), "aud %s refused", falsy);
    for (const char* truthy : {"true", "1", "5", "-1", "0.5", "\"x\"", "[\"\"]", "[1]", "{\"a\":1}", "{\"a\":1,\"b\":2}"}) {
        std::string why;
        ck_assert_msg(!valid(hs_token(kHS256, claims_uid(std::string("\"aud\":") + truthy)), hs_settings(), kNow, &why),
                      "aud %s accepted", truthy);
        CK_STR_EQ(why, "token has \"aud\" but no jwt_audience is configured");
    }
}
END_TEST

START_TEST(user_id_string_bounds) {
    auto uid = [](std::string_view v) {
        return verify_access_token(hs_token(kHS256, claims("\"user_id\":" + std::string(v))), hs_settings(), kNow,
                                   nullptr);
    };
    ck_assert(!uid("\"0\""));
    ck_assert(!uid("\"000\""));
    auto one = uid("\"1\"");
    ck_assert_msg(one && one->user_id == 1, "user id \"1\" refused");
    auto nine = uid("\"9876543210\"");
    ck_assert_msg(nine && nine->user_id == 9876543210, "user id \"9876543210\" misread");
    ck_assert(!uid("\"99999999999999999999\""));  // the multiplication overflows
    ck_assert(!uid("\"4/\""));
    ck_assert(!uid("\"4:\""));
}
END_TEST

// The HMAC is compared over its whole length: a signature with the right
// MAC followed by more bytes is not the signature.
START_TEST(hmac_signature_exact_length) {
    std::string input = b64(kHS256) + "." + b64(claims_uid());
    std::string mac = hmac(EVP_sha256(), kSecret, input);
    ck_assert(valid(input + "." + b64(mac)));
    std::string why;
    ck_assert(!valid(input + "." + b64(mac + std::string(1, '\0')), hs_settings(), kNow, &why));
    CK_STR_EQ(why, "bad signature");
    ck_assert(!valid(input + "." + b64(mac + mac), hs_settings(), kNow, &why));
    CK_STR_EQ(why, "bad signature");
    ck_assert(!valid(input + "." + b64(mac.substr(0, 31)), hs_settings(), kNow, &why));
    CK_STR_EQ(why, "bad signature");
}
END_TEST

// PyJWT ignores "typ"; libjwt refuses one other than "JWT".  Prepared settings
// verify with OpenSSL, as PyJWT would: a token with typ "at+jwt" is taken.
// This tells the prepared path from the libjwt fallback.
START_TEST(prepared_key_is_used) {
    auto rsa = keygen("RSA");
    auto ec = keygen("EC");
    for (auto [alg, key] : {std::pair{"RS256", rsa.get()}, std::pair{"ES256", ec.get()}}) {
        bool ec_alg = std::string_view(alg) == "ES256";
        std::string header = std::string("{\"alg\":\"") + alg + "\",\"typ\":\"at+jwt\"}";
        std::string t = asym_token(key, header, claims_uid(), ec_alg);
        JwtSettings s;
        s.algorithm = alg;
        s.verify_key = pem(key, false);
        std::string why;
        ck_assert_msg(!verify_access_token(t, s, kNow, &why), "%s: libjwt took typ at+jwt", alg);
        ck_assert_msg(prepare_jwt_settings(s, &why), "%s", why.c_str());
        ck_assert_msg(verify_access_token(t, s, kNow, &why), "%s prepared: %s", alg, why.c_str());

        talentd::Config c;
        c.jwt_algorithm = alg;
        c.jwt_public_key = pem(key, false);
        c.jwt_private_key = pem(key, true);
        JwtSettings from = jwt_settings_from(c);
        CK_STR_EQ(from.algorithm, alg);
        ck_assert_msg(from.prepared, "%s: jwt_settings_from did not prepare the key", alg);
        ck_assert_msg(verify_access_token(t, from, kNow, &why), "%s from config: %s", alg, why.c_str());
    }
}
END_TEST

// A failed (re-)preparation leaves no key prepared from before.
START_TEST(prepare_resets_the_prepared_key) {
    auto ec = keygen("EC");
    std::string why;
    JwtSettings s;
    s.algorithm = "ES256";
    s.verify_key = pem(ec.get(), false);
    ck_assert(prepare_jwt_settings(s, &why));
    ck_assert(s.prepared);
    s.verify_key = "garbage";
    ck_assert(!prepare_jwt_settings(s, &why));
    CK_STR_EQ(why, "verify key is not a PEM public key");
    ck_assert_msg(!s.prepared, "the old key stayed prepared");

    s.verify_key = pem(ec.get(), false);
    ck_assert(prepare_jwt_settings(s, &why));
    s.algorithm = "HS256";
    s.verify_key = kSecret;
    ck_assert(prepare_jwt_settings(s, &why));
    ck_assert_msg(!s.prepared, "an ES256 key stayed prepared for HS256");

    // Each SSH public key form is refused as an HMAC secret, like PEM.
    for (const char* k : {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "ecdsa-sha2-nistp256 AAAAE2VjZHNh"}) {
        s = hs_settings();
        s.verify_key = k;
        ck_assert_msg(!prepare_jwt_settings(s, &why), "%s taken as a secret", k);
        ck_assert_msg(!valid(hs_token(kHS256, claims_uid(), EVP_sha256(), k), s), "%s taken as a secret", k);
        s.signing_key = k;
        ck_assert_msg(!mint_access_token(1, s, kNow, 60, &why), "%s signs", k);
    }
}
END_TEST

START_TEST(token_length_limit_is_inclusive) {
    std::string t = hs_token(kHS256, claims_uid());
    JwtSettings s = hs_settings();
    s.max_token_length = t.size();
    ck_assert(valid(t, s));
    s.max_token_length = t.size() - 1;
    std::string why;
    ck_assert(!valid(t, s, kNow, &why));
    CK_STR_EQ(why, "token too long");
}
END_TEST

// The segment split: the reasons tell which step refused.
START_TEST(segment_split_reasons) {
    std::string good = hs_token(kHS256, claims_uid());
    size_t d1 = good.find('.'), d2 = good.rfind('.');
    std::string why;
    const std::string cases[] = {good + ".AAAA", good + ".", good.substr(0, d2) + ".." + good.substr(d2 + 1),
                                 good.substr(0, d2) + ".A." + good.substr(d2 + 1), good.substr(0, d1), "a.b",
                                 good.substr(0, d1) + "..." + good.substr(d2 + 1)};
    for (size_t i = 0; i < std::size(cases); ++i) {
        ck_assert(!valid(cases[i], hs_settings(), kNow, &why));
        ck_assert_msg(why == "not three segments", "case %zu: %s", i, why.c_str());
    }
    // An empty payload, correctly signed: split in three, refused as not JSON.
    std::string input = b64(kHS256) + ".";
    ck_assert(!valid(input + "." + b64(hmac(EVP_sha256(), kSecret, input)), hs_settings(), kNow, &why));
    CK_STR_EQ(why, "payload: not JSON");
    input = b64(kHS256) + ".QQ";  // "A"
    ck_assert(!valid(input + "." + b64(hmac(EVP_sha256(), kSecret, input)), hs_settings(), kNow, &why));
    CK_STR_EQ(why, "payload: not JSON");
}
END_TEST

START_TEST(mint_limits) {
    std::string why;
    JwtSettings s = hs_settings();
    auto t = mint_access_token(1, s, kNow, 1, &why);
    ck_assert_msg(t.has_value(), "a one-second lifetime refused: %s", why.c_str());
    auto id = verify_access_token(*t, s, kNow, &why);
    ck_assert_msg(id && id->expires_at == kNow + 1 && id->user_id == 1, "%s", why.c_str());
    ck_assert(!mint_access_token(1, s, kNow, -1, &why));
    CK_STR_EQ(why, "lifetime must be positive");
    ck_assert(!mint_access_token(-1, s, kNow, 60, &why));
    CK_STR_EQ(why, "user id must be positive");
    s.user_id_claim.clear();
    ck_assert(!mint_access_token(1, s, kNow, 60, &why));
    CK_STR_EQ(why, "empty user id claim name");
    s = hs_settings();
    s.signing_key = pem(keygen("EC").get(), false);
    ck_assert(!mint_access_token(1, s, kNow, 60, &why));
    CK_STR_EQ(why, "the HMAC secret is an asymmetric key");
}
END_TEST

// jti: 32 hex digits from 16 random bytes; both digits of a byte take all 16
// values over many tokens (a wrong shift or mask would pin some of them).
START_TEST(jti_digits_are_random) {
    std::vector<std::string> seen;
    bool high[16] = {}, low[16] = {};
    for (int i = 0; i < 64; ++i) {
        auto t = mint_access_token(1, hs_settings(), kNow, 60, nullptr);
        ck_assert(t.has_value());
        auto id = verify_access_token(*t, hs_settings(), kNow, nullptr);
        ck_assert(id.has_value());
        ck_assert_uint_eq(id->jti.size(), 32u);
        for (size_t k = 0; k < 32; ++k) {
            int v = std::string_view("0123456789abcdef").find(id->jti[k]);
            ck_assert_msg(v >= 0, "jti %s is not hex", id->jti.c_str());
            (k % 2 ? low : high)[v] = true;
        }
        for (const auto& other : seen) ck_assert_msg(other != id->jti, "jti %s twice", other.c_str());
        seen.push_back(id->jti);
    }
    for (int v = 0; v < 16; ++v) {
        ck_assert_msg(high[v], "no jti byte had high digit %x", v);
        ck_assert_msg(low[v], "no jti byte had low digit %x", v);
    }
}
END_TEST

// A key of the wrong type is freed when refused: preparation runs at every
// start and SIGHUP, and a refused key must not stay allocated each time.
START_TEST(refused_key_is_freed) {
    auto rsa = keygen("RSA");
    JwtSettings s;
    s.algorithm = "ES256";
    s.verify_key = pem(rsa.get(), false);
    std::string why;
    for (int i = 0; i < 20; ++i) ck_assert(!prepare_jwt_settings(s, &why));  // OpenSSL's own caches filled
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < 500; ++i) ck_assert(!prepare_jwt_settings(s, &why));
    size_t after = mallinfo2().uordblks;
    CK_STR_EQ(why, "verify key is not an EC P-256 key");
    // An RSA-2048 EVP_PKEY holds well over 1 KiB: 500 leaked ones, far more than 64 KiB.
    ck_assert_msg(after < before + 64 * 1024, "500 refused keys left %zu bytes allocated", after - before);
}
END_TEST

// Not a pass/fail test: the cost of verification, printed for the record.
START_TEST(verify_speed) {
    JwtSettings s = hs_settings();
    std::string t = *mint_access_token(42, s, kNow, 300, nullptr);
    const int n = 20000;
    auto start = std::chrono::steady_clock::now();
    int ok = 0;
    for (int i = 0; i < n; ++i) ok += verify_access_token(t, s, kNow, nullptr).has_value();
    double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / n;
    ck_assert_int_eq(ok, n);
    std::printf("HS256 verify: %.2f us/token\n", us);

    auto ec = keygen("EC");
    auto rsa = keygen("RSA");
    for (auto [alg, key] : {std::pair{"RS256", rsa.get()}, std::pair{"ES256", ec.get()}}) {
        JwtSettings a;
        a.algorithm = alg;
        a.verify_key = pem(key, false);
        a.signing_key = pem(key, true);
        std::string at = *mint_access_token(42, a, kNow, 300, nullptr);
        for (bool prepared : {false, true}) {
            if (prepared) ck_assert(prepare_jwt_settings(a, nullptr));
            const int m = 300;
            start = std::chrono::steady_clock::now();
            for (int i = 0; i < m; ++i) ck_assert(verify_access_token(at, a, kNow, nullptr).has_value());
            us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / m;
            std::printf("%s verify (%s): %.2f us/token\n", alg, prepared ? "prepared, OpenSSL EVP" : "libjwt", us);
        }
    }
}
END_TEST

// --- credentials ------------------------------------------------------------

START_TEST(bearer_parsing) {
    std::string tok;
    ck_assert(parse_bearer("Bearer x", &tok) == BearerParse::Token);
    ck_assert_str_eq(tok.c_str(), "x");
    ck_assert(parse_bearer("  Bearer \t abc.def.ghi  ", &tok) == BearerParse::Token);
    ck_assert_str_eq(tok.c_str(), "abc.def.ghi");
    ck_assert(parse_bearer("Bearer", &tok) == BearerParse::Malformed);
    ck_assert(parse_bearer("Bearer   ", &tok) == BearerParse::Malformed);
    ck_assert(parse_bearer("Bearer a b", &tok) == BearerParse::Malformed);
    ck_assert(parse_bearer("Bearer a b c d", &tok) == BearerParse::Malformed);
    ck_assert(parse_bearer("Basic x", &tok) == BearerParse::Absent);
    ck_assert(parse_bearer("", &tok) == BearerParse::Absent);
    ck_assert(parse_bearer("   ", &tok) == BearerParse::Absent);
    ck_assert(parse_bearer("bearer x", &tok) == BearerParse::Absent);
    ck_assert(parse_bearer("BEARER x", &tok) == BearerParse::Absent);
    ck_assert(parse_bearer("Bearerx", &tok) == BearerParse::Absent);
    ck_assert(parse_bearer("JWT x", &tok) == BearerParse::Absent);
    ck_assert(parse_bearer("Bearer x", nullptr) == BearerParse::Token);
}
END_TEST

START_TEST(cookie_parsing) {
    auto cv = [](std::string_view h, std::string_view n) { return cookie_value(h, n); };
    CK_STR_EQ(*cv("access_token=abc", "access_token"), "abc");
    CK_STR_EQ(*cv("a=1; access_token=abc.def.ghi; b=2", "access_token"), "abc.def.ghi");
    CK_STR_EQ(*cv("a=1;access_token = abc ;b=2", "access_token"), "abc");
    CK_STR_EQ(*cv("access_token=\"abc\"", "access_token"), "abc");
    CK_STR_EQ(*cv("access_token=\"a\\\"b\\\\c\\073\"", "access_token"), "a\"b\\c;");
    CK_STR_EQ(*cv("access_token=a=b=c", "access_token"), "a=b=c");
    CK_STR_EQ(*cv("access_token=", "access_token"), "");
    CK_STR_EQ(*cv("access_token=\"", "access_token"), "\"");
    CK_STR_EQ(*cv("access_token=1; access_token=2", "access_token"), "2");  // Django: last wins
    ck_assert(!cv("", "access_token"));
    ck_assert(!cv("access_token", "access_token"));
    ck_assert(!cv("xaccess_token=1; access_tokenx=2", "access_token"));
    ck_assert(!cv("Access_Token=1", "access_token"));
    ck_assert(!cv("a=1", ""));
    ck_assert(!cv(";;; ;", "access_token"));
}
END_TEST

START_TEST(csrf_rules) {
    std::vector<std::string> trusted = {"https://app.example.com", "http://localhost:8080",
                                        "https://*.partner.example.org"};
    ck_assert(!csrf_origin_failure("https://app.example.com", "", trusted));
    ck_assert(!csrf_origin_failure("https://APP.example.com", "", trusted));
    ck_assert(!csrf_origin_failure("http://localhost:8080", "", trusted));
    ck_assert(!csrf_origin_failure("https://a.partner.example.org", "", trusted));
    ck_assert(!csrf_origin_failure("https://a.b.partner.example.org", "", trusted));
    ck_assert(!csrf_origin_failure("https://partner.example.org", "", trusted));
    // Origin wins over Referer.
    ck_assert(!csrf_origin_failure("https://app.example.com", "https://evil.com/x", trusted));
    auto f = csrf_origin_failure("https://evil.com", "https://app.example.com/", trusted);
    ck_assert(f.has_value());
    ck_assert_str_eq(f->c_str(),
                     "CSRF Failed: Origin checking failed - https://evil.com does not match any trusted origins.");
    for (const char* o : {"null", "http://app.example.com", "https://app.example.com:444", "https://app.example.com.evil.com",
                          "https://evilpartner.example.org", "http://a.partner.example.org",
                          "https://a.partner.example.org:8443", "https://x@a.partner.example.org",
                          "https://evil.com/.partner.example.org", "http://localhost"})
        ck_assert_msg(csrf_origin_failure(o, "", trusted).has_value(), "%s trusted", o);
    // Referer only.
    ck_assert(!csrf_origin_failure("", "https://app.example.com/profile/edit?x=1", trusted));
    ck_assert(!csrf_origin_failure("", "https://app.example.com", trusted));
    ck_assert(!csrf_origin_failure("", "http://localhost:8080/#frag", trusted));
    f = csrf_origin_failure("", "https://evil.com/page", trusted);
    ck_assert_str_eq(f->c_str(),
                     "CSRF Failed: Referer checking failed - https://evil.com/page does not match any trusted origins.");
    ck_assert(csrf_origin_failure("", "https://app.example.com.evil.com/", trusted).has_value());
    ck_assert(csrf_origin_failure("", "https://user@app.example.com/", trusted).has_value());
    f = csrf_origin_failure("", "app.example.com/page", trusted);
    ck_assert_str_eq(f->c_str(), "CSRF Failed: Referer checking failed - Referer is malformed.");
    ck_assert(csrf_origin_failure("", "https:///path", trusted).has_value());
    f = csrf_origin_failure("", "", trusted);
    ck_assert_str_eq(f->c_str(), "CSRF Failed: Referer checking failed - no Referer.");
    // Nothing trusted.
    ck_assert(csrf_origin_failure("https://app.example.com", "", {}).has_value());

    ck_assert(is_trusted_origin("https://app.example.com", trusted));
    ck_assert(!is_trusted_origin("null", {"null"}));
    ck_assert(!is_trusted_origin("", trusted));
}
END_TEST

// Python's http.cookies._unquote, escape by escape: \ooo only with three
// octal digits and a first digit 0-3, anything else after a backslash is
// the character itself, a lone trailing backslash stays.
START_TEST(cookie_unquoting) {
    auto cv = [](std::string_view quoted) { return *cookie_value("access_token=" + std::string(quoted), "access_token"); };
    CK_STR_EQ(cv("\"\""), "");
    CK_STR_EQ(cv("\"abc"), "\"abc");
    CK_STR_EQ(cv("abc\""), "abc\"");
    CK_STR_EQ(cv("\"abc\\\""), "abc\\");
    CK_STR_EQ(cv("\"ab\\c\""), "abc");
    CK_STR_EQ(cv("\"\\073abc\""), ";abc");
    CK_STR_EQ(cv("\"-\\073\""), "-;");
    CK_STR_EQ(cv("\"\\100\""), "@");
    CK_STR_EQ(cv("\"a\\101b\""), "aAb");
    CK_STR_EQ(cv("\"\\047\""), "'");
    // Bytes from \200 to \377 come out as one byte each (Python gives the
    // code point; a token never holds one, so it is refused either way).
    CK_STR_EQ(cv("\"\\377\""), "\xff");
    CK_STR_EQ(cv("\"\\400\""), "400");
    CK_STR_EQ(cv("\"\\+01\""), "+01");
    CK_STR_EQ(cv("\"\\ab7\""), "ab7");
    CK_STR_EQ(cv("\"ab\\0+7\""), "ab0+7");
    CK_STR_EQ(cv("\"1+\\080\""), "1+080");
    CK_STR_EQ(cv("\"abc\\01+x\""), "abc01+x");
    CK_STR_EQ(cv("\"1+-\\018\""), "1+-018");
    CK_STR_EQ(cv("\"\\07\""), "07");
}
END_TEST

// Django's Referer check takes scheme://host[:port] of an absolute URL
// (RFC 3986 scheme: a letter, then letters, digits, '+', '-', '.').
START_TEST(referer_origin_rules) {
    std::vector<std::string> trusted = {"z+aZA-.09://app.example.com", "http://h", "https://app.example.com"};
    ck_assert(!csrf_origin_failure("", "z+aZA-.09://app.example.com/x", trusted));
    ck_assert(!csrf_origin_failure("", "http://h/x", trusted));
    const std::string malformed = "CSRF Failed: Referer checking failed - Referer is malformed.";
    for (const char* r : {"://app.example.com/", "1http://app.example.com/", "ht_tp://app.example.com/",
                          "https:///path", "https://?x", "https://#x", "https://", "+http://app.example.com/"}) {
        auto f = csrf_origin_failure("", r, trusted);
        ck_assert_msg(f && *f == malformed, "%s: %s", r, f ? f->c_str() : "trusted");
    }
    for (const char* r : {"a://app.example.com/", "xttps://app.example.com/", "https://app.example.co/"}) {
        auto f = csrf_origin_failure("", r, trusted);
        std::string want = "CSRF Failed: Referer checking failed - " + std::string(r) + " does not match any trusted origins.";
        ck_assert_msg(f && *f == want, "%s: %s", r, f ? f->c_str() : "trusted");
    }
}
END_TEST

START_TEST(trusted_origin_rules) {
    // Exact entries compare every character, the first one too.
    ck_assert(is_trusted_origin("https://app.example.com", {"https://app.example.com"}));
    ck_assert(!is_trusted_origin("xttps://app.example.com", {"https://app.example.com"}));
    ck_assert(!is_trusted_origin("https://app.example.cox", {"https://app.example.com"}));
    // Wildcards: every host character class at its edges, a port.
    std::vector<std::string> wild = {"https://*.partner.example.org", "https://*.example.net:8443"};
    for (const char* o : {"https://aZ-09.zA.partner.example.org", "https://a.example.net:8443",
                          "https://.partner.example.org" /* Django's is_same_domain: ".x" ends with ".x" */})
        ck_assert_msg(is_trusted_origin(o, wild), "%s refused", o);
    for (const char* o : {"https://a@.partner.example.org", "https://a`.partner.example.org",
                          "https://a{.partner.example.org", "https://a[.partner.example.org",
                          "https://a/.partner.example.org", "https://a;.partner.example.org",
                          "https://a.example.net:8444", "https://a.example.net"})
        ck_assert_msg(!is_trusted_origin(o, wild), "%s trusted", o);
    // A one-letter host is the suffix itself; "https://" has no host at all.
    ck_assert(is_trusted_origin("https://x", {"https://*.x"}));
    ck_assert(is_trusted_origin("https://y.x", {"https://*.x"}));
    ck_assert(!is_trusted_origin("https://", {"https://*.x"}));
    ck_assert(!is_trusted_origin("https://", {"https://*."}));
}
END_TEST

int main() {
    Suite* suite = suite_create("auth");
    TCase* jwt = tcase_create("jwt");
    tcase_set_timeout(jwt, 60);
    tcase_add_test(jwt, base64url_round_trip);
    tcase_add_test(jwt, base64url_rfc4648_vectors);
    tcase_add_test(jwt, base64url_alphabet);
    tcase_add_test(jwt, valid_token);
    tcase_add_test(jwt, expired_and_leeway);
    tcase_add_test(jwt, nbf_checks);
    tcase_add_test(jwt, wrong_key_and_tampering);
    tcase_add_test(jwt, alg_none_refused);
    tcase_add_test(jwt, crit_header_refused);
    tcase_add_test(jwt, switched_hs512_refused);
    tcase_add_test(jwt, rs256_signed_with_hmac_secret_refused);
    tcase_add_test(jwt, rs256_and_es256);
    tcase_add_test(jwt, prepare_settings);
    tcase_add_test(jwt, claim_rules);
    tcase_add_test(jwt, user_id_forms);
    tcase_add_test(jwt, issuer_and_audience);
    tcase_add_test(jwt, malformed_tokens);
    tcase_add_test(jwt, oversized_token);
    tcase_add_test(jwt, mint_round_trip);
    tcase_add_test(jwt, settings_from_config);
    tcase_add_test(jwt, refused_alg_in_reason);
    tcase_add_test(jwt, numeric_date_limits);
    tcase_add_test(jwt, unconfigured_audience_truthiness);
    tcase_add_test(jwt, user_id_string_bounds);
    tcase_add_test(jwt, hmac_signature_exact_length);
    tcase_add_test(jwt, prepared_key_is_used);
    tcase_add_test(jwt, prepare_resets_the_prepared_key);
    tcase_add_test(jwt, token_length_limit_is_inclusive);
    tcase_add_test(jwt, segment_split_reasons);
    tcase_add_test(jwt, mint_limits);
    tcase_add_test(jwt, jti_digits_are_random);
    tcase_add_test(jwt, refused_key_is_freed);
    tcase_add_test(jwt, verify_speed);
    suite_add_tcase(suite, jwt);
    TCase* cred = tcase_create("credentials");
    tcase_add_test(cred, bearer_parsing);
    tcase_add_test(cred, cookie_parsing);
    tcase_add_test(cred, csrf_rules);
    tcase_add_test(cred, cookie_unquoting);
    tcase_add_test(cred, referer_origin_rules);
    tcase_add_test(cred, trusted_origin_rules);
    suite_add_tcase(suite, cred);

    SRunner* runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
