// image/decoder_wire — the messages between a worker, its decoder zygote and
// the sandboxed decoder child (image/sandbox.h, image/decoder_process.h).
//
//   worker -> zygote   Settings, once, then one Job per picture with the
//                      picture's bytes in a memfd (SCM_RIGHTS, read-only)
//   zygote -> child    the same Job and memfd
//   child  -> zygote   the decode's outcome (encode_decoded)
//   zygote -> worker   Ready, once; then a Reply per Job: how the child ended
//                      and, when it ended normally, the outcome's bytes
//
// All of it travels between processes of one binary on one machine, so the
// fixed-size structs are copied as they are.  The outcome is different: it
// comes from the process that decoded hostile bytes and may be owned by
// them, so decode_decoded() trusts nothing in it (bounds, counts, lengths,
// enum values, printable text) and the worker builds every client-facing
// message itself (detail::conclude) from the figures.  tests/fuzz/
// fuzz_decoder_wire.cc fuzzes it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "image/decoders.h"
#include "image/validate.h"

namespace talentd::image::wire {

// Changes with every change of these messages: a worker and a decoder
// program of different versions (an upgrade under a running talentd)
// refuse each other instead of misreading each other.
inline constexpr uint32_t kMagic = 0x74646302;

struct Settings {
    uint32_t magic = kMagic;
    double cpu_limit = 2.0;         // seconds of CPU per picture (decode_cpu_limit)
    int64_t memory_limit = 0;       // RLIMIT_DATA of a decoder child, bytes; 0: none
    uint8_t test_hooks = 0;         // test_decoder_hooks
    uint32_t max_jobs = 1;          // decoder_max_jobs: pictures one decoder child may decode
};

struct Job {
    uint32_t magic = kMagic;
    int32_t format = 0;             // image::Format, already sniffed and allowed by the worker
    uint64_t size = 0;              // bytes in the memfd
    // Non-zero: the memfd is the worker's one picture file, the same file
    // for the same number, rewritten for each picture (image/sandbox.h).  A
    // reused decoder keeps it mapped from one picture to the next instead of
    // mapping and unmapping it each time.  0: map it for this picture only.
    uint64_t picture_file = 0;
    int64_t max_image_size = 0;
    int64_t max_image_pixels = 0;
    int64_t max_total_pixels = 0;
    int64_t max_frames = 0;
    int64_t max_decode_memory = 0;
    int32_t max_progressive_scans = 0;
    int64_t max_decoded_bytes = 0;
    double decode_cpu_limit = 0;    // the in-decoder check (<= 0: none); the zygote enforces its own too
    int64_t max_icc_profile_size = 0;
};

Job make_job(Format format, size_t size, const Limits& limits);
// The decode limits a Job carries (allowed_types stays empty: screening is done).
Limits limits_of(const Job& job);

enum class Ended : int32_t {
    Decoded = 0,    // the child exited normally: an outcome follows the Reply
    Killed = 1,     // the child was killed or failed: `cause` says why
    Failed = 2,     // no child could be run (the sandbox could not be set up)
};

struct Reply {
    uint32_t magic = kMagic;
    Ended ended = Ended::Failed;
    char cause[240] = {};           // NUL-terminated, for the log
    uint32_t job_number = 0;        // Decoded: this was its decoder's Nth picture (1: a fresh child)
};

struct Ready {
    uint32_t magic = kMagic;
    uint8_t ok = 0;
    char cause[240] = {};
};

void set_cause(char (&cause)[240], const std::string& text);

// The wall-clock time a decoder may take: a backstop for when its CPU clock
// cannot be read, generous because an overloaded machine stretches it.
inline double wall_limit(double cpu_limit) { return 10 * cpu_limit + 5; }

// The largest outcome a child may send; more gets it killed.
// One message with at most one descriptor (SCM_RIGHTS), retried on EINTR.
// recv_with_fd sets *fd to the descriptor received (close-on-exec) or -1.
bool send_with_fd(int sock, const void* data, size_t size, int fd);
ssize_t recv_with_fd(int sock, void* data, size_t size, int* fd);

inline constexpr size_t kMaxOutcomeBytes = 64 * 1024;

std::string encode_decoded(const detail::Decoded& d);

// Parses an outcome for a picture of `upload_size` bytes.  False with *why
// when it is malformed or impossible (a canonical length past the upload,
// an Ok without frames, an unknown outcome...).  Text is cut to a few
// hundred bytes and anything not printable ASCII becomes '?'.
bool decode_decoded(const uint8_t* data, size_t size, size_t upload_size, detail::Decoded* out,
                    std::string* why);

}  // namespace talentd::image::wire
