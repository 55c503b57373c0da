// manager_test.cc: exits, health polling and adoption, with
// a fake backend, fake probes and a fake clock.
#include "pool-manager/manager.h"

#include <gtest/gtest.h>

#include "pool-manager/fakes_test.h"

namespace ow::pm::test {
namespace {

class ManagerTest : public ::testing::Test {
protected:
    ManagerTest()
        : mgr(pool, backend, warm, clock,
              [this](const std::string &addr, Manager::ProbeDone d) {
                  probes.push_back(addr);
                  auto it = health.find(addr);
                  if (it == health.end()) return d(false, Health{});
                  d(true, it->second);
              },
              opts()) {}
    static ManagerOptions opts() {
        ManagerOptions o;
        o.health_interval_ms = 2000;
        o.stop_grace_ms = 5000;
        return o;
    }
    Container &add_warm(const std::string &id, const std::string &addr, bool adopted = false) {
        Container c;
        c.id = id;
        c.action = "guest/a";
        c.ns = "guest";
        c.addr = addr;
        c.state = State::warm;
        c.started_ms = clock.now;
        c.adopted = adopted;
        warm.table[id] = c;
        return pool.add(c);
    }
    Health idle_since(int64_t t) {
        Health h;
        h.known = true;
        h.ready = true;
        h.last_used = t;
        return h;
    }

    FakeClock clock;
    FakeBackend backend;
    FakeWarm warm;
    Pool pool;
    std::map<std::string, Health> health;
    std::vector<std::string> probes;
    Manager mgr;
};

TEST_F(ManagerTest, ExitRemovesFromPoolAndWarmTable) {
    add_warm("c1", "127.0.0.1:1");
    add_warm("c2", "127.0.0.1:2");
    for (int status : {2}) backend.exit("c1", status);
    EXPECT_EQ(pool.find("c1"), nullptr);
    EXPECT_EQ(warm.table.count("c1"), 0u);
    EXPECT_EQ(warm.ops.back(), std::make_pair(std::string("del"), std::string("c1")));
    EXPECT_NE(pool.find("c2"), nullptr);
    backend.exit("unknown", 1);  // ignored
    EXPECT_EQ(warm.ops.size(), 1u);
}

TEST_F(ManagerTest, ExitWhileStartingIsLeftToTheStart) {
    Container c;
    c.id = "s1";
    c.action = "guest/a";
    c.state = State::starting;
    pool.add(c);
    backend.exit("s1", 3);
    EXPECT_NE(pool.find("s1"), nullptr);
    EXPECT_TRUE(warm.ops.empty());
}

// Idle removal is the garbage collector's (garbage_collector_test.cc).

TEST_F(ManagerTest, SilentAdoptedContainerIsDropped) {
    add_warm("own", "127.0.0.1:1");
    add_warm("adopted", "127.0.0.1:2", true);
    mgr.run();
    clock.advance(4000);
    EXPECT_NE(pool.find("adopted"), nullptr);
    clock.advance(2000);  // third failed poll
    EXPECT_EQ(pool.find("adopted"), nullptr);
    EXPECT_EQ(warm.table.count("adopted"), 0u);
    ASSERT_FALSE(backend.stopped.empty());
    EXPECT_EQ(backend.stopped.back(), std::make_pair(std::string("adopted"), int64_t(0)));
    // Our own children are reaped through SIGCHLD, not dropped for silence.
    EXPECT_NE(pool.find("own"), nullptr);
}

TEST_F(ManagerTest, AdoptKeepsLiveEntriesOnly) {
    health["127.0.0.1:7001"] = idle_since(clock.now);
    std::vector<std::string> entries = {
        R"({"id":"live","action":"guest/a","addr":"127.0.0.1:7001","concurrency":2,)"
        R"("kind":"nodejs:20","memory":128,"started":5,"pid":123})",
        R"({"id":"dead","action":"guest/b","addr":"127.0.0.1:7002","concurrency":1,"pid":124})",
        R"(not json)",
        R"({"id":"noaddr","action":"guest/c"})",
    };
    size_t kept = 99;
    mgr.adopt(entries, [&](size_t k) { kept = k; });
    EXPECT_EQ(kept, 1u);
    const Container *c = pool.find("live");
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(c->adopted);
    EXPECT_EQ(c->state, State::warm);
    EXPECT_EQ(c->ns, "guest");
    EXPECT_EQ(c->concurrency, 2);
    EXPECT_EQ(c->memory, 128);
    EXPECT_EQ(backend.adopted.at("live"), 123);
    EXPECT_EQ(pool.size(), 1u);
}

TEST_F(ManagerTest, AdoptWithNoEntries) {
    bool called = false;
    mgr.adopt({}, [&](size_t k) {
        called = true;
        EXPECT_EQ(k, 0u);
    });
    EXPECT_TRUE(called);
}

TEST_F(ManagerTest, AdoptRefusedByBackend) {
    health["127.0.0.1:7001"] = idle_since(clock.now);
    backend.adopt_ok = false;  // e.g. the pid now belongs to another process
    size_t kept = 99;
    mgr.adopt({R"({"id":"x","action":"guest/a","addr":"127.0.0.1:7001","pid":5})"},
              [&](size_t k) { kept = k; });
    EXPECT_EQ(kept, 0u);
    EXPECT_EQ(pool.size(), 0u);
}

}  // namespace
}  // namespace ow::pm::test
