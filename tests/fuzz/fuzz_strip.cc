// libFuzzer target: image/strip, the metadata stripper, on hostile bytes.
//
// Any input goes through every format's rewriter (no crash, no read out of
// bounds, output not much larger than the input).  An input that
// validate() accepts (limits lowered so that each input stays fast) is then
// stripped as talentd does, and the result must be:
//   * accepted again by validate(), same format, size and frame count, and
//     canonical (nothing after the format's end) — unless the stripper says
//     `revalidate` (talentd then refuses the upload);
//   * the same pictures to the codec libraries: every frame's pixels, and
//     the ICC profile (or none with keep_icc = false) (tests/support/pixels);
//   * a fixed point: stripping it again changes no byte;
//   * a view of the input, not a copy, when nothing was removed.
// keep_icc comes from the input's last byte, so both settings are explored.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "image/strip.h"
#include "image/validate.h"
#include "../support/pixels.h"

namespace {

namespace img = talentd::image;

[[noreturn]] void broken(const char* what, const std::string& detail = "") {
    std::fprintf(stderr, "fuzz_strip: %s %s\n", what, detail.c_str());
    std::abort();
}

const img::Limits& limits() {
    static const img::Limits l = [] {
        img::Limits l;
        l.max_image_pixels = 4000000;
        l.max_total_pixels = 16000000;
        l.max_frames = 100;
        l.max_decode_memory = 32 << 20;
        return l;
    }();
    return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    img::StripOptions options;
    options.keep_icc = size == 0 || (data[size - 1] & 1) == 0;
    const std::span<const uint8_t> input(data, size);

    // Every rewriter on any bytes.  The output may exceed the input only by
    // a minimal EXIF replacing a shorter one and a WebP pad byte.
    for (img::Format f : {img::Format::Jpeg, img::Format::Png, img::Format::Gif, img::Format::Webp}) {
        const img::Stripped s = img::strip_metadata(input, f, options);
        if (s.ok && s.bytes.size() > size + 8) broken("output grew", img::format_name(f));
        if (!s.ok && (!s.bytes.empty() || s.reason.empty())) broken("failure without a reason");
    }

    const img::Verdict v = img::validate(data, size, limits());
    if (!v.ok) return 0;
    const std::span<const uint8_t> canonical = input.first(v.canonical_length);
    const img::Stripped s = img::strip_metadata(canonical, v.format, options);
    if (!s.ok) broken("validated picture not stripped:", s.reason);
    // No copy when nothing went (issue 17), and never a view that still holds what went.
    if (!s.rewritten && reinterpret_cast<const uint8_t*>(s.bytes.data()) != canonical.data())
        broken("unchanged picture is not the input");
    if (!s.removed.empty() && !s.rewritten) broken("something removed, yet the input is returned");

    const img::Verdict again = img::validate(reinterpret_cast<const uint8_t*>(s.bytes.data()), s.bytes.size(), limits());
    if (!again.ok && s.revalidate) return 0;  // talentd refuses the upload (strip.h, revalidate)
    if (!again.ok) broken("stripped picture refused:", again.reason);
    if (again.format != v.format || again.width != v.width || again.height != v.height || again.frames != v.frames)
        broken("stripped picture is another picture");
    if (again.canonical_length != s.bytes.size()) broken("stripped picture not canonical");

    talentd::test::PictureFacts before =
        talentd::test::picture_facts(std::string(reinterpret_cast<const char*>(canonical.data()), canonical.size()));
    const talentd::test::PictureFacts after = talentd::test::picture_facts(std::string(s.bytes));
    if (before.ok != after.ok) broken("decodes on one side only:", before.why + " / " + after.why);
    if (before.ok) {
        if (!options.keep_icc) {
            if (!after.icc.empty()) broken("ICC kept with keep_icc = false");
            before.icc.clear();
        }
        const std::string diff = talentd::test::compare_pictures(before, after);
        if (!diff.empty()) broken("pictures differ:", diff);
    }

    const img::Stripped twice =
        img::strip_metadata({reinterpret_cast<const uint8_t*>(s.bytes.data()), s.bytes.size()}, v.format, options);
    if (!twice.ok || twice.bytes != s.bytes) broken("stripping twice changes the picture");
    return 0;
}
