// form — request bodies (multipart/form-data, x-www-form-urlencoded, JSON)
// and query strings turned into one field map, the way DRF's request.data
// would see them.
//
// Wire behaviour follows DRF 3 + Django 4.2 (parsers JSONParser, FormParser,
// MultiPartParser, in DRF's default order), with these deliberate choices:
//   * text keeps its raw bytes; the profile rules refuse invalid UTF-8
//     (Django would substitute U+FFFD);
//   * a multipart part with a filename parameter is a file; an empty (or,
//     after taking the base name, empty/"."/"..") filename means "no file
//     chosen" and the part is skipped (Django would turn filename="" into a
//     text value "", which DRF reads as "clear the picture");
//   * malformed multipart structure is an error (Django skips what it cannot
//     read): missing opening or closing boundary, unterminated part headers,
//     a part without a Content-Disposition name;
//   * charset parameters are ignored: bodies are UTF-8.
// Pure functions: no I/O, no global state.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/api_error.h"

namespace talentd::form {

// A view of a file's bytes that cannot be made from a temporary string
// (it would dangle): assign a string_view, a lasting std::string, or use
// UploadedFile::own().
struct FileBytes : std::string_view {
    FileBytes() = default;
    FileBytes(std::string_view bytes) : std::string_view(bytes) {}
    FileBytes(const std::string& bytes) : std::string_view(bytes) {}
    FileBytes(std::string&&) = delete;
    FileBytes(const std::string&&) = delete;
};

struct UploadedFile {
    std::string filename;       // base name as sent (for logs only)
    std::string content_type;   // part Content-Type, lower-cased (never trusted)
    // The bytes, exactly as uploaded: a view into the request body that
    // parse_body() was given, not a copy (issue 17: the copy of a 1 MiB
    // upload was a tenth of its CPU).  The body must outlive the Fields.
    // A base64-encoded part is decoded into `decoded`, which data then
    // views (shared: a copied Value stays valid).
    FileBytes data;
    std::shared_ptr<const std::string> decoded;

    // Makes data a view of bytes this file owns (tests, decoded parts).
    void own(std::string bytes) {
        decoded = std::make_shared<const std::string>(std::move(bytes));
        data = *decoded;
    }
};

// One submitted value.
struct Value {
    // Text: a form value or JSON string.  File: a multipart file part.
    // Null: JSON null.  Other: a JSON number, boolean, array or object.
    enum class Kind { Text, File, Null, Other };
    Kind kind = Kind::Text;
    // Text: the raw bytes.  Other: for "integer" and "number" the value as
    // Python's str() prints it (1, 1.5, 1e+16: what DRF's CharField stores);
    // for "boolean", "array", "object" the compact JSON text.
    std::string text;
    UploadedFile file;
    std::string json_type;      // Other: "number", "integer", "boolean", "array", "object"
};

// Field name -> value.  Repeated keys: the last value wins (QueryDict.__getitem__);
// in multipart bodies a file wins over a text value of the same name whatever
// their order (DRF merges request.FILES after request.POST).
using Fields = std::map<std::string, Value>;

enum class BodyType { Multipart, UrlEncoded, Json, Unsupported, Empty };

// DRF's parser selection: the media type (case-insensitive, parameters
// ignored) matched against application/json, application/x-www-form-urlencoded,
// multipart/form-data in that order, "*" matching any main or sub type.
// Empty (or blank) content type -> Empty.
BodyType classify(std::string_view content_type);

// Django's limits on form bodies (DATA_UPLOAD_MAX_NUMBER_FIELDS and
// DATA_UPLOAD_MAX_NUMBER_FILES); exceeding one is a 400.  max_fields also
// caps the number of values in a JSON body (see json_body.h).
// max_part_header_size and max_header_parameters bound what a multipart
// part's header block may make the parser hold (Django reads at most 1024
// bytes of part headers; talentd refuses more with a 400 instead of
// skipping the part): config keys of the same names.
struct BodyLimits {
    size_t max_fields = 1000;
    size_t max_files = 100;
    size_t max_part_header_size = 1024;
    size_t max_header_parameters = 64;
};

// Parses a complete body; file values point into `body` (UploadedFile).
// On failure returns nullopt with *error set to
// DRF's response:
//   415 {"detail": "Unsupported media type \"<Content-Type as sent>\" in request."}
//   400 {"detail": "JSON parse error - <Python's json message>"}
//   400 {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
//       ({"non_field_errors": ["No data provided"]} for a JSON null)
//   400 {"detail": "Multipart form parse error - <reason>"}
//   400 {"detail": "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."}
//       (also for a JSON body of more than max_fields values)
//   400 {"detail": "The number of files exceeded settings.DATA_UPLOAD_MAX_NUMBER_FILES."}
// An empty body is empty Fields whatever the content type (DRF never runs a
// parser on a zero-length body).
std::optional<Fields> parse_body(std::string_view content_type, std::string_view body,
                                 ApiError* error, const BodyLimits& limits = {});

// DRF's 415 for a Content-Type no parser takes, e.g. for refusing a body
// before reading it: {"detail": "Unsupported media type \"text/plain\" in request."}
ApiError unsupported_media_type(std::string_view content_type);

// Django's 400 for too many fields (BodyLimits::max_fields).
ApiError too_many_fields_error();

// Query strings: "partial=true&x=1" -> map (last wins), '+' and %XX decoded.
std::map<std::string, std::string> parse_query(std::string_view query);

}  // namespace talentd::form
