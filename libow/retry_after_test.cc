#include "libow/retry_after.h"

#include <gtest/gtest.h>

using ow::retry_after_seconds;

TEST(RetryAfter, NoObservationIsOneSecond) {
    EXPECT_EQ(retry_after_seconds(0, 5, 1, 60), 1);
}

TEST(RetryAfter, QueuePositionAndConcurrency) {
    // 400 ms runs, 2 queued, serial: the next would start after 3 runs = 1.2 s
    EXPECT_EQ(retry_after_seconds(400, 2, 1, 60), 2);
    // same with 4 in parallel: 0.3 s → at least 1
    EXPECT_EQ(retry_after_seconds(400, 2, 4, 60), 1);
    // 2.5 s runs, 3 queued, 2 parallel: 2.5 * 4 / 2 = 5 s
    EXPECT_EQ(retry_after_seconds(2500, 3, 2, 60), 5);
    // exactly on a second boundary is not rounded up further
    EXPECT_EQ(retry_after_seconds(1000, 1, 2, 60), 1);
    EXPECT_EQ(retry_after_seconds(1000, 2, 1, 60), 3);
}

TEST(RetryAfter, Capped) {
    EXPECT_EQ(retry_after_seconds(60000, 10, 1, 60), 60);
    EXPECT_EQ(retry_after_seconds(100, 0, 0, 0), 1);
}

TEST(RunTimeEstimator, Ewma) {
    ow::RunTimeEstimator e(0.5);
    EXPECT_FALSE(e.has_value());
    e.observe(100);
    EXPECT_DOUBLE_EQ(e.mean_ms(), 100);
    e.observe(300);
    EXPECT_DOUBLE_EQ(e.mean_ms(), 200);
    e.observe(-5);   // clock oddities count as 0
    EXPECT_DOUBLE_EQ(e.mean_ms(), 100);
}
