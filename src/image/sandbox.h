// image/sandbox — validate() with every codec call in a sandboxed process
// that holds no secret and no connection (talentd(8), SECURITY).
//
//   auto sandbox = image::DecoderSandbox::start("/proc/self/exe", settings, &why);
//   bool unavailable = false;
//   image::Verdict v = sandbox->validate(data, size, limits, &unavailable);
//
// validate() gives the same Verdict as image::validate(): screening (size,
// sniffing, allowed formats) runs here, in the worker, since it calls no
// codec; the decode runs in a child of this worker's decoder zygote
// (image/decoder_process.h) and only its figures come back.  A decoder that
// was killed (seccomp, a crash, the CPU, wall-clock or memory limit) is the
// generic invalid-image refusal, with the cause in Verdict::reason and in an
// error line of the log.  A picture's bytes go to the decoder in this
// sandbox's memfd (one, reused), through a read-only descriptor; the worker
// never reads them back, so nothing the decoder does changes what is stored.
//
// `program` is an executable that runs run_decoder_zygote() when given the
// single argument --decoder-zygote: talentd-decoder (the small one, linked
// with the codecs only: see default_decoder_program()), and talentd and
// talentctl themselves.  It is started
// with fork + execve, so the zygote is a fresh image whatever this process
// holds, with descriptor 3 its socket, no other descriptor but 0-2, and the
// environment without TALENTD_* and CREDENTIALS_DIRECTORY.  The zygote dies
// with its worker (PR_SET_PDEATHSIG).
//
// If the zygote itself is gone (it never touches a picture, so this is not
// the picture's doing) validate() starts a new one and tries once more; if
// that fails too it sets *unavailable (the API answers 503).
//
// One DecoderSandbox per process, used from one thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "image/validate.h"

namespace talentd::image {

struct SandboxSettings {
    double cpu_limit = 2.0;        // decode_cpu_limit, seconds
    int64_t memory_limit = 0;      // decode_memory_limit, bytes (0: none)
    bool test_hooks = false;       // test_decoder_hooks
    int max_jobs = 1;              // decoder_max_jobs
};

class DecoderSandbox {
public:
    // Starts the zygote and waits until its first decoder is armed; nullptr
    // with *why when the sandbox cannot be set up (seccomp unavailable, ...).
    static std::unique_ptr<DecoderSandbox> start(const std::string& program, const SandboxSettings& settings,
                                                 std::string* why);
    ~DecoderSandbox();
    DecoderSandbox(const DecoderSandbox&) = delete;
    DecoderSandbox& operator=(const DecoderSandbox&) = delete;

    Verdict validate(const uint8_t* data, size_t size, const Limits& limits, bool* unavailable);

    pid_t zygote_pid() const { return zygote_; }
    // The last decode was its decoder's Nth picture (1: a fresh child; 0:
    // no decoder answered).  For tests and benchmarks.
    uint32_t last_job_number() const { return last_job_number_; }

private:
    DecoderSandbox(std::string program, const SandboxSettings& settings)
        : program_(std::move(program)), settings_(settings) {}
    bool spawn(std::string* why);
    void stop();
    // One job to the zygote, its reply back; false when the zygote failed.
    bool exchange(const void* job, size_t job_size, int memfd, std::string* reply, std::string* why);
    // The picture's bytes in the memfd the decoder maps; its descriptor (owned here).
    int load_picture(const uint8_t* data, size_t size);

    std::string program_;
    SandboxSettings settings_;
    pid_t zygote_ = -1;
    int socket_ = -1;
    uint32_t last_job_number_ = 0;
    int picture_fd_ = -1;
    int picture_ro_fd_ = -1;
    size_t picture_capacity_ = 0;
    uint64_t picture_file_ = 0;   // wire::Job::picture_file of picture_fd_
};

// talentd-decoder beside this process's executable when it is there, else
// this executable itself (/proc/self/exe).
std::string default_decoder_program();

// Starts a sandbox and validates a tiny built-in picture through it: true
// when decoding in a sandbox works on this machine (talentd's start-up,
// talentctl check).
bool probe_sandbox(const std::string& program, const SandboxSettings& settings, std::string* why);

}  // namespace talentd::image
