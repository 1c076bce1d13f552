// Unit tests of image/sandbox and image/decoder_process (Check): the
// decoder zygote is the built talentd-decoder ($TALENTD_BUILD), exactly as a
// worker starts it.
//
//   * every MANIFEST.tsv row of the corpus gets the same verdict through the
//     sandbox as from image::validate() in process (message, format,
//     dimensions, canonical length, warnings);
//   * a decoder made to open a file, create a socket, execve, write to
//     another descriptor (seccomp), crash (SIGSEGV), abort, loop for ever
//     (decode_cpu_limit, or the wall-clock backstop on a loaded machine) or allocate without end (decode_memory_limit) is
//     killed: the generic invalid-image verdict, the cause in the reason;
//     the same sandbox then validates the next picture;
//   * the hooks are dead unless test_decoder_hooks is on;
//   * a zygote that dies is replaced by the next validate();
//   * the decoder's answer is distrusted (wire::decode_decoded).
// The secrets test (the decoder's memory) is in tests/integration/test_sandbox.cc,
// where a real worker holds real secrets.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "image/decoder_wire.h"
#include "image/sandbox.h"
#include "image/validate.h"
#include "../support/stack.h"
#include "../support/temp_dir.h"

#include <check.h>

namespace img = talentd::image;
using Bytes = std::vector<uint8_t>;

namespace {

std::string corpus_dir() {
    const char* env = std::getenv("TALENTD_CORPUS");
    return (env && *env) ? env : "../shared/corpus";
}

Bytes corpus(const std::string& rel) {
    std::ifstream in(corpus_dir() + "/" + rel, std::ios::binary);
    if (!in) ck_abort_msg("cannot read corpus file %s", rel.c_str());
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string program() {
    std::string build = talentd::test::stack_build_dir();
    ck_assert_msg(!build.empty(), "no build directory with talentd (TALENTD_BUILD)");
    return build + "/talentd-decoder";
}

std::unique_ptr<img::DecoderSandbox> start(double cpu_limit = 1.0, bool hooks = true,
                                           int64_t memory_limit = 192LL << 20, int max_jobs = 1) {
    img::SandboxSettings s;
    s.max_jobs = max_jobs;
    s.cpu_limit = cpu_limit;
    s.memory_limit = memory_limit;
    s.test_hooks = hooks;
    std::string why;
    auto sandbox = img::DecoderSandbox::start(program(), s, &why);
    ck_assert_msg(sandbox != nullptr, "sandbox did not start: %s", why.c_str());
    return sandbox;
}

img::Verdict sandboxed(img::DecoderSandbox& sandbox, const Bytes& b, const img::Limits& limits = img::Limits()) {
    bool unavailable = true;
    img::Verdict v = sandbox.validate(b.data(), b.size(), limits, &unavailable);
    ck_assert_msg(!unavailable, "the sandbox said it is unavailable: %s", v.reason.c_str());
    return v;
}

Bytes with_hook(const std::string& name) {
    Bytes b = corpus("valid/png/basn2c08.png");
    const std::string marker = "talentd-test-hook:" + name + ";";
    b.insert(b.end(), marker.begin(), marker.end());
    return b;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + "|";
    return s;
}

}  // namespace

START_TEST(every_manifest_row_keeps_its_verdict) {
    auto sandbox = start(5.0, false);
    std::ifstream in(corpus_dir() + "/MANIFEST.tsv");
    ck_assert_msg(in.good(), "cannot read %s/MANIFEST.tsv", corpus_dir().c_str());
    std::string line;
    std::getline(in, line);
    int rows = 0, accepted = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const std::string file = line.substr(0, line.find('\t'));
        const Bytes b = corpus(file);
        const img::Verdict want = img::validate(b.data(), b.size(), img::Limits());
        const img::Verdict got = sandboxed(*sandbox, b);
        ck_assert_msg(got.ok == want.ok, "%s: sandbox ok=%d, in process ok=%d (%s)", file.c_str(), got.ok, want.ok,
                      got.reason.c_str());
        ck_assert_msg(got.message == want.message, "%s: message \"%s\" vs \"%s\"", file.c_str(), got.message.c_str(),
                      want.message.c_str());
        ck_assert_msg(got.reason == want.reason, "%s: reason \"%s\" vs \"%s\"", file.c_str(), got.reason.c_str(),
                      want.reason.c_str());
        ck_assert_msg(got.format == want.format && got.extension == want.extension &&
                          got.content_type == want.content_type,
                      "%s: format differs", file.c_str());
        ck_assert_msg(got.width == want.width && got.height == want.height && got.frames == want.frames,
                      "%s: %ux%u x%u vs %ux%u x%u", file.c_str(), got.width, got.height, got.frames, want.width,
                      want.height, want.frames);
        ck_assert_msg(got.canonical_length == want.canonical_length, "%s: canonical length %zu vs %zu", file.c_str(),
                      got.canonical_length, want.canonical_length);
        ck_assert_msg(join(got.warnings) == join(want.warnings), "%s: warnings differ", file.c_str());
        ++rows;
        accepted += got.ok;
    }
    ck_assert_int_gt(rows, 100);
    ck_assert_int_gt(accepted, 20);
    std::printf("sandbox: %d corpus rows, same verdicts (%d accepted)\n", rows, accepted);
}
END_TEST

struct Hook {
    const char* name;
    const char* cause;  // in Verdict::reason
};

const Hook kHooks[] = {
    {"open", "seccomp"},  {"socket", "seccomp"}, {"execve", "seccomp"}, {"write", "seccomp"},
    {"segv", "SIGSEGV"},  {"abort", "SIGABRT"},  {"loop", "limit exceeded"},
#if !defined(__SANITIZE_ADDRESS__)
    // Sanitizer builds set no RLIMIT_DATA (ASan's shadow memory).
    {"memory", "out of memory"},
#endif
};

START_TEST(misbehaving_decoder_is_killed_and_the_next_picture_decodes) {
    const Hook& hook = kHooks[_i];
    auto sandbox = start(0.5, true, 64LL << 20);
    img::Limits limits;
    limits.max_decode_memory = 32LL << 20;
    const pid_t zygote = sandbox->zygote_pid();
    img::Verdict v = sandboxed(*sandbox, with_hook(hook.name), limits);
    ck_assert_msg(!v.ok, "hook %s: the picture was accepted", hook.name);
    ck_assert_str_eq(v.message.c_str(), img::kInvalidMessage);
    ck_assert_msg(v.reason.find(hook.cause) != std::string::npos, "hook %s: reason \"%s\" lacks \"%s\"", hook.name,
                  v.reason.c_str(), hook.cause);
    // The same zygote serves the next picture.
    const Bytes good = corpus("valid/png/basn2c08.png");
    img::Verdict next = sandboxed(*sandbox, good, limits);
    ck_assert_msg(next.ok, "after hook %s: %s", hook.name, next.reason.c_str());
    ck_assert_int_eq(sandbox->zygote_pid(), zygote);
}
END_TEST

START_TEST(hooks_are_dead_unless_enabled) {
    auto sandbox = start(1.0, false);
    for (const Hook& hook : kHooks) {
        img::Verdict v = sandboxed(*sandbox, with_hook(hook.name));
        ck_assert_msg(v.ok, "hook %s ran with test_hooks off: %s", hook.name, v.reason.c_str());
    }
}
END_TEST

START_TEST(dead_zygote_is_replaced) {
    auto sandbox = start(1.0, false);
    const Bytes good = corpus("valid/png/basn2c08.png");
    ck_assert(sandboxed(*sandbox, good).ok);
    const pid_t first = sandbox->zygote_pid();
    ck_assert_int_eq(kill(first, SIGKILL), 0);
    img::Verdict v = sandboxed(*sandbox, good);
    ck_assert_msg(v.ok, "after the zygote died: %s", v.reason.c_str());
    ck_assert_int_ne(sandbox->zygote_pid(), first);
}
END_TEST

START_TEST(unstartable_zygote_is_reported) {
    img::SandboxSettings s;
    std::string why;
    auto sandbox = img::DecoderSandbox::start("/nonexistent/talentd", s, &why);
    ck_assert(sandbox == nullptr);
    ck_assert_msg(why.find("did not start") != std::string::npos, "why: %s", why.c_str());
    ck_assert(!img::probe_sandbox("/nonexistent/talentd", s, &why));
    ck_assert(img::probe_sandbox(program(), s, &why));
    // talentd itself can be the zygote too (the fallback when talentd-decoder is missing).
    ck_assert_msg(img::probe_sandbox(talentd::test::stack_build_dir() + "/talentd", s, &why), "%s", why.c_str());
}
END_TEST

// decoder_max_jobs: a decoder takes up to that many pictures, one after
// the other, and is replaced after any picture that was not valid.
START_TEST(decoder_is_reused_only_after_valid_pictures) {
    auto sandbox = start(1.0, true, 192LL << 20, 3);
    const Bytes good = corpus("valid/png/basn2c08.png");
    std::vector<uint32_t> numbers;
    for (int i = 0; i < 4; ++i) {
        ck_assert(sandboxed(*sandbox, good).ok);
        numbers.push_back(sandbox->last_job_number());
    }
    ck_assert_msg(numbers == std::vector<uint32_t>({1, 2, 3, 1}), "job numbers %u %u %u %u", numbers[0], numbers[1],
                  numbers[2], numbers[3]);
    // A refused picture retires its decoder, a valid one after it gets a fresh one.
    Bytes bad = good;
    bad.resize(bad.size() / 2);
    ck_assert(!sandboxed(*sandbox, bad).ok);
    ck_assert_uint_eq(sandbox->last_job_number(), 2);
    ck_assert(sandboxed(*sandbox, good).ok);
    ck_assert_uint_eq(sandbox->last_job_number(), 1);
    // decoder_max_jobs = 1: a fresh decoder for every picture.
    auto fresh = start(1.0, false, 192LL << 20, 1);
    for (int i = 0; i < 3; ++i) {
        ck_assert(sandboxed(*fresh, good).ok);
        ck_assert_uint_eq(fresh->last_job_number(), 1);
    }
}
END_TEST

// A reused decoder keeps the worker's picture memfd mapped from one picture
// to the next (wire::Job::picture_file): each picture, smaller or larger than
// the one before, is still the one it decodes.
START_TEST(reused_decoder_decodes_each_new_picture) {
    auto sandbox = start(1.0, false, 192LL << 20, 64);
    const char* files[] = {"valid/jpeg/baseline_444_q90.jpg", "valid/png/basn2c08.png", "valid/gif/treescap.gif",
                           "valid/jpeg/large_4000x3000_4.9MiB.jpg", "valid/jpeg/tiny_1x1.jpg",
                           "valid/jpeg/baseline_420_q90.jpg"};
    uint32_t job = 0;
    for (const char* name : files) {
        const Bytes b = corpus(name);
        const img::Verdict want = img::validate(b.data(), b.size(), img::Limits());
        const img::Verdict got = sandboxed(*sandbox, b);
        ck_assert_msg(want.ok && got.ok, "%s: %s", name, got.reason.c_str());
        ck_assert_msg(got.width == want.width && got.height == want.height && got.frames == want.frames &&
                          got.format == want.format && got.canonical_length == want.canonical_length,
                      "%s: sandboxed %ux%u, in process %ux%u", name, got.width, got.height, want.width, want.height);
        ck_assert_uint_eq(sandbox->last_job_number(), ++job);
    }
}
END_TEST

// decode_cpu_limit counts per picture in a reused decoder, and a decoder is
// retired before its RLIMIT_CPU (whole seconds, all its pictures) fires.
START_TEST(reused_decoder_cpu_is_counted_per_picture) {
    // 1.3 s per picture: two 0.7 s pictures together would pass it.
    auto sandbox = start(1.3, true, 192LL << 20, 10);
    const Bytes slow = with_hook("burn");
    std::vector<uint32_t> numbers;
    for (int i = 0; i < 3; ++i) {
        img::Verdict v = sandboxed(*sandbox, slow);
        ck_assert_msg(v.ok, "slow picture %d refused: %s", i + 1, v.reason.c_str());
        numbers.push_back(sandbox->last_job_number());
    }
    // RLIMIT_CPU 2 s: retired at 1 s of CPU, i.e. after the second picture.
    ck_assert_msg(numbers == std::vector<uint32_t>({1, 2, 1}), "job numbers %u %u %u", numbers[0], numbers[1],
                  numbers[2]);
}
END_TEST

// The children of a process, from /proc/PID/task/PID/children.
std::vector<pid_t> children_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
    std::vector<pid_t> out;
    for (pid_t p; in >> p;) out.push_back(p);
    return out;
}

// A sandbox that ends takes its decoders with it: its zygote reaps them
// before it exits.  Killed first, the zygote left a reused decoder to init,
// which in a container may never reap it (a zombie of the service's user:
// make package-check's remove step found two).
START_TEST(ended_sandbox_leaves_no_decoder) {
    std::vector<pid_t> decoders;
    {
        auto sandbox = start(1.0, false, 192LL << 20, 64);
        ck_assert(sandboxed(*sandbox, corpus("valid/png/basn2c08.png")).ok);
        decoders = children_of(sandbox->zygote_pid());
        ck_assert_msg(!decoders.empty(), "no decoder under zygote %d", sandbox->zygote_pid());
    }
    for (pid_t d : decoders) {
        const std::string stat = talentd::test::read_file("/proc/" + std::to_string(d) + "/stat");
        ck_assert_msg(stat.empty(), "decoder %d is left behind: %s", d, stat.c_str());
    }
}
END_TEST

START_TEST(decoder_answers_are_distrusted) {
    img::detail::Decoded d;
    d.outcome = img::detail::Outcome::Ok;
    d.width = 10;
    d.height = 20;
    d.frames = 1;
    d.canonical_length = 100;
    d.reason = "bad\ntext\x01";
    d.warnings = {"a metadata warning"};
    std::string bytes = img::wire::encode_decoded(d);
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    img::detail::Decoded out;
    std::string why;
    ck_assert_msg(img::wire::decode_decoded(p, bytes.size(), 100, &out, &why), "%s", why.c_str());
    ck_assert_int_eq(out.width, 10);
    ck_assert_int_eq(out.canonical_length, 100);
    ck_assert_str_eq(out.reason.c_str(), "bad?text?");
    ck_assert_str_eq(out.warnings.at(0).c_str(), "a metadata warning");
    // A canonical length past the upload, a truncated or padded answer.
    ck_assert(!img::wire::decode_decoded(p, bytes.size(), 99, &out, &why));
    for (size_t cut = 0; cut < bytes.size(); ++cut) ck_assert(!img::wire::decode_decoded(p, cut, 100, &out, &why));
    std::string padded = bytes + "x";
    ck_assert(!img::wire::decode_decoded(reinterpret_cast<const uint8_t*>(padded.data()), padded.size(), 100, &out,
                                         &why));
    // An accepted picture without frames; an unknown outcome.
    d.frames = 0;
    bytes = img::wire::encode_decoded(d);
    ck_assert(!img::wire::decode_decoded(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 100, &out,
                                         &why));
    d.frames = 1;
    bytes = img::wire::encode_decoded(d);
    bytes[8] = 9;
    ck_assert(!img::wire::decode_decoded(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 100, &out,
                                         &why));
}
END_TEST

int main() {
    Suite* s = suite_create("sandbox");
    TCase* corpus_case = tcase_create("corpus");
    tcase_set_timeout(corpus_case, 600);
    tcase_add_test(corpus_case, every_manifest_row_keeps_its_verdict);
    suite_add_tcase(s, corpus_case);

    TCase* confinement = tcase_create("confinement");
    tcase_set_timeout(confinement, 300);
    tcase_add_loop_test(confinement, misbehaving_decoder_is_killed_and_the_next_picture_decodes, 0,
                        int(sizeof kHooks / sizeof kHooks[0]));
    tcase_add_test(confinement, hooks_are_dead_unless_enabled);
    tcase_add_test(confinement, dead_zygote_is_replaced);
    tcase_add_test(confinement, unstartable_zygote_is_reported);
    tcase_add_test(confinement, decoder_answers_are_distrusted);
    tcase_add_test(confinement, decoder_is_reused_only_after_valid_pictures);
    tcase_add_test(confinement, reused_decoder_decodes_each_new_picture);
    tcase_add_test(confinement, reused_decoder_cpu_is_counted_per_picture);
    tcase_add_test(confinement, ended_sandbox_leaves_no_decoder);
    suite_add_tcase(s, confinement);

    SRunner* sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
