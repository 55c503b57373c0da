// local_backend_test.cc: the local backend against real processes: small
// shell scripts stand in for ow-sidecar (they ignore its arguments and talk
// on the ready fd). Every wait is bounded (run_for).
#include "pool-manager/backends/local_backend.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <optional>

namespace ow::pm::test {
namespace {

class LocalBackendTest : public ::testing::Test {
protected:
    void TearDown() override {
        if (!script_.empty()) ::unlink(script_.c_str());
    }
    // Writes the stand-in sidecar and makes a backend that runs it.
    void make(const std::string &body, int64_t start_timeout_ms = 5000) {
        char tmpl[] = "/tmp/owpm-test-XXXXXX";
        int fd = ::mkstemp(tmpl);
        ASSERT_GE(fd, 0);
        ::close(fd);
        script_ = tmpl;
        std::ofstream(script_) << "#!/bin/sh\n" << body << "\n";
        ::chmod(script_.c_str(), 0755);
        LocalBackendOptions o;
        o.sidecar = script_;
        o.redis = "127.0.0.1:1";
        o.start_timeout_ms = start_timeout_ms;
        backend_ = std::make_unique<LocalBackend>(io_, o);
        backend_->on_exit([this](const std::string &id, int status) {
            exits_.emplace_back(id, status);
            order_.push_back("exit");
        });
    }
    ContainerSpec spec(const std::string &id = "c1") {
        ContainerSpec s;
        s.id = id;
        s.action = "guest/a";
        s.kind = "nodejs:20";
        s.family = "nodejs";
        s.command = {"/usr/bin/node", "proxy.js", "--port", "{port}"};
        return s;
    }
    void start(const std::string &id = "c1") {
        backend_->start(spec(id), [this](const StartResult &r) {
            result_ = r;
            order_.push_back("start");
        });
    }
    // Runs the io_context until pred() or 5 s.
    bool run_until(const std::function<bool()> &pred) {
        auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!pred() && std::chrono::steady_clock::now() < end) {
            io_.restart();
            io_.run_for(std::chrono::milliseconds(20));
        }
        return pred();
    }

    boost::asio::io_context io_;
    std::string script_;
    std::unique_ptr<LocalBackend> backend_;
    std::optional<StartResult> result_;
    std::vector<std::pair<std::string, int>> exits_;
    std::vector<std::string> order_;
};

TEST_F(LocalBackendTest, ReadyThenStopDrains) {
    make("echo 'ready 127.0.0.1:4321' >&3\nexec 3>&-\ntrap 'exit 0' TERM\n"
         "while :; do sleep 0.05; done");
    start();
    ASSERT_TRUE(run_until([&] { return result_.has_value(); }));
    EXPECT_EQ(result_->status, StartResult::ok);
    EXPECT_EQ(result_->addr, "127.0.0.1:4321");
    EXPECT_GT(result_->pid, 0);
    EXPECT_EQ(::getsid(result_->pid), result_->pid) << "own session";
    backend_->stop("c1", 5000);
    ASSERT_TRUE(run_until([&] { return !exits_.empty(); }));
    EXPECT_EQ(exits_[0], std::make_pair(std::string("c1"), 0));
}

TEST_F(LocalBackendTest, InitFailureIsAnsweredBeforeTheExit) {
    make("echo 'failed {\"error\":\"Initialization has failed due to: boom\"}' >&3\nexit 3");
    start();
    ASSERT_TRUE(run_until([&] { return !exits_.empty(); }));
    ASSERT_TRUE(result_.has_value());
    EXPECT_EQ(result_->status, StartResult::init_failed);
    EXPECT_EQ(result_->error, "Initialization has failed due to: boom");
    EXPECT_EQ(result_->init_error["error"], result_->error);
    EXPECT_EQ(exits_[0].second, 3);
    EXPECT_EQ(order_, (std::vector<std::string>{"start", "exit"}));
}

TEST_F(LocalBackendTest, ExitBeforeReady) {
    make("exit 1");
    start();
    ASSERT_TRUE(run_until([&] { return !exits_.empty(); }));
    ASSERT_TRUE(result_.has_value());
    EXPECT_EQ(result_->status, StartResult::failed);
    EXPECT_NE(result_->error.find("status 1"), std::string::npos) << result_->error;
    EXPECT_EQ(order_, (std::vector<std::string>{"start", "exit"}));
}

TEST_F(LocalBackendTest, NotReadyInTimeIsKilled) {
    make("exec sleep 30", 200);
    start();
    ASSERT_TRUE(run_until([&] { return !exits_.empty(); }));
    EXPECT_EQ(result_->status, StartResult::failed);
    EXPECT_NE(result_->error.find("not ready"), std::string::npos);
    EXPECT_EQ(exits_[0].second, 128 + SIGKILL);
}

TEST_F(LocalBackendTest, StopForcesAfterGrace) {
    make("trap '' TERM\necho 'ready 127.0.0.1:1' >&3\nexec 3>&-\n"
         "while :; do sleep 0.05; done");
    start();
    ASSERT_TRUE(run_until([&] { return result_.has_value(); }));
    backend_->stop("c1", 200);
    ASSERT_TRUE(run_until([&] { return !exits_.empty(); }));
    EXPECT_EQ(exits_[0].second, 128 + SIGKILL);
}

TEST_F(LocalBackendTest, LeftoversOfTheSessionAreKilled) {
    // The "runtime" goes to a process group of its own (as ow-sidecar puts
    // it) and writes its pid; the sidecar then dies.
    make("f=/tmp/owpm-test-runtime-$$\n"
         "/usr/bin/python3 -c 'import os,sys,time; os.setpgid(0, 0); "
         "open(sys.argv[1] + \".tmp\", \"w\").write(\"%d %d\" % (os.getpid(), os.getpgid(0))); "
         "os.rename(sys.argv[1] + \".tmp\", sys.argv[1]); time.sleep(30)' $f &\n"
         "while [ ! -e $f ]; do sleep 0.01; done\n"
         "echo 'ready 127.0.0.1:1' >&3\nexec 3>&-\nexit 2");
    start();
    ASSERT_TRUE(run_until([&] { return !exits_.empty(); }));
    EXPECT_EQ(exits_[0].second, 2);
    std::string f = "/tmp/owpm-test-runtime-" + std::to_string(result_->pid);
    pid_t runtime = 0, pgid = 0;
    std::ifstream(f) >> runtime >> pgid;
    ::unlink(f.c_str());
    ASSERT_GT(runtime, 0);
    EXPECT_EQ(pgid, runtime) << "in a group of its own";
    // It was SIGKILLed; once reaped by init it disappears. Until then it
    // may linger as a zombie: check the state.
    bool dead = run_until([&] {
        std::ifstream st("/proc/" + std::to_string(runtime) + "/stat");
        std::string s;
        if (!std::getline(st, s)) return true;
        return s.substr(s.rfind(')') + 2, 1) == "Z";
    });
    EXPECT_TRUE(dead);
}

TEST_F(LocalBackendTest, SidecarArgv) {
    make("exit 0");
    std::vector<std::string> a = backend_->sidecar_argv(spec("abc"));
    std::vector<std::string> want = {script_, "--listen", "127.0.0.1:0", "--redis", "127.0.0.1:1",
                                     "--action", "guest/a", "--container-id", "abc",
                                     "--ready-fd", "3", "--runtime-netns", "off", "--",
                                     "/usr/bin/node", "proxy.js", "--port", "{port}"};
    EXPECT_EQ(a, want);
}

TEST_F(LocalBackendTest, SidecarArgvWithTheNetworkNamespace) {
    make("exit 0");
    LocalBackendOptions o;
    o.sidecar = script_;
    o.redis = "127.0.0.1:1";
    o.runtime_netns = "on";
    o.slirp4netns = "/usr/bin/slirp4netns";
    LocalBackend b(io_, o);
    std::vector<std::string> a = b.sidecar_argv(spec("abc"));
    std::vector<std::string> tail(a.end() - 9, a.end());
    std::vector<std::string> want = {"--runtime-netns", "on", "--slirp4netns",
                                     "/usr/bin/slirp4netns", "--", "/usr/bin/node", "proxy.js",
                                     "--port", "{port}"};
    EXPECT_EQ(tail, want);
}

TEST_F(LocalBackendTest, StemcellArgvHasNoAction) {
    make("exit 0");
    ContainerSpec s = spec("st1");
    s.action.clear();
    s.stemcell_ms = 660000;
    std::vector<std::string> a = backend_->sidecar_argv(s);
    std::vector<std::string> want = {script_, "--listen", "127.0.0.1:0", "--redis", "127.0.0.1:1",
                                     "--stemcell", "660000ms", "--container-id", "st1",
                                     "--ready-fd", "3", "--runtime-netns", "off", "--",
                                     "/usr/bin/node", "proxy.js", "--port", "{port}"};
    EXPECT_EQ(a, want);
}

TEST_F(LocalBackendTest, AdoptChecksTheProcess) {
    make("exit 0");
    EXPECT_FALSE(backend_->adopt("x", 0));
    EXPECT_FALSE(backend_->adopt("x", ::getpid())) << "our cmdline has no such argument";
    EXPECT_TRUE(process_has_arg(::getpid(), "--gtest_color=no") ||
                !process_has_arg(::getpid(), "no-such-arg"));
}

}  // namespace
}  // namespace ow::pm::test
