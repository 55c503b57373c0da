// redis.cc: see redis.h.
#include "pool-manager/redis.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>

#include "libow/clock.h"
#include "libow/log.h"

namespace ow::pm {

namespace {
constexpr int64_t kBackoffMin = 100;
constexpr int64_t kBackoffMax = 5000;

// when any connection of the process last connected (monotonic ms)
std::atomic<int64_t> g_reached_ms{0};
}  // namespace

void ReplyFree::operator()(redisReply *r) const {
    if (r) freeReplyObject(r);
}

Redis::Redis(std::string host, uint16_t port, RedisCredentials cred, int64_t timeout_ms)
    : host_(std::move(host)), port_(port), cred_(std::move(cred)), timeout_ms_(timeout_ms) {}

Redis::~Redis() { drop(); }

void Redis::drop() {
    if (ctx_) {
        redisFree(ctx_);
        ctx_ = nullptr;
    }
}

bool Redis::connect(std::string *err) {
    int64_t now = ow::mono_ms();
    if (now < next_try_ms_ && g_reached_ms.load(std::memory_order_relaxed) < failed_ms_) {
        *err = "redis unavailable (reconnecting)";
        return false;
    }
    struct timeval tv;
    tv.tv_sec = timeout_ms_ / 1000;
    tv.tv_usec = (timeout_ms_ % 1000) * 1000;
    redisContext *c = redisConnectWithTimeout(host_.c_str(), port_, tv);
    bool connected = c != nullptr && c->err == 0;
    if (connected) {
        redisSetTimeout(c, tv);
        connected = ow::redis_auth(c, cred_, err);   // a refused AUTH backs off too
    } else {
        *err = std::string("redis connect: ") + (c ? c->errstr : "out of memory");
    }
    if (!connected) {
        if (c) redisFree(c);
        backoff_ms_ = backoff_ms_ == 0 ? kBackoffMin
                                       : std::min(backoff_ms_ * 2, kBackoffMax);
        next_try_ms_ = now + backoff_ms_;
        failed_ms_ = now;
        log_warn("redis_down", {{"error", *err}, {"retry_ms", backoff_ms_}});
        return false;
    }
    // (the same deadline for every later read and write on this socket)
    redisEnableKeepAlive(c);
    if (backoff_ms_ != 0) log_info("redis_up", {{"addr", host_ + ":" + std::to_string(port_)}});
    ctx_ = c;
    g_reached_ms.store(now, std::memory_order_relaxed);
    backoff_ms_ = 0;
    next_try_ms_ = 0;
    return true;
}

RedisResult Redis::command(const std::vector<std::string> &argv) {
    RedisResult res;
    if (!ctx_ && !connect(&res.error)) return res;
    std::vector<const char *> args;
    std::vector<size_t> lens;
    args.reserve(argv.size());
    lens.reserve(argv.size());
    for (const auto &a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    void *r = redisCommandArgv(ctx_, static_cast<int>(args.size()),
                               args.data(), lens.data());
    if (r == nullptr) {
        // Timeout or I/O error: the connection's state is unknown (a reply
        // may still arrive), so it is dropped and re-made with backoff.
        res.error = std::string("redis: ") + (ctx_->errstr[0] ? ctx_->errstr : "no reply");
        drop();
        backoff_ms_ = kBackoffMin;
        failed_ms_ = ow::mono_ms();
        next_try_ms_ = failed_ms_ + backoff_ms_;
        log_warn("redis_error", {{"error", res.error}});
        return res;
    }
    res.reply.reset(static_cast<redisReply *>(r));
    if (res.reply->type == REDIS_REPLY_ERROR) {
        res.error.assign(res.reply->str, res.reply->len);
    }
    return res;
}

}  // namespace ow::pm
