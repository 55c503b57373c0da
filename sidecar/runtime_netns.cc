// runtime_netns.cc: see runtime_netns.h.
#include "sidecar/runtime_netns.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <vector>

namespace ow::sidecar {

bool parse_netns_mode(const std::string &s, NetnsMode *mode) {
    if (s == "off") *mode = NetnsMode::off;
    else if (s == "auto") *mode = NetnsMode::automatic;
    else if (s == "on") *mode = NetnsMode::on;
    else return false;
    return true;
}

static bool set_v4(const std::string &host, uint16_t port, RelayAddr *out) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) return false;
    // 127.0.0.0/8 is loopback (every address of it is the host's own)
    if ((ntohl(a.sin_addr.s_addr) >> 24) != 127) return false;
    memset(&out->addr, 0, sizeof out->addr);
    memcpy(&out->addr, &a, sizeof a);
    out->len = sizeof a;
    out->set = true;
    return true;
}

static bool set_v6(const std::string &host, uint16_t port, RelayAddr *out) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) != 1 ||
        !IN6_IS_ADDR_LOOPBACK(&a.sin6_addr))
        return false;
    memset(&out->addr, 0, sizeof out->addr);
    memcpy(&out->addr, &a, sizeof a);
    out->len = sizeof a;
    out->set = true;
    return true;
}

bool relay_address(const std::string &api_host, RelayAddr *out, std::string *why) {
    out->set = false;
    if (api_host.empty()) return true;
    uint16_t port;
    std::string rest;
    if (api_host.compare(0, 7, "http://") == 0) {
        port = 80;
        rest = api_host.substr(7);
    } else if (api_host.compare(0, 8, "https://") == 0) {
        port = 443;
        rest = api_host.substr(8);
    } else {
        *why = "the API host is not an http:// or https:// URL";
        return false;
    }
    rest = rest.substr(0, rest.find_first_of("/?#"));
    std::string host = rest, port_text;
    if (!rest.empty() && rest[0] == '[') {
        size_t close = rest.find(']');
        if (close == std::string::npos) { *why = "malformed API host"; return false; }
        host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') { *why = "malformed API host"; return false; }
            port_text = rest.substr(close + 2);
        }
    } else if (rest.find(':') != std::string::npos) {
        host = rest.substr(0, rest.find(':'));
        port_text = rest.substr(rest.find(':') + 1);
    }
    if (!port_text.empty() || rest.find(':') != std::string::npos) {
        if (port_text.empty() || port_text.size() > 5 ||
            port_text.find_first_not_of("0123456789") != std::string::npos ||
            std::stol(port_text) < 1 || std::stol(port_text) > 65535) {
            *why = "malformed API host port";
            return false;
        }
        port = (uint16_t)std::stol(port_text);
    }
    if (host == "localhost") host = "127.0.0.1";   // see RelayAddr
    if (set_v4(host, port, out) || set_v6(host, port, out)) return true;
    *why = "the API host " + host + " is not a loopback address";
    return false;
}

std::string addr_text(const struct sockaddr_storage &a) {
    char buf[INET6_ADDRSTRLEN] = "";
    if (a.ss_family == AF_INET) {
        const auto *v4 = reinterpret_cast<const struct sockaddr_in *>(&a);
        inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
        return std::string(buf) + ":" + std::to_string(ntohs(v4->sin_port));
    }
    const auto *v6 = reinterpret_cast<const struct sockaddr_in6 *>(&a);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(v6->sin6_port));
}

// One message: the report, and the fds when there are any.
static bool send_report(int fd, NetnsReport r, const int *fds, int nfds) {
    struct iovec iov = {&r, sizeof r};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    union {
        char buf[CMSG_SPACE(sizeof(int) * 2)];
        struct cmsghdr align;
    } c;
    if (nfds > 0) {
        memset(&c, 0, sizeof c);
        m.msg_control = c.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(h), fds, sizeof(int) * nfds);
    }
    ssize_t n;
    do {
        n = sendmsg(fd, &m, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof r;
}

static int fail(int report_fd, int step, int err) {
    NetnsReport r;
    r.err = err;
    r.step = step;
    send_report(report_fd, r, nullptr, 0);
    return step;
}

int enter_runtime_netns(const RelayAddr &relay, int report_fd) {
    if (unshare(CLONE_NEWNET) != 0) return fail(report_fd, kNetnsUnshare, errno);
    // a new namespace has lo, down: without it not even 127.0.0.1 works
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return fail(report_fd, kNetnsLoopback, errno);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
        int e = errno;
        close(s);
        return fail(report_fd, kNetnsLoopback, e);
    }
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) {
        int e = errno;
        close(s);
        return fail(report_fd, kNetnsLoopback, e);
    }
    close(s);
    int fds[2];
    int nfds = 0;
    // close-on-exec: the runtime keeps none of these
    fds[nfds] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fds[nfds] < 0) return fail(report_fd, kNetnsListen, errno);
    nfds++;
    if (relay.set) {
        const struct sockaddr *a = reinterpret_cast<const struct sockaddr *>(&relay.addr);
        int l = socket(a->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (l < 0 || bind(l, a, relay.len) != 0 || listen(l, 128) != 0) {
            int e = errno;
            if (l >= 0) close(l);
            close(fds[0]);
            return fail(report_fd, kNetnsListen, e);
        }
        fds[nfds++] = l;
    }
    NetnsReport ok;
    bool sent = send_report(report_fd, ok, fds, nfds);
    int e = errno;
    for (int j = 0; j < nfds; j++) close(fds[j]);
    return sent ? kNetnsOk : fail(report_fd, kNetnsReport, e);
}

void RuntimeNetns::close_all() {
    if (ns_fd >= 0) close(ns_fd);
    ns_fd = -1;
    if (listener >= 0) close(listener);
    listener = -1;
}

bool receive_runtime_netns(int report_fd, int timeout_ms, RuntimeNetns *out, std::string *err) {
    struct pollfd p = {report_fd, POLLIN, 0};
    int n;
    do {
        n = poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        *err = "the runtime's network namespace: no report from the child";
        return false;
    }
    NetnsReport r;
    struct iovec iov = {&r, sizeof r};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    union {
        char buf[CMSG_SPACE(sizeof(int) * 2)];
        struct cmsghdr align;
    } c;
    m.msg_control = c.buf;
    m.msg_controllen = sizeof c.buf;
    ssize_t got;
    do {
        got = recvmsg(report_fd, &m, MSG_CMSG_CLOEXEC);
    } while (got < 0 && errno == EINTR);
    std::vector<int> fds;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
        size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
            fds.push_back(fd);
        }
    }
    if (got != (ssize_t)sizeof r || (m.msg_flags & MSG_CTRUNC)) {
        for (int fd : fds) close(fd);
        *err = "the runtime's network namespace: a short report from the child";
        return false;
    }
    if (r.step == kNetnsUnshare) {
        for (int fd : fds) close(fd);
        out->entered = false;
        out->refused_errno = r.err;
        return true;
    }
    if (r.step != kNetnsOk || fds.empty()) {
        for (int fd : fds) close(fd);
        static const char *const steps[] = {"", "unshare", "bringing lo up",
                                            "binding the API relay address", "reporting"};
        *err = std::string("the runtime's network namespace: ") +
               (r.step > 0 && r.step <= kNetnsReport ? steps[r.step] : "unknown step") +
               ": " + strerror(r.err);
        return false;
    }
    out->entered = true;
    out->ns_fd = fds[0];
    if (fds.size() > 1) out->listener = fds[1];
    for (size_t i = 2; i < fds.size(); i++) close(fds[i]);   // never sent
    return true;
}

}  // namespace ow::sidecar
