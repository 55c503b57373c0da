// fire_consumer.h: runs the rule invocations of fired triggers.
//
// A fire is answered by the gateway (modules/engine/ow_api_fire.c) once one job
// per active rule is on the durable Redis list owx:{fire}:queue. This
// consumer takes the jobs and hands each to the invoke queue exactly as a
// non-blocking invoke that needs capacity (invoke_queue.h): capacity,
// delivery to a sidecar, a failure record when that cannot be done.
//
// Reliability: a job is moved atomically (BLMOVE) from the queue to
// owx:{fire}:processing when taken, and removed from there only when the
// invoke queue is done with it (a sidecar accepted it, or its failure
// record is written). A pool-manager killed in between leaves it in the
// processing list; the next one moves such jobs back to the queue before
// it takes any (at least once: a job whose sidecar answered just before
// the kill runs twice). One pool-manager consumes per Redis, as one owns
// the warm table.
//
// Threads: the blocking take runs on a thread of its own with its own
// Redis connection (the io thread's connection has a 250 ms deadline and
// must never block); every job is handled on the io thread (post). At most
// max_in_flight jobs are taken and not yet done: while the invoke queue is
// full (503) the jobs in hand are retried and no more are taken.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "pool-manager/clock.h"
#include "pool-manager/control/failure_record.h"
#include "pool-manager/control/invoke_queue.h"

namespace ow {
class Redis;   // libow/redis_client.h
}  // namespace ow

namespace ow::pm {

struct FireOptions {
    size_t max_in_flight = 100;     // taken, not yet delivered or failed
    int64_t take_wait_ms = 1000;    // one BLMOVE's wait
    int64_t retry_ms = 100;         // first wait after a 503/429 (doubling)
    int64_t max_retry_ms = 2000;
    int64_t deadline_ms = 60000;    // from taking a job to its hand-over
    int64_t backoff_ms = 100;       // after a Redis error (doubling)
    int64_t max_backoff_ms = 5000;
};

// One job as the gateway's script wrote it (docs/redis-schema.md).
struct FireJob {
    std::string activation_id;  // of the rule's action
    std::string action;         // "<ns>/[<pkg>/]<name>"
    std::string ns;             // the firing namespace
    std::string subject;
    std::string cause;          // the trigger's activation id
    std::string rule;           // "<ns>/<rule>", for the logs
    int64_t accept_ms = 0;
    std::string params;         // JSON object text
};

bool parse_fire_job(const std::string &raw, FireJob *job, std::string *err);

// The two Redis lists (a fake in unit tests).
class FireStore {
public:
    enum Take { taken, empty, failed };
    virtual ~FireStore() = default;
    // Moves the oldest queued job to the processing list, waiting up to
    // wait_ms for one.
    virtual Take take(int64_t wait_ms, std::string *job, std::string *err) = 0;
    // The job is done with: removed from the processing list.
    virtual bool done(const std::string &job, std::string *err) = 0;
    // Moves the processing list back to the queue's oldest end, in order
    // (a previous consumer took these and did not finish them).
    virtual bool recover(size_t *moved, std::string *err) = 0;
};

class RedisFireStore : public FireStore {
public:
    explicit RedisFireStore(Redis &redis) : redis_(redis) {}
    Take take(int64_t wait_ms, std::string *job, std::string *err) override;
    bool done(const std::string &job, std::string *err) override;
    bool recover(size_t *moved, std::string *err) override;

private:
    Redis &redis_;
};

// InvokeQueue::accept with a completion callback (a lambda over the real
// queue in the daemon, a fake in tests).
using FireSubmit = std::function<InvokeAnswer(const HeaderFn &, const std::string &query,
                                              std::string body, std::function<void()> done)>;
// Runs a function on the io thread.
using FirePost = std::function<void(std::function<void()>)>;

class FireConsumer {
public:
    // taker: used only by the taking thread; acker: only on the io thread.
    FireConsumer(FireStore &taker, FireStore &acker, FireSubmit submit, RecordSink &records,
                 Clock &clock, FirePost post, FireOptions opts);
    ~FireConsumer();

    // Starts the taking thread (recover first, then take).
    void start();
    // Stops taking (returns within take_wait_ms); jobs in hand stay in the
    // processing list for the next consumer.
    void stop();

    // For tests, on the calling thread: recover, or take one job and
    // handle it. Returns what take() said.
    bool recover_now();
    FireStore::Take poll_once(int64_t wait_ms);

    size_t in_flight() const { return in_flight_; }
    uint64_t handed() const { return handed_; }
    uint64_t failed() const { return failed_; }

private:
    struct Held;
    void run();
    void handle(const std::string &raw);
    void submit(const std::shared_ptr<Held> &h);
    void fail(const std::shared_ptr<Held> &h, const std::string &why);
    void ack(const std::shared_ptr<Held> &h);
    void release();
    bool sleep_unless_stopped(int64_t ms);

    FireStore &taker_;
    FireStore &acker_;
    FireSubmit submit_;
    RecordSink &records_;
    Clock &clock_;
    FirePost post_;
    FireOptions opts_;

    std::atomic<size_t> in_flight_{0};
    uint64_t handed_ = 0, failed_ = 0;  // io thread
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace ow::pm
