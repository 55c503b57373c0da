// stemcell_pool_test.cc: prewarm pools (fill, take, replenish, TTL,
// failures) and cold starts through them (match, mismatch, fallback), with
// the fake backend and clock and a hand-answered specializer.
#include "pool-manager/placement/stemcell_pool.h"

#include <gtest/gtest.h>

#include "pool-manager/placement/capacity.h"
#include "pool-manager/fakes_test.h"
#include "pool-manager/placement/resource_allocator.h"
#include "pool-manager/placement/specialize_client.h"

namespace ow::pm::test {
namespace {

class FakeSpecializer : public Specializer {
public:
    struct Call {
        std::string addr, action;
        int64_t timeout_ms;
        Done done;
    };
    std::vector<Call> calls;
    void specialize(const std::string &addr, const std::string &action, int64_t timeout_ms,
                    Done done) override {
        calls.push_back({addr, action, timeout_ms, std::move(done)});
    }
    void answer(size_t i, Specialized::Kind kind, int status, const std::string &body) {
        Specialized s;
        s.kind = kind;
        s.status = status;
        s.body = body;
        if (kind == Specialized::failed && status == 0) s.error = "connect: refused";
        calls.at(i).done(s);
    }
};

const char kRuntimes[] =
    R"({"nodejs:20":{"command":["/usr/bin/node","proxy.js","--port","{port}"],)"
    R"("family":"nodejs","default":true},)"
    R"("python:3.11":{"command":["/usr/bin/python3","run.py","{port}"],"family":"python"}})";

TEST(ParseStemcells, KindsMemoryAndCounts) {
    Runtimes rt;
    std::string err;
    ASSERT_TRUE(rt.load_text(kRuntimes, &err)) << err;
    std::vector<StemcellSpec> s;
    ASSERT_TRUE(parse_stemcells("nodejs:default:256=2,python:3.11:512=1", rt, &s, &err)) << err;
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].kind, "nodejs:20");
    EXPECT_EQ(s[0].family, "nodejs");
    EXPECT_EQ(s[0].memory, 256);
    EXPECT_EQ(s[0].count, 2);
    EXPECT_EQ(s[0].command.at(0), "/usr/bin/node");
    EXPECT_EQ(s[1].kind, "python:3.11");
    EXPECT_EQ(s[1].memory, 512);
    // one pool for two names of one kind; zero counts are no pool
    ASSERT_TRUE(parse_stemcells("nodejs:20:256=1,nodejs:default:256=1,python:3.11:256=0", rt,
                                &s, &err));
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].count, 2);
    ASSERT_TRUE(parse_stemcells("", rt, &s, &err));
    EXPECT_TRUE(s.empty());
    for (const char *bad : {"nodejs:20", "nodejs:20=1", "nodejs:20:256", "nodejs:20:0=1",
                            "nodejs:20:x=1", "nodejs:20:256=-1", "nodejs:20:256=101",
                            "java:8:256=1", ":256=1"}) {
        EXPECT_FALSE(parse_stemcells(bad, rt, &s, &err)) << bad;
        EXPECT_FALSE(err.empty());
    }
}

TEST(SpecializeClient, StatusMapping) {
    EXPECT_EQ(specialize_kind(200), Specialized::ready);
    EXPECT_EQ(specialize_kind(502), Specialized::init_failed);
    EXPECT_EQ(specialize_kind(409), Specialized::failed);
    EXPECT_EQ(specialize_kind(503), Specialized::failed);
}

class StemcellTest : public ::testing::Test {
protected:
    StemcellTest() {
        std::string err;
        EXPECT_TRUE(runtimes.load_text(kRuntimes, &err));
        EXPECT_TRUE(parse_stemcells("nodejs:20:256=2,python:3.11:256=1", runtimes, &specs,
                                    &err));
        sopts.ttl_ms = 60000;
        sopts.retry_ms = 1000;
        cells = std::make_unique<StemcellPool>(backend, specializer, clock, specs, sopts);
        cells->set_id_source([this] { return "s" + std::to_string(++sids); });
        cells->on_exit([this](const std::string &id, int status) {
            downstream.emplace_back(id, status);
        });
        actions.put("guest/hello", "nodejs:20");          // 256 MB: matches
        actions.put("guest/big", "nodejs:20", 1, 512);    // no 512 MB pool
        actions.put("guest/py", "python:3.11");
        cap = std::make_unique<Capacity>(pool, backend, actions, runtimes, warm, clock,
                                         CapacityOptions{});
        cap->set_id_source([this] { return "c" + std::to_string(++cids); });
        cap->set_stemcells(cells.get());
    }
    // Starts the pools and makes every stemcell ready.
    void fill_all() {
        cells->run();
        ready_pending();
    }
    void ready_pending() {
        std::vector<std::string> ids;
        for (auto &kv : backend.pending) ids.push_back(kv.first);
        for (auto &id : ids) backend.ready(id, "127.0.0.1:" + std::to_string(9000 + ++ports));
    }
    std::pair<int, nlohmann::json> ask(const std::string &action) {
        auto out = std::make_shared<std::pair<int, nlohmann::json>>(0, nullptr);
        cap->request(action, false, [out](int st, const nlohmann::json &b) {
            out->first = st;
            out->second = b;
        });
        last = out;
        return *out;
    }

    FakeClock clock;
    FakeBackend backend;
    FakeSpecializer specializer;
    FakeActions actions;
    FakeWarm warm;
    Runtimes runtimes;
    Pool pool;
    std::vector<StemcellSpec> specs;
    StemcellOptions sopts;
    std::unique_ptr<StemcellPool> cells;
    std::unique_ptr<Capacity> cap;
    std::vector<std::pair<std::string, int>> downstream;
    std::shared_ptr<std::pair<int, nlohmann::json>> last;
    int sids = 0, cids = 0, ports = 0;
};

TEST_F(StemcellTest, FillsEveryPoolWithActionlessContainers) {
    cells->run();
    ASSERT_EQ(backend.started.size(), 3u);
    for (const ContainerSpec &s : backend.started) {
        EXPECT_TRUE(s.action.empty());
        EXPECT_EQ(s.stemcell_ms, sopts.ttl_ms + 60000) << "outlives its TTL only a little";
    }
    EXPECT_EQ(cells->starting("nodejs:20", 256), 2u);
    EXPECT_EQ(cells->starting("python:3.11", 256), 1u);
    ready_pending();
    EXPECT_EQ(cells->ready(), 3u);
    EXPECT_EQ(cells->starting(), 0u);
    EXPECT_TRUE(pool.all().empty()) << "stemcells are not containers";
    EXPECT_TRUE(warm.ops.empty()) << "nor in the warm table";
}

TEST_F(StemcellTest, TakeMatchesKindAndMemoryAndReplenishes) {
    fill_all();
    StemcellPool::Taken t;
    EXPECT_FALSE(cells->take("nodejs:20", 512, &t)) << "memory must match";
    EXPECT_FALSE(cells->take("java:8", 256, &t));
    std::vector<std::string> py = {"/usr/bin/python3", "run.py", "{port}"};
    EXPECT_FALSE(cells->take("", 512, &t, &py)) << "by command: memory must match too";
    ASSERT_TRUE(cells->take("nodejs:20", 256, &t));
    EXPECT_EQ(t.id, "s1") << "the oldest first";
    EXPECT_EQ(t.pid, 4242);
    EXPECT_EQ(cells->ready("nodejs:20", 256), 1u);
    size_t before = backend.started.size();
    clock.advance(0);  // the replacement starts off the request path
    ASSERT_EQ(backend.started.size(), before + 1);
    EXPECT_EQ(backend.started.back().kind, "nodejs:20");
    EXPECT_EQ(backend.started.back().memory, 256);
    ready_pending();
    EXPECT_EQ(cells->ready("nodejs:20", 256), 2u);
    // an empty pool: nothing to take until the refill is ready
    ASSERT_TRUE(cells->take("python:3.11", 256, &t));
    EXPECT_FALSE(cells->take("python:3.11", 256, &t));
}

TEST_F(StemcellTest, UnusedStemcellsAreReplacedAfterTheTtl) {
    fill_all();
    clock.advance(sopts.ttl_ms - 1);
    EXPECT_TRUE(backend.stopped.empty());
    clock.advance(1);
    ASSERT_EQ(backend.stopped.size(), 3u);
    EXPECT_EQ(cells->starting(), 3u) << "each replaced at once";
    // the old ones' exits end here; the manager never hears of them
    for (auto &s : backend.stopped) backend.exit(s.first, 0);
    EXPECT_TRUE(downstream.empty());
    // a taken stemcell has no TTL any more
    ready_pending();
    StemcellPool::Taken t;
    ASSERT_TRUE(cells->take("python:3.11", 256, &t));
    size_t stopped = backend.stopped.size();
    clock.advance(sopts.ttl_ms);
    for (size_t i = stopped; i < backend.stopped.size(); i++)
        EXPECT_NE(backend.stopped[i].first, t.id);
}

TEST_F(StemcellTest, ExitsAreReplacedWithBackoffAndOthersPassThrough) {
    fill_all();
    backend.exit("s1", 137);  // a ready stemcell died
    EXPECT_EQ(cells->ready("nodejs:20", 256), 1u);
    EXPECT_TRUE(downstream.empty());
    size_t n = backend.started.size();
    clock.advance(999);
    EXPECT_EQ(backend.started.size(), n);
    clock.advance(1);
    ASSERT_EQ(backend.started.size(), n + 1);
    // a start that fails backs off, doubling
    StartResult fail;
    fail.error = "fork: out of memory";
    backend.finish(backend.started.back().id, fail);
    clock.advance(1999);
    EXPECT_EQ(backend.started.size(), n + 1);
    clock.advance(1);
    EXPECT_EQ(backend.started.size(), n + 2);
    // a container's exit is the manager's
    backend.exit("c9", 2);
    ASSERT_EQ(downstream.size(), 1u);
    EXPECT_EQ(downstream[0].first, "c9");
}

TEST_F(StemcellTest, ColdStartSpecializesAMatchingStemcell) {
    fill_all();
    size_t starts = backend.started.size();
    ask("guest/hello");
    EXPECT_EQ(last->first, 0) << "waits for /init";
    ASSERT_EQ(specializer.calls.size(), 1u);
    EXPECT_EQ(specializer.calls[0].action, "guest/hello");
    const Container *c = pool.find("s1");
    ASSERT_NE(c, nullptr) << "the stemcell keeps its id as the container's";
    EXPECT_EQ(c->state, State::starting);
    EXPECT_EQ(c->pid, 4242);
    specializer.answer(0, Specialized::ready, 200, R"({"ready":true})");
    EXPECT_EQ(last->first, 200);
    EXPECT_EQ(last->second["containers"][0]["id"], "s1");
    EXPECT_EQ(warm.table.count("s1"), 1u);
    clock.advance(0);
    EXPECT_EQ(backend.started.size(), starts + 1) << "only the replacement started";
    EXPECT_TRUE(backend.started.back().action.empty());
}

TEST_F(StemcellTest, NoMatchOrEmptyPoolStartsFromNothing) {
    fill_all();
    size_t starts = backend.started.size();
    ask("guest/big");  // 512 MB
    EXPECT_TRUE(specializer.calls.empty());
    ASSERT_EQ(backend.started.size(), starts + 1);
    EXPECT_EQ(backend.started.back().action, "guest/big");
    StemcellPool::Taken t;
    ASSERT_TRUE(cells->take("python:3.11", 256, &t));  // empty the python pool
    ask("guest/py");
    EXPECT_TRUE(specializer.calls.empty());
    EXPECT_EQ(backend.started.back().action, "guest/py");
}

TEST_F(StemcellTest, FailedSpecializationStopsItAndFallsBack) {
    fill_all();
    ask("guest/hello");
    size_t starts = backend.started.size();
    specializer.answer(0, Specialized::failed, 0, "");
    ASSERT_FALSE(backend.stopped.empty());
    EXPECT_EQ(backend.stopped.back().first, "s1");
    EXPECT_EQ(pool.find("s1"), nullptr);
    EXPECT_EQ(last->first, 0) << "still waiting, for the fresh start";
    ASSERT_EQ(backend.started.size(), starts + 1);
    EXPECT_EQ(backend.started.back().action, "guest/hello");
    std::string fresh = backend.started.back().id;
    backend.ready(fresh, "127.0.0.1:7000");
    EXPECT_EQ(last->first, 200);
    EXPECT_EQ(last->second["containers"][0]["id"], fresh);
    backend.exit("s1", 143);
    EXPECT_TRUE(downstream.empty());
}

TEST_F(StemcellTest, InitFailureIsTheActionsAnswer) {
    fill_all();
    ask("guest/hello");
    size_t starts = backend.started.size();
    specializer.answer(0, Specialized::init_failed, 502,
                       R"({"error":"Initialization has failed due to: SyntaxError","initTime":3})");
    EXPECT_EQ(last->first, 502);
    EXPECT_EQ(last->second["error"], "Initialization has failed due to: SyntaxError");
    EXPECT_EQ(last->second["init"]["initTime"], 3);
    EXPECT_EQ(backend.started.size(), starts) << "a broken action costs one container";
    EXPECT_EQ(pool.find("s1"), nullptr);
}

TEST_F(StemcellTest, StopAllStopsEveryStemcell) {
    fill_all();
    cells->stop_all();
    EXPECT_EQ(backend.stopped.size(), 3u);
    EXPECT_EQ(cells->ready(), 0u);
    clock.advance(sopts.ttl_ms * 2);
    EXPECT_EQ(backend.started.size(), 3u) << "no refill after shutdown";
}

// Stemcells are placed, hold their room (each is a process on a node), and
// are the first to go when a real action needs it (an unused prewarmed
// runtime is worth less than a start). One node with room for three 256 MB
// containers; the fixture's pools want three stemcells (two nodejs, one
// python).
class PlacedStemcellTest : public StemcellTest {
protected:
    PlacedStemcellTest() {
        std::vector<NodeSpec> nodes(1);
        nodes[0].name = "n1";
        nodes[0].capacity = {4000, 768, 0};
        allocator = std::make_unique<ResourceAllocator>(nodes, std::make_unique<MostAllocated>());
        cells->set_placement(&pool, allocator.get());
        cells->set_on_room_freed([this] {
            freed++;
            cap->room_freed();
        });
        actions.put("guest/other", "nodejs:20", 1, 512);  // no 512 MB pool
        cap = std::make_unique<Capacity>(pool, backend, actions, runtimes, warm, clock,
                                         CapacityOptions{}, allocator.get());
        cap->set_id_source([this] { return "c" + std::to_string(++cids); });
        cap->set_stemcells(cells.get());
    }
    int64_t used() const { return pool.load("n1").used.mem; }

    std::unique_ptr<ResourceAllocator> allocator;
    int freed = 0;
};

TEST_F(PlacedStemcellTest, StemcellsHoldTheirRoomOnTheirNode) {
    fill_all();
    ASSERT_EQ(backend.started.size(), 3u);
    for (const ContainerSpec &s : backend.started) EXPECT_EQ(s.node, "n1");
    EXPECT_EQ(used(), 768) << "three stemcells: the node is full";
    EXPECT_EQ(pool.load("n1").containers, 3);
    EXPECT_TRUE(pool.all().empty()) << "still no containers";
    EXPECT_EQ(allocator->tally(pool)[0].used.mem, 768) << "the tally counts the holds";
    EXPECT_EQ(cells->list()[0]["node"], "n1");
    // taken: the room is the container's now, on the stemcell's node
    ask("guest/hello");
    const Container *c = pool.find("s1");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->node, "n1");
    EXPECT_EQ(used(), 768) << "moved from the hold to the container, not doubled";
    // the replacement finds no room: not started, tried again later
    clock.advance(0);
    EXPECT_EQ(backend.started.size(), 3u);
    EXPECT_EQ(cells->starting(), 0u);
    // a stemcell that dies gives its room back
    backend.exit("s2", 137);
    EXPECT_EQ(used(), 512);
}

TEST_F(PlacedStemcellTest, AColdStartThatFindsNoRoomStopsAStemcellFirst) {
    fill_all();
    ask("guest/other");  // 512 MB: no pool of that size, and no room
    EXPECT_EQ(last->first, 0) << "waits for the room a stemcell frees";
    ASSERT_EQ(backend.stopped.size(), 1u);
    std::string first = backend.stopped[0].first;
    EXPECT_EQ(used(), 768) << "held until it has exited";
    backend.exit(first, 143);
    EXPECT_EQ(freed, 1);
    // 256 MB freed is not 512: the next stemcell goes too
    ASSERT_EQ(backend.stopped.size(), 2u);
    backend.exit(backend.stopped[1].first, 143);
    ASSERT_EQ(backend.started.size(), 4u);
    EXPECT_EQ(backend.started.back().action, "guest/other");
    EXPECT_EQ(backend.started.back().node, "n1");
    backend.ready(backend.started.back().id, "127.0.0.1:7000");
    EXPECT_EQ(last->first, 200);
    EXPECT_EQ(used(), 768);
    EXPECT_EQ(cells->ready(), 1u) << "the third stemcell stays";
    // refills are tried, and find no room while the action holds it
    clock.advance(sopts.retry_ms * 3);
    EXPECT_EQ(backend.started.size(), 4u);
    // room again (the action's container gone): the stemcells come back
    pool.remove(backend.started.back().id);
    clock.advance(30000);
    EXPECT_EQ(backend.started.size(), 6u);
    EXPECT_EQ(used(), 768);
}

}  // namespace
}  // namespace ow::pm::test
