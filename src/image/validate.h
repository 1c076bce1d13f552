// image/validate — is this upload a picture we will store, and what is it?
//
// validate() decides from the bytes alone (never the filename or the client's
// Content-Type) and in this order:
//
//   1. size 0                        -> "The submitted file is empty."
//   2. size > max_image_size         -> "Ensure this file is no larger than N bytes (X.Y MiB); it is M bytes."
//                                       (before anything else is looked at)
//   3. sniff(): magic bytes.  Unknown -> the generic invalid-image message.
//   4. a recognised format that is not in allowed_types (BMP, TIFF, SVG, HEIC,
//      AVIF, ICO, PDF, Netpbm; JPEG/PNG/GIF/WebP when removed from the list)
//                                    -> "File extension “bmp” is not allowed. Allowed extensions are: jpg, jpeg, png, gif, webp."
//   5. headers only (no pixel decoded yet): the canvas and every frame
//      width x height <= max_image_pixels, frames <= max_frames, the sum of
//      the frames' width x height <= max_total_pixels.  The first failing
//      check in that order gives its message:
//        "Image dimensions WxH (P pixels) exceed the limit of L pixels."
//        "Image has N frames; the limit is L."
//        "Image frames total P pixels; the limit is L pixels."
//   5b. an estimate of the decoded bytes (bit depth, channels, frames: what
//      the codec decodes, summed over the frames) <= max_decoded_bytes:
//        "Image decodes to N bytes; the limit is L bytes."
//   6. a full decode of every frame with the format's own codec (libjpeg-turbo,
//      libpng, giflib, libwebp), in bounded memory (scaled or row by row; no
//      full frame of a large image is ever held).  Any codec error, and any
//      codec warning about image data, refuses the file with the generic
//      message "Upload a valid image. The file you uploaded was either not an
//      image or a corrupted image."; Verdict::reason keeps the codec's words.
//      Warnings about metadata only go to Verdict::warnings and are not fatal.
//      The decode stops, and the picture is refused with the generic message,
//      once it has used decode_cpu_limit seconds of CPU (this thread's CPU
//      clock, read between rows, lines, frames and input pieces); the reason
//      says so.  While decoding, the process's soft RLIMIT_DATA is lowered to
//      max_decode_memory above what it uses (cap_process_memory): an
//      allocation past it fails and the picture is refused.
//
// Metadata is never expanded without bound: PNG text chunks (tEXt, zTXt,
// iTXt) and the other ancillary chunks that do not change pixels are skipped
// by libpng unread (CRC only), iCCP is inflated at most max_icc_profile_size;
// JPEG markers are not saved (libjpeg skips APPn/COM); GIF extensions are
// skipped block by block; WebP metadata chunks (EXIF, XMP, ICCP) are not
// parsed.
//
// canonical_length is where the format ends (JPEG EOI after the last scan,
// PNG IEND chunk, GIF trailer, RIFF size); the caller stores only
// data[0, canonical_length).
//
// Policy for the corpus' edge cases (SPEC §4; tests/unit/test_image.cc holds
// the same table and checks every row):
//
//   file                                    verdict  why
//   jpeg_trailing_zip_polyglot.jpg          accept   trailing bytes after EOI are dropped (canonical_length)
//   jpeg_missing_eoi.jpg                    reject   libjpeg "Premature end of JPEG file"; no end marker
//   jpeg_extraneous_bytes_before_eoi.jpg    reject   libjpeg "extraneous bytes before marker": junk in the data
//   jpeg_bitflips_undetected.jpg            accept   libjpeg reports nothing: undetectable by any decoder
//   jpeg_no_dht_mjpeg_style.jpg             accept   standard Huffman tables (Motion-JPEG style)
//   jpeg_exif_header_only.jpg               accept   empty EXIF is metadata
//   jpeg_app1_zero_length.jpg               accept   empty APP1 is metadata
//   jpeg_cmyk_no_adobe_marker.jpg           accept   CMYK JPEG; libjpeg decodes it as plain CMYK
//   testorig12.jpg, monkey12.jpg            reject   12-bit JPEG: "Unsupported JPEG data precision 12"
//   png_data_after_iend.png                 accept   trailing bytes after IEND are dropped
//   png_missing_iend.png                    reject   png_read_end fails: "Read Error"
//   png_ancillary_chunk_bad_crc.png         accept   ancillary CRC error: warning, chunk discarded
//   empty_ancillary_chunks.png              accept   ancillary chunk problems are warnings
//   png_bytes_named_photo.jpg               accept   stored as what it is (png)
//   gif_no_image.gif                        reject   no image descriptor: not an image
//   gif_missing_trailer.gif                 reject   the 0x3B trailer is missing: an end marker, refused
//                                                    like JPEG without EOI and PNG without IEND
//   webp_trailing_data_after_riff.webp      accept   bytes after the RIFF size are dropped
//
// Format notes:
//   * APNG: libpng ignores the animation chunks; validate() applies the frame
//     limits to the fcTL headers and decodes every fdAT frame through libpng
//     as a stand-alone image (same IHDR fields, fcTL size).
//   * Progressive (and multi-scan) JPEG needs its coefficients buffered:
//     about 2 bytes per sample; past max_decode_memory libjpeg stops with
//     "Backing store not supported" and the file is refused.  More than
//     max_progressive_scans scans is refused.
//   * Lossless WebP (and losslessly compressed alpha) decodes into a full
//     width x height x 4 buffer inside libwebp whatever the output scale:
//     such a frame is refused (generic message) when that estimate exceeds
//     max_decode_memory, before it is decoded.
//   * PNG rows: libpng keeps two rows of the image; a row so wide that three
//     rows exceed max_decode_memory is refused the same way.  A chunk whose
//     declared length runs past the end of the data is refused before libpng
//     sees it (libpng allocates some ancillary chunks at their declared size
//     before reading them: up to 2 GiB from a few bytes).
//   * GIF: a logical screen or an image of zero width or height is refused.
//   * Lossless WebP: libwebp 1.2.4 sizes its Huffman tables from the entropy
//     image before decoding.  When the header can be read up to the entropy
//     image (no transform with a sub-image before it), the tables for as
//     many groups as the entropy image has pixels (an upper bound of the
//     group count) are counted in the memory estimate; otherwise the
//     RLIMIT_DATA cap above is what bounds them (libwebp fails with
//     OUT_OF_MEMORY and the picture is refused).
//
// Thread-safety: validate() has no shared state; it may run in several
// threads at once only with cap_process_memory off (the cap is the
// process's resource limit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace talentd::image {

enum class Format { Unknown, Jpeg, Png, Gif, Webp, Bmp, Tiff, Svg, Heic, Avif, Ico, Pdf, Pnm };

// "jpeg","png","gif","webp","bmp","tiff","svg","heic","avif","ico","pdf",
// "pnm","unknown".
const char* format_name(Format);

// The format named by the first bytes (magic numbers only; a text file is SVG
// when, after an optional BOM and white space, it starts with "<?xml", "<svg",
// "<!--" or "<!DOCTYPE" and "<svg" occurs in its first 1 KiB).
Format sniff(const uint8_t* data, size_t size);

struct Limits {
    int64_t max_image_size = 5242880;      // bytes
    int64_t max_image_pixels = 50000000;   // per frame (and canvas)
    int64_t max_total_pixels = 250000000;  // sum over frames
    int64_t max_frames = 500;
    int64_t max_decode_memory = 64 << 20;  // bytes a decoder may allocate
    int64_t max_decoded_bytes = 200 << 20;  // sum over frames of what the codec decodes (config max_decoded_bytes)
    double decode_cpu_limit = 0.5;          // seconds of CPU the decoding may take (<= 0: none)
    int64_t max_icc_profile_size = 1 << 20; // PNG iCCP inflated at most this far; also libpng's cap on any ancillary chunk
    // Lower the process's soft RLIMIT_DATA to (its data size now +
    // max_decode_memory + kMemoryCapSlack) while decoding, so that no codec
    // allocation can go past it (it fails, and the picture is refused).
    // Off in AddressSanitizer builds (terabytes of shadow mappings).
    bool cap_process_memory = true;
    int max_progressive_scans = 100;
    std::vector<std::string> allowed_types = {"jpg", "jpeg", "png", "gif", "webp"};  // config allowed_image_types
};

struct Verdict {
    bool ok = false;
    std::string message;   // when !ok: the exact client-facing message for "profile_picture"
    std::string reason;    // when !ok: the codec's own words, for the log (never shown to clients)
    std::vector<std::string> warnings;  // metadata-only codec warnings, logged, not fatal
    Format format = Format::Unknown;
    // "jpg","png","gif","webp" (storage key suffix).  For a recognised but
    // refused format, the name used in the refusal ("bmp", "ppm", ...).
    std::string extension;
    std::string content_type;  // "image/jpeg", "image/png", "image/gif", "image/webp"
    uint32_t width = 0, height = 0, frames = 0;  // canvas size; frames >= 1 when ok
    // Bytes up to the format's end (JPEG EOI, PNG IEND, GIF trailer, RIFF
    // size); what follows is dropped before storage.
    size_t canonical_length = 0;
};

Verdict validate(const uint8_t* data, size_t size, const Limits& limits);

// Steps 1-4 of validate(), which call no codec (the sandboxed decoder of
// image/sandbox.h runs step 6 in another process).  !ok: the refusal, final.
// ok: not yet a verdict: format and extension are set and the picture must
// still be decoded (detail::decode, then detail::conclude).
Verdict screen(const uint8_t* data, size_t size, const Limits& limits);

// The client-facing messages, exactly (also used by the tests).
extern const char* const kEmptyMessage;    // "The submitted file is empty."
extern const char* const kInvalidMessage;  // "Upload a valid image. ..."
std::string size_message(int64_t limit, uint64_t size);
std::string extension_message(const std::string& extension, const std::vector<std::string>& allowed);
std::string dimensions_message(uint64_t width, uint64_t height, int64_t limit);
std::string frames_message(uint64_t frames, int64_t limit);
std::string total_pixels_message(uint64_t total, int64_t limit);
std::string decoded_bytes_message(uint64_t bytes, int64_t limit);

}  // namespace talentd::image
