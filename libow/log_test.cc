#include "libow/log.h"

#include <gtest/gtest.h>
#include <climits>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

TEST(Log, OneJsonLinePerEvent) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    ow::log_setup(fds[1], ow::LogLevel::info);
    ow::log_context("container", "c1");
    ow::log_info("ready", {{"addr", "127.0.0.1:1"}});
    ow::log_event(ow::LogLevel::debug, "hidden");
    char buf[512];
    ssize_t n = read(fds[0], buf, sizeof buf);
    ASSERT_GT(n, 0);
    std::string line(buf, (size_t)n);
    ASSERT_EQ(line.back(), '\n');
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["event"], "ready");
    EXPECT_EQ(j["container"], "c1");
    EXPECT_EQ(j["addr"], "127.0.0.1:1");
    EXPECT_EQ(j["level"], "info");
    ow::log_setup(2, ow::LogLevel::info);
    close(fds[0]);
    close(fds[1]);
}

TEST(Log, InvalidUtf8DoesNotThrow) {
    nlohmann::json j = std::string("a\xff" "b");
    EXPECT_EQ(ow::json_dump(j), "\"a\xEF\xBF\xBD" "b\"");
}

// A batch's lines leave in as few writes as PIPE_BUF allows, each write
// whole lines only. A SOCK_SEQPACKET pair keeps every write(2) a message of
// its own, so the test sees the writes themselves.
TEST(Log, BatchWritesWholeLinesAtMostPipeBufAtATime) {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds), 0);
    int big = 1 << 20;
    ASSERT_EQ(setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big), 0);
    ASSERT_EQ(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    ow::log_setup(fds[1], ow::LogLevel::info);
    char buf[65536];
    {
        ow::LogBatch batch;
        auto add = [&batch](int i) {
            batch.add(ow::LogLevel::info, "run", {{"n", i}, {"pad", std::string(200, 'x')}});
        };
        for (int i = 0; i < 3; i++) add(i);
        batch.add(ow::LogLevel::debug, "hidden");
        // a few lines are not written before the flush: the point of a batch
        EXPECT_EQ(read(fds[0], buf, sizeof buf), -1);
        for (int i = 3; i < 40; i++) add(i);
        batch.flush();
    }
    int writes = 0, lines = 0;
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) {
        writes++;
        EXPECT_LE((size_t)n, (size_t)PIPE_BUF);
        std::string w(buf, (size_t)n);
        ASSERT_EQ(w.back(), '\n');
        size_t start = 0;
        for (size_t nl; (nl = w.find('\n', start)) != std::string::npos; start = nl + 1) {
            auto j = nlohmann::json::parse(w.substr(start, nl - start));
            EXPECT_EQ(j["event"], "run");
            EXPECT_EQ(j["n"], lines);
            lines++;
        }
    }
    EXPECT_EQ(lines, 40);
    // 40 lines of ~260 bytes: 3 writes of up to PIPE_BUF, not 40
    EXPECT_GE(writes, 2);
    EXPECT_LE(writes, 4);
    ow::log_setup(2, ow::LogLevel::info);
    close(fds[0]);
    close(fds[1]);
}
