// libFuzzer target: JWT verification and the credential parsers.
//
// The first byte picks what the rest of the input is:
//   0 — a raw token, verified under HS256, ES256 (prepared, OpenSSL EVP) and,
//       rarely, RS256 unprepared (libjwt's jwt_decode);
//   1 — "header JSON \0 claims JSON": signed with the HMAC secret, so the
//       fuzzer reaches the header and claims rules behind the signature;
//   2 — header values split on '\n': Authorization, Cookie, Origin, Referer,
//       then trusted origins;
//   3 — base64url: decode/encode must round-trip canonically.
// Invariants checked: nothing crashes or leaks; a reason is always given on
// refusal and never contains the token; an accepted identity has a positive
// user id; base64url is canonical.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "auth/base64url.h"
#include "auth/credentials.h"
#include "auth/jwt.h"

using namespace talentd::auth;

namespace {

constexpr int64_t kNow = 1700000000;
const char kSecret[] = "fuzz-secret";

JwtSettings* g_hs;
JwtSettings* g_es;
JwtSettings* g_rs;

std::string public_pem(EVP_PKEY* k) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, k);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
}

void check(std::string_view token, const JwtSettings& s) {
    std::string why;
    auto id = verify_access_token(token, s, kNow, &why);
    if (id) {
        if (id->user_id <= 0) std::abort();
    } else {
        if (why.empty()) std::abort();
        if (token.size() >= 24 && why.find(token) != std::string::npos) std::abort();
    }
}

std::vector<std::string_view> split_lines(std::string_view s) {
    std::vector<std::string_view> out;
    while (true) {
        size_t nl = s.find('\n');
        out.push_back(s.substr(0, nl));
        if (nl == std::string_view::npos) break;
        s.remove_prefix(nl + 1);
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    g_hs = new JwtSettings;
    g_hs->verify_key = g_hs->signing_key = kSecret;
    g_hs->leeway = 5;

    EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    g_es = new JwtSettings;
    g_es->algorithm = "ES256";
    g_es->verify_key = public_pem(ec);
    g_es->issuer = "https://auth.example.com";
    g_es->audience = "talentd";
    if (!prepare_jwt_settings(*g_es, nullptr)) std::abort();
    EVP_PKEY_free(ec);

    EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
    g_rs = new JwtSettings;
    g_rs->algorithm = "RS256";
    g_rs->verify_key = public_pem(rsa);  // not prepared: the libjwt path
    EVP_PKEY_free(rsa);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
        case 0: {
            check(in, *g_hs);
            check(in, *g_es);
            if (data[0] == 0x80) check(in, *g_rs);  // libjwt re-parses the PEM: slow, so rarely
            break;
        }
        case 1: {
            size_t nul = in.find('\0');
            std::string_view header = in.substr(0, nul);
            std::string_view claims = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
            std::string input = base64url_encode(header) + "." + base64url_encode(claims);
            unsigned char mac[EVP_MAX_MD_SIZE];
            unsigned int len = 0;
            HMAC(EVP_sha256(), kSecret, sizeof kSecret - 1, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size(), mac, &len);
            std::string token = input + "." + base64url_encode(std::string_view(reinterpret_cast<char*>(mac), len));
            check(token, *g_hs);
            break;
        }
        case 2: {
            auto lines = split_lines(in);
            lines.resize(std::max<size_t>(lines.size(), 4));
            std::string token;
            if (parse_bearer(lines[0], &token) == BearerParse::Token && token.empty()) std::abort();
            auto cookie = cookie_value(lines[1], "access_token");
            if (cookie && cookie->size() > lines[1].size()) std::abort();
            std::vector<std::string> trusted(lines.begin() + 4, lines.end());
            if (trusted.empty()) trusted = {"https://app.example.com", "https://*.example.org"};
            auto failure = csrf_origin_failure(lines[2], lines[3], trusted);
            if (failure && failure->rfind("CSRF Failed: ", 0) != 0) std::abort();
            (void)is_trusted_origin(lines[2], trusted);
            break;
        }
        case 3: {
            std::string decoded;
            if (base64url_decode(in, &decoded)) {
                if (base64url_encode(decoded) != in) std::abort();  // canonical
            }
            std::string back;
            if (!base64url_decode(base64url_encode(in), &back) || back != in) std::abort();
            break;
        }
    }
    return 0;
}
