// fire_consumer_test.cc: the fire consumer against an in-memory model of
// the two Redis lists (same LMOVE/LREM semantics), a fake clock, a fake
// invoke queue and a fake record sink: hand-over with the X-OW-* headers,
// acknowledgement only when the invoke queue is done, re-delivery after a
// consumer died holding a job, retries while the invoke queue is full,
// failure records, the in-flight bound of the taking thread.
#include "pool-manager/control/fire_consumer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <thread>

#include "pool-manager/fakes_test.h"

namespace ow::pm::test {
namespace {

// LPUSH onto queue = push_front; the consumer takes the back (RIGHT) and
// puts it at the front (LEFT) of processing.
class FakeFireStore : public FireStore {
public:
    std::deque<std::string> queue, processing;
    bool down = false;
    int done_calls = 0;
    mutable std::mutex mu;

    void lpush(const std::string &job) {
        std::lock_guard<std::mutex> lk(mu);
        queue.push_front(job);
    }
    size_t processing_size() {
        std::lock_guard<std::mutex> lk(mu);
        return processing.size();
    }
    Take take(int64_t, std::string *job, std::string *err) override {
        std::lock_guard<std::mutex> lk(mu);
        if (down) {
            *err = "redis down";
            return failed;
        }
        if (queue.empty()) return empty;
        *job = queue.back();
        queue.pop_back();
        processing.push_front(*job);
        return taken;
    }
    bool done(const std::string &job, std::string *err) override {
        std::lock_guard<std::mutex> lk(mu);
        done_calls++;
        if (down) {
            *err = "redis down";
            return false;
        }
        for (auto it = processing.rbegin(); it != processing.rend(); ++it) {
            if (*it == job) {
                processing.erase(std::next(it).base());
                break;
            }
        }
        return true;
    }
    bool recover(size_t *moved, std::string *err) override {
        std::lock_guard<std::mutex> lk(mu);
        if (down) {
            *err = "redis down";
            return false;
        }
        *moved = 0;
        while (!processing.empty()) {
            queue.push_back(processing.front());
            processing.pop_front();
            ++*moved;
        }
        return true;
    }
};

class FakeRecords : public RecordSink {
public:
    std::vector<nlohmann::json> records;
    bool write(const nlohmann::json &record, std::string *) override {
        records.push_back(record);
        return true;
    }
};

struct Submitted {
    std::map<std::string, std::string> headers;
    std::string query, body;
    std::function<void()> done;
};

// The invoke queue: answers with `status` (202 keeps done for later).
struct FakeInvokes {
    std::vector<Submitted> calls;
    int status = 202;
    std::string error = "";
    std::mutex mu;

    FireSubmit fn() {
        return [this](const HeaderFn &h, const std::string &q, std::string body,
                      std::function<void()> done) {
            std::lock_guard<std::mutex> lk(mu);
            Submitted s;
            for (const char *n : {"X-OW-Activation-Id", "X-OW-Namespace", "X-OW-Subject",
                                  "X-OW-Path", "X-OW-Accept-Time", "X-OW-Cause"}) {
                s.headers[n] = h(n);
            }
            s.query = q;
            s.body = body;
            InvokeAnswer a;
            a.status = status;
            if (status == 202) {
                s.done = std::move(done);
                a.body = {{"activationId", s.headers["X-OW-Activation-Id"]}};
            } else {
                a.body = {{"error", error}, {"code", ""}};
            }
            calls.push_back(std::move(s));
            return a;
        };
    }
    size_t count() {
        std::lock_guard<std::mutex> lk(mu);
        return calls.size();
    }
};

const char kAid[] = "0123456789abcdef0123456789abcdef";
const char kAid2[] = "1123456789abcdef0123456789abcdef";
const char kCause[] = "fedcba9876543210fedcba9876543210";

std::string job(const std::string &aid, const std::string &params = R"({"a":1,"b":"x"})") {
    return std::string(R"({"activationId":")") + aid +
           R"(","action":"guest/hello","namespace":"guest","subject":"guest-subject",)"
           R"("cause":")" + kCause + R"(","trigger":"guest\/t","rule":"guest/r",)"
           R"("acceptTime":1700000000000,"params":)" + params + "}";
}

struct FireConsumerTest : ::testing::Test {
    FakeClock clock;
    FakeFireStore store;
    FakeRecords records;
    FakeInvokes invokes;
    FireOptions opts;
    std::unique_ptr<FireConsumer> consumer;

    void make() {
        consumer = std::make_unique<FireConsumer>(
            store, store, invokes.fn(), records, clock,
            [](std::function<void()> fn) { fn(); }, opts);
    }
};

TEST(FireJob, ParsesTheScriptsJob) {
    FireJob j;
    std::string err;
    ASSERT_TRUE(parse_fire_job(job(kAid, R"({"n":12345678901234567,"e":[]})"), &j, &err)) << err;
    EXPECT_EQ(j.activation_id, kAid);
    EXPECT_EQ(j.action, "guest/hello");
    EXPECT_EQ(j.ns, "guest");
    EXPECT_EQ(j.subject, "guest-subject");
    EXPECT_EQ(j.cause, kCause);
    EXPECT_EQ(j.rule, "guest/r");
    EXPECT_EQ(j.accept_ms, 1700000000000);
    // big integers and empty arrays survive
    EXPECT_EQ(j.params, R"({"e":[],"n":12345678901234567})");

    EXPECT_FALSE(parse_fire_job("nope", &j, &err));
    EXPECT_FALSE(parse_fire_job(R"({"activationId":"x","action":"a/b","namespace":"a",
                                     "params":{}})", &j, &err));
    EXPECT_FALSE(parse_fire_job(job(kAid, "[1]"), &j, &err));
}

TEST_F(FireConsumerTest, HandsTheJobOverAndAcknowledgesOnlyWhenDone) {
    make();
    store.lpush(job(kAid));
    EXPECT_EQ(consumer->poll_once(0), FireStore::taken);
    ASSERT_EQ(invokes.calls.size(), 1u);
    const Submitted &s = invokes.calls[0];
    EXPECT_EQ(s.headers.at("X-OW-Activation-Id"), kAid);
    EXPECT_EQ(s.headers.at("X-OW-Namespace"), "guest");
    EXPECT_EQ(s.headers.at("X-OW-Subject"), "guest-subject");
    EXPECT_EQ(s.headers.at("X-OW-Path"), "guest/hello");
    EXPECT_EQ(s.headers.at("X-OW-Accept-Time"), "1700000000000");
    EXPECT_EQ(s.headers.at("X-OW-Cause"), kCause);
    EXPECT_EQ(s.query, "blocking=false");
    EXPECT_EQ(nlohmann::json::parse(s.body), nlohmann::json({{"a", 1}, {"b", "x"}}));

    // delivered? not yet: the job stays in the processing list
    EXPECT_EQ(store.processing.size(), 1u);
    EXPECT_EQ(consumer->in_flight(), 1u);
    invokes.calls[0].done();
    EXPECT_EQ(store.processing.size(), 0u);
    EXPECT_EQ(consumer->in_flight(), 0u);
    EXPECT_EQ(consumer->handed(), 1u);
    EXPECT_TRUE(records.records.empty());
    EXPECT_EQ(consumer->poll_once(0), FireStore::empty);
}

TEST_F(FireConsumerTest, AJobTakenByAConsumerThatDiedIsDeliveredByTheNext) {
    make();
    store.lpush(job(kAid));
    store.lpush(job(kAid2));
    EXPECT_EQ(consumer->poll_once(0), FireStore::taken);
    EXPECT_EQ(consumer->poll_once(0), FireStore::taken);
    ASSERT_EQ(invokes.calls.size(), 2u);
    // killed before any sidecar accepted either job
    invokes.calls.clear();
    consumer.reset();
    EXPECT_EQ(store.processing.size(), 2u);
    EXPECT_TRUE(store.queue.empty());

    make();
    ASSERT_TRUE(consumer->recover_now());
    EXPECT_TRUE(store.processing.empty());
    EXPECT_EQ(store.queue.size(), 2u);
    // in their original order, oldest first
    EXPECT_EQ(consumer->poll_once(0), FireStore::taken);
    EXPECT_EQ(consumer->poll_once(0), FireStore::taken);
    ASSERT_EQ(invokes.calls.size(), 2u);
    EXPECT_EQ(invokes.calls[0].headers.at("X-OW-Activation-Id"), kAid);
    EXPECT_EQ(invokes.calls[1].headers.at("X-OW-Activation-Id"), kAid2);
    invokes.calls[0].done();
    invokes.calls[1].done();
    EXPECT_TRUE(store.processing.empty());
}

TEST_F(FireConsumerTest, AFullInvokeQueueIsRetriedWithTheJobInHand) {
    make();
    invokes.status = 503;
    invokes.error = "Too many requests are waiting for containers; retry.";
    store.lpush(job(kAid));
    consumer->poll_once(0);
    EXPECT_EQ(invokes.calls.size(), 1u);
    EXPECT_EQ(consumer->in_flight(), 1u);
    clock.advance(opts.retry_ms);
    EXPECT_EQ(invokes.calls.size(), 2u);
    invokes.status = 202;
    clock.advance(2 * opts.retry_ms);
    ASSERT_EQ(invokes.calls.size(), 3u);
    EXPECT_EQ(store.processing.size(), 1u);
    invokes.calls[2].done();
    EXPECT_EQ(store.processing.size(), 0u);
    EXPECT_EQ(consumer->in_flight(), 0u);
    EXPECT_TRUE(records.records.empty());
}

TEST_F(FireConsumerTest, StillFullAtTheDeadlineWritesAFailureRecord) {
    make();
    invokes.status = 429;
    invokes.error = "Too many containers for namespace 'guest' (limit 1).";
    store.lpush(job(kAid));
    consumer->poll_once(0);
    clock.advance(opts.deadline_ms + opts.max_retry_ms);
    ASSERT_EQ(records.records.size(), 1u);
    const auto &r = records.records[0];
    EXPECT_EQ(r["activationId"], kAid);
    EXPECT_EQ(r["cause"], kCause);
    EXPECT_EQ(r["namespace"], "guest");
    EXPECT_EQ(r["name"], "hello");
    EXPECT_EQ(r["response"]["status"], "whisk internal error");
    EXPECT_NE(r["response"]["result"]["error"].get<std::string>().find("limit 1"),
              std::string::npos);
    EXPECT_TRUE(store.processing.empty());
    EXPECT_EQ(consumer->in_flight(), 0u);
    EXPECT_EQ(clock.pending(), 0u);
}

TEST_F(FireConsumerTest, ARefusedJobGetsItsFailureRecordAtOnce) {
    make();
    invokes.status = 404;
    invokes.error = "The requested resource does not exist.";
    store.lpush(job(kAid));
    consumer->poll_once(0);
    ASSERT_EQ(records.records.size(), 1u);
    EXPECT_EQ(records.records[0]["cause"], kCause);
    EXPECT_EQ(records.records[0]["response"]["result"]["error"],
              "The requested resource does not exist.");
    EXPECT_TRUE(store.processing.empty());
    EXPECT_EQ(consumer->failed(), 1u);
}

TEST_F(FireConsumerTest, AMalformedJobIsDroppedNotRetriedForever) {
    make();
    store.lpush("{\"not\":\"a job\"}");
    consumer->poll_once(0);
    EXPECT_TRUE(invokes.calls.empty());
    EXPECT_TRUE(store.processing.empty());
    EXPECT_EQ(consumer->in_flight(), 0u);
}

TEST_F(FireConsumerTest, AnAcknowledgementIsRetriedWhileRedisIsAway) {
    make();
    store.lpush(job(kAid));
    consumer->poll_once(0);
    store.down = true;
    invokes.calls[0].done();
    EXPECT_EQ(store.processing.size(), 1u);
    EXPECT_EQ(consumer->in_flight(), 1u);
    store.down = false;
    clock.advance(opts.backoff_ms);
    EXPECT_TRUE(store.processing.empty());
    EXPECT_EQ(consumer->in_flight(), 0u);
}

TEST_F(FireConsumerTest, TheTakingThreadStopsAtTheInFlightBound) {
    opts.max_in_flight = 2;
    opts.take_wait_ms = 5;
    make();
    for (int i = 0; i < 5; i++) {
        std::string aid = kAid;
        aid[0] = static_cast<char>('a' + i);
        store.lpush(job(aid));
    }
    consumer->start();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (invokes.count() < 2 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // a few more take rounds would have passed by now: still two
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    consumer->stop();
    EXPECT_EQ(invokes.count(), 2u);
    EXPECT_EQ(store.processing_size(), 2u);
    EXPECT_EQ(store.queue.size(), 3u);
}

}  // namespace
}  // namespace ow::pm::test
