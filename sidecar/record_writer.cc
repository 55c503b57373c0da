// record_writer.cc: see record_writer.h.
#include "sidecar/record_writer.h"

#include <chrono>
#include <cstring>
#include <fstream>

#include <hiredis/hiredis.h>

#include "libow/activation_store.h"
#include "libow/clock.h"
#include "libow/json_dump.h"
#include "libow/json_limits.h"
#include "libow/log.h"
#include "sidecar/activation_record.h"

namespace ow::sidecar {

namespace {

const size_t kMaxBatch = 64;

// Error replies that mean "not now" (a restart, a failover), not "never".
bool transient_error(const char *s) {
    static const char *kinds[] = {"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "READONLY",
                                  "CLUSTERDOWN", "NOAUTH"};
    for (const char *k : kinds)
        if (strncmp(s, k, strlen(k)) == 0) return true;
    return false;
}

}  // namespace

RecordWriter::RecordWriter(std::string host, uint16_t port, ow::RedisCredentials cred,
                           RecordWriterOptions opts, ow::ActivationJournal *journal)
    : opts_(opts), journal_(journal),
      // 2 s to connect and for each batch; no backoff in the client: run()
      // paces the retries of the whole buffer itself (new records and stop()
      // end its waits)
      redis_(std::move(host), port, std::move(cred), {2000, 0, 0}) {
    // after a restart the script cache is empty; a LOADING Redis refuses it
    redis_.set_on_connect([this](const ow::RedisCall &call, std::string *err) {
        ow::RedisResult r = call({"SCRIPT", "LOAD", ow::kWriteActivationsLua});
        if (!r.ok() || r.reply->type != REDIS_REPLY_STRING) {
            *err = "SCRIPT LOAD: " + (r.ok() ? std::string("unexpected reply") : r.error);
            return false;
        }
        sha_.assign(r.reply->str, r.reply->len);
        return true;
    });
}

RecordWriter::~RecordWriter() {
    if (thread_.joinable()) stop(ow::mono_ms());
}

void RecordWriter::start() { thread_ = std::thread([this] { run(); }); }

bool RecordWriter::submit(Activation &&a, std::string json, bool log_run, uint64_t ticket) {
    Item it;
    it.act = std::move(a);
    it.json = std::move(json);
    it.log_run = log_run;
    it.ticket = ticket;
    return enqueue(std::move(it));
}

bool RecordWriter::enqueue(Item &&it) {
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (!stopping_ && queue_.size() < opts_.max_queue) {
            queue_.push_back(std::move(it));
            // the first record wakes the thread (asleep on an empty queue);
            // a full batch ends its linger early (run())
            if (queue_.size() == 1 || queue_.size() == kMaxBatch) cv_.notify_one();
            return true;
        }
    }
    // The writer thread is stuck (Redis unreachable, each try waiting out
    // its timeout) or stopping: this thread keeps the record instead.
    prepare(it, nullptr);
    spill_or_drop(it, "queue full");
    return false;
}

// On the writer thread (or a caller's, spilling): the record's keys and its
// serialisation, from the activation's facts. The "run" line goes to batch
// (null: written at once).
void RecordWriter::prepare(Item &it, ow::LogBatch *batch) {
    const Activation &a = it.act;
    if (it.json.empty()) it.json = ow::json_dump(build_record(a));
    if (it.log_run) {
        // the identity a log store needs to join this line with the action's
        // own log lines and the record (container comes from log_context)
        nlohmann::json run = {{"activationId", a.id}, {"namespace", a.ns},
                              {"action", a.action->path}, {"traceId", a.trace.trace_id},
                              {"status", status_text(a.outcome.status_code)},
                              {"duration", a.end_ms - a.start_ms}, {"waitTime", a.wait_ms}};
        if (batch) batch->add(ow::LogLevel::info, "run", run);
        else ow::log_info("run", run);
        it.log_run = false;
    }
    it.ns = std::move(it.act.ns);
    it.id = std::move(it.act.id);
    it.index = a.action->index;
    it.start = a.start_ms;
    it.act = Activation();   // only the serialised form is kept
}

void RecordWriter::spill_or_drop(Item &it, const char *why) {
    if (journal_ && journal_->spill(it.id, it.json)) {
        spilled_++;
        journal_->settle(it.ticket);
        return;
    }
    dropped_++;
    // its accepted line stays: should this process die, the sweep still
    // stores the stand-in
    ow::log_warn("record_dropped", {{"activationId", it.id}, {"reason", why},
                                    {"dropped", dropped_.load()}});
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

bool RecordWriter::write_front() {
    // connected first: the commands name the script by the hash its SCRIPT
    // LOAD returned
    std::string err;
    if (!redis_.connect(&err)) return false;
    size_t n = std::min(pending_.size(), kMaxBatch);
    std::string ret = std::to_string(opts_.retention_ms);
    // The records of one namespace and index name that follow each other
    // (a sidecar's are nearly all of its one action) go in one run of the
    // batch script: Redis trims, extends and expires the two indexes once
    // for them, where a script run per record made it eight calls a record.
    struct Group {
        size_t first, count;
        std::string nkeys, index_key, name_index_key;
    };
    std::vector<Group> groups;
    for (size_t i = 0; i < n; i++) {
        const Item &it = pending_[i];
        if (!groups.empty() && !it.alone) {
            const Item &head = pending_[groups.back().first];
            if (!head.alone && head.ns == it.ns && head.index == it.index) {
                groups.back().count++;
                continue;
            }
        }
        groups.push_back({i, 1, "", ow::act_index_key(it.ns),
                          ow::act_name_index_key(it.ns, it.index)});
    }
    std::vector<std::string> record_keys(n), starts(n);   // what the views point into
    std::vector<ow::RedisArgs> commands;
    commands.reserve(groups.size());
    for (Group &g : groups) {
        g.nkeys = std::to_string(2 + g.count);
        ow::RedisArgs cmd = {"EVALSHA", sha_, g.nkeys, g.index_key, g.name_index_key};
        cmd.reserve(cmd.size() + 1 + 4 * g.count);
        for (size_t i = g.first; i < g.first + g.count; i++) {
            record_keys[i] = ow::activation_key(pending_[i].ns, pending_[i].id);
            cmd.push_back(record_keys[i]);
        }
        cmd.push_back(ret);
        for (size_t i = g.first; i < g.first + g.count; i++) {
            const Item &it = pending_[i];
            starts[i] = std::to_string(it.start);
            cmd.push_back(it.json);
            cmd.push_back(starts[i]);
            cmd.push_back(it.id);
        }
        commands.push_back(std::move(cmd));
    }
    std::vector<ow::RedisResult> replies = redis_.pipeline(commands);
    std::vector<Outcome> out(n, Outcome::transient);
    bool away = false, noscript = false;
    for (size_t k = 0; k < groups.size(); k++) {
        const Group &g = groups[k];
        const std::string &id = pending_[g.first].id;
        const redisReply *r = replies[k].reply.get();
        Outcome o = Outcome::transient;
        if (r == nullptr) {
            // the connection failed here: no answer for this one and the rest
            ow::log_warn("redis_write_failed", {{"activationId", id}, {"records", g.count},
                                                {"error", replies[k].error}});
            away = true;
            break;
        }
        if (r->type == REDIS_REPLY_INTEGER) {
            o = Outcome::stored;
        } else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            noscript = true;   // a restarted Redis: load it again, then retry
        } else if (r->type == REDIS_REPLY_ERROR && transient_error(r->str)) {
            if (!away)
                ow::log_warn("redis_write_failed", {{"activationId", id},
                                                    {"records", g.count}, {"error", r->str}});
            away = true;
        } else if (g.count > 1) {
            // which of them Redis refuses is not known: each goes again
            // alone, so that only the one it refuses is dropped
            for (size_t i = g.first; i < g.first + g.count; i++) pending_[i].alone = true;
        } else {
            o = Outcome::refused;
            ow::log_error("redis_write_refused",
                          {{"activationId", id},
                           {"error", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply"}});
        }
        for (size_t i = g.first; i < g.first + g.count; i++) out[i] = o;
    }
    // A connection the pipeline lost is closed already; after NOSCRIPT or a
    // transient error the next try reconnects (and loads the script).
    if (away || noscript) redis_.disconnect();
    // stored and refused items leave; the rest keep their order
    std::deque<Item> keep;
    std::vector<uint64_t> stored;
    stored.reserve(n);
    for (size_t i = 0; i < n; i++) {
        Item &it = pending_[i];
        if (out[i] == Outcome::transient) {
            keep.push_back(std::move(it));
            continue;
        }
        pending_bytes_ -= it.json.size();
        if (out[i] == Outcome::stored) {
            written_++;
            stored.push_back(it.ticket);
        } else {
            dropped_++;
        }
    }
    if (journal_ && !stored.empty()) journal_->settle(stored);
    pending_.erase(pending_.begin(), pending_.begin() + n);
    while (!keep.empty()) {
        pending_.push_front(std::move(keep.back()));
        keep.pop_back();
    }
    return !away;
}

// One spilled record (pending_ is empty when the spill is replayed).
RecordWriter::Outcome RecordWriter::write_json(const std::string &json) {
    ow::JsonError why = ow::JsonError::none;
    nlohmann::json record = ow::json_parse_bounded(json, &why);
    if (!record.is_object()) return Outcome::refused;
    Item it;
    it.ns = record.value("namespace", "");
    it.id = record.value("activationId", "");
    it.start = record.value("start", (int64_t)0);
    it.index = ow::activation_index_name(record);
    it.json = json;
    pending_bytes_ += json.size();
    pending_.push_back(std::move(it));
    uint64_t before = written_;
    if (!write_front()) {
        // not stored: it stays in the spill file, not in memory
        pending_.clear();
        pending_bytes_ = 0;
        return Outcome::transient;
    }
    return written_ > before ? Outcome::stored : Outcome::refused;
}

bool RecordWriter::replay_spill() {
    std::string path = journal_->next_spill();
    if (path.empty()) return true;
    std::ifstream in(path);
    std::string line, id, json;
    size_t stored = 0;
    while (std::getline(in, line)) {
        int64_t reap_after;
        if (!ow::parse_journal_line(line, &reap_after, &id, &json)) continue;
        if (write_json(json) == Outcome::transient) return false;   // the file stays
        stored++;
    }
    ow::log_info("spill_replayed", {{"file", path}, {"records", stored}});
    journal_->finish_spill(path);
    return true;
}

void RecordWriter::run() {
    int64_t backoff = opts_.min_backoff_ms, next_try = 0;
    for (;;) {
        std::vector<Item> fresh;
        bool stopping;
        int64_t deadline;
        {
            std::unique_lock<std::mutex> lk(mu_);
            if (pending_.empty() && next_try == 0) {
                cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
                // Linger: the records that follow this one within linger_ms
                // go with it, so under load the thread wakes, and Redis is
                // written (one pipeline), once a batch rather than once a
                // record: a wake-up costs the io thread a futex call and
                // both threads a context switch. A record reaches Redis at
                // most linger_ms later; the journal covers it meanwhile.
                if (opts_.linger_ms > 0 && !stopping_)
                    cv_.wait_for(lk, std::chrono::milliseconds(opts_.linger_ms), [this] {
                        return stopping_ || queue_.size() >= kMaxBatch;
                    });
            } else {
                // a backoff: new records, or stop() being called, end it
                bool was_stopping = stopping_;
                int64_t until = stopping_ ? std::min(next_try, deadline_ + 1) : next_try;
                int64_t wait = std::max<int64_t>(until - ow::mono_ms(), 0);
                cv_.wait_for(lk, std::chrono::milliseconds(wait), [&] {
                    return !queue_.empty() || stopping_ != was_stopping;
                });
            }
            while (!queue_.empty()) {
                fresh.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
            stopping = stopping_;
            deadline = deadline_;
        }
        // a line an activation, written a batch at a time: the writer
        // thread's one write(2) per record was as many as the io thread's
        ow::LogBatch runs;
        for (auto &it : fresh) {
            prepare(it, &runs);
            pending_bytes_ += it.json.size();
            pending_.push_back(std::move(it));
        }
        runs.flush();
        int64_t now = ow::mono_ms();
        if (now >= next_try) {
            bool ok = true;
            while (ok && !pending_.empty()) ok = write_front();
            // the spill is older than what is in memory, but order does not
            // matter (each record has its own key); memory first frees it
            if (ok && journal_ && journal_->spilled_bytes() > 0) ok = replay_spill();
            if (ok) {
                backoff = opts_.min_backoff_ms;
                next_try = journal_ && journal_->spilled_bytes() > 0 ? now : 0;
            } else {
                next_try = now + backoff;
                backoff = std::min(backoff * 2, opts_.max_backoff_ms);
            }
        }
        // bounded: the oldest go to disk
        while (pending_bytes_ > opts_.max_buffer_bytes && !pending_.empty()) {
            Item &it = pending_.front();
            pending_bytes_ -= it.json.size();
            spill_or_drop(it, "buffer full");
            pending_.pop_front();
        }
        if (stopping) {
            if (pending_.empty()) return;
            if (ow::mono_ms() > deadline) {
                ow::log_warn("records_spilled", {{"count", pending_.size()},
                                                 {"reason", "shutdown deadline"}});
                for (auto &it : pending_) spill_or_drop(it, "shutdown deadline");
                pending_.clear();
                pending_bytes_ = 0;
                return;
            }
        }
    }
}

}  // namespace ow::sidecar
