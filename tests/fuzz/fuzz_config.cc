// Fuzz target: the configuration file parser (a trust boundary: files an
// operator edits) and the cross-key validation.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    talentd::Config config;
    talentd::ConfigError error;
    const std::string text(reinterpret_cast<const char*>(data), size);
    if (talentd::apply_config_text(config, text, "fuzz.conf", &error)) {
        // Whatever parsed must be a configuration validate_config can judge.
        config.jwt_secret = "secret";
        talentd::validate_config(config, &error);
    } else if (error.message.empty()) {
        __builtin_trap();   // a refusal always says why
    }
    return 0;
}
