// runtime_netns_test.cc: the API host's relay addresses, the child's
// report, and (where this process may unshare: root) a real namespace: its
// loopback reaches the relay listener and not the host's.
#include "sidecar/runtime_netns.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace ow::sidecar {
namespace {

TEST(NetnsMode, Parses) {
    NetnsMode m;
    ASSERT_TRUE(parse_netns_mode("auto", &m));
    EXPECT_EQ(m, NetnsMode::automatic);
    ASSERT_TRUE(parse_netns_mode("on", &m));
    EXPECT_EQ(m, NetnsMode::on);
    ASSERT_TRUE(parse_netns_mode("off", &m));
    EXPECT_EQ(m, NetnsMode::off);
    EXPECT_FALSE(parse_netns_mode("yes", &m));
}

TEST(RelayAddress, LoopbackApiHosts) {
    struct Case {
        const char *url;
        const char *addr;   // "": none to relay
    } cases[] = {
        {"http://127.0.0.1:3233", "127.0.0.1:3233"},
        {"http://127.0.0.1:3233/", "127.0.0.1:3233"},
        {"http://127.1.2.3", "127.1.2.3:80"},
        {"https://127.0.0.1", "127.0.0.1:443"},
        {"https://[::1]:8443/api", "[::1]:8443"},
        {"http://localhost:3233", "127.0.0.1:3233"},   // where owx's gateway listens
        {"", ""},
    };
    for (const auto &c : cases) {
        RelayAddr r;
        std::string why;
        ASSERT_TRUE(relay_address(c.url, &r, &why)) << c.url << ": " << why;
        ASSERT_EQ(r.set, *c.addr != 0) << c.url;
        if (r.set) {
            EXPECT_EQ(addr_text(r.addr), c.addr) << c.url;
        }
    }
}

TEST(RelayAddress, OthersAreNotRelayed) {
    for (const char *url : {"http://192.0.2.2:3233", "http://example.com", "ftp://127.0.0.1",
                            "127.0.0.1:3233", "http://127.0.0.1:", "http://127.0.0.1:99999",
                            "http://127.0.0.1:x", "http://[::1", "http://[fd00::1]:80"}) {
        RelayAddr r;
        std::string why;
        EXPECT_FALSE(relay_address(url, &r, &why)) << url;
        EXPECT_FALSE(why.empty()) << url;
    }
}

TEST(ReceiveNetns, ARefusedUnshareIsNotAnError) {
    int sp[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
    NetnsReport r;
    r.err = EPERM;
    r.step = kNetnsUnshare;
    ASSERT_EQ(write(sp[1], &r, sizeof r), (ssize_t)sizeof r);
    RuntimeNetns n;
    std::string err;
    EXPECT_TRUE(receive_runtime_netns(sp[0], 1000, &n, &err)) << err;
    EXPECT_FALSE(n.entered);
    EXPECT_EQ(n.refused_errno, EPERM);
    close(sp[0]);
    close(sp[1]);
}

TEST(ReceiveNetns, OtherFailuresAndSilenceAre) {
    int sp[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
    NetnsReport r;
    r.err = EADDRINUSE;
    r.step = kNetnsListen;
    ASSERT_EQ(write(sp[1], &r, sizeof r), (ssize_t)sizeof r);
    RuntimeNetns n;
    std::string err;
    EXPECT_FALSE(receive_runtime_netns(sp[0], 1000, &n, &err));
    EXPECT_NE(err.find("binding the API relay address"), std::string::npos) << err;
    close(sp[1]);   // a child that died without a word
    err.clear();
    EXPECT_FALSE(receive_runtime_netns(sp[0], 1000, &n, &err));
    EXPECT_FALSE(err.empty());
    close(sp[0]);
}

// Whether this process may create a network namespace (root, outside an
// unprivileged container): a throwaway child tries.
bool can_unshare() {
    pid_t pid = fork();
    if (pid == 0) _exit(unshare(CLONE_NEWNET) == 0 ? 0 : 1);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int connect_v4(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(fd);
    return rc == 0 ? 0 : e;
}

TEST(RuntimeNetns, TheNamespaceSeesTheRelayNotTheHost) {
    if (!can_unshare()) GTEST_SKIP() << "this process may not create a network namespace";
    // a service on the host's loopback (Redis, say)
    int host = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(bind(host, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(listen(host, 4), 0);
    ASSERT_EQ(getsockname(host, (struct sockaddr *)&a, &len), 0);
    uint16_t host_port = ntohs(a.sin_port);
    // the API at another port of the namespace's loopback
    uint16_t api_port = host_port == 65535 ? 65534 : host_port + 1;
    RelayAddr relay;
    std::string why;
    ASSERT_TRUE(relay_address("http://127.0.0.1:" + std::to_string(api_port), &relay, &why));
    int sp[2], verdict[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
    ASSERT_EQ(pipe(verdict), 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (enter_runtime_netns(relay, sp[1]) != kNetnsOk) _exit(2);
        // as the action would: the API port answers, the host's does not
        int r[2] = {connect_v4(api_port), connect_v4(host_port)};
        (void)!write(verdict[1], r, sizeof r);
        _exit(0);
    }
    close(sp[1]);
    close(verdict[1]);
    RuntimeNetns n;
    std::string err;
    ASSERT_TRUE(receive_runtime_netns(sp[0], 5000, &n, &err)) << err;
    ASSERT_TRUE(n.entered);
    EXPECT_GE(n.ns_fd, 0);
    EXPECT_GE(n.listener, 0);
    int r[2] = {-1, -1};
    ASSERT_EQ(read(verdict[0], r, sizeof r), (ssize_t)sizeof r);
    EXPECT_EQ(r[0], 0) << strerror(r[0]);             // queued on our listener
    EXPECT_EQ(r[1], ECONNREFUSED) << strerror(r[1]);  // not the host's
    int status;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    n.close_all();
    close(sp[0]);
    close(verdict[0]);
    close(host);
}

}  // namespace
}  // namespace ow::sidecar
