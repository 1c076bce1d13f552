// image/webp — WebP through libwebp.
//
// WebPDemux parses the RIFF container (refusing partial data) and gives the
// canvas and every frame's size before anything is decoded.  A still image is
// then decoded with WebPDecode; an animation frame by frame (each frame's
// ALPH/VP8/VP8L bitstream with WebPDecode; the canvas is never composited).
// Output is scaled to 1/8 (config.options.use_scaling), so a lossy frame is
// decoded with a few macroblock rows in memory.
//
// Lossless bitstreams (VP8L, and losslessly compressed alpha) are decoded by
// libwebp into a full width x height ARGB buffer whatever the output size, so
// such a frame is refused before decoding when that buffer alone would exceed
// max_decode_memory.
//
// Decoded bytes: a lossy frame is decoded in full to YUV 4:2:0 (1.5 bytes a
// pixel, +1 with alpha), a lossless one to ARGB (4 bytes a pixel).  Frames
// are decoded incrementally (WebPIDecoder), the input appended in pieces of
// doubling size (up to 512 KiB), so that the CPU deadline is checked between pieces while
// the re-parsing a suspended lossless header costs stays below twice one
// parse.  Metadata chunks (EXIF, XMP, ICCP) are never parsed.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <webp/decode.h>
#include <webp/demux.h>

#include "image/decoders.h"

namespace talentd::image::detail {
namespace {

uint32_t le32(const uint8_t* p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

const char* status_name(VP8StatusCode s) {
    switch (s) {
    case VP8_STATUS_OK: return "OK";
    case VP8_STATUS_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
    case VP8_STATUS_INVALID_PARAM: return "INVALID_PARAM";
    case VP8_STATUS_BITSTREAM_ERROR: return "BITSTREAM_ERROR";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "UNSUPPORTED_FEATURE";
    case VP8_STATUS_SUSPENDED: return "SUSPENDED";
    case VP8_STATUS_USER_ABORT: return "USER_ABORT";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "NOT_ENOUGH_DATA";
    }
    return "unknown status";
}

struct DemuxDeleter {
    void operator()(WebPDemuxer* d) const { WebPDemuxDelete(d); }
};

struct Frame {
    const uint8_t* bytes;
    size_t size;
    uint32_t width, height;
};

// Bytes libwebp allocates in proportion to the frame's area (not the output).
uint64_t area_memory(const Frame& f, const WebPBitstreamFeatures& features) {
    const uint64_t area = uint64_t(f.width) * f.height;
    if (features.format == 2) return 4 * area;  // VP8L: ARGB of the whole frame
    if (f.size >= 9 && std::memcmp(f.bytes, "ALPH", 4) == 0) {
        const int method = f.bytes[8] & 3;
        return method == 1 ? 5 * area : area;  // alpha plane (+ VP8L ARGB when compressed)
    }
    return 0;
}

// Least-significant-bit-first reader over a VP8L bitstream; reads past the
// end give zeros and set `over`.
struct Bits {
    const uint8_t* p;
    size_t n;
    size_t bit = 0;
    bool over = false;
    uint32_t read(int count) {
        uint32_t v = 0;
        for (int i = 0; i < count; ++i, ++bit) {
            if (bit / 8 >= n) {
                over = true;
                continue;
            }
            v |= uint32_t((p[bit / 8] >> (bit % 8)) & 1) << i;
        }
        return v;
    }
};

// libwebp 1.2.4's Huffman table sizes (src/dec/vp8l_dec.c kTableSize: the
// fixed part, 630 * 3 + 410 entries, plus the green table for each colour
// cache size), in 4-byte entries, and its HTreeGroup (five table pointers,
// flags and a 64-entry packed table).
constexpr uint32_t kHuffmanTableEntries[12] = {2300 + 654,  2300 + 656,  2300 + 658,  2300 + 662,
                                               2300 + 670,  2300 + 686,  2300 + 718,  2300 + 782,
                                               2300 + 910,  2300 + 1166, 2300 + 1678, 2300 + 2702};
constexpr uint64_t kHTreeGroupBytes = 568;

// The Huffman tables libwebp allocates for a lossless bitstream before
// decoding a pixel, as an upper bound read from the header: one group per
// pixel of the entropy image (at most 65536).  0 when the header does not
// reach the entropy image cheaply (a transform with a sub-image comes first,
// or there is no entropy image): the RLIMIT_DATA cap bounds those.
uint64_t lossless_table_memory(const uint8_t* bytes, size_t size) {
    if (size >= 8 && std::memcmp(bytes, "VP8L", 4) == 0) {
        const uint32_t len = le32(bytes + 4);
        bytes += 8;
        size = len < size - 8 ? len : size - 8;
    }
    if (size < 5 || bytes[0] != 0x2f) return 0;
    Bits b{bytes + 1, size - 1};
    const uint32_t width = b.read(14) + 1, height = b.read(14) + 1;
    b.read(1);  // alpha hint
    if (b.read(3) != 0) return 0;
    while (b.read(1)) {
        if (b.read(2) != 2) return 0;  // only subtract-green carries no sub-image
        if (b.over) return 0;
    }
    uint32_t cache_bits = 0;
    if (b.read(1)) {
        cache_bits = b.read(4);
        if (cache_bits < 1 || cache_bits > 11) return 0;
    }
    if (!b.read(1) || b.over) return 0;  // one group only
    const uint32_t precision = b.read(3) + 2;
    const uint64_t ew = (uint64_t(width) + (1u << precision) - 1) >> precision;
    const uint64_t eh = (uint64_t(height) + (1u << precision) - 1) >> precision;
    const uint64_t groups = ew * eh < 65536 ? ew * eh : 65536;
    return groups * (uint64_t(kHuffmanTableEntries[cache_bits]) * 4 + kHTreeGroupBytes);
}

// Bytes libwebp decodes a frame into, at full size.
uint64_t decoded_bytes(const Frame& f, const WebPBitstreamFeatures& features) {
    const uint64_t area = uint64_t(f.width) * f.height;
    if (features.format == 2) return 4 * area;
    return area * 3 / 2 + (features.has_alpha ? area : 0);
}

struct IdecDeleter {
    void operator()(WebPIDecoder* d) const { WebPIDelete(d); }
};

// Input pieces: 64 KiB, doubling up to 512 KiB (a suspended lossless header
// is parsed again from its start with each piece; a lossy frame and lossless
// rows go on where they stopped).
constexpr size_t kFirstPiece = 64 << 10, kLastPiece = 512 << 10;

// false with `why` on a codec error; *cpu set when the deadline stopped it.
bool decode_bitstream(const uint8_t* bytes, size_t size, uint32_t width, uint32_t height, CpuDeadline& deadline,
                      bool* cpu, std::string& why) {
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) {
        why = "libwebp: WebPInitDecoderConfig failed";
        return false;
    }
    config.options.use_scaling = 1;
    config.options.scaled_width = int(width >= 8 ? width / 8 : 1);
    config.options.scaled_height = int(height >= 8 ? height / 8 : 1);
    config.options.bypass_filtering = 1;  // in-loop filter: no effect on what is read
    config.options.no_fancy_upsampling = 1;
    config.options.use_threads = 0;
    config.output.colorspace = MODE_RGBA;
    VP8StatusCode status = VP8_STATUS_NOT_ENOUGH_DATA;
    {
        std::unique_ptr<WebPIDecoder, IdecDeleter> idec(WebPIDecode(nullptr, 0, &config));
        if (!idec) {
            why = "libwebp: WebPIDecode failed";
            return false;
        }
        size_t done = 0, piece = kFirstPiece;
        while (done < size) {
            const size_t take = size - done < piece ? size - done : piece;
            status = WebPIAppend(idec.get(), bytes + done, take);
            done += take;
            if (piece < kLastPiece) piece *= 2;
            if (status != VP8_STATUS_SUSPENDED) break;
            if (deadline.tick(take) || deadline.expired()) {
                *cpu = true;
                break;
            }
        }
    }
    WebPFreeDecBuffer(&config.output);
    if (*cpu) return false;
    if (status == VP8_STATUS_SUSPENDED) status = VP8_STATUS_NOT_ENOUGH_DATA;  // the data ended first
    if (status != VP8_STATUS_OK) {
        why = std::string("libwebp: WebPDecode ") + status_name(status);
        return false;
    }
    return true;
}

}  // namespace

Decoded decode_webp(const uint8_t* data, size_t size, const Limits& limits) {
    Decoded d;
    if (size < 12) {
        d.reason = "WebP: RIFF header truncated";
        return d;
    }
    const uint64_t riff = le32(data + 4);
    if (riff < 4 || 8 + riff > size) {
        d.reason = "WebP: RIFF size " + std::to_string(riff) + " does not fit the file (libwebp: NOT_ENOUGH_DATA)";
        return d;
    }
    const size_t end = size_t(8 + riff + (riff & 1)) <= size ? size_t(8 + riff + (riff & 1)) : size_t(8 + riff);

    WebPData whole{data, end};
    std::unique_ptr<WebPDemuxer, DemuxDeleter> demux(WebPDemux(&whole));
    if (!demux) {
        d.reason = "libwebp: WebPDemux: invalid or incomplete WebP container";
        return d;
    }
    d.width = WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_WIDTH);
    d.height = WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_HEIGHT);
    const bool animated = WebPDemuxGetI(demux.get(), WEBP_FF_FORMAT_FLAGS) & ANIMATION_FLAG;

    FrameBudget budget(limits);
    budget.canvas(d.width, d.height);
    std::vector<Frame> frames;
    WebPIterator iter;
    if (WebPDemuxGetFrame(demux.get(), 1, &iter)) {
        do {
            budget.frame(uint32_t(iter.width), uint32_t(iter.height));
            frames.push_back({iter.fragment.bytes, iter.fragment.size, uint32_t(iter.width), uint32_t(iter.height)});
        } while (WebPDemuxNextFrame(&iter));
        WebPDemuxReleaseIterator(&iter);
    }
    if (!budget.check(d)) return d;
    if (frames.empty()) {
        d.reason = "WebP: no frame";
        return d;
    }

    // Every frame's bitstream header, before anything is decoded.
    std::vector<WebPBitstreamFeatures> features(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) {
        const Frame& f = frames[i];
        const VP8StatusCode status = WebPGetFeatures(f.bytes, f.size, &features[i]);
        if (status != VP8_STATUS_OK) {
            d.reason = std::string("libwebp: WebPGetFeatures ") + status_name(status) + " (frame " +
                       std::to_string(i + 1) + ")";
            return d;
        }
        budget.decoded(decoded_bytes(f, features[i]));
    }
    if (!budget.check(d)) return d;

    CpuDeadline deadline(limits.decode_cpu_limit);
    for (size_t i = 0; i < frames.size(); ++i) {
        const Frame& f = frames[i];
        const uint64_t tables = lossless_table_memory(f.bytes, f.size);
        if (area_memory(f, features[i]) + tables > uint64_t(limits.max_decode_memory)) {
            d.reason = "WebP frame " + std::to_string(f.width) + "x" + std::to_string(f.height) +
                       ": lossless decoding needs more than max_decode_memory" +
                       (tables ? " (Huffman tables for up to " + std::to_string(tables) + " bytes)" : std::string());
            return d;
        }
        // A still image is decoded from the whole file (VP8X and chunk
        // layout checked by libwebp too); animation frames from their bitstream.
        bool cpu = false;
        const bool ok = animated ? decode_bitstream(f.bytes, f.size, f.width, f.height, deadline, &cpu, d.reason)
                                 : decode_bitstream(data, end, f.width, f.height, deadline, &cpu, d.reason);
        if (cpu) {
            cpu_time_exceeded(d, deadline, "WebP frame " + std::to_string(i + 1));
            return d;
        }
        if (!ok) {
            if (animated) d.reason += " (frame " + std::to_string(i + 1) + ")";
            return d;
        }
    }
    d.frames = uint32_t(frames.size());
    d.canonical_length = end;
    d.outcome = Outcome::Ok;
    return d;
}

}  // namespace talentd::image::detail
