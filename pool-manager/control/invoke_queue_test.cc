// invoke_queue_test.cc: POST /v1/invoke's logic with fakes (clock, backend,
// actions, deliverer, records): the answer at once, the bounds, delivery
// through the real Capacity (coalescing, scale), the retry decisions, and
// the failure record when delivery fails.
#include "pool-manager/control/invoke_queue.h"

#include <gtest/gtest.h>

#include "pool-manager/fakes_test.h"

namespace ow::pm::test {
namespace {

struct Post {
    std::string addr;
    InvokeRequest req;
    int64_t timeout_ms;
    Deliverer::Done done;
};

class FakeDeliverer : public Deliverer {
public:
    std::vector<Post> posts;
    size_t answered = 0;  // posts[0..answered) are done
    void post(const std::string &addr, const InvokeRequest &req, int64_t timeout_ms,
              Done done) override {
        posts.push_back({addr, req, timeout_ms, std::move(done)});
    }
    // Answers the oldest open post.
    void answer(int status, int64_t retry_after_s = 0) {
        Delivery d;
        d.kind = Delivery::answered;
        d.status = status;
        d.retry_after_s = retry_after_s;
        d.body = status == 202 ? R"({"activationId":"x"})" : R"({"error":"refused","code":""})";
        next(d);
    }
    void answer_body(int status, const std::string &body) {
        Delivery d;
        d.kind = Delivery::answered;
        d.status = status;
        d.body = body;
        next(d);
    }
    void fail(Delivery::Kind kind) {
        Delivery d;
        d.kind = kind;
        d.error = "connect: Connection refused";
        next(d);
    }
    size_t open() const { return posts.size() - answered; }

private:
    void next(const Delivery &d) {
        ASSERT_LT(answered, posts.size());
        auto done = std::move(posts[answered].done);
        answered++;
        done(d);
    }
};

class FakeRecords : public RecordSink {
public:
    std::vector<nlohmann::json> records;
    int failures_left = 0;
    int calls = 0;
    bool write(const nlohmann::json &record, std::string *err) override {
        calls++;
        if (failures_left > 0) {
            failures_left--;
            *err = "redis down";
            return false;
        }
        records.push_back(record);
        return true;
    }
};

const std::string kId1 = "0123456789abcdef0123456789abcdef";

class InvokeQueueTest : public ::testing::Test {
protected:
    InvokeQueueTest() {
        std::string err;
        EXPECT_TRUE(runtimes.load_text(
            R"({"nodejs:20":{"command":["/usr/bin/node","proxy.js","--port","{port}"],)"
            R"("family":"nodejs","default":true}})",
            &err));
        actions.put("guest/hello", "nodejs:20", 1, 256);
        actions.docs["guest/hello"].info.version = "0.0.7";
        actions.docs["guest/hello"].info.limits = {
            {"timeout", 60000}, {"memory", 256}, {"logs", 10}, {"concurrency", 1}};
        actions.put("guest/pkg/two", "nodejs:20");
        actions.put("guest/java", "java:8");
        for (int i = 0; i < 3; i++) actions.put("capped/a" + std::to_string(i), "nodejs:20");
        copts.max_per_namespace = 2;
        copts.deadline_ms = 30000;
        iopts.max_queued = 10;
        iopts.max_per_action = 4;
        iopts.max_bytes = 1000;
        iopts.deadline_ms = 60000;
        iopts.max_attempts = 5;
        cap = std::make_unique<Capacity>(pool, backend, actions, runtimes, warm, clock, copts);
        cap->set_id_source([this] { return "c" + std::to_string(++ids); });
        q = std::make_unique<InvokeQueue>(*cap, pool, actions, runtimes, deliverer, records,
                                          clock, iopts);
    }

    std::string id(int n) {
        std::string s = std::to_string(n);
        return std::string(32 - s.size(), 'a') + s;
    }

    InvokeAnswer invoke(const std::string &action, const std::string &aid,
                        const std::string &body = R"({"name":"x"})",
                        const std::string &query = "blocking=false&result=false",
                        std::map<std::string, std::string> extra = {}) {
        std::map<std::string, std::string> h = {{"X-OW-Activation-Id", aid},
                                                {"X-OW-Namespace", "guest"},
                                                {"X-OW-Subject", "guest-subject"},
                                                {"X-OW-Path", action},
                                                {"X-OW-Accept-Time", "999000"},
                                                {"Authorization", "Basic abc"},
                                                {"traceparent", "00-tp"}};
        for (auto &kv : extra) h[kv.first] = kv.second;
        return q->accept(
            [&h](const char *n) {
                auto it = h.find(n);
                return it == h.end() ? std::string() : it->second;
            },
            query, body);
    }

    std::string header(const InvokeAnswer &a, const std::string &name) {
        for (const auto &h : a.headers)
            if (h.first == name) return h.second;
        return "";
    }

    void remake(int64_t max_per_namespace) {
        copts.max_per_namespace = max_per_namespace;
        cap = std::make_unique<Capacity>(pool, backend, actions, runtimes, warm, clock, copts);
        cap->set_id_source([this] { return "c" + std::to_string(++ids); });
        q = std::make_unique<InvokeQueue>(*cap, pool, actions, runtimes, deliverer, records,
                                          clock, iopts);
    }

    // Starts a warm container of action the way a gateway miss would.
    void warm_container(const std::string &action, const std::string &addr) {
        cap->request(action, pool.of_action(action, State::warm).size() > 0,
                     [](int, const nlohmann::json &) {});
        backend.ready("c" + std::to_string(ids), addr);
    }

    FakeClock clock;
    FakeBackend backend;
    FakeActions actions;
    FakeWarm warm;
    FakeDeliverer deliverer;
    FakeRecords records;
    Runtimes runtimes;
    Pool pool;
    CapacityOptions copts;
    InvokeOptions iopts;
    std::unique_ptr<Capacity> cap;
    std::unique_ptr<InvokeQueue> q;
    int ids = 0;
};

TEST_F(InvokeQueueTest, AnswersAtOnceThenDeliversAfterTheColdStart) {
    InvokeAnswer a = invoke("guest/hello", kId1);
    EXPECT_EQ(a.status, 202);
    EXPECT_EQ(a.body, nlohmann::json({{"activationId", kId1}}));
    EXPECT_EQ(header(a, "x-openwhisk-activation-id"), kId1);
    EXPECT_TRUE(backend.started.empty()) << "nothing starts before the 202 is on its way";
    EXPECT_EQ(q->queued(), 1u);

    clock.advance(0);
    ASSERT_EQ(backend.started.size(), 1u);
    EXPECT_EQ(deliverer.posts.size(), 0u);
    backend.ready("c1", "127.0.0.1:9001");
    ASSERT_EQ(deliverer.posts.size(), 1u);
    const Post &p = deliverer.posts[0];
    EXPECT_EQ(p.addr, "127.0.0.1:9001");
    EXPECT_EQ(p.req.activation_id, kId1);
    EXPECT_EQ(p.req.ns, "guest");
    EXPECT_EQ(p.req.subject, "guest-subject");
    EXPECT_EQ(p.req.action, "guest/hello");
    EXPECT_EQ(p.req.accept_ms, 999000);
    EXPECT_EQ(p.req.authorization, "Basic abc");
    EXPECT_EQ(p.req.traceparent, "00-tp");
    EXPECT_EQ(p.req.query, "blocking=false&result=false");
    EXPECT_EQ(p.req.body, R"({"name":"x"})");
    EXPECT_EQ(p.timeout_ms, iopts.attempt_timeout_ms);

    deliverer.answer(202);
    EXPECT_EQ(q->queued(), 0u);
    EXPECT_EQ(q->queued_bytes(), 0u);
    EXPECT_EQ(q->delivered(), 1u);
    EXPECT_TRUE(records.records.empty()) << "the sidecar writes the record of a delivered one";
    EXPECT_EQ(clock.pending(), 0u);
}

TEST_F(InvokeQueueTest, WarmContainerGetsItWithoutAStart) {
    warm_container("guest/hello", "127.0.0.1:9001");
    invoke("guest/hello", kId1);
    clock.advance(0);
    ASSERT_EQ(deliverer.posts.size(), 1u);
    EXPECT_EQ(backend.started.size(), 1u);
    deliverer.answer(202);
    EXPECT_EQ(q->queued(), 0u);
}

TEST_F(InvokeQueueTest, ColdInvokesCoalesceWithCapacityRequests) {
    bool gateway_answered = false;
    cap->request("guest/hello", false,
                 [&](int s, const nlohmann::json &) { gateway_answered = s == 200; });
    for (int i = 0; i < 3; i++) EXPECT_EQ(invoke("guest/hello", id(i)).status, 202);
    clock.advance(0);
    EXPECT_EQ(backend.started.size(), 1u) << "one start for the gateway and three invokes";
    backend.ready("c1", "127.0.0.1:9001");
    EXPECT_TRUE(gateway_answered);
    EXPECT_EQ(deliverer.posts.size(), 3u);
    for (int i = 0; i < 3; i++) deliverer.answer(202);
    EXPECT_EQ(q->delivered(), 3u);
}

TEST_F(InvokeQueueTest, BadRequestsAre400) {
    struct Case {
        std::map<std::string, std::string> headers;
        std::string query, body, msg;
    };
    std::vector<Case> cases = {
        {{{"X-OW-Activation-Id", ""}}, "", "{}", "X-OW-Activation-Id must be 32 lowercase hex digits."},
        {{{"X-OW-Activation-Id", "ABCDEF0123456789ABCDEF0123456789"}}, "", "{}",
         "X-OW-Activation-Id must be 32 lowercase hex digits."},
        {{{"X-OW-Path", ""}}, "", "{}", ""},
        {{{"X-OW-Path", "noslash"}}, "", "{}", ""},
        {{{"X-OW-Namespace", ""}}, "", "{}", ""},
        {{{"X-OW-Accept-Time", "soon"}}, "", "{}", "X-OW-Accept-Time must be epoch milliseconds."},
        {{}, "blocking=true", "{}", ""},
        {{}, "blocking=false&timeout=0", "{}", "Timeout must be number of milliseconds up to 60000."},
        {{}, "timeout=60001", "{}", "Timeout must be number of milliseconds up to 60000."},
        {{}, "", "[1]", "The request content was malformed:\nexpected a JSON object."},
        {{}, "", "{", "The request content was malformed:\nexpected a JSON object."},
    };
    for (const Case &c : cases) {
        InvokeAnswer a = invoke("guest/hello", kId1, c.body, c.query, c.headers);
        EXPECT_EQ(a.status, 400) << c.query << c.body;
        if (!c.msg.empty()) {
            EXPECT_EQ(a.body["error"], c.msg);
        }
    }
    EXPECT_EQ(invoke("guest/hello", kId1, "", "timeout=60000").status, 202)
        << "an empty body and a valid timeout are fine";
    EXPECT_EQ(q->queued(), 1u);
    EXPECT_EQ(actions.lookups, 1) << "bad requests never reach Redis";
}

TEST_F(InvokeQueueTest, UnknownActionUnsupportedKindAndNamespaceCap) {
    InvokeAnswer a = invoke("guest/nope", kId1);
    EXPECT_EQ(a.status, 404);
    EXPECT_EQ(a.body, nlohmann::json({{"error", "The requested resource does not exist."},
                                      {"code", kId1}}));
    EXPECT_EQ(header(a, "x-openwhisk-activation-id"), kId1);
    a = invoke("guest/java", kId1);
    EXPECT_EQ(a.status, 400);
    EXPECT_EQ(a.body["error"], "kind 'java:8' is not supported by this deployment");

    warm_container("capped/a0", "127.0.0.1:9100");
    warm_container("capped/a1", "127.0.0.1:9101");
    a = invoke("capped/a2", kId1, "{}", "", {{"X-OW-Namespace", "capped"}});
    EXPECT_EQ(a.status, 429);
    EXPECT_EQ(a.body["error"], "Too many containers for namespace 'capped' (limit 2).");
    // ... but an action of that namespace with a container of its own is fine
    a = invoke("capped/a0", kId1, "{}", "", {{"X-OW-Namespace", "capped"}});
    EXPECT_EQ(a.status, 202);
    EXPECT_EQ(q->queued(), 1u);
}

TEST_F(InvokeQueueTest, BoundsAnswer503WithRetryAfter) {
    for (int i = 0; i < 4; i++) EXPECT_EQ(invoke("guest/hello", id(i)).status, 202);
    InvokeAnswer a = invoke("guest/hello", id(4));
    EXPECT_EQ(a.status, 503);
    EXPECT_EQ(header(a, "Retry-After"), "1");
    EXPECT_EQ(a.body["code"], id(4));
    EXPECT_EQ(a.body["error"], "Too many requests are waiting for containers; retry.");
    // another action still has room, up to the overall bound (10)
    for (int i = 0; i < 4; i++) EXPECT_EQ(invoke("guest/pkg/two", id(10 + i)).status, 202);
    EXPECT_EQ(q->queued(), 8u);
    // the byte bound (1000): a 950-byte body does not fit beside these
    std::string big = R"({"p":")" + std::string(950, 'x') + R"("})";
    EXPECT_EQ(invoke("guest/java", id(20), big).status, 503);
    // delivering frees the slots
    clock.advance(0);
    backend.ready("c1", "127.0.0.1:9001");
    for (int i = 0; i < 4; i++) deliverer.answer(202);
    EXPECT_EQ(q->queued("guest/hello"), 0u);
    EXPECT_EQ(invoke("guest/hello", id(5)).status, 202);
}

TEST_F(InvokeQueueTest, BusyContainerThenNextThenScale) {
    remake(10);
    warm_container("guest/hello", "127.0.0.1:9001");
    warm_container("guest/hello", "127.0.0.1:9002");
    invoke("guest/hello", kId1);
    clock.advance(0);
    ASSERT_EQ(deliverer.posts.size(), 1u);
    deliverer.answer(429, 3);
    ASSERT_EQ(deliverer.posts.size(), 2u) << "another warm container is tried at once";
    EXPECT_NE(deliverer.posts[1].addr, deliverer.posts[0].addr);
    deliverer.fail(Delivery::unsent);
    // every warm container refused: capacity is asked to scale (one start)
    ASSERT_EQ(backend.started.size(), 3u);
    EXPECT_EQ(deliverer.open(), 0u);
    backend.ready("c3", "127.0.0.1:9003");
    ASSERT_EQ(deliverer.posts.size(), 3u);
    EXPECT_EQ(deliverer.posts[2].addr, "127.0.0.1:9003");
    deliverer.answer(202);
    EXPECT_EQ(q->delivered(), 1u);
    EXPECT_TRUE(records.records.empty());
}

TEST_F(InvokeQueueTest, EveryoneBusyWaitsRetryAfterThenStartsOver) {
    remake(1);  // no scaling possible
    warm_container("guest/hello", "127.0.0.1:9001");
    invoke("guest/hello", kId1);
    clock.advance(0);
    deliverer.answer(429, 2);
    // scale → namespace cap 429 from capacity → wait Retry-After (2 s)
    EXPECT_EQ(deliverer.posts.size(), 1u);
    clock.advance(1999);
    EXPECT_EQ(deliverer.posts.size(), 1u);
    clock.advance(1);
    ASSERT_EQ(deliverer.posts.size(), 2u) << "a new round tries the same container again";
    EXPECT_EQ(deliverer.posts[1].addr, "127.0.0.1:9001");
    deliverer.answer(202);
    EXPECT_EQ(q->delivered(), 1u);
}

TEST_F(InvokeQueueTest, AttemptsUsedUpWriteAFailureRecord) {
    remake(1);
    warm_container("guest/hello", "127.0.0.1:9001");
    invoke("guest/hello", kId1, "{}", "", {{"X-OW-Accept-Time", std::to_string(clock.now)}});
    clock.advance(0);
    for (int i = 0; i < 100 && deliverer.open() > 0; i++) {
        deliverer.answer(503);
        clock.advance(5000);
    }
    // each round: one POST (counted) + the refused scale (counted)
    EXPECT_EQ(deliverer.posts.size(), 3u);
    ASSERT_EQ(records.records.size(), 1u);
    const nlohmann::json &r = records.records[0];
    EXPECT_EQ(r["activationId"], kId1);
    EXPECT_EQ(r["response"]["status"], "whisk internal error");
    EXPECT_EQ(r["response"]["success"], false);
    std::string err = r["response"]["result"]["error"];
    EXPECT_NE(err.find("after 5 attempts"), std::string::npos) << err;
    EXPECT_EQ(q->queued(), 0u);
    EXPECT_EQ(q->failed(), 1u);
    EXPECT_EQ(clock.pending(), 0u);
}

TEST_F(InvokeQueueTest, DeadlineWritesAFailureRecord) {
    iopts.max_attempts = 1000;
    iopts.deadline_ms = 10000;
    q = std::make_unique<InvokeQueue>(*cap, pool, actions, runtimes, deliverer, records, clock,
                                      iopts);
    invoke("guest/hello", kId1);
    clock.advance(0);
    ASSERT_EQ(backend.started.size(), 1u);
    clock.advance(10000);
    EXPECT_TRUE(records.records.empty()) << "the start in flight is still awaited";
    // the capacity deadline (30 s) answers 503; the invoke deadline has passed
    clock.advance(20000);
    ASSERT_EQ(records.records.size(), 1u);
    std::string err = records.records[0]["response"]["result"]["error"];
    EXPECT_EQ(err.rfind("No container of the action could take the activation within 10 s", 0),
              0u) << err;
}

TEST_F(InvokeQueueTest, InitFailureRecordHasTheInitError) {
    invoke("guest/hello", kId1, "{}", "", {{"X-OW-Accept-Time", std::to_string(clock.now - 5)}});
    clock.advance(0);
    clock.advance(300);
    StartResult res;
    res.status = StartResult::init_failed;
    res.error = "Initialization has failed due to: SyntaxError: boom";
    backend.finish("c1", res);
    EXPECT_EQ(deliverer.posts.size(), 0u);
    EXPECT_EQ(backend.started.size(), 1u) << "an init failure is not retried";
    ASSERT_EQ(records.records.size(), 1u);
    const nlohmann::json &r = records.records[0];
    EXPECT_EQ(r["namespace"], "guest");
    EXPECT_EQ(r["name"], "hello");
    EXPECT_EQ(r["version"], "0.0.7");
    EXPECT_EQ(r["subject"], "guest-subject");
    EXPECT_EQ(r["start"], clock.now);
    EXPECT_EQ(r["end"], clock.now);
    EXPECT_EQ(r["duration"], 0);
    EXPECT_EQ(r["logs"], nlohmann::json::array());
    EXPECT_EQ(r["response"], nlohmann::json::parse(
                                 R"({"status":"whisk internal error","success":false,)"
                                 R"("result":{"error":"Initialization has failed due to: )"
                                 R"(SyntaxError: boom"}})"));
    nlohmann::json ann = r["annotations"];
    EXPECT_EQ(ann[0], nlohmann::json({{"key", "path"}, {"value", "guest/hello"}}));
    EXPECT_EQ(ann[1], nlohmann::json({{"key", "waitTime"}, {"value", 305}}));
    EXPECT_EQ(ann[2], nlohmann::json({{"key", "kind"}, {"value", "nodejs:20"}}));
    EXPECT_EQ(ann[3], nlohmann::json({{"key", "timeout"}, {"value", false}}));
    EXPECT_EQ(ann[4]["value"]["memory"], 256);
    EXPECT_EQ(q->queued(), 0u);
}

TEST_F(InvokeQueueTest, LostAnswerIsNotSentAgain) {
    warm_container("guest/hello", "127.0.0.1:9001");
    warm_container("guest/hello", "127.0.0.1:9002");
    invoke("guest/hello", kId1);
    clock.advance(0);
    deliverer.fail(Delivery::lost);
    EXPECT_EQ(deliverer.posts.size(), 1u) << "at most once: the sidecar may have it";
    // the failure record waits until a run would have ended (its real
    // record would be stored first)
    EXPECT_EQ(records.records.size(), 0u);
    clock.advance(60000 + 5000);
    EXPECT_EQ(deliverer.posts.size(), 1u);
    ASSERT_EQ(records.records.size(), 1u);
    EXPECT_EQ(q->queued(), 0u);
}

TEST_F(InvokeQueueTest, SidecarRefusalIsFinalWithItsMessage) {
    warm_container("guest/hello", "127.0.0.1:9001");
    warm_container("guest/hello", "127.0.0.1:9002");
    invoke("guest/hello", kId1);
    clock.advance(0);
    deliverer.answer_body(400, R"({"error":"Request defines parameters that are not allowed )"
                               R"((e.g., reserved properties).","code":"x"})");
    EXPECT_EQ(deliverer.posts.size(), 1u);
    ASSERT_EQ(records.records.size(), 1u);
    EXPECT_EQ(records.records[0]["response"]["result"]["error"],
              "Request defines parameters that are not allowed (e.g., reserved properties).");
}

TEST_F(InvokeQueueTest, RecordWriteIsRetriedWhileTheSlotIsHeld) {
    records.failures_left = 2;
    invoke("guest/hello", kId1);
    clock.advance(0);
    StartResult res;
    res.status = StartResult::init_failed;
    res.error = "boom";
    backend.finish("c1", res);
    EXPECT_TRUE(records.records.empty());
    EXPECT_EQ(q->queued(), 1u) << "the slot is held until the record is stored";
    EXPECT_EQ(q->queued_bytes(), 0u) << "but the body is released";
    clock.advance(iopts.record_retry_ms);
    EXPECT_TRUE(records.records.empty());
    clock.advance(iopts.record_retry_ms);
    EXPECT_EQ(records.records.size(), 1u);
    EXPECT_EQ(q->queued(), 0u);
    EXPECT_EQ(records.calls, 3);
}

TEST_F(InvokeQueueTest, ActionDeletedMeanwhile) {
    invoke("guest/hello", kId1);
    actions.docs.erase("guest/hello");
    clock.advance(0);
    ASSERT_EQ(records.records.size(), 1u);
    EXPECT_EQ(records.records[0]["response"]["result"]["error"], "The action no longer exists.");
}

TEST(InvokeQuery, NonBlockingOnly) {
    std::string err;
    EXPECT_TRUE(check_nonblocking_query("", &err));
    EXPECT_TRUE(check_nonblocking_query("blocking=false&result=true&timeout=1", &err));
    EXPECT_FALSE(check_nonblocking_query("blocking=%74rue", &err));
    EXPECT_FALSE(check_nonblocking_query("timeout=1x", &err));
    EXPECT_FALSE(check_nonblocking_query("timeout=", &err));
}

}  // namespace
}  // namespace ow::pm::test
