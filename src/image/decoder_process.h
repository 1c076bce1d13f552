// image/decoder_process — the processes that run the codecs (talentd(8),
// SECURITY).  Nothing here runs in a worker.
//
// The decoder zygote is a fresh image of talentd (execve of the worker's
// own binary with the single argument --decoder-zygote, descriptor 3 its
// SOCK_SEQPACKET connection to the worker): it never read the configuration,
// never held a secret, a database handle or libs3 state, and it never looks
// at a picture.  Each worker has its own zygote (image/sandbox.h starts it).
//
// The zygote keeps one decoder child forked ahead ("warm"), already
// confined, so a picture waits for no fork and no filter set-up:
//
//   child, right after fork:  descriptors closed but its socket (fd 3; fd 2
//     too in sanitizer builds), PR_SET_PDEATHSIG, resource limits
//     (RLIMIT_NPROC 0, RLIMIT_FSIZE 0, RLIMIT_CORE 0, RLIMIT_NOFILE small,
//     RLIMIT_CPU decode_cpu_limit rounded up, RLIMIT_DATA
//     decode_memory_limit), PR_SET_NO_NEW_PRIVS, then the seccomp filter:
//     memory (mmap/mprotect without PROT_EXEC, munmap, mremap, brk,
//     madvise), recvmsg and write on its socket only, clock_gettime,
//     getpid/gettid, rt_sigprocmask, rt_sigreturn, tgkill of itself with
//     SIGABRT (abort), exit, exit_group.  Anything else kills the process
//     (SECCOMP_RET_KILL_PROCESS: SIGSYS).  Sanitizer builds also allow what
//     the ASan/UBSan runtimes call (see kSanitizerSyscalls in the .cc).
//   then it tells the zygote it is armed and waits for one Job: the
//     picture's memfd arrives by SCM_RIGHTS, is mapped read-only, decoded
//     (detail::decode), the outcome written back (its length first), and the
//     child exits.
//
// The zygote watches the child's CPU clock and kills it at decode_cpu_limit
// (RLIMIT_CPU, whole seconds, is the backstop), and at 10 x
// decode_cpu_limit + 5 s of wall-clock time (a child has nothing to wait
// for, so only an overloaded machine gets there).  As soon as the whole
// outcome is in, the worker has it (wire::Reply) and the child is killed
// and reaped; a child that dies first is reaped and the worker told how it
// ended.  Then the zygote forks the next warm child.
//
// The seccomp program is generated once per zygote with libseccomp and
// exported; each child only patches its own pid into the tgkill rule and
// loads it with prctl(PR_SET_SECCOMP), which costs microseconds where
// libseccomp's generation costs about a millisecond.
#pragma once

namespace talentd::image {

// The argument that makes talentd (or talentctl) run as a decoder zygote.
inline constexpr const char* kZygoteArgument = "--decoder-zygote";
// The zygote's socket to its worker.
inline constexpr int kZygoteFd = 3;

// The zygote's main loop; returns the process exit status when its worker
// closes the connection.  Call it from main() before anything else.
int run_decoder_zygote(int control_fd);

}  // namespace talentd::image
