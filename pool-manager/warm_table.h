// warm_table.h: the warm-container table in Redis, which every gateway
// mirrors: hash owx:{warm} (id → entry JSON), counter owx:{warm}:ver, and one
// event per change on channel owx:warm:events, {"v":<ver>,"op":"add"|"del"|
// "mark"|"unmark","id","action","addr","concurrency"[,"marked":true]}. Each
// change is one Lua script (HSET or HDEL + INCR + PUBLISH), so a gateway
// never sees a version without its change. sync() rewrites the whole table to a desired set (startup
// reconcile, and recovery after a failed write): level-based, safe to re-run,
// one event per entry it adds or deletes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "pool-manager/clock.h"
#include "pool-manager/pool.h"

namespace ow {
class Redis;   // libow/redis_client.h
struct RedisResult;
}  // namespace ow

namespace ow::pm {

// What the pool logic needs from the table (faked in unit tests).
class WarmSink {
public:
    virtual ~WarmSink() = default;
    virtual void add(const Container &c) = 0;
    virtual void del(const Container &c) = 0;
};

// What the garbage collector needs from the table (garbage_collector.h;
// faked in unit tests). Marks are part of the table: the entry gains
// "marked":true and the change is published as op "mark" / "unmark", so
// every gateway learns it the way it learns adds and deletes.
class MarkSink {
public:
    enum class Sweep { swept, unmark_requested, not_marked, failed };
    virtual ~MarkSink() = default;
    // Writes c's entry with or without "marked" (c.marked_ms says which)
    // and publishes op "mark" or "unmark". False when Redis failed.
    virtual bool mark(const Container &c) = 0;
    virtual bool unmark(const Container &c) = 0;
    // Deletes c's entry (publishing "del") only if it is still marked in
    // the table and no gateway asked to unmark it: one script, so a
    // gateway's unmark request that lands first always wins. swept also
    // when the entry was already gone (nothing routes to it).
    virtual Sweep sweep(const Container &c) = 0;
    // The ids gateways asked to unmark (owx:{warm}:unmark) since the last
    // call; the requests are consumed. False when Redis failed.
    virtual bool take_unmarks(std::vector<std::string> *ids) = 0;
};

class WarmTable : public WarmSink, public MarkSink {
public:
    // desired() returns what the table should hold (the pool's warm
    // containers); it is used to recover after a failed write.
    WarmTable(Redis &redis, Clock &clock,
              std::function<std::vector<Container>()> desired);
    void add(const Container &c) override;
    void del(const Container &c) override;
    // Makes owx:{warm} hold exactly `want`; false when Redis failed.
    bool sync(const std::vector<Container> &want, std::string *err);
    // Reads owx:{warm} (startup reconcile): the entries as JSON objects.
    bool read_all(std::vector<std::string> *entries, std::string *err);
    // Retries sync(desired()) later, with backoff, until it succeeds.
    void resync_later() { schedule_resync(); }

    bool mark(const Container &c) override;
    bool unmark(const Container &c) override;
    Sweep sweep(const Container &c) override;
    bool take_unmarks(std::vector<std::string> *ids) override;

    // The fencing token every write carries (redis_lease.h), and what to do
    // when Redis refuses a write because a newer leader exists.
    void set_fence(std::function<int64_t()> token, std::function<void()> on_fenced) {
        fence_ = std::move(token);
        on_fenced_ = std::move(on_fenced);
    }

    // A new leader's first write: the fence becomes token unless it is
    // already higher (the Redis lease INCRs it itself; a Kubernetes Lease's
    // term lives in the API server).
    bool raise_fence(int64_t token, std::string *err);

    static const char *const kChangeScript;
    static const char *const kSyncScript;
    static const char *const kSweepScript;
    static const char *const kTakeUnmarksScript;

private:
    static const std::string &script(const char *body);
    std::string token() const;
    bool fenced(const RedisResult &r);
    bool change(const char *op, const Container &c);
    void schedule_resync();

    Redis &redis_;
    Clock &clock_;
    std::function<std::vector<Container>()> desired_;
    bool resync_pending_ = false;
    int64_t backoff_ms_ = 0;
    std::function<int64_t()> fence_;
    std::function<void()> on_fenced_;
};

}  // namespace ow::pm
