// talentd-sandbox-bench — what the decoder sandbox adds to one upload.
//
//   talentd-sandbox-bench --talentd PATH [--repeat N] [--max-jobs N] [--inproc-heap] FILE...
//   talentd-sandbox-bench --calibrate
//
// --calibrate prints the CPU time of a bare fork + _exit + wait of this
// (small) process, the machine's price of a process, for scale.
//
// Per file, validates N times in process (image::validate) and N times
// through a DecoderSandbox whose zygote is PATH (the built talentd), the
// two interleaved so both see the same machine load, and prints one line:
//
//   FILE size=B inproc_us=MEDIAN/BEST sandbox_us=MEDIAN/BEST added_us=MEDIAN/BEST
//        added_cpu_us=C verdict=ok|refused
//
// wall-clock microseconds of one validation; added_* is sandbox minus in
// process.  added_cpu_us is the CPU time per upload of this process plus
// the zygote and its decoder children (/proc/PID/schedstat of the live
// ones, to the nanosecond; the zygote's cutime+cstime for reaped ones)
// minus this process's in-process CPU time: the machine's whole cost of the
// sandbox, fork of the next decoder included.
// Also per upload: zygote_cpu_us (the zygote's own part of that), and minor
// page faults: inproc_faults (this process, in-process decode), caller_faults
// (this process, sandboxed), decoder_faults (zygote and decoders, reaped ones
// through the zygote's cminflt), zygote_faults.
// Then the idle memory of the zygote and of its armed decoder
// (/proc/PID/smaps_rollup: Pss, Private_Dirty, Private_Clean; /proc/PID/status VmRSS).
// The sandboxed verdict must equal the in-process one (exit 1 otherwise).
// --inproc-heap gives this process the decoder's malloc settings, so that
// the in-process decodes do not fault their large buffers in per picture
// (glibc's defaults do for a WebP; talentd's workers too, with their
// 256 KiB mmap threshold): the comparison with the best in-process case.
#include <signal.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "image/sandbox.h"
#include "image/validate.h"

namespace img = talentd::image;

namespace {

double process_cpu_us() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

std::string memory_of(pid_t pid) {
    std::string out;
    std::ifstream rollup("/proc/" + std::to_string(pid) + "/smaps_rollup");
    std::string line;
    while (std::getline(rollup, line))
        for (const char* key : {"Pss:", "Private_Clean:", "Private_Dirty:"})
            if (line.rfind(key, 0) == 0) {
                std::istringstream ss(line.substr(std::strlen(key)));
                long kb = 0;
                ss >> kb;
                out += std::string(" ") + std::string(key, std::strlen(key) - 1) + "_kib=" + std::to_string(kb);
            }
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) {
            std::istringstream ss(line.substr(6));
            long kb = 0;
            ss >> kb;
            out += " VmRSS_kib=" + std::to_string(kb);
        }
    return out;
}

std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    DIR* proc = opendir("/proc");
    if (!proc) return out;
    while (dirent* e = readdir(proc)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
        std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        size_t close_paren = stat.rfind(')');
        if (close_paren == std::string::npos) continue;
        std::istringstream rest(stat.substr(close_paren + 2));
        std::string state;
        long ppid = 0;
        rest >> state >> ppid;
        if (ppid == parent && state != "Z") out.push_back(pid_t(std::atol(e->d_name)));
    }
    closedir(proc);
    return out;
}

// CPU of the zygote and its live decoders to the nanosecond
// (/proc/PID/schedstat), plus what reaped decoders left in the zygote's
// cutime+cstime (ticks): a live decoder's stat ticks are too coarse for the
// few milliseconds one picture adds.
double schedstat_us(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/schedstat");
    double ns = 0;
    in >> ns;
    return ns / 1e3;
}
// Minor page faults of a process (/proc/PID/stat field 10), and those its
// reaped children left (field 11, cminflt).
double stat_field(pid_t pid, int wanted) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) return 0;
    std::istringstream rest(stat.substr(close_paren + 2));
    std::string field;
    for (int i = 3; rest >> field; ++i)
        if (i == wanted) return std::atof(field.c_str());
    return 0;
}
// CPU its reaped children left (fields 16 and 17, cutime and cstime).
double reaped_children_us(pid_t pid) {
    return (stat_field(pid, 16) + stat_field(pid, 17)) * 1e6 / double(sysconf(_SC_CLK_TCK));
}
double sandbox_faults(pid_t zygote) {
    double n = stat_field(zygote, 10) + stat_field(zygote, 11);
    std::ifstream kids("/proc/" + std::to_string(zygote) + "/task/" + std::to_string(zygote) + "/children");
    for (pid_t kid; kids >> kid;) n += stat_field(kid, 10);
    return n;
}
double own_faults() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return double(r.ru_minflt);
}

double sandbox_cpu_us(pid_t zygote) {
    double us = schedstat_us(zygote) + reaped_children_us(zygote);
    std::ifstream kids("/proc/" + std::to_string(zygote) + "/task/" + std::to_string(zygote) + "/children");
    for (pid_t kid; kids >> kid;) us += schedstat_us(kid);
    return us;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int calibrate() {
    const int n = 200;
    rusage self0{}, kids0{}, self1{}, kids1{};
    getrusage(RUSAGE_SELF, &self0);
    getrusage(RUSAGE_CHILDREN, &kids0);
    for (int i = 0; i < n; ++i) {
        pid_t pid = fork();
        if (pid == 0) _exit(0);
        waitpid(pid, nullptr, 0);
    }
    getrusage(RUSAGE_SELF, &self1);
    getrusage(RUSAGE_CHILDREN, &kids1);
    auto us = [](const timeval& t) { return double(t.tv_sec) * 1e6 + double(t.tv_usec); };
    double cpu = us(self1.ru_utime) - us(self0.ru_utime) + us(self1.ru_stime) - us(self0.ru_stime) +
                 us(kids1.ru_utime) - us(kids0.ru_utime) + us(kids1.ru_stime) - us(kids0.ru_stime);
    std::printf("fork_exit_wait_cpu_us=%.0f\n", cpu / n);
    return 0;
}

int main(int argc, char** argv) {
    if (argc == 2 && !std::strcmp(argv[1], "--calibrate")) return calibrate();
    std::string talentd;
    long repeat = 50;
    int max_jobs = 64;   // decoder_max_jobs, as talentd runs by default
    std::vector<const char*> files;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--talentd") && i + 1 < argc) talentd = argv[++i];
        else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = std::atol(argv[++i]);
        else if (!std::strcmp(argv[i], "--max-jobs") && i + 1 < argc) max_jobs = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--inproc-heap")) {
            // The in-process decodes with the decoder's malloc settings
            // (image/decoder_process.cc): large buffers kept in the heap, not
            // faulted in afresh per picture, so that "added" is the sandbox's
            // own cost and not glibc's defaults in this process.
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TOP_PAD, 8 << 20);
            mallopt(M_TRIM_THRESHOLD, 8 << 20);
        }
        else if (argv[i][0] == '-') {
            std::fprintf(stderr, "usage: talentd-sandbox-bench --talentd PATH [--repeat N] [--max-jobs N] [--inproc-heap] FILE...\n");
            return 2;
        } else files.push_back(argv[i]);
    }
    if (talentd.empty() || files.empty() || repeat < 1) {
        std::fprintf(stderr, "usage: talentd-sandbox-bench --talentd PATH [--repeat N] [--max-jobs N] [--inproc-heap] FILE...\n");
        return 2;
    }
    img::SandboxSettings settings;
    settings.max_jobs = max_jobs;
    settings.memory_limit = 192LL << 20;
    std::string why;
    auto sandbox = img::DecoderSandbox::start(talentd, settings, &why);
    if (!sandbox) {
        std::fprintf(stderr, "talentd-sandbox-bench: %s\n", why.c_str());
        return 2;
    }
    const img::Limits limits;
    int status = 0;
    for (const char* path : files) {
        std::ifstream in(path, std::ios::binary);
        std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (bytes.empty()) {
            std::fprintf(stderr, "talentd-sandbox-bench: cannot read %s\n", path);
            return 2;
        }
        std::vector<double> inproc, boxed;
        double inproc_cpu = 0, boxed_cpu = 0, caller_cpu = 0;
        double zygote_cpu = 0, zygote_faults = 0;
        double inproc_faults = 0, caller_faults = 0, decoder_faults = 0;
        img::Verdict want, got;
        for (long r = 0; r < repeat; ++r) {
            double f0 = own_faults();
            double c0 = process_cpu_us();
            auto t0 = std::chrono::steady_clock::now();
            want = img::validate(bytes.data(), bytes.size(), limits);
            auto t1 = std::chrono::steady_clock::now();
            inproc_cpu += process_cpu_us() - c0;
            inproc_faults += own_faults() - f0;
            inproc.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());

            const pid_t zygote = sandbox->zygote_pid();
            const double tree0 = sandbox_cpu_us(zygote);
            const double tree_faults0 = sandbox_faults(zygote);
            const double zygote0 = schedstat_us(zygote);
            const double zygote_faults0 = stat_field(zygote, 10);
            f0 = own_faults();
            c0 = process_cpu_us();
            bool unavailable = false;
            t0 = std::chrono::steady_clock::now();
            got = sandbox->validate(bytes.data(), bytes.size(), limits, &unavailable);
            t1 = std::chrono::steady_clock::now();
            const double self = process_cpu_us() - c0;
            caller_faults += own_faults() - f0;
            // The next decoder is forked after the answer: give it time to
            // arm, so that its cost falls in this iteration (the child's own
            // CPU reaches the zygote's cutime when it is reaped, one
            // iteration later: the same total over the run).
            usleep(5000);
            boxed_cpu += self + sandbox_cpu_us(zygote) - tree0;
            decoder_faults += sandbox_faults(zygote) - tree_faults0;
            zygote_cpu += schedstat_us(zygote) - zygote0;
            zygote_faults += stat_field(zygote, 10) - zygote_faults0;
            caller_cpu += self;
            boxed.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
            if (unavailable) {
                std::fprintf(stderr, "talentd-sandbox-bench: sandbox unavailable\n");
                return 2;
            }
        }
        if (got.ok != want.ok || got.message != want.message || got.canonical_length != want.canonical_length)
            status = 1;
        const double in_med = median(inproc), box_med = median(boxed);
        const double in_best = *std::min_element(inproc.begin(), inproc.end());
        const double box_best = *std::min_element(boxed.begin(), boxed.end());
        std::printf("%s size=%zu inproc_us=%.0f/%.0f sandbox_us=%.0f/%.0f added_us=%.0f/%.0f added_cpu_us=%.0f "
                    "inproc_cpu_us=%.0f caller_cpu_us=%.0f decoder_cpu_us=%.0f zygote_cpu_us=%.0f inproc_faults=%.0f caller_faults=%.0f "
                    "decoder_faults=%.0f zygote_faults=%.0f verdict=%s%s\n",
                    path, bytes.size(), in_med, in_best, box_med, box_best, box_med - in_med, box_best - in_best,
                    (boxed_cpu - inproc_cpu) / double(repeat), inproc_cpu / double(repeat), caller_cpu / double(repeat),
                    (boxed_cpu - caller_cpu) / double(repeat), zygote_cpu / double(repeat), inproc_faults / double(repeat),
                    caller_faults / double(repeat), decoder_faults / double(repeat), zygote_faults / double(repeat), got.ok ? "ok" : "refused",
                    got.ok == want.ok ? "" : " MISMATCH");
    }
    const pid_t zygote = sandbox->zygote_pid();
    std::printf("idle zygote pid=%d%s\n", int(zygote), memory_of(zygote).c_str());
    for (pid_t child : children_of(zygote)) std::printf("idle decoder pid=%d%s\n", int(child), memory_of(child).c_str());
    std::printf("this process (a stand-in for a worker)%s\n", memory_of(getpid()).c_str());
    return status;
}
