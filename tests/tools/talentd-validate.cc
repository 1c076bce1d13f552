// talentd-validate — run image validation on files, for benchmarks and triage.
//
//   talentd-validate [--repeat N] [--strip] [--max-pixels N] [--max-memory BYTES] [--max-size BYTES]
//                    [--max-decoded-bytes BYTES] [--cpu-limit SECONDS] [--no-memory-cap] FILE...
//
// Per file, one line:
//   FILE ok|refused format=F WxH frames=N canonical=BYTES/SIZE us=WALL cpu_us=CPU maxrss_kb=K
// followed, for a refusal, by the message and the reason, and by any warnings.
// The file is read once; validation runs N times (default 1) and the best
// wall-clock and the best CPU time (CLOCK_THREAD_CPUTIME_ID) of one
// validation are printed, in microseconds.  maxrss_kb is the process's peak RSS (getrusage) after the file.
// --strip: an accepted file's canonical bytes are also stripped of their
// metadata (image/strip, keep_icc) N times; a second line gives the best
// times and what went:
//   strip: us=WALL cpu_us=CPU bytes=IN->OUT removed=LIST orientation=O icc=BYTES
// Exit status: 0 when every file was accepted, 1 when any was refused, 2 on
// usage or I/O errors.
#include <sys/resource.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "image/strip.h"
#include "image/validate.h"

namespace img = talentd::image;

int main(int argc, char** argv) {
    img::Limits limits;
    long repeat = 1;
    bool strip = false;
    std::vector<const char*> files;
    for (int i = 1; i < argc; ++i) {
        auto number = [&](const char* opt) {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "talentd-validate: %s needs a value\n", opt);
                std::exit(2);
            }
            return std::strtoll(argv[++i], nullptr, 10);
        };
        if (!std::strcmp(argv[i], "--repeat")) repeat = long(number("--repeat"));
        else if (!std::strcmp(argv[i], "--strip")) strip = true;
        else if (!std::strcmp(argv[i], "--max-pixels")) limits.max_image_pixels = number("--max-pixels");
        else if (!std::strcmp(argv[i], "--max-memory")) limits.max_decode_memory = number("--max-memory");
        else if (!std::strcmp(argv[i], "--max-size")) limits.max_image_size = number("--max-size");
        else if (!std::strcmp(argv[i], "--max-decoded-bytes")) limits.max_decoded_bytes = number("--max-decoded-bytes");
        else if (!std::strcmp(argv[i], "--cpu-limit") && i + 1 < argc) limits.decode_cpu_limit = std::strtod(argv[++i], nullptr);
        else if (!std::strcmp(argv[i], "--no-memory-cap")) limits.cap_process_memory = false;
        else if (argv[i][0] == '-' && argv[i][1]) {
            std::fprintf(stderr, "usage: talentd-validate [--repeat N] [--max-pixels N] [--max-memory B] [--max-size B]\n"
                                 "                        [--max-decoded-bytes B] [--cpu-limit S] [--no-memory-cap] FILE...\n");
            return 2;
        } else files.push_back(argv[i]);
    }
    if (files.empty() || repeat < 1) {
        std::fprintf(stderr, "usage: talentd-validate [--repeat N] FILE...\n");
        return 2;
    }
    int status = 0;
    for (const char* path : files) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "talentd-validate: cannot read %s\n", path);
            status = 2;
            continue;
        }
        std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        img::Verdict v;
        double best = 1e300, best_cpu = 1e300;
        auto cpu_now = [] {
            timespec ts{};
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
            return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
        };
        for (long r = 0; r < repeat; ++r) {
            const double c0 = cpu_now();
            const auto t0 = std::chrono::steady_clock::now();
            v = img::validate(bytes.data(), bytes.size(), limits);
            const auto t1 = std::chrono::steady_clock::now();
            best_cpu = std::min(best_cpu, cpu_now() - c0);
            best = std::min(best, std::chrono::duration<double, std::micro>(t1 - t0).count());
        }
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        std::printf("%s %s format=%s %ux%u frames=%u canonical=%zu/%zu us=%.0f cpu_us=%.0f maxrss_kb=%ld\n", path,
                    v.ok ? "ok" : "refused", img::format_name(v.format), v.width, v.height, v.frames,
                    v.canonical_length, bytes.size(), best, best_cpu, ru.ru_maxrss);
        if (v.ok && strip) {
            const std::span<const uint8_t> canonical(bytes.data(), v.canonical_length);
            img::Stripped st;
            double sbest = 1e300, sbest_cpu = 1e300;
            for (long r = 0; r < repeat; ++r) {
                const double c0 = cpu_now();
                const auto t0 = std::chrono::steady_clock::now();
                st = img::strip_metadata(canonical, v.format, img::StripOptions{});
                const auto t1 = std::chrono::steady_clock::now();
                sbest_cpu = std::min(sbest_cpu, cpu_now() - c0);
                sbest = std::min(sbest, std::chrono::duration<double, std::micro>(t1 - t0).count());
            }
            std::printf("  strip: us=%.0f cpu_us=%.0f bytes=%zu->%zu removed=%s orientation=%d icc=%zu%s%s\n", sbest,
                        sbest_cpu, canonical.size(), st.bytes.size(), img::describe_removed(st.removed).c_str(),
                        st.orientation, st.icc_size, st.ok ? "" : " FAILED: ", st.reason.c_str());
        }
        if (!v.ok) {
            std::printf("  message: %s\n  reason: %s\n", v.message.c_str(), v.reason.c_str());
            if (status == 0) status = 1;
        }
        for (const std::string& w : v.warnings) std::printf("  warning: %s\n", w.c_str());
    }
    return status;
}
