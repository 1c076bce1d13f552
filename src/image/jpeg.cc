// image/jpeg — JPEG through libjpeg-turbo (libjpeg API), scaled 1/8.
//
// Every entropy-coded byte is still decoded at 1/8 scale (the Huffman or
// arithmetic decoder reads all coefficients; only the IDCT is reduced to the
// DC term), so corrupt data is found as in a full decode, at a fraction of the
// cost and with one short output strip in memory.
//
// Decoded bytes: width x height x components (what the entropy decoder
// produces, whatever the output scale).  The CPU deadline is checked in
// libjpeg's progress monitor, which it calls between MCU rows of every scan
// (also while a multi-scan file is buffered in jpeg_start_decompress) and
// between output passes.  APPn and COM markers are skipped by libjpeg
// (never saved: no jpeg_save_markers).
//
// libjpeg reports errors by longjmp.  The setjmp regions (jpeg_header_stage,
// jpeg_decode_stage) touch only the plain JpegJob; nothing with a destructor
// lives across them, and no C++ exception can start inside a callback.
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include <jpeglib.h>
#include <jerror.h>

#include "image/decoders.h"

namespace talentd::image::detail {

size_t jpeg_stream_end(const uint8_t* d, size_t n, int* scans_out) {
    int scans = 0;
    if (scans_out) *scans_out = 0;
    if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return 0;
    size_t pos = 2;
    for (;;) {
        if (pos >= n || d[pos] != 0xFF) return 0;  // junk where a marker belongs
        while (pos < n && d[pos] == 0xFF) ++pos;   // fill bytes
        if (pos >= n) return 0;
        const uint8_t m = d[pos++];
        if (m == 0xD9) {
            if (scans_out) *scans_out = scans;
            return pos;  // EOI
        }
        if (m == 0x00 || m == 0xD8) return 0;
        if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) continue;  // stand-alone markers
        if (pos + 2 > n) return 0;
        const size_t len = size_t(d[pos]) << 8 | d[pos + 1];
        if (len < 2 || len > n - pos) return 0;
        pos += len;
        if (m != 0xDA) continue;
        ++scans;
        if (scans_out) *scans_out = scans;
        // Entropy-coded data: up to the first 0xFF that starts a marker other
        // than a stuffed zero or a restart marker.
        for (;;) {
            const void* ff = pos < n ? std::memchr(d + pos, 0xFF, n - pos) : nullptr;
            if (!ff) return 0;
            pos = size_t(static_cast<const uint8_t*>(ff) - d);
            size_t q = pos + 1;
            while (q < n && d[q] == 0xFF) ++q;
            if (q >= n) return 0;
            if (d[q] == 0x00 || (d[q] >= 0xD0 && d[q] <= 0xD7)) {
                pos = q + 1;
                continue;
            }
            pos = q - 1;  // the 0xFF right before the marker code
            break;
        }
    }
}

namespace {

constexpr int kMaxWarnings = 8;

struct JpegJob;

struct JpegErrorMgr {
    jpeg_error_mgr pub;
    jmp_buf jump;
    JpegJob* job;
};

struct JpegProgress {
    jpeg_progress_mgr pub;
    JpegJob* job;
};

// Plain data only: it crosses longjmp.
struct JpegJob {
    const uint8_t* data;
    size_t size;
    long max_memory;
    int max_scans;
    jpeg_decompress_struct cinfo;
    JpegErrorMgr err;
    JpegProgress progress;
    bool created;
    bool scans_exceeded;
    bool cpu_exceeded;
    CpuDeadline* deadline;  // not owned; outlives the job
    unsigned width, height;
    size_t consumed;  // bytes libjpeg read, up to and including EOI
    char error[JMSG_LENGTH_MAX + 64];
    char warnings[kMaxWarnings][JMSG_LENGTH_MAX];
    int nwarnings;
};

[[noreturn]] void on_error(j_common_ptr c) {
    auto* err = reinterpret_cast<JpegErrorMgr*>(c->err);
    (*c->err->format_message)(c, err->job->error);
    longjmp(err->jump, 1);
}

// Warnings that concern metadata only; every other warning (truncation,
// corrupt entropy data, extraneous bytes, bad progression, ...) is fatal.
bool metadata_warning(int code) {
    return code == JWRN_JFIF_MAJOR || code == JWRN_BOGUS_ICC || code == JWRN_ADOBE_XFORM;
}

void on_message(j_common_ptr c, int level) {
    if (level >= 0) return;  // trace messages
    auto* err = reinterpret_cast<JpegErrorMgr*>(c->err);
    JpegJob* job = err->job;
    if (!metadata_warning(c->err->msg_code)) on_error(c);
    if (job->nwarnings < kMaxWarnings) (*c->err->format_message)(c, job->warnings[job->nwarnings++]);
    c->err->num_warnings++;
}

void on_progress(j_common_ptr c) {
    if (!c->is_decompressor) return;
    auto* d = reinterpret_cast<j_decompress_ptr>(c);
    JpegJob* job = reinterpret_cast<JpegProgress*>(c->progress)->job;
    if (d->input_scan_number > job->max_scans) {
        job->scans_exceeded = true;
        std::snprintf(job->error, sizeof job->error, "more than %d scans (input scan %d)", job->max_scans,
                      d->input_scan_number);
        longjmp(job->err.jump, 1);
    }
    // One call per MCU row (or pass): charge it as a row of the image.
    if (job->deadline && job->deadline->tick(uint64_t(d->image_width) * 8 * unsigned(d->num_components))) {
        job->cpu_exceeded = true;
        std::snprintf(job->error, sizeof job->error, "decode_cpu_limit");
        longjmp(job->err.jump, 1);
    }
}

void jpeg_release(JpegJob* job) {
    if (job->created) jpeg_destroy_decompress(&job->cinfo);
    job->created = false;
}

// Stage 1: create the decompressor and read the header.  False on error.
bool jpeg_header_stage(JpegJob* job) {
    job->cinfo.err = jpeg_std_error(&job->err.pub);
    job->err.pub.error_exit = on_error;
    job->err.pub.emit_message = on_message;
    job->err.job = job;
    if (setjmp(job->err.jump)) {
        jpeg_release(job);
        return false;
    }
    jpeg_create_decompress(&job->cinfo);
    job->created = true;
    job->cinfo.mem->max_memory_to_use = job->max_memory;
    job->progress.pub.progress_monitor = on_progress;
    job->progress.job = job;
    job->cinfo.progress = &job->progress.pub;
    jpeg_mem_src(&job->cinfo, job->data, static_cast<unsigned long>(job->size));
    jpeg_read_header(&job->cinfo, TRUE);
    job->width = job->cinfo.image_width;
    job->height = job->cinfo.image_height;
    return true;
}

// Stage 2: decode every scan at 1/8 scale, then read up to EOI.
bool jpeg_decode_stage(JpegJob* job) {
    if (setjmp(job->err.jump)) {
        jpeg_release(job);
        return false;
    }
    j_decompress_ptr c = &job->cinfo;
    c->scale_num = 1;
    c->scale_denom = 8;
    c->dct_method = JDCT_IFAST;
    c->do_fancy_upsampling = FALSE;
    c->do_block_smoothing = FALSE;
    c->quantize_colors = FALSE;
    jpeg_start_decompress(c);
    const JDIMENSION stride = c->output_width * JDIMENSION(c->output_components);
    const JDIMENSION rows = JDIMENSION(c->rec_outbuf_height > 16 ? c->rec_outbuf_height : 16);
    JSAMPARRAY strip = (*c->mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(c), JPOOL_IMAGE, stride, rows);
    while (c->output_scanline < c->output_height) jpeg_read_scanlines(c, strip, rows);
    jpeg_finish_decompress(c);
    job->consumed = job->size - c->src->bytes_in_buffer;
    jpeg_release(job);
    return true;
}

}  // namespace

Decoded decode_jpeg(const uint8_t* data, size_t size, const Limits& limits) {
    Decoded d;
    int scans = 0;
    const size_t end = jpeg_stream_end(data, size, &scans);

    auto job = std::make_unique<JpegJob>();  // large (error texts); value-initialised
    job->data = data;
    job->size = size;
    job->max_memory = long(limits.max_decode_memory);
    job->max_scans = limits.max_progressive_scans;
    CpuDeadline deadline(limits.decode_cpu_limit);
    job->deadline = &deadline;

    if (!jpeg_header_stage(job.get())) {
        d.reason = std::string("libjpeg: ") + job->error;
        return d;
    }
    d.width = job->width;
    d.height = job->height;
    FrameBudget budget(limits);
    budget.frame(job->width, job->height);
    budget.decoded(uint64_t(job->width) * job->height * uint64_t(job->cinfo.num_components > 0 ? job->cinfo.num_components : 1));
    if (!budget.check(d)) {
        jpeg_release(job.get());
        return d;
    }
    if (scans > limits.max_progressive_scans) {
        jpeg_release(job.get());
        d.reason = "JPEG has " + std::to_string(scans) + " scans; max_progressive_scans is " +
                   std::to_string(limits.max_progressive_scans);
        return d;
    }
    const bool decoded = jpeg_decode_stage(job.get());
    for (int i = 0; i < job->nwarnings; ++i) d.warnings.push_back(std::string("libjpeg: ") + job->warnings[i]);
    if (job->cpu_exceeded) {
        cpu_time_exceeded(d, deadline, "JPEG scans");
        return d;
    }
    if (!decoded) {
        d.reason = std::string("libjpeg: ") + job->error;
        return d;
    }
    if (end == 0) {
        d.reason = "JPEG structure: no EOI after the last scan";
        return d;
    }
    if (end != job->consumed) {
        d.reason = "JPEG structure: EOI at " + std::to_string(end) + " but libjpeg stopped at " +
                   std::to_string(job->consumed);
        return d;
    }
    d.frames = 1;
    d.canonical_length = end;
    d.outcome = Outcome::Ok;
    return d;
}

}  // namespace talentd::image::detail
