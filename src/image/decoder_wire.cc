#include "image/decoder_wire.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstring>

namespace talentd::image::wire {
namespace {

constexpr size_t kMaxText = 400;
constexpr uint32_t kMaxWarnings = 16;

void put_u64(std::string& out, uint64_t v) {
    char b[8];
    std::memcpy(b, &v, 8);
    out.append(b, 8);
}

void put_text(std::string& out, const std::string& s) {
    const std::string cut = s.substr(0, kMaxText);
    put_u64(out, cut.size());
    out += cut;
}

class Reader {
public:
    Reader(const uint8_t* data, size_t size) : p_(data), left_(size) {}
    bool u64(uint64_t* v) {
        if (left_ < 8) return false;
        std::memcpy(v, p_, 8);
        p_ += 8;
        left_ -= 8;
        return true;
    }
    bool text(std::string* s) {
        uint64_t n;
        if (!u64(&n) || n > kMaxText || n > left_) return false;
        s->assign(reinterpret_cast<const char*>(p_), n);
        for (char& c : *s)
            if (c < 0x20 || c > 0x7e) c = '?';
        p_ += n;
        left_ -= n;
        return true;
    }
    bool done() const { return left_ == 0; }

private:
    const uint8_t* p_;
    size_t left_;
};

}  // namespace

Job make_job(Format format, size_t size, const Limits& limits) {
    Job job;
    job.format = static_cast<int32_t>(format);
    job.size = size;
    job.max_image_size = limits.max_image_size;
    job.max_image_pixels = limits.max_image_pixels;
    job.max_total_pixels = limits.max_total_pixels;
    job.max_frames = limits.max_frames;
    job.max_decode_memory = limits.max_decode_memory;
    job.max_progressive_scans = limits.max_progressive_scans;
    job.max_decoded_bytes = limits.max_decoded_bytes;
    job.decode_cpu_limit = limits.decode_cpu_limit;
    job.max_icc_profile_size = limits.max_icc_profile_size;
    return job;
}

Limits limits_of(const Job& job) {
    Limits limits;
    limits.max_image_size = job.max_image_size;
    limits.max_image_pixels = job.max_image_pixels;
    limits.max_total_pixels = job.max_total_pixels;
    limits.max_frames = job.max_frames;
    limits.max_decode_memory = job.max_decode_memory;
    limits.max_progressive_scans = job.max_progressive_scans;
    limits.max_decoded_bytes = job.max_decoded_bytes;
    limits.decode_cpu_limit = job.decode_cpu_limit;
    limits.max_icc_profile_size = job.max_icc_profile_size;
    // The decoder's RLIMIT_DATA is its memory cap; the in-process cap reads
    // /proc, which the seccomp filter forbids.
    limits.cap_process_memory = false;
    limits.allowed_types.clear();
    return limits;
}

void set_cause(char (&cause)[240], const std::string& text) {
    std::memset(cause, 0, sizeof cause);
    std::memcpy(cause, text.data(), std::min(text.size(), sizeof cause - 1));
}

std::string encode_decoded(const detail::Decoded& d) {
    std::string out;
    put_u64(out, kMagic);
    put_u64(out, static_cast<uint64_t>(d.outcome));
    put_u64(out, d.width);
    put_u64(out, d.height);
    put_u64(out, d.frames);
    put_u64(out, d.canonical_length);
    put_u64(out, d.bad_width);
    put_u64(out, d.bad_height);
    put_u64(out, d.frame_count);
    put_u64(out, d.total_pixels);
    put_u64(out, d.decoded_bytes);
    put_text(out, d.reason);
    const size_t warnings = std::min<size_t>(d.warnings.size(), kMaxWarnings);
    put_u64(out, warnings);
    for (size_t i = 0; i < warnings; ++i) put_text(out, d.warnings[i]);
    return out;
}

bool decode_decoded(const uint8_t* data, size_t size, size_t upload_size, detail::Decoded* out, std::string* why) {
    Reader r(data, size);
    uint64_t magic, outcome, width, height, frames, canonical, warnings;
    detail::Decoded d;
    auto bad = [why](const char* what) {
        *why = what;
        return false;
    };
    if (!r.u64(&magic) || magic != kMagic) return bad("no outcome header");
    if (!r.u64(&outcome) || !r.u64(&width) || !r.u64(&height) || !r.u64(&frames) || !r.u64(&canonical) ||
        !r.u64(&d.bad_width) || !r.u64(&d.bad_height) || !r.u64(&d.frame_count) || !r.u64(&d.total_pixels) ||
        !r.u64(&d.decoded_bytes))
        return bad("truncated outcome");
    if (outcome > static_cast<uint64_t>(detail::Outcome::CpuTime)) return bad("unknown outcome");
    d.outcome = static_cast<detail::Outcome>(outcome);
    if (width > UINT32_MAX || height > UINT32_MAX || frames > UINT32_MAX) return bad("impossible size");
    d.width = static_cast<uint32_t>(width);
    d.height = static_cast<uint32_t>(height);
    d.frames = static_cast<uint32_t>(frames);
    if (d.outcome == detail::Outcome::Ok && (canonical == 0 || canonical > upload_size || d.frames == 0))
        return bad("impossible accepted picture");
    d.canonical_length = canonical <= upload_size ? static_cast<size_t>(canonical) : 0;
    // The messages multiply width by height: keep them within what a header can say.
    if (d.bad_width > UINT32_MAX || d.bad_height > UINT32_MAX) return bad("impossible dimensions");
    if (!r.text(&d.reason)) return bad("malformed reason");
    if (!r.u64(&warnings) || warnings > kMaxWarnings) return bad("malformed warnings");
    for (uint64_t i = 0; i < warnings; ++i) {
        std::string w;
        if (!r.text(&w)) return bad("malformed warning");
        d.warnings.push_back(std::move(w));
    }
    if (!r.done()) return bad("trailing bytes after the outcome");
    *out = std::move(d);
    return true;
}

ssize_t recv_with_fd(int sock, void* data, size_t size, int* fd) {
    *fd = -1;
    iovec iov{data, size};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
                std::memcpy(fd, CMSG_DATA(c), sizeof(int));
    return n;
}

bool send_with_fd(int sock, const void* data, size_t size, int fd) {
    iovec iov{const_cast<void*>(data), size};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == ssize_t(size);
}

}  // namespace talentd::image::wire
