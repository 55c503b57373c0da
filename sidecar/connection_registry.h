// connection_registry.h: the WebSocket connections this sidecar holds, in
// Redis (docs/websockets.md): owx:{ns}:connections (the namespace's open
// connections, id by expiry) and owx:{ns}:conn:<id> (which container holds
// one: the REST API pushes through it).
//
// A connect is admitted by one Lua script, atomically with the namespace's
// limit: expired ids are dropped, the rest counted, the id added and its
// entry set with an expiry. While open, every id is refreshed (score and
// entry) every refresh_ms; at close both go. A sidecar that dies leaves
// entries that expire after ttl_ms, so a lost connection holds a place of
// the limit that long at most.
//
// Its own thread and synchronous Redis connection (libow/redis_client.h):
// the io thread never waits for Redis. Results come back on the io_context.
// The queue is bounded (kMaxQueued): past it a job fails at once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "libow/redis_client.h"
#include "libow/secrets.h"

namespace ow::sidecar {

struct ConnectionRegistryOptions {
    int64_t ttl_ms = 90000;        // an entry lives this long unrefreshed
    int64_t timeout_ms = 1000;     // each Redis call
};

class ConnectionRegistry {
public:
    static constexpr size_t kMaxQueued = 4096;
    enum class Admit { ok, full, failed };
    // count: the namespace's open connections, this one included when ok
    using AdmitDone = std::function<void(Admit, int64_t count)>;

    ConnectionRegistry(boost::asio::io_context &io, std::string host, uint16_t port,
                       ow::RedisCredentials cred, ConnectionRegistryOptions opts);
    ~ConnectionRegistry();
    ConnectionRegistry(const ConnectionRegistry &) = delete;
    ConnectionRegistry &operator=(const ConnectionRegistry &) = delete;

    // Registers id in ns unless ns has max open already; entry: the JSON of
    // owx:{ns}:conn:<id>. done runs on the io_context.
    void admit(const std::string &ns, const std::string &id, std::string entry, int64_t max,
               AdmitDone done);
    // Moves the expiry of these (id, entry) on by ttl_ms.
    void refresh(const std::string &ns,
                 std::vector<std::pair<std::string, std::string>> entries);
    void remove(const std::string &ns, const std::string &id);
    // Adds n to the namespace's invocations of an epoch minute
    // (owx:{ns}:rate:<minute>, the gateways' per-minute counter): the
    // messages run, which count against invocationsPerMinute.
    void count(const std::string &ns, int64_t minute, int64_t n);
    // Runs what is queued (until deadline_ms of monotonic time), joins.
    void stop(int64_t deadline_ms);

    int64_t ttl_ms() const { return opts_.ttl_ms; }

    // The scripts, for the unit test (they are the whole protocol).
    static const char kAdmitLua[];
    static const char kRefreshLua[];
    static const char kRemoveLua[];
    static const char kCountLua[];

private:
    using Job = std::function<void(ow::Redis &)>;
    bool push(Job job);
    void run();

    boost::asio::io_context &io_;
    ConnectionRegistryOptions opts_;
    ow::Redis redis_;   // the thread's only
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> queue_;
    bool stopping_ = false;
    int64_t deadline_ = 0;
    std::thread thread_;
};

}  // namespace ow::sidecar
