#include "image/decoder_process.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <malloc.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core/log.h"
#include "image/decoder_wire.h"
#include "image/decoders.h"

namespace talentd::image {
namespace {

// The child's socket to the zygote, the only descriptor it keeps.
constexpr int kChildFd = 3;
// Stands for the child's own pid in the exported seccomp program until the
// child patches it in (no syscall number, flag or fd equals it).
constexpr uint32_t kPidPlaceholder = 0x7edec0de;
// Exit statuses of a child that were not a decode.
constexpr int kExitOutOfMemory = 71;   // operator new failed: decode_memory_limit
constexpr int kExitNoSandbox = 72;     // the confinement could not be set up
constexpr int kExitBadJob = 73;        // the picture could not be mapped
// Free heap a reused decoder keeps between pictures (see child_main).
constexpr size_t kKeptHeap = size_t(8) << 20;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizer = true;
#else
constexpr bool kSanitizer = false;
#endif

double now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

bool write_all(int fd, const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = ::write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= size_t(n);
    }
    return true;
}

// --- the seccomp program ------------------------------------------------------

class FilterContext {
public:
    FilterContext() : ctx_(seccomp_init(SCMP_ACT_KILL_PROCESS)) {}
    ~FilterContext() {
        if (ctx_) seccomp_release(ctx_);
    }
    FilterContext(const FilterContext&) = delete;
    FilterContext& operator=(const FilterContext&) = delete;
    scmp_filter_ctx get() const { return ctx_; }

private:
    scmp_filter_ctx ctx_;
};

bool build_filter(std::vector<sock_filter>* program, std::string* why) {
    // libseccomp would probe the kernel with seccomp(2), which systemd's
    // SystemCallFilter=@system-service denies, and then refuse
    // SCMP_ACT_KILL_PROCESS.  The program is only exported here and loaded
    // with prctl(2) by the child, which fails on a kernel that lacks it.
    seccomp_api_set(3);
    FilterContext ctx;
    if (!ctx.get()) return *why = "seccomp_init failed", false;
    int rc = 0;
    auto allow = [&](int nr) {
        if (rc == 0) rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, nr, 0);
    };
    // close: a reused decoder drops each picture's memfd after the job.
    for (int nr : {SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(close), SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(clock_gettime),
                   SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
                   SCMP_SYS(exit), SCMP_SYS(exit_group)})
        allow(nr);
    // Memory, never executable: a decoder that is taken over cannot map code.
    if (rc == 0)
        rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    if (rc == 0)
        rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    // Its one job and its one answer, on its own socket.
    if (rc == 0)
        rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(recvmsg), 1, SCMP_A0(SCMP_CMP_EQ, kChildFd));
    if (rc == 0)
        rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(write), 1, SCMP_A0(SCMP_CMP_EQ, kChildFd));
    // abort(): SIGABRT to itself, nobody else.
    if (rc == 0)
        rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 2,
                              SCMP_A0(SCMP_CMP_EQ, kPidPlaceholder), SCMP_A2(SCMP_CMP_EQ, SIGABRT));
    if (kSanitizer) {
        // The ASan/UBSan runtimes report on stderr and manage their own
        // memory and signal stacks; production builds allow none of this.
        if (rc == 0)
            rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(write), 1, SCMP_A0(SCMP_CMP_EQ, 2));
        for (int nr : {SCMP_SYS(sigaltstack), SCMP_SYS(sched_yield), SCMP_SYS(futex), SCMP_SYS(getrlimit),
                       SCMP_SYS(prlimit64), SCMP_SYS(rt_sigaction)})
            allow(nr);
    }
    if (rc != 0) return *why = std::string("seccomp_rule_add: ") + std::strerror(-rc), false;

    int fd = memfd_create("talentd-seccomp", MFD_CLOEXEC);
    if (fd < 0) return *why = std::string("memfd_create: ") + std::strerror(errno), false;
    rc = seccomp_export_bpf(ctx.get(), fd);
    off_t size = lseek(fd, 0, SEEK_END);
    if (rc != 0 || size <= 0 || size % sizeof(sock_filter) != 0) {
        close(fd);
        return *why = "seccomp_export_bpf failed", false;
    }
    program->resize(size_t(size) / sizeof(sock_filter));
    ssize_t n = pread(fd, program->data(), size_t(size), 0);
    close(fd);
    if (n != size) return *why = "reading the exported seccomp program failed", false;
    size_t placeholders = 0;
    for (const sock_filter& f : *program) placeholders += f.k == kPidPlaceholder;
    if (placeholders == 0) return *why = "the exported seccomp program has no pid slot", false;
    return true;
}

// --- the child ------------------------------------------------------------------

void out_of_memory() { _exit(kExitOutOfMemory); }

// Test hooks (test_decoder_hooks = on only): an upload containing
// "talentd-test-hook:NAME;" makes its decoder do NAME instead of decoding.
void run_test_hook(const uint8_t* data, size_t size, const wire::Settings& settings) {
    static const char kMarker[] = "talentd-test-hook:";
    const void* at = memmem(data, size, kMarker, sizeof kMarker - 1);
    if (!at) return;
    const char* name = static_cast<const char*>(at) + sizeof kMarker - 1;
    const size_t left = size - size_t(name - reinterpret_cast<const char*>(data));
    auto is = [&](const char* hook) {
        size_t n = std::strlen(hook);
        return left > n && std::memcmp(name, hook, n) == 0 && name[n] == ';';
    };
    if (is("open")) {
        syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
    } else if (is("socket")) {
        syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    } else if (is("execve")) {
        const char* argv[] = {"/bin/true", nullptr};
        syscall(SYS_execve, "/bin/true", argv, nullptr);
    } else if (is("write")) {
        syscall(SYS_write, 1, "x", 1);
    } else if (is("segv")) {
        uintptr_t address = 16;
        asm volatile("" : "+r"(address));  // a wild pointer the compiler cannot see through
        *reinterpret_cast<volatile int*>(address) = 1;
    } else if (is("abort")) {
        std::abort();
    } else if (is("burn")) {
        // 0.7 s of CPU, then the picture decodes: a slow but valid decode.
        timespec start, now;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
        unsigned long spin = 0;
        do {
            for (int i = 0; i < 100000; ++i) asm volatile("" : "+r"(spin));
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
        } while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < 0.7);
    } else if (is("loop")) {
        unsigned long spin = 0;
        for (;;) asm volatile("" : "+r"(spin));  // an opaque loop the compiler keeps
    } else if (is("memory")) {
        // Sanitizer builds have no RLIMIT_DATA: stop at twice the limit there.
        const int64_t cap = settings.memory_limit > 0 ? 2 * settings.memory_limit : int64_t(1) << 30;
        std::vector<char*> blocks;
        for (int64_t total = 0; total < cap; total += 1 << 20) {
            char* block = new char[1 << 20];
            std::memset(block, 1, 1 << 20);
            blocks.push_back(block);
        }
        for (char* b : blocks) delete[] b;
    }
}

// Never returns.  Runs in the freshly forked child.
[[noreturn]] void child_main(int sock, const wire::Settings& settings, std::vector<sock_filter>& program) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, "talentd-decode");
    // The sanitizer runtimes catch these to print reports; a decoder just dies.
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGXCPU}) signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);

    auto fail = [](const std::string& what) {
        std::string m = "E" + what + ": " + std::strerror(errno);
        write_all(kChildFd, m.data(), m.size());
        _exit(kExitNoSandbox);
    };
    if (sock != kChildFd) {
        if (dup2(sock, kChildFd) < 0) _exit(kExitNoSandbox);
        close(sock);
    }
    close_range(kChildFd + 1, ~0U, 0);
    close(0);
    close(1);
    if (!kSanitizer) close(2);

    auto limit = [&](int resource, rlim_t value, const char* name) {
        rlimit r{value, value};
        if (setrlimit(resource, &r) != 0) fail(std::string("setrlimit(") + name + ")");
    };
    limit(RLIMIT_NPROC, 0, "RLIMIT_NPROC");
    limit(RLIMIT_FSIZE, 0, "RLIMIT_FSIZE");
    limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
    limit(RLIMIT_NOFILE, 8, "RLIMIT_NOFILE");
    limit(RLIMIT_MEMLOCK, 0, "RLIMIT_MEMLOCK");
    {
        rlim_t soft = rlim_t(std::ceil(settings.cpu_limit));
        rlimit r{soft, soft + 1};
        if (setrlimit(RLIMIT_CPU, &r) != 0) fail("setrlimit(RLIMIT_CPU)");
    }
    // AddressSanitizer reserves terabytes of shadow memory: no data limit there.
    if (!kSanitizer && settings.memory_limit > 0) limit(RLIMIT_DATA, rlim_t(settings.memory_limit), "RLIMIT_DATA");
    std::set_new_handler(out_of_memory);

    // glibc malloc, in the decoder only (a worker keeps its own settings,
    // talentd.cc).  By default a buffer above the dynamic mmap threshold gets
    // a mapping of its own, unmapped when freed, and a free heap top above the
    // trim threshold goes back to the system: a reused decoder faulted its
    // large buffers in afresh for every picture (a 1 MiB WebP: ~250 faults
    // per upload), and a page fault costs ~13 us on the virtual machines we
    // measured.  Here every buffer under 32 MiB (glibc's highest threshold)
    // comes from the heap, and at most kKeptHeap of its free top stays mapped
    // between pictures, for the next one to reuse: an idle decoder holds what
    // its pictures touched, up to kKeptHeap more than a fresh one (the 1 MiB
    // WebP: 0.9 MiB; faults 250 -> 21-40 per upload, 3-4 ms of CPU less per
    // upload; 4 MiB was too little for a 1000x750 lossless WebP, 8 MiB did as
    // well as keeping everything; docs/BENCHMARKS-validation.md, "The
    // decoder's page faults").
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TOP_PAD, int(kKeptHeap));
    mallopt(M_TRIM_THRESHOLD, int(kKeptHeap));

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_NO_NEW_PRIVS)");
    const uint32_t self = uint32_t(getpid());
    for (sock_filter& f : program)
        if (f.k == kPidPlaceholder) f.k = self;
    sock_fprog prog{static_cast<unsigned short>(program.size()), program.data()};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) fail("prctl(PR_SET_SECCOMP)");

    // Armed.  From here on only the filter's system calls work.
    if (!write_all(kChildFd, "R", 1)) _exit(0);
    // One job after another until the zygote retires it (decoder_max_jobs;
    // the zygote kills a decoder after any picture that was not valid).
    void* picture = nullptr;      // the mapped memfd
    size_t picture_size = 0;
    uint64_t picture_file = 0;    // its Job::picture_file (0: unmapped after the job)
    for (;;) {
        wire::Job job;
        int memfd = -1;
        ssize_t n = wire::recv_with_fd(kChildFd, &job, sizeof job, &memfd);
        if (n <= 0) _exit(0);  // the zygote is closing
        if (n != sizeof job || job.magic != wire::kMagic || memfd < 0 || job.size == 0) _exit(kExitBadJob);
        // The worker's picture memfd stays mapped from one picture to the
        // next while it is the same file (Job::picture_file) and large
        // enough: mapping and unmapping it cost ~0.3 ms of CPU per 1 MiB
        // picture plus ~15 page faults; without them the decoder's excess over
        // an in-process decode (zygote included) went from 0.8-1.2 to 0.2-0.3
        // ms of CPU for a 1 MiB JPEG, PNG or GIF (docs/BENCHMARKS-validation.md,
        // "The decoder's page faults").
        // MAP_SHARED, so that it shows what the worker writes next;
        // MAP_POPULATE: one system call maps every page, where touching them
        // one by one costs a page fault each (expensive in a virtual machine).
        if (!picture || job.picture_file == 0 || job.picture_file != picture_file || job.size > picture_size) {
            if (picture) munmap(picture, picture_size);
            picture = mmap(nullptr, job.size, PROT_READ, MAP_SHARED | MAP_POPULATE, memfd, 0);
            if (picture == MAP_FAILED) _exit(kExitBadJob);
            picture_size = job.size;
            picture_file = job.picture_file;
        }
        const auto* data = static_cast<const uint8_t*>(picture);
        if (settings.test_hooks) run_test_hook(data, job.size, settings);
        detail::Decoded decoded = detail::decode(static_cast<Format>(job.format), data, job.size, wire::limits_of(job));
        if (picture_file == 0) {
            munmap(picture, picture_size);
            picture = nullptr;
        }
        close(memfd);
        // Length first: the zygote answers the worker as soon as it has it all.
        const std::string body = wire::encode_decoded(decoded);
        const uint64_t length = body.size();
        std::string out(reinterpret_cast<const char*>(&length), sizeof length);
        out += body;
        if (!write_all(kChildFd, out.data(), out.size())) _exit(0);
    }
}

// --- the zygote -------------------------------------------------------------------

std::string signal_cause(int sig) {
    switch (sig) {
    case SIGSYS: return "killed by seccomp: a forbidden system call (SIGSYS)";
    case SIGSEGV: return "crashed (SIGSEGV)";
    case SIGBUS: return "crashed (SIGBUS)";
    case SIGILL: return "crashed (SIGILL)";
    case SIGFPE: return "crashed (SIGFPE)";
    case SIGABRT: return "aborted (SIGABRT)";
    case SIGXCPU: return "CPU limit exceeded (RLIMIT_CPU, SIGXCPU)";
    default: {
        const char* name = sigabbrev_np(sig);
        return std::string("killed by signal ") + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
    }
    }
}

class Zygote {
public:
    explicit Zygote(int control) : control_(control) {}
    int run();

private:
    bool spawn(std::string* why);
    void discard_warm();
    wire::Reply decode(const wire::Job& job, int memfd, std::string* outcome);
    void reply(const wire::Reply& r, const std::string& outcome);

    // Whether a decoder that just answered `outcome` may take another picture.
    bool reusable(uint32_t job_number, const std::string& outcome, size_t upload_size, pid_t pid) const;

    int control_;
    wire::Settings settings_;
    std::vector<sock_filter> program_;
    pid_t warm_pid_ = -1;
    int warm_fd_ = -1;
    uint32_t warm_jobs_ = 0;  // pictures the warm decoder has decoded already
    pid_t unreaped_ = -1;     // a decoder that answered; killed and reaped after the reply
};

bool Zygote::spawn(std::string* why) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        return *why = std::string("socketpair: ") + std::strerror(errno), false;
    pid_t pid = fork();
    if (pid < 0) {
        close(pair[0]);
        close(pair[1]);
        return *why = std::string("fork: ") + std::strerror(errno), false;
    }
    if (pid == 0) child_main(pair[1], settings_, program_);
    close(pair[1]);
    // Wait until it is armed (or says why it cannot be).
    pollfd pfd{pair[0], POLLIN, 0};
    char buf[256];
    ssize_t n = 0;
    if (poll(&pfd, 1, kSanitizer ? 60000 : 10000) == 1) n = read(pair[0], buf, sizeof buf - 1);
    if (n == 1 && buf[0] == 'R') {
        warm_pid_ = pid;
        warm_fd_ = pair[0];
        warm_jobs_ = 0;
        return true;
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(pair[0]);
    if (n > 1 && buf[0] == 'E') *why = std::string(buf + 1, size_t(n - 1));
    else if (WIFSIGNALED(status)) *why = "the decoder died while setting up its sandbox: " + signal_cause(WTERMSIG(status));
    else *why = "the decoder did not arm its sandbox";
    return false;
}

void Zygote::discard_warm() {
    if (warm_pid_ <= 0) return;
    close(warm_fd_);
    kill(warm_pid_, SIGKILL);
    waitpid(warm_pid_, nullptr, 0);
    warm_pid_ = -1;
    warm_fd_ = -1;
}

wire::Reply Zygote::decode(const wire::Job& job, int memfd, std::string* outcome) {
    wire::Reply r;
    std::string why;
    // A warm child is normally waiting; one that died meanwhile, or that
    // says anything before it is asked, is replaced.
    if (warm_pid_ > 0) {
        pollfd idle{warm_fd_, POLLIN, 0};
        if (poll(&idle, 1, 0) != 0) discard_warm();
    }
    bool sent = warm_pid_ > 0 && wire::send_with_fd(warm_fd_, &job, sizeof job, memfd);
    if (!sent) {
        discard_warm();
        if (!spawn(&why) || !wire::send_with_fd(warm_fd_, &job, sizeof job, memfd)) {
            discard_warm();
            r.ended = wire::Ended::Failed;
            wire::set_cause(r.cause, "no decoder could be started: " + why);
            return r;
        }
    }
    const pid_t pid = warm_pid_;
    const int fd = warm_fd_;
    const uint32_t job_number = warm_jobs_ + 1;
    warm_pid_ = -1;
    warm_fd_ = -1;
    warm_jobs_ = 0;

    clockid_t cpu_clock;
    const bool have_clock = clock_getcpuclockid(pid, &cpu_clock) == 0;
    // decode_cpu_limit is per picture: a reused decoder's earlier pictures
    // do not count against this one.
    double used_before = 0;
    if (timespec ts; have_clock && clock_gettime(cpu_clock, &ts) == 0) used_before = ts.tv_sec + ts.tv_nsec / 1e9;
    const double cpu_limit = settings_.cpu_limit;
    const double wall_limit = wire::wall_limit(cpu_limit);
    const double started = now_s();
    std::string killed_for;
    char buf[16384];
    for (;;) {
        double used = 0;
        timespec ts;
        if (have_clock && clock_gettime(cpu_clock, &ts) == 0) used = ts.tv_sec + ts.tv_nsec / 1e9 - used_before;
        const double wall = now_s() - started;
        if (used >= cpu_limit) {
            char m[120];
            std::snprintf(m, sizeof m, "CPU limit exceeded (decode_cpu_limit = %g s)", cpu_limit);
            killed_for = m;
        } else if (wall >= wall_limit) {
            char m[120];
            std::snprintf(m, sizeof m, "wall-clock limit exceeded (%g s: 10 x decode_cpu_limit + 5 s)", wall_limit);
            killed_for = m;
        }
        if (!killed_for.empty()) {
            kill(pid, SIGKILL);
            break;
        }
        // CPU time never runs faster than the wall clock: sleeping until the
        // remaining CPU time could be used up misses no limit.
        double wait = std::min(cpu_limit - used, wall_limit - wall);
        pollfd pfd{fd, POLLIN, 0};
        int ready = poll(&pfd, 1, int(std::ceil(wait * 1000)) + 1);
        if (ready < 0 && errno != EINTR) break;
        if (ready <= 0) continue;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // the child is gone
        outcome->append(buf, size_t(n));
        uint64_t length = 0;
        if (outcome->size() >= sizeof length) std::memcpy(&length, outcome->data(), sizeof length);
        if (length > wire::kMaxOutcomeBytes || outcome->size() > sizeof length + wire::kMaxOutcomeBytes) {
            killed_for = "sent an oversized outcome";
            kill(pid, SIGKILL);
            break;
        }
        if (outcome->size() >= sizeof length && outcome->size() - sizeof length >= length) {
            // Complete: the worker gets it now.  The child takes the next
            // picture, or is killed and reaped after the reply.
            const bool nothing_more = outcome->size() - sizeof length == length;
            *outcome = outcome->substr(sizeof length, length);
            r.ended = wire::Ended::Decoded;
            r.job_number = job_number;
            if (nothing_more && reusable(job_number, *outcome, job.size, pid)) {
                warm_pid_ = pid;
                warm_fd_ = fd;
                warm_jobs_ = job_number;
            } else {
                close(fd);
                unreaped_ = pid;
            }
            return r;
        }
    }
    close(fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.ended = wire::Ended::Killed;
    if (!killed_for.empty()) {
        wire::set_cause(r.cause, killed_for);
    } else if (WIFSIGNALED(status)) {
        wire::set_cause(r.cause, signal_cause(WTERMSIG(status)));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        wire::set_cause(r.cause, "exited without an answer");
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == kExitOutOfMemory) {
        wire::set_cause(r.cause, "out of memory (decode_memory_limit = " + std::to_string(settings_.memory_limit) +
                                     " bytes)");
    } else {
        wire::set_cause(r.cause, "exited with status " + std::to_string(WEXITSTATUS(status)));
    }
    outcome->clear();
    return r;
}

bool Zygote::reusable(uint32_t job_number, const std::string& outcome, size_t upload_size, pid_t pid) const {
    if (job_number >= settings_.max_jobs) return false;
    // Only after a valid picture: a decoder that refused one may have been
    // fed an attack that did not crash it.
    detail::Decoded d;
    std::string why;
    if (!wire::decode_decoded(reinterpret_cast<const uint8_t*>(outcome.data()), outcome.size(), upload_size, &d,
                              &why) ||
        d.outcome != detail::Outcome::Ok)
        return false;
    // Its RLIMIT_CPU (the backstop, whole seconds) counts every picture it
    // decoded: retire it at half of that, long before SIGXCPU.
    clockid_t clock;
    timespec ts;
    if (clock_getcpuclockid(pid, &clock) != 0 || clock_gettime(clock, &ts) != 0) return false;
    return ts.tv_sec + ts.tv_nsec / 1e9 < std::ceil(settings_.cpu_limit) / 2;
}

void Zygote::reply(const wire::Reply& r, const std::string& outcome) {
    std::string message(reinterpret_cast<const char*>(&r), sizeof r);
    message += outcome;
    while (send(control_, message.data(), message.size(), MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

int Zygote::run() {
    ssize_t n;
    do n = recv(control_, &settings_, sizeof settings_, 0);
    while (n < 0 && errno == EINTR);
    if (n != sizeof settings_ || settings_.magic != wire::kMagic || !(settings_.cpu_limit > 0)) return 2;

    wire::Ready ready;
    std::string why;
    if (build_filter(&program_, &why) && spawn(&why)) {
        ready.ok = 1;
    } else {
        wire::set_cause(ready.cause, why);
    }
    send(control_, &ready, sizeof ready, MSG_NOSIGNAL);
    if (!ready.ok) return 1;

    for (;;) {
        wire::Job job;
        int memfd = -1;
        n = wire::recv_with_fd(control_, &job, sizeof job, &memfd);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // the worker is gone
        std::string outcome;
        wire::Reply r;
        if (n != sizeof job || job.magic != wire::kMagic || memfd < 0) {
            r.ended = wire::Ended::Failed;
            wire::set_cause(r.cause, "malformed job");
        } else {
            r = decode(job, memfd, &outcome);
        }
        if (memfd >= 0) close(memfd);
        reply(r, outcome);
        if (unreaped_ > 0) {
            // It has answered: nothing it does from now on may count, or last.
            kill(unreaped_, SIGKILL);
            while (waitpid(unreaped_, nullptr, 0) < 0 && errno == EINTR) {
            }
            unreaped_ = -1;
        }
        // The next picture's child, while the worker answers this one.
        if (warm_pid_ <= 0 && !spawn(&why)) LOG_ERROR("decoder zygote: %s", why.c_str());
    }
    discard_warm();
    return 0;
}

}  // namespace

int run_decoder_zygote(int control_fd) {
    log::configure("info", "talentd-zygote");
    prctl(PR_SET_NAME, "talentd-zygote");
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    Zygote zygote(control_fd);
    return zygote.run();
}

}  // namespace talentd::image
