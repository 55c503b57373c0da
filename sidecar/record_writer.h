// record_writer.h: writes activation records to Redis off the response path.
//
// A dedicated thread with a synchronous hiredis connection drains a bounded
// queue. submit() never blocks: when the queue is full the record is dropped
// with a log line and counted (a slow Redis must not stall invocations).
// Each record is one EVALSHA of the write script (EVAL on NOSCRIPT); a failed
// write is retried once after reconnecting, then dropped and counted.
// Under load the thread takes all queued records at once and pipelines their
// EVALSHAs (one write and one read for the batch instead of a round trip
// each). Records can be handed over unbuilt (RecordInput): building and
// serialising them, and the per-run log line, then happen on this thread,
// not on the io thread that answers invocations.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <atomic>

#include <nlohmann/json.hpp>

#include "libow/secrets.h"
#include "sidecar/activation_record.h"

struct redisContext;

namespace owsc {

class RecordWriter {
public:
    RecordWriter(std::string host, uint16_t port, ow::RedisCredentials cred,
                 int64_t retention_ms, size_t max_queue);
    ~RecordWriter();
    void start();
    // Queues a record (namespace, activationId and start are read from it).
    // False when dropped because the queue is full.
    bool submit(const nlohmann::json &record);
    // The same with the record still to build (and serialise) on the writer
    // thread; with log_run, the "run" log line is written there too.
    bool submit(RecordInput &&in, bool log_run);
    // A record already built (the io thread needed it for a response): it
    // is serialised on the writer thread.
    bool submit(nlohmann::json &&record, bool log_run);
    // Stops taking records, writes what is queued (until deadline_ms of
    // monotonic time), joins the thread.
    void stop(int64_t deadline_ms);

    uint64_t written() const { return written_; }
    uint64_t dropped() const { return dropped_; }
    size_t queued();

private:
    struct Item {
        RecordInput in;            // when !built
        nlohmann::json record;
        bool built = false, log_run = false;
        std::string ns, id, index, json;
        int64_t start = 0;
    };
    bool enqueue(Item &&it);
    void prepare(Item &it);
    void run();
    void write_batch(std::vector<Item> &batch);
    bool write_one(const Item &it);
    bool connect();

    std::string host_;
    ow::RedisCredentials cred_;
    uint16_t port_;
    int64_t retention_ms_;
    size_t max_queue_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Item> queue_;
    bool stopping_ = false;
    int64_t deadline_ = 0;
    std::thread thread_;
    redisContext *ctx_ = nullptr;
    std::string sha_;
    std::atomic<uint64_t> written_{0}, dropped_{0};
};

}  // namespace owsc
