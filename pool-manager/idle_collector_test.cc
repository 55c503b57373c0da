// idle_collector_test.cc: which containers the idle policy removes.
#include "pool-manager/idle_collector.h"

#include <gtest/gtest.h>

namespace ow::pm {
namespace {

Container warm(const std::string &id, int64_t started, int64_t last_used, int64_t inflight = 0) {
    Container c;
    c.id = id;
    c.action = "guest/a";
    c.ns = "guest";
    c.state = State::warm;
    c.started_ms = started;
    c.health.known = true;
    c.health.last_used = last_used;
    c.health.inflight = inflight;
    return c;
}

TEST(IdleCollector, TableOfCases) {
    const int64_t now = 1000000;
    const int64_t idle = 600000;
    Pool pool;
    pool.add(warm("old-idle", 0, now - idle));              // exactly at the timeout
    pool.add(warm("recent", 0, now - idle + 1));            // used recently
    pool.add(warm("busy", 0, now - 2 * idle, 1));           // idle long ago but in flight
    pool.add(warm("never-used-old", now - idle - 5, 0));    // start counts as last use
    pool.add(warm("never-used-new", now - 10, 0));
    Container q = warm("queued", 0, 0);
    q.health.queued = 2;
    pool.add(q);
    Container unknown = warm("unknown", 0, 0);
    unknown.health.known = false;                           // never seen: keep
    pool.add(unknown);
    Container failing = warm("failing", 0, 0);
    failing.health.failures = 1;                            // not answering: keep
    pool.add(failing);
    Container stopping = warm("stopping", 0, 0);
    stopping.state = State::stopping;
    pool.add(stopping);
    Container starting = warm("starting", 0, 0);
    starting.state = State::starting;
    pool.add(starting);

    IdleCollector col(idle);
    std::vector<std::string> got = col.collect(pool, now);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::string>{"never-used-old", "old-idle"}));
}

}  // namespace
}  // namespace ow::pm
