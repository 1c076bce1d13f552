// ProfileApi — the talent profile endpoint, /api/profile/talent/, and the few
// routes around it (/healthz, the unslashed redirect, the HTML page).
//
// handle() is the request's whole way through talentd, top to bottom; each
// step is a named member that either yields its result or stops the request
// with an ApiError (see DESIGN.md, "One request, top to bottom").
// Wire format: DRF's, as SPEC.md §1–§5 and talentd(8) describe.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "auth/jwt.h"
#include "cleanup/pictures.h"
#include "core/config.h"
#include "core/trace.h"
#include "db/database.h"
#include "form/body.h"
#include "http/handler.h"
#include "image/sandbox.h"
#include "image/validate.h"
#include "profile/rules.h"
#include "storage/store.h"
#include "storage/store_gate.h"

namespace talentd::api {

// Who is calling, once authenticated.
struct Caller {
    db::Account account;
    bool via_cookie = false;
};

// How the answer is rendered: JSON for API clients, HTML for a person's
// form post (cookie-authenticated, Accept prefers text/html).
struct Answer {
    bool html = false;
    const Caller* caller = nullptr;          // set once authenticated
    const form::Fields* fields = nullptr;    // set once the body is parsed
};

class ProfileApi : public http::Handler {
public:
    // gate: the workers' shared bulkhead and breaker (nullptr: calls go
    // straight to the store).  `recorder` hears each step of a request, its
    // user, upload size, decode time and database errors (the daemon's
    // scoreboard).  sandbox: where pictures are decoded (decode_sandbox =
    // on); nullptr decodes them in this process.
    ProfileApi(const Config& config, db::Database& db, storage::Store& store, storage::StoreGate* gate = nullptr,
               trace::Recorder& recorder = trace::no_recorder(), image::DecoderSandbox* sandbox = nullptr);

    http::Response handle(const http::Request& request, http::BodySource& body, http::RequestNote* note) override;
    // The upload buffers below, kept between requests and given back when
    // the worker goes idle (http::Handler).
    bool holds_idle_memory() const override { return body_.capacity() != 0 || strip_buffer_.capacity() > 4096; }
    void idle() override;

private:
    // The endpoint itself; handle() routes to it.
    http::Response profile_endpoint(const http::Request& request, http::BodySource& body, http::RequestNote* note);
    http::Response update(const http::Request& request, http::BodySource& body, Caller& caller, Answer& answer,
                          http::RequestNote* note);

    // Steps.  Each returns nullopt to go on, or the error that ends the request.
    std::optional<ApiError> authenticate(const http::Request& request, Caller* caller, http::RequestNote* note);
    std::optional<ApiError> authorize(const http::Request& request, const Caller& caller);
    std::optional<ApiError> check_method(const http::Request& request);
    std::optional<ApiError> check_size(const http::Request& request);
    // The fields' files point into *raw, which must outlive them.
    std::optional<ApiError> read_and_parse(const http::Request& request, http::BodySource& body,
                                           http::BodyBuffer* raw, form::Fields* fields);
    std::optional<ApiError> check_form_talent_flag(const Caller& caller, const form::Fields& fields);
    std::optional<ApiError> validate(const form::Fields& fields, bool partial, profile::Changes* changes,
                                     image::Verdict* picture);
    // Every decode of upload bytes goes through here: in the sandbox when
    // there is one (talentd(8), SECURITY), so no codec runs in this process.
    image::Verdict decode(const uint8_t* data, size_t size, bool* unavailable);
    ApiError validation_unavailable() const;
    // The bytes to store: the canonical picture, its metadata removed
    // (strip_metadata); *bytes points into the upload or into strip_buffer_.
    std::optional<ApiError> strip_picture(const profile::Changes& changes, const image::Verdict& picture,
                                          int64_t user_id, std::span<const uint8_t>* bytes);
    std::optional<ApiError> store_picture(const profile::Changes& changes, const image::Verdict& picture,
                                          std::span<const uint8_t> bytes_to_store, const profile::User& user,
                                          profile::Profile* prof, db::PictureUpdate* update);
    std::optional<ApiError> commit(const profile::User& user, const profile::Profile& prof,
                                   const db::PictureUpdate& picture_update, std::optional<std::string>* old_key);

    http::Response respond_json(int status, std::string body, const http::Request& request) const;
    http::Response respond_error(const ApiError& error, const http::Request& request) const;
    http::Response respond_error(const ApiError& error, const http::Request& request, const Answer& answer) const;
    http::Response respond_html(int status, std::string html) const;
    http::Response respond_updated(const http::Request& request, const Answer& answer, const form::Fields& fields,
                                   const profile::User& user, const profile::Profile& prof) const;
    http::Response page(const http::Request& request, http::RequestNote* note);
    http::Response demo_login(const http::Request& request);
    void add_cors(const http::Request& request, http::Response* response) const;
    http::Response preflight(const http::Request& request) const;

    const Config& config_;
    db::Database& db_;
    storage::Store& store_;
    trace::Recorder& recorder_;
    cleanup::Pictures pictures_;
    image::Limits limits_;
    image::DecoderSandbox* sandbox_;
    form::BodyLimits body_limits_;
    auth::JwtSettings jwt_;
    // One request's body and its metadata-stripped picture, kept for the
    // next request: an upload then writes over pages already mapped instead
    // of faulting in fresh ones (each fault is dear on a paravirtualised
    // guest: issue 17, docs/BENCHMARKS.md "Upload path").  What a busy worker
    // holds between uploads is the largest recent body (at most
    // max_request_size) and, for pictures that had metadata, their rewrite;
    // idle() frees both once the worker has had no request for
    // daemon::kIdleReleaseMs.
    http::BodyBuffer body_;
    std::string strip_buffer_;
};

// The "partial" query flag: true, 1 or yes (any case).
bool partial_requested(const std::string& query);

}  // namespace talentd::api
