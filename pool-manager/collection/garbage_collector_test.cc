// garbage_collector_test.cc: mark, grace, sweep, unmark, with a fake table,
// a fake backend and a fake clock; both policies.
#include "pool-manager/collection/garbage_collector.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "pool-manager/collection/compactor.h"
#include "pool-manager/fakes_test.h"
#include "pool-manager/manager.h"

namespace ow::pm::test {
namespace {

// The table as the collector sees it; every step goes into one log shared
// with the backend, so tests can check unroute-before-stop.
class FakeMarks : public MarkSink {
public:
    explicit FakeMarks(std::vector<std::string> &log) : log_(log) {}
    std::map<std::string, bool> table;     // id → marked
    std::set<std::string> requests;        // gateways' unmark requests
    std::set<std::string> late_requests;   // land between take and sweep
    bool fail = false;

    bool mark(const Container &c) override {
        if (fail) return false;
        log_.push_back("mark " + c.id);
        table[c.id] = true;
        return true;
    }
    bool unmark(const Container &c) override {
        log_.push_back("unmark " + c.id);
        table[c.id] = false;
        return !fail;
    }
    Sweep sweep(const Container &c) override {
        if (fail) return Sweep::failed;
        if (requests.count(c.id) || late_requests.count(c.id)) return Sweep::unmark_requested;
        auto it = table.find(c.id);
        if (it != table.end() && !it->second) return Sweep::not_marked;
        log_.push_back("del " + c.id);
        table.erase(c.id);
        return Sweep::swept;
    }
    bool take_unmarks(std::vector<std::string> *ids) override {
        if (fail) return false;
        ids->assign(requests.begin(), requests.end());
        requests.clear();
        return true;
    }

private:
    std::vector<std::string> &log_;
};

class LoggingBackend : public FakeBackend {
public:
    explicit LoggingBackend(std::vector<std::string> &log) : log_(log) {}
    void stop(const std::string &id, int64_t grace_ms) override {
        log_.push_back("stop " + id);
        FakeBackend::stop(id, grace_ms);
    }

private:
    std::vector<std::string> &log_;
};

const int64_t kIdle = 60000;
const int64_t kGrace = 10000;
const int64_t kPass = 1000;

struct Fixture {
    explicit Fixture(const std::string &policy_name, int64_t min_warm = 0,
                     int64_t compact_idle_ms = 0)
        : marks(log), backend(log),
          policy(make_policy(policy_name, {kIdle, min_warm, 1800000, compact_idle_ms})),
          gc(pool, marks, backend, clock, *policy, opts(), [this] { return leader; }) {}
    static GcOptions opts() {
        GcOptions o;
        o.interval_ms = kPass;
        o.grace_ms = kGrace;
        o.stop_grace_ms = 5000;
        return o;
    }
    Container &add(const std::string &id, const std::string &node = "",
                   const std::string &action = "guest/a") {
        Container c;
        c.id = id;
        c.action = action;
        c.ns = "guest";
        c.node = node;
        c.addr = "127.0.0.1:1";
        c.state = State::warm;
        c.started_ms = clock.now - 2 * kIdle;
        c.health.known = true;
        c.health.ready = true;
        c.health.last_used = clock.now - 2 * kIdle;
        c.health.checked_ms = clock.now;
        marks.table[id] = false;
        return pool.add(c);
    }
    // The sidecar's answer to a poll now.
    void report(const std::string &id, int64_t inflight, int64_t last_used) {
        Container *c = pool.find(id);
        c->health.inflight = inflight;
        c->health.last_used = last_used;
        c->health.checked_ms = clock.now;
    }
    void report_idle() {
        for (const auto &kv : pool.all()) {
            if (kv.second.state == State::warm) report(kv.first, 0, kv.second.health.last_used);
        }
    }
    // Passes up to `ms` from now, a fresh idle /health answer before each.
    void run_for(int64_t ms) {
        for (int64_t t = 0; t < ms; t += kPass) {
            clock.advance(kPass);
            report_idle();
            gc.pass();
        }
    }
    State state(const std::string &id) { return pool.find(id)->state; }

    std::vector<std::string> log;
    FakeClock clock;
    Pool pool;
    FakeMarks marks;
    LoggingBackend backend;
    bool leader = true;
    std::unique_ptr<CollectionPolicy> policy;
    GarbageCollector gc;
};

class BothPolicies : public ::testing::TestWithParam<const char *> {};

TEST_P(BothPolicies, MarkThenSweepAfterGraceOnly) {
    Fixture f(GetParam());
    f.add("c1");
    f.gc.pass();
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark c1"}));
    EXPECT_EQ(f.pool.find("c1")->marked_ms, f.clock.now);
    EXPECT_TRUE(f.marks.table.at("c1"));
    EXPECT_EQ(describe(*f.pool.find("c1"))["state"], "marked");

    f.run_for(kGrace - kPass);  // grace not yet over
    EXPECT_EQ(f.log.size(), 1u);
    EXPECT_EQ(f.state("c1"), State::warm);

    f.run_for(kPass);
    // unrouted (table del, published) before it is told to drain
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark c1", "del c1", "stop c1"}));
    EXPECT_EQ(f.state("c1"), State::stopping);
    EXPECT_EQ(f.backend.stopped.back(), std::make_pair(std::string("c1"), int64_t(5000)));
    f.run_for(5 * kPass);  // nothing twice
    EXPECT_EQ(f.log.size(), 3u);
}

// At the end of the grace period, what the sidecar says decides.
struct GraceCase {
    const char *name;
    bool health_known;
    int failures;
    int64_t inflight;
    int64_t queued;
    int64_t used_after_mark;  // ms after the mark, or -1: not used
    bool fresh;               // answered after the mark
    const char *want;         // "swept", "unmarked", "marked"
};

TEST_P(BothPolicies, GraceOutcomes) {
    const std::vector<GraceCase> cases = {
        {"idle and drained", true, 0, 0, 0, -1, true, "swept"},
        {"in flight", true, 0, 1, 0, -1, true, "unmarked"},
        {"queued", true, 0, 0, 2, -1, true, "unmarked"},
        {"used since marked, now idle", true, 0, 0, 0, 500, true, "unmarked"},
        {"used at the very mark", true, 0, 0, 0, 0, true, "unmarked"},
        {"no answer since the mark", true, 0, 0, 0, -1, false, "marked"},
        {"not answering", true, 2, 0, 0, -1, true, "marked"},
    };
    for (const GraceCase &k : cases) {
        Fixture f(GetParam());
        f.add("c1");
        f.gc.pass();
        ASSERT_EQ(f.log, (std::vector<std::string>{"mark c1"})) << k.name;
        int64_t marked = f.clock.now;
        f.clock.advance(kGrace);
        Container *c = f.pool.find("c1");
        c->health.known = k.health_known;
        c->health.failures = k.failures;
        c->health.inflight = k.inflight;
        c->health.queued = k.queued;
        if (k.used_after_mark >= 0) c->health.last_used = marked + k.used_after_mark;
        c->health.checked_ms = k.fresh ? f.clock.now : marked - 1;
        f.gc.pass();
        std::string got = f.state("c1") == State::stopping ? "swept"
                          : c->marked_ms != 0              ? "marked"
                                                           : "unmarked";
        EXPECT_EQ(got, k.want) << k.name;
        EXPECT_EQ(f.backend.stopped.empty(), got != "swept") << k.name;
        if (got == "unmarked") {
            EXPECT_EQ(f.log.back(), "unmark c1") << k.name;
            EXPECT_FALSE(f.marks.table.at("c1")) << k.name;
        }
    }
}

TEST_P(BothPolicies, GatewayUnmarkCancelsTheSweep) {
    Fixture f(GetParam());
    f.add("c1");
    f.gc.pass();
    f.marks.requests.insert("c1");  // a gateway used it as the last resort
    f.clock.advance(kPass);
    f.gc.pass();
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark c1", "unmark c1"}));
    EXPECT_EQ(f.pool.find("c1")->marked_ms, 0);
    EXPECT_TRUE(f.marks.requests.empty()) << "requests are consumed";
    // the gateway's use counts as a use: idle again only after the timeout
    f.run_for(kIdle - kPass);
    EXPECT_EQ(f.log.size(), 2u);
    f.run_for(kPass);
    EXPECT_EQ(f.log.back(), "mark c1");
}

TEST_P(BothPolicies, UnmarkRequestLandingBeforeTheSweepWins) {
    Fixture f(GetParam());
    f.add("c1");
    f.gc.pass();
    f.run_for(kGrace - kPass);
    f.marks.late_requests.insert("c1");  // after take_unmarks, before the script
    f.run_for(kPass);
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark c1", "unmark c1"}));
    EXPECT_TRUE(f.backend.stopped.empty());
}

TEST_P(BothPolicies, NoPassesWhenNotLeader) {
    Fixture f(GetParam());
    f.add("c1");
    f.leader = false;
    f.run_for(kGrace * 3);
    EXPECT_TRUE(f.log.empty());
    f.leader = true;
    f.run_for(kPass);
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark c1"}));
}

TEST_P(BothPolicies, UnpublishedMarkIsNotAMark) {
    Fixture f(GetParam());
    f.add("c1");
    f.marks.fail = true;  // Redis away
    f.gc.pass();
    EXPECT_EQ(f.pool.find("c1")->marked_ms, 0);
    f.marks.fail = false;
    f.clock.advance(kPass);
    f.gc.pass();
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark c1"}));
    // a sweep that fails (Redis away again) is retried by the next pass
    f.run_for(kGrace - kPass);
    f.marks.fail = true;
    f.run_for(kPass);
    EXPECT_TRUE(f.backend.stopped.empty());
    f.marks.fail = false;
    f.run_for(kPass);
    EXPECT_EQ(f.state("c1"), State::stopping);
}

TEST_P(BothPolicies, ExitedWhileMarkedIsForgotten) {
    Fixture f(GetParam());
    f.add("c1");
    f.gc.pass();
    f.pool.remove("c1");  // the manager saw it exit
    f.run_for(2 * kGrace);
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark c1"}));
}

TEST_P(BothPolicies, SteadyTrafficIsNeverMarked) {
    Fixture f(GetParam());
    f.add("c1");
    for (int i = 0; i < 200; i++) {
        f.clock.advance(kPass);
        f.report("c1", i % 2, f.clock.now - 500);  // used every second
        f.gc.pass();
    }
    f.report("c1", 0, 0);
    EXPECT_TRUE(f.log.empty());
}

INSTANTIATE_TEST_SUITE_P(Policies, BothPolicies,
                         ::testing::Values("idle-timeout", "node-emptying"));

TEST(NodeEmptyingCollector, SweepsInNodeEmptyingOrder) {
    Fixture f("node-emptying", 0);
    f.add("n2-a", "n2", "guest/a");
    f.add("n1-a", "n1", "guest/b");
    f.add("n2-busy", "n2", "guest/c").health.last_used = f.clock.now;
    f.add("n1-b", "n1", "guest/d");
    f.gc.pass();
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark n1-a", "mark n1-b", "mark n2-a"}));
    f.run_for(kGrace);
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark n1-a", "mark n1-b", "mark n2-a",
                                               "del n1-a", "stop n1-a", "del n1-b",
                                               "stop n1-b", "del n2-a", "stop n2-a"}));
}

TEST(NodeEmptyingCollector, KeepsMinWarmOfARecentAction) {
    Fixture f("node-emptying", 1);
    f.add("a1");
    f.add("a2").health.last_used = f.clock.now - kIdle;  // more recent
    f.run_for(kGrace + 3 * kPass);
    EXPECT_EQ(f.state("a1"), State::stopping);
    EXPECT_EQ(f.state("a2"), State::warm);
    EXPECT_EQ(f.pool.find("a2")->marked_ms, 0);
}

// Compaction marks a sparse node's containers after --gc-compact-idle, and
// those marks go through the same grace, drain check and unmark; the busy
// node's idle container waits the full idle timeout.
TEST(NodeEmptyingCollector, CompactsSparseNodesEarlyThroughTheSameGrace) {
    const int64_t compact = kIdle / 4;
    Fixture f("node-emptying", 0, compact);
    for (const char *id : {"b1", "b2", "b3"}) f.add(id, "n1", "guest/b");
    f.add("s1", "n1", "guest/s");
    f.add("s2", "n2", "guest/s");
    f.add("s3", "n3", "guest/t");
    for (const char *id : {"s1", "s2", "s3"}) f.report(id, 0, f.clock.now);
    const int64_t t0 = f.clock.now;
    // n1 is in use on every pass.
    auto step = [&](int64_t ms, const std::function<void()> &before = [] {}) {
        for (int64_t t = 0; t < ms; t += kPass) {
            f.clock.advance(kPass);
            f.report_idle();
            for (const char *id : {"b1", "b2", "b3"}) f.report(id, 1, f.clock.now);
            before();
            f.gc.pass();
        }
    };
    step(compact - kPass);
    EXPECT_TRUE(f.log.empty());
    step(kPass);
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark s2", "mark s3"}));
    // A request reaches s3 during the grace: it is unmarked, not swept.
    step(kPass, [&] { f.report("s3", 0, f.clock.now); });
    step(kGrace - kPass);
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark s2", "mark s3", "del s2", "stop s2",
                                               "unmark s3"}));
    EXPECT_EQ(f.state("s2"), State::stopping);
    EXPECT_EQ(f.state("s3"), State::warm);
    // The busy node's idle container stays until the idle timeout.
    step(kIdle - (f.clock.now - t0) - kPass);
    EXPECT_EQ(f.pool.find("s1")->marked_ms, 0);
    step(kPass);
    EXPECT_EQ(f.pool.find("s1")->marked_ms, f.clock.now);
    for (const char *id : {"b1", "b2", "b3"}) EXPECT_EQ(f.pool.find(id)->marked_ms, 0) << id;
}

// The manager's health polls feed the collector: end to end on one clock
// (moved here from the idle collector's manager tests).
TEST(GarbageCollectorWithManager, IdleContainerIsUnroutedThenDrainedBusyOneKept) {
    std::vector<std::string> log;
    FakeClock clock;
    Pool pool;
    FakeMarks marks(log);
    LoggingBackend backend(log);
    FakeWarm warm;
    std::map<std::string, Health> health;
    ManagerOptions mo;
    mo.health_interval_ms = 500;
    Manager mgr(pool, backend, warm, clock,
                [&](const std::string &addr, Manager::ProbeDone d) {
                    Health h = health.at(addr);
                    h.checked_ms = clock.now;
                    d(true, h);
                },
                mo);
    IdleTimeoutPolicy policy(kIdle);
    GarbageCollector gc(pool, marks, backend, clock, policy, Fixture::opts());
    for (const char *id : {"idle", "busy"}) {
        Container c;
        c.id = id;
        c.action = std::string("guest/") + id;
        c.addr = std::string("127.0.0.1:") + (id[0] == 'i' ? "1" : "2");
        c.state = State::warm;
        c.started_ms = clock.now;
        pool.add(c);
        Health h;
        h.known = true;
        h.ready = true;
        h.last_used = clock.now;
        health[c.addr] = h;
    }
    health["127.0.0.1:2"].inflight = 1;  // a long-running activation
    mgr.run();
    gc.run();
    clock.advance(kIdle + kPass);
    EXPECT_EQ(log, (std::vector<std::string>{"mark idle"}));
    clock.advance(kGrace + kPass);
    EXPECT_EQ(log, (std::vector<std::string>{"mark idle", "del idle", "stop idle"}));
    EXPECT_EQ(pool.find("busy")->state, State::warm);
    // its work done, it is marked after the idle timeout, then swept
    health["127.0.0.1:2"].inflight = 0;
    health["127.0.0.1:2"].last_used = clock.now;
    backend.exit("idle", 0);
    EXPECT_EQ(pool.find("idle"), nullptr);
    clock.advance(kIdle + kGrace + 3 * kPass);
    EXPECT_EQ(log, (std::vector<std::string>{"mark idle", "del idle", "stop idle",
                                             "mark busy", "del busy", "stop busy"}));
}

// A relocation (compactor.h): the container x on the sparse node b is
// marked once its replacement is warm on a; then what in-flight work,
// a use after the mark and a gateway's unmark request do to it.
struct Relocation : Fixture {
    Relocation()
        : Fixture("node-emptying"),
          alloc(nodes(), make_strategy("most-allocated", 1)),
          compactor(pool, alloc, compactor_options(), [this](const std::string &, int64_t) {
              Container r = add("x2", "a", "guest/x");
              r.memory = 100;
              r.started_ms = clock.now;
              pool.add(r);
              busy("x2");
          }) {
        gc.set_compactor(&compactor);
        add("big", "a", "guest/big").memory = 600;
        add("x", "b", "guest/x").memory = 100;
        pool.add(Container(*pool.find("big")));  // re-added: loads follow memory
        pool.add(Container(*pool.find("x")));
        busy("big");
        busy("x");
        gc.pass();  // b is being emptied; x2 asked for (and warm at once)
        clock.advance(kPass);
        busy("x");
        gc.pass();  // x marked as a relocation
        marked = clock.now;
    }
    static std::vector<NodeSpec> nodes() {
        std::vector<NodeSpec> v(3);
        v[0].name = "a";
        v[1].name = "b";
        v[2].name = "c";
        for (NodeSpec &n : v) n.capacity = {0, 1000, 0};
        return v;
    }
    static CompactorOptions compactor_options() {
        CompactorOptions o;
        o.max_fill = 0.3;
        return o;
    }
    void busy(const std::string &id) { report(id, 1, clock.now); }

    ResourceAllocator alloc;
    Compactor compactor;
    int64_t marked = 0;
};

TEST(GarbageCollectorRelocation, SweptOnceDrainedEvenIfUsedAfterTheMark) {
    Relocation f;
    ASSERT_EQ(f.log, (std::vector<std::string>{"mark x"}));
    EXPECT_TRUE(f.pool.find("x")->relocating);
    f.clock.advance(kGrace);
    f.report("x", 1, f.clock.now);  // still finishing a request: it waits
    f.gc.pass();
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark x"}));
    EXPECT_NE(f.pool.find("x")->marked_ms, 0);
    f.clock.advance(kPass);
    f.report("x", 0, f.clock.now - 10);  // done, used after the mark
    f.gc.pass();
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark x", "del x", "stop x"}));
    EXPECT_EQ(f.state("x2"), State::warm);
}

TEST(GarbageCollectorRelocation, AGatewayThatNeedsItUnmarksIt) {
    Relocation f;
    f.marks.requests.insert("x");
    f.clock.advance(kPass);
    f.gc.pass();
    EXPECT_EQ(f.log, (std::vector<std::string>{"mark x", "unmark x"}));
    EXPECT_FALSE(f.pool.find("x")->relocating);
}

}  // namespace
}  // namespace ow::pm::test
