// image/decoders — internal: one decoder per allowed format.
//
// Each decode_*() gets the whole upload (already sniffed as its format, size
// already checked), walks the headers, applies the frame limits, then decodes
// every frame with the format's codec in bounded memory.  validate() turns the
// result into a Verdict with the client-facing message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "image/validate.h"

namespace talentd::image::detail {

enum class Outcome { Ok, Invalid, Dimensions, Frames, TotalPixels, DecodedBytes, CpuTime };

struct Decoded {
    Outcome outcome = Outcome::Invalid;
    std::string reason;                  // Invalid: the codec's (or the walker's) words
    std::vector<std::string> warnings;   // metadata-only warnings
    uint32_t width = 0, height = 0, frames = 0;
    size_t canonical_length = 0;
    uint64_t bad_width = 0, bad_height = 0;      // Dimensions: the offending canvas/frame
    uint64_t frame_count = 0, total_pixels = 0;  // Frames / TotalPixels
    uint64_t decoded_bytes = 0;                  // DecodedBytes: the estimate
};

// The CPU time a decoder may spend (Limits::decode_cpu_limit), measured on
// this thread's CPU clock from construction.  The decoders call tick() with
// the work they just did (bytes of rows, lines, input) between rows, lines,
// frames and records; the clock is read only every kTickBytes of work, so the
// check costs nothing measurable, and a decoder whose tick() says expired
// stops at once (Outcome::CpuTime).  A limit <= 0 never expires.
class CpuDeadline {
public:
    explicit CpuDeadline(double seconds);
    bool tick(uint64_t work);  // true when the limit is passed
    bool expired();            // reads the clock now
    double used() const;       // seconds of CPU since construction
    double limit() const { return limit_; }

private:
    static constexpr uint64_t kTickBytes = 1 << 18;
    double limit_;
    int64_t start_ns_;
    uint64_t pending_ = 0;
    bool expired_ = false;
};

// Sets d to Outcome::CpuTime with the figures for the log.
void cpu_time_exceeded(Decoded& d, const CpuDeadline& deadline, const std::string& where);

// The memory cap (Limits::cap_process_memory).  While decoding, the soft
// RLIMIT_DATA is lowered to the data size in use + max_decode_memory +
// kMemoryCapSlack: the slack is room for what validate() itself allocates
// meanwhile (frame lists, messages) and for malloc's rounding.
constexpr uint64_t kMemoryCapSlack = 8 << 20;

// VmData of a /proc/<pid>/status text (what RLIMIT_DATA counts), in bytes;
// 0 when there is no such line.
uint64_t vm_data_bytes(std::istream& status);

// The soft RLIMIT_DATA to set for a decode, given the data size now
// (data_now, bytes; 0: unknown) and the soft limit in force (soft_now,
// RLIM_INFINITY for none).  0: set none -- the cap is off
// (cap_process_memory false or max_decode_memory <= 0), the size in use is
// unknown, or the cap would not be below the limit already in force (never
// raised, never left equal).
uint64_t decode_data_limit(const Limits& limits, uint64_t data_now, uint64_t soft_now);

// Header accounting of canvas and frames against Limits.  Counts saturate, so
// any header values are safe.  check() reports the first failure in the order
// dimensions (canvas, then frames in file order), frame count, total pixels.
class FrameBudget {
public:
    explicit FrameBudget(const Limits& limits) : limits_(limits) {}
    void canvas(uint64_t width, uint64_t height) { note_dimensions(width, height); }
    void frame(uint64_t width, uint64_t height);
    // What decoding a frame produces, in bytes (bit depth, channels and size
    // as the codec decodes it): summed over the frames.
    void decoded(uint64_t bytes);
    uint64_t frames() const { return frames_; }
    // True when within the limits; otherwise sets d.outcome and its figures.
    // Decoded bytes are checked last (after total pixels).
    bool check(Decoded& d) const;

private:
    void note_dimensions(uint64_t width, uint64_t height);
    const Limits& limits_;
    bool too_large_ = false;
    uint64_t bad_width_ = 0, bad_height_ = 0;
    uint64_t frames_ = 0;
    uint64_t total_ = 0;
    uint64_t bytes_ = 0;
};

Decoded decode_jpeg(const uint8_t* data, size_t size, const Limits& limits);
Decoded decode_png(const uint8_t* data, size_t size, const Limits& limits);
Decoded decode_gif(const uint8_t* data, size_t size, const Limits& limits);
Decoded decode_webp(const uint8_t* data, size_t size, const Limits& limits);

// Step 6 of validate(): the decoder of `format` (one of the four above).
Decoded decode(Format format, const uint8_t* data, size_t size, const Limits& limits);

// The verdict for a screened picture (screen() said ok) and its decode: the
// client-facing message is built here from d's figures, never taken from d.
Verdict conclude(Verdict screened, Decoded d, const Limits& limits);

// Where the JPEG stream ends: the offset just past the EOI that follows the
// last scan, found by walking markers and segment lengths (entropy-coded data
// is skipped up to the next marker).  Returns 0 when the stream is malformed
// or has no EOI; *scans counts the SOS markers seen.
size_t jpeg_stream_end(const uint8_t* data, size_t size, int* scans);

}  // namespace talentd::image::detail
