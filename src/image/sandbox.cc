#include "image/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/log.h"
#include "image/decoder_process.h"
#include "image/decoder_wire.h"
#include "image/decoders.h"

extern char** environ;

namespace talentd::image {
namespace {

// How long the worker waits for the zygote beyond the decoder's own
// wall-clock limit before it gives the zygote up.
constexpr int kZygoteGraceMs = 10000;

// A 1x1 GIF: the probe's picture.
constexpr uint8_t kProbeGif[] = {
    'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0xff, 0xff, 0xff, 0, 0, 0,
    ',', 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, ';'};

bool wait_readable(int fd, int timeout_ms) {
    pollfd pfd{fd, POLLIN, 0};
    for (;;) {
        int r = poll(&pfd, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        return r == 1;
    }
}

// -1 with errno 0 on timeout.
ssize_t recv_message(int fd, std::string* out, size_t max, int timeout_ms) {
    if (!wait_readable(fd, timeout_ms)) {
        errno = 0;
        return -1;
    }
    out->resize(max);
    ssize_t n;
    do n = recv(fd, out->data(), max, 0);
    while (n < 0 && errno == EINTR);
    out->resize(n > 0 ? size_t(n) : 0);
    return n;
}

bool pwrite_all(int fd, const uint8_t* data, size_t size) {
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fd, data + done, size - done, off_t(done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += size_t(n);
    }
    return true;
}

Verdict killed(Verdict v, const std::string& cause) {
    v.ok = false;
    v.message = kInvalidMessage;
    v.reason = "decoder " + cause;
    return v;
}

}  // namespace

std::unique_ptr<DecoderSandbox> DecoderSandbox::start(const std::string& program, const SandboxSettings& settings,
                                                      std::string* why) {
    std::unique_ptr<DecoderSandbox> sandbox(new DecoderSandbox(program, settings));
    if (!sandbox->spawn(why)) return nullptr;
    return sandbox;
}

// One memfd per sandbox, reused for every picture and grown to the largest
// yet: its pages stay allocated, where a fresh memfd per picture paid a page
// allocation for every 4 KiB of every upload.  The decoder gets a read-only
// descriptor of it (reopened through /proc) and maps the job's first bytes;
// a reused decoder keeps that mapping for the next picture (Job::picture_file).
int DecoderSandbox::load_picture(const uint8_t* data, size_t size) {
    if (picture_fd_ < 0) {
        picture_fd_ = memfd_create("talentd-picture", MFD_CLOEXEC);
        if (picture_fd_ < 0) return -1;
        const std::string self = "/proc/self/fd/" + std::to_string(picture_fd_);
        picture_ro_fd_ = open(self.c_str(), O_RDONLY | O_CLOEXEC);
        picture_capacity_ = 0;
        // A number of its own for each memfd this process creates: a reused
        // decoder keeps the one it was last sent mapped while it stays the same.
        static uint64_t files_created = 0;
        picture_file_ = ++files_created;
    }
    if (size > picture_capacity_) {
        if (ftruncate(picture_fd_, off_t(size)) != 0) return -1;
        picture_capacity_ = size;
    }
    if (!pwrite_all(picture_fd_, data, size)) return -1;
    // Without /proc the decoder gets the writable descriptor: it can only
    // change its own input, which the worker never reads back.
    return picture_ro_fd_ >= 0 ? picture_ro_fd_ : picture_fd_;
}

DecoderSandbox::~DecoderSandbox() {
    stop();
    if (picture_ro_fd_ >= 0) close(picture_ro_fd_);
    if (picture_fd_ >= 0) close(picture_fd_);
}

void DecoderSandbox::stop() {
    if (socket_ >= 0) close(socket_);
    socket_ = -1;
    if (zygote_ > 0) {
        // Closing the socket ends it: it kills and reaps its decoders and
        // exits.  Killed at once instead, it would leave them to init, which
        // in a container may never reap them (zombies of the service's
        // user).  SIGKILL only when it does not exit within a second.
        bool exited = false;
        for (int i = 0; i < 1000 && !exited; ++i) {
            const pid_t r = waitpid(zygote_, nullptr, WNOHANG);
            exited = r == zygote_ || (r < 0 && errno != EINTR);
            if (!exited) usleep(1000);
        }
        if (!exited) {
            kill(zygote_, SIGKILL);
            while (waitpid(zygote_, nullptr, 0) < 0 && errno == EINTR) {
            }
        }
    }
    zygote_ = -1;
}

bool DecoderSandbox::spawn(std::string* why) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        return *why = std::string("socketpair: ") + std::strerror(errno), false;
    // Everything the child needs is prepared before fork: after it, only
    // async-signal-safe calls until execve.
    std::vector<std::string> kept;
    for (char** e = environ; e && *e; ++e) {
        std::string_view kv(*e);
        if (kv.starts_with("TALENTD_") || kv.starts_with("CREDENTIALS_DIRECTORY=")) continue;
        kept.emplace_back(kv);
    }
    std::vector<char*> envp;
    for (std::string& kv : kept) envp.push_back(kv.data());
    envp.push_back(nullptr);
    std::string arg0 = "talentd-zygote";
    std::string arg1 = kZygoteArgument;
    char* argv[] = {arg0.data(), arg1.data(), nullptr};
    const pid_t parent = getpid();

    pid_t pid = fork();
    if (pid < 0) {
        close(pair[0]);
        close(pair[1]);
        return *why = std::string("fork: ") + std::strerror(errno), false;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        if (dup2(pair[1], kZygoteFd) < 0) _exit(127);
        close_range(kZygoteFd + 1, ~0U, 0);
        execve(program_.c_str(), argv, envp.data());
        _exit(127);
    }
    close(pair[1]);
    zygote_ = pid;
    socket_ = pair[0];

    wire::Settings s;
    s.cpu_limit = settings_.cpu_limit;
    s.memory_limit = settings_.memory_limit;
    s.test_hooks = settings_.test_hooks ? 1 : 0;
    s.max_jobs = uint32_t(std::max(1, settings_.max_jobs));
    std::string answer;
    const int timeout = 60000;  // start-up: a fresh process maps its libraries (slow under sanitizers)
    if (send(socket_, &s, sizeof s, MSG_NOSIGNAL) != ssize_t(sizeof s) ||
        recv_message(socket_, &answer, sizeof(wire::Ready) + 1, timeout) != ssize_t(sizeof(wire::Ready))) {
        *why = "the decoder zygote " + program_ + " did not start";
        stop();
        return false;
    }
    wire::Ready ready;
    std::memcpy(&ready, answer.data(), sizeof ready);
    if (ready.magic != wire::kMagic || !ready.ok) {
        ready.cause[sizeof ready.cause - 1] = 0;
        *why = std::string("the decoder sandbox cannot be set up: ") + ready.cause;
        stop();
        return false;
    }
    return true;
}

bool DecoderSandbox::exchange(const void* job, size_t job_size, int memfd, std::string* reply, std::string* why) {
    if (socket_ < 0 && !spawn(why)) return false;
    if (!wire::send_with_fd(socket_, job, job_size, memfd)) {
        *why = std::string("sending to the decoder zygote: ") + std::strerror(errno);
        return false;
    }
    const int timeout = int(std::ceil(wire::wall_limit(settings_.cpu_limit) * 1000)) + kZygoteGraceMs;
    ssize_t n = recv_message(socket_, reply, sizeof(wire::Reply) + wire::kMaxOutcomeBytes + 1, timeout);
    if (n < ssize_t(sizeof(wire::Reply))) {
        if (n == 0) *why = "the decoder zygote closed its connection";
        else if (errno == 0) *why = "the decoder zygote did not answer in time";
        else *why = std::string("the decoder zygote did not answer: ") + std::strerror(errno);
        return false;
    }
    return true;
}

Verdict DecoderSandbox::validate(const uint8_t* data, size_t size, const Limits& limits, bool* unavailable) {
    *unavailable = false;
    last_job_number_ = 0;
    Verdict v = screen(data, size, limits);
    if (!v.ok) return v;

    wire::Job job = wire::make_job(v.format, size, limits);
    const int memfd = load_picture(data, size);
    job.picture_file = picture_file_;
    if (memfd < 0) {
        LOG_ERROR("picture: cannot hand it to the decoder: %s", std::strerror(errno));
        *unavailable = true;
        return killed(std::move(v), "unavailable");
    }
    std::string reply, why;
    bool answered = exchange(&job, sizeof job, memfd, &reply, &why);
    if (!answered) {
        LOG_ERROR("picture: %s; starting a new decoder zygote", why.c_str());
        stop();
        answered = exchange(&job, sizeof job, memfd, &reply, &why);
    }
    if (!answered) {
        LOG_ERROR("picture: decoder unavailable: %s", why.c_str());
        stop();
        *unavailable = true;
        return killed(std::move(v), "unavailable");
    }

    wire::Reply r;
    std::memcpy(&r, reply.data(), sizeof r);
    r.cause[sizeof r.cause - 1] = 0;
    if (r.magic != wire::kMagic) {
        LOG_ERROR("picture: malformed reply from the decoder zygote");
        stop();
        *unavailable = true;
        return killed(std::move(v), "unavailable");
    }
    if (r.ended == wire::Ended::Failed) {
        LOG_ERROR("picture: decoder unavailable: %s", r.cause);
        *unavailable = true;
        return killed(std::move(v), "unavailable");
    }
    if (r.ended != wire::Ended::Decoded) {
        LOG_ERROR("picture refused: decoder %s", r.cause);
        return killed(std::move(v), r.cause);
    }
    last_job_number_ = r.job_number;
    detail::Decoded d;
    const auto* outcome = reinterpret_cast<const uint8_t*>(reply.data()) + sizeof r;
    if (!wire::decode_decoded(outcome, reply.size() - sizeof r, size, &d, &why)) {
        LOG_ERROR("picture refused: the decoder's answer is malformed (%s)", why.c_str());
        return killed(std::move(v), "sent a malformed answer: " + why);
    }
    return detail::conclude(std::move(v), std::move(d), limits);
}

std::string default_decoder_program() {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        std::string path(self, size_t(n));
        // A binary replaced by an upgrade reads "/usr/sbin/talentd (deleted)".
        const std::string deleted = " (deleted)";
        if (path.size() > deleted.size() && path.ends_with(deleted)) path.resize(path.size() - deleted.size());
        const size_t slash = path.rfind('/');
        if (slash != std::string::npos) {
            std::string sibling = path.substr(0, slash + 1) + "talentd-decoder";
            if (access(sibling.c_str(), X_OK) == 0) return sibling;
        }
    }
    return "/proc/self/exe";
}

bool probe_sandbox(const std::string& program, const SandboxSettings& settings, std::string* why) {
    auto sandbox = DecoderSandbox::start(program, settings, why);
    if (!sandbox) return false;
    Limits limits;
    bool unavailable = false;
    Verdict v = sandbox->validate(kProbeGif, sizeof kProbeGif, limits, &unavailable);
    if (!v.ok) {
        *why = "a sandboxed decoder refused the probe picture: " + v.reason;
        return false;
    }
    return true;
}

}  // namespace talentd::image
