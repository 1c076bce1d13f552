// Fuzz target: the egress proxy's nginx file as talentd -t and talentctl
// check read it (storage/egress_check: nginx's words and times).
#include <cstddef>
#include <cstdint>
#include <string>

#include "storage/egress_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    std::string why;
    if (!talentd::storage::check_egress_timeouts(text, 10, &why) && why.empty())
        __builtin_trap();   // a refusal always says why
    auto ms = talentd::storage::parse_nginx_time(text.substr(0, 40));
    if (ms && *ms < 0) __builtin_trap();
    return 0;
}
