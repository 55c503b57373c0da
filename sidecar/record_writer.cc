// record_writer.cc: see record_writer.h.
#include "sidecar/record_writer.h"

#include <cstring>

#include <hiredis/hiredis.h>

#include "libow/clock.h"
#include "libow/log.h"
#include "sidecar/activation_record.h"

namespace owsc {

RecordWriter::RecordWriter(std::string host, uint16_t port, int64_t retention_ms,
                           size_t max_queue)
    : host_(std::move(host)), port_(port), retention_ms_(retention_ms),
      max_queue_(max_queue) {}

RecordWriter::~RecordWriter() {
    if (thread_.joinable()) stop(ow::mono_ms());
    if (ctx_) redisFree(ctx_);
}

void RecordWriter::start() { thread_ = std::thread([this] { run(); }); }

bool RecordWriter::submit(const nlohmann::json &record) {
    Item it;
    it.ns = record.value("namespace", "");
    it.id = record.value("activationId", "");
    it.start = record.value("start", (int64_t)0);
    it.index = index_name(record);
    it.json = ow::json_dump(record);
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (!stopping_ && queue_.size() < max_queue_) {
            queue_.push_back(std::move(it));
            cv_.notify_one();
            return true;
        }
    }
    dropped_++;
    ow::log_warn("record_dropped", {{"activationId", it.id},
                                    {"reason", "queue full"},
                                    {"dropped", dropped_.load()}});
    return false;
}

size_t RecordWriter::queued() {
    std::lock_guard<std::mutex> lk(mu_);
    return queue_.size();
}

void RecordWriter::stop(int64_t deadline_ms) {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stopping_ = true;
        deadline_ = deadline_ms;
        cv_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
}

bool RecordWriter::connect() {
    if (ctx_) { redisFree(ctx_); ctx_ = nullptr; }
    struct timeval tv = {2, 0};   // connect and command deadline
    ctx_ = redisConnectWithTimeout(host_.c_str(), port_, tv);
    if (!ctx_ || ctx_->err) {
        ow::log_warn("redis_connect_failed", {{"error", ctx_ ? ctx_->errstr : "oom"}});
        if (ctx_) { redisFree(ctx_); ctx_ = nullptr; }
        return false;
    }
    redisSetTimeout(ctx_, tv);
    redisReply *r = (redisReply *)redisCommand(ctx_, "SCRIPT LOAD %s", kWriteActivationLua);
    if (r && r->type == REDIS_REPLY_STRING) sha_.assign(r->str, r->len);
    if (r) freeReplyObject(r);
    return true;
}

bool RecordWriter::write_one(const Item &it) {
    if (!ctx_ && !connect()) return false;
    std::string k1 = activation_key(it.ns, it.id), k2 = act_index_key(it.ns),
                k3 = act_name_index_key(it.ns, it.index);
    std::string start = std::to_string(it.start), ret = std::to_string(retention_ms_);
    for (int attempt = 0; attempt < 2; attempt++) {
        bool by_sha = !sha_.empty() && attempt == 0;
        const char *argv[] = {by_sha ? "EVALSHA" : "EVAL",
                              by_sha ? sha_.c_str() : kWriteActivationLua,
                              "3", k1.c_str(), k2.c_str(), k3.c_str(),
                              it.json.c_str(), start.c_str(), it.id.c_str(), ret.c_str()};
        size_t lens[10];
        for (int i = 0; i < 10; i++) lens[i] = strlen(argv[i]);
        lens[6] = it.json.size();
        redisReply *r = (redisReply *)redisCommandArgv(ctx_, 10, argv, lens);
        if (!r) {
            ow::log_warn("redis_write_failed", {{"activationId", it.id},
                                                {"error", ctx_->errstr}});
            if (!connect()) return false;
            continue;
        }
        bool ok = r->type == REDIS_REPLY_INTEGER;
        bool noscript = r->type == REDIS_REPLY_ERROR &&
                        strncmp(r->str, "NOSCRIPT", 8) == 0;
        if (!ok && !noscript)
            ow::log_warn("redis_write_failed", {{"activationId", it.id},
                                                {"error", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply"}});
        freeReplyObject(r);
        if (ok) return true;
        if (!noscript) return false;
    }
    return false;
}

void RecordWriter::run() {
    for (;;) {
        Item it;
        {
            std::unique_lock<std::mutex> lk(mu_);
            cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;
            if (stopping_ && ow::mono_ms() > deadline_) {
                dropped_ += queue_.size();
                ow::log_warn("records_dropped", {{"count", queue_.size()},
                                                 {"reason", "shutdown deadline"}});
                queue_.clear();
                return;
            }
            it = std::move(queue_.front());
            queue_.pop_front();
        }
        if (write_one(it)) {
            written_++;
        } else {
            dropped_++;
            ow::log_warn("record_dropped", {{"activationId", it.id},
                                            {"reason", "redis write failed"},
                                            {"dropped", dropped_.load()}});
        }
    }
}

}  // namespace owsc
