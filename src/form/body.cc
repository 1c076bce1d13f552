#include "form/body.h"

#include "form/json_body.h"
#include "form/multipart.h"
#include "form/text.h"
#include "form/urlencoded.h"

namespace talentd::form {

namespace {

struct MediaType {
    std::string_view main, sub;
};

// DRF's parsers, in DRF's default order (JSONParser, FormParser, MultiPartParser).
constexpr MediaType kParsers[] = {
    {"application", "json"},
    {"application", "x-www-form-urlencoded"},
    {"multipart", "form-data"},
};
constexpr BodyType kParserTypes[] = {BodyType::Json, BodyType::UrlEncoded, BodyType::Multipart};

}  // namespace

BodyType classify(std::string_view content_type) {
    // rest_framework.utils.mediatypes._MediaType + media_type_matches.
    const std::string key = parse_header_parameters(content_type).key;
    if (key.empty()) return BodyType::Empty;
    const size_t slash = key.find('/');
    const std::string_view main = std::string_view(key).substr(0, slash);
    const std::string_view sub =
        slash == std::string::npos ? std::string_view() : std::string_view(key).substr(slash + 1);
    for (size_t i = 0; i < std::size(kParsers); ++i) {
        if (sub != "*" && sub != kParsers[i].sub) continue;
        if (main != "*" && main != kParsers[i].main) continue;
        return kParserTypes[i];
    }
    return BodyType::Unsupported;
}

std::optional<Fields> parse_body(std::string_view content_type, std::string_view body, ApiError* error,
                                 const BodyLimits& limits) {
    Fields fields;
    // DRF's Request._parse: a zero-length body never reaches a parser.
    if (body.empty()) return fields;
    switch (classify(content_type)) {
        case BodyType::Json:
            if (!parse_json(body, limits, &fields, error)) return std::nullopt;
            return fields;
        case BodyType::UrlEncoded:
            if (urlencoded_field_count(body) > limits.max_fields) {
                *error = too_many_fields_error();
                return std::nullopt;
            }
            parse_urlencoded(body, [&](std::string&& name, std::string&& value) {
                Value& slot = fields[std::move(name)];
                slot.text = std::move(value);
            });
            return fields;
        case BodyType::Multipart:
            if (!parse_multipart(content_type, body, limits, &fields, error)) return std::nullopt;
            return fields;
        case BodyType::Unsupported:
        case BodyType::Empty:
            break;
    }
    *error = unsupported_media_type(content_type);
    return std::nullopt;
}

ApiError unsupported_media_type(std::string_view content_type) {
    return ApiError::detail(415, "Unsupported media type \"" + latin1_to_utf8(content_type) + "\" in request.");
}

ApiError too_many_fields_error() {
    return ApiError::detail(400,
                            "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS.");
}

std::map<std::string, std::string> parse_query(std::string_view query) {
    std::map<std::string, std::string> result;
    parse_urlencoded(query, [&](std::string&& name, std::string&& value) {
        result[std::move(name)] = std::move(value);
    });
    return result;
}

}  // namespace talentd::form
