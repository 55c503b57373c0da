// kube_lease_test.cc: two replicas against one Lease held by a fake API
// server that keeps resourceVersion and answers 409 on a stale update, as
// the real one does: acquire, renew, standby, takeover after expiry, the
// fencing token, losing a race, resigning (the release on SIGTERM: at once,
// never over another's Lease, within its deadline).
#include "pool-manager/leadership/kube_lease.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "pool-manager/backends/kube/kube_fake_test.h"

namespace ow::pm::test {
namespace {

// The Lease store of the fake API server.
struct LeaseServer {
    std::mutex mu;
    nlohmann::json lease;  // null: none
    int64_t rv = 100;
    std::vector<std::string> writes;  // "POST holder" / "PUT holder" / "409"

    KubeResponse handle(const KubeRequest &req) {
        std::lock_guard<std::mutex> g(mu);
        const std::string coll = "/apis/coordination.k8s.io/v1/namespaces/owx/leases";
        if (req.verb == "GET" && req.path == coll + "/owx-pool-manager") {
            if (lease.is_null()) return answer(404, R"({"kind":"Status","code":404})");
            return answer(200, lease.dump());
        }
        nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
        EXPECT_EQ(body["apiVersion"], "coordination.k8s.io/v1");
        EXPECT_EQ(body["kind"], "Lease");
        if (req.verb == "POST" && req.path == coll) {
            if (!lease.is_null()) return answer(409, R"({"kind":"Status","code":409})");
            body["metadata"]["resourceVersion"] = std::to_string(++rv);
            lease = body;
            writes.push_back("POST " + body["spec"]["holderIdentity"].get<std::string>());
            return answer(201, lease.dump());
        }
        if (req.verb == "PUT" && req.path == coll + "/owx-pool-manager") {
            if (lease.is_null()) return answer(404, "{}");
            if (body["metadata"].value("resourceVersion", "") !=
                lease["metadata"]["resourceVersion"].get<std::string>()) {
                writes.push_back("409");
                return answer(409, R"({"kind":"Status","code":409,"reason":"Conflict"})");
            }
            body["metadata"]["resourceVersion"] = std::to_string(++rv);
            lease = body;
            writes.push_back("PUT " + body["spec"]["holderIdentity"].get<std::string>());
            return answer(200, lease.dump());
        }
        return answer(400, "{}");
    }
};

struct Replicas : ::testing::Test {
    // one attempt per call: the rounds' outcomes are what is tested here
    // (the client's retries have their own tests)
    static KubeClientOptions one_attempt() {
        KubeClientOptions o;
        o.max_attempts = 1;
        return o;
    }
    Replicas() : fake(std::make_shared<FakeKube>()), client(io_post(io), fake, one_attempt()) {
        fake->set_handler([this](const KubeRequest &r) { return server.handle(r); });
    }
    std::unique_ptr<KubeLeaseElector> make(const std::string &id, const std::string &addr,
                                           int64_t release_timeout_ms = 1500) {
        KubeLeaseOptions o;
        o.release_timeout_ms = release_timeout_ms;
        o.ns = "owx";
        o.identity = id;
        o.leader_addr = addr;
        o.lease_duration_ms = 15000;
        o.renew_deadline_ms = 10000;
        o.retry_period_ms = 3600000;  // the tests tick by hand
        return std::make_unique<KubeLeaseElector>(
            io, client, o, [this] { return now; }, [this] { return now * 1000; });
    }
    // One round of e, run to its end.
    void round(KubeLeaseElector &e) {
        size_t before = fake->requests().size();
        e.tick();
        // a round is a GET and maybe a write: wait until the calls settle
        run_until(io, [&] { return fake->requests().size() > before; });
        run_until(io, [] { return false; }, 60);
    }

    // a takes the Lease, then b starts and stands by
    void lead_and_stand_by(KubeLeaseElector &a, KubeLeaseElector &b) {
        a.start([](const Leadership &) {});
        ASSERT_TRUE(run_until(io, [&] { return a.current().leading; }));
        b.start([](const Leadership &) {});
        run_until(io, [] { return false; }, 100);
        ASSERT_FALSE(b.current().leading);
    }

    LeaseServer server;
    boost::asio::io_context io;
    std::shared_ptr<FakeKube> fake;
    KubeClient client;
    int64_t now = 1795820356000;
};

TEST_F(Replicas, AcquireRenewStandbyTakeoverAndFencing) {
    auto a = make("pm-a", "10.0.0.1:3235");
    auto b = make("pm-b", "10.0.0.2:3235");
    std::vector<Leadership> seen_b;
    a->start([](const Leadership &) {});
    ASSERT_TRUE(run_until(io, [&] { return a->current().leading; }));
    b->start([&](const Leadership &l) { seen_b.push_back(l); });
    run_until(io, [] { return false; }, 60);
    EXPECT_EQ(a->current().token, 1);
    EXPECT_EQ(server.lease["spec"]["holderIdentity"], "pm-a");
    EXPECT_EQ(server.lease["spec"]["leaseDurationSeconds"], 15);
    EXPECT_EQ(server.lease["metadata"]["annotations"]["owx.dev/leader-addr"], "10.0.0.1:3235");
    std::string renew1 = server.lease["spec"]["renewTime"];
    EXPECT_EQ(renew1.size(), std::string("2026-11-27T22:59:16.000000Z").size());
    round(*b);
    EXPECT_FALSE(b->current().leading);
    EXPECT_EQ(b->current().leader_addr, "10.0.0.1:3235");
    EXPECT_EQ(b->current().token, 1);

    // a renews: renewTime moves, the holder and the token do not
    now += 5000;
    round(*a);
    EXPECT_TRUE(a->current().leading);
    EXPECT_NE(server.lease["spec"]["renewTime"], renew1);
    EXPECT_EQ(server.lease["spec"]["leaseTransitions"], 0);
    // b saw a change at its last round; not expired yet
    now += 10000;
    round(*b);
    EXPECT_FALSE(b->current().leading);

    // a stops renewing (paused); 15 s after b last saw the record change, b
    // takes over with a bigger fencing token
    now += 16000;
    round(*b);
    EXPECT_TRUE(b->current().leading);
    EXPECT_EQ(b->current().token, 2);
    EXPECT_EQ(server.lease["spec"]["holderIdentity"], "pm-b");
    EXPECT_EQ(server.lease["spec"]["leaseTransitions"], 1);
    // a comes back: sees b's lease and follows it
    round(*a);
    EXPECT_FALSE(a->current().leading);
    EXPECT_EQ(a->current().leader_addr, "10.0.0.2:3235");
    EXPECT_EQ(a->current().token, 2);
    ASSERT_FALSE(seen_b.empty());
    EXPECT_TRUE(seen_b.back().leading);
}

TEST_F(Replicas, StaleUpdateLosesWith409AndLeaderStepsDownPastTheRenewDeadline) {
    auto a = make("pm-a", "a:1");
    a->start([](const Leadership &) {});
    ASSERT_TRUE(run_until(io, [&] { return a->current().leading; }));
    // someone else writes the lease between a's GET and PUT: a's PUT is 409
    std::atomic<bool> sneak{true};
    fake->set_handler([&](const KubeRequest &r) {
        if (r.verb == "PUT" && sneak.exchange(false)) {
            std::lock_guard<std::mutex> g(server.mu);
            server.lease["metadata"]["resourceVersion"] = std::to_string(++server.rv);
            server.lease["spec"]["holderIdentity"] = "pm-x";
        }
        return server.handle(r);
    });
    now += 2000;
    round(*a);
    EXPECT_EQ(server.writes.back(), "409");
    // a conflict may be a's own renew that landed late: a keeps the lead (as
    // client-go, until the renew deadline), and the next GET shows pm-x
    EXPECT_TRUE(a->current().leading);
    round(*a);
    EXPECT_FALSE(a->current().leading);
    EXPECT_EQ(a->current().lost_reason, "another replica holds the lease (pm-x)");

    // a leads again later, then the API server goes away: a keeps the lead
    // until the renew deadline, then steps down
    fake->set_handler([this](const KubeRequest &r) { return server.handle(r); });
    now += 20000;
    round(*a);  // observes pm-x's record
    now += 16000;
    round(*a);  // expired: takes it
    ASSERT_TRUE(a->current().leading);
    EXPECT_EQ(a->current().token, 2);  // pm-x was written by hand, without a bump
    fake->set_handler([](const KubeRequest &) { return answer(503, "{}"); });
    now += 5000;
    round(*a);
    EXPECT_TRUE(a->current().leading);
    now += 6000;
    round(*a);
    EXPECT_FALSE(a->current().leading);
    // the true reason (an 8 s outage once logged "another replica holds the lease")
    EXPECT_EQ(a->current().lost_reason.rfind("could not renew the lease within the renew "
                                             "deadline (10000 ms): last answer 503", 0), 0u)
        << a->current().lost_reason;
}

TEST_F(Replicas, ResignReleasesTheLeaseForAnImmediateTakeover) {
    auto a = make("pm-a", "a:1");
    auto b = make("pm-b", "b:1");
    int a_changes = 0;
    a->start([&](const Leadership &) { a_changes++; });
    ASSERT_TRUE(run_until(io, [&] { return a->current().leading; }));
    // a renews once, so the Lease has a history (transitions stay 0: same holder)
    now += 1000;
    round(*a);
    b->start([](const Leadership &) {});
    run_until(io, [] { return false; }, 100);
    EXPECT_FALSE(b->current().leading);
    int changes = a_changes;
    size_t writes = server.writes.size();
    a->resign();
    // released before resign() returns, with no io loop turning (the
    // daemon stops it right after): one PUT, no GET needed
    EXPECT_FALSE(a->current().leading);
    {
        std::lock_guard<std::mutex> g(server.mu);
        ASSERT_EQ(server.writes.size(), writes + 1);
        EXPECT_EQ(server.writes.back(), "PUT ");
        EXPECT_EQ(server.lease["spec"]["holderIdentity"], "");
        EXPECT_EQ(server.lease["spec"]["leaseDurationSeconds"], 1);
        EXPECT_EQ(server.lease["spec"]["leaseTransitions"], 0);
        EXPECT_FALSE(server.lease["metadata"]["annotations"].contains("owx.dev/leader-addr"));
    }
    // resigning is not a lost term: the daemon is not told to exit as failed
    EXPECT_EQ(a_changes, changes);
    // the standby's next round takes it, though the clock has not moved
    // (the 15 s lease duration is not waited out), with the next token
    round(*b);
    EXPECT_TRUE(b->current().leading);
    EXPECT_EQ(b->current().token, 2);
    EXPECT_EQ(server.lease["spec"]["holderIdentity"], "pm-b");
    EXPECT_EQ(server.lease["spec"]["leaseTransitions"], 1);
    EXPECT_EQ(server.lease["spec"]["leaseDurationSeconds"], 15);
    EXPECT_EQ(server.lease["metadata"]["annotations"]["owx.dev/leader-addr"], "b:1");
    // a resigned elector campaigns no more
    size_t n = fake->requests().size();
    a->tick();
    run_until(io, [] { return false; }, 60);
    EXPECT_EQ(fake->requests().size(), n);
}

TEST_F(Replicas, ResignAfterAnotherTookTheLeaseLeavesItAlone) {
    auto a = make("pm-a", "a:1");
    auto b = make("pm-b", "b:1");
    lead_and_stand_by(*a, *b);
    // a is paused past the lease: b takes over; a has not noticed yet
    now += 16000;
    round(*b);
    ASSERT_TRUE(b->current().leading);
    ASSERT_TRUE(a->current().leading);
    a->resign();
    EXPECT_FALSE(a->current().leading);
    std::lock_guard<std::mutex> g(server.mu);
    // a's update carried the resourceVersion of its own last write: 409,
    // then the GET shows b: b's Lease is untouched
    EXPECT_EQ(server.writes.back(), "409");
    EXPECT_EQ(server.lease["spec"]["holderIdentity"], "pm-b");
    EXPECT_EQ(server.lease["spec"]["leaseDurationSeconds"], 15);
    EXPECT_EQ(server.lease["spec"]["leaseTransitions"], 1);
    EXPECT_EQ(server.lease["metadata"]["annotations"]["owx.dev/leader-addr"], "b:1");
    auto reqs = fake->requests();
    ASSERT_GE(reqs.size(), 2u);
    EXPECT_EQ(reqs[reqs.size() - 2].verb, "PUT");
    EXPECT_EQ(reqs.back().verb, "GET");
}

TEST_F(Replicas, ResignRetriesOnceWhenTheConflictWasItsOwnRenew) {
    auto a = make("pm-a", "a:1");
    a->start([](const Leadership &) {});
    ASSERT_TRUE(run_until(io, [&] { return a->current().leading; }));
    // a renew of a's landed after a last saw the answer (it was in flight):
    // the Lease is still a's, at a newer resourceVersion
    {
        std::lock_guard<std::mutex> g(server.mu);
        server.lease["metadata"]["resourceVersion"] = std::to_string(++server.rv);
    }
    a->resign();
    std::lock_guard<std::mutex> g(server.mu);
    ASSERT_GE(server.writes.size(), 2u);
    EXPECT_EQ(server.writes[server.writes.size() - 2], "409");
    EXPECT_EQ(server.writes.back(), "PUT ");
    EXPECT_EQ(server.lease["spec"]["holderIdentity"], "");
    EXPECT_EQ(server.lease["spec"]["leaseTransitions"], 0);
}

TEST_F(Replicas, ResignNeverHoldsShutdownPastItsDeadline) {
    auto a = make("pm-a", "a:1", 300);
    a->start([](const Leadership &) {});
    ASSERT_TRUE(run_until(io, [&] { return a->current().leading; }));
    // the API server stops answering: each call lasts its whole timeout
    // (as curl's CURLOPT_TIMEOUT_MS) and gets no answer
    fake->set_handler([](const KubeRequest &r) {
        int64_t ms = r.timeout_ms > 0 ? std::min<int64_t>(r.timeout_ms, 5000) : 5000;
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        KubeResponse no;
        no.error = "Timeout was reached";
        return no;
    });
    auto t0 = std::chrono::steady_clock::now();
    a->resign();
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - t0)
                    .count();
    EXPECT_FALSE(a->current().leading);
    EXPECT_GE(took, 250);
    EXPECT_LT(took, 800);
    std::lock_guard<std::mutex> g(server.mu);
    EXPECT_EQ(server.lease["spec"]["holderIdentity"], "pm-a");
}

TEST_F(Replicas, AStandbyResignsWithoutWriting) {
    auto a = make("pm-a", "a:1");
    auto b = make("pm-b", "b:1");
    lead_and_stand_by(*a, *b);
    size_t n = fake->requests().size();
    b->resign();
    EXPECT_EQ(fake->requests().size(), n);
    EXPECT_EQ(server.lease["spec"]["holderIdentity"], "pm-a");
}

}  // namespace
}  // namespace ow::pm::test
