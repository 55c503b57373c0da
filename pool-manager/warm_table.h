// warm_table.h: the warm-container table in Redis, which every gateway
// mirrors: hash owx:{warm} (id → entry JSON), counter owx:{warm}:ver, and one
// event per change on channel owx:warm:events, {"v":<ver>,"op":"add"|"del",
// "id","action","addr","concurrency"}. Each change is one Lua script (HSET or
// HDEL + INCR + PUBLISH), so a gateway never sees a version without its
// change. sync() rewrites the whole table to a desired set (startup
// reconcile, and recovery after a failed write): level-based, safe to re-run,
// one event per entry it adds or deletes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "pool-manager/clock.h"
#include "pool-manager/pool.h"

namespace ow::pm {

class Redis;

// What the pool logic needs from the table (faked in unit tests).
class WarmSink {
public:
    virtual ~WarmSink() = default;
    virtual void add(const Container &c) = 0;
    virtual void del(const Container &c) = 0;
};

class WarmTable : public WarmSink {
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

    static const char *const kChangeScript;
    static const char *const kSyncScript;

private:
    bool change(const char *op, const Container &c);
    void schedule_resync();

    Redis &redis_;
    Clock &clock_;
    std::function<std::vector<Container>()> desired_;
    bool resync_pending_ = false;
    int64_t backoff_ms_ = 0;
};

}  // namespace ow::pm
