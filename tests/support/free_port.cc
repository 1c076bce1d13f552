#include "free_port.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <dirent.h>

namespace talentd::test {

namespace {

sockaddr_in loopback(int port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

// A socket bound to 127.0.0.1:0; its port in *port.  -1 on error.
int bind_any(int* port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in address = loopback(0);
    socklen_t length = sizeof address;
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(address.sin_port);
    return fd;
}

}  // namespace

int free_port() {
    int port = 0;
    int fd = bind_any(&port);
    if (fd < 0) return 0;
    close(fd);
    return port;
}

bool wait_for_port(int port, double seconds) {
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return false;
        sockaddr_in address = loopback(port);
        bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        close(fd);
        if (connected) return true;
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

bool port_owned_by(int pid, int port) {
    // Socket inodes listening (state 0A) on the port, any local address.
    std::set<std::string> inodes;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
            fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
            size_t colon = local.rfind(':');
            if (colon == std::string::npos || state != "0A") continue;
            if (std::stoi(local.substr(colon + 1), nullptr, 16) == port) inodes.insert(inode);
        }
    }
    if (inodes.empty()) return false;
    std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* dir = opendir(fd_dir.c_str());
    if (!dir) return false;
    bool owned = false;
    while (dirent* entry = readdir(dir)) {
        char target[128];
        std::string link = fd_dir + "/" + entry->d_name;
        ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        std::string text = target;   // socket:[12345]
        if (text.rfind("socket:[", 0) == 0 && inodes.count(text.substr(8, text.size() - 9))) {
            owned = true;
            break;
        }
    }
    closedir(dir);
    return owned;
}

SilentListener::SilentListener() {
    fd_ = bind_any(&port_);
    if (fd_ >= 0 && listen(fd_, 64) != 0) {
        close(fd_);
        fd_ = -1;
    }
}

SilentListener::~SilentListener() {
    if (fd_ >= 0) close(fd_);
}

}  // namespace talentd::test
