#include "http/body_buffer.h"

#include <cstdlib>
#include <new>

namespace talentd::http {

BodyBuffer::~BodyBuffer() { std::free(data_); }

void BodyBuffer::reserve(size_t n) {
    if (n <= capacity_) return;
    void* grown = std::realloc(data_, n);
    if (!grown) throw std::bad_alloc();
    data_ = static_cast<char*>(grown);
    capacity_ = n;
}

void BodyBuffer::release() {
    std::free(data_);
    data_ = nullptr;
    size_ = capacity_ = 0;
}

}  // namespace talentd::http
