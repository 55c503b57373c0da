// collection_policy_test.cc: which containers each policy marks, and in
// which order (table-driven, no clock but the `now` passed in).
#include "pool-manager/collection/collection_policy.h"

#include <gtest/gtest.h>

namespace ow::pm::test {
namespace {

const int64_t kNow = 10000000;
const int64_t kIdle = 600000;

struct Spec {
    const char *id;
    const char *action;
    const char *node;
    int64_t idle_for;        // now - lastUsed
    int64_t inflight = 0;
    State state = State::warm;
    bool marked = false;
    bool health = true;      // a /health answer is known
    int64_t memory = 256;    // MB
};

bool now_idle(const Container &c, int64_t idle_ms) { return is_idle(c, kNow, idle_ms); }

Pool make_pool(const std::vector<Spec> &specs) {
    Pool pool;
    for (const Spec &s : specs) {
        Container c;
        c.id = s.id;
        c.action = s.action;
        c.ns = "guest";
        c.node = s.node;
        c.state = s.state;
        c.memory = s.memory;
        c.started_ms = 0;
        c.marked_ms = s.marked ? kNow - 1 : 0;
        c.health.known = s.health;
        c.health.ready = true;
        c.health.last_used = kNow - s.idle_for;
        c.health.inflight = s.inflight;
        pool.add(c);
    }
    return pool;
}

TEST(IsIdle, Cases) {
    Pool pool = make_pool({{"at-timeout", "guest/a", "", kIdle},
                           {"recent", "guest/a", "", kIdle - 1},
                           {"busy", "guest/a", "", 2 * kIdle, 1},
                           {"starting", "guest/a", "", 2 * kIdle, 0, State::starting},
                           {"stopping", "guest/a", "", 2 * kIdle, 0, State::stopping},
                           {"marked", "guest/a", "", 2 * kIdle, 0, State::warm, true},
                           {"unknown", "guest/a", "", 2 * kIdle, 0, State::warm, false, false}});
    Container *q = pool.find("recent");
    EXPECT_TRUE(is_idle(*pool.find("at-timeout"), kNow, kIdle));
    EXPECT_FALSE(is_idle(*q, kNow, kIdle));
    for (const char *id : {"busy", "starting", "stopping", "marked", "unknown"}) {
        EXPECT_FALSE(is_idle(*pool.find(id), kNow, kIdle)) << id;
    }
    Container c = *pool.find("at-timeout");
    c.health.queued = 1;
    EXPECT_FALSE(is_idle(c, kNow, kIdle)) << "queued work is work";
    c = *pool.find("at-timeout");
    c.health.failures = 1;
    EXPECT_FALSE(is_idle(c, kNow, kIdle)) << "not answering: cannot see it drained";
    c = *pool.find("at-timeout");
    c.health.last_used = 0;
    c.started_ms = kNow - 10;  // never used: its start is its last use
    EXPECT_FALSE(is_idle(c, kNow, kIdle));
}

struct Case {
    const char *name;
    std::vector<Spec> pool;
    std::vector<std::string> idle_timeout;   // IdleTimeoutPolicy's choice, in order
    std::vector<std::string> node_emptying;  // NodeEmptyingPolicy's (min_warm 1)
};

TEST(Policies, TableOfCases) {
    const int64_t old = 2 * kIdle;
    const std::vector<Case> cases = {
        {"nothing idle",
         {{"a1", "guest/a", "n1", 1000}, {"b1", "guest/b", "n1", kIdle - 1}},
         {},
         {}},
        {"all idle, one action on one node: node-emptying keeps one (recently used)",
         {{"a1", "guest/a", "", old}, {"a2", "guest/a", "", old + 5}},
         {"a2", "a1"},
         {"a2"}},
        {"an action not used for longer than --gc-recent keeps nothing",
         {{"a1", "guest/a", "", 4000000}, {"a2", "guest/a", "", 4000000}},
         {"a1", "a2"},
         {"a1", "a2"}},
        {"one busy container of the action: no idle one needs keeping",
         {{"a1", "guest/a", "n1", 10}, {"a2", "guest/a", "n2", old}},
         {"a2"},
         {"a2"}},
        {"keep the one on the node that stays busy; empty the other node",
         {{"a1", "guest/a", "n1", old}, {"a2", "guest/a", "n2", old + 9},
          {"x", "guest/x", "n1", 5}},
         {"a2", "a1"},
         {"a2"}},
        {"recently used actions keep their only container (node-emptying)",
         {{"n1a", "guest/a", "n1", old}, {"n1b", "guest/b", "n1", old + 1},
          {"n2a", "guest/c", "n2", old}, {"n2busy", "guest/d", "n2", 10},
          {"n3a", "guest/e", "n3", old + 5}, {"n3b", "guest/f", "n3", old},
          {"n3busy1", "guest/d", "n3", 10}, {"n3busy2", "guest/d", "n3", 10},
          {"g1", "guest/g", "n4", 10}},
         {"n3a", "n1b", "n1a", "n2a", "n3b"},
         {}},
        {"already marked containers count as leaving their node",
         {{"m1", "guest/a", "n1", old, 0, State::warm, true}, {"n1x", "guest/x", "n1", 4000000},
          {"n2x", "guest/y", "n2", 4000000}, {"n2busy", "guest/z", "n2", 10}},
         {"n1x", "n2x"},
         {"n1x", "n2x"}},
        {"unknown health and in-flight work are never chosen",
         {{"u", "guest/a", "", 4000000, 0, State::warm, false, false},
          {"f", "guest/b", "", 4000000, 3}},
         {},
         {}},
    };
    NodeEmptyingOptions o;
    o.idle_ms = kIdle;
    o.min_warm = 1;
    o.recent_ms = 1800000;
    IdleTimeoutPolicy idle(kIdle);
    NodeEmptyingPolicy emptying(o);
    for (const Case &c : cases) {
        Pool pool = make_pool(c.pool);
        EXPECT_EQ(idle.choose(pool, kNow), c.idle_timeout) << c.name;
        EXPECT_EQ(emptying.choose(pool, kNow), c.node_emptying) << c.name;
    }
}

TEST(NodeEmptying, OrderEmptiesNodesFirst) {
    // Long unused actions (beyond --gc-recent): nothing is kept, so the
    // order alone is under test.
    const int64_t gone = 4000000;
    Pool pool = make_pool({{"n1a", "guest/a", "n1", gone}, {"n1b", "guest/b", "n1", gone + 1},
                           {"n2a", "guest/c", "n2", gone}, {"n2busy", "guest/d", "n2", 10},
                           {"n3a", "guest/e", "n3", gone + 5}, {"n3b", "guest/f", "n3", gone},
                           {"n3busy1", "guest/d", "n3", 10}, {"n3busy2", "guest/d", "n3", 10}});
    NodeEmptyingOptions o;
    o.idle_ms = kIdle;
    NodeEmptyingPolicy p(o);
    // n1 empties (0 left), n2 keeps 1, n3 keeps 2.
    EXPECT_EQ(p.choose(pool, kNow),
              (std::vector<std::string>{"n1b", "n1a", "n2a", "n3a", "n3b"}));
    // OpenWhisk's rule ignores nodes: the longest idle first.
    IdleTimeoutPolicy idle(kIdle);
    EXPECT_EQ(idle.choose(pool, kNow),
              (std::vector<std::string>{"n3a", "n1b", "n1a", "n2a", "n3b"}));
}

TEST(NodeEmptying, MinWarmIsConfigurable) {
    Pool pool = make_pool({{"a1", "guest/a", "", 2 * kIdle}, {"a2", "guest/a", "", 2 * kIdle + 1},
                           {"a3", "guest/a", "", 2 * kIdle + 2}});
    NodeEmptyingOptions o;
    o.idle_ms = kIdle;
    o.min_warm = 2;
    EXPECT_EQ(NodeEmptyingPolicy(o).choose(pool, kNow), (std::vector<std::string>{"a3"}));
    o.min_warm = 0;
    EXPECT_EQ(NodeEmptyingPolicy(o).choose(pool, kNow),
              (std::vector<std::string>{"a3", "a2", "a1"}));
}

// Compaction: on a node node-emptying can empty or nearly empty, idle
// --gc-compact-idle is enough; busier nodes keep their idle containers
// until the idle timeout.
TEST(NodeEmptying, CompactionTable) {
    const int64_t kCompact = 120000;
    const int64_t shortly = 200000;  // idle past compaction, not the timeout
    const int64_t gone = 4000000;    // beyond --gc-recent: nothing kept
    // A busy node: four containers in use, plus one of guest/s in use (so
    // guest/s needs none of its idle ones kept warm).
    // n1 holds 2304 MB: "little memory" is up to 1152 MB.
    const State w = State::warm;
    const std::vector<Spec> busy = {{"x1", "guest/x", "n1", 10, 1, w, false, true, 512},
                                    {"x2", "guest/x", "n1", 10, 1, w, false, true, 512},
                                    {"x3", "guest/x", "n1", 10, 1, w, false, true, 512},
                                    {"x4", "guest/x", "n1", 10, 1, w, false, true, 512},
                                    {"s0", "guest/s", "n1", 10}};
    auto with = [&](std::vector<Spec> more) {
        std::vector<Spec> all = busy;
        all.insert(all.end(), more.begin(), more.end());
        return all;
    };
    const std::vector<Case> cases = {
        {"a node that empties: its short-idle containers go",
         with({{"s1", "guest/s", "n2", shortly}}),
         {},
         {"s1"}},
        {"the busy node keeps its short-idle container until the timeout",
         with({{"s1", "guest/s", "n1", shortly}}),
         {},
         {}},
        {"idle less than the compaction idle: nothing",
         with({{"s1", "guest/s", "n2", kCompact - 1}}),
         {},
         {}},
        {"exactly the compaction idle is enough",
         with({{"s1", "guest/s", "n2", kCompact}}),
         {},
         {"s1"}},
        {"min warm: an action's only container is kept, even on a node that would empty",
         with({{"y1", "guest/y", "n2", shortly}}),
         {},
         {}},
        {"min warm keeps the one on the busy node, the sparse node's one goes",
         with({{"y1", "guest/y", "n1", shortly}, {"y2", "guest/y", "n2", shortly + 1}}),
         {},
         {"y2"}},
        {"nearly empty: one busy container may stay, the longest idle goes first",
         with({{"b", "guest/x", "n2", 10}, {"s1", "guest/s", "n2", shortly},
               {"s2", "guest/s", "n2", shortly + 100000}}),
         {},
         {"s2", "s1"}},
        {"two would stay: not nearly empty, wait for the timeout",
         with({{"b", "guest/x", "n2", 10}, {"c", "guest/x", "n2", 10},
               {"s1", "guest/s", "n2", shortly}}),
         {},
         {}},
        {"a starting container stays like a busy one",
         with({{"st", "guest/z", "n2", 0, 0, State::starting}, {"s1", "guest/s", "n2", shortly}}),
         {},
         {"s1"}},
        {"much memory on the node (over half the fullest): wait for the timeout",
         with({{"s1", "guest/s", "n2", shortly, 0, State::warm, false, true, 2048}}),
         {},
         {}},
        {"already marked ones are leaving: the rest of that node can go",
         with({{"m", "guest/s", "n2", gone, 0, State::warm, true},
               {"m2", "guest/s", "n2", gone, 0, State::warm, true},
               {"s1", "guest/s", "n2", shortly}}),
         {},
         {"s1"}},
        {"unknown health or in-flight work is never chosen early",
         with({{"u", "guest/s", "n2", shortly, 0, State::warm, false, false},
               {"f", "guest/s", "n3", shortly, 2}}),
         {},
         {}},
        {"past the timeout on the busy node as before; the emptying node first",
         with({{"o1", "guest/o", "n1", gone}, {"s1", "guest/s", "n2", shortly}}),
         {"o1"},
         {"s1", "o1"}},
    };
    NodeEmptyingOptions o;
    o.idle_ms = kIdle;
    o.min_warm = 1;
    o.recent_ms = 1800000;
    o.compact_idle_ms = kCompact;
    o.compact_max_left = 1;
    o.compact_max_fill = 0.5;
    IdleTimeoutPolicy idle(kIdle);
    NodeEmptyingPolicy emptying(o);
    NodeEmptyingOptions off = o;
    off.compact_idle_ms = 0;
    NodeEmptyingPolicy timeout_only(off);
    for (const Case &c : cases) {
        Pool pool = make_pool(c.pool);
        EXPECT_EQ(idle.choose(pool, kNow), c.idle_timeout) << c.name;
        EXPECT_EQ(emptying.choose(pool, kNow), c.node_emptying) << c.name;
        // Compaction off: only what is past the idle timeout, as before.
        std::vector<std::string> late;
        for (const std::string &id : c.node_emptying) {
            if (now_idle(*pool.find(id), kIdle)) late.push_back(id);
        }
        EXPECT_EQ(timeout_only.choose(pool, kNow), late) << c.name << " (compaction off)";
    }
}

TEST(NodeEmptying, CompactionIdleAtOrPastTheTimeoutIsOff) {
    Pool pool = make_pool({{"x1", "guest/x", "n1", 10}, {"x2", "guest/x", "n1", 10},
                           {"s0", "guest/s", "n1", 10}, {"s1", "guest/s", "n2", 200000}});
    NodeEmptyingOptions o;
    o.idle_ms = 150000;
    o.compact_idle_ms = 150000;
    EXPECT_EQ(NodeEmptyingPolicy(o).choose(pool, kNow), std::vector<std::string>{"s1"});
    o.idle_ms = 300000;
    o.compact_idle_ms = 300000;
    EXPECT_TRUE(NodeEmptyingPolicy(o).choose(pool, kNow).empty());
}

TEST(MakePolicy, Names) {
    EXPECT_STREQ(make_policy("idle-timeout", {})->name(), "idle-timeout");
    EXPECT_STREQ(make_policy("node-emptying", {})->name(), "node-emptying");
    EXPECT_EQ(make_policy("lru", {}), nullptr);
}

}  // namespace
}  // namespace ow::pm::test
