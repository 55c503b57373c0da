// record_writer.cc: see record_writer.h.
#include "sidecar/record_writer.h"

#include <cstring>

#include <hiredis/hiredis.h>

#include "libow/activation_store.h"
#include "libow/clock.h"
#include "libow/log.h"
#include "sidecar/activation_record.h"

namespace owsc {

RecordWriter::RecordWriter(std::string host, uint16_t port, ow::RedisCredentials cred,
                           int64_t retention_ms, size_t max_queue)
    : host_(std::move(host)), cred_(std::move(cred)), port_(port),
      retention_ms_(retention_ms),
      max_queue_(max_queue) {}

RecordWriter::~RecordWriter() {
    if (thread_.joinable()) stop(ow::mono_ms());
    if (ctx_) redisFree(ctx_);
}

void RecordWriter::start() { thread_ = std::thread([this] { run(); }); }

bool RecordWriter::submit(const nlohmann::json &record) {
    Item it;
    it.record = record;
    it.built = true;
    return enqueue(std::move(it));
}

bool RecordWriter::submit(nlohmann::json &&record, bool log_run) {
    Item it;
    it.record = std::move(record);
    it.built = true;
    it.log_run = log_run;
    return enqueue(std::move(it));
}

bool RecordWriter::submit(RecordInput &&in, bool log_run) {
    Item it;
    it.in = std::move(in);
    it.log_run = log_run;
    return enqueue(std::move(it));
}

bool RecordWriter::enqueue(Item &&it) {
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (!stopping_ && queue_.size() < max_queue_) {
            queue_.push_back(std::move(it));
            // the thread sleeps only on an empty queue: one wake-up a batch
            if (queue_.size() == 1) cv_.notify_one();
            return true;
        }
    }
    dropped_++;
    ow::log_warn("record_dropped", {{"activationId", it.built ? it.record.value("activationId", "")
                                                              : it.in.activation_id},
                                    {"reason", "queue full"},
                                    {"dropped", dropped_.load()}});
    return false;
}

// On the writer thread: the record, its keys and its serialisation.
void RecordWriter::prepare(Item &it) {
    if (!it.built) {
        it.record = build_record(it.in);
        it.built = true;
    }
    const nlohmann::json &record = it.record;
    it.ns = record.value("namespace", "");
    it.id = record.value("activationId", "");
    it.start = record.value("start", (int64_t)0);
    it.index = ow::activation_index_name(record);
    it.json = ow::json_dump(record);
    if (it.log_run) {
        int64_t end = record.value("end", (int64_t)0);
        int64_t wait = 0;
        std::string status, path, trace;
        auto ann = record.find("annotations");
        if (ann != record.end() && ann->is_array())
            for (const auto &a : *ann) {
                if (!a.is_object()) continue;
                std::string key = a.value("key", "");
                if (key == "waitTime") wait = a.value("value", (int64_t)0);
                else if (key == "path") path = a.value("value", "");
                else if (key == "traceId") trace = a.value("value", "");
            }
        auto resp = record.find("response");
        if (resp != record.end() && resp->is_object()) status = resp->value("status", "");
        // the identity a log store needs to join this line with the action's
        // own log lines and the record (container comes from log_context)
        ow::log_info("run", {{"activationId", it.id}, {"namespace", record.value("namespace", "")},
                             {"action", path}, {"traceId", trace}, {"status", status},
                             {"duration", end - it.start}, {"waitTime", wait}});
    }
    it.record = nlohmann::json();   // only the serialised form is kept
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
    std::string err;
    if (!ow::redis_auth(ctx_, cred_, &err)) {
        ow::log_warn("redis_auth_failed", {{"error", err}});
        redisFree(ctx_);
        ctx_ = nullptr;
        return false;
    }
    redisReply *r = (redisReply *)redisCommand(ctx_, "SCRIPT LOAD %s", ow::kWriteActivationLua);
    if (r && r->type == REDIS_REPLY_STRING) sha_.assign(r->str, r->len);
    if (r) freeReplyObject(r);
    return true;
}

bool RecordWriter::write_one(const Item &it) {
    if (!ctx_ && !connect()) return false;
    std::string k1 = ow::activation_key(it.ns, it.id), k2 = ow::act_index_key(it.ns),
                k3 = ow::act_name_index_key(it.ns, it.index);
    std::string start = std::to_string(it.start), ret = std::to_string(retention_ms_);
    for (int attempt = 0; attempt < 2; attempt++) {
        bool by_sha = !sha_.empty() && attempt == 0;
        const char *argv[] = {by_sha ? "EVALSHA" : "EVAL",
                              by_sha ? sha_.c_str() : ow::kWriteActivationLua,
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

// Pipelines the batch's EVALSHAs; what did not get an OK (NOSCRIPT, a
// broken connection, an error reply) goes through write_one (EVAL, reconnect,
// retry once). Writing a record twice is harmless: the script sets the same
// key and index members again.
void RecordWriter::write_batch(std::vector<Item> &batch) {
    std::vector<bool> ok(batch.size(), false);
    if (batch.size() > 1 && (ctx_ || connect()) && !sha_.empty()) {
        std::string ret = std::to_string(retention_ms_);
        size_t sent = 0;
        for (const auto &it : batch) {
            std::string k1 = ow::activation_key(it.ns, it.id), k2 = ow::act_index_key(it.ns),
                        k3 = ow::act_name_index_key(it.ns, it.index);
            std::string start = std::to_string(it.start);
            const char *argv[] = {"EVALSHA", sha_.c_str(), "3", k1.c_str(), k2.c_str(),
                                  k3.c_str(), it.json.c_str(), start.c_str(), it.id.c_str(),
                                  ret.c_str()};
            size_t lens[10];
            for (int i = 0; i < 10; i++) lens[i] = strlen(argv[i]);
            lens[6] = it.json.size();
            if (redisAppendCommandArgv(ctx_, 10, argv, lens) != REDIS_OK) break;
            sent++;
        }
        for (size_t i = 0; i < sent; i++) {
            redisReply *r = nullptr;
            if (redisGetReply(ctx_, (void **)&r) != REDIS_OK || !r) {
                // the connection is gone: write_one reconnects
                redisFree(ctx_);
                ctx_ = nullptr;
                break;
            }
            ok[i] = r->type == REDIS_REPLY_INTEGER;
            freeReplyObject(r);
        }
    }
    for (size_t i = 0; i < batch.size(); i++) {
        if (ok[i] || write_one(batch[i])) {
            written_++;
            continue;
        }
        dropped_++;
        ow::log_warn("record_dropped", {{"activationId", batch[i].id},
                                        {"reason", "redis write failed"},
                                        {"dropped", dropped_.load()}});
    }
}

void RecordWriter::run() {
    static const size_t kMaxBatch = 64;
    std::vector<Item> batch;
    for (;;) {
        batch.clear();
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
            while (!queue_.empty() && batch.size() < kMaxBatch) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        for (auto &it : batch) prepare(it);
        write_batch(batch);
    }
}

}  // namespace owsc
