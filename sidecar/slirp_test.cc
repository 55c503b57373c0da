// slirp_test.cc: slirp4netns started on a namespace and stopped; a missing
// or failing one is reported, not waited for past its deadline.
#include "sidecar/slirp.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "libow/clock.h"

namespace ow::sidecar {
namespace {

const char kSlirp[] = "/usr/bin/slirp4netns";

TEST(Slirp, AMissingOrFailingOneIsReported) {
    int ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(ns, 0);
    for (const char *path : {"/nonexistent/slirp4netns", "/bin/false"}) {
        Slirp s;
        std::string err;
        int64_t t0 = ow::mono_ms();
        EXPECT_FALSE(start_slirp(path, ns, 5000, &s, &err)) << path;
        EXPECT_LT(ow::mono_ms() - t0, 4000) << "an exit is not a timeout: " << path;
        EXPECT_NE(err.find(path), std::string::npos) << err;
        EXPECT_EQ(s.pid, -1);
        EXPECT_EQ(s.exit_fd, -1);
    }
    close(ns);
    while (waitpid(-1, nullptr, WNOHANG) > 0) {}
}

TEST(Slirp, ConfiguresTheNamespaceAndStops) {
    if (access(kSlirp, X_OK) != 0) GTEST_SKIP() << "no slirp4netns";
    // a namespace held by a child that waits (as the runtime would)
    int up[2], go[2];   // child → parent: unshared; parent → child: look now
    ASSERT_EQ(pipe(up), 0);
    ASSERT_EQ(pipe(go), 0);
    pid_t holder = fork();
    if (holder == 0) {
        if (unshare(CLONE_NEWNET) != 0) _exit(1);
        char c;
        (void)!write(up[1], "x", 1);
        (void)!read(go[0], &c, 1);   // until the parent says
        // tap0 is there: slirp4netns configured this namespace
        _exit(if_nametoindex("tap0") != 0 ? 0 : 2);
    }
    close(up[1]);
    close(go[0]);
    char c = 0;
    if (read(up[0], &c, 1) != 1) {   // it could not unshare, and exited
        waitpid(holder, nullptr, 0);
        close(up[0]);
        close(go[1]);
        GTEST_SKIP() << "this process may not create a network namespace";
    }
    std::string path = "/proc/" + std::to_string(holder) + "/ns/net";
    int ns = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(ns, 0);
    Slirp s;
    std::string err;
    bool started = start_slirp(kSlirp, ns, 5000, &s, &err);
    close(ns);
    EXPECT_TRUE(started) << err;
    ASSERT_EQ(write(go[1], "y", 1), 1);
    int status = 0;
    waitpid(holder, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    pid_t pid = s.pid;
    stop_slirp(&s);
    EXPECT_EQ(s.pid, -1);
    if (started) {
        EXPECT_EQ(waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFSIGNALED(status) || WIFEXITED(status));
    }
    close(up[0]);
    close(go[1]);
}

}  // namespace
}  // namespace ow::sidecar
