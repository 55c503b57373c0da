// invoke_queue.cc: see invoke_queue.h.
#include "pool-manager/control/invoke_queue.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "libow/clock.h"
#include "libow/http_query.h"
#include "libow/json_dump.h"
#include "libow/json_limits.h"
#include "libow/log.h"

namespace ow::pm {

// limits.timeout of the action (ms), 60 s when absent
static int64_t action_timeout_ms(const ActionInfo &info) {
    if (info.limits.is_object()) {
        auto t = info.limits.find("timeout");
        if (t != info.limits.end() && t->is_number_integer()) return t->get<int64_t>();
    }
    return 60000;
}

namespace {

const char kMalformed[] = "The request content was malformed:\nexpected a JSON object.";

bool parse_ms(const std::string &s, int64_t *out) {
    if (s.empty()) return false;
    char *end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno || *end || v < 0) return false;
    *out = v;
    return true;
}

}  // namespace

bool check_nonblocking_query(const std::string &query, std::string *err) {
    return ow::for_each_query_param(query, [err](std::string_view k, std::string_view v) {
        if (k == "blocking" && v == "true") {
            // A blocking caller waits for the result: the gateway parks it
            // on /v1/capacity instead; answering 202 here would change §5.
            *err = "POST /v1/invoke takes only non-blocking invokes (blocking=false).";
            return false;
        }
        int64_t t = 0;
        if (k == "timeout" && !ow::parse_wait_timeout(v, &t)) {
            // Checked as the sidecar checks it, so a request accepted here
            // is not refused by the sidecar later.
            *err = ow::kTimeoutError;
            return false;
        }
        return true;
    });
}

InvokeQueue::InvokeQueue(Capacity &capacity, Pool &pool, ActionSource &actions,
                         const Runtimes &runtimes, Deliverer &deliverer, RecordSink &records,
                         Clock &clock, InvokeOptions opts)
    : capacity_(capacity), pool_(pool), actions_(actions), runtimes_(runtimes),
      deliverer_(deliverer), records_(records), clock_(clock), opts_(opts) {}

InvokeQueue::~InvokeQueue() {
    for (auto &kv : jobs_) {
        if (kv.second->timer) clock_.cancel(kv.second->timer);
    }
}

size_t InvokeQueue::queued(const std::string &action) const {
    auto it = per_action_.find(action);
    return it == per_action_.end() ? 0 : it->second;
}

InvokeQueue::Job *InvokeQueue::find(uint64_t seq) {
    auto it = jobs_.find(seq);
    return it == jobs_.end() ? nullptr : it->second.get();
}

bool InvokeQueue::out_of_time(const Job &j) const { return clock_.now_ms() >= j.deadline; }

InvokeAnswer InvokeQueue::error(int status, const std::string &msg, const std::string &id) {
    InvokeAnswer a;
    a.status = status;
    a.body = {{"error", msg}, {"code", id}};
    if (!id.empty()) a.headers.emplace_back("x-openwhisk-activation-id", id);
    return a;
}

InvokeAnswer InvokeQueue::accept(const HeaderFn &header, const std::string &query,
                                 std::string body) {
    InvokeRequest r;
    r.activation_id = header("X-OW-Activation-Id");
    if (!valid_activation_id(r.activation_id)) {
        return error(400, "X-OW-Activation-Id must be 32 lowercase hex digits.", "");
    }
    const std::string id = r.activation_id;
    r.ns = header("X-OW-Namespace");
    r.subject = header("X-OW-Subject");
    r.action = header("X-OW-Path");
    r.authorization = header("Authorization");
    r.traceparent = header("traceparent");
    r.cause = header("X-OW-Cause");
    if (!r.cause.empty() && !valid_activation_id(r.cause)) {
        return error(400, "X-OW-Cause must be 32 lowercase hex digits.", id);
    }
    r.query = query;
    std::string ns, path;
    if (r.ns.empty() || !split_action(r.action, &ns, &path)) {
        return error(400, "X-OW-Namespace and X-OW-Path (\"<namespace>/[<package>/]<name>\") "
                          "are required.", id);
    }
    std::string accept = header("X-OW-Accept-Time");
    if (accept.empty()) {
        r.accept_ms = clock_.now_ms();
    } else if (!parse_ms(accept, &r.accept_ms)) {
        return error(400, "X-OW-Accept-Time must be epoch milliseconds.", id);
    }
    std::string err;
    if (!check_nonblocking_query(query, &err)) return error(400, err, id);
    if (!body.empty()) {
        // bounded (libow/json_limits.h): the client's 400, as the sidecar
        // answers it, before the body waits in a queue
        ow::JsonError why = ow::JsonError::none;
        nlohmann::json j = ow::json_parse_bounded(body, &why);
        if (why == ow::JsonError::too_deep || why == ow::JsonError::too_large) {
            return error(400, "The request content was malformed:\n" + ow::json_error_text(why),
                         id);
        }
        if (j.is_discarded() || !j.is_object()) return error(400, kMalformed, id);
    }

    // Bounds before the Redis read: an overloaded pool-manager sheds load
    // without doing the work.
    if (jobs_.size() >= opts_.max_queued || queued(r.action) >= opts_.max_per_action ||
        bytes_ + body.size() > opts_.max_bytes) {
        log_warn("invoke_queue_full", {{"activationId", id}, {"action", r.action},
                                       {"queued", jobs_.size()},
                                       {"action_queued", queued(r.action)}});
        InvokeAnswer a = error(503, "Too many requests are waiting for containers; retry.", id);
        a.headers.emplace_back("Retry-After", "1");
        return a;
    }

    ActionLookup look = actions_.lookup(ns, path);
    if (look.status == ActionLookup::not_found || look.status == ActionLookup::forbidden) {
        return error(look.status == ActionLookup::forbidden ? 403 : 404,
                     look.error.empty() ? "The requested resource does not exist." : look.error,
                     id);
    }
    if (look.status != ActionLookup::ok) {
        log_warn("action_lookup_failed", {{"action", r.action}, {"error", look.error}});
        InvokeAnswer a = error(503, "cannot read the action: " + look.error, id);
        a.headers.emplace_back("Retry-After", "1");
        return a;
    }
    if (look.info.sequence || look.info.conductor) {
        // The gateway runs these (modules/gateway/ngx_http_ow_compose_module.c): it
        // takes the 409 back and asks /v1/capacity, which tells it how.
        return error(409, "The action is a sequence or a conductor action: "
                          "the gateway runs it.", id);
    }
    if (runtimes_.resolve(look.info.kind) == nullptr) {
        return error(400, "kind '" + look.info.kind + "' is not supported by this deployment",
                     id);
    }
    // A namespace at its cap can still be served by the action's own
    // containers (warm, or one already starting), or by one started in place
    // of an idle one (evicted); else /v1/capacity would answer 429.
    if (pool_.of_action(r.action, State::warm).empty() &&
        pool_.of_action(r.action, State::starting).empty() &&
        !capacity_.room_for(r.action, ns, look.info.max_containers)) {
        InvokeAnswer a = error(429, "Too many containers for namespace '" + ns + "' (limit " +
                                        std::to_string(capacity_.cap_of(
                                            look.info.max_containers)) + ").",
                               id);
        a.headers.emplace_back("Retry-After", std::to_string(capacity_.retry_after_s(ns)));
        return a;
    }

    auto job = std::make_unique<Job>();
    job->seq = ++seq_;
    job->info = look.info;
    job->deadline = clock_.now_ms() + opts_.deadline_ms;
    job->backoff_ms = opts_.backoff_ms;
    r.body = std::move(body);
    job->req = std::move(r);
    bytes_ += job->req.body.size();
    per_action_[job->req.action]++;
    uint64_t seq = job->seq;
    // Delivery starts on a timer of 0 ms: after this answer is on its way,
    // so a cold start never delays the 202.
    job->timer = clock_.after(0, [this, seq] {
        if (Job *j = find(seq)) j->timer = 0;
        step(seq);
    });
    if (journal_) {
        // Replayed only if this process dies holding the job, after any
        // delivery it started could have run: the delivery deadline, one
        // attempt, the action's time limit and the grace.
        FailureInput in;
        in.ns = ns;
        in.subject = job->req.subject;
        in.cause = job->req.cause;
        in.action = look.info.path.empty() ? job->req.action : look.info.path;
        in.binding = look.info.binding;
        in.version = look.info.version;
        in.kind = look.info.kind;
        in.limits = look.info.limits;
        in.activation_id = id;
        in.accept_ms = job->req.accept_ms;
        in.now_ms = ow::now_ms();
        in.error = "The activation was accepted, but the pool-manager holding it ended "
                   "before delivering it.";
        int64_t reap_after = in.now_ms + opts_.deadline_ms + opts_.attempt_timeout_ms +
                             action_timeout_ms(look.info) + opts_.lost_grace_ms;
        job->ticket = journal_->accept(id, ow::json_dump(failure_record(in)), reap_after);
    }
    log_info("invoke_accepted", {{"activationId", id}, {"action", job->req.action},
                                 {"queued", jobs_.size() + 1}});
    jobs_[seq] = std::move(job);

    InvokeAnswer a;
    a.status = 202;
    a.body = {{"activationId", id}};
    a.headers.emplace_back("x-openwhisk-activation-id", id);
    return a;
}

void InvokeQueue::step(uint64_t seq) {
    Job *j = find(seq);
    if (j == nullptr) return;
    if (out_of_time(*j)) {
        return fail(seq, "No container of the action could take the activation within " +
                             std::to_string(opts_.deadline_ms / 1000) + " s" +
                             (j->last_error.empty() ? "" : ": " + j->last_error) + ".");
    }
    if (j->attempts >= opts_.max_attempts) {
        return fail(seq, "No container of the action could take the activation after " +
                             std::to_string(j->attempts) + " attempts" +
                             (j->last_error.empty() ? "" : ": " + j->last_error) + ".");
    }
    // The reply may come at once (warm containers) or after a start; it is
    // keyed by seq, so a job gone meanwhile is simply not found.
    capacity_.request(j->req.action, j->scale, [this, seq](int status, const nlohmann::json &b) {
        on_capacity(seq, status, b);
    });
}

void InvokeQueue::on_capacity(uint64_t seq, int status, const nlohmann::json &body) {
    Job *j = find(seq);
    if (j == nullptr) return;
    std::string msg = body.is_object() && body.contains("error") && body["error"].is_string()
                          ? body["error"].get<std::string>()
                          : "capacity answered " + std::to_string(status);
    if (status == 404) return fail(seq, "The action no longer exists.");
    if (status == 400) return fail(seq, msg);
    if (status == 502) {
        // The container's init failed: the message is the runtime's own
        // ("Initialization has failed due to: ..."), as a blocking caller
        // would see it; another start would fail the same way.
        return fail(seq, msg);
    }
    if (status != 200) {
        // 429 namespace cap, 503 start failed or capacity deadline: a
        // later try may find a container.
        j->attempts++;
        j->last_error = msg;
        return retry_later(seq);
    }
    std::string addr;
    if (body.contains("containers") && body["containers"].is_array()) {
        for (const auto &c : body["containers"]) {
            if (!c.is_object() || !c.contains("addr") || !c["addr"].is_string()) continue;
            std::string a = c["addr"].get<std::string>();
            if (!a.empty() && !j->tried.count(a)) {
                addr = a;
                break;
            }
        }
    }
    if (addr.empty()) {
        if (!j->scale) {
            // Every warm container refused in this round: ask for one more
            // (coalesced with any start in flight), as the gateway does.
            j->scale = true;
            return step(seq);
        }
        j->last_error = "every container of the action is busy";
        j->attempts++;
        return retry_later(seq);
    }
    j->attempts++;
    int64_t left = j->deadline - clock_.now_ms();
    int64_t timeout = std::max<int64_t>(1, std::min(opts_.attempt_timeout_ms, left));
    deliverer_.post(addr, j->req, timeout, [this, seq, addr](const Delivery &d) {
        on_delivery(seq, addr, d);
    });
}

void InvokeQueue::on_delivery(uint64_t seq, const std::string &addr, const Delivery &d) {
    Job *j = find(seq);
    if (j == nullptr) return;
    if (d.kind == Delivery::answered && d.status >= 200 && d.status < 300) {
        // The sidecar has it (202 for a non-blocking invoke) and writes
        // the activation record itself.
        delivered_++;
        // the sidecar's own journal has it now: this line must never race
        // its record
        if (journal_) journal_->settle(j->ticket, j->req.activation_id);
        j->ticket = 0;
        log_info("invoke_delivered", {{"activationId", j->req.activation_id},
                                      {"action", j->req.action}, {"addr", addr},
                                      {"attempts", j->attempts},
                                      {"ms", clock_.now_ms() - j->req.accept_ms}});
        return finish(seq);
    }
    if (d.kind == Delivery::lost) {
        // Sent, but no answer: the sidecar may have accepted it. Sending it
        // again could run the action twice, so it is not (at most once, as
        // OpenWhisk). The failure record waits until a run would have
        // ended: if it did run, the sidecar's record is stored first and
        // this one is refused (the first record of an id wins).
        std::string why = "The activation was sent to a container that did not confirm it (" +
                          d.error + ").";
        int64_t wait = action_timeout_ms(j->info) + opts_.lost_grace_ms;
        j->timer = clock_.after(wait, [this, seq, why] {
            if (Job *jj = find(seq)) jj->timer = 0;
            fail(seq, why);
        });
        return;
    }
    if (d.kind == Delivery::unsent || d.status == 429 || d.status == 503) {
        j->tried.insert(addr);
        j->last_error = d.kind == Delivery::unsent
                            ? "container " + addr + ": " + d.error
                            : "container " + addr + " answered " + std::to_string(d.status);
        if (d.retry_after_s > 0) j->retry_after_ms = d.retry_after_s * 1000;
        // Next: another warm container of this round, or a scale request.
        return step(seq);
    }
    // Any other answer (400 from the sidecar's own checks, 500...) is final:
    // the same request would be refused the same way elsewhere.
    std::string msg = "The container refused the activation with status " +
                      std::to_string(d.status) + ".";
    nlohmann::json b = ow::json_parse_bounded(d.body);
    if (b.is_object() && b.contains("error") && b["error"].is_string()) {
        msg = b["error"].get<std::string>();
    }
    fail(seq, msg);
}

void InvokeQueue::retry_later(uint64_t seq) {
    Job *j = find(seq);
    if (j == nullptr) return;
    if (j->attempts >= opts_.max_attempts) return step(seq);  // fails it
    int64_t wait = j->retry_after_ms > 0 ? j->retry_after_ms : j->backoff_ms;
    j->backoff_ms = std::min(j->backoff_ms * 2, opts_.max_backoff_ms);
    j->retry_after_ms = 0;
    int64_t left = j->deadline - clock_.now_ms();
    wait = std::max<int64_t>(0, std::min(wait, left));
    // A new round: every container may take it again, and capacity is asked
    // plainly first (the containers may have drained meanwhile).
    j->tried.clear();
    j->scale = false;
    j->timer = clock_.after(wait, [this, seq] {
        if (Job *jj = find(seq)) jj->timer = 0;
        step(seq);
    });
}

void InvokeQueue::fail(uint64_t seq, const std::string &why) {
    Job *j = find(seq);
    if (j == nullptr) return;
    FailureInput in;
    in.ns = j->req.ns;
    in.subject = j->req.subject;
    in.cause = j->req.cause;
    // the action resolved (a binding or a foreign package names another)
    in.action = j->info.path.empty() ? j->req.action : j->info.path;
    in.binding = j->info.binding;
    in.version = j->info.version;
    in.kind = j->info.kind;
    in.limits = j->info.limits;
    in.activation_id = j->req.activation_id;
    in.accept_ms = j->req.accept_ms;
    in.now_ms = clock_.now_ms();
    in.error = why;
    log_warn("invoke_failed", {{"activationId", in.activation_id}, {"action", in.action},
                               {"attempts", j->attempts}, {"error", why}});
    failed_++;
    // The body is no longer needed: release it before the record is written.
    bytes_ -= j->req.body.size();
    j->req.body.clear();
    j->req.body.shrink_to_fit();
    write_record(seq, failure_record(in));
}

void InvokeQueue::write_record(uint64_t seq, const nlohmann::json &record) {
    Job *j = find(seq);
    if (j == nullptr) return;
    std::string err;
    if (records_.write(record, &err)) {
        if (journal_) journal_->settle(j->ticket);
        j->ticket = 0;
        return finish(seq);
    }
    j->record_attempts++;
    if (j->record_attempts >= opts_.record_attempts) {
        // Redis away for long: the journal keeps it (the daemon's sweep
        // replays it); without one it is lost
        if (journal_ && journal_->spill(j->req.activation_id, ow::json_dump(record))) {
            journal_->settle(j->ticket);
            j->ticket = 0;
            log_warn("failure_record_spilled", {{"activationId", j->req.activation_id},
                                                {"error", err}});
        } else {
            log_error("failure_record_lost", {{"activationId", j->req.activation_id},
                                              {"error", err}});
        }
        return finish(seq);
    }
    // Redis is away: the job keeps its queue slot (bounded) while the
    // write is retried.
    log_warn("failure_record_retry", {{"activationId", j->req.activation_id}, {"error", err}});
    j->timer = clock_.after(opts_.record_retry_ms, [this, seq, record] {
        if (Job *jj = find(seq)) jj->timer = 0;
        write_record(seq, record);
    });
}

void InvokeQueue::finish(uint64_t seq) {
    auto it = jobs_.find(seq);
    if (it == jobs_.end()) return;
    Job &j = *it->second;
    if (j.timer) clock_.cancel(j.timer);
    bytes_ -= j.req.body.size();
    auto pa = per_action_.find(j.req.action);
    if (pa != per_action_.end() && --pa->second == 0) per_action_.erase(pa);
    auto done = std::move(j.done);
    jobs_.erase(it);
    if (done) done();
}

InvokeAnswer InvokeQueue::accept(const HeaderFn &header, const std::string &query,
                                 std::string body, std::function<void()> done) {
    uint64_t before = seq_;
    InvokeAnswer a = accept(header, query, std::move(body));
    // Delivery starts on a timer, so the new job cannot have finished yet.
    if (a.status == 202 && seq_ != before) {
        if (Job *j = find(seq_)) j->done = std::move(done);
    }
    return a;
}

}  // namespace ow::pm
