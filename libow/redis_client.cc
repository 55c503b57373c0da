// redis_client.cc: see redis_client.h.
#include "libow/redis_client.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>

#include "libow/clock.h"
#include "libow/log.h"

namespace ow {

namespace {

// how many times a connection of the process has connected (a count, not a
// time: a failure in the millisecond of another's connect is not "since")
std::atomic<uint64_t> g_connects{0};

// A reply (or its absence) as a result: an error reply is an error too.
RedisResult result_of(redisContext *c, void *reply) {
    RedisResult res;
    if (reply == nullptr) {
        res.error = std::string("redis: ") + (c->errstr[0] ? c->errstr : "no reply");
        return res;
    }
    res.reply.reset(static_cast<redisReply *>(reply));
    if (res.reply->type == REDIS_REPLY_ERROR) res.error.assign(res.reply->str, res.reply->len);
    return res;
}

// hiredis wants the arguments as two arrays
struct Argv {
    explicit Argv(const RedisArgs &args) {
        ptrs.reserve(args.size());
        lens.reserve(args.size());
        for (std::string_view a : args) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
    }
    int argc() const { return static_cast<int>(ptrs.size()); }
    std::vector<const char *> ptrs;
    std::vector<size_t> lens;
};

// One command on a connection being set up.
RedisResult call(redisContext *c, const RedisArgs &args) {
    Argv argv(args);
    return result_of(c, redisCommandArgv(c, argv.argc(), argv.ptrs.data(), argv.lens.data()));
}

// AUTH (nothing when the credentials are empty); *err never holds the
// password.
bool auth(redisContext *c, const RedisCredentials &cred, std::string *err) {
    if (cred.empty()) return true;
    RedisResult r = call(c, {"AUTH", cred.user, cred.password});
    if (!r.reply) {
        *err = std::string("redis AUTH: ") + (c->errstr[0] ? c->errstr : "no reply");
        return false;
    }
    if (r.reply->type == REDIS_REPLY_STATUS) return true;
    *err = "redis AUTH as " + cred.user + ": " +
           (r.reply->type == REDIS_REPLY_ERROR ? r.error : "unexpected reply");
    return false;
}

}  // namespace

void ReplyFree::operator()(redisReply *r) const {
    if (r) freeReplyObject(r);
}

Redis::Redis(std::string host, uint16_t port, RedisCredentials cred, RedisOptions opts)
    : host_(std::move(host)), port_(port), cred_(std::move(cred)), opts_(opts) {}

Redis::~Redis() { disconnect(); }

void Redis::disconnect() {
    if (ctx_) {
        redisFree(ctx_);
        ctx_ = nullptr;
    }
}

void Redis::failed(int64_t now, int64_t backoff_ms) {
    down_ = true;
    backoff_ms_ = backoff_ms;
    next_try_ms_ = now + backoff_ms;
    connects_before_failure_ = g_connects.load(std::memory_order_relaxed);
}

bool Redis::connect(std::string *err) {
    if (ctx_) return true;
    int64_t now = ow::mono_ms();
    if (now < next_try_ms_ &&
        g_connects.load(std::memory_order_relaxed) == connects_before_failure_) {
        *err = "redis unavailable (reconnecting)";
        return false;
    }
    struct timeval tv;
    tv.tv_sec = opts_.timeout_ms / 1000;
    tv.tv_usec = (opts_.timeout_ms % 1000) * 1000;
    redisContext *c = redisConnectWithTimeout(host_.c_str(), port_, tv);
    bool connected = c != nullptr && c->err == 0;
    if (connected) {
        // (the same deadline for every later read and write on this socket)
        redisSetTimeout(c, tv);
        // a refused AUTH, or a failed hook, backs off too
        connected = auth(c, cred_, err);
        if (connected && on_connect_)
            connected = on_connect_([c](const RedisArgs &args) { return call(c, args); }, err);
    } else {
        *err = std::string("redis connect: ") + (c ? c->errstr : "out of memory");
    }
    if (!connected) {
        if (c) redisFree(c);
        failed(now, down_ ? std::min(backoff_ms_ * 2, opts_.backoff_max_ms)
                          : opts_.backoff_min_ms);
        nlohmann::json fields = {{"error", *err}};
        // (a caller that paces its own retries knows when it tries again)
        if (opts_.backoff_min_ms > 0) fields["retry_ms"] = backoff_ms_;
        log_warn("redis_down", fields);
        return false;
    }
    redisEnableKeepAlive(c);
    if (down_) log_info("redis_up", {{"addr", host_ + ":" + std::to_string(port_)}});
    ctx_ = c;
    g_connects.fetch_add(1, std::memory_order_relaxed);
    down_ = false;
    backoff_ms_ = 0;
    next_try_ms_ = 0;
    return true;
}

RedisResult Redis::command(const std::vector<std::string> &argv) {
    return std::move(pipeline({RedisArgs(argv.begin(), argv.end())})[0]);
}

std::vector<RedisResult> Redis::pipeline(const std::vector<RedisArgs> &commands) {
    std::vector<RedisResult> out(commands.size());
    if (commands.empty()) return out;
    std::string err;
    if (!connect(&err)) {
        for (RedisResult &r : out) r.error = err;
        return out;
    }
    size_t sent = 0;
    for (const RedisArgs &args : commands) {
        Argv argv(args);
        if (redisAppendCommandArgv(ctx_, argv.argc(), argv.ptrs.data(), argv.lens.data()) !=
            REDIS_OK)
            break;
        sent++;
    }
    // the first read writes them all
    size_t i = 0;
    for (; i < sent; i++) {
        void *r = nullptr;
        if (redisGetReply(ctx_, &r) != REDIS_OK || r == nullptr) break;
        out[i] = result_of(ctx_, r);
    }
    if (i == commands.size()) return out;
    // Timeout or I/O error: the connection's state is unknown (a reply may
    // still arrive), so it is dropped and re-made with backoff.
    err = result_of(ctx_, nullptr).error;
    for (; i < commands.size(); i++) out[i].error = err;
    disconnect();
    failed(ow::mono_ms(), opts_.backoff_min_ms);
    log_warn("redis_error", {{"error", err}});
    return out;
}

}  // namespace ow
