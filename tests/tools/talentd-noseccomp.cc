// talentd-noseccomp PROGRAM [ARGS...] — runs PROGRAM where seccomp filters
// cannot be installed (prctl(PR_SET_SECCOMP) fails with EINVAL, seccomp(2)
// with ENOSYS), as on a kernel without CONFIG_SECCOMP_FILTER.  For the test
// that a decoder sandbox which cannot be set up stops talentd at start-up
// (tests/integration/test_sandbox.cc).
//
// talentd-noseccomp --like-unit PROGRAM [ARGS...] — only seccomp(2) fails,
// with EPERM, as under the shipped unit's SystemCallFilter=@system-service
// (prctl stays allowed): there the sandbox must work.
#include <seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: talentd-noseccomp PROGRAM [ARGS...]\n");
        return 64;
    }
    const bool like_unit = std::string(argv[1]) == "--like-unit";
    if (like_unit) ++argv;
    if (!argv[1]) return 64;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc = ctx ? 0 : -1;
    if (like_unit) {
        if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(seccomp), 0);
    } else {
        if (rc == 0)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EINVAL), SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_SECCOMP));
        if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(seccomp), 0);
    }
    if (rc != 0 || seccomp_load(ctx) != 0) {
        std::fprintf(stderr, "talentd-noseccomp: cannot install the filter\n");
        return 70;
    }
    seccomp_release(ctx);
    execv(argv[1], argv + 1);
    std::perror("talentd-noseccomp: execv");
    return 127;
}
