// pool_test.cc: action names, namespace counts, warm entries and events.
#include "pool-manager/pool.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "pool-manager/placement/resource_allocator.h"

namespace ow::pm::test {
namespace {

TEST(SplitAction, GoodAndBad) {
    std::string ns, path;
    ASSERT_TRUE(split_action("guest/hello", &ns, &path));
    EXPECT_EQ(ns, "guest");
    EXPECT_EQ(path, "hello");
    ASSERT_TRUE(split_action("guest/pkg/hello", &ns, &path));
    EXPECT_EQ(path, "pkg/hello");
    // another namespace's public package: keyed by the invoker
    ASSERT_TRUE(split_action("guest/whisk.system/utils/echo", &ns, &path));
    EXPECT_EQ(ns, "guest");
    EXPECT_EQ(path, "whisk.system/utils/echo");
    for (const char *bad : {"", "guest", "/hello", "guest/", "guest//x", "a/b/c/d/e",
                            "guest/he\nllo"}) {
        EXPECT_FALSE(split_action(bad, &ns, &path)) << bad;
    }
}

TEST(Pool, CountsStartingAndWarmPerNamespace) {
    Pool pool;
    auto add = [&](const char *id, const char *ns, State s) {
        Container c;
        c.id = id;
        c.ns = ns;
        c.action = std::string(ns) + "/a";
        c.state = s;
        pool.add(c);
    };
    add("1", "guest", State::starting);
    add("2", "guest", State::warm);
    add("3", "guest", State::stopping);
    add("4", "other", State::warm);
    EXPECT_EQ(pool.count_namespace("guest"), 2u);
    EXPECT_EQ(pool.count_namespace("other"), 1u);
    EXPECT_EQ(pool.count_namespace("none"), 0u);
    EXPECT_EQ(pool.warm().size(), 2u);
    EXPECT_EQ(pool.of_action("guest/a", State::warm).size(), 1u);
    EXPECT_TRUE(pool.remove("2"));
    EXPECT_FALSE(pool.remove("2"));
    EXPECT_EQ(pool.count_namespace("guest"), 1u);
}

TEST(Pool, WarmEntryAndEventShapes) {
    Container c;
    c.id = "abc";
    c.action = "guest/hello";
    c.addr = "127.0.0.1:4000";
    c.concurrency = 3;
    c.kind = "nodejs:20";
    c.memory = 256;
    c.started_ms = 1700000000000;
    c.pid = 77;
    c.node = "n1";
    c.version = "0.0.3";
    EXPECT_EQ(warm_entry(c), nlohmann::json::parse(
                                 R"({"id":"abc","action":"guest/hello","addr":"127.0.0.1:4000",)"
                                 R"("concurrency":3,"kind":"nodejs:20","memory":256,"node":"n1",)"
                                 R"("started":1700000000000,"pid":77,"version":"0.0.3"})"));
    EXPECT_EQ(warm_event(c, "del"), nlohmann::json::parse(
                                        R"({"op":"del","id":"abc","action":"guest/hello",)"
                                        R"("addr":"127.0.0.1:4000","concurrency":3})"));
}

// The running per-node loads (what the allocator reads instead of
// recounting the pool): each step of a table, then against a recount.
TEST(PoolLoads, AddReplaceStateRemove) {
    Pool pool;
    auto make = [](const char *id, const char *node, int64_t mem, int64_t cpu, int64_t gpu,
                   State s = State::starting) {
        Container c;
        c.id = id;
        c.action = "guest/a";
        c.ns = "guest";
        c.node = node;
        c.memory = mem;
        c.cpu = cpu;
        c.gpu = gpu;
        c.state = s;
        return c;
    };
    struct Step {
        const char *what;
        std::function<void()> run;
        const char *node;
        int64_t mem, cpu, gpu, containers;
    };
    const std::vector<Step> steps = {
        {"add a starting one", [&] { pool.add(make("a", "n1", 256, 125, 0)); }, "n1", 256, 125, 0, 1},
        {"add a second", [&] { pool.add(make("b", "n1", 512, 250, 1)); }, "n1", 768, 375, 1, 2},
        {"starting -> warm holds the same", [&] { pool.set_state("a", State::warm); }, "n1", 768,
         375, 1, 2},
        {"warm -> stopping still holds", [&] { pool.set_state("a", State::stopping); }, "n1", 768,
         375, 1, 2},
        {"gone frees it", [&] { pool.set_state("a", State::gone); }, "n1", 512, 250, 1, 1},
        {"gone -> warm holds again", [&] { pool.set_state("a", State::warm); }, "n1", 768, 375, 1,
         2},
        {"re-add on another node moves it", [&] { pool.add(make("a", "n2", 256, 125, 0)); }, "n1",
         512, 250, 1, 1},
        {"remove", [&] { pool.remove("b"); }, "n1", 0, 0, 0, 0},
        {"remove unknown changes nothing", [&] { EXPECT_FALSE(pool.remove("zz")); }, "n2", 256,
         125, 0, 1},
        {"add a gone one holds nothing", [&] { pool.add(make("g", "n2", 999, 9, 0, State::gone)); },
         "n2", 256, 125, 0, 1},
        {"removing a gone one frees nothing", [&] { pool.remove("g"); }, "n2", 256, 125, 0, 1},
    };
    for (const Step &s : steps) {
        s.run();
        const NodeLoad &l = pool.load(s.node);
        EXPECT_EQ(l.used.mem, s.mem) << s.what;
        EXPECT_EQ(l.used.cpu, s.cpu) << s.what;
        EXPECT_EQ(l.used.gpu, s.gpu) << s.what;
        EXPECT_EQ(l.containers, s.containers) << s.what;
    }
    EXPECT_FALSE(pool.set_state("zz", State::warm));
    // Nodes with nothing left are not listed.
    ASSERT_EQ(pool.loads().size(), 1u);
    EXPECT_EQ(pool.loads().begin()->first, "n2");
}

TEST(PoolLoads, EqualARecountAfterRandomChurn) {
    std::vector<NodeSpec> nodes;
    for (int i = 0; i < 5; i++) nodes.push_back({"n" + std::to_string(i), {8000, 8192, 2}, 0});
    ResourceAllocator alloc(nodes, make_strategy("most-allocated", 0), 500);
    std::mt19937_64 r(42);
    Pool pool;
    const State states[] = {State::starting, State::warm, State::stopping, State::gone};
    for (int step = 0; step < 3000; step++) {
        std::string id = std::to_string(r() % 200);
        switch (r() % 4) {
        case 0:
        case 1: {
            Container c;
            c.id = id;
            c.node = nodes[r() % nodes.size()].name;
            c.memory = 128 << (r() % 4);
            c.cpu = c.memory / 2;
            c.gpu = static_cast<int64_t>(r() % 2);
            c.state = states[r() % 4];
            pool.add(c);
            break;
        }
        case 2: pool.set_state(id, states[r() % 4]); break;
        case 3: pool.remove(id); break;
        }
    }
    std::vector<NodeLoad> want = alloc.tally(pool);
    for (size_t i = 0; i < nodes.size(); i++) {
        const NodeLoad &got = pool.load(nodes[i].name);
        EXPECT_EQ(got.used.mem, want[i].used.mem) << nodes[i].name;
        EXPECT_EQ(got.used.cpu, want[i].used.cpu) << nodes[i].name;
        EXPECT_EQ(got.used.gpu, want[i].used.gpu) << nodes[i].name;
        EXPECT_EQ(got.containers, want[i].containers) << nodes[i].name;
    }
    // And the allocator places from the running loads as from a recount.
    Resources req = alloc.demand(512);
    for (int k = 0; k < 3; k++) {
        int i = alloc.place(want, req);
        EXPECT_EQ(alloc.place(pool, req), i < 0 ? std::string() : nodes[i].name);
    }
}

}  // namespace
}  // namespace ow::pm::test
