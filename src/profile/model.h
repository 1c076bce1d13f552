// The records talentd serves: a user (Django's auth user, reduced to what the
// profile shows) and the talent profile attached to it.  Plain data; the db
// module loads and stores them, the profile module validates and renders them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace talentd::profile {

struct User {
    int64_t id = 0;
    std::string email;
    std::string first_name;
    std::string last_name;
    bool is_active = true;
    bool is_talent = false;
};

struct Profile {
    int64_t id = 0;
    int64_t user_id = 0;
    std::optional<std::string> picture_key;     // storage key, e.g. media/profile_pictures/user_7_<hex>.jpg
    std::string aboutyou;
    std::string city;
    std::string country;
    std::string gender;                         // "" or one of the choices
    std::optional<std::string> date_of_birth;   // YYYY-MM-DD
    std::string phone;                          // normalised: optional '+' then digits
    bool is_verified = false;
    std::string account_type = "free";
};

}  // namespace talentd::profile
