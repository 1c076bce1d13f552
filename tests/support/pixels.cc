#include "pixels.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <csetjmp>
#include <cstring>
#include <memory>

#include <gif_lib.h>
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <webp/demux.h>

namespace talentd::test {
namespace {

// SHA-256 of what is fed; plain data so that it may live in a setjmp region.
struct Digest {
    EVP_MD_CTX* ctx = nullptr;
    void start() {
        ctx = EVP_MD_CTX_new();
        EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    }
    void feed(const void* p, size_t n) { EVP_DigestUpdate(ctx, p, n); }
    void feed_u32(uint32_t v) {
        const uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
        feed(b, 4);
    }
    void drop() {
        if (ctx) EVP_MD_CTX_free(ctx);
        ctx = nullptr;
    }
    std::string finish() {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        EVP_DigestFinal_ex(ctx, md, &len);
        drop();
        static const char* hex = "0123456789abcdef";
        std::string s;
        for (unsigned i = 0; i < len; ++i) {
            s.push_back(hex[md[i] >> 4]);
            s.push_back(hex[md[i] & 15]);
        }
        return s;
    }
};

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// ------------------------------------------------------------------ JPEG

struct JpegErr {
    jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_fail(j_common_ptr c) {
    auto* e = reinterpret_cast<JpegErr*>(c->err);
    (*c->err->format_message)(c, e->message);
    longjmp(e->jump, 1);
}
void jpeg_quiet(j_common_ptr c, int level) {
    if (level < 0) c->err->num_warnings++;
}

// Plain data only: it crosses longjmp.
struct JpegRun {
    jpeg_decompress_struct cinfo;
    JpegErr err;
    bool created;
    Digest digest;
};

bool jpeg_run(JpegRun* r, const uint8_t* data, size_t size) {
    r->cinfo.err = jpeg_std_error(&r->err.pub);
    r->err.pub.error_exit = jpeg_fail;
    r->err.pub.emit_message = jpeg_quiet;
    if (setjmp(r->err.jump)) {
        if (r->created) jpeg_destroy_decompress(&r->cinfo);
        return false;
    }
    jpeg_create_decompress(&r->cinfo);
    r->created = true;
    jpeg_mem_src(&r->cinfo, data, static_cast<unsigned long>(size));
    jpeg_read_header(&r->cinfo, TRUE);
    jpeg_start_decompress(&r->cinfo);
    j_decompress_ptr c = &r->cinfo;
    r->digest.feed_u32(c->output_width);
    r->digest.feed_u32(c->output_height);
    r->digest.feed_u32(uint32_t(c->out_color_space));
    const JDIMENSION stride = c->output_width * JDIMENSION(c->output_components);
    JSAMPARRAY row = (*c->mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(c), JPOOL_IMAGE, stride, 1);
    while (c->output_scanline < c->output_height) {
        jpeg_read_scanlines(c, row, 1);
        r->digest.feed(row[0], stride);
    }
    jpeg_finish_decompress(c);
    jpeg_destroy_decompress(c);
    r->created = false;
    return true;
}

// Every APP2 ICC_PROFILE payload, in file order (a walk of the segments
// before the first scan).
std::string jpeg_icc(const uint8_t* d, size_t n) {
    std::string icc;
    for (size_t pos = 2; pos + 4 <= n && d[pos] == 0xFF;) {
        const uint8_t m = d[pos + 1];
        if (m == 0xDA || m == 0xD9) break;
        const size_t len = size_t(d[pos + 2]) << 8 | d[pos + 3];
        if (len < 2 || pos + 2 + len > n) break;
        if (m == 0xE2 && len >= 2 + 14 && std::memcmp(d + pos + 4, "ICC_PROFILE\0", 12) == 0)
            icc.append(reinterpret_cast<const char*>(d + pos + 4), len - 2);
        pos += 2 + len;
    }
    return icc;
}

void jpeg_facts(const std::string& bytes, PictureFacts& f) {
    auto r = std::make_unique<JpegRun>();
    r->digest.start();
    if (!jpeg_run(r.get(), reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())) {
        r->digest.drop();
        f.why = std::string("libjpeg: ") + r->err.message;
        return;
    }
    f.frames.push_back(r->digest.finish());
    f.icc = jpeg_icc(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    f.ok = true;
}

// ------------------------------------------------------------------- PNG

struct PngRun {
    const uint8_t* data;
    size_t size, pos;
    png_structp png;
    png_infop info;
    png_bytep image;
    png_bytepp rows;
    char message[200];
    Digest* digest;
};

[[noreturn]] void png_fail(png_structp png, png_const_charp msg) {
    auto* r = static_cast<PngRun*>(png_get_error_ptr(png));
    std::snprintf(r->message, sizeof r->message, "%s", msg);
    png_longjmp(png, 1);
}
void png_quiet(png_structp, png_const_charp) {}
void png_read_mem(png_structp png, png_bytep out, size_t n) {
    auto* r = static_cast<PngRun*>(png_get_io_ptr(png));
    if (n > r->size - r->pos) png_error(png, "Read Error");
    std::memcpy(out, r->data + r->pos, n);
    r->pos += n;
}
void png_run_release(PngRun* r) {
    if (r->rows) png_free(r->png, r->rows);
    if (r->image) png_free(r->png, r->image);
    r->rows = nullptr;
    r->image = nullptr;
    png_destroy_read_struct(&r->png, &r->info, nullptr);
}

// Decodes to 16-bit RGBA and feeds the size and every row to r->digest.
bool png_run(PngRun* r) {
    r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r, png_fail, png_quiet);
    r->info = png_create_info_struct(r->png);
    if (setjmp(png_jmpbuf(r->png))) {
        png_run_release(r);
        return false;
    }
    png_set_read_fn(r->png, r, png_read_mem);
    png_set_crc_action(r->png, PNG_CRC_DEFAULT, PNG_CRC_WARN_DISCARD);
    png_set_benign_errors(r->png, 1);
    png_read_info(r->png, r->info);
    png_set_expand(r->png);
    png_set_expand_16(r->png);
    png_set_gray_to_rgb(r->png);
    png_set_add_alpha(r->png, 0xFFFF, PNG_FILLER_AFTER);
    png_set_interlace_handling(r->png);
    png_read_update_info(r->png, r->info);
    const png_uint_32 w = png_get_image_width(r->png, r->info), h = png_get_image_height(r->png, r->info);
    const size_t rowbytes = png_get_rowbytes(r->png, r->info);
    r->image = static_cast<png_bytep>(png_malloc(r->png, rowbytes * h));
    r->rows = static_cast<png_bytepp>(png_malloc(r->png, sizeof(png_bytep) * h));
    for (png_uint_32 y = 0; y < h; ++y) r->rows[y] = r->image + y * rowbytes;
    png_read_image(r->png, r->rows);
    png_read_end(r->png, nullptr);
    r->digest->feed_u32(w);
    r->digest->feed_u32(h);
    r->digest->feed(r->image, rowbytes * h);
    png_run_release(r);
    return true;
}

bool png_pixels(const std::string& bytes, Digest& digest, std::string& why) {
    auto r = std::make_unique<PngRun>();
    r->data = reinterpret_cast<const uint8_t*>(bytes.data());
    r->size = bytes.size();
    r->digest = &digest;
    if (png_run(r.get())) return true;
    why = std::string("libpng: ") + r->message;
    return false;
}

void put_chunk(std::string& out, const char* type, const uint8_t* body, size_t n) {
    std::string chunk(type, 4);
    chunk.append(reinterpret_cast<const char*>(body), n);
    const uint32_t crc = uint32_t(crc32(0, reinterpret_cast<const Bytef*>(chunk.data()), uInt(chunk.size())));
    const uint8_t len[4] = {uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)};
    const uint8_t c[4] = {uint8_t(crc >> 24), uint8_t(crc >> 16), uint8_t(crc >> 8), uint8_t(crc)};
    out.append(reinterpret_cast<const char*>(len), 4);
    out += chunk;
    out.append(reinterpret_cast<const char*>(c), 4);
}

void png_facts(const std::string& bytes, PictureFacts& f) {
    const auto* d = reinterpret_cast<const uint8_t*>(bytes.data());
    const size_t n = bytes.size();
    struct Frame {
        std::string fctl;
        std::string data;  // fdAT payloads without their sequence numbers
    };
    std::string ihdr, plte, trns, colour;
    std::vector<Frame> frames;
    for (size_t pos = 8; pos + 12 <= n;) {
        const uint32_t len = be32(d + pos);
        if (len > n - pos - 12) break;
        const std::string type(reinterpret_cast<const char*>(d + pos + 4), 4);
        const std::string body(reinterpret_cast<const char*>(d + pos + 8), len);
        if (type == "IHDR") ihdr = body;
        else if (type == "PLTE") plte = body;
        else if (type == "tRNS") trns = body;
        else if (type == "iCCP") f.icc = body;
        else if (type == "gAMA" || type == "cHRM" || type == "sRGB" || type == "cICP" || type == "sBIT" ||
                 type == "bKGD" || type == "pHYs" || type == "acTL")
            colour += type + body;
        else if (type == "fcTL" && len >= 26) frames.push_back({body.substr(4), ""});
        else if (type == "fdAT" && len >= 4 && !frames.empty()) frames.back().data += body.substr(4);
        else if (type == "IEND") break;
        pos += size_t(len) + 12;
    }
    Digest first;
    first.start();
    first.feed(colour.data(), colour.size());
    if (!png_pixels(bytes, first, f.why)) {
        first.drop();
        return;
    }
    f.frames.push_back(first.finish());
    for (const Frame& fr : frames) {
        Digest dg;
        dg.start();
        dg.feed(fr.fctl.data(), fr.fctl.size());
        if (!fr.data.empty() && ihdr.size() == 13) {
            // The frame as a PNG of its own: IHDR with the frame's size.
            std::string png(reinterpret_cast<const char*>(d), 8);
            std::string h = ihdr;
            std::memcpy(h.data(), fr.fctl.data(), 8);  // width, height
            put_chunk(png, "IHDR", reinterpret_cast<const uint8_t*>(h.data()), h.size());
            if (!plte.empty()) put_chunk(png, "PLTE", reinterpret_cast<const uint8_t*>(plte.data()), plte.size());
            if (!trns.empty()) put_chunk(png, "tRNS", reinterpret_cast<const uint8_t*>(trns.data()), trns.size());
            put_chunk(png, "IDAT", reinterpret_cast<const uint8_t*>(fr.data.data()), fr.data.size());
            put_chunk(png, "IEND", nullptr, 0);
            if (!png_pixels(png, dg, f.why)) {
                dg.drop();
                f.frames.clear();
                return;
            }
        }
        f.frames.push_back(dg.finish());
    }
    f.ok = true;
}

// ------------------------------------------------------------------- GIF

struct GifReader {
    const uint8_t* data;
    size_t size, pos;
};
int gif_read(GifFileType* gif, GifByteType* out, int len) {
    auto* r = static_cast<GifReader*>(gif->UserData);
    size_t take = std::min(size_t(len < 0 ? 0 : len), r->size - r->pos);
    std::memcpy(out, r->data + r->pos, take);
    r->pos += take;
    return int(take);
}

void gif_facts(const std::string& bytes, PictureFacts& f) {
    GifReader reader{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 0};
    int err = 0;
    GifFileType* gif = DGifOpen(&reader, gif_read, &err);
    if (!gif) {
        f.why = "giflib: open " + std::to_string(err);
        return;
    }
    std::unique_ptr<GifFileType, void (*)(GifFileType*)> guard(gif, [](GifFileType* g) {
        int e = 0;
        DGifCloseFile(g, &e);
    });
    if (DGifSlurp(gif) == GIF_ERROR) {
        f.why = "giflib: slurp " + std::to_string(gif->Error);
        return;
    }
    // Loop count and ICC from the application extensions, wherever they are.
    int loop = -1;
    auto scan = [&](const ExtensionBlock* blocks, int count) {
        for (int i = 0; i < count; ++i) {
            const ExtensionBlock& b = blocks[i];
            if (b.Function != APPLICATION_EXT_FUNC_CODE || b.ByteCount != 11) continue;
            const bool looping = !std::memcmp(b.Bytes, "NETSCAPE2.0", 11) || !std::memcmp(b.Bytes, "ANIMEXTS1.0", 11);
            const bool icc = !std::memcmp(b.Bytes, "ICCRGBG1012", 11);
            for (int j = i + 1; j < count && blocks[j].Function == CONTINUE_EXT_FUNC_CODE; ++j) {
                const ExtensionBlock& c = blocks[j];
                if (looping && loop < 0 && c.ByteCount == 3 && c.Bytes[0] == 1) loop = c.Bytes[1] | c.Bytes[2] << 8;
                if (icc) f.icc.append(reinterpret_cast<const char*>(c.Bytes), size_t(c.ByteCount));
            }
        }
    };
    for (int i = 0; i < gif->ImageCount; ++i)
        scan(gif->SavedImages[i].ExtensionBlocks, gif->SavedImages[i].ExtensionBlockCount);
    scan(gif->ExtensionBlocks, gif->ExtensionBlockCount);
    for (int i = 0; i < gif->ImageCount; ++i) {
        const SavedImage& img = gif->SavedImages[i];
        const GifImageDesc& desc = img.ImageDesc;
        GraphicsControlBlock gcb{DISPOSAL_UNSPECIFIED, false, 0, NO_TRANSPARENT_COLOR};
        DGifSavedExtensionToGCB(gif, i, &gcb);
        const ColorMapObject* map = desc.ColorMap ? desc.ColorMap : gif->SColorMap;
        Digest dg;
        dg.start();
        if (i == 0) {
            dg.feed_u32(uint32_t(gif->SWidth));
            dg.feed_u32(uint32_t(gif->SHeight));
            dg.feed_u32(uint32_t(loop));
        }
        for (int v : {desc.Left, desc.Top, desc.Width, desc.Height, gcb.DelayTime, gcb.DisposalMode, int(gcb.UserInputFlag)})
            dg.feed_u32(uint32_t(v));
        const size_t count = size_t(desc.Width) * size_t(desc.Height);
        std::vector<uint8_t> rgba(count * 4);
        for (size_t p = 0; p < count && img.RasterBits; ++p) {
            const int index = img.RasterBits[p];
            uint8_t* o = &rgba[p * 4];
            if (index == gcb.TransparentColor) continue;  // 0,0,0,0
            if (map && index < map->ColorCount) {
                o[0] = map->Colors[index].Red;
                o[1] = map->Colors[index].Green;
                o[2] = map->Colors[index].Blue;
                o[3] = 255;
            } else {
                o[0] = uint8_t(index);
                o[3] = 1;  // an index past the table: still compared
            }
        }
        dg.feed(rgba.data(), rgba.size());
        f.frames.push_back(dg.finish());
    }
    f.ok = !f.frames.empty();
    if (!f.ok) f.why = "giflib: no image";
}

// ------------------------------------------------------------------ WebP

void webp_facts(const std::string& bytes, PictureFacts& f) {
    WebPData data{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
    WebPAnimDecoderOptions options;
    if (!WebPAnimDecoderOptionsInit(&options)) {
        f.why = "libwebp: options";
        return;
    }
    options.color_mode = MODE_RGBA;
    options.use_threads = 0;
    std::unique_ptr<WebPAnimDecoder, void (*)(WebPAnimDecoder*)> dec(WebPAnimDecoderNew(&data, &options),
                                                                    WebPAnimDecoderDelete);
    if (!dec) {
        f.why = "libwebp: WebPAnimDecoderNew failed";
        return;
    }
    WebPAnimInfo info;
    if (!WebPAnimDecoderGetInfo(dec.get(), &info)) {
        f.why = "libwebp: WebPAnimDecoderGetInfo failed";
        return;
    }
    while (WebPAnimDecoderHasMoreFrames(dec.get())) {
        uint8_t* canvas = nullptr;
        int timestamp = 0;
        if (!WebPAnimDecoderGetNext(dec.get(), &canvas, &timestamp)) {
            f.why = "libwebp: WebPAnimDecoderGetNext failed at frame " + std::to_string(f.frames.size() + 1);
            f.frames.clear();
            return;
        }
        Digest dg;
        dg.start();
        if (f.frames.empty()) {
            dg.feed_u32(info.canvas_width);
            dg.feed_u32(info.canvas_height);
            dg.feed_u32(info.loop_count);
            dg.feed_u32(info.bgcolor);
        }
        dg.feed_u32(uint32_t(timestamp));
        dg.feed(canvas, size_t(info.canvas_width) * info.canvas_height * 4);
        f.frames.push_back(dg.finish());
    }
    const WebPDemuxer* demux = WebPAnimDecoderGetDemuxer(dec.get());
    WebPChunkIterator chunk;
    if (WebPDemuxGetChunk(demux, "ICCP", 1, &chunk)) {
        f.icc.assign(reinterpret_cast<const char*>(chunk.chunk.bytes), chunk.chunk.size);
        WebPDemuxReleaseChunkIterator(&chunk);
    }
    f.ok = !f.frames.empty();
    if (!f.ok) f.why = "libwebp: no frame";
}

}  // namespace

PictureFacts picture_facts(const std::string& bytes) {
    PictureFacts f;
    const auto* d = reinterpret_cast<const uint8_t*>(bytes.data());
    const size_t n = bytes.size();
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) {
        f.format = "jpeg";
        jpeg_facts(bytes, f);
    } else if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) {
        f.format = "png";
        png_facts(bytes, f);
    } else if (n >= 6 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0)) {
        f.format = "gif";
        gif_facts(bytes, f);
    } else if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) {
        f.format = "webp";
        webp_facts(bytes, f);
    } else {
        f.why = "not a JPEG, PNG, GIF or WebP";
    }
    return f;
}

std::string compare_pictures(const PictureFacts& a, const PictureFacts& b) {
    if (!a.ok) return "first picture does not decode: " + a.why;
    if (!b.ok) return "second picture does not decode: " + b.why;
    if (a.format != b.format) return "format " + a.format + " vs " + b.format;
    if (a.frames.size() != b.frames.size())
        return std::to_string(a.frames.size()) + " frames vs " + std::to_string(b.frames.size());
    for (size_t i = 0; i < a.frames.size(); ++i)
        if (a.frames[i] != b.frames[i]) return "frame " + std::to_string(i + 1) + " differs";
    if (a.icc != b.icc)
        return "ICC profile differs (" + std::to_string(a.icc.size()) + " vs " + std::to_string(b.icc.size()) + " bytes)";
    return "";
}

}  // namespace talentd::test
