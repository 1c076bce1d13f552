// image/strip_formats — internal: one container rewriter per format, and
// the output they share.  See image/strip.h for what each keeps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "image/strip.h"

namespace talentd::image::strip_detail {

// The picture being rebuilt: kept pieces are copied in, removed ones noted.
//
// Lazily: while everything written equals the input from its start (a
// picture with nothing to remove, or one stripped before), nothing is copied
// and the result is a view of the input.  The first piece that differs (a
// gap where something was removed, a rewritten segment) copies the prefix
// into `buffer`, reserved once for the whole picture, and writing goes on
// there.  The caller's buffer outlives the result (strip.h).
class Rewrite {
public:
    Rewrite(std::span<const uint8_t> input, const StripOptions& options, Stripped& result, std::string& buffer)
        : in(input), options(options), result_(result), buffer_(buffer) {
        buffer_.clear();
    }
    const std::span<const uint8_t> in;
    const StripOptions& options;

    void copy(size_t offset, size_t length) {
        if (same_ && offset == prefix_) {
            prefix_ += length;
            return;
        }
        append(in.data() + offset, length);
    }
    void append(const void* data, size_t length) {
        if (same_ && length <= in.size() - prefix_ && std::memcmp(in.data() + prefix_, data, length) == 0) {
            prefix_ += length;
            return;
        }
        out().append(static_cast<const char*>(data), length);
    }
    void append(const std::string& bytes) { append(bytes.data(), bytes.size()); }
    // The output so far, as a string to append to or patch: from here on
    // the picture is rewritten (a copy), whatever follows.
    std::string& out() {
        if (same_) {
            // The largest growth: a minimal EXIF in place of a shorter one,
            // a WebP pad byte (fuzz_strip checks the bound).
            buffer_.reserve(in.size() + 64);
            buffer_.assign(reinterpret_cast<const char*>(in.data()), prefix_);
            same_ = false;
        }
        return buffer_;
    }
    // The result: the input's prefix when nothing differed, else the buffer.
    std::string_view output() const {
        return same_ ? std::string_view(reinterpret_cast<const char*>(in.data()), prefix_) : std::string_view(buffer_);
    }
    bool rewritten() const { return !same_; }
    void removed(std::string name, size_t size) { result_.removed.push_back({std::move(name), size}); }
    void kept_orientation(int orientation) { result_.orientation = orientation; }
    int kept_orientation_value() const { return result_.orientation; }
    void kept_icc(size_t size) { result_.icc_size += size; }
    void must_revalidate() { result_.revalidate = true; }
    // Records why the container did not parse; always false.
    bool fail(std::string why) {
        result_.reason = std::move(why);
        return false;
    }

private:
    Stripped& result_;
    std::string& buffer_;
    bool same_ = true;     // output == in[0, prefix_)
    size_t prefix_ = 0;
};

// Up to `max` bytes as printable ASCII (others become '?'), stopping at NUL.
std::string printable(const uint8_t* p, size_t n, size_t max = 32);

// Each returns false (with Rewrite::fail's reason) when the container does
// not parse; true with the output complete.
bool strip_jpeg(Rewrite& w);
bool strip_png(Rewrite& w);
bool strip_webp(Rewrite& w);
bool strip_gif(Rewrite& w);

}  // namespace talentd::image::strip_detail
