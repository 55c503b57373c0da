// runtime_process_test.cc: the runtime's private socket directory and its
// environment allow list.
#include "sidecar/runtime_process.h"

#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace ow::sidecar {
namespace {

struct TmpDir {
    std::string path;
    TmpDir() {
        char tmpl[] = "/tmp/ow_runtime_process_test_XXXXXX";
        path = mkdtemp(tmpl);
        setenv("TMPDIR", path.c_str(), 1);
    }
    ~TmpDir() {
        unsetenv("TMPDIR");
        std::string cmd = "rm -rf '" + path + "'";
        (void)!system(cmd.c_str());
    }
    bool exists(const std::string &name) const {
        struct stat st;
        return stat((path + "/" + name).c_str(), &st) == 0;
    }
};

TEST(RuntimeSocket, PrivateDirectoryRemovedWithIt) {
    TmpDir tmp;
    std::string dir;
    {
        RuntimeSocket s;
        std::string err;
        ASSERT_TRUE(s.bind(&err)) << err;
        ASSERT_GE(s.fd(), 0);
        dir = s.path().substr(0, s.path().rfind('/'));
        struct stat st;
        ASSERT_EQ(stat(dir.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0700u);   // only the sidecar's uid enters
        EXPECT_EQ(dir.find(tmp.path + "/owx-runtime-" + std::to_string(getpid()) + "-"), 0u);
        ASSERT_EQ(stat(s.path().c_str(), &st), 0);
        EXPECT_TRUE(S_ISSOCK(st.st_mode));
    }
    struct stat st;
    EXPECT_NE(stat(dir.c_str(), &st), 0);
}

TEST(RuntimeSocket, RemovesTheDirectoriesOfDeadSidecarsOnly) {
    TmpDir tmp;
    // pid 999999999 is above any pid_max: dead; our own pid is alive
    std::string dead = "owx-runtime-999999999-abcdef";
    std::string live = "owx-runtime-" + std::to_string(getpid()) + "-abcdef";
    ASSERT_EQ(mkdir((tmp.path + "/" + dead).c_str(), 0700), 0);
    ASSERT_EQ(mkdir((tmp.path + "/" + live).c_str(), 0700), 0);
    ASSERT_EQ(mkdir((tmp.path + "/other-999999999-x").c_str(), 0700), 0);
    RuntimeSocket s;
    std::string err;
    ASSERT_TRUE(s.bind(&err)) << err;
    EXPECT_FALSE(tmp.exists(dead));
    EXPECT_TRUE(tmp.exists(live));
    EXPECT_TRUE(tmp.exists("other-999999999-x"));
}

TEST(RuntimeEnvironment, OnlyTheAllowList) {
    setenv("OW_SIDECAR_TOKEN_FILE", "/secret/path", 1);
    setenv("REDIS_PASSWORD", "x", 1);
    setenv("NODE_OPTIONS", "--max-old-space-size=256", 1);
    std::vector<std::string> env = runtime_environment({"__OW_API_HOST=http://h"});
    unsetenv("OW_SIDECAR_TOKEN_FILE");
    unsetenv("REDIS_PASSWORD");
    unsetenv("NODE_OPTIONS");
    bool node = false, host = false, home = false;
    for (const auto &e : env) {
        EXPECT_NE(e.rfind("OW_SIDECAR_", 0), 0u) << e;
        EXPECT_NE(e.rfind("REDIS_", 0), 0u) << e;
        node = node || e == "NODE_OPTIONS=--max-old-space-size=256";
        host = host || e == "__OW_API_HOST=http://h";
        home = home || e == "HOME=/tmp";
    }
    EXPECT_TRUE(node && host && home);
}

// make test-asan runs sanitized daemons (and nginx with libasan preloaded):
// nothing of that may reach a runtime, which is not instrumented.
TEST(RuntimeEnvironment, NoSanitizerOrPreload) {
    setenv("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libasan.so.8", 1);
    setenv("LD_LIBRARY_PATH", "/opt/lib", 1);
    setenv("ASAN_OPTIONS", "log_path=/tmp/asan", 1);
    setenv("UBSAN_OPTIONS", "halt_on_error=1", 1);
    std::vector<std::string> env = runtime_environment({});
    for (const char *v : {"LD_PRELOAD", "LD_LIBRARY_PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS"}) {
        unsetenv(v);
    }
    for (const auto &e : env) {
        EXPECT_NE(e.rfind("LD_", 0), 0u) << e;
        EXPECT_EQ(e.find("SAN_OPTIONS="), std::string::npos) << e;
    }
}

}  // namespace
}  // namespace ow::sidecar
