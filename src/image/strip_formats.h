// image/strip_formats — internal: one container rewriter per format, and
// the output they share.  See image/strip.h for what each keeps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "image/strip.h"

namespace talentd::image::strip_detail {

// The picture being rebuilt: kept pieces are copied in, removed ones noted.
class Rewrite {
public:
    Rewrite(std::span<const uint8_t> input, const StripOptions& options, Stripped& result)
        : in(input), options(options), result_(result) {
        result_.bytes.reserve(input.size());
    }
    const std::span<const uint8_t> in;
    const StripOptions& options;

    void copy(size_t offset, size_t length) {
        result_.bytes.append(reinterpret_cast<const char*>(in.data() + offset), length);
    }
    void append(const void* data, size_t length) {
        result_.bytes.append(static_cast<const char*>(data), length);
    }
    void append(const std::string& bytes) { result_.bytes += bytes; }
    std::string& out() { return result_.bytes; }
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
