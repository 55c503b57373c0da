// demand_test.cc: the start-sizing arithmetic, table-driven.
#include "pool-manager/placement/demand.h"

#include <gtest/gtest.h>

namespace ow::pm::test {
namespace {

TEST(Demand, Table) {
    struct Row {
        const char *what;
        Demand d;
        int64_t want;
    };
    // parked, concurrency, starting, max_starting, room
    const Row rows[] = {
        {"nothing parked", {0, 1, 0, 10, 30}, 0},
        {"one parked", {1, 1, 0, 10, 30}, 1},
        {"follows demand, not requests", {20, 4, 0, 10, 30}, 5},
        {"rounds up", {21, 4, 0, 10, 30}, 6},
        {"minus those starting", {20, 4, 3, 10, 30}, 2},
        {"already enough starting", {8, 4, 2, 10, 30}, 0},
        {"more starting than needed", {1, 1, 3, 10, 30}, 0},
        {"capped per action", {100, 1, 0, 10, 30}, 10},
        {"cap counts those starting", {100, 1, 7, 10, 30}, 3},
        {"capped by the namespace", {100, 1, 0, 10, 4}, 4},
        {"namespace full", {5, 1, 0, 10, 0}, 0},
        {"namespace over its cap", {5, 1, 0, 10, -2}, 0},
        {"cold start probes with one", {20, 1, 0, 1, 30}, 1},
        {"cold start already probing", {20, 1, 1, 1, 30}, 0},
        {"concurrency 0 treated as 1", {3, 0, 0, 10, 30}, 3},
    };
    for (const Row &r : rows) {
        EXPECT_EQ(containers_to_start(r.d), r.want) << r.what;
    }
}

}  // namespace
}  // namespace ow::pm::test
