// resource_allocator_test.cc: placement strategies on fixed node sets,
// table-driven: each row places a sequence of containers and states the
// node every one lands on.
#include "pool-manager/placement/resource_allocator.h"

#include <gtest/gtest.h>

#include <set>

namespace ow::pm::test {
namespace {

NodeSpec node(const char *name, int64_t cpu, int64_t mem, int64_t gpu = 0, int64_t max = 0) {
    NodeSpec n;
    n.name = name;
    n.capacity = {cpu, mem, gpu};
    n.max_containers = max;
    return n;
}

Resources ask(int64_t cpu, int64_t mem, int64_t gpu = 0) { return {cpu, mem, gpu}; }

// Places every request in order, updating the loads as the daemon's tally
// would; returns the node name of each ("-" when nothing had room).
std::vector<std::string> place_all(ResourceAllocator &a, const std::vector<Resources> &reqs) {
    std::vector<NodeLoad> loads(a.nodes().size());
    std::vector<std::string> out;
    for (const Resources &r : reqs) {
        int i = a.place(loads, r);
        if (i < 0) {
            out.push_back("-");
            continue;
        }
        loads[i].used.cpu += r.cpu;
        loads[i].used.mem += r.mem;
        loads[i].used.gpu += r.gpu;
        loads[i].containers++;
        out.push_back(a.nodes()[i].name);
    }
    return out;
}

struct Row {
    const char *what;
    const char *strategy;
    std::vector<NodeSpec> nodes;
    std::vector<Resources> reqs;
    std::vector<std::string> want;
};

TEST(ResourceAllocator, Strategies) {
    const std::vector<NodeSpec> three = {node("a", 4000, 4096), node("b", 4000, 4096),
                                         node("c", 4000, 4096)};
    const Row rows[] = {
        {"packing fills the first node before the next", "most-allocated", three,
         {ask(500, 1024), ask(500, 1024), ask(500, 1024), ask(500, 1024), ask(500, 1024)},
         {"a", "a", "a", "a", "b"}},
        {"spreading uses every node", "least-allocated", three,
         {ask(500, 1024), ask(500, 1024), ask(500, 1024), ask(500, 1024)},
         {"a", "b", "c", "a"}},
        {"packing prefers the fuller node, not the first",
         "most-allocated",
         {node("small", 4000, 1024), node("big", 4000, 8192)},
         {ask(0, 512), ask(0, 512), ask(0, 512)},
         {"small", "small", "big"}},
        {"spreading prefers the emptier node, not the first", "least-allocated",
         {node("small", 4000, 1024), node("big", 4000, 8192)},
         {ask(0, 512), ask(0, 512)},
         {"big", "big"}},
        {"a container goes where it fits, whatever the strategy", "most-allocated",
         {node("a", 4000, 1024), node("b", 4000, 4096)},
         {ask(0, 768), ask(0, 2048), ask(0, 512)},
         {"a", "b", "b"}},
        {"CPU binds as well as memory", "most-allocated",
         {node("a", 1000, 8192), node("b", 8000, 8192)},
         {ask(600, 256), ask(600, 256), ask(600, 256)},
         {"a", "b", "b"}},
        {"GPUs are an extended resource: only GPU nodes take GPU work", "most-allocated",
         {node("cpu", 8000, 8192), node("gpu", 8000, 8192, 2)},
         {ask(100, 256, 1), ask(100, 256, 1), ask(100, 256, 1), ask(100, 256)},
         {"gpu", "gpu", "-", "cpu"}},
        {"GPU nodes take ordinary work only when nothing else has room", "most-allocated",
         {node("gpu", 8000, 1024, 1), node("cpu", 8000, 1024)},
         {ask(100, 1024), ask(100, 512), ask(100, 512, 1), ask(100, 512)},
         {"cpu", "gpu", "gpu", "-"}},
        {"the per-node container cap", "most-allocated",
         {node("a", 8000, 8192, 0, 2), node("b", 8000, 8192, 0, 2)},
         {ask(1, 64), ask(1, 64), ask(1, 64), ask(1, 64), ask(1, 64)},
         {"a", "a", "b", "b", "-"}},
        {"nothing has room", "least-allocated", three,
         {ask(0, 5000), ask(5000, 0)},
         {"-", "-"}},
        {"a node exactly full still takes nothing", "most-allocated",
         {node("a", 1000, 1024)},
         {ask(1000, 1024), ask(0, 1)},
         {"a", "-"}},
    };
    for (const Row &r : rows) {
        ResourceAllocator a(r.nodes, make_strategy(r.strategy, 1));
        EXPECT_EQ(place_all(a, r.reqs), r.want) << r.what;
        EXPECT_STREQ(a.strategy().name(), r.strategy);
    }
}

TEST(ResourceAllocator, RandomIsSeededAndOnlyPicksNodesWithRoom) {
    std::vector<NodeSpec> nodes;
    for (const char *n : {"a", "b", "c", "d", "e", "f", "g", "h"}) {
        nodes.push_back(node(n, 64000, 65536));
    }
    nodes.push_back(node("tiny", 64000, 128));
    std::vector<Resources> reqs(40, ask(100, 256));
    ResourceAllocator r1(nodes, make_strategy("random", 42));
    ResourceAllocator r2(nodes, make_strategy("random", 42));
    ResourceAllocator r3(nodes, make_strategy("random", 43));
    auto p1 = place_all(r1, reqs);
    EXPECT_EQ(p1, place_all(r2, reqs)) << "same seed, same placements";
    EXPECT_NE(p1, place_all(r3, reqs));
    std::set<std::string> used(p1.begin(), p1.end());
    EXPECT_GE(used.size(), 6u) << "spread over most nodes";
    EXPECT_EQ(used.count("tiny"), 0u) << "256 MB never fits in 128";
}

TEST(ResourceAllocator, NodeListReplacedWhenTheClusterChanges) {
    ResourceAllocator a({node("a", 4000, 1024)}, make_strategy("most-allocated", 0));
    Pool pool;
    EXPECT_EQ(a.place(pool, a.demand(2048)), "");  // no node has room
    // a bigger node joins, the small one is cordoned (left out)
    a.set_nodes({node("big", 4000, 8192)});
    EXPECT_EQ(a.place(pool, a.demand(2048)), "big");
    EXPECT_EQ(a.index_of("a"), -1);
    EXPECT_EQ(a.index_of("big"), 0);
}

TEST(ResourceAllocator, UnknownStrategy) {
    EXPECT_EQ(make_strategy("first-fit", 0), nullptr);
}

TEST(ResourceAllocator, DemandReservesCpuInProportionToMemory) {
    ResourceAllocator a({node("a", 1000, 1024)}, make_strategy("most-allocated", 0), 500);
    Resources r = a.demand(2048);
    EXPECT_EQ(r.mem, 2048);
    EXPECT_EQ(r.cpu, 1000);
    EXPECT_EQ(r.gpu, 0);
    ResourceAllocator none({node("a", 1000, 1024)}, make_strategy("most-allocated", 0));
    EXPECT_EQ(none.demand(2048).cpu, 0);
}

TEST(ResourceAllocator, TallyCountsLiveContainersOnKnownNodes) {
    ResourceAllocator a({node("a", 4000, 4096), node("b", 4000, 4096)},
                        make_strategy("most-allocated", 0));
    Pool pool;
    auto add = [&](const char *id, const char *n, State s, int64_t mem) {
        Container c;
        c.id = id;
        c.node = n;
        c.state = s;
        c.memory = mem;
        c.cpu = mem / 4;
        pool.add(c);
    };
    add("1", "a", State::starting, 1024);
    add("2", "a", State::warm, 512);
    add("3", "a", State::stopping, 256);  // draining: still holds memory
    add("4", "b", State::warm, 2048);
    add("5", "gone-node", State::warm, 2048);
    add("6", "", State::warm, 2048);
    auto loads = a.tally(pool);
    ASSERT_EQ(loads.size(), 2u);
    EXPECT_EQ(loads[0].used.mem, 1792);
    EXPECT_EQ(loads[0].used.cpu, 448);
    EXPECT_EQ(loads[0].containers, 3);
    EXPECT_EQ(loads[1].used.mem, 2048);
    EXPECT_EQ(loads[1].containers, 1);
    // 2048 MB fits on both (a has 2304 MB left, b 2048): packing takes the
    // one fuller after placement, b (exactly full).
    EXPECT_EQ(a.place(pool, ask(0, 2048)), "b");
    EXPECT_EQ(a.place(pool, ask(0, 4000)), "");
}

}  // namespace
}  // namespace ow::pm::test
