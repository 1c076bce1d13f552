// image/strip — remove identifying metadata from a picture without touching
// a single pixel.
//
// strip_metadata() rewrites the container only: every byte of compressed
// image data (JPEG scans, PNG IDAT/fdAT, WebP VP8/VP8L/ALPH, GIF LZW blocks)
// is copied as it is, so the result decodes to exactly the same pixels, every
// frame, as the input.  One pass over the bytes, no codec, no I/O, and no
// copy at all when there is nothing to remove.
//
// Input: bytes that image::validate() accepted, already cut to
// Verdict::canonical_length, and the format it found.  Bytes past the
// format's end are never looked at or copied.  The input is still treated as
// hostile: every length is checked, and a container that does not parse
// gives ok == false (the caller refuses the upload) rather than a guess.
//
// What is kept and what is removed (talentd(8), METADATA):
//
//   JPEG  kept:    SOF/DHT/DQT/DRI/DAC/SOS and the scans, RSTn; APP0 JFIF
//                  (its thumbnail cut: libjpeg reads JFIF to choose the
//                  colour space); APP14 Adobe (colour transform; its first
//                  12 bytes, all libjpeg reads); APP2 ICC_PROFILE, every
//                  chunk, in order, byte for byte.
//         removed: APP1 Exif (GPS, serial numbers, owner, dates, maker
//                  notes, thumbnails), APP1 XMP and extended XMP, APP13
//                  Photoshop/IPTC, APP2 MPF/FlashPix, JFXX thumbnails,
//                  every other APPn, COM.
//   PNG   kept:    IHDR PLTE IDAT IEND, tRNS gAMA cHRM sRGB iCCP cICP mDCv
//                  cLLi sBIT bKGD pHYs, APNG acTL fcTL fdAT.
//         removed: eXIf, tEXt, zTXt, iTXt, tIME and every other ancillary
//                  chunk.
//   WebP  kept:    VP8X (flags fixed), ICCP, ANIM, ANMF (the frames' own
//                  ALPH/VP8/VP8L), ALPH, VP8, VP8L.
//         removed: EXIF, XMP and unknown chunks, also inside ANMF frames;
//                  the VP8X EXIF/XMP/ICC flags and the RIFF size follow.
//   GIF   kept:    header, colour tables, images, graphic control and plain
//                  text extensions, NETSCAPE2.0/ANIMEXTS1.0 looping (its loop
//                  sub-block only), ICCRGBG1012 (ICC profile).
//         removed: comment extensions, every other application extension
//                  (XMP DataXMP among them), unknown extensions.
//
// Orientation: when the removed EXIF (JPEG APP1, PNG eXIf, WebP EXIF) holds
// a valid Orientation tag (1-8) in IFD0 — where browsers read it — a minimal
// EXIF holding only that tag takes its place.  GIF carries no orientation.
//
// keep_icc = false removes the ICC profile as well (APP2 ICC_PROFILE, iCCP,
// ICCP, ICCRGBG1012): colours then render as sRGB.
//
// Thread-safety: no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "image/validate.h"

namespace talentd::image {

struct StripOptions {
    bool keep_icc = true;
};

// One removed piece, for the debug log: its name (segment, chunk or
// extension; printable ASCII only) and its size in bytes, header included.
// Never its contents.
struct RemovedPart {
    std::string name;
    size_t size = 0;
};

struct Stripped {
    bool ok = false;
    std::string reason;                // when !ok: what did not parse (for the log)
    // When ok: what to store.  A view, never a copy of its own: of the input
    // itself when the container needed no change (rewritten == false: a
    // picture without metadata, or one stripped before), else of the
    // rewrite in the caller's buffer (or in `own`, see below).
    std::string_view bytes;
    bool rewritten = false;
    std::shared_ptr<std::string> own;  // the rewrite's buffer when the caller gave none
    std::vector<RemovedPart> removed;  // in file order
    int orientation = 0;               // EXIF orientation kept (1-8), 0 when none
    size_t icc_size = 0;               // bytes of ICC profile data kept
    // The rewrite removed bytes that a decoder may have read as image data:
    // libwebp's VP8 decoder gives a simple-format WebP's last partition
    // everything up to the end of the RIFF, the chunks after the VP8 chunk
    // included.  The caller must validate `bytes` again and refuse the
    // upload if they fail (the picture needed its "metadata" to decode).
    bool revalidate = false;
};

// format: Jpeg, Png, Gif or Webp (as sniffed by validate()); any other
// format gives ok == false.
//
// `buffer` receives the rewrite, when there is one: reserved once at the
// input's size (plus a few bytes), never grown while writing.  A worker
// passes the same buffer for every upload, so its pages are touched once,
// not once per upload (issue 17: page faults are dear on a paravirtualised
// guest).  The result's bytes point into `data` or `buffer`: both must
// outlive it.  Without a buffer the result holds its own (`own`).
// WebP is always rewritten (its RIFF size is written as it goes); JPEG, PNG
// and GIF only when something is removed or replaced.
Stripped strip_metadata(std::span<const uint8_t> data, Format format, const StripOptions& options,
                        std::string* buffer);
Stripped strip_metadata(std::span<const uint8_t> data, Format format, const StripOptions& options);

// "APP1 Exif 1234, COM 20" — the removed list as one log fragment.
std::string describe_removed(const std::vector<RemovedPart>& removed);

// The EXIF orientation in a TIFF/EXIF block (with or without the leading
// "Exif\0\0"): the IFD0 Orientation tag when it is a SHORT of 1-8, else 0.
int exif_orientation(std::span<const uint8_t> exif);

// A minimal EXIF TIFF block (no "Exif\0\0" prefix) holding only IFD0's
// Orientation tag; big_endian chooses "MM" or "II".
std::string minimal_exif(int orientation, bool big_endian);

}  // namespace talentd::image
