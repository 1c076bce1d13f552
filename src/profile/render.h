// profile rendering — the JSON bodies of SPEC §3, byte for byte what DRF's
// JSONRenderer writes: compact separators, UTF-8 as is (ensure_ascii=False),
// keys in serializer order.  Hand-written (json_quote) for speed.
#pragma once

#include <optional>
#include <string>

#include "core/config.h"
#include "profile/model.h"

namespace talentd::profile {

// "<base>/<key>" with exactly one slash between them (bytes outside
// [A-Za-z0-9-._~/] in the key percent-encoded), or "" when there is no key.
std::string picture_url(const std::string& public_base_url, const std::optional<std::string>& key);

// {"id":…,"user":{"id":…,"email":…,"first_name":…,"last_name":…},
//  "profile_picture":<url or null>,"aboutyou":…,"city":…,"country":…,
//  "gender":…,"date_of_birth":<string or null>,"phone":…,"is_verified":…,
//  "profile_complete":…,"account_type":…,"profile_score":…}
std::string render_profile(const User& user, const Profile& profile, const std::string& public_base_url);

// GET: the profile object plus "file_limits":{"max_image_size":…,
// "max_video_size":…,"allowed_image_types":[…],"allowed_video_types":[…]}.
std::string render_profile_with_limits(const User& user, const Profile& profile, const Config& config);

// POST/PATCH success: {"message":"Profile updated successfully","profile":{…}}
std::string render_update_success(const User& user, const Profile& profile,
                                  const std::string& public_base_url);

}  // namespace talentd::profile
