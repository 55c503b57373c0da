#include "libow/log.h"

#include <gtest/gtest.h>
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
