// record_writer.h: writes activation records to Redis off the response path,
// and loses none while this process lives (docs/records.md).
//
// A dedicated thread with a synchronous Redis connection
// (libow/redis_client.h, used on that thread only) drains a hand-off queue
// (bounded by count: submit() never blocks). Records are written by the
// batch write script (first record of an id wins, so a write can be
// repeated), loaded on every connect: one EVALSHA for the records of one
// namespace and index name that follow each other, up to 64 records
// pipelined. Woken by a record, it lingers a few ms for the ones that follow
// (linger_ms): one wake-up and one Redis round trip a batch, not a record,
// also when records come one at a time.
//
// Redis away (down, restarting with LOADING, unreachable): the records wait
// in memory, bounded by --record-buffer bytes, and the whole buffer is
// retried with backoff (100 ms doubling to 5 s). Past the bound, the oldest
// go to the journal's spill files (bounded by --record-spill), replayed when
// Redis answers again; only when both are full is a record dropped (logged,
// counted in recordsDropped). A hand-off queue that is full spills on the
// caller's thread. A record Redis refuses for good (an error that is not a
// restart or a dropped connection) is dropped, logged, counted.
//
// With a journal every record carries the ticket of its accepted line
// (activation_journal.h), settled once stored or spilled. Stop (SIGTERM)
// writes until its deadline and spills the rest: the next sweep stores it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "libow/activation_journal.h"
#include "libow/log.h"
#include "libow/redis_client.h"
#include "libow/secrets.h"
#include "sidecar/activation.h"

namespace ow::sidecar {

struct RecordWriterOptions {
    int64_t retention_ms = 7 * 86400000LL;
    size_t max_queue = 1000;            // hand-off queue (records)
    size_t max_buffer_bytes = 16u << 20;  // records waiting for Redis, in memory
    int64_t min_backoff_ms = 100, max_backoff_ms = 5000;
    // how long the thread, woken by a record, waits for more to write with
    // it (ended early by a full batch or stop()); 0: writes at once
    int64_t linger_ms = 5;
};

class RecordWriter {
public:
    // journal: may be null (no spill; a full buffer drops)
    RecordWriter(std::string host, uint16_t port, ow::RedisCredentials cred,
                 RecordWriterOptions opts, ow::ActivationJournal *journal);
    ~RecordWriter();
    void start();
    // Queues an activation's record, built (and serialised) on the writer
    // thread; json: its serialisation when the io thread needed it already
    // (for an answer or the journal), else "". With log_run, the "run" log
    // line is written there too. ticket: its accepted line in the journal
    // (0: none). False when dropped.
    bool submit(Activation &&a, std::string json, bool log_run, uint64_t ticket);
    // Stops taking records, writes what is queued (until deadline_ms of
    // monotonic time; then spills it), joins the thread.
    void stop(int64_t deadline_ms);

    uint64_t written() const { return written_; }
    uint64_t dropped() const { return dropped_; }
    uint64_t spilled() const { return spilled_; }
    size_t queued();

private:
    struct Item {
        Activation act;            // until prepared (a spilled record has none)
        bool log_run = false;
        std::string ns, id, index, json;
        int64_t start = 0;
        uint64_t ticket = 0;
        // written in a script run of its own: a batch with it was refused
        bool alone = false;
    };
    enum class Outcome { stored, transient, refused };
    bool enqueue(Item &&it);
    void prepare(Item &it, ow::LogBatch *batch);
    void run();
    // Writes the front of pending_ (up to 64): stored and refused items
    // leave it. False when Redis is away (what is left waits for a retry).
    bool write_front();
    // Replays the oldest spill file; false when Redis is away.
    bool replay_spill();
    Outcome write_json(const std::string &json);
    void spill_or_drop(Item &it, const char *why);

    RecordWriterOptions opts_;
    ow::ActivationJournal *journal_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Item> queue_;
    bool stopping_ = false;
    int64_t deadline_ = 0;
    std::thread thread_;
    // writer thread only
    std::deque<Item> pending_;
    size_t pending_bytes_ = 0;
    ow::Redis redis_;
    std::string sha_;   // the write script's, set by each connect
    std::atomic<uint64_t> written_{0}, dropped_{0}, spilled_{0};
};

}  // namespace ow::sidecar
