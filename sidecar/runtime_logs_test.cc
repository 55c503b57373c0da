// runtime_logs_test.cc: the external runtime's log FIFOs: created fresh
// (whatever the runtime planted there removed), readable without a writer
// and without EOF, and fed by the wrapper shell the runtime container runs.
#include "sidecar/runtime_logs.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "libow/runtime_log_wrapper.h"

namespace ow::sidecar {
namespace {

struct TmpDir {
    std::string path;
    TmpDir() {
        char tmpl[] = "/tmp/ow_runtime_logs_test_XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TmpDir() {
        std::string cmd = "rm -rf '" + path + "'";
        (void)!system(cmd.c_str());
    }
};

// Everything readable on fd within timeout_ms, until want bytes came.
std::string read_some(int fd, size_t want, int timeout_ms) {
    std::string out;
    char buf[4096];
    while (out.size() < want) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0) break;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, (size_t)n);
    }
    return out;
}

// The runtime container's wrapper around `/bin/sh -c script`, with its
// log directory dir, as a child process (-1: fork failed).
pid_t spawn_wrapped(const std::string &dir, const char *script) {
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", ow::kRuntimeLogWrapper, "sh", dir.c_str(), "/bin/sh", "-c",
              script, (char *)nullptr);
        _exit(127);
    }
    return pid;
}

TEST(RuntimeLogFifos, AreFifosReadableByNoneButWritableByTheRuntime) {
    TmpDir d;
    RuntimeLogFifos f;
    std::string err;
    ASSERT_TRUE(open_runtime_log_fifos(d.path, &f, &err)) << err;
    for (const char *name : {"stdout", "stderr"}) {
        struct stat st;
        ASSERT_EQ(lstat((d.path + "/" + name).c_str(), &st), 0);
        EXPECT_TRUE(S_ISFIFO(st.st_mode));
        EXPECT_EQ(st.st_mode & 0777, 0622u) << name;
    }
    // no writer yet: nothing to read, and no EOF either
    char c;
    EXPECT_EQ(read(f.fd[0], &c, 1), -1);
    EXPECT_EQ(errno, EAGAIN);
    f.close_all();
}

TEST(RuntimeLogFifos, ReplaceWhatTheRuntimePlanted) {
    TmpDir d;
    std::string secret = d.path + "/secret";
    std::ofstream(secret) << "internal token\n";
    // a link to a file of the sidecar's, and a plain file
    ASSERT_EQ(symlink(secret.c_str(), (d.path + "/stdout").c_str()), 0);
    std::ofstream(d.path + "/stderr") << "old\n";
    RuntimeLogFifos f;
    std::string err;
    ASSERT_TRUE(open_runtime_log_fifos(d.path, &f, &err)) << err;
    struct stat st;
    ASSERT_EQ(lstat((d.path + "/stdout").c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    EXPECT_EQ(read_some(f.fd[0], 1, 50), "");
    std::ifstream in(secret);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "internal token");  // the link went, not its target
    f.close_all();
}

TEST(RuntimeLogFifos, AMissingDirectoryFails) {
    RuntimeLogFifos f;
    std::string err;
    EXPECT_FALSE(open_runtime_log_fifos("/nonexistent/owx-logs", &f, &err));
    EXPECT_NE(err.find("/nonexistent/owx-logs/stdout"), std::string::npos) << err;
    EXPECT_EQ(f.fd[0], -1);
}

TEST(RuntimeLogWrapper, RunsTheEntrypointWithItsStreamsInTheFifos) {
    TmpDir d;
    RuntimeLogFifos f;
    std::string err;
    ASSERT_TRUE(open_runtime_log_fifos(d.path, &f, &err)) << err;
    pid_t pid = spawn_wrapped(d.path, "echo out; echo err >&2");
    ASSERT_GE(pid, 0);
    EXPECT_EQ(read_some(f.fd[0], 4, 5000), "out\n");
    EXPECT_EQ(read_some(f.fd[1], 4, 5000), "err\n");
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    f.close_all();
}

TEST(RuntimeLogWrapper, WaitsForTheSidecarsFifos) {
    TmpDir d;
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", ow::kRuntimeLogWrapper, "sh", d.path.c_str(), "/bin/echo",
              "late", (char *)nullptr);
        _exit(127);
    }
    usleep(250 * 1000);  // the runtime's container started first
    RuntimeLogFifos f;
    std::string err;
    ASSERT_TRUE(open_runtime_log_fifos(d.path, &f, &err)) << err;
    EXPECT_EQ(read_some(f.fd[0], 5, 5000), "late\n");
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    f.close_all();
}

TEST(RuntimeLogWrapper, PassesTermOnOnlyOnceTheSidecarHasExited) {
    TmpDir d;
    RuntimeLogFifos f;
    std::string err;
    ASSERT_TRUE(open_runtime_log_fifos(d.path, &f, &err)) << err;
    // a runtime that says when it is told to stop
    pid_t pid = spawn_wrapped(
        d.path, "trap 'echo term; exit 0' TERM; echo up; while :; do sleep 0.05; done");
    ASSERT_GE(pid, 0);
    EXPECT_EQ(read_some(f.fd[0], 3, 5000), "up\n");
    // the kubelet's stop signal reaches the container's init, the wrapper: the runtime keeps
    // serving while the sidecar drains
    ASSERT_EQ(kill(pid, SIGTERM), 0);
    EXPECT_EQ(read_some(f.fd[0], 1, 300), "");
    EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), 0);
    mark_sidecar_exited(d.path);
    EXPECT_EQ(read_some(f.fd[0], 5, 5000), "term\n");
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    f.close_all();
}

TEST(RuntimeLogWrapper, TheRuntimesExitIsTheContainers) {
    TmpDir d;
    RuntimeLogFifos f;
    std::string err;
    ASSERT_TRUE(open_runtime_log_fifos(d.path, &f, &err)) << err;
    pid_t pid = spawn_wrapped(d.path, "exit 7");
    ASSERT_GE(pid, 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7) << status;
    f.close_all();
}

}  // namespace
}  // namespace ow::sidecar
