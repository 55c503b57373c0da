#include "sidecar/invoke_response.h"

#include <gtest/gtest.h>

using namespace owsc;

TEST(InvokeQuery, Parse) {
    InvokeQuery q;
    std::string err;
    ASSERT_TRUE(parse_invoke_query("blocking=true&result=true&timeout=250", &q, &err));
    EXPECT_TRUE(q.blocking);
    EXPECT_TRUE(q.result);
    EXPECT_EQ(q.timeout_ms, 250);
    InvokeQuery d;
    ASSERT_TRUE(parse_invoke_query("", &d, &err));
    EXPECT_FALSE(d.blocking);
    EXPECT_FALSE(d.result);
    EXPECT_EQ(d.timeout_ms, 60000);
    for (const char *bad : {"timeout=0", "timeout=60001", "timeout=abc", "timeout=", "timeout=-1"}) {
        InvokeQuery b;
        EXPECT_FALSE(parse_invoke_query(bad, &b, &err)) << bad;
        EXPECT_EQ(err, kTimeoutError);
    }
}

TEST(Shape, StatusMapping) {
    nlohmann::json act = {{"activationId", "x"}, {"response", {{"result", {{"a", 1}}}}}};
    EXPECT_EQ(shape_blocking(act, 0, false).http_status, 200);
    EXPECT_EQ(shape_blocking(act, 0, false).body, act);
    EXPECT_EQ(shape_blocking(act, 0, true).body, (nlohmann::json{{"a", 1}}));
    EXPECT_EQ(shape_blocking(act, 1, true).http_status, 502);
    EXPECT_EQ(shape_blocking(act, 2, false).http_status, 502);
    EXPECT_EQ(shape_blocking(act, 3, false).http_status, 500);
}

TEST(Shape, ArrayQuirk) {
    nlohmann::json act = {{"response", {{"result", {1, 2}}}}};
    EXPECT_EQ(shape_blocking(act, 0, false).body, (nlohmann::json{1, 2}));
    EXPECT_EQ(shape_blocking(act, 0, true).body, (nlohmann::json{1, 2}));
}

TEST(Shape, ErrorBody) {
    EXPECT_EQ(error_body("m", "c"), (nlohmann::json{{"error", "m"}, {"code", "c"}}));
}
