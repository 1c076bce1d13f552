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

bool decode_bitstream(const uint8_t* bytes, size_t size, uint32_t width, uint32_t height, std::string& why) {
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
    const VP8StatusCode status = WebPDecode(bytes, size, &config);
    WebPFreeDecBuffer(&config.output);
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

    for (size_t i = 0; i < frames.size(); ++i) {
        const Frame& f = frames[i];
        WebPBitstreamFeatures features;
        const VP8StatusCode status = WebPGetFeatures(f.bytes, f.size, &features);
        if (status != VP8_STATUS_OK) {
            d.reason = std::string("libwebp: WebPGetFeatures ") + status_name(status) + " (frame " +
                       std::to_string(i + 1) + ")";
            return d;
        }
        if (area_memory(f, features) > uint64_t(limits.max_decode_memory)) {
            d.reason = "WebP frame " + std::to_string(f.width) + "x" + std::to_string(f.height) +
                       ": lossless decoding needs more than max_decode_memory";
            return d;
        }
        // A still image is decoded from the whole file (VP8X and chunk
        // layout checked by libwebp too); animation frames from their bitstream.
        const bool ok = animated ? decode_bitstream(f.bytes, f.size, f.width, f.height, d.reason)
                                 : decode_bitstream(data, end, f.width, f.height, d.reason);
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
