// A talent user and the headers that act as them, for integration tests
// that talk to a Stack.
//
//   const int64_t id = talentd::test::fresh_talent_user(stack, 100000);
//   stack.request("GET", "/api/profile/talent/", "", talentd::test::bearer(stack, id));
//
// fresh_talent_user() adds a new user each call (Stack::add_talent_user;
// Check fails the test when it cannot).  Ids start at base plus ten times
// this process's pid modulo 100,000: each Check test runs in its own fork,
// so tests of one program (and programs sharing a database) never collide;
// give programs that share a stack's database different bases.
//
// bearer() mints a one-hour HS256 access token with the stack's JWT_SECRET
// and returns the two headers a talent client sends: the Authorization
// header and `is-talent: true`.
// Header only: it uses Check (ck_abort_msg), which the soak does not link.
#pragma once

#include <check.h>
#include <unistd.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "auth/jwt.h"
#include "stack.h"

namespace talentd::test {

inline int64_t fresh_talent_user(const Stack& s, int64_t base) {
    static int64_t next = 0;
    if (next == 0) next = base + static_cast<int64_t>(getpid() % 100000) * 10;
    const int64_t id = next++;
    std::string why;
    if (!s.add_talent_user(id, &why)) ck_abort_msg("add user %lld: %s", static_cast<long long>(id), why.c_str());
    return id;
}

inline std::vector<std::string> bearer(const Stack& s, int64_t user_id) {
    auth::JwtSettings settings;
    settings.algorithm = "HS256";
    settings.verify_key = settings.signing_key = s.get("JWT_SECRET");
    std::string why;
    auto token = auth::mint_access_token(user_id, settings, time(nullptr), 3600, &why);
    if (!token) ck_abort_msg("mint: %s", why.c_str());
    return {"Authorization: Bearer " + *token, "is-talent: true"};
}

}  // namespace talentd::test
