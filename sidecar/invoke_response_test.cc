#include "sidecar/invoke_response.h"

#include <gtest/gtest.h>

using namespace ow::sidecar;

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
    // the last of a repeated key wins; a bad timeout anywhere is a 400
    InvokeQuery r;
    ASSERT_TRUE(parse_invoke_query("blocking=true&blocking=false&result=%74rue", &r, &err));
    EXPECT_FALSE(r.blocking);
    EXPECT_TRUE(r.result);
    for (const char *bad : {"timeout=0", "timeout=60001", "timeout=abc", "timeout=", "timeout=-1",
                            "timeout=5&timeout=x"}) {
        InvokeQuery b;
        EXPECT_FALSE(parse_invoke_query(bad, &b, &err)) << bad;
        EXPECT_EQ(err, kTimeoutError);
    }
}

TEST(Shape, StatusMapping) {
    EXPECT_EQ(blocking_http_status(0), 200);
    EXPECT_EQ(blocking_http_status(1), 502);
    EXPECT_EQ(blocking_http_status(2), 502);
    EXPECT_EQ(blocking_http_status(3), 500);
}

TEST(Shape, ErrorBody) {
    EXPECT_EQ(error_body("m", "c"), (nlohmann::json{{"error", "m"}, {"code", "c"}}));
}
