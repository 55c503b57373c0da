// compactor_test.cc: which nodes the compactor empties, when it asks for a
// replacement, when it marks, and the allocator's soft cordon.
#include "pool-manager/collection/compactor.h"

#include <gtest/gtest.h>

#include <utility>

namespace ow::pm::test {
namespace {

const int64_t kNow = 1800000000000;
const int64_t kCompactIdle = 120000;

// Three nodes of 1000 MB (no CPU reserved: fill is memory).
std::vector<NodeSpec> three_nodes() {
    std::vector<NodeSpec> v;
    for (const char *n : {"a", "b", "c"}) {
        NodeSpec s;
        s.name = n;
        s.capacity = {0, 1000, 0};
        v.push_back(s);
    }
    return v;
}

struct Fixture {
    explicit Fixture(CompactorOptions o = options())
        : alloc(three_nodes(), make_strategy("most-allocated", 1)),
          compactor(pool, alloc, o, [this](const std::string &action, int64_t n) {
              asks.emplace_back(action, n);
          }) {}
    static CompactorOptions options() {
        CompactorOptions o;
        o.max_fill = 0.3;
        o.max_nodes = 1;
        o.max_starts = 8;
        o.start_timeout_ms = 60000;
        o.drain_ms = 600000;
        o.compact_idle_ms = kCompactIdle;
        return o;
    }
    // A warm container used `idle_ms` ago (0: in use now).
    Container &add(const std::string &id, const std::string &node, int64_t mem,
                   const std::string &action, int64_t idle_ms = 0, int64_t started = 0) {
        Container c;
        c.id = id;
        c.action = action;
        c.ns = "guest";
        c.node = node;
        c.memory = mem;
        c.state = State::warm;
        c.started_ms = started ? started : kNow - 3600000;
        c.health.known = c.health.ready = true;
        c.health.inflight = idle_ms == 0 ? 1 : 0;
        c.health.last_used = kNow - idle_ms;
        c.health.checked_ms = kNow;
        return pool.add(c);
    }
    std::vector<CompactorMark> pass(int64_t now = kNow) { return compactor.pass(now); }

    Pool pool;
    ResourceAllocator alloc;
    std::vector<std::pair<std::string, int64_t>> asks;
    Compactor compactor;
};

using Asks = std::vector<std::pair<std::string, int64_t>>;

TEST(Compactor, EmptiesASparseNodeWhoseContainersFitElsewhere) {
    Fixture f;
    f.add("big", "a", 600, "guest/big");
    f.add("x", "b", 200, "guest/x");  // b is 20 % full, x fits on a
    EXPECT_TRUE(f.pass().empty());    // nothing warm elsewhere yet: ask first
    ASSERT_EQ(f.compactor.draining().count("b"), 1u);
    EXPECT_EQ(f.asks, (Asks{{"guest/x", 1}}));
    EXPECT_EQ(f.pool.find("x")->relocate_ms, kNow);

    // the replacement is warm on a: x is marked as a relocation, once
    f.add("x2", "a", 200, "guest/x", 0, kNow + 500);
    std::vector<CompactorMark> m = f.pass(kNow + 1000);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].id, "x");
    EXPECT_TRUE(m[0].relocation);
    EXPECT_EQ(f.asks.size(), 1u);  // asked once
}

TEST(Compactor, NeverOpensAnEmptyNodeToEmptyAnother) {
    Fixture f;
    f.add("big", "a", 900, "guest/big");
    f.add("x", "b", 200, "guest/x");  // sparse, but only the empty c has room
    EXPECT_TRUE(f.pass().empty());
    EXPECT_TRUE(f.compactor.draining().empty());
    EXPECT_TRUE(f.asks.empty());
}

TEST(Compactor, NodesFullerThanMaxFillStay) {
    Fixture f;
    f.add("x", "a", 400, "guest/x");  // 40 % > 30 %
    f.add("y", "b", 350, "guest/y");
    EXPECT_TRUE(f.pass().empty());
    EXPECT_TRUE(f.compactor.draining().empty());
}

TEST(Compactor, IdleContainerWithASpareElsewhereIsMarkedWithoutReplacement) {
    Fixture f;
    f.add("big", "a", 500, "guest/big");
    f.add("x1", "a", 100, "guest/x", kCompactIdle);   // the action's spare
    f.add("x2", "b", 100, "guest/x", kCompactIdle);   // idle long enough
    std::vector<CompactorMark> m = f.pass();
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].id, "x2");
    EXPECT_FALSE(m[0].relocation);
    EXPECT_TRUE(f.asks.empty());
}

TEST(Compactor, IdleContainerWhoseActionIsBusyElsewhereIsReplaced) {
    Fixture f;
    f.add("x1", "a", 600, "guest/x");                 // busy: no spare
    f.add("x2", "b", 100, "guest/x", kCompactIdle);
    EXPECT_TRUE(f.pass().empty());
    EXPECT_EQ(f.asks, (Asks{{"guest/x", 1}}));
}

TEST(Compactor, FullerNodesAreEmptiedOnlyWhileTheExcessLasts) {
    // Five nodes of 1000 MB, 30-50 % used: none under max_fill (10 % here),
    // but two nodes' worth of containers on five (excess 3) → one emptied,
    // the cheapest (fewest busy containers, then least used), and no more:
    // that brings the excess down to excess_stop (2).
    std::vector<NodeSpec> nodes;
    for (const char *n : {"a", "b", "c", "d", "e"}) {
        NodeSpec s;
        s.name = n;
        s.capacity = {0, 1000, 0};
        nodes.push_back(s);
    }
    Pool pool;
    ResourceAllocator alloc(nodes, make_strategy("most-allocated", 1));
    std::vector<std::pair<std::string, int64_t>> asks;
    CompactorOptions o = Fixture::options();
    o.max_nodes = 4;
    o.max_fill = 0.1;
    Compactor comp(pool, alloc, o, [&](const std::string &a, int64_t n) { asks.emplace_back(a, n); });
    auto add = [&](const std::string &id, const std::string &node, int64_t mem, bool busy) {
        Container c;
        c.id = id;
        c.action = "guest/" + id;
        c.ns = "guest";
        c.node = node;
        c.memory = mem;
        c.state = State::warm;
        c.started_ms = kNow - 3600000;
        c.health.known = c.health.ready = true;
        c.health.inflight = busy ? 1 : 0;
        c.health.last_used = busy ? kNow : kNow - 60000;
        c.health.checked_ms = kNow;
        pool.add(c);
    };
    add("a1", "a", 250, true);
    add("a2", "a", 250, true);
    add("b1", "b", 350, true);
    add("c1", "c", 300, true);
    add("d1", "d", 350, true);
    add("e1", "e", 200, false);  // used a minute ago: still needs a replacement
    add("e2", "e", 100, true);
    EXPECT_EQ(nodes_needed(nodes, pool), 2);
    comp.pass(kNow);
    // b, c, d have one busy container each (e two); c is the least used
    ASSERT_EQ(comp.draining().size(), 1u);
    EXPECT_EQ(comp.draining().count("c"), 1u);

    // without the excess, nodes over max_fill stay
    o.excess_start = 4;
    Compactor calm(pool, alloc, o, [](const std::string &, int64_t) {});
    calm.pass(kNow);
    EXPECT_TRUE(calm.draining().empty());
}

TEST(NodesNeeded, BiggestNodesFirstPerResource) {
    std::vector<NodeSpec> nodes(3);
    nodes[0].name = "small";
    nodes[0].capacity = {1000, 1000, 0};
    nodes[1].name = "big";
    nodes[1].capacity = {1000, 4000, 0};
    nodes[2].name = "gpu";
    nodes[2].capacity = {1000, 1000, 1};
    Pool pool;
    EXPECT_EQ(nodes_needed(nodes, pool), 0);
    Container c;
    c.id = "x";
    c.node = "small";
    c.memory = 900;
    c.cpu = 100;
    c.state = State::warm;
    pool.add(c);
    EXPECT_EQ(nodes_needed(nodes, pool), 1);  // fits on "big"
    c.id = "y";
    c.memory = 3500;
    c.node = "big";
    pool.add(c);
    EXPECT_EQ(nodes_needed(nodes, pool), 2);  // 4400 MB: big + one more
    c.id = "z";
    c.memory = 10;
    c.gpu = 1;
    c.node = "gpu";
    pool.add(c);
    EXPECT_EQ(nodes_needed(nodes, pool), 2);
    c.id = "w";
    c.cpu = 2900;  // 3100 m CPU: three nodes
    c.gpu = 0;
    pool.add(c);
    EXPECT_EQ(nodes_needed(nodes, pool), 3);
}

TEST(Compactor, TheOnlyContainerOfARecentlyUsedActionIsReplacedFirst) {
    Fixture f;
    f.add("big", "a", 600, "guest/big");
    f.add("x", "b", 100, "guest/x", kCompactIdle);  // idle, but the action's only one
    EXPECT_TRUE(f.pass().empty());
    EXPECT_EQ(f.asks, (Asks{{"guest/x", 1}}));
}

TEST(Compactor, ReplacementsAskedAtOnceAreBoundedAndAskedAgainAfterTheTimeout) {
    CompactorOptions o = Fixture::options();
    o.max_starts = 2;
    Fixture f(o);
    f.add("big", "a", 700, "guest/big");
    f.add("x", "b", 50, "guest/x");
    f.add("y", "b", 50, "guest/y");
    f.add("z", "b", 50, "guest/z");
    f.pass();
    EXPECT_EQ(f.asks.size(), 2u);
    f.pass(kNow + 1000);  // two pending: no third yet
    EXPECT_EQ(f.asks.size(), 2u);
    // none became warm in time: all three may be asked for again, two at once
    f.asks.clear();
    f.pass(kNow + o.start_timeout_ms);
    EXPECT_EQ(f.asks.size(), 2u);
}

TEST(Compactor, AReplacementServesOneContainerOnly) {
    Fixture f;
    f.add("big", "a", 500, "guest/big");
    f.add("x1", "b", 100, "guest/x");
    f.add("x2", "b", 100, "guest/x");
    f.pass();
    EXPECT_EQ(f.asks, (Asks{{"guest/x", 2}}));  // one ask for both
    f.add("r1", "a", 100, "guest/x", 0, kNow + 10);
    std::vector<CompactorMark> m = f.pass(kNow + 1000);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_TRUE(m[0].relocation);
    // the marked one is left to the collector; the other waits for its own
    f.pool.find(m[0].id)->marked_ms = kNow + 1000;
    EXPECT_TRUE(f.pass(kNow + 2000).empty());
    f.add("r2", "a", 100, "guest/x", 0, kNow + 1500);
    EXPECT_EQ(f.pass(kNow + 3000).size(), 1u);
}

TEST(Compactor, AnEmptiedNodeIsDoneAndAGivenUpOneRestsAWhile) {
    Fixture f;
    f.add("big", "a", 600, "guest/big");
    f.add("x", "b", 100, "guest/x");
    f.pass();
    ASSERT_EQ(f.compactor.draining().count("b"), 1u);
    f.pool.remove("x");
    f.pass(kNow + 1000);
    EXPECT_TRUE(f.compactor.draining().empty());
    EXPECT_EQ(f.compactor.nodes_emptied(), 1);

    // demand keeps b busy: given up after drain_ms, not tried again for as long
    f.add("y", "b", 100, "guest/y");
    f.pass(kNow + 2000);
    ASSERT_EQ(f.compactor.draining().count("b"), 1u);
    int64_t t = kNow + 2000 + Fixture::options().drain_ms;
    f.pass(t);
    EXPECT_TRUE(f.compactor.draining().empty());
    f.pass(t + 1000);
    EXPECT_TRUE(f.compactor.draining().empty());
    f.pass(t + Fixture::options().drain_ms);
    EXPECT_EQ(f.compactor.draining().count("b"), 1u);
}

TEST(Compactor, ANodeWithOnlyStoppingContainersIsLeftToEmptyByItself) {
    Fixture f;
    f.add("x", "a", 100, "guest/x").state = State::stopping;
    f.pool.add(Container(*f.pool.find("x")));
    EXPECT_TRUE(f.pass().empty());
    EXPECT_TRUE(f.compactor.draining().empty());
}

TEST(Compactor, ANewContainerOnTheNodeEndsItsEmptying) {
    Fixture f;
    f.add("big", "a", 600, "guest/big");
    f.add("x", "b", 100, "guest/x");
    f.pass();
    ASSERT_EQ(f.compactor.draining().count("b"), 1u);
    // the allocator had no other room: demand is back, b stays
    f.add("y", "b", 100, "guest/y", 0, kNow + 500);
    f.pass(kNow + 1000);
    EXPECT_TRUE(f.compactor.draining().empty());
    EXPECT_EQ(f.alloc.place(f.pool, Resources{0, 500, 0}), "b");  // not avoided
}

TEST(Compactor, OffWithoutMaxFill) {
    CompactorOptions o = Fixture::options();
    o.max_fill = 0;
    Fixture f(o);
    f.add("big", "a", 600, "guest/big");
    f.add("x", "b", 100, "guest/x");
    EXPECT_TRUE(f.pass().empty());
    EXPECT_TRUE(f.compactor.draining().empty());
    EXPECT_TRUE(f.asks.empty());
}

TEST(ResourceAllocator, AvoidedNodesAreTheLastResort) {
    Fixture f;
    f.add("big", "a", 950, "guest/big");
    f.add("x", "b", 100, "guest/x");
    Resources req{0, 100, 0};
    // most-allocated would take b (fuller than the empty c)
    EXPECT_EQ(f.alloc.place(f.pool, req), "b");
    f.alloc.set_avoided({"b"});
    EXPECT_EQ(f.alloc.place(f.pool, req), "c");
    f.add("fill", "c", 950, "guest/fill");
    EXPECT_EQ(f.alloc.place(f.pool, req), "b");  // no other room: still placed
    f.alloc.set_nodes(three_nodes());            // kept across a node update
    f.pool.remove("fill");
    EXPECT_EQ(f.alloc.place(f.pool, req), "c");
}

}  // namespace
}  // namespace ow::pm::test
