// record_writer.h: writes activation records to Redis off the response path.
//
// A dedicated thread with a synchronous hiredis connection drains a bounded
// queue. submit() never blocks: when the queue is full the record is dropped
// with a log line and counted (a slow Redis must not stall invocations).
// Each record is one EVALSHA of the write script (EVAL on NOSCRIPT); a failed
// write is retried once after reconnecting, then dropped and counted.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <atomic>

#include <nlohmann/json.hpp>

struct redisContext;

namespace owsc {

class RecordWriter {
public:
    RecordWriter(std::string host, uint16_t port, int64_t retention_ms,
                 size_t max_queue);
    ~RecordWriter();
    void start();
    // Queues a record (namespace, activationId and start are read from it).
    // False when dropped because the queue is full.
    bool submit(const nlohmann::json &record);
    // Stops taking records, writes what is queued (until deadline_ms of
    // monotonic time), joins the thread.
    void stop(int64_t deadline_ms);

    uint64_t written() const { return written_; }
    uint64_t dropped() const { return dropped_; }
    size_t queued();

private:
    struct Item { std::string ns, id, index, json; int64_t start; };
    void run();
    bool write_one(const Item &it);
    bool connect();

    std::string host_;
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
