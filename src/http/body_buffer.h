// BodyBuffer — a request body in one piece, kept by a worker for the next
// request.
//
// Why not a std::string per request: an upload of a few MiB is its own
// mmap (malloc's M_MMAP_THRESHOLD, talentd.cc), so every upload touched
// fresh pages and paid a page fault for each 4 KiB — on this
// paravirtualised guest the faults of the body and its copies were a fifth
// of a 1 MiB upload's CPU (issue 17, docs/BENCHMARKS.md).  A worker keeps
// one BodyBuffer: read_body() (http/message.h) fills it in place, the
// multipart parser points into it (form::UploadedFile), and the next upload
// writes over the same pages.  release() gives the memory back; the worker
// calls it once it has been idle for a moment (Handler::idle), so an idle
// worker holds no upload.
#pragma once

#include <cstddef>
#include <string_view>

namespace talentd::http {

class BodyBuffer {
public:
    BodyBuffer() = default;
    ~BodyBuffer();
    BodyBuffer(const BodyBuffer&) = delete;
    BodyBuffer& operator=(const BodyBuffer&) = delete;

    std::string_view view() const { return {data_, size_}; }
    size_t size() const { return size_; }
    size_t capacity() const { return capacity_; }

    // Empties it; the memory stays for the next body.
    void clear() { size_ = 0; }
    // Room for at least n bytes in all, contents kept (realloc: an mmapped
    // block grows with mremap, without a copy).  Throws std::bad_alloc.
    void reserve(size_t n);
    // Where the next bytes go (capacity() - size() of room), and how many
    // were put there.
    char* end() { return data_ + size_; }
    void added(size_t n) { size_ += n; }
    // Empties it and gives its memory back.
    void release();

private:
    char* data_ = nullptr;
    size_t size_ = 0;
    size_t capacity_ = 0;
};

}  // namespace talentd::http
