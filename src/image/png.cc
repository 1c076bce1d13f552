// image/png — PNG (and APNG) through libpng, row by row.
//
// First a walk over the chunks (no decompression): IHDR, the APNG acTL/fcTL
// headers, where IEND ends.  Limits are applied to those headers.  Then libpng
// decodes the image into one row buffer (png_read_row, interlace handled by
// libpng) and png_read_end reads on to IEND, which must be there.  APNG frames
// stored in fdAT chunks (which libpng does not know) are each decoded as a
// stand-alone PNG served to libpng from pieces of the upload: the IHDR fields
// with the frame's size, PLTE/tRNS, and the fdAT payloads as IDAT.
//
// Text chunks (tEXt, zTXt, iTXt) and the other ancillary chunks that do not
// change pixels (eXIf, sPLT, tIME, pCAL, sCAL, oFFs, pHYs, and any unknown
// chunk) are handed to libpng's unknown-chunk path set to "never keep": it
// reads them for their CRC and drops them, never inflating a byte.  iCCP is
// the one compressed chunk libpng still reads: its inflated size is capped
// by png_set_chunk_malloc_max (max_icc_profile_size), which libpng also
// applies, as a benign (metadata) error, to every other non-IDAT chunk.
// The CPU deadline is checked as rows are decoded and as bytes are read.
//
// The setjmp region (png_decode_stream) touches only the plain PngJob.
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <png.h>

#include "image/decoders.h"

namespace talentd::image::detail {
namespace {

constexpr int kMaxWarnings = 8;
constexpr size_t kMessageMax = 200;

uint32_t be32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}
void put_be32(uint8_t* p, uint32_t v) {
    p[0] = uint8_t(v >> 24);
    p[1] = uint8_t(v >> 16);
    p[2] = uint8_t(v >> 8);
    p[3] = uint8_t(v);
}

// CRC-32 as in the PNG specification (for the chunks built for APNG frames).
struct CrcTable {
    uint32_t t[256];
    CrcTable() {
        for (uint32_t n = 0; n < 256; ++n) {
            uint32_t c = n;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
    }
};
uint32_t crc_update(uint32_t crc, const uint8_t* p, size_t n) {
    static const CrcTable table;
    uint32_t c = crc ^ 0xFFFFFFFFu;
    for (size_t i = 0; i < n; ++i) c = table.t[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

// ---------------------------------------------------------------- the walk

struct Slice {
    size_t offset = 0, length = 0;
};

struct ApngFrame {
    uint32_t width = 0, height = 0;
    bool is_default_image = false;  // its data is the IDAT stream
    std::vector<Slice> data;        // fdAT payloads (after the sequence number)
};

struct PngWalk {
    std::string error;  // empty: complete up to IEND
    bool have_ihdr = false;
    uint32_t width = 0, height = 0;
    Slice ihdr, plte, trns;  // whole chunks (length..CRC)
    uint8_t depth = 0, color_type = 0;
    size_t end = 0;     // just past IEND
    bool animated = false;
    std::vector<ApngFrame> frames;
};

bool fail(PngWalk& w, std::string why) {
    w.error = std::move(why);
    return false;
}

bool walk_png(const uint8_t* d, size_t n, PngWalk& w) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n < 8 || std::memcmp(d, sig, 8) != 0) return fail(w, "PNG signature");
    size_t pos = 8;
    bool seen_idat = false, idat_done = false;
    uint32_t next_seq = 0;
    for (;;) {
        if (n - pos < 12) return fail(w, "PNG truncated before IEND");
        const uint32_t len = be32(d + pos);
        if (len > 0x7FFFFFFFu) return fail(w, "PNG chunk length over 2^31-1");
        if (len > n - pos - 12) return fail(w, "PNG chunk runs past the end of the file");
        const uint8_t* type = d + pos + 4;
        const uint8_t* body = d + pos + 8;
        const Slice chunk{pos, size_t(len) + 12};
        auto is = [type](const char* t) { return std::memcmp(type, t, 4) == 0; };
        if (!w.have_ihdr) {
            if (!is("IHDR") || len != 13) return fail(w, "PNG does not start with IHDR");
            w.have_ihdr = true;
            w.width = be32(body);
            w.height = be32(body + 4);
            w.depth = body[8];
            w.color_type = body[9];
            w.ihdr = chunk;
        } else if (is("IEND")) {
            w.end = pos + chunk.length;
            break;
        } else if (is("IDAT")) {
            if (idat_done) return fail(w, "PNG IDAT chunks are not consecutive");
            seen_idat = true;
        } else {
            if (seen_idat) idat_done = true;
            if (is("PLTE")) w.plte = chunk;
            else if (is("tRNS")) w.trns = chunk;
            else if (is("acTL") && !seen_idat) w.animated = true;
            else if (is("fcTL") && w.animated) {
                if (len != 26) return fail(w, "APNG fcTL length");
                if (be32(body) != next_seq++) return fail(w, "APNG sequence number");
                ApngFrame f;
                f.width = be32(body + 4);
                f.height = be32(body + 8);
                const uint32_t x = be32(body + 12), y = be32(body + 16);
                if (f.width == 0 || f.height == 0 || x > w.width || f.width > w.width - x ||
                    y > w.height || f.height > w.height - y)
                    return fail(w, "APNG frame outside the canvas");
                f.is_default_image = !seen_idat;
                if (f.is_default_image && (f.width != w.width || f.height != w.height || x || y))
                    return fail(w, "APNG first frame differs from IHDR");
                if (!w.frames.empty() && !w.frames.back().is_default_image && w.frames.back().data.empty())
                    return fail(w, "APNG frame without fdAT");
                w.frames.push_back(std::move(f));
            } else if (is("fdAT") && w.animated) {
                if (len < 4 || w.frames.empty() || w.frames.back().is_default_image)
                    return fail(w, "APNG fdAT out of place");
                if (be32(body) != next_seq++) return fail(w, "APNG sequence number");
                if (crc_update(0, type, size_t(len) + 4) != be32(body + len))
                    return fail(w, "fdAT: CRC error");
                w.frames.back().data.push_back({pos + 12, size_t(len) - 4});
            }
        }
        pos += chunk.length;
    }
    if (w.animated && !w.frames.empty() && !w.frames.back().is_default_image && w.frames.back().data.empty())
        return fail(w, "APNG frame without fdAT");
    return true;
}

// ---------------------------------------------------------------- libpng

struct Segment {
    const uint8_t* data;
    size_t size;
};

// Plain data only: it crosses longjmp.
struct PngJob {
    const Segment* segments;
    size_t nsegments;
    size_t seg, off, consumed;
    png_uint_32 max_side;
    png_alloc_size_t chunk_malloc_max;
    png_uint_32 chunk_cache_max;
    CpuDeadline* deadline;  // not owned; outlives the job
    bool cpu_exceeded;
    png_structp png;
    png_infop info;
    png_bytep row;
    png_uint_32 width, height;
    bool data_warning;  // a warning about image data: the image is refused
    char error[kMessageMax];
    char warnings[kMaxWarnings][kMessageMax];
    int nwarnings;
};

void copy_message(char* dst, const char* msg) {
    std::snprintf(dst, kMessageMax, "%s", msg ? msg : "(null)");
}

// Is this libpng warning about metadata only?  Chunk-prefixed messages
// ("tEXt: CRC error") name their chunk: an ancillary one (lower-case first
// letter) is metadata, except APNG's acTL/fcTL/fdAT, which carry frames.  A few
// ancillary-chunk handlers warn without the prefix ("malformed sPLT chunk"):
// those name the chunk in the text.  Anything else counts as image data.
bool metadata_warning(const char* m) {
    if (!m) return false;
    auto letters = [](const char* p) {
        for (int i = 0; i < 4; ++i)
            if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z'))) return false;
        return true;
    };
    auto apng = [](const char* p) {
        return !std::strncmp(p, "acTL", 4) || !std::strncmp(p, "fcTL", 4) || !std::strncmp(p, "fdAT", 4);
    };
    if (std::strlen(m) >= 6 && m[4] == ':' && m[5] == ' ' && letters(m))
        return !apng(m) && m[0] >= 'a' && m[0] <= 'z';
    static const char* const ancillary[] = {"bKGD", "cHRM", "cICP", "eXIf", "gAMA", "hIST", "iCCP",
                                            "iTXt", "oFFs", "pCAL", "pHYs", "sBIT", "sCAL", "sPLT",
                                            "sRGB", "sTER", "tEXt", "tIME", "tRNS", "zTXt"};
    for (const char* name : ancillary)
        if (std::strstr(m, name)) return true;
    return false;
}

[[noreturn]] void on_error(png_structp png, png_const_charp msg) {
    auto* job = static_cast<PngJob*>(png_get_error_ptr(png));
    copy_message(job->error, msg);
    png_longjmp(png, 1);
}

void on_warning(png_structp png, png_const_charp msg) {
    auto* job = static_cast<PngJob*>(png_get_error_ptr(png));
    if (!metadata_warning(msg)) {
        if (!job->data_warning) copy_message(job->error, msg);
        job->data_warning = true;
        return;
    }
    if (job->nwarnings < kMaxWarnings) copy_message(job->warnings[job->nwarnings++], msg);
}

[[noreturn]] void stop_for_cpu(PngJob* job) {
    job->cpu_exceeded = true;
    png_error(job->png, "decode_cpu_limit");
}

void on_read(png_structp png, png_bytep out, size_t length) {
    auto* job = static_cast<PngJob*>(png_get_io_ptr(png));
    if (job->deadline->tick(length)) stop_for_cpu(job);
    while (length > 0) {
        if (job->seg >= job->nsegments) png_error(png, "Read Error");
        const Segment& s = job->segments[job->seg];
        const size_t take = s.size - job->off < length ? s.size - job->off : length;
        std::memcpy(out, s.data + job->off, take);
        out += take;
        length -= take;
        job->off += take;
        job->consumed += take;
        if (job->off == s.size) {
            ++job->seg;
            job->off = 0;
        }
    }
}

void png_release(PngJob* job) {
    if (job->row) png_free(job->png, job->row);
    job->row = nullptr;
    if (job->png) png_destroy_read_struct(&job->png, job->info ? &job->info : nullptr, nullptr);
    job->png = nullptr;
    job->info = nullptr;
}

// Decodes the stream in job->segments up to and including IEND.
bool png_decode_stream(PngJob* job) {
    job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, on_error, on_warning);
    if (!job->png) {
        copy_message(job->error, "png_create_read_struct failed");
        return false;
    }
    job->info = png_create_info_struct(job->png);
    if (!job->info) {
        copy_message(job->error, "png_create_info_struct failed");
        png_release(job);
        return false;
    }
    if (setjmp(png_jmpbuf(job->png))) {
        png_release(job);
        return false;
    }
    png_structp png = job->png;
    png_infop info = job->info;
    png_set_read_fn(png, job, on_read);
    png_set_user_limits(png, job->max_side, job->max_side);
    png_set_chunk_cache_max(png, job->chunk_cache_max);
    png_set_chunk_malloc_max(png, job->chunk_malloc_max);
    png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_WARN_DISCARD);
    png_set_benign_errors(png, 1);
    // Read for the CRC, then dropped: never inflated, never stored.
    static const png_byte skipped[] = "tEXt\0zTXt\0iTXt\0eXIf\0sPLT\0tIME\0pCAL\0sCAL\0oFFs\0pHYs\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, nullptr, 0);  // unknown chunks
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skipped, int(sizeof skipped / 5));
    png_read_info(png, info);
    job->width = png_get_image_width(png, info);
    job->height = png_get_image_height(png, info);
    const int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const size_t rowbytes = png_get_rowbytes(png, info);
    job->row = static_cast<png_bytep>(png_malloc(png, rowbytes));
    for (int pass = 0; pass < passes; ++pass)
        for (png_uint_32 y = 0; y < job->height; ++y) {
            png_read_row(png, job->row, nullptr);
            if (job->deadline->tick(rowbytes)) stop_for_cpu(job);
        }
    png_read_end(png, info);
    png_release(job);
    return true;
}

std::unique_ptr<PngJob> make_job(const Limits& limits, CpuDeadline& deadline, const Segment* segs,
                                 size_t nsegs) {
    auto job = std::make_unique<PngJob>();  // value-initialised
    job->deadline = &deadline;
    job->segments = segs;
    job->nsegments = nsegs;
    const int64_t side = limits.max_image_pixels < 1 ? 1
                         : limits.max_image_pixels > 0x7FFFFFFF ? 0x7FFFFFFF
                                                                : limits.max_image_pixels;
    job->max_side = png_uint_32(side);
    // iCCP's inflated profile and any other non-IDAT chunk; never above a
    // quarter of the decoder's memory.
    int64_t chunk_max = limits.max_icc_profile_size > 0 ? limits.max_icc_profile_size : 1;
    if (limits.max_decode_memory / 4 > 0 && chunk_max > limits.max_decode_memory / 4) chunk_max = limits.max_decode_memory / 4;
    job->chunk_malloc_max = png_alloc_size_t(chunk_max);
    job->chunk_cache_max = 256;
    return job;
}

// Bytes of one decoded row, filter byte included, as libpng inflates it.
uint64_t row_bytes(const PngWalk& w, uint32_t width) {
    int channels = 4;
    switch (w.color_type) {
    case 0: case 3: channels = 1; break;
    case 4: channels = 2; break;
    case 2: channels = 3; break;
    default: break;
    }
    const uint64_t depth = (w.depth >= 1 && w.depth <= 16) ? w.depth : 16;
    return (uint64_t(width) * channels * depth + 7) / 8 + 1;
}

// libpng holds about three rows (its row, the previous row, ours).
bool rows_fit(const PngWalk& w, uint32_t width, const Limits& limits) {
    return 3 * row_bytes(w, width) <= uint64_t(limits.max_decode_memory);
}

}  // namespace

// Does every chunk length, up to IEND or the end of the data, stay within the
// data?  libpng allocates some ancillary chunks (pCAL, sCAL, ...) at their
// declared length before reading them, so a lie there is refused first.
bool chunk_lengths_fit(const uint8_t* d, size_t n, std::string& why) {
    for (size_t pos = 8; n >= 8 && pos <= n - 8;) {  // wherever libpng can read a chunk header
        const uint32_t len = be32(d + pos);
        if (len > 0x7FFFFFFFu || n - pos < 12 || len > n - pos - 12) {
            why = "PNG chunk " + std::string(reinterpret_cast<const char*>(d + pos + 4), 4) + " of " +
                  std::to_string(len) + " bytes runs past the end of the file";
            for (char& c : why)
                if (c < 0x20 || c > 0x7E) c = '?';
            return false;
        }
        if (std::memcmp(d + pos + 4, "IEND", 4) == 0) break;
        pos += size_t(len) + 12;
    }
    return true;
}

Decoded decode_png(const uint8_t* data, size_t size, const Limits& limits) {
    Decoded d;
    PngWalk walk;
    const bool walked = walk_png(data, size, walk);

    if (walk.have_ihdr) {
        d.width = walk.width;
        d.height = walk.height;
        FrameBudget budget(limits);
        budget.canvas(walk.width, walk.height);
        bool default_is_frame = false;
        for (const ApngFrame& f : walk.frames) {
            budget.frame(f.width, f.height);
            budget.decoded(row_bytes(walk, f.width) * f.height);
            default_is_frame = default_is_frame || f.is_default_image;
        }
        if (!default_is_frame) {  // the (hidden) default image
            budget.frame(walk.width, walk.height);
            budget.decoded(row_bytes(walk, walk.width) * walk.height);
        }
        if (!budget.check(d)) return d;
        if (!rows_fit(walk, walk.width, limits)) {
            d.reason = "PNG rows too wide for max_decode_memory";
            return d;
        }
        d.frames = uint32_t(budget.frames());
    }
    if (!chunk_lengths_fit(data, size, d.reason)) return d;

    // The image itself (IHDR + IDAT), read on to IEND.
    CpuDeadline deadline(limits.decode_cpu_limit);
    const Segment whole{data, size};
    auto job = make_job(limits, deadline, &whole, 1);
    const bool decoded = png_decode_stream(job.get());
    for (int i = 0; i < job->nwarnings; ++i) d.warnings.push_back(std::string("libpng: ") + job->warnings[i]);
    if (job->cpu_exceeded) {
        cpu_time_exceeded(d, deadline, "PNG image data");
        return d;
    }
    if (!decoded || job->data_warning) {
        d.reason = std::string("libpng: ") + job->error;
        return d;
    }
    if (!walked) {
        d.reason = "PNG structure: " + walk.error;
        return d;
    }
    if (job->consumed != walk.end) {
        d.reason = "PNG structure: IEND ends at " + std::to_string(walk.end) + " but libpng stopped at " +
                   std::to_string(job->consumed);
        return d;
    }

    // APNG frames beyond the default image: each as a PNG of its own.
    for (const ApngFrame& f : walk.frames) {
        if (f.is_default_image) continue;
        const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
        uint8_t ihdr[25];
        std::memcpy(ihdr, data + walk.ihdr.offset, 25);
        put_be32(ihdr + 8, f.width);
        put_be32(ihdr + 12, f.height);
        put_be32(ihdr + 21, crc_update(0, ihdr + 4, 17));
        static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
        // Per fdAT: a built IDAT header (length, type), the payload, its CRC.
        std::vector<uint8_t> headers(f.data.size() * 12);
        std::vector<Segment> segs;
        segs.reserve(4 + 3 * f.data.size());
        segs.push_back({sig, 8});
        segs.push_back({ihdr, 25});
        if (walk.plte.length) segs.push_back({data + walk.plte.offset, walk.plte.length});
        if (walk.trns.length) segs.push_back({data + walk.trns.offset, walk.trns.length});
        for (size_t i = 0; i < f.data.size(); ++i) {
            uint8_t* h = headers.data() + 12 * i;
            const Slice& s = f.data[i];
            put_be32(h, uint32_t(s.length));
            std::memcpy(h + 4, "IDAT", 4);
            put_be32(h + 8, crc_update(crc_update(0, h + 4, 4), data + s.offset, s.length));
            segs.push_back({h, 8});
            segs.push_back({data + s.offset, s.length});
            segs.push_back({h + 8, 4});
        }
        segs.push_back({iend, 12});
        auto fjob = make_job(limits, deadline, segs.data(), segs.size());
        const bool ok = png_decode_stream(fjob.get());
        if (fjob->cpu_exceeded) {
            cpu_time_exceeded(d, deadline, "APNG frame");
            return d;
        }
        if (!ok || fjob->data_warning) {
            d.reason = std::string("libpng (APNG frame): ") + fjob->error;
            return d;
        }
    }

    if (d.frames == 0) d.frames = 1;
    d.canonical_length = walk.end;
    d.outcome = Outcome::Ok;
    return d;
}

}  // namespace talentd::image::detail
