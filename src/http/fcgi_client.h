// FastCGI client — one GET to talentd's own socket, the way nginx sends it,
// for `talentctl status` (talentctl(8)).  No library offers the client side
// of FastCGI (libfcgi is the server's), and one request with a handful of
// parameters needs little: BEGIN_REQUEST (responder, no keep-alive), the
// PARAMS stream, an empty STDIN, then read STDOUT records until
// END_REQUEST.  The reader of the answer is a pure function of the bytes
// (FcgiAnswerReader), fuzzed by tests/fuzz/fuzz_fcgi_answer.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace talentd::http {

// Collects an answer record by record.  feed() takes any slice of the byte
// stream; it returns false (with *why) on a malformed record or an answer
// larger than `max_bytes`.
class FcgiAnswerReader {
public:
    explicit FcgiAnswerReader(size_t max_bytes = 16 << 20) : max_bytes_(max_bytes) {}
    bool feed(const uint8_t* data, size_t size, std::string* why);
    bool ended() const { return ended_; }           // END_REQUEST seen
    const std::string& out() const { return out_; } // FCGI_STDOUT, concatenated
    const std::string& err() const { return err_; } // FCGI_STDERR

private:
    size_t max_bytes_;
    std::string pending_;
    std::string out_, err_;
    bool ended_ = false;
};

// Splits a CGI answer ("Status: 404 Not Found\r\nContent-Type: ...\r\n\r\nbody")
// into its status (200 when there is no Status line) and body.  false when
// there is no blank line after the headers.
bool split_cgi_answer(const std::string& answer, int* status, std::string* body);

// The request bytes for one GET with these parameters (request id 1).
std::string encode_fcgi_get(const std::vector<std::pair<std::string, std::string>>& params);

// Connects to `address` (a talentd.conf listen value: unix:PATH, HOST:PORT,
// [V6]:PORT), sends the request and reads the whole answer within
// `timeout_seconds`.  false with *why when talentd does not answer ("is not
// running": the socket is missing or refuses connections).
bool fcgi_get(const std::string& address, const std::vector<std::pair<std::string, std::string>>& params,
              int timeout_seconds, int* status, std::string* body, std::string* why);

}  // namespace talentd::http
