#include "libow/clock.h"

#include <gtest/gtest.h>

TEST(Clock, Rfc3339Nanos) {
    // 2024-01-01T12:00:00Z = 1704110400 s
    EXPECT_EQ(ow::rfc3339_nanos(1704110400LL * 1000000000 + 123456789),
              "2024-01-01T12:00:00.123456789Z");
    EXPECT_EQ(ow::rfc3339_nanos(1704110400LL * 1000000000),
              "2024-01-01T12:00:00.000000000Z");
}
