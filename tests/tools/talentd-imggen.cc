// talentd-imggen — deterministic test images for the validation benchmarks.
//
//   talentd-imggen ppm WIDTH HEIGHT SEED OUT.ppm          photo-like RGB (for cjpeg / cwebp)
//   talentd-imggen png WIDTH HEIGHT SEED OUT.png          the same picture as PNG (libpng, zlib level 6)
//   talentd-imggen gif WIDTH HEIGHT FRAMES SEED OUT.gif   animated GIF89a, 256-colour frames (giflib)
//
// Costly files (issue 10: small uploads that cost seconds of CPU or hundreds
// of MiB to decode), every one of them within max_image_size:
//   talentd-imggen png-text ztxt|itxt|text COUNT INFLATED OUT.png
//                         1x1 PNG with COUNT text chunks of INFLATED bytes each
//                         (zTXt/iTXt: zlib-compressed zeros)
//   talentd-imggen png-iccp INFLATED OUT.png
//                         1x1 PNG whose iCCP profile inflates to INFLATED bytes
//                         (a profile header that claims that length, then zeros)
//   talentd-imggen apng WIDTH HEIGHT FRAMES DEPTH OUT.png
//                         APNG of FRAMES RGBA frames (DEPTH 8 or 16), all zeros
//   talentd-imggen gif-solid WIDTH HEIGHT FRAMES OUT.gif
//                         GIF of FRAMES one-colour images (LZW at its best)
//   talentd-imggen webp-groups WIDTH HEIGHT GROUPS OUT.webp
//                         lossless WebP whose entropy image (Huffman bits 2)
//                         names GROUPS Huffman groups of single-symbol codes
//   talentd-imggen webp-groups-predictor WIDTH HEIGHT GROUPS OUT.webp
//                         the same after a predictor transform
//
// "Photo-like": smooth gradients blended with seeded noise, so that the
// encoders produce file sizes of the order of real photographs.  The same
// arguments always give the same bytes (a fixed LCG, no time stamps).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <gif_lib.h>
#include <png.h>
#include <zlib.h>

namespace {

struct Lcg {
    uint64_t s;
    explicit Lcg(uint64_t seed) : s(seed * 6364136223846793005ULL + 1442695040888963407ULL) {}
    uint32_t next() {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        return uint32_t(s >> 33);
    }
};

// RGB, row-major.
std::vector<uint8_t> picture(int w, int h, uint64_t seed, int frame = 0) {
    std::vector<uint8_t> px(size_t(w) * h * 3);
    Lcg rng(seed + uint64_t(frame) * 7919);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int gx = (x + frame * 7) * 255 / (w > 1 ? w - 1 : 1);
            const int gy = y * 255 / (h > 1 ? h - 1 : 1);
            const int noise = int(rng.next() % 64) - 32;
            uint8_t* p = &px[(size_t(y) * w + x) * 3];
            auto clamp = [](int v) { return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v); };
            p[0] = clamp((gx * 3 + gy) / 4 + noise);
            p[1] = clamp((255 - gx + gy) / 2 + noise / 2);
            p[2] = clamp(((gx ^ gy) & 0xFF) / 2 + 64 + noise);
        }
    return px;
}

int write_ppm(int w, int h, uint64_t seed, const char* out) {
    FILE* f = std::fopen(out, "wb");
    if (!f) return 1;
    std::fprintf(f, "P6\n%d %d\n255\n", w, h);
    const auto px = picture(w, h, seed);
    std::fwrite(px.data(), 1, px.size(), f);
    return std::fclose(f) == 0 ? 0 : 1;
}

int write_png(int w, int h, uint64_t seed, const char* out) {
    FILE* f = std::fopen(out, "wb");
    if (!f) return 1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png_create_info_struct(png);
    const auto px = picture(w, h, seed);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        std::fclose(f);
        return 1;
    }
    png_init_io(png, f);
    png_set_compression_level(png, 6);
    png_set_IHDR(png, info, png_uint_32(w), png_uint_32(h), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; ++y) png_write_row(png, &px[size_t(y) * w * 3]);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return std::fclose(f) == 0 ? 0 : 1;
}

int write_gif(int w, int h, int frames, uint64_t seed, const char* out) {
    int err = 0;
    GifFileType* gif = EGifOpenFileName(out, false, &err);
    if (!gif) return 1;
    // A 6x6x6 colour cube plus greys: quantise by dropping bits.
    ColorMapObject* map = GifMakeMapObject(256, nullptr);
    for (int i = 0; i < 256; ++i) {
        if (i < 216) {
            map->Colors[i].Red = GifByteType((i / 36) * 51);
            map->Colors[i].Green = GifByteType((i / 6 % 6) * 51);
            map->Colors[i].Blue = GifByteType((i % 6) * 51);
        } else {
            const GifByteType g = GifByteType((i - 216) * 255 / 39);
            map->Colors[i].Red = map->Colors[i].Green = map->Colors[i].Blue = g;
        }
    }
    EGifSetGifVersion(gif, true);
    bool ok = EGifPutScreenDesc(gif, w, h, 8, 0, map) == GIF_OK;
    // NETSCAPE2.0 loop forever.
    const GifByteType app[] = {'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0'};
    const GifByteType loop[] = {1, 0, 0};
    ok = ok && EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_OK &&
         EGifPutExtensionBlock(gif, sizeof app, app) == GIF_OK &&
         EGifPutExtensionBlock(gif, sizeof loop, loop) == GIF_OK && EGifPutExtensionTrailer(gif) == GIF_OK;
    std::vector<GifPixelType> line(static_cast<size_t>(w));
    for (int f = 0; ok && f < frames; ++f) {
        const GifByteType gce[] = {0x04, 10, 0, 0};  // disposal 1, 100 ms
        ok = EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, sizeof gce, gce) == GIF_OK &&
             EGifPutImageDesc(gif, 0, 0, w, h, false, nullptr) == GIF_OK;
        const auto px = picture(w, h, seed, f);
        for (int y = 0; ok && y < h; ++y) {
            for (int x = 0; x < w; ++x) {
                const uint8_t* p = &px[(size_t(y) * w + x) * 3];
                line[size_t(x)] = GifPixelType((p[0] * 6 / 256) * 36 + (p[1] * 6 / 256) * 6 + p[2] * 6 / 256);
            }
            ok = EGifPutLine(gif, line.data(), w) == GIF_OK;
        }
    }
    GifFreeMapObject(map);
    if (EGifCloseFile(gif, &err) != GIF_OK) ok = false;
    return ok ? 0 : 1;
}


// ------------------------------------------------------------ costly files

void put_be32(std::string& out, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(char(v >> shift));
}

void put_chunk(std::string& out, const char* type, const std::string& body) {
    put_be32(out, uint32_t(body.size()));
    std::string typed(type, 4);
    typed += body;
    out += typed;
    put_be32(out, uint32_t(crc32(0, reinterpret_cast<const Bytef*>(typed.data()), uInt(typed.size()))));
}

// zlib stream of `count` zero bytes, deflated at level 9 in pieces.
std::string deflate_zeros(uint64_t count) {
    z_stream z{};
    deflateInit(&z, 9);
    std::vector<uint8_t> zeros(1 << 20, 0);
    std::string out;
    std::vector<uint8_t> buf(1 << 20);
    uint64_t left = count;
    int flush = Z_NO_FLUSH;
    do {
        const uInt take = uInt(left < zeros.size() ? left : zeros.size());
        left -= take;
        flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
        z.next_in = zeros.data();
        z.avail_in = take;
        do {
            z.next_out = buf.data();
            z.avail_out = uInt(buf.size());
            deflate(&z, flush);
            out.append(reinterpret_cast<char*>(buf.data()), buf.size() - z.avail_out);
        } while (z.avail_out == 0);
    } while (flush != Z_FINISH);
    deflateEnd(&z);
    return out;
}

std::string png_head(uint32_t w, uint32_t h, uint8_t depth, uint8_t color_type) {
    std::string out("\x89PNG\r\n\x1a\n", 8);
    std::string ihdr;
    put_be32(ihdr, w);
    put_be32(ihdr, h);
    ihdr += char(depth);
    ihdr += char(color_type);
    ihdr += std::string(3, '\0');
    put_chunk(out, "IHDR", ihdr);
    return out;
}

std::string png_tail_1x1(std::string out) {
    put_chunk(out, "IDAT", deflate_zeros(2));  // filter byte + one grey pixel
    put_chunk(out, "IEND", "");
    return out;
}

int write_bytes(const std::string& bytes, const char* path) {
    FILE* f = std::fopen(path, "wb");
    if (!f) return 1;
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    return std::fclose(f) == 0 && ok ? 0 : 1;
}

int write_png_text(const std::string& kind, int count, uint64_t inflated, const char* path) {
    std::string out = png_head(1, 1, 8, 0);
    std::string body;
    if (kind == "ztxt") body = std::string("Comment\0\0", 9) + deflate_zeros(inflated);
    else if (kind == "itxt") body = std::string("Comment\0\1\0\0\0", 12) + deflate_zeros(inflated);
    else if (kind == "text") body = std::string("Comment\0", 8) + std::string(inflated, 'a');
    else return 2;
    const char* type = kind == "ztxt" ? "zTXt" : kind == "itxt" ? "iTXt" : "tEXt";
    for (int i = 0; i < count; ++i) put_chunk(out, type, body);
    return write_bytes(png_tail_1x1(out), path);
}

int write_png_iccp(uint64_t inflated, const char* path) {
    std::string out = png_head(1, 1, 8, 0);
    // An ICC header whose size field claims `inflated` bytes, then zeros.
    std::string profile;
    put_be32(profile, uint32_t(inflated));
    z_stream z{};
    deflateInit(&z, 9);
    std::string compressed;
    std::vector<uint8_t> buf(1 << 20), zeros(1 << 20, 0);
    auto feed = [&](const uint8_t* p, uInt n, int flush) {
        z.next_in = const_cast<uint8_t*>(p);
        z.avail_in = n;
        do {
            z.next_out = buf.data();
            z.avail_out = uInt(buf.size());
            deflate(&z, flush);
            compressed.append(reinterpret_cast<char*>(buf.data()), buf.size() - z.avail_out);
        } while (z.avail_out == 0);
    };
    feed(reinterpret_cast<const uint8_t*>(profile.data()), 4, Z_NO_FLUSH);
    for (uint64_t left = inflated - 4; left > 0;) {
        const uInt take = uInt(left < zeros.size() ? left : zeros.size());
        left -= take;
        feed(zeros.data(), take, left == 0 ? Z_FINISH : Z_NO_FLUSH);
    }
    deflateEnd(&z);
    put_chunk(out, "iCCP", std::string("icc\0\0", 5) + compressed);
    return write_bytes(png_tail_1x1(out), path);
}

int write_apng(uint32_t w, uint32_t h, int frames, int depth, const char* path) {
    std::string out = png_head(w, h, uint8_t(depth), 6);
    std::string actl;
    put_be32(actl, uint32_t(frames));
    put_be32(actl, 0);
    put_chunk(out, "acTL", actl);
    // Every frame is the same zeros: one compressed stream, used for all.
    const uint64_t raw = uint64_t(h) * (1 + uint64_t(w) * 4 * (depth / 8));
    const std::string z = deflate_zeros(raw);
    uint32_t seq = 0;
    for (int f = 0; f < frames; ++f) {
        std::string fctl;
        put_be32(fctl, seq++);
        put_be32(fctl, w);
        put_be32(fctl, h);
        put_be32(fctl, 0);
        put_be32(fctl, 0);
        fctl += std::string("\0\1\0\1\0\0", 6);  // delay 1/1 s, dispose none, blend source
        put_chunk(out, "fcTL", fctl);
        if (f == 0) {
            put_chunk(out, "IDAT", z);
        } else {
            std::string fdat;
            put_be32(fdat, seq++);
            put_chunk(out, "fdAT", fdat + z);
        }
    }
    put_chunk(out, "IEND", "");
    return write_bytes(out, path);
}

int write_gif_solid(int w, int h, int frames, const char* path) {
    int err = 0;
    GifFileType* gif = EGifOpenFileName(path, false, &err);
    if (!gif) return 1;
    ColorMapObject* map = GifMakeMapObject(2, nullptr);
    map->Colors[0] = {0, 0, 0};
    map->Colors[1] = {255, 255, 255};
    EGifSetGifVersion(gif, true);
    bool ok = EGifPutScreenDesc(gif, w, h, 1, 0, map) == GIF_OK;
    std::vector<GifPixelType> line(size_t(w), 0);
    for (int f = 0; ok && f < frames; ++f) {
        ok = EGifPutImageDesc(gif, 0, 0, w, h, false, nullptr) == GIF_OK;
        for (int y = 0; ok && y < h; ++y) ok = EGifPutLine(gif, line.data(), w) == GIF_OK;
    }
    GifFreeMapObject(map);
    if (EGifCloseFile(gif, &err) != GIF_OK) ok = false;
    return ok ? 0 : 1;
}

// VP8L bits, least significant first.
struct BitWriter {
    std::string bytes;
    uint64_t acc = 0;
    int used = 0;
    void put(uint32_t value, int nbits) {
        for (int i = 0; i < nbits; ++i) {
            acc |= uint64_t((value >> i) & 1) << used;
            if (++used == 8) {
                bytes.push_back(char(acc));
                acc = 0;
                used = 0;
            }
        }
    }
    // A canonical Huffman code is read most significant bit first.
    void put_code(uint32_t code, int length) {
        for (int i = length - 1; i >= 0; --i) put((code >> i) & 1, 1);
    }
    std::string finish() {
        if (used) bytes.push_back(char(acc));
        acc = 0;
        used = 0;
        return bytes;
    }
};

// One-symbol code (symbol 0): 4 bits, nothing per pixel.
void simple_zero_code(BitWriter& b) {
    b.put(1, 1);  // simple
    b.put(0, 1);  // one symbol
    b.put(0, 1);  // 1-bit symbol
    b.put(0, 1);  // symbol 0
}

// All of the first 256 symbols of an alphabet at length 8 (the rest absent):
// the code-length code has lengths 0 and 8, one bit each.
void full_byte_code(BitWriter& b, int alphabet) {
    b.put(0, 1);       // normal code
    b.put(12 - 4, 4);  // 12 code-length code lengths, in the order 17 18 0 1 2 3 4 5 16 6 7 8
    const int order[12] = {17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8};
    for (int sym : order) b.put(sym == 0 || sym == 8 ? 1 : 0, 3);
    b.put(0, 1);  // max_symbol = alphabet
    for (int s = 0; s < alphabet; ++s) b.put_code(s < 256 ? 1 : 0, 1);  // '1' = length 8, '0' = length 0
}

int write_webp_groups(uint32_t w, uint32_t h, uint32_t groups, bool predictor, const char* path) {
    BitWriter b;
    b.put(0x2f, 8);
    b.put(w - 1, 14);
    b.put(h - 1, 14);
    b.put(0, 1);  // no alpha
    b.put(0, 3);  // version
    if (predictor) {
        // A predictor transform (mode 0 everywhere): its sub-image, like the
        // pixels, costs no bits, but a reader must decode it to go on.
        b.put(1, 1);
        b.put(0, 2);  // PREDICTOR_TRANSFORM
        b.put(0, 3);  // block bits 2
        b.put(0, 1);  // no colour cache
        for (int k = 0; k < 5; ++k) simple_zero_code(b);
    }
    b.put(0, 1);  // no (more) transform
    b.put(0, 1);  // no colour cache
    b.put(1, 1);  // meta Huffman codes
    b.put(0, 3);  // precision 2: one group index per 4x4 block
    const uint32_t ew = (w + 3) / 4, eh = (h + 3) / 4;
    // The entropy image: group index = red << 8 | green, 8-bit codes for both.
    b.put(0, 1);  // no colour cache
    full_byte_code(b, 256 + 24);  // green
    full_byte_code(b, 256);       // red
    simple_zero_code(b);          // blue
    simple_zero_code(b);          // alpha
    simple_zero_code(b);          // distance
    for (uint64_t i = 0; i < uint64_t(ew) * eh; ++i) {
        const uint32_t g = uint32_t(i % groups);
        b.put_code(g & 0xFF, 8);
        b.put_code(g >> 8, 8);
    }
    // Every group: five one-symbol codes.
    for (uint32_t g = 0; g < groups; ++g)
        for (int k = 0; k < 5; ++k) simple_zero_code(b);
    // The pixels cost no bits at all.
    std::string vp8l = b.finish();
    std::string out = "RIFF";
    const uint32_t chunk = uint32_t(vp8l.size());
    const uint32_t riff = 4 + 8 + chunk + (chunk & 1);
    for (int i = 0; i < 4; ++i) out.push_back(char(riff >> (8 * i)));
    out += "WEBPVP8L";
    for (int i = 0; i < 4; ++i) out.push_back(char(chunk >> (8 * i)));
    out += vp8l;
    if (chunk & 1) out.push_back('\0');
    return write_bytes(out, path);
}

int usage() {
    std::fprintf(stderr,
                 "usage: talentd-imggen ppm|png W H SEED OUT\n"
                 "       talentd-imggen gif W H FRAMES SEED OUT\n"
                 "       talentd-imggen png-text ztxt|itxt|text COUNT INFLATED OUT\n"
                 "       talentd-imggen png-iccp INFLATED OUT\n"
                 "       talentd-imggen apng W H FRAMES 8|16 OUT\n"
                 "       talentd-imggen gif-solid W H FRAMES OUT\n"
                 "       talentd-imggen webp-groups|webp-groups-predictor W H GROUPS OUT\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string kind = argv[1];
    if ((kind == "ppm" || kind == "png") && argc == 6) {
        const int w = std::atoi(argv[2]), h = std::atoi(argv[3]);
        const uint64_t seed = std::strtoull(argv[4], nullptr, 10);
        if (w <= 0 || h <= 0) return usage();
        return kind == "ppm" ? write_ppm(w, h, seed, argv[5]) : write_png(w, h, seed, argv[5]);
    }
    if (kind == "gif" && argc == 7) {
        const int w = std::atoi(argv[2]), h = std::atoi(argv[3]), frames = std::atoi(argv[4]);
        if (w <= 0 || h <= 0 || w > 65535 || h > 65535 || frames <= 0) return usage();
        return write_gif(w, h, frames, std::strtoull(argv[5], nullptr, 10), argv[6]);
    }
    if (kind == "png-text" && argc == 6)
        return write_png_text(argv[2], std::atoi(argv[3]), std::strtoull(argv[4], nullptr, 10), argv[5]);
    if (kind == "png-iccp" && argc == 4) {
        const uint64_t n = std::strtoull(argv[2], nullptr, 10);
        if (n < 132 || n > 0xFFFFFFFFu) return usage();
        return write_png_iccp(n, argv[3]);
    }
    if (kind == "apng" && argc == 7) {
        const long w = std::atol(argv[2]), h = std::atol(argv[3]);
        const int frames = std::atoi(argv[4]), depth = std::atoi(argv[5]);
        if (w <= 0 || h <= 0 || frames <= 0 || (depth != 8 && depth != 16)) return usage();
        return write_apng(uint32_t(w), uint32_t(h), frames, depth, argv[6]);
    }
    if (kind == "gif-solid" && argc == 6) {
        const int w = std::atoi(argv[2]), h = std::atoi(argv[3]), frames = std::atoi(argv[4]);
        if (w <= 0 || h <= 0 || w > 65535 || h > 65535 || frames <= 0) return usage();
        return write_gif_solid(w, h, frames, argv[5]);
    }
    if ((kind == "webp-groups" || kind == "webp-groups-predictor") && argc == 6) {
        const long w = std::atol(argv[2]), h = std::atol(argv[3]), groups = std::atol(argv[4]);
        if (w <= 0 || h <= 0 || w > 16384 || h > 16384 || groups <= 0 || groups > 65536) return usage();
        return write_webp_groups(uint32_t(w), uint32_t(h), uint32_t(groups), kind == "webp-groups-predictor", argv[5]);
    }
    return usage();
}
