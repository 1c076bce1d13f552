// What a picture shows, decoded by the codec libraries themselves, to prove
// that metadata stripping changed no pixel:
//
//   auto a = picture_facts(upload), b = picture_facts(stored);
//   a.ok && b.ok && a.frames == b.frames && a.icc == b.icc
//
// frames holds one SHA-256 (hex) per frame of everything that decides what
// that frame shows:
//   JPEG  libjpeg's full-size output (its default colour space, so the JFIF
//         and Adobe markers count) with the size and colour space;
//   PNG   libpng's output expanded to 16-bit RGBA (palette, tRNS, bit depth
//         applied) of the default image, then each APNG frame decoded the
//         same way from its fdAT data, with its fcTL fields (size, offset,
//         delay, dispose, blend); the first digest also covers the colour
//         chunks gAMA cHRM sRGB cICP sBIT bKGD pHYs and the acTL play count;
//   GIF   each frame through its colour table to RGBA (transparency from its
//         graphic control), with position, size, delay and disposal; the
//         first also covers the screen and the NETSCAPE loop count;
//   WebP  each frame as WebPAnimDecoder composites it on the canvas (RGBA)
//         with its timestamp; the first also covers the loop count.
// icc is the ICC profile as stored in the file (JPEG: every APP2
// ICC_PROFILE payload in order; PNG: the iCCP chunk data; WebP: ICCP; GIF:
// the ICCRGBG1012 sub-blocks' data), "" when there is none.
//
// Memory: a whole decoded frame (and for GIF, every frame) is held; for test
// images and fuzz inputs within lowered limits only.
#pragma once

#include <string>
#include <vector>

namespace talentd::test {

struct PictureFacts {
    bool ok = false;
    std::string why;                  // when !ok: the codec's complaint
    std::string format;               // jpeg png gif webp
    std::vector<std::string> frames;  // per-frame digests
    std::string icc;
};

PictureFacts picture_facts(const std::string& bytes);

// "" when a and b show the same pixels and carry the same ICC profile, else
// what differs.
std::string compare_pictures(const PictureFacts& a, const PictureFacts& b);

}  // namespace talentd::test
