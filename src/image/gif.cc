// image/gif — GIF through giflib, record by record, one line buffer.
//
// Pass 1 walks the records without decompressing (LZW sub-blocks are only
// skipped): logical screen, every image descriptor, the trailer.  Limits are
// applied to what it found.  Pass 2 is giflib (DGifOpen on the memory, never
// DGifSlurp): every image's every line is decoded into one line buffer, and no
// more images than pass 1 counted.
//
// Decoded bytes are one per pixel (giflib's colour indices), summed over the
// images; the CPU deadline is checked as lines are decoded and as extension
// blocks are skipped.
//
// A file whose 0x3B trailer is missing is refused, like a JPEG without EOI
// or a PNG without IEND: SPEC §4 counts a missing end marker as an error
// (giflib itself fails looking for the next record).  A GIF with no image at
// all is refused.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gif_lib.h>

#include "image/decoders.h"

namespace talentd::image::detail {
namespace {

unsigned le16(const uint8_t* p) { return unsigned(p[0]) | unsigned(p[1]) << 8; }

struct GifWalk {
    std::string error;
    bool have_screen = false;
    unsigned screen_width = 0, screen_height = 0;
    size_t images = 0;       // complete images
    size_t descriptors = 0;  // image descriptors read (the last may be truncated)
    bool trailer = false;
    size_t end = 0;  // just past the trailer, or the file size when it is missing
};

// Skips data sub-blocks up to and including the zero-length terminator.
bool skip_sub_blocks(const uint8_t* d, size_t n, size_t& pos) {
    for (;;) {
        if (pos >= n) return false;
        const size_t len = d[pos++];
        if (len == 0) return true;
        if (len > n - pos) return false;
        pos += len;
    }
}

bool walk_gif(const uint8_t* d, size_t n, FrameBudget& budget, GifWalk& w) {
    if (n < 13) {
        w.error = "GIF truncated in the header";
        return false;
    }
    w.have_screen = true;
    w.screen_width = le16(d + 6);
    w.screen_height = le16(d + 8);
    if (w.screen_width == 0 || w.screen_height == 0) {
        w.error = "GIF logical screen of zero width or height";
        return false;
    }
    budget.canvas(w.screen_width, w.screen_height);
    size_t pos = 13;
    if (d[10] & 0x80) pos += 3u << ((d[10] & 7) + 1);
    for (;;) {
        if (pos >= n) {
            w.error = pos == n && w.images > 0 ? "GIF trailer (0x3B) missing" : "GIF truncated";
            return false;
        }
        const uint8_t record = d[pos++];
        if (record == 0x3B) {
            w.trailer = true;
            w.end = pos;
            if (w.images == 0) {
                w.error = "GIF has no image";
                return false;
            }
            return true;
        }
        if (record == 0x21) {
            if (pos >= n) break;
            ++pos;  // label
            if (!skip_sub_blocks(d, n, pos)) break;
        } else if (record == 0x2C) {
            if (n - pos < 9) break;
            const unsigned width = le16(d + pos + 4), height = le16(d + pos + 6);
            const uint8_t flags = d[pos + 8];
            if (width == 0 || height == 0) {
                w.error = "GIF image with zero width or height";
                return false;
            }
            // Counted from its descriptor: a truncated last image is still
            // within the limits, and giflib may decode it to name the damage.
            budget.frame(width, height);
            budget.decoded(uint64_t(width) * height);
            ++w.descriptors;
            pos += 9;
            if (flags & 0x80) pos += 3u << ((flags & 7) + 1);
            if (pos >= n) break;
            ++pos;  // LZW minimum code size
            if (!skip_sub_blocks(d, n, pos)) break;
            ++w.images;
        } else {
            w.error = "GIF unknown record type " + std::to_string(record);
            return false;
        }
    }
    w.error = "GIF truncated";
    return false;
}

struct MemoryReader {
    const uint8_t* data;
    size_t size;
    size_t pos;
};

int read_memory(GifFileType* gif, GifByteType* out, int len) {
    auto* r = static_cast<MemoryReader*>(gif->UserData);
    if (len <= 0) return 0;
    size_t take = r->size - r->pos;
    if (take > size_t(len)) take = size_t(len);
    std::memcpy(out, r->data + r->pos, take);
    r->pos += take;
    return int(take);
}

struct GifCloser {
    void operator()(GifFileType* gif) const {
        int err = 0;
        DGifCloseFile(gif, &err);
    }
};

std::string giflib_error(int code) {
    const char* s = GifErrorString(code);
    return std::string("giflib: ") + (s ? s : "error") + " (" + std::to_string(code) + ")";
}

}  // namespace

Decoded decode_gif(const uint8_t* data, size_t size, const Limits& limits) {
    Decoded d;
    FrameBudget budget(limits);
    GifWalk walk;
    const bool walked = walk_gif(data, size, budget, walk);
    if (walk.have_screen) {
        d.width = walk.screen_width;
        d.height = walk.screen_height;
        if (!budget.check(d)) return d;
    }

    CpuDeadline deadline(limits.decode_cpu_limit);
    MemoryReader reader{data, size, 0};
    int err = 0;
    std::unique_ptr<GifFileType, GifCloser> gif(DGifOpen(&reader, read_memory, &err));
    if (!gif) {
        d.reason = giflib_error(err);
        return d;
    }
    std::vector<GifPixelType> line;
    size_t images = 0;
    for (bool done = false; !done;) {
        if (walked && !walk.trailer && images == walk.images && reader.pos == walk.end) break;
        GifRecordType type = UNDEFINED_RECORD_TYPE;
        if (DGifGetRecordType(gif.get(), &type) == GIF_ERROR) {
            d.reason = giflib_error(gif->Error);
            return d;
        }
        switch (type) {
        case IMAGE_DESC_RECORD_TYPE: {
            if (images >= walk.descriptors) {
                d.reason = "GIF structure: " + (walk.error.empty() ? std::string("unexpected image") : walk.error);
                return d;
            }
            if (DGifGetImageDesc(gif.get()) == GIF_ERROR) {
                d.reason = giflib_error(gif->Error);
                return d;
            }
            const int width = gif->Image.Width, height = gif->Image.Height;
            if (width <= 0 || height <= 0) {
                d.reason = "GIF image with zero width or height";
                return d;
            }
            line.resize(size_t(width));
            for (int y = 0; y < height; ++y) {
                if (DGifGetLine(gif.get(), line.data(), width) == GIF_ERROR) {
                    d.reason = giflib_error(gif->Error) + " at line " + std::to_string(y) + " of image " +
                               std::to_string(images + 1);
                    return d;
                }
                if (deadline.tick(uint64_t(width))) {
                    cpu_time_exceeded(d, deadline, "GIF image " + std::to_string(images + 1));
                    return d;
                }
            }
            ++images;
            break;
        }
        case EXTENSION_RECORD_TYPE: {
            int code = 0;
            GifByteType* block = nullptr;
            if (DGifGetExtension(gif.get(), &code, &block) == GIF_ERROR) {
                d.reason = giflib_error(gif->Error);
                return d;
            }
            while (block != nullptr) {
                if (DGifGetExtensionNext(gif.get(), &block) == GIF_ERROR) {
                    d.reason = giflib_error(gif->Error);
                    return d;
                }
                if (deadline.tick(256)) {
                    cpu_time_exceeded(d, deadline, "GIF extension blocks");
                    return d;
                }
            }
            break;
        }
        case TERMINATE_RECORD_TYPE:
            done = true;
            break;
        default:
            d.reason = "giflib: unexpected record type";
            return d;
        }
    }
    if (!walked) {
        d.reason = "GIF structure: " + walk.error;
        return d;
    }
    if (images != walk.images || reader.pos != walk.end) {
        d.reason = "GIF structure: giflib and the record walk disagree";
        return d;
    }
    d.frames = uint32_t(images);
    d.canonical_length = walk.end;
    d.outcome = Outcome::Ok;
    return d;
}

}  // namespace talentd::image::detail
