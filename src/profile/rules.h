// profile rules — the writable fields of SPEC §3: validation (DRF's messages),
// application to the records, and the completeness score.  Pure: the caller
// passes today's date.
//
// Per field, in DRF's order: blank check, null check, type check, then every
// validator (custom, max length, NUL), all failures reported.  Messages that
// DRF/Django do not have (chosen here, documented in talentd(8)):
//   "Invalid UTF-8 text."
//   "Date of birth cannot be in the future."
//   "Date of birth must be on or after 1900-01-01."
//   "Enter a valid phone number (7 to 15 digits, optionally starting with +)."
#pragma once

#include <ctime>
#include <optional>
#include <string>

#include "core/api_error.h"
#include "form/body.h"
#include "profile/model.h"

namespace talentd::profile {

enum class PictureChange { Keep, Clear, Replace };

// Only the fields present in the request, trimmed and normalised.
struct Changes {
    std::optional<std::string> first_name, last_name, aboutyou, city, country, gender, phone;
    std::optional<std::optional<std::string>> date_of_birth;   // holds nullopt when cleared
    PictureChange picture = PictureChange::Keep;
    const form::UploadedFile* picture_file = nullptr;          // into the Fields, when Replace
};

struct Today {
    int year, month, day;
};

// The UTC calendar date of `now`.
Today today_utc(std::time_t now);

// The most code points of a client's value that an error message repeats.
inline constexpr size_t kMaxEchoedChars = 64;

// Limits of SPEC §3 (model max_length values).
inline constexpr size_t kMaxNameLength = 150;
inline constexpr size_t kMaxAboutLength = 2000;
inline constexpr size_t kMaxPlaceLength = 100;
inline constexpr int kMinBirthYear = 1900;

// Validates every field at once.  partial=false: first_name and last_name are
// required.  Returns the changes, or fills *errors (every failing field, in
// the order first_name, last_name, profile_picture, aboutyou, city, country,
// gender, date_of_birth, phone) and returns nullopt.
//   * strings: JSON numbers are taken as their text (DRF CharField), booleans,
//     arrays, objects and files are "Not a valid string.", null is "This field
//     may not be null."; trimmed with Python's str.strip(); first/last name
//     may never be blank ("This field may not be blank."), the others may;
//   * gender: "" (clears) or one of the choices, else "\"X\" is not a valid choice.";
//     X is the value as sent, cut to its first kMaxEchoedChars code points
//     followed by "…" when longer (an error message never repeats a
//     megabyte back to its sender);
//   * date_of_birth: Django's parse_date grammar YYYY-M(M)-D(D), a real date,
//     1900-01-01 .. today; "" or null clears it; stored as YYYY-MM-DD;
//   * phone: '+' optional then 7-15 digits once spaces, dashes, dots and
//     parentheses are removed; stored without them; "" clears it;
//   * profile_picture: a file replaces, "" or null clears, any other value is
//     "The submitted data was not a file. Check the encoding type on the form.";
//   * read-only and unknown fields are ignored.
std::optional<Changes> validate_update(const form::Fields& fields, bool partial, Today today,
                                       FieldErrors* errors);

// Applies the text fields and date_of_birth; the picture is the caller's
// (it sets picture_key once the object is stored, or clears it).
void apply_changes(const Changes& changes, User& user, Profile& profile);

// picture 20, first_name 10, last_name 10, aboutyou 10, date_of_birth 10,
// phone 10, city 5, country 5, gender 5, is_verified 15.
int profile_score(const User& user, const Profile& profile);

// All nine user-writable fields set.
bool profile_complete(const User& user, const Profile& profile);

}  // namespace talentd::profile
