// fire_consumer.cc: see fire_consumer.h.
#include "pool-manager/control/fire_consumer.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "libow/http_query.h"
#include "libow/json_limits.h"
#include "libow/log.h"
#include "libow/redis_client.h"
#include "schema/ow_schema.h"

namespace ow::pm {

namespace {

std::string str_field(const nlohmann::json &j, const char *k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

bool parse_fire_job(const std::string &raw, FireJob *job, std::string *err) {
    // bounded (libow/json_limits.h): params is dumped (recursively) below.
    // One level more than the gateway accepts: the job wraps the fire's
    // payload, which jansson checked, so no job the gateway wrote is lost.
    static const ow::JsonLimits lim{ow::kJsonMaxDepth + 1, ow::kJsonMaxBytes};
    ow::JsonError why = ow::JsonError::none;
    nlohmann::json j = ow::json_parse_bounded(raw, &why, lim);
    if (j.is_discarded() || !j.is_object()) {
        *err = why == ow::JsonError::none ? "not a JSON object" : ow::json_error_text(why, lim);
        return false;
    }
    job->activation_id = str_field(j, "activationId");
    job->action = str_field(j, "action");
    job->ns = str_field(j, "namespace");
    job->subject = str_field(j, "subject");
    job->cause = str_field(j, "cause");
    job->rule = str_field(j, "rule");
    auto at = j.find("acceptTime");
    job->accept_ms = at != j.end() && at->is_number_integer() ? at->get<int64_t>() : 0;
    auto p = j.find("params");
    if (!valid_activation_id(job->activation_id) || job->action.empty() || job->ns.empty() ||
        p == j.end() || !p->is_object()) {
        *err = "activationId, action, namespace or params missing";
        return false;
    }
    job->params = p->dump();
    return true;
}

// ---- Redis ----

FireStore::Take RedisFireStore::take(int64_t wait_ms, std::string *job, std::string *err) {
    // BLMOVE's timeout is in seconds (a double since Redis 6).
    char wait[32];
    std::snprintf(wait, sizeof wait, "%.3f", static_cast<double>(wait_ms) / 1000.0);
    RedisResult r = redis_.command({"BLMOVE", OW_KEY_FIRE_QUEUE, OW_KEY_FIRE_PROCESSING, "RIGHT",
                                    "LEFT", wait});
    if (!r.ok()) {
        *err = r.error;
        return failed;
    }
    if (r.reply->type == REDIS_REPLY_NIL) return empty;
    if (r.reply->type != REDIS_REPLY_STRING) {
        *err = "unexpected reply to BLMOVE";
        return failed;
    }
    job->assign(r.reply->str, r.reply->len);
    return taken;
}

bool RedisFireStore::done(const std::string &job, std::string *err) {
    // From the tail: the oldest taken jobs are there, and a job is unique
    // (its activation id).
    RedisResult r = redis_.command({"LREM", OW_KEY_FIRE_PROCESSING, "-1", job});
    if (!r.ok()) {
        *err = r.error;
        return false;
    }
    return true;
}

bool RedisFireStore::recover(size_t *moved, std::string *err) {
    // Newest taken first onto the queue's taking end, so the oldest ends
    // up taken first again. Each LMOVE is atomic: a job is in one list or
    // the other, never lost.
    *moved = 0;
    for (;;) {
        RedisResult r = redis_.command({"LMOVE", OW_KEY_FIRE_PROCESSING, OW_KEY_FIRE_QUEUE,
                                        "LEFT", "RIGHT"});
        if (!r.ok()) {
            *err = r.error;
            return false;
        }
        if (r.reply->type == REDIS_REPLY_NIL) return true;
        ++*moved;
    }
}

// ---- the consumer ----

struct FireConsumer::Held {
    std::string raw;
    FireJob job;
    int64_t deadline = 0;
    int64_t retry_ms = 0;
    std::string last_error;
};

FireConsumer::FireConsumer(FireStore &taker, FireStore &acker, FireSubmit submit,
                           RecordSink &records, Clock &clock, FirePost post, FireOptions opts)
    : taker_(taker), acker_(acker), submit_(std::move(submit)), records_(records),
      clock_(clock), post_(std::move(post)), opts_(opts) {}

FireConsumer::~FireConsumer() { stop(); }

void FireConsumer::start() {
    if (thread_.joinable()) return;
    {
        std::lock_guard<std::mutex> lk(mu_);
        stopping_ = false;
    }
    thread_ = std::thread([this] { run(); });
}

void FireConsumer::stop() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool FireConsumer::sleep_unless_stopped(int64_t ms) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait_for(lk, std::chrono::milliseconds(ms), [this] { return stopping_; });
    return !stopping_;
}

bool FireConsumer::recover_now() {
    size_t moved = 0;
    std::string err;
    if (!taker_.recover(&moved, &err)) {
        log_warn("fire_recover_failed", {{"error", err}});
        return false;
    }
    if (moved) log_info("fire_recovered", {{"jobs", moved}});
    return true;
}

void FireConsumer::run() {
    int64_t backoff = opts_.backoff_ms;
    while (!recover_now()) {
        if (!sleep_unless_stopped(backoff)) return;
        backoff = std::min(backoff * 2, opts_.max_backoff_ms);
    }
    backoff = opts_.backoff_ms;
    for (;;) {
        {
            // Bounded: no more jobs are taken than can be in hand.
            std::unique_lock<std::mutex> lk(mu_);
            cv_.wait(lk, [this] { return stopping_ || in_flight_ < opts_.max_in_flight; });
            if (stopping_) return;
        }
        std::string raw, err;
        FireStore::Take t = taker_.take(opts_.take_wait_ms, &raw, &err);
        if (t == FireStore::failed) {
            log_warn("fire_take_failed", {{"error", err}, {"retry_ms", backoff}});
            if (!sleep_unless_stopped(backoff)) return;
            backoff = std::min(backoff * 2, opts_.max_backoff_ms);
            continue;
        }
        backoff = opts_.backoff_ms;
        if (t == FireStore::empty) continue;
        in_flight_++;
        post_([this, raw] { handle(raw); });
    }
}

FireStore::Take FireConsumer::poll_once(int64_t wait_ms) {
    std::string raw, err;
    FireStore::Take t = taker_.take(wait_ms, &raw, &err);
    if (t == FireStore::taken) {
        in_flight_++;
        handle(raw);
    }
    return t;
}

void FireConsumer::handle(const std::string &raw) {
    auto h = std::make_shared<Held>();
    h->raw = raw;
    h->deadline = clock_.now_ms() + opts_.deadline_ms;
    h->retry_ms = opts_.retry_ms;
    std::string err;
    if (!parse_fire_job(raw, &h->job, &err)) {
        // Nothing to run and no activation to write it to: dropped, or it
        // would come back after every restart.
        log_error("fire_job_malformed", {{"error", err}, {"job", raw.substr(0, 200)}});
        failed_++;
        return ack(h);
    }
    submit(h);
}

void FireConsumer::submit(const std::shared_ptr<Held> &h) {
    const FireJob &j = h->job;
    const std::string accept = std::to_string(j.accept_ms);
    HeaderFn header = [&j, &accept](const char *name) -> std::string {
        std::string n(name);
        if (n == "X-OW-Activation-Id") return j.activation_id;
        if (n == "X-OW-Namespace") return j.ns;
        if (n == "X-OW-Subject") return j.subject;
        if (n == "X-OW-Path") return j.action;
        if (n == "X-OW-Accept-Time") return j.accept_ms > 0 ? accept : std::string();
        if (n == "X-OW-Cause") return j.cause;
        return std::string();
    };
    InvokeAnswer a = submit_(header, "blocking=false", j.params, [this, h] {
        handed_++;
        ack(h);
    });
    if (a.status == 202) return;  // the invoke queue calls back when done

    std::string msg = a.body.is_object() && a.body.contains("error") && a.body["error"].is_string()
                          ? a.body["error"].get<std::string>()
                          : "refused with status " + std::to_string(a.status);
    if ((a.status == 503 || a.status == 429) && clock_.now_ms() < h->deadline) {
        // Full for now (queue bounds, namespace cap): this job waits in
        // hand, and while max_in_flight are in hand no more are taken.
        h->last_error = msg;
        int64_t wait = std::min(h->retry_ms, h->deadline - clock_.now_ms());
        h->retry_ms = std::min(h->retry_ms * 2, opts_.max_retry_ms);
        clock_.after(std::max<int64_t>(wait, 1), [this, h] { submit(h); });
        return;
    }
    fail(h, a.status == 503 || a.status == 429
                ? "The rule's action could not be invoked within " +
                      std::to_string(opts_.deadline_ms / 1000) + " s: " + msg
                : msg);
}

void FireConsumer::fail(const std::shared_ptr<Held> &h, const std::string &why) {
    // The trigger's record already names this activation id: its record
    // tells the user why the action did not run.
    FailureInput in;
    in.ns = h->job.ns;
    in.subject = h->job.subject;
    in.action = h->job.action;
    in.cause = h->job.cause;
    in.activation_id = h->job.activation_id;
    in.accept_ms = h->job.accept_ms;
    in.now_ms = clock_.now_ms();
    in.limits = nlohmann::json::object();
    in.error = why;
    std::string err;
    if (!records_.write(failure_record(in), &err)) {
        // Redis is away: the job stays in the processing list and in hand
        // (bounded) until the record can be written.
        log_warn("fire_record_retry", {{"activationId", in.activation_id}, {"error", err}});
        clock_.after(opts_.max_backoff_ms, [this, h, why] { fail(h, why); });
        return;
    }
    log_warn("fire_job_failed", {{"activationId", in.activation_id}, {"action", in.action},
                                 {"rule", h->job.rule}, {"error", why}});
    failed_++;
    ack(h);
}

void FireConsumer::ack(const std::shared_ptr<Held> &h) {
    std::string err;
    if (!acker_.done(h->raw, &err)) {
        // Left in the processing list, it would run again after a restart:
        // retried until Redis answers.
        log_warn("fire_ack_retry", {{"error", err}});
        clock_.after(opts_.backoff_ms, [this, h] { ack(h); });
        return;
    }
    release();
}

void FireConsumer::release() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        in_flight_--;
    }
    cv_.notify_all();
}

}  // namespace ow::pm
