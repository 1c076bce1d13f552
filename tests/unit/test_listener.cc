// Unit tests of daemon/listener: the three `listen` forms of talentd.conf(5)
// with real sockets — unix (mode, stale socket, a file that is not a socket,
// the path length limit), TCP (IPv4, IPv6 in brackets, every malformed form,
// restart over TIME_WAIT) and systemd socket activation (fd 3, in a child
// process with LISTEN_PID/LISTEN_FDS set as systemd sets them).  Every
// socket must come back non-blocking and close-on-exec, listening with the
// backlog asked for.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <dirent.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "../support/temp_dir.h"
#include "daemon/listen_queue.h"
#include "daemon/listener.h"

// Last: check.h defines a `fail` macro that breaks the standard headers.
#include <check.h>

namespace t = talentd::test;
using t::connect_unix;
using talentd::daemon::open_listener;

namespace {

void assert_nonblocking_cloexec(int fd) {
    int fl = fcntl(fd, F_GETFL), fd_flags = fcntl(fd, F_GETFD);
    ck_assert_msg(fl >= 0 && (fl & O_NONBLOCK), "listening socket is blocking (flags %#x)", fl);
    ck_assert_msg(fd_flags >= 0 && (fd_flags & FD_CLOEXEC), "listening socket is not close-on-exec");
}

// The backlog the kernel reports for a listening socket.
uint64_t backlog_of(int fd) {
    talentd::daemon::ListenQueue q;
    std::string why;
    ck_assert_msg(talentd::daemon::read_listen_queue(fd, &q, &why), "read_listen_queue: %s", why.c_str());
    return q.backlog;
}

int port_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ck_assert_int_eq(getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len), 0);
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

// The address a listener is bound to, as text ("127.0.0.1", "::1").
std::string address_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ck_assert_int_eq(getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len), 0);
    char text[INET6_ADDRSTRLEN] = "";
    const void* where = ss.ss_family == AF_INET
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr);
    ck_assert_ptr_nonnull(inet_ntop(ss.ss_family, where, text, sizeof text));
    return text;
}

int open_descriptors() {
    DIR* d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    while (readdir(d)) ++n;
    closedir(d);
    return n;
}

// Heap bytes in use (glibc's count; ASan's allocator reports none, and its
// leak check takes over there).
long heap_in_use() { return static_cast<long>(mallinfo2().uordblks); }

int family_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ck_assert_int_eq(getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len), 0);
    return ss.ss_family;
}

// A client connection to 127.0.0.1 or ::1; -1 if refused.
int connect_tcp(int family, int port) {
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    int rc;
    if (family == AF_INET) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(static_cast<uint16_t>(port));
        a.sin6_addr = in6addr_loopback;
        rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    if (rc != 0) {
        close(fd);
        return -1;
    }
    return fd;
}


std::string refused(const std::string& listen) {
    std::string why;
    int fd = open_listener(listen, 16, "0660", &why);
    if (fd >= 0) close(fd);
    ck_assert_msg(fd < 0, "listen = %s was accepted", listen.c_str());
    return why;
}

void expect_refused(const std::string& listen, const char* expected) {
    const std::string why = refused(listen);
    ck_assert_str_eq(why.c_str(), expected);
}

}  // namespace

START_TEST(tcp_ipv4_and_ipv6) {
    std::string why;
    int v4 = open_listener("127.0.0.1:0", 7, "0660", &why);
    ck_assert_msg(v4 >= 0, "%s", why.c_str());
    ck_assert_int_eq(family_of(v4), AF_INET);
    const std::string v4_address = address_of(v4);
    ck_assert_str_eq(v4_address.c_str(), "127.0.0.1");
    assert_nonblocking_cloexec(v4);
    ck_assert_msg(backlog_of(v4) == 7, "backlog %llu, asked for 7", static_cast<unsigned long long>(backlog_of(v4)));
    int c = connect_tcp(AF_INET, port_of(v4));
    ck_assert_msg(c >= 0, "no connection to 127.0.0.1");
    close(c);
    close(v4);

    int v6 = open_listener("[::1]:0", 9, "0660", &why);
    ck_assert_msg(v6 >= 0, "%s", why.c_str());
    ck_assert_int_eq(family_of(v6), AF_INET6);
    // The host exactly as written: "::" (every address) is one character
    // short of "::1".
    const std::string v6_address = address_of(v6);
    ck_assert_str_eq(v6_address.c_str(), "::1");
    assert_nonblocking_cloexec(v6);
    ck_assert_uint_eq(backlog_of(v6), 9);
    c = connect_tcp(AF_INET6, port_of(v6));
    ck_assert_msg(c >= 0, "no connection to [::1]");
    close(c);
    close(v6);

    // No host: every address (AI_PASSIVE), reachable on loopback.
    int any = open_listener(":0", 16, "0660", &why);
    ck_assert_msg(any >= 0, "%s", why.c_str());
    c = connect_tcp(family_of(any), port_of(any));
    ck_assert_msg(c >= 0, "no connection to the wildcard listener");
    close(c);
    close(any);
}
END_TEST

START_TEST(malformed_tcp_addresses_are_refused) {
    expect_refused("[::1]", "bad listen address: [::1]");
    expect_refused("[::1]9000", "bad listen address: [::1]9000");
    expect_refused("[::1", "bad listen address: [::1");
    expect_refused("localhost", "bad listen address (HOST:PORT expected): localhost");
    // No port: getaddrinfo would take it for port 0, a random one.
    expect_refused("[::1]:", "bad listen address (no port): [::1]:");
    expect_refused("127.0.0.1:", "bad listen address (no port): 127.0.0.1:");
    // Numeric only: a name would need DNS at start-up.
    std::string why = refused("localhost:9000");
    ck_assert_msg(why.rfind("bad listen address localhost:9000: ", 0) == 0, "%s", why.c_str());
    why = refused("127.0.0.1:http");
    ck_assert_msg(why.rfind("bad listen address 127.0.0.1:http: ", 0) == 0, "%s", why.c_str());
}
END_TEST

// talentd opens its listener once per start and reload; a daemon that
// fails to and is restarted by systemd, or a test that tries every form,
// must not run out of descriptors or memory.  Each failing path is taken
// many times: a leaked socket or addrinfo shows in the counts.
START_TEST(refused_listens_leak_nothing) {
    t::TempDir dir("talentd-listener-test");
    std::string file = dir.file("not-a-socket");
    ck_assert(t::write_file(file, "keep me"));
    std::string why;
    int taken = open_listener("127.0.0.1:0", 4, "0660", &why);
    ck_assert_msg(taken >= 0, "%s", why.c_str());
    const std::string in_use = "127.0.0.1:" + std::to_string(port_of(taken));

    refused(in_use);  // the first call's one-time allocations (getaddrinfo's)
    const int fds = open_descriptors();
    const long heap = heap_in_use();
    for (int i = 0; i < 2000; ++i) {
        why = refused("unix:" + file);  // bind fails: a file is there
        ck_assert_msg(why.rfind("bind ", 0) == 0, "%s", why.c_str());
        why = refused(in_use);  // bind fails: the port is taken
        ck_assert_msg(why.rfind("bind/listen " + in_use + ": ", 0) == 0, "%s", why.c_str());
        int fd = open_listener("127.0.0.1:0", 4, "0660", &why);  // success
        ck_assert_msg(fd >= 0, "%s", why.c_str());
        close(fd);
    }
    ck_assert_int_eq(open_descriptors(), fds);
    // An addrinfo is over 80 bytes: 4000 of them leaked would be 320 KiB.
    ck_assert_msg(heap_in_use() - heap < 16 * 1024, "heap grew by %ld bytes over 6000 listens",
                  heap_in_use() - heap);
    close(taken);

    // No descriptor left for the socket (EMFILE): the addrinfo is freed.
    // In a child that ends with _exit: the lowered limit must not reach the
    // sanitizers' own exit work (LeakSanitizer opens files).
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        const int lowest_free = open("/dev/null", O_RDONLY | O_CLOEXEC);  // what socket() would get
        close(lowest_free);
        rlimit limit{static_cast<rlim_t>(lowest_free), static_cast<rlim_t>(lowest_free)};
        if (lowest_free < 0 || setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(3);
        std::string said;
        if (open_listener("127.0.0.1:0", 4, "0660", &said) >= 0 || said.rfind("socket: ", 0) != 0) _exit(4);
        const long before = heap_in_use();
        for (int i = 0; i < 2000; ++i)
            if (open_listener("127.0.0.1:0", 4, "0660", &said) >= 0) _exit(4);
        _exit(heap_in_use() - before < 16 * 1024 ? 0 : 5);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status), "the EMFILE child died: status %d", status);
    ck_assert_msg(WEXITSTATUS(status) != 4, "a listen with no descriptor left did not fail with \"socket: ...\"");
    ck_assert_msg(WEXITSTATUS(status) != 5, "the heap grew over 2000 listens refused for EMFILE");
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

// A port still in TIME_WAIT from the previous run: a restart binds it again
// (SO_REUSEADDR) instead of failing for a minute.
START_TEST(tcp_restart_over_time_wait) {
    std::string why;
    int fd = open_listener("127.0.0.1:0", 16, "0660", &why);
    ck_assert_msg(fd >= 0, "%s", why.c_str());
    const int port = port_of(fd);
    int client = connect_tcp(AF_INET, port);
    ck_assert_int_ge(client, 0);
    int served = -1;
    for (int i = 0; i < 200 && served < 0; ++i) {
        served = accept(fd, nullptr, nullptr);
        if (served < 0) usleep(5000);
    }
    ck_assert_int_ge(served, 0);
    // The server side closes first: its end of the connection stays in TIME_WAIT.
    close(served);
    char byte;
    ck_assert_int_eq(read(client, &byte, 1), 0);
    close(client);
    close(fd);
    const std::string again = "127.0.0.1:" + std::to_string(port);
    fd = open_listener(again, 16, "0660", &why);
    ck_assert_msg(fd >= 0, "restart on %s: %s", again.c_str(), why.c_str());
    close(fd);
    // A port another socket listens on is an error with the address in it.
    int first = open_listener(again, 16, "0660", &why);
    ck_assert_int_ge(first, 0);
    why = refused(again);
    ck_assert_msg(why.rfind("bind/listen " + again + ": ", 0) == 0, "%s", why.c_str());
    close(first);
}
END_TEST

START_TEST(unix_socket_listens_with_its_backlog) {
    t::TempDir dir("talentd-listener-test");
    std::string why, path = dir.file("a.sock");
    int fd = open_listener("unix:" + path, 5, "0600", &why);
    ck_assert_msg(fd >= 0, "%s", why.c_str());
    assert_nonblocking_cloexec(fd);
    ck_assert_msg(backlog_of(fd) == 5, "backlog %llu, asked for 5", static_cast<unsigned long long>(backlog_of(fd)));
    int c = connect_unix(path);
    ck_assert_msg(c >= 0, "no connection to %s", path.c_str());
    close(c);
    // A stale socket of a crashed run is replaced: the new one answers.
    close(fd);
    ck_assert_int_eq(access(path.c_str(), F_OK), 0);
    fd = open_listener("unix:" + path, 5, "0600", &why);
    ck_assert_msg(fd >= 0, "%s", why.c_str());
    c = connect_unix(path);
    ck_assert_msg(c >= 0, "no connection to the replacing socket");
    close(c);
    close(fd);
}
END_TEST

// socket_mode is octal with three or four digits (talentd.conf(5)): "640"
// is 0640, not decimal 640.
START_TEST(unix_socket_mode_is_octal_with_or_without_a_leading_zero) {
    t::TempDir dir("talentd-listener-test");
    for (const char* mode : {"640", "0640", "604"}) {
        std::string why, path = dir.file(std::string("m") + mode + ".sock");
        int fd = open_listener("unix:" + path, 16, mode, &why);
        ck_assert_msg(fd >= 0, "%s", why.c_str());
        struct stat st;
        ck_assert_int_eq(stat(path.c_str(), &st), 0);
        const unsigned expected = mode[0] == '0' ? 0640u : std::string(mode) == "640" ? 0640u : 0604u;
        ck_assert_msg((st.st_mode & 07777) == expected, "socket_mode %s gave mode %o", mode, st.st_mode & 07777);
        close(fd);
    }
}
END_TEST

// A file at the path that is not a socket is an operator's file: never
// removed, and an error naming the path.
START_TEST(unix_path_holding_a_file_is_left_alone) {
    t::TempDir dir("talentd-listener-test");
    std::string why, path = dir.file("not-a-socket");
    ck_assert(t::write_file(path, "keep me"));
    why = refused("unix:" + path);
    ck_assert_msg(why.rfind("bind " + path + ": ", 0) == 0, "%s", why.c_str());
    const std::string kept = t::read_file(path);
    ck_assert_str_eq(kept.c_str(), "keep me");
    why = refused("unix:" + dir.file("missing/dir.sock"));
    ck_assert_msg(why.rfind("bind " + dir.file("missing/dir.sock") + ": ", 0) == 0, "%s", why.c_str());
}
END_TEST

// sun_path holds 107 characters and the terminating NUL.
START_TEST(unix_path_length_limit) {
    t::TempDir dir("talentd-listener-test");
    const size_t limit = sizeof(sockaddr_un{}.sun_path) - 1;
    std::string longest = dir.path() + "/";
    ck_assert_uint_lt(longest.size(), limit);
    longest += std::string(limit - longest.size(), 's');
    ck_assert_uint_eq(longest.size(), limit);
    std::string why;
    int fd = open_listener("unix:" + longest, 16, "0660", &why);
    ck_assert_msg(fd >= 0, "a %zu-character path was refused: %s", longest.size(), why.c_str());
    int c = connect_unix(longest);
    ck_assert_int_ge(c, 0);
    close(c);
    close(fd);
    why = refused("unix:" + longest + "x");
    const std::string expected = "unix socket path too long: " + longest + "x";
    ck_assert_str_eq(why.c_str(), expected.c_str());
}
END_TEST

namespace {

// How fd 3 looks in the child that asks for `listen = systemd`.
enum class Fd3 { ListeningSocket, ConnectedSocket, Pipe };

// Runs open_listener("systemd") in a child with LISTEN_PID = its pid and
// LISTEN_FDS = `fds`; returns what it said: "ok" or the error.
std::string systemd_child(Fd3 kind, const char* fds, const char* listen_pid = nullptr) {
    int report[2];
    ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = -1;
        if (kind == Fd3::Pipe) {
            int p[2];
            if (pipe(p) != 0) _exit(2);
            fd = p[0];
        } else {
            std::string why;
            fd = open_listener("127.0.0.1:0", 16, "0660", &why);
            if (fd < 0) _exit(2);
            if (kind == Fd3::ConnectedSocket) {
                int c = connect_tcp(AF_INET, port_of(fd));
                if (c < 0) _exit(2);
                fd = c;
            }
            // As systemd hands it over: blocking, inherited across exec.
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        }
        if (dup2(fd, 3) != 3) _exit(2);
        fcntl(3, F_SETFD, 0);
        setenv("LISTEN_PID", listen_pid ? listen_pid : std::to_string(getpid()).c_str(), 1);
        if (fds) setenv("LISTEN_FDS", fds, 1);
        else unsetenv("LISTEN_FDS");
        std::string why, said;
        int got = open_listener("systemd", 16, "0660", &why);
        if (got == 3) {
            int fl = fcntl(3, F_GETFL), fdf = fcntl(3, F_GETFD);
            said = (fl & O_NONBLOCK) && (fdf & FD_CLOEXEC) ? "ok" : "fd 3 not made non-blocking and close-on-exec";
        } else if (got >= 0) {
            said = "returned fd " + std::to_string(got);
        } else {
            said = why;
        }
        ssize_t ignored = write(report[1], said.data(), said.size());
        (void)ignored;
        _exit(0);
    }
    close(report[1]);
    std::string said;
    char buf[256];
    ssize_t n;
    while ((n = read(report[0], buf, sizeof buf)) > 0) said.append(buf, static_cast<size_t>(n));
    close(report[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    return said;
}

void expect_systemd(Fd3 kind, const char* fds, const char* expected, const char* listen_pid = nullptr) {
    const std::string said = systemd_child(kind, fds, listen_pid);
    ck_assert_str_eq(said.c_str(), expected);
}

}  // namespace

START_TEST(systemd_socket_activation) {
    expect_systemd(Fd3::ListeningSocket, "1", "ok");
    expect_systemd(Fd3::ListeningSocket, "2", "listen = systemd, but systemd passed 2 sockets (expected 1: talentd.socket)");
    expect_systemd(Fd3::ListeningSocket, nullptr, "listen = systemd, but systemd passed 0 sockets (expected 1: talentd.socket)");
    // LISTEN_PID unreadable (sd_listen_fds() fails): said as none passed.
    expect_systemd(Fd3::ListeningSocket, "1", "listen = systemd, but systemd passed 0 sockets (expected 1: talentd.socket)",
                   "not-a-pid");
    // Sockets meant for another process (LISTEN_PID is not ours).
    expect_systemd(Fd3::ListeningSocket, "1", "listen = systemd, but systemd passed 0 sockets (expected 1: talentd.socket)",
                   "1");
    expect_systemd(Fd3::ConnectedSocket, "1", "fd 3 from systemd is not a listening stream socket");
    expect_systemd(Fd3::Pipe, "1", "fd 3 from systemd is not a listening stream socket");
}
END_TEST

START_TEST(unix_path_of_a_listen_setting) {
    std::string path = "unchanged";
    ck_assert(talentd::daemon::listener_is_unix_path("unix:/run/talentd/talentd.sock", &path));
    ck_assert_str_eq(path.c_str(), "/run/talentd/talentd.sock");
    path = "unchanged";
    ck_assert(!talentd::daemon::listener_is_unix_path("127.0.0.1:9000", &path));
    ck_assert(!talentd::daemon::listener_is_unix_path("systemd", &path));
    ck_assert(!talentd::daemon::listener_is_unix_path("x unix:/a", &path));
    ck_assert_str_eq(path.c_str(), "unchanged");
}
END_TEST

int main() {
    Suite* s = suite_create("listener");
    TCase* tc = tcase_create("sockets");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tcp_ipv4_and_ipv6);
    tcase_add_test(tc, malformed_tcp_addresses_are_refused);
    tcase_add_test(tc, tcp_restart_over_time_wait);
    tcase_add_test(tc, refused_listens_leak_nothing);
    tcase_add_test(tc, unix_socket_listens_with_its_backlog);
    tcase_add_test(tc, unix_socket_mode_is_octal_with_or_without_a_leading_zero);
    tcase_add_test(tc, unix_path_holding_a_file_is_left_alone);
    tcase_add_test(tc, unix_path_length_limit);
    tcase_add_test(tc, systemd_socket_activation);
    tcase_add_test(tc, unix_path_of_a_listen_setting);
    suite_add_tcase(s, tc);
    SRunner* r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
