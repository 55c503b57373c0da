// redis.h: a synchronous hiredis connection used only from the io thread.
//
// Why sync: the pool-manager talks to Redis only on the control path (a
// cold start reads one action document; each container change runs one Lua
// script; startup reads the warm table), never on a warm invoke, and Redis
// is local. Every call has a deadline (connect and socket timeouts, default
// 250 ms), so the io thread blocks at most that long; after a failure the
// connection is dropped and reconnects back off exponentially (100 ms to
// 5 s): calls in between fail at once instead of blocking again, unless
// another connection of the process has reached Redis since the failure (the
// lease's, renewed every second): then Redis is back and the call tries now,
// so a cold start after a Redis restart is not refused for up to 5 s more.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libow/secrets.h"

struct redisContext;
struct redisReply;

namespace ow::pm {

struct ReplyFree {
    void operator()(redisReply *r) const;
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

struct RedisResult {
    ReplyPtr reply;     // set when Redis answered (an error reply included)
    std::string error;  // set when it did not, or answered with an error
    bool ok() const { return reply && error.empty(); }
};

class Redis {
public:
    // cred: AUTH right after every connect (libow/secrets.h); empty: none
    Redis(std::string host, uint16_t port, RedisCredentials cred, int64_t timeout_ms);
    ~Redis();
    Redis(const Redis &) = delete;
    Redis &operator=(const Redis &) = delete;

    RedisResult command(const std::vector<std::string> &argv);
    bool connected() const { return ctx_ != nullptr; }

private:
    bool connect(std::string *err);
    void drop();

    std::string host_;
    uint16_t port_;
    RedisCredentials cred_;
    int64_t timeout_ms_;
    redisContext *ctx_ = nullptr;
    int64_t backoff_ms_ = 0;     // 0: no failure since the last success
    int64_t next_try_ms_ = 0;    // monotonic ms before which we fail fast
    int64_t failed_ms_ = 0;      // monotonic ms of the last failure
};

}  // namespace ow::pm
