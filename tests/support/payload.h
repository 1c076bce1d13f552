// Payloads for integration tests: multipart bodies built here so the tests
// say what they send, not how it is framed; corpus files.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "temp_dir.h"   // read_file


namespace talentd::test {

struct Part {
    std::string name;
    std::string value;             // text, or the file's bytes
    std::string filename;          // non-empty: a file part
    std::string content_type;      // of a file part (default application/octet-stream)
};

// A multipart/form-data body and its Content-Type header value.
struct Multipart {
    std::string content_type;
    std::string body;
};
Multipart make_multipart(const std::vector<Part>& parts);

// The corpus folder (TALENTD_CORPUS, default ../shared/corpus).
std::string corpus_dir();

}  // namespace talentd::test
