// health_poller_test.cc: the sidecar's /health body.
#include "pool-manager/health_poller.h"

#include <gtest/gtest.h>

namespace ow::pm::test {
namespace {

TEST(ParseHealth, SidecarShape) {
    Health h;
    ASSERT_TRUE(parse_health(
        R"({"ready":true,"inflight":2,"queued":1,"lastUsed":1700000000123,"activations":9})", &h));
    EXPECT_TRUE(h.known);
    EXPECT_TRUE(h.ready);
    EXPECT_EQ(h.inflight, 2);
    EXPECT_EQ(h.queued, 1);
    EXPECT_EQ(h.last_used, 1700000000123);
    EXPECT_EQ(h.activations, 9);
}

TEST(ParseHealth, Rejects) {
    Health h;
    EXPECT_FALSE(parse_health("", &h));
    EXPECT_FALSE(parse_health("[1]", &h));
    EXPECT_FALSE(h.known);
    ASSERT_TRUE(parse_health("{}", &h));  // missing fields read as 0 / false
    EXPECT_FALSE(h.ready);
}

}  // namespace
}  // namespace ow::pm::test
