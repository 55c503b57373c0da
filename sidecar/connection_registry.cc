// connection_registry.cc: see connection_registry.h.
#include "sidecar/connection_registry.h"

#include <hiredis/hiredis.h>

#include <chrono>

#include <boost/asio/post.hpp>

#include "libow/activation_store.h"
#include "libow/clock.h"
#include "libow/log.h"

namespace ow::sidecar {

// KEYS: connections, conn:<id>; ARGV: id, now ms, expiry ms, max, entry,
// ttl ms. {1, count} admitted, {0, count} full.
const char ConnectionRegistry::kAdmitLua[] =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])\n"
    "local n = redis.call('ZCARD', KEYS[1])\n"
    "if n >= tonumber(ARGV[4]) then return {0, n} end\n"
    "redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])\n"
    "redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[6])\n"
    "return {1, n + 1}\n";

// KEYS: connections, conn:<id>...; ARGV: expiry ms, ttl ms, then id, entry
// pairs in the order of the keys
const char ConnectionRegistry::kRefreshLua[] =
    "for i = 2, #KEYS do\n"
    "  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2 * i - 1])\n"
    "  redis.call('SET', KEYS[i], ARGV[2 * i], 'PX', ARGV[2])\n"
    "end\n"
    "return #KEYS - 1\n";

// KEYS: connections, conn:<id>; ARGV: id
const char ConnectionRegistry::kRemoveLua[] =
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "return redis.call('DEL', KEYS[2])\n";

// KEYS: rate:<minute>; ARGV: n. As the gateways' sync keeps it: 120 s.
const char ConnectionRegistry::kCountLua[] =
    "redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "return redis.call('EXPIRE', KEYS[1], 120)\n";

ConnectionRegistry::ConnectionRegistry(boost::asio::io_context &io, std::string host,
                                       uint16_t port, ow::RedisCredentials cred,
                                       ConnectionRegistryOptions opts)
    : io_(io), opts_(opts),
      redis_(std::move(host), port, std::move(cred), {opts.timeout_ms, 100, 2000}) {
    thread_ = std::thread([this] { run(); });
}

ConnectionRegistry::~ConnectionRegistry() { stop(0); }

bool ConnectionRegistry::push(Job job) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_ || queue_.size() >= kMaxQueued) return false;
        queue_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
}

void ConnectionRegistry::admit(const std::string &ns, const std::string &id, std::string entry,
                               int64_t max, AdmitDone done) {
    auto job = [this, ns, id, entry = std::move(entry), max, done](ow::Redis &redis) {
        int64_t now = ow::now_ms();
        std::string exp = std::to_string(now + opts_.ttl_ms);
        ow::RedisResult res = redis.command(
            {"EVAL", kAdmitLua, "2", ow::connections_key(ns), ow::connection_key(ns, id), id,
             std::to_string(now), exp, std::to_string(max), entry,
             std::to_string(opts_.ttl_ms)});
        Admit a = Admit::failed;
        int64_t count = 0;
        if (res.ok() && res.reply->type == REDIS_REPLY_ARRAY && res.reply->elements == 2 &&
            res.reply->element[0]->type == REDIS_REPLY_INTEGER &&
            res.reply->element[1]->type == REDIS_REPLY_INTEGER) {
            a = res.reply->element[0]->integer == 1 ? Admit::ok : Admit::full;
            count = res.reply->element[1]->integer;
        } else {
            ow::log_warn("connection_register_failed",
                         {{"connectionId", id}, {"error", res.error}});
        }
        boost::asio::post(io_, [done, a, count] { done(a, count); });
    };
    if (!push(std::move(job))) boost::asio::post(io_, [done] { done(Admit::failed, 0); });
}

void ConnectionRegistry::refresh(const std::string &ns,
                                 std::vector<std::pair<std::string, std::string>> entries) {
    if (entries.empty()) return;
    push([this, ns, entries = std::move(entries)](ow::Redis &redis) {
        std::vector<std::string> argv = {"EVAL", kRefreshLua,
                                         std::to_string(entries.size() + 1),
                                         ow::connections_key(ns)};
        for (const auto &e : entries) argv.push_back(ow::connection_key(ns, e.first));
        argv.push_back(std::to_string(ow::now_ms() + opts_.ttl_ms));
        argv.push_back(std::to_string(opts_.ttl_ms));
        for (const auto &e : entries) {
            argv.push_back(e.first);
            argv.push_back(e.second);
        }
        ow::RedisResult res = redis.command(argv);
        if (!res.ok()) ow::log_warn("connection_refresh_failed", {{"error", res.error}});
    });
}

void ConnectionRegistry::remove(const std::string &ns, const std::string &id) {
    push([ns, id](ow::Redis &redis) {
        ow::RedisResult res = redis.command({"EVAL", kRemoveLua, "2", ow::connections_key(ns),
                                             ow::connection_key(ns, id), id});
        if (!res.ok())
            ow::log_warn("connection_remove_failed", {{"connectionId", id}, {"error", res.error}});
    });
}

void ConnectionRegistry::count(const std::string &ns, int64_t minute, int64_t n) {
    push([ns, minute, n](ow::Redis &redis) {
        ow::RedisResult res = redis.command({"EVAL", kCountLua, "1",
                                             ow::rate_key(ns, std::to_string(minute)),
                                             std::to_string(n)});
        if (!res.ok()) ow::log_warn("message_count_failed", {{"error", res.error}});
    });
}

void ConnectionRegistry::stop(int64_t deadline_ms) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!thread_.joinable()) return;
        stopping_ = true;
        deadline_ = deadline_ms;
    }
    cv_.notify_one();
    thread_.join();
}

void ConnectionRegistry::run() {
    for (;;) {
        Job job;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;
            if (stopping_ && ow::mono_ms() > deadline_) return;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        job(redis_);
    }
}

}  // namespace ow::sidecar
