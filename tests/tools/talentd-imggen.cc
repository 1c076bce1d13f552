// talentd-imggen — deterministic test images for the validation benchmarks.
//
//   talentd-imggen ppm WIDTH HEIGHT SEED OUT.ppm          photo-like RGB (for cjpeg / cwebp)
//   talentd-imggen png WIDTH HEIGHT SEED OUT.png          the same picture as PNG (libpng, zlib level 6)
//   talentd-imggen gif WIDTH HEIGHT FRAMES SEED OUT.gif   animated GIF89a, 256-colour frames (giflib)
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

int usage() {
    std::fprintf(stderr,
                 "usage: talentd-imggen ppm|png W H SEED OUT\n"
                 "       talentd-imggen gif W H FRAMES SEED OUT\n");
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
    return usage();
}
