#include "sidecar/log_collector.h"

#include <gtest/gtest.h>

using namespace ow::sidecar;

static const int64_t kT = 1704110400LL * 1000000000 + 5;

TEST(LogFormat, PaddedStampStreamText) {
    EXPECT_EQ(format_log_line(kT, kStdout, "hello"),
              "2024-01-01T12:00:00.000000005Z stdout: hello");
    EXPECT_EQ(format_log_line(kT, kStderr, ""), "2024-01-01T12:00:00.000000005Z stderr: ");
}

TEST(ActivationLogs, TruncationLine) {
    ActivationLogs l(10);
    l.add(kT, kStdout, "12345");
    l.add(kT, kStdout, "67890");
    l.add(kT, kStdout, "x");
    l.add(kT, kStdout, "y");
    ASSERT_EQ(l.lines().size(), 3u);
    EXPECT_EQ(l.lines()[2], "2024-01-01T12:00:00.000000005Z stderr: Logs were truncated "
                            "because the total bytes size exceeds the limit of 10 bytes.");
    EXPECT_TRUE(l.truncated());
}

TEST(ActivationLogs, ZeroLimitAndIncomplete) {
    ActivationLogs l(0);
    l.add(kT, kStdout, "a");
    l.mark_incomplete(kT);
    l.mark_incomplete(kT);
    ASSERT_EQ(l.lines().size(), 2u);
    EXPECT_NE(l.lines()[1].find(kCollectIssue), std::string::npos);
}

TEST(LineSplitter, SplitsAndBounds) {
    LineSplitter s(4);
    std::vector<std::string> out;
    auto f = [&](std::string l) { out.push_back(l); };
    s.feed("ab\ncdefgh", 9, f);
    s.feed("i\n", 2, f);
    s.feed("tail", 3, f);
    s.finish(f);
    EXPECT_EQ(out, (std::vector<std::string>{"ab", "cdef", "ghi", "tai"}));
}

TEST(LogCollector, SerialAttributionAndSentinels) {
    std::vector<nlohmann::json> emitted;
    LogCollector c([&](const nlohmann::json &j) { emitted.push_back(j); });
    auto s = std::make_shared<LogSink>(1000);
    s->activation_id = "a1";
    bool done = false;
    s->on_complete = [&] { done = true; };
    c.line(kStdout, kT, "before");           // nobody's: structured only
    c.open(s);
    c.line(kStdout, kT, "out");
    c.line(kStderr, kT, "err");
    c.line(kStdout, kT, kSentinel);
    EXPECT_FALSE(done);
    c.line(kStderr, kT, kSentinel);
    EXPECT_TRUE(done);
    ASSERT_EQ(s->logs.lines().size(), 2u);
    EXPECT_NE(s->logs.lines()[1].find("stderr: err"), std::string::npos);
    ASSERT_EQ(emitted.size(), 3u);
    EXPECT_TRUE(emitted[0]["activationId"].is_null());
    EXPECT_EQ(emitted[1]["activationId"], "a1");
    EXPECT_EQ(emitted[2]["stream"], "stderr");
    EXPECT_EQ(emitted[1]["message"], "out");
    EXPECT_EQ(c.open_count(), 0u);
}

// The sentinel that completes a sink finds it in the collector's own list,
// which finish() erases: the sink (and the callback) must outlive that, even
// when the collector holds the last reference (a heap-use-after-free that
// make test-asan found).
TEST(LogCollector, CompletesASinkOnlyTheCollectorHolds) {
    LogCollector c([](const nlohmann::json &) {});
    int done = 0;
    {
        auto s = std::make_shared<LogSink>(1000);
        s->activation_id = "a1";
        s->on_complete = [&done] { done++; };
        c.open(s);
    }
    c.line(kStdout, kT, "out");
    c.line(kStdout, kT, kSentinel);
    c.line(kStderr, kT, kSentinel);
    EXPECT_EQ(done, 1);
    EXPECT_EQ(c.open_count(), 0u);
}

TEST(LogCollector, ConcurrentLinesAreNotGuessed) {
    std::vector<nlohmann::json> emitted;
    LogCollector c([&](const nlohmann::json &j) { emitted.push_back(j); });
    auto a = std::make_shared<LogSink>(1000), b = std::make_shared<LogSink>(1000);
    a->activation_id = "a";
    b->activation_id = "b";
    c.open(a);
    c.open(b);
    c.line(kStdout, kT, "mixed");
    EXPECT_TRUE(a->logs.lines().empty());
    EXPECT_TRUE(b->logs.lines().empty());
    EXPECT_EQ(emitted[0]["candidates"].size(), 2u);
    c.line(kStdout, kT, kSentinel);          // closes a's stdout (FIFO)
    c.line(kStdout, kT, "only b open on stdout");
    EXPECT_EQ(b->logs.lines().size(), 1u);
    c.close_all(kT);
    EXPECT_TRUE(a->complete && b->complete);
    EXPECT_NE(b->logs.lines().back().find(kCollectIssue), std::string::npos);
}
