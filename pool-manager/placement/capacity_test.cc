// capacity_test.cc: coalescing, scale, namespace caps, deadlines and start
// failures, with a fake backend and a fake clock.
#include "pool-manager/placement/capacity.h"

#include <gtest/gtest.h>

#include "pool-manager/fakes_test.h"

namespace ow::pm::test {
namespace {

struct Answer {
    int status = 0;
    nlohmann::json body;
    int calls = 0;
};

class CapacityTest : public ::testing::Test {
protected:
    CapacityTest() {
        std::string err;
        EXPECT_TRUE(runtimes.load_text(
            R"({"nodejs:20":{"command":["/usr/bin/node","proxy.js","--port","{port}"],)"
            R"("family":"nodejs","default":true},)"
            R"("python:3.11":{"command":["/usr/bin/python3","run.py","{port}"],"family":"python"}})",
            &err));
        actions.put("guest/hello", "nodejs:20", 4, 512);
        actions.put("guest/pkg/two", "nodejs:default");
        actions.put("guest/java", "java:8");
        actions.put("other/hello", "python:3.11");
        opts.max_per_namespace = 3;
        opts.deadline_ms = 30000;
        make();
    }
    // n1 with 1 GB, n2 with 2 GB (4 CPUs each), most-allocated placement
    void two_nodes() {
        std::vector<NodeSpec> nodes(2);
        nodes[0].name = "n1";
        nodes[0].capacity = {4000, 1024, 0};
        nodes[1].name = "n2";
        nodes[1].capacity = {4000, 2048, 0};
        allocator = std::make_unique<ResourceAllocator>(
            nodes, std::make_unique<MostAllocated>(), 1000);
    }
    void make() {
        cap = std::make_unique<Capacity>(pool, backend, actions, runtimes, warm, clock, opts,
                                         allocator.get());
        cap->set_id_source([this] { return "c" + std::to_string(++ids); });
    }
    Answer *ask(const std::string &action, bool scale = false, int64_t parked = 1,
                bool web = false) {
        answers.push_back(std::make_unique<Answer>());
        Answer *a = answers.back().get();
        cap->request(action, scale, [a](int status, const nlohmann::json &body) {
            a->status = status;
            a->body = body;
            a->calls++;
        }, parked, web);
        return a;
    }

    FakeClock clock;
    FakeBackend backend;
    FakeActions actions;
    FakeWarm warm;
    Runtimes runtimes;
    Pool pool;
    CapacityOptions opts;
    std::unique_ptr<ResourceAllocator> allocator;
    std::unique_ptr<Capacity> cap;
    std::vector<std::unique_ptr<Answer>> answers;
    int ids = 0;
};

TEST_F(CapacityTest, ColdStartThenReady) {
    Answer *a = ask("guest/hello");
    EXPECT_EQ(a->calls, 0);
    ASSERT_EQ(backend.started.size(), 1u);
    const ContainerSpec &s = backend.started[0];
    EXPECT_EQ(s.action, "guest/hello");
    EXPECT_EQ(s.kind, "nodejs:20");
    EXPECT_EQ(s.family, "nodejs");
    EXPECT_EQ(s.memory, 512);
    EXPECT_EQ(s.concurrency, 4);
    EXPECT_EQ(s.command.back(), "{port}");
    EXPECT_EQ(pool.find("c1")->state, State::starting);

    backend.ready("c1", "127.0.0.1:9001");
    EXPECT_EQ(a->calls, 1);
    EXPECT_EQ(a->status, 200);
    EXPECT_EQ(a->body, nlohmann::json::parse(
                           R"({"containers":[{"id":"c1","addr":"127.0.0.1:9001","concurrency":4}]})"));
    EXPECT_EQ(pool.find("c1")->state, State::warm);
    EXPECT_EQ(pool.find("c1")->pid, 4242);
    ASSERT_EQ(warm.ops.size(), 1u);
    EXPECT_EQ(warm.ops[0], std::make_pair(std::string("add"), std::string("c1")));
    EXPECT_EQ(clock.pending(), 0u) << "the waiter's deadline timer is cancelled";
}

TEST_F(CapacityTest, WarmAnswersAtOnceWithoutStarting) {
    ask("guest/hello");
    backend.ready("c1", "127.0.0.1:9001");
    Answer *b = ask("guest/hello");
    EXPECT_EQ(b->calls, 1);
    EXPECT_EQ(b->status, 200);
    EXPECT_EQ(b->body["containers"].size(), 1u);
    EXPECT_EQ(backend.started.size(), 1u);
}

TEST_F(CapacityTest, WarmContainersOfAnOlderVersionAreRetiredAndANewOneStarts) {
    std::vector<std::string> retired;
    cap->set_retire([&](const std::string &id, const char *) {
        retired.push_back(id);
        pool.find(id)->state = State::stopping;  // as Manager::retire does
    });
    ask("guest/hello");
    backend.ready("c1", "127.0.0.1:9001");
    EXPECT_EQ(pool.find("c1")->version, "0.0.1");
    EXPECT_EQ(warm_entry(*pool.find("c1"))["version"], "0.0.1");
    // same version: answered from the warm container
    EXPECT_EQ(ask("guest/hello")->status, 200);
    EXPECT_TRUE(retired.empty());

    actions.docs["guest/hello"].info.version = "0.0.2";  // wsk action update
    Answer *a = ask("guest/hello");
    EXPECT_EQ(retired, (std::vector<std::string>{"c1"}));
    ASSERT_EQ(backend.started.size(), 2u);
    EXPECT_EQ(a->calls, 0);  // waits for the new container
    backend.ready("c2", "127.0.0.1:9002");
    EXPECT_EQ(a->status, 200);
    EXPECT_EQ(a->body["containers"].size(), 1u);
    EXPECT_EQ(a->body["containers"][0]["id"], "c2");
    EXPECT_EQ(pool.find("c2")->version, "0.0.2");
}

TEST_F(CapacityTest, WarmContainersOfADeletedActionAreRetiredAndItIs404) {
    std::vector<std::string> retired;
    cap->set_retire([&](const std::string &id, const char *why) {
        retired.push_back(id + " " + why);
        pool.find(id)->state = State::stopping;  // as Manager::retire does
    });
    ask("guest/hello");
    backend.ready("c1", "127.0.0.1:9001");
    EXPECT_EQ(ask("guest/hello")->status, 200);

    actions.docs.erase("guest/hello");  // wsk action delete
    Answer *a = ask("guest/hello");
    EXPECT_EQ(a->status, 404);
    EXPECT_EQ(retired, (std::vector<std::string>{"c1 action deleted"}));
    EXPECT_EQ(backend.started.size(), 1u);  // nothing started for it
}

TEST_F(CapacityTest, AnAdoptedContainerOfUnknownVersionIsKept) {
    std::vector<std::string> retired;
    cap->set_retire([&](const std::string &id, const char *) { retired.push_back(id); });
    ask("guest/hello");
    backend.ready("c1", "127.0.0.1:9001");
    pool.find("c1")->version = "";
    actions.docs["guest/hello"].info.version = "0.0.2";
    EXPECT_EQ(ask("guest/hello")->status, 200);
    EXPECT_TRUE(retired.empty());
}

TEST_F(CapacityTest, ConcurrentRequestsCoalesceIntoOneStart) {
    std::vector<Answer *> as;
    for (int i = 0; i < 20; i++) as.push_back(ask("guest/hello"));
    EXPECT_EQ(backend.started.size(), 1u);
    EXPECT_EQ(actions.lookups, 1) << "the document is read once per start";
    EXPECT_EQ(cap->waiting(), 20u);
    backend.ready("c1", "127.0.0.1:9001");
    for (Answer *a : as) {
        EXPECT_EQ(a->calls, 1);
        EXPECT_EQ(a->status, 200);
        EXPECT_EQ(a->body["containers"][0]["id"], "c1");
    }
    EXPECT_EQ(cap->starts_in_flight(), 0u);
}

TEST_F(CapacityTest, DifferentActionsStartSeparately) {
    ask("guest/hello");
    ask("guest/pkg/two");
    EXPECT_EQ(backend.started.size(), 2u);
    EXPECT_EQ(backend.started[1].kind, "nodejs:20") << "nodejs:default resolves";
}

TEST_F(CapacityTest, ScaleStartsOneMoreCoalesced) {
    ask("guest/hello");
    backend.ready("c1", "127.0.0.1:9001");
    Answer *a = ask("guest/hello", true);
    Answer *b = ask("guest/hello", true);
    Answer *c = ask("guest/hello", false);  // warm exists: answered at once
    EXPECT_EQ(backend.started.size(), 2u);
    EXPECT_EQ(c->calls, 1);
    EXPECT_EQ(c->body["containers"].size(), 1u);
    EXPECT_EQ(a->calls, 0);
    backend.ready("c2", "127.0.0.1:9002");
    for (Answer *x : {a, b}) {
        EXPECT_EQ(x->status, 200);
        EXPECT_EQ(x->body["containers"].size(), 2u);
    }
    // Scale again once that start is done: one more.
    ask("guest/hello", true);
    EXPECT_EQ(backend.started.size(), 3u);
}

TEST_F(CapacityTest, ScaleJoinsAColdStartInFlight) {
    ask("guest/hello");
    ask("guest/hello", true);
    EXPECT_EQ(backend.started.size(), 1u);
}

TEST_F(CapacityTest, NamespaceCap429) {
    actions.put("guest/a", "nodejs:20");
    actions.put("guest/b", "nodejs:20");
    actions.put("guest/c", "nodejs:20");
    ask("guest/a");
    ask("guest/b");
    backend.ready("c1", "127.0.0.1:9001");
    ask("guest/c");
    Answer *d = ask("guest/hello");
    EXPECT_EQ(d->status, 429);
    EXPECT_EQ(d->body["code"], "");
    EXPECT_NE(d->body["error"].get<std::string>().find("guest"), std::string::npos);
    EXPECT_EQ(backend.started.size(), 3u);
    // Scale is refused too, but a warm action is still answered.
    EXPECT_EQ(ask("guest/a", true)->status, 429);
    EXPECT_EQ(ask("guest/a")->status, 200);
    // Another namespace is not affected.
    ask("other/hello");
    EXPECT_EQ(backend.started.size(), 4u);
    // A container that goes away frees its slot.
    pool.remove("c1");
    ask("guest/hello");
    EXPECT_EQ(backend.started.size(), 5u);
}

// A cold start that meets the namespace's cap makes room by retiring the
// least recently used idle container, never a busy one: OpenWhisk's
// container pool removes a free container to make room, and a busy one
// would lose what it is running.
TEST_F(CapacityTest, TheCapEvictsTheLeastRecentlyUsedIdleContainer) {
    std::vector<std::string> retired;
    cap->set_retire([&](const std::string &id, const char *why) {
        retired.push_back(std::string(id) + " " + why);
        pool.find(id)->state = State::stopping;  // as Manager::retire does
    });
    auto idle = [&](const std::string &id, int64_t used_ms, int64_t inflight = 0) {
        Container *c = pool.find(id);
        c->health.known = true;
        c->health.inflight = inflight;
        c->health.last_used = clock.now_ms() + used_ms;  // after every start
    };
    for (const char *a : {"guest/a", "guest/b", "guest/c", "guest/d", "guest/e"})
        actions.put(a, "nodejs:20");
    ask("guest/a");
    ask("guest/b");
    ask("guest/c");
    backend.ready("c1", "127.0.0.1:9001");
    backend.ready("c2", "127.0.0.1:9002");
    backend.ready("c3", "127.0.0.1:9003");
    idle("c1", 3000);
    idle("c2", 1000, 1);  // least recently used, but busy
    idle("c3", 2000);

    Answer *d = ask("guest/d");
    EXPECT_EQ(retired, (std::vector<std::string>{"c3 evicted"}));
    ASSERT_EQ(backend.started.size(), 4u);
    EXPECT_EQ(backend.started[3].action, "guest/d");
    backend.ready("c4", "127.0.0.1:9004");
    EXPECT_EQ(d->status, 200);

    // one the collector marked goes before an older unmarked one
    idle("c4", 500);
    pool.find("c1")->marked_ms = clock.now_ms() + 4000;
    ask("guest/e");
    EXPECT_EQ(retired.back(), "c1 evicted");
    backend.ready("c5", "127.0.0.1:9005");

    // all busy (or of unknown health): the 429 stands, nothing retired
    idle("c4", 500, 2);
    idle("c5", 600, 1);
    size_t before = retired.size();
    EXPECT_EQ(ask("guest/a")->status, 429);
    EXPECT_EQ(retired.size(), before);
    EXPECT_EQ(backend.started.size(), 5u);
}

TEST_F(CapacityTest, AContainerOfTheActionItselfIsNotEvictedForIt) {
    std::vector<std::string> retired;
    cap->set_retire([&](const std::string &id, const char *) {
        retired.push_back(id);
        pool.find(id)->state = State::stopping;
    });
    opts.max_per_namespace = 1;
    make();
    cap->set_retire([&](const std::string &id, const char *) {
        retired.push_back(id);
        pool.find(id)->state = State::stopping;
    });
    ask("guest/hello");
    backend.ready("c1", "127.0.0.1:9001");
    pool.find("c1")->health.known = true;
    // a scale-up of the same action: evicting its own idle container is no gain
    EXPECT_EQ(ask("guest/hello", true)->status, 429);
    EXPECT_TRUE(retired.empty());
}

TEST_F(CapacityTest, ANamespacesMaxContainersLimitReplacesTheDefaultCap) {
    // ow-admin limits set other --maxContainers 1 (read with the document)
    actions.put("other/a", "python:3.11");
    actions.put("other/b", "python:3.11");
    actions.docs["other/a"].info.max_containers = 1;
    actions.docs["other/b"].info.max_containers = 1;
    ask("other/a");
    Answer *b = ask("other/b");
    EXPECT_EQ(b->status, 429);
    EXPECT_EQ(b->body["error"], "Too many containers for namespace 'other' (limit 1).");
    EXPECT_EQ(b->body["retryAfter"], 1);
    // guest keeps the default (3)
    ask("guest/hello");
    ask("guest/pkg/two");
    EXPECT_EQ(backend.started.size(), 3u);
}

TEST_F(CapacityTest, InstancesBoundTheActionsContainers) {
    actions.put("guest/two", "nodejs:20", 1, 256, 2);
    ask("guest/two");
    backend.ready("c1", "127.0.0.1:9001");
    ask("guest/two", true);
    EXPECT_EQ(backend.started.size(), 2u);
    // at its limit with one starting: a scale request waits for that one
    Answer *a = ask("guest/two", true);
    EXPECT_EQ(backend.started.size(), 2u);
    EXPECT_EQ(a->calls, 0);
    backend.ready("c2", "127.0.0.1:9002");
    EXPECT_EQ(a->status, 200);
    // at its limit, all warm: answered with them, nothing starts
    Answer *b = ask("guest/two", true, 5);
    EXPECT_EQ(b->status, 200);
    EXPECT_EQ(b->body["containers"].size(), 2u);
    EXPECT_EQ(backend.started.size(), 2u);
    // one goes: room for one more
    pool.remove("c1");
    ask("guest/two", true);
    EXPECT_EQ(backend.started.size(), 3u);
}

TEST_F(CapacityTest, UnknownAction404) {
    Answer *a = ask("guest/nope");
    EXPECT_EQ(a->status, 404);
    EXPECT_EQ(a->body, nlohmann::json::parse(
                           R"({"error":"The requested resource does not exist.","code":""})"));
    EXPECT_TRUE(backend.started.empty());
    EXPECT_EQ(pool.size(), 0u);
}

TEST_F(CapacityTest, WebRequestForANonExportedAction404WithoutStart) {
    Answer *a = ask("guest/hello", false, 1, true);
    EXPECT_EQ(a->calls, 1);
    EXPECT_EQ(a->status, 404);
    EXPECT_EQ(a->body["error"], "The requested resource does not exist.");
    EXPECT_TRUE(backend.started.empty());

    // exported: the web request cold-starts it as any invocation
    actions.docs["guest/hello"].info.web_export = true;
    Answer *b = ask("guest/hello", false, 1, true);
    EXPECT_EQ(backend.started.size(), 1u);
    backend.ready("c1", "127.0.0.1:9001");
    EXPECT_EQ(b->status, 200);
}

TEST_F(CapacityTest, WebRequestJoiningAStartInFlightStartsNothingMore) {
    Answer *api = ask("guest/hello");   // not exported: an API invoke starts it
    Answer *web = ask("guest/hello", false, 1, true);
    EXPECT_EQ(backend.started.size(), 1u);
    backend.ready("c1", "127.0.0.1:9001");
    // both get the container: its sidecar answers the web request 404
    EXPECT_EQ(api->status, 200);
    EXPECT_EQ(web->status, 200);
    EXPECT_EQ(backend.started.size(), 1u);
}

TEST_F(CapacityTest, UnsupportedKind400) {
    Answer *a = ask("guest/java");
    EXPECT_EQ(a->status, 400);
    EXPECT_NE(a->body["error"].get<std::string>().find("java:8"), std::string::npos);
    EXPECT_TRUE(backend.started.empty());
}

TEST_F(CapacityTest, MalformedAction400) {
    // "a/b/c/d" is valid: the invoker's key for another namespace's package
    for (const char *bad : {"", "guest", "/x", "guest/", "a/b/c/d/e", "guest//x"}) {
        EXPECT_EQ(ask(bad)->status, 400) << bad;
    }
    EXPECT_EQ(actions.lookups, 0);
}

TEST_F(CapacityTest, LookupError503) {
    ActionLookup l;
    l.status = ActionLookup::failed;
    l.error = "redis unavailable";
    actions.docs["guest/hello"] = l;
    Answer *a = ask("guest/hello");
    EXPECT_EQ(a->status, 503);
    EXPECT_TRUE(backend.started.empty());
}

TEST_F(CapacityTest, DeadlineGives503AndTheStartGoesOn) {
    Answer *a = ask("guest/hello");
    clock.advance(10000);
    Answer *b = ask("guest/hello");
    clock.advance(20000);
    EXPECT_EQ(a->calls, 1);
    EXPECT_EQ(a->status, 503);
    EXPECT_EQ(a->body["code"], "");
    EXPECT_EQ(b->calls, 0) << "b has its own deadline";
    clock.advance(10000);
    EXPECT_EQ(b->status, 503);
    EXPECT_EQ(cap->waiting(), 0u);
    // The container comes up later: it is warm for the next request.
    backend.ready("c1", "127.0.0.1:9001");
    EXPECT_EQ(a->calls, 1);
    EXPECT_EQ(warm.table.count("c1"), 1u);
    Answer *c = ask("guest/hello");
    EXPECT_EQ(c->status, 200);
    EXPECT_EQ(backend.started.size(), 1u);
}

TEST_F(CapacityTest, InitFailure502ForEveryWaiter) {
    Answer *a = ask("guest/hello");
    Answer *b = ask("guest/hello");
    StartResult r;
    r.status = StartResult::init_failed;
    r.error = "Initialization has failed due to: SyntaxError";
    r.init_error = {{"error", r.error}};
    backend.finish("c1", r);
    for (Answer *x : {a, b}) {
        EXPECT_EQ(x->status, 502);
        EXPECT_EQ(x->body["error"], r.error);
        EXPECT_EQ(x->body["code"], "");
        EXPECT_EQ(x->body["init"], r.init_error);
    }
    EXPECT_EQ(pool.size(), 0u);
    EXPECT_TRUE(warm.ops.empty());
    // The next request tries again.
    ask("guest/hello");
    EXPECT_EQ(backend.started.size(), 2u);
}

TEST_F(CapacityTest, OtherStartFailure503) {
    Answer *a = ask("guest/hello");
    StartResult r;
    r.error = "the sidecar exited with status 1 before it was ready";
    backend.finish("c1", r);
    EXPECT_EQ(a->status, 503);
    EXPECT_NE(a->body["error"].get<std::string>().find("status 1"), std::string::npos);
    EXPECT_EQ(pool.size(), 0u);
}

TEST_F(CapacityTest, WaitersAreBounded) {
    opts.max_waiters_per_action = 2;
    make();
    ask("guest/hello");
    ask("guest/hello");
    Answer *c = ask("guest/hello");
    EXPECT_EQ(c->status, 503);
}

TEST_F(CapacityTest, ScaleFollowsParkedDemandNotRequests) {
    opts.max_per_namespace = 100;
    make();
    ask("guest/hello");  // concurrency 4
    backend.ready("c1", "127.0.0.1:9001");
    // The gateway has 9 requests parked: ceil(9 / 4) = 3 more containers,
    // however many of them call.
    std::vector<Answer *> as;
    for (int i = 0; i < 9; i++) as.push_back(ask("guest/hello", true, 9));
    EXPECT_EQ(backend.started.size(), 1u + 3u);
    EXPECT_EQ(cap->starts_in_flight(), 3u);
    backend.ready("c2", "127.0.0.1:9002");
    for (Answer *a : as) {
        EXPECT_EQ(a->status, 200) << "the first ready start answers every parked request";
        EXPECT_EQ(a->body["containers"].size(), 2u);
    }
    EXPECT_EQ(cap->starts_in_flight(), 2u) << "the others go on, for the demand still there";
    // New demand counts those still starting: ceil(8 / 4) = 2 = starting.
    ask("guest/hello", true, 8);
    EXPECT_EQ(backend.started.size(), 4u);
    // The largest report among the parked requests is the demand.
    ask("guest/hello", true, 3);
    ask("guest/hello", true, 12);
    EXPECT_EQ(backend.started.size(), 5u) << "ceil(12 / 4) = 3, 2 starting";
    ask("guest/hello", true, 1);
    EXPECT_EQ(backend.started.size(), 5u);
}

TEST_F(CapacityTest, ScaleStartsAreCappedPerActionAndByNamespace) {
    actions.put("guest/one", "nodejs:20", 1);
    opts.max_per_namespace = 100;
    opts.max_starts_per_action = 4;
    make();
    ask("guest/one");
    backend.ready("c1", "127.0.0.1:9001");
    ask("guest/one", true, 20);
    EXPECT_EQ(backend.started.size(), 1u + 4u) << "at most 4 starting at once";
    opts.max_per_namespace = 3;
    make();
    pool = Pool();
    backend.started.clear();
    backend.pending.clear();
    ask("guest/one", false, 20);
    EXPECT_EQ(backend.started.size(), 1u) << "no warm container yet: one start proves init";
    backend.ready("c6", "127.0.0.1:9001");
    ask("guest/one", true, 20);
    EXPECT_EQ(backend.started.size(), 3u) << "one warm + two more fill the namespace";
}

TEST_F(CapacityTest, FailedStartAmongSeveralKeepsTheOthersWaiting) {
    actions.put("guest/one", "nodejs:20", 1);
    make();
    ask("guest/one");
    backend.ready("c1", "127.0.0.1:9001");
    Answer *a = ask("guest/one", true, 2);
    Answer *b = ask("guest/one", true, 2);
    ASSERT_EQ(backend.started.size(), 3u);
    StartResult r;
    r.error = "fork: out of memory";
    backend.finish("c2", r);
    EXPECT_EQ(a->calls, 0) << "c3 may still serve them";
    backend.ready("c3", "127.0.0.1:9003");
    EXPECT_EQ(a->status, 200);
    EXPECT_EQ(b->status, 200);
}

TEST_F(CapacityTest, PlacesOnANodeAndRecordsIt) {
    two_nodes();
    actions.put("guest/a", "nodejs:20", 1, 1024);
    actions.put("guest/b", "nodejs:20", 1, 1024);
    actions.put("guest/c", "nodejs:20", 1, 1024);
    actions.put("guest/d", "nodejs:20", 1, 1024);
    opts.max_per_namespace = 100;
    make();
    ask("guest/a");
    ask("guest/b");
    ask("guest/c");
    ASSERT_EQ(backend.started.size(), 3u);
    // Packing: the fullest node after placement. a: n1 at 100 % beats n2
    // at 50 %; b: only n2 has room; c: n2 again.
    EXPECT_EQ(pool.find("c1")->node, "n1");
    EXPECT_EQ(pool.find("c2")->node, "n2");
    EXPECT_EQ(pool.find("c3")->node, "n2");
    EXPECT_EQ(pool.find("c1")->cpu, 1000) << "1000 millicores per GB";
    backend.ready("c1", "127.0.0.1:9001");
    EXPECT_EQ(warm.table["c1"].node, "n1");
    EXPECT_EQ(warm_entry(warm.table["c1"])["node"], "n1");
    Answer *d = ask("guest/d");
    EXPECT_EQ(d->status, 503);
    EXPECT_NE(d->body["error"].get<std::string>().find("no node has room"), std::string::npos);
    EXPECT_EQ(d->body["code"], "");
    EXPECT_EQ(backend.started.size(), 3u);
    EXPECT_EQ(cap->waiting(), 2u) << "b and c still wait; d does not";
    // A container that goes frees its node's resources (level-based tally).
    pool.remove("c1");
    Answer *again = ask("guest/d");
    EXPECT_EQ(again->calls, 0);
    EXPECT_EQ(pool.find("c4")->node, "n1");
}

// No node has room, but idle containers of other namespaces hold it: the
// least recently used goes (one whose node it empties first, so the pool
// stays compact), and the start waits for its exit instead of a 503, which
// a full cluster of idle containers would otherwise answer for ever.
TEST_F(CapacityTest, AFullClusterEvictsAnIdleContainerOfAnyNamespace) {
    two_nodes();
    for (const char *a : {"other/a", "other/b", "other/c", "guest/d"})
        actions.put(a, "nodejs:20", 1, 1024);
    opts.max_per_namespace = 100;
    make();
    std::vector<std::string> retired;
    cap->set_retire([&](const std::string &id, const char *why) {
        retired.push_back(id + " " + why);
        pool.find(id)->state = State::stopping;
    });
    ask("other/a");  // c1 on n1 (alone)
    ask("other/b");  // c2 on n2
    ask("other/c");  // c3 on n2
    for (const char *id : {"c1", "c2", "c3"}) {
        backend.ready(id, "127.0.0.1:9001");
        pool.find(id)->health.known = true;
    }
    pool.find("c1")->health.last_used = clock.now_ms() + 3000;  // most recent, but alone
    pool.find("c2")->health.last_used = clock.now_ms() + 1000;
    pool.find("c3")->health.inflight = 1;                        // busy: never

    Answer *d = ask("guest/d");
    EXPECT_EQ(retired, (std::vector<std::string>{"c1 evicted"})) << "empties n1";
    EXPECT_EQ(d->calls, 0) << "waits for c1 to exit";
    EXPECT_EQ(backend.started.size(), 3u);
    pool.remove("c1");  // its sidecar drained and exited (Manager::on_exit)
    cap->room_freed();
    ASSERT_EQ(backend.started.size(), 4u);
    EXPECT_EQ(pool.find("c4")->node, "n1");
    backend.ready("c4", "127.0.0.1:9004");
    EXPECT_EQ(d->status, 200);

    // nothing idle left (c2 now busy too): the 503 stands
    pool.find("c2")->health.inflight = 1;
    actions.put("guest/e", "nodejs:20", 1, 1024);
    Answer *e = ask("guest/e");
    EXPECT_EQ(e->status, 503);
    EXPECT_EQ(retired.size(), 1u);
}

TEST_F(CapacityTest, SequenceAnswersItsComponentsWithoutAContainer) {
    ActionLookup l;
    l.status = ActionLookup::ok;
    l.info.kind = "sequence";
    l.info.sequence = true;
    l.info.components = nlohmann::json::parse(R"(["/guest/a","/guest/pkg/b"])");
    actions.docs["guest/seq"] = l;
    Answer *a = ask("guest/seq");
    EXPECT_EQ(a->calls, 1);
    EXPECT_EQ(a->status, 200);
    EXPECT_EQ(a->body["containers"], nlohmann::json::array());
    EXPECT_EQ(a->body["sequence"]["components"],
              nlohmann::json::parse(R"(["/guest/a","/guest/pkg/b"])"));
    EXPECT_EQ(a->body["sequence"]["version"], "0.0.1");
    EXPECT_TRUE(backend.started.empty());
    EXPECT_EQ(cap->starts_in_flight(), 0u);
}

TEST_F(CapacityTest, ConductorAnswerSaysSo) {
    actions.put("guest/cond", "nodejs:20");
    actions.docs["guest/cond"].info.conductor = true;
    Answer *a = ask("guest/cond");
    ASSERT_EQ(backend.started.size(), 1u);
    backend.ready("c1", "127.0.0.1:9001");
    EXPECT_EQ(a->status, 200);
    EXPECT_EQ(a->body["conductor"], true);
    EXPECT_EQ(a->body["containers"].size(), 1u);
    Answer *b = ask("guest/hello");
    backend.ready("c2", "127.0.0.1:9002");
    EXPECT_FALSE(b->body.contains("conductor"));
    // answered at once from the warm container: still says so (the gateway
    // would otherwise run it as a plain action on that container)
    Answer *c = ask("guest/cond");
    EXPECT_EQ(c->status, 200);
    EXPECT_EQ(c->body["conductor"], true);
    EXPECT_EQ(backend.started.size(), 2u);
    EXPECT_FALSE(ask("guest/hello")->body.contains("conductor"));
}

// A web request of a sequence or conductor action: the gateway shapes it
// itself (libow/ow_web.h), so the answer carries the action's facts; one that
// is not exported is 404, warm containers or not.
TEST_F(CapacityTest, WebAnswersOfComposedActionsCarryTheFacts) {
    nlohmann::json facts = {{"annotations", {{{"key", "web-export"}, {"value", true}}}},
                            {"parameters", {{{"key", "a"}, {"value", 1}}}}};
    ActionLookup l;
    l.status = ActionLookup::ok;
    l.info.kind = "sequence";
    l.info.sequence = true;
    l.info.components = nlohmann::json::parse(R"(["/guest/a"])");
    l.info.web_export = true;
    l.info.web_facts = facts;
    actions.docs["guest/seq"] = l;
    Answer *a = ask("guest/seq", false, 1, true);
    EXPECT_EQ(a->status, 200);
    EXPECT_EQ(a->body["web"], facts);
    // not a web request: no facts (the router keeps sequence answers)
    EXPECT_FALSE(ask("guest/seq")->body.contains("web"));
    actions.docs["guest/seq"].info.web_export = false;
    EXPECT_EQ(ask("guest/seq", false, 1, true)->status, 404);

    actions.put("guest/cond", "nodejs:20");
    actions.docs["guest/cond"].info.conductor = true;
    actions.docs["guest/cond"].info.web_export = true;
    actions.docs["guest/cond"].info.web_facts = facts;
    Answer *cold = ask("guest/cond", false, 1, true);
    ASSERT_EQ(backend.started.size(), 1u);
    backend.ready("c1", "127.0.0.1:9001");
    EXPECT_EQ(cold->status, 200);
    EXPECT_EQ(cold->body["conductor"], true);
    EXPECT_EQ(cold->body["web"], facts);
    Answer *warm = ask("guest/cond", false, 1, true);
    EXPECT_EQ(warm->status, 200);
    EXPECT_EQ(warm->body["web"], facts);
    actions.docs["guest/cond"].info.web_export = false;
    Answer *hidden = ask("guest/cond", false, 1, true);
    EXPECT_EQ(hidden->status, 404);
    EXPECT_EQ(backend.started.size(), 1u);
}

}  // namespace
}  // namespace ow::pm::test
