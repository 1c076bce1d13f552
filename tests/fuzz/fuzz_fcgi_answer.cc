// libFuzzer target: talentctl's FastCGI answer reader and the CGI header
// split (http/fcgi_client.h), the one hand-written parser on that path.
// The first byte says where to cut the input in two feed() calls.
// Invariants: nothing crashes or leaks; the reader's verdict does not depend
// on how the bytes were sliced; a split answer's status is 100..999.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/fcgi_client.h"

using talentd::http::FcgiAnswerReader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const size_t cut = data[0] % size;
    ++data, --size;
    const size_t first = std::min(cut, size);

    FcgiAnswerReader whole(1 << 16), sliced(1 << 16);
    std::string why_whole, why_sliced;
    const bool ok_whole = whole.feed(data, size, &why_whole);
    bool ok_sliced = sliced.feed(data, first, &why_sliced);
    if (ok_sliced) ok_sliced = sliced.feed(data + first, size - first, &why_sliced);
    if (ok_whole != ok_sliced) std::abort();
    if (ok_whole && (whole.ended() != sliced.ended() || whole.out() != sliced.out() || whole.err() != sliced.err()))
        std::abort();

    int status = 0;
    std::string body;
    std::string text(reinterpret_cast<const char*>(data), size);
    if (talentd::http::split_cgi_answer(text, &status, &body) && (status < 100 || status > 999)) std::abort();
    return 0;
}
