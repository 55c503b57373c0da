// netns_test.cc: the probe agrees with what this process may do.
#include "libow/netns.h"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

TEST(NetnsAllowed, AgreesWithATryOfOurOwn) {
    pid_t pid = fork();
    if (pid == 0) _exit(unshare(CLONE_NEWNET) == 0 ? 0 : 1);
    int status = 0;
    waitpid(pid, &status, 0);
    bool allowed = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    std::string why;
    EXPECT_EQ(ow::netns_allowed(&why), allowed);
    EXPECT_EQ(why.empty(), allowed) << why;
}
