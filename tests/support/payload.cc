#include "payload.h"

#include <cstdlib>

namespace talentd::test {
Multipart make_multipart(const std::vector<Part>& parts) {
    Multipart m;
    const std::string boundary = "----talentdTestBoundary7MA4YWxkTrZu0gW";
    m.content_type = "multipart/form-data; boundary=" + boundary;
    for (const auto& p : parts) {
        m.body += "--" + boundary + "\r\n";
        m.body += "Content-Disposition: form-data; name=\"" + p.name + "\"";
        if (!p.filename.empty()) {
            m.body += "; filename=\"" + p.filename + "\"\r\n";
            m.body += "Content-Type: " + (p.content_type.empty() ? std::string("application/octet-stream")
                                                                   : p.content_type) + "\r\n";
        } else {
            m.body += "\r\n";
        }
        m.body += "\r\n" + p.value + "\r\n";
    }
    m.body += "--" + boundary + "--\r\n";
    return m;
}

std::string corpus_dir() {
    const char* c = std::getenv("TALENTD_CORPUS");
    return c && *c ? c : "../shared/corpus";
}

}  // namespace talentd::test
