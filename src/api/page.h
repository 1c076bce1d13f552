// Page — the HTML a person sees: the profile form at "/", and the answers a
// cookie-authenticated form post gets when its Accept header prefers HTML.
//
// Works without JavaScript (a plain multipart form posting to
// /api/profile/talent/); with JavaScript it adds a preview of the chosen
// picture and an upload progress bar.  Every value is HTML-escaped; the
// inline script is allowed by its SHA-256 in the Content-Security-Policy.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/api_error.h"
#include "profile/model.h"

namespace talentd::api {

struct PageModel {
    int status = 200;
    std::optional<profile::User> user;          // absent: not signed in
    std::optional<profile::Profile> profile;
    std::string picture_url;                    // "" when none
    std::string banner;                         // "Profile updated successfully", an error summary…
    bool banner_is_error = false;
    FieldErrors errors;                         // shown next to their fields
    std::map<std::string, std::string> typed;   // values the user typed, kept on error
};

// The full page.
std::string render_page(const PageModel& model);

// The Content-Security-Policy header value for the page.
std::string page_security_policy(const std::string& public_base_url);

// Whether the Accept header prefers text/html over application/json.
bool prefers_html(std::string_view accept);

// A `next` value we may redirect to: a same-origin relative path ("/x", not "//x", no "\").
bool safe_next_path(std::string_view next);

std::string html_escape(std::string_view text);

}  // namespace talentd::api
