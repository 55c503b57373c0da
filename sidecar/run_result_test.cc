#include "sidecar/run_result.h"

#include <gtest/gtest.h>

using namespace ow::sidecar;

static RuntimeReply ok(int status, const std::string &body) {
    RuntimeReply r;
    r.kind = RuntimeReply::ok;
    r.status = status;
    r.body = body;
    return r;
}

TEST(RunResult, Success) {
    RunOutcome o = map_run_reply(ok(200, R"({"payload":"hi"})"), 1000);
    EXPECT_EQ(o.status_code, 0);
    EXPECT_EQ(o.result["payload"], "hi");
    EXPECT_FALSE(o.recycle);
    EXPECT_EQ(o.size, 16u);
    EXPECT_EQ(map_run_reply(ok(200, "[1,2]"), 1000).status_code, 0);
}

TEST(RunResult, ApplicationErrorKeepsContainer) {
    RunOutcome o = map_run_reply(ok(200, R"({"error":{"x":1},"other":2})"), 1000);
    EXPECT_EQ(o.status_code, 1);
    EXPECT_EQ(o.result, (nlohmann::json{{"error", {{"x", 1}}}}));
    EXPECT_FALSE(o.recycle);
}

TEST(RunResult, DeveloperErrors) {
    RunOutcome o = map_run_reply(ok(502, R"({"error":"An error has occurred: Error: boom"})"), 1000);
    EXPECT_EQ(o.status_code, 2);
    EXPECT_EQ(o.result["error"], "An error has occurred: Error: boom");
    EXPECT_TRUE(o.recycle);
    o = map_run_reply(ok(200, "not json"), 1000);
    EXPECT_EQ(o.status_code, 2);
    EXPECT_EQ(o.result["error"], "The action did not produce a valid JSON or JSON Array response: not json");
    o = map_run_reply(ok(200, "42"), 1000);
    EXPECT_EQ(o.status_code, 2);
    RuntimeReply drop;
    drop.kind = RuntimeReply::dropped;
    o = map_run_reply(drop, 1000);
    EXPECT_EQ(o.result["error"], kAbnormalRun);
    EXPECT_TRUE(o.recycle);
    EXPECT_FALSE(o.timeout);
}

TEST(RunResult, TimeLimit) {
    RuntimeReply r;
    r.kind = RuntimeReply::timed_out;
    RunOutcome o = map_run_reply(r, 1500);
    EXPECT_EQ(o.status_code, 2);
    EXPECT_TRUE(o.timeout);
    EXPECT_TRUE(o.recycle);
    EXPECT_EQ(o.result["error"], "The action exceeded its time limits of 1500 milliseconds.");
    o = map_init_reply(r, 1500);
    EXPECT_EQ(o.result["error"],
              "The action exceeded its time limits of 1500 milliseconds during initialization.");
}

TEST(RunResult, TooLarge) {
    RuntimeReply r;
    r.kind = RuntimeReply::too_large;
    r.status = 200;
    r.length = 2000000;
    r.body = std::string(1100000, 'a');
    RunOutcome o = map_run_reply(r, 1000);
    EXPECT_EQ(o.status_code, 1);
    EXPECT_FALSE(o.recycle);
    std::string e = o.result["error"];
    const std::string prefix = "The action produced a response that exceeded the allowed length: "
                               "2000000 > 1048576 bytes. The truncated response was: aaa";
    EXPECT_EQ(e.compare(0, prefix.size(), prefix), 0);
    EXPECT_EQ(e.size(), prefix.size() - 3 + 1048576);
}

TEST(RunResult, Init) {
    EXPECT_EQ(map_init_reply(ok(200, R"({"OK":true})"), 1).status_code, 0);
    RunOutcome o = map_init_reply(ok(403, R"({"error":"Missing main/no code to execute."})"), 1);
    EXPECT_EQ(o.status_code, 2);
    EXPECT_EQ(o.result["error"], "Missing main/no code to execute.");
    o = map_init_reply(ok(500, "oops"), 1);
    EXPECT_EQ(o.result["error"], "The action failed during initialization: oops");
}

// a result nested 100,000 deep would overflow the stack where it is copied:
// the action's developer error, without the text; one that fits is a result
TEST(RunResult, TooDeepIsDeveloperError) {
    std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
    RunOutcome o = map_run_reply(ok(200, deep), 1000);
    EXPECT_EQ(o.status_code, 2);
    EXPECT_TRUE(o.recycle);
    EXPECT_EQ(o.result["error"], "The action did not produce a valid JSON or JSON Array response: "
                                 "JSON nested deeper than 2045 levels.");
    EXPECT_EQ(map_run_reply(ok(502, deep), 1000).status_code, 2);
    std::string fits = std::string(2045, '[') + std::string(2045, ']');
    EXPECT_EQ(map_run_reply(ok(200, fits), 1000).status_code, 0);
    o = map_init_reply(ok(502, deep), 1);
    EXPECT_EQ(o.status_code, 2);
    EXPECT_EQ(o.result["error"], "The action failed during initialization: " + deep);
}
