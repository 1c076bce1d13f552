// Object keys: "<media_prefix>user_<user_id>_<32 hex>.<ext>".
#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <system_error>

#include "storage/store.h"

namespace talentd::storage {

namespace {

constexpr size_t kRandomBytes = 16;  // 128 bits: collisions are not a concern
constexpr size_t kMaxExtension = 8;

void fill_random(unsigned char* buffer, size_t size) {
    size_t filled = 0;
    while (filled < size) {
        ssize_t n = getrandom(buffer + filled, size - filled, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "getrandom");
        }
        filled += static_cast<size_t>(n);
    }
}

}  // namespace

std::string new_object_key(const std::string& media_prefix, int64_t user_id, const std::string& extension) {
    if (extension.empty() || extension.size() > kMaxExtension) throw std::invalid_argument("object key extension");
    for (char c : extension) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) throw std::invalid_argument("object key extension");
    }
    unsigned char random[kRandomBytes];
    fill_random(random, sizeof random);
    static const char kHex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(2 * kRandomBytes);
    for (unsigned char byte : random) {
        hex += kHex[byte >> 4];
        hex += kHex[byte & 0x0f];
    }
    return media_prefix + "user_" + std::to_string(user_id) + "_" + hex + "." + extension;
}

}  // namespace talentd::storage
