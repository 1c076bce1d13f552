#include "api/page.h"

#include <openssl/evp.h>

#include <cctype>

namespace talentd::api {
namespace {

// Preview and progress bar; the form works the same without it.
constexpr const char* kScript = R"js(
(function () {
  var form = document.getElementById('profile-form');
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  var input = document.getElementById('profile_picture');
  var preview = document.getElementById('preview');
  var bar = document.getElementById('progress');
  input.addEventListener('change', function () {
    if (input.files && input.files[0] && window.URL) {
      preview.src = URL.createObjectURL(input.files[0]);
      preview.hidden = false;
    }
  });
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.setRequestHeader('Accept', 'text/html');
    bar.hidden = false;
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) bar.value = e.loaded / e.total; };
    xhr.onload = function () { document.open(); document.write(xhr.responseText); document.close(); };
    xhr.onerror = function () { bar.hidden = true; form.submit(); };
    xhr.send(new FormData(form));
  });
})();
)js";

constexpr const char* kStyle =
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "label{display:block;margin-top:.8rem;font-weight:600}"
    "input[type=text],input[type=date],input[type=tel],select,textarea{width:100%;padding:.4rem;box-sizing:border-box}"
    ".error{color:#b00020;margin:.2rem 0}.banner{padding:.6rem;border-radius:4px;background:#e6f4ea}"
    ".banner.error{background:#fde7e9}img.picture{max-width:12rem;max-height:12rem;display:block;margin:.5rem 0}"
    "button{margin-top:1rem;padding:.5rem 1.2rem}progress{width:100%}"
    // img.picture's display:block would otherwise show the hidden preview as a broken image.
    "[hidden]{display:none!important}";

const char* const kGenders[] = {"Male", "Female", "Other", "Prefer not to say"};

std::string base64(const unsigned char* data, size_t size) {
    std::string out(4 * ((size + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string script_hash() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    std::string_view s(kScript);
    EVP_Digest(s.data(), s.size(), digest, &len, EVP_sha256(), nullptr);
    return "'sha256-" + base64(digest, len) + "'";
}

void field_errors(std::string& out, const FieldErrors& errors, std::string_view field) {
    for (const auto& [name, messages] : errors) {
        if (name != field) continue;
        for (const auto& m : messages)
            out += "<p class=\"error\" id=\"" + std::string(field) + "-error\">" + html_escape(m) + "</p>";
    }
}

std::string value_of(const PageModel& m, const std::string& field, const std::string& stored) {
    auto it = m.typed.find(field);
    return it != m.typed.end() ? it->second : stored;
}

void text_input(std::string& out, const PageModel& m, const char* field, const char* label, const char* type,
                const std::string& stored, int maxlength) {
    out += "<label for=\"" + std::string(field) + "\">" + label + "</label>";
    out += "<input type=\"" + std::string(type) + "\" id=\"" + field + "\" name=\"" + field + "\" value=\"" +
           html_escape(value_of(m, field, stored)) + "\"";
    if (maxlength > 0) out += " maxlength=\"" + std::to_string(maxlength) + "\"";
    out += ">";
    field_errors(out, m.errors, field);
}

}  // namespace

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out.push_back(c);
        }
    }
    return out;
}

bool prefers_html(std::string_view accept) {
    auto html = accept.find("text/html");
    if (html == std::string_view::npos) return false;
    auto json = accept.find("application/json");
    return json == std::string_view::npos || html < json;
}

bool safe_next_path(std::string_view next) {
    if (next.empty() || next[0] != '/') return false;
    if (next.size() > 1 && (next[1] == '/' || next[1] == '\\')) return false;
    for (char c : next)
        if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    return next.size() <= 2000;
}

std::string page_security_policy(const std::string& public_base_url) {
    static const std::string hash = script_hash();
    // A CSP source with a path matches that exact URL unless the path ends
    // in "/": "https://cdn/bucket" would block every "https://cdn/bucket/key".
    std::string pictures = public_base_url;
    if (!pictures.empty() && pictures.back() != '/') pictures += '/';
    return "default-src 'none'; img-src 'self' blob: " + pictures + "; style-src 'unsafe-inline'; script-src " +
           hash + "; form-action 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";
}

std::string render_page(const PageModel& m) {
    std::string out;
    out.reserve(8192);
    out += "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           "<title>Your talent profile</title><style>";
    out += kStyle;
    out += "</style></head><body><h1>Your talent profile</h1>";
    if (!m.banner.empty())
        out += std::string("<p class=\"banner") + (m.banner_is_error ? " error" : "") + "\" id=\"banner\">" +
               html_escape(m.banner) + "</p>";
    if (!m.user || !m.profile) {
        out += "<p>You are not signed in as a talent user. Sign in on the main site, then come back.</p>";
        out += "</body></html>";
        return out;
    }
    const profile::User& u = *m.user;
    const profile::Profile& p = *m.profile;
    out += "<p>Signed in as <strong>" + html_escape(u.email) + "</strong>.</p>";
    out += "<form id=\"profile-form\" method=\"post\" action=\"/api/profile/talent/?partial=true\" "
           "enctype=\"multipart/form-data\">";
    out += "<input type=\"hidden\" name=\"is_talent\" value=\"true\">"
           "<input type=\"hidden\" name=\"next\" value=\"/?saved=1\">";
    out += "<label for=\"profile_picture\">Profile picture</label>";
    if (!m.picture_url.empty())
        out += "<img class=\"picture\" id=\"current-picture\" alt=\"Current profile picture\" src=\"" +
               html_escape(m.picture_url) + "\">";
    else
        out += "<p id=\"no-picture\">No picture yet.</p>";
    out += "<img class=\"picture\" id=\"preview\" alt=\"Preview of the new picture\" hidden>";
    out += "<input type=\"file\" id=\"profile_picture\" name=\"profile_picture\" "
           "accept=\"image/jpeg,image/png,image/gif,image/webp\">";
    field_errors(out, m.errors, "profile_picture");
    text_input(out, m, "first_name", "First name", "text", u.first_name, 150);
    text_input(out, m, "last_name", "Last name", "text", u.last_name, 150);
    out += "<label for=\"aboutyou\">About you</label><textarea id=\"aboutyou\" name=\"aboutyou\" rows=\"5\" "
           "maxlength=\"2000\">" +
           html_escape(value_of(m, "aboutyou", p.aboutyou)) + "</textarea>";
    field_errors(out, m.errors, "aboutyou");
    text_input(out, m, "city", "City", "text", p.city, 100);
    text_input(out, m, "country", "Country", "text", p.country, 100);
    const std::string gender = value_of(m, "gender", p.gender);
    out += "<label for=\"gender\">Gender</label><select id=\"gender\" name=\"gender\"><option value=\"\">—</option>";
    for (const char* g : kGenders)
        out += std::string("<option") + (gender == g ? " selected" : "") + ">" + html_escape(g) + "</option>";
    out += "</select>";
    field_errors(out, m.errors, "gender");
    text_input(out, m, "date_of_birth", "Date of birth", "date", p.date_of_birth.value_or(""), 0);
    text_input(out, m, "phone", "Phone", "tel", p.phone, 0);
    out += "<progress id=\"progress\" max=\"1\" value=\"0\" hidden></progress>";
    out += "<button type=\"submit\">Save</button></form>";
    out += "<script>";
    out += kScript;
    out += "</script></body></html>";
    return out;
}

}  // namespace talentd::api
