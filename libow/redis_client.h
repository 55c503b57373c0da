// redis_client.h: the daemons' synchronous Redis connection (hiredis), with
// a deadline on every call, AUTH after every connect, and backoff after a
// failure.
//
// Why sync: the daemons talk to Redis only on the control path, never on a
// warm invoke, and Redis is local; the one writer behind invokes (the
// sidecar's activation records) has a thread of its own, so a slow Redis
// never holds an answer. Every call has a deadline (connect and socket
// timeouts), so a caller blocks at most that long; after a failure the
// connection is dropped and reconnects back off exponentially (100 ms to 5 s
// by default): calls in between fail at once instead of blocking again,
// unless another connection of the process has reached Redis since the
// failure (the pool-manager's lease, renewed every second): then Redis is
// back and the call tries now, so a cold start after a Redis restart is not
// refused for up to 5 s more.
//
// Its users, each on one thread (a Redis is not shared between threads):
//   - the pool-manager's io thread (daemon.h: a cold start reads one action
//     document, each container change runs one Lua script, startup reads the
//     warm table, the lease), --redis-timeout (250 ms) deadline;
//   - the pool-manager's fire taker thread (control/fire_consumer.h: a
//     blocking BLMOVE on a connection of its own);
//   - the sidecar's io thread, at start and when a stemcell is specialized
//     (sidecar/action_store.h: the action's documents and code), 5 s
//     deadline: the sidecar serves nothing meanwhile;
//   - the sidecar's record writer thread (sidecar/record_writer.h:
//     pipelined EVALSHA batches, the script loaded by the on-connect hook),
//     off the response path; it paces its own retries (no backoff here).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libow/secrets.h"

struct redisContext;
struct redisReply;

namespace ow {

struct ReplyFree {
    void operator()(redisReply *r) const;
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

struct RedisResult {
    ReplyPtr reply;     // set when Redis answered (an error reply included)
    std::string error;  // set when it did not, or answered with an error
    bool ok() const { return reply && error.empty(); }
};

// One command's arguments, viewed: the strings must outlive the call.
using RedisArgs = std::vector<std::string_view>;

// Runs one command on the connection being set up: no reconnect, and no
// backoff of its own (a false hook is the connect's failure).
using RedisCall = std::function<RedisResult(const RedisArgs &argv)>;
// Run after every connect and AUTH, before the first command on that
// connection (the record writer's SCRIPT LOAD: a restarted Redis has an empty
// script cache). False with *err: the connect failed, and is retried as one.
using RedisOnConnect = std::function<bool(const RedisCall &call, std::string *err)>;

struct RedisOptions {
    int64_t timeout_ms = 250;   // connect, and every later write and read
    // After a failure, calls fail at once for backoff_min_ms, doubling up to
    // backoff_max_ms while connects keep failing. 0: no such window, every
    // call tries (for a caller that paces its own retries).
    int64_t backoff_min_ms = 100, backoff_max_ms = 5000;
};

class Redis {
public:
    // cred: AUTH right after every connect (read by libow/secrets.h); empty:
    // none. An error never holds the password.
    Redis(std::string host, uint16_t port, RedisCredentials cred, RedisOptions opts = {});
    ~Redis();
    Redis(const Redis &) = delete;
    Redis &operator=(const Redis &) = delete;

    void set_on_connect(RedisOnConnect hook) { on_connect_ = std::move(hook); }

    // One command: its reply, or why there is none.
    RedisResult command(const std::vector<std::string> &argv);
    // Sends every command in one write, then reads one reply each: one result
    // per command, in order, an error reply in its own. A timeout or an I/O
    // error (the connection's state is unknown: a reply may still arrive)
    // drops the connection and backs off as command() does; that command and
    // every later one get the error and no reply, the earlier ones keep theirs.
    std::vector<RedisResult> pipeline(const std::vector<RedisArgs> &commands);
    // Connects now unless connected, by the rules of a call (backoff, AUTH,
    // the hook): for a caller whose commands use what the hook learns.
    bool connect(std::string *err);
    // Closes the connection, not as a failure: the next call connects at once
    // (and runs the on-connect hook again).
    void disconnect();
    bool connected() const { return ctx_ != nullptr; }

private:
    // Calls fail at once for backoff_ms from now, unless another connection
    // of the process reaches Redis meanwhile.
    void failed(int64_t now, int64_t backoff_ms);

    std::string host_;
    uint16_t port_;
    RedisCredentials cred_;
    RedisOptions opts_;
    RedisOnConnect on_connect_;
    redisContext *ctx_ = nullptr;
    bool down_ = false;          // a failure since the last success
    int64_t backoff_ms_ = 0;     // the current fail-fast window
    int64_t next_try_ms_ = 0;    // monotonic ms before which we fail fast
    uint64_t connects_before_failure_ = 0;   // the process's, at the last failure
};

}  // namespace ow
