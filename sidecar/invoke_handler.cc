// invoke_handler.cc: the invoke path of the sidecar (see sidecar.h):
// POST /invoke → gate → /run with deadline → result mapping → logs → record
// → the §5 response; GET /health; GET /metrics (sidecar_metrics.h).
#include "sidecar/sidecar.h"

#include <algorithm>
#include <utility>

#include "libow/base64.h"
#include "libow/clock.h"
#include "libow/json_limits.h"
#include "libow/log.h"
#include "sidecar/activation_record.h"

namespace ow::sidecar {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

// An activation while this sidecar holds it: the typed facts that become
// its record (activation.h), and how and when its caller is answered.
struct Sidecar::InFlight {
    explicit InFlight(Activation a) : act(std::move(a)) {}
    Activation act;
    // a web action request that runs (handle_web): shapes its answer
    std::unique_ptr<ow::WebExchange> web;
    Reply reply;
    bool replied = false;
    std::unique_ptr<asio::steady_timer> wait_timer;   // blocking wait
    std::unique_ptr<asio::steady_timer> log_timer;    // sentinel deadline
    // its line in the journal (activation_journal.h): settled when stored
    uint64_t ticket = 0;
    std::shared_ptr<LogSink> sink;
};

Response Sidecar::error(int status, const std::string &msg, const std::string &code,
                        const std::string &activation_id) {
    Response r = json_response(status, ow::json_dump(error_body(msg, code)));
    if (!activation_id.empty()) r.set("x-openwhisk-activation-id", activation_id);
    return r;
}

void Sidecar::handle(Request &&req, Reply reply) {
    std::string target(req.target());
    std::string path = target.substr(0, target.find('?'));
    bool acts = path == "/invoke" || path == "/web" || path == "/specialize" ||
                path.compare(0, 13, "/connections/") == 0;
    if (acts && !authorized(req)) {
        // only the gateway and the pool-manager hold the token; an action
        // on the same network (another tenant's) gets nothing but this
        reply(error(401, "The request is not authorized.", header(req, "X-Request-ID"), ""));
    } else if ((path == "/invoke" || path == "/web") && misdirected(req)) {
        reply(error(503, "This container serves another action; retry.",
                    header(req, "X-Request-ID"), ""));
    } else if (path == "/invoke" && req.method() == http::verb::post) {
        handle_invoke(std::move(req), std::move(reply));
    } else if (path == "/web" && (req.method() == http::verb::post ||
                                  req.method() == http::verb::get)) {
        // GET: an upgrade to an action not annotated web-socket (the
        // gateway sends every upgrade as it came): an ordinary web request
        handle_web(std::move(req), std::move(reply));
    } else if (path.compare(0, 13, "/connections/") == 0) {
        handle_connections(std::move(req), std::move(reply));   // websocket_handler.cc
    } else if (path == "/health" && req.method() == http::verb::get) {
        Response h = health();
        // A pod's readinessProbe asks /health?probe=readiness
        // (pool-manager/backends/kube/kube_backend.cc): 503 until /init is done (or the
        // stemcell waits for /specialize) and while draining, so the pod is
        // Ready exactly when it can take work. Plain /health stays 200.
        if (target.find("probe=readiness") != std::string::npos &&
            !((ready_ || stemcell_) && !draining_ && !recycling_)) {
            h.result(http::status::service_unavailable);
        }
        reply(std::move(h));
    } else if (path == "/metrics" && req.method() == http::verb::get &&
               !cfg_.metrics_token.empty() &&
               !ow::bearer_equal(header(req, "Authorization"), cfg_.metrics_token)) {
        // one tenant's counters: for the scraper that holds the token only
        Response r = error(401, "The supplied authentication is invalid.",
                           header(req, "X-Request-ID"), "");
        r.set(http::field::www_authenticate, "Bearer realm=\"owx metrics\"");
        reply(std::move(r));
    } else if (path == "/metrics" && req.method() == http::verb::get) {
        Response r{http::status::ok, 11};
        r.set(http::field::content_type, ow::metrics::kContentType);
        r.body() = metrics_.expose();
        r.keep_alive(req.keep_alive());
        r.prepare_payload();
        reply(std::move(r));
    } else if (path == "/specialize" && req.method() == http::verb::post) {
        handle_specialize(std::move(req), std::move(reply));  // stemcell.cc
    } else {
        reply(error(404, "The requested resource does not exist.", header(req, "X-Request-ID"), ""));
    }
}

// A gateway routes by a table that can be a moment behind: a container
// removed, its address already taken by another container's sidecar (ports
// and pod IPs are reused). Running this action for another's request would
// hand one namespace's input to another's code. 503 makes nginx try the
// next container (proxy_next_upstream http_503). One header compare.
bool Sidecar::misdirected(const Request &req) const {
    if (cfg_.action_key.empty()) return false;  // a stemcell: not ready anyway
    auto it = req.find("X-OW-Path");
    return it != req.end() && it->value() != cfg_.action_key;
}

// The internal token (libow/secrets.h), compared in constant time. No token
// configured: no check (ow-sidecar run by hand or by a unit-test harness).
bool Sidecar::authorized(const Request &req) const {
    if (cfg_.token.empty()) return true;
    auto it = req.find(ow::kTokenHeader);
    return it != req.end() &&
           ow::token_equal(std::string_view(it->value().data(), it->value().size()),
                           cfg_.token);
}

Response Sidecar::health() const {
    nlohmann::json h = {{"ready", ready_ && !draining_ && !recycling_},
                        {"inflight", gate_.inflight()}, {"queued", gate_.queued()},
                        // an open WebSocket connection is use until it
                        // closes (the pool-manager collects idle ones)
                        {"lastUsed", ws_conns_.empty() ? last_used_ : ow::now_ms()},
                        {"connections", ws_conns_.size()},
                        {"activations", activations_},
                        // the pool-manager's Retry-After when a namespace's
                        // containers are all busy (libow/retry_after.h)
                        {"meanRunMs", static_cast<int64_t>(estimator_.mean_ms())},
                        {"refused", refused_}, {"recordsWritten", writer_.written()},
                        {"recordsDropped", writer_.dropped()},
                        {"recordsSpilled", writer_.spilled()}};
    return json_response(200, ow::json_dump(h));
}

void Sidecar::handle_invoke(Request &&req, Reply reply) {
    auto x = std::make_shared<InFlight>(read_activation(req, Entry::invoke, action_.ns, recorded_));
    Activation &a = x->act;
    if (!ready_ || draining_ || recycling_ || exiting_) {
        reply(error(503, draining_ ? "The container is shutting down."
                                   : "The container is not ready.", a.tid, a.id));
        return;
    }
    std::string_view target(req.target().data(), req.target().size()), query;
    size_t qm = target.find('?');
    if (qm != std::string_view::npos) query = target.substr(qm + 1);
    std::string err;
    if (!parse_invoke_query(query, &a.q, &err)) {
        reply(error(400, err, a.tid, a.id));
        return;
    }
    if (!a.cause.empty() && !a.cause_is_trigger) {
        // A component of a sequence or conductor action (X-OW-Cause comes
        // from the gateway's trusted listener only): its composition waits
        // for it until it is done, as OpenWhisk waits for a component, not
        // the 60 s a client's blocking invoke gets.
        a.q.timeout_ms = action_.limits.timeout_ms + kComponentWaitSlackMs;
    }
    nlohmann::json body = nlohmann::json::object();
    if (!req.body().empty()) {
        // bounded: a body nested 100,000 deep would overflow this thread's
        // stack when merged (libow/json_limits.h); it is the client's 400,
        // never a 503 that sends it on to the next container
        ow::JsonError why = ow::JsonError::none;
        body = ow::json_parse_bounded(req.body(), &why);
        if (body.is_discarded() || !body.is_object()) {
            std::string detail = why == ow::JsonError::too_deep || why == ow::JsonError::too_large
                                     ? ow::json_error_text(why) : "expected a JSON object.";
            reply(error(400, "The request content was malformed:\n" + detail, a.tid, a.id));
            return;
        }
    }
    if (!merge_params(action_, body, &a.params)) {
        reply(error(400, kFinalError, a.tid, a.id));
        return;
    }
    if (size_t n = merged_params_over(action_, req.body().size(), a.params)) {
        // package <- binding <- action <- request over 1 MB: OpenWhisk's 413
        reply(error(413, "Request larger than allowed: " + std::to_string(n) + " > " +
                    std::to_string(kMaxPayloadBytes) + " bytes.", a.tid, a.id));
        return;
    }
    if (action_.provide_api_key) {
        std::string auth = header(req, "Authorization"), key;
        if (auth.compare(0, 6, "Basic ") == 0 && ow::base64_decode(auth.substr(6), &key))
            a.api_key = key;
    }

    admit(x, std::move(reply));
}

// the gate, then run (or 429); a blocking caller gets its wait timer
void Sidecar::admit(const InFlightPtr &x, Reply reply) {
    const Activation &a = x->act;
    x->reply = std::move(reply);
    std::weak_ptr<InFlight> weak = x;
    Gate::Admit admit = gate_.enter([this, x]() {
        if (recycling_ || exiting_) answer_unrun(x);
        else run(x);
    });
    if (admit == Gate::Admit::full) {
        refused_++;
        int64_t wait_s = ow::retry_after_seconds(estimator_.mean_ms(), gate_.queued(),
                                             gate_.concurrency(), 60);
        size_t count = (size_t)gate_.inflight() + gate_.queued();
        size_t allowed = (size_t)gate_.concurrency() + gate_.buffer();
        Response r = error(429, "Too many concurrent requests in flight (count: " +
                           std::to_string(count) + ", allowed: " + std::to_string(allowed) + ").",
                           a.tid, a.id);
        r.set(http::field::retry_after, std::to_string(wait_s));
        r.set("traceparent", a.trace.header());
        metrics_.throttled(wait_s);
        ow::log_info("429", {{"activationId", a.id}, {"namespace", a.ns},
                             {"action", action_.path}, {"retryAfter", wait_s},
                             {"inflight", gate_.inflight()}, {"queued", gate_.queued()}});
        auto rep = std::move(x->reply);
        rep(std::move(r));
        return;
    }
    open_++;
    last_used_ = ow::now_ms();
    if (!a.q.blocking) {
        answer_accepted(x);
    } else {
        x->wait_timer = std::make_unique<asio::steady_timer>(
            io_, std::chrono::milliseconds(a.q.timeout_ms));
        x->wait_timer->async_wait([this, weak](error_code ec) {
            auto x = weak.lock();
            if (ec || !x || x->replied) return;
            answer_accepted(x);   // the run goes on; its record is still written
        });
    }
    if (admit == Gate::Admit::run) run(x);
}

void Sidecar::answer(const InFlightPtr &x, int status, std::string json) {
    if (x->replied) return;
    x->replied = true;
    if (x->wait_timer) x->wait_timer->cancel();
    Response r = json_response(status, std::move(json));
    r.set("x-openwhisk-activation-id", x->act.id);
    r.set("traceparent", x->act.trace.header());
    auto rep = std::move(x->reply);
    if (rep) rep(std::move(r));
}

void Sidecar::answer_accepted(const InFlightPtr &x) {
    if (x->replied) return;
    journal_unfinished(x);
    if (x->web) {
        // §7: still running when the blocking wait ended
        x->web->fail(202, "Response not yet ready.");
        answer_web(x, x->web->response());
        return;
    }
    answer(x, 202, ow::json_dump(nlohmann::json{{"activationId", x->act.id}}));
}

// A queued request whose container is being recycled before it ran. A
// blocking caller still waiting gets 429 + Retry-After 1, which makes the
// gateway try another container (nothing ran, so a retry is safe). A caller
// that already has its 202 gets a whisk-error record: the activation ends
// visibly instead of being lost.
void Sidecar::answer_unrun(const InFlightPtr &x) {
    Activation &a = x->act;
    if (!x->replied) {
        x->replied = true;
        if (x->wait_timer) x->wait_timer->cancel();
        Response r = error(429, "The container is being recycled; retry.", a.tid, a.id);
        r.set(http::field::retry_after, "1");
        auto rep = std::move(x->reply);
        if (rep) rep(std::move(r));
        open_--;
        maybe_exit();
        return;
    }
    a.start_ms = a.end_ms = ow::now_ms();
    a.wait_ms = a.start_ms - a.accept_ms;
    a.outcome.status_code = 3;
    a.outcome.result = {{"error", "The action could not run: its container was recycled."}};
    a.outcome.size = ow::json_dump(a.outcome.result).size();
    metrics_.activation(3, -1);
    writer_.submit(std::move(a), "", false, x->ticket);
    open_--;
    maybe_exit();
}

// An activation starts running (/run and /stream alike): its start and wait
// times, the container's init time on its first, and its log sink, opened.
std::shared_ptr<LogSink> Sidecar::begin_run(Activation &a) {
    a.start_ms = ow::now_ms();
    a.wait_ms = std::max<int64_t>(a.start_ms - a.accept_ms, 0);
    metrics_.started(a.wait_ms);
    if (first_run_) {
        first_run_ = false;
        a.init_time = init_time_;
    }
    auto sink = std::make_shared<LogSink>(action_.limits.logs_mb * 1048576);
    sink->activation_id = a.id;
    sink->ns = a.ns;
    sink->action = action_.path;
    logs_.open(sink);
    return sink;
}

// What the runtime is given with a run (/run's body, /stream's first line):
// the arguments, moved out of a (needed for this only), and the activation's
// facts, which the runtimes export as __OW_<KEY> (§9); the action sees
// __OW_TRACEPARENT with this activation's span as the parent.
nlohmann::json Sidecar::run_input(Activation &a) const {
    nlohmann::json in = {{"value", std::move(a.params)}, {"namespace", a.ns},
                         {"action_name", action_.fqn},
                         {"action_version", action_.version},
                         {"activation_id", a.id}, {"transaction_id", a.tid},
                         {"deadline", std::to_string(a.start_ms + action_.limits.timeout_ms)}};
    a.params = nlohmann::json::object();
    if (action_.provide_api_key && !a.api_key.empty()) in["api_key"] = a.api_key;
    in["traceparent"] = a.trace.header();
    return in;
}

void Sidecar::run(const InFlightPtr &x) {
    Activation &a = x->act;
    x->sink = begin_run(a);
    client_->post("/run", ow::json_dump(run_input(a)), action_.limits.timeout_ms,
                  [this, x](RuntimeReply r) { on_run_reply(x, std::move(r)); });
}

// A /run the runtime refused (§14): nothing ran, and it prints no sentinel.
static bool refused_run(const RuntimeReply &r) {
    return r.kind == RuntimeReply::ok && r.status == 403 &&
           r.body.find("System not ready") != std::string::npos;
}

void Sidecar::on_run_reply(const InFlightPtr &x, RuntimeReply r) {
    x->act.end_ms = ow::now_ms();
    if (!x->sink->complete && r.kind == RuntimeReply::ok && !refused_run(r)) {
        // The runtime prints its sentinels before it replies: they are in
        // the pipes, most often read in this same turn of the loop with
        // their handlers queued behind this one. Going on after them (once)
        // builds the record once, complete, where going on now built a
        // logs-lost stand-in for the journal and the record again later.
        asio::post(io_, [this, x, r = std::move(r)]() mutable { run_replied(x, std::move(r)); });
        return;
    }
    run_replied(x, std::move(r));
}

void Sidecar::run_replied(const InFlightPtr &x, RuntimeReply r) {
    Activation &a = x->act;
    bool refused = refused_run(r);
    a.outcome = map_run_reply(r, action_.limits.timeout_ms);
    metrics_.activation(a.outcome.status_code, a.end_ms - a.start_ms);
    activations_++;
    last_used_ = a.end_ms;
    estimator_.observe(a.end_ms - a.start_ms);
    // the "run" log line is written by the record writer's thread, with the
    // record (on_logs_complete): not on this thread, before the answer

    // a web action's answer is its result, shaped (web_action.h)
    if (x->web && !x->replied) {
        journal_logs_lost(x);
        x->web->finish(a.outcome.status_code, a.outcome.result);
        answer_web(x, x->web->response());
    }

    // a blocking caller that wants only the result need not wait for the
    // logs; when they are in already (the runtime prints its sentinels before
    // it replies) on_logs_complete answers it below, from the one record it
    // builds for the journal and the writer alike
    if (answers_result(x) && !x->sink->complete) {
        journal_logs_lost(x);
        answer(x, blocking_http_status(a.outcome.status_code), ow::json_dump(a.outcome.result));
    }

    if (!x->sink->complete) x->sink->on_complete = [this, x]() { on_logs_complete(x); };
    if (a.outcome.recycle) {
        recycle(a.outcome.timeout ? "time limit" : "developer error");
        // the runtime is still busy with the timed-out run: stop it now (its
        // streams end, which completes the logs)
        if (a.outcome.timeout || runtime_dead_) kill_runtime(proc_);
    } else if (auto next = gate_.leave()) {
        next();
    }
    if (x->sink->complete) {
        // the sentinels came through the pipes before the HTTP reply
        on_logs_complete(x);
        return;
    }
    if (refused) {
        // a refused /run prints no sentinel (§14)
        logs_.close(x->sink, false, ow::now_ns());
        return;
    }
    {
        x->log_timer = std::make_unique<asio::steady_timer>(
            io_, std::chrono::milliseconds(cfg_.log_deadline_ms));
        std::weak_ptr<LogSink> ws = x->sink;
        x->log_timer->async_wait([this, ws](error_code ec) {
            auto s = ws.lock();
            if (!ec && s) logs_.close(s, true, ow::now_ns());
        });
    }
}

// A blocking caller still waiting that is answered with the result alone:
// it asked for it, or the result is an array (an OpenWhisk quirk; not for a
// component's caller, which needs the record).
bool Sidecar::answers_result(const InFlightPtr &x) const {
    const Activation &a = x->act;
    return a.q.blocking && !x->replied &&
           (a.q.result || (a.outcome.result.is_array() && a.cause.empty()));
}

void Sidecar::on_logs_complete(const InFlightPtr &x) {
    Activation &a = x->act;
    // the sink's callback holds the activation, which holds the sink: drop
    // it, else every activation whose sentinels came before the /run reply
    // (the usual order: on_complete is set after finish() ran) leaks
    x->sink->on_complete = nullptr;
    if (x->log_timer) x->log_timer->cancel();
    if (a.init_time >= 0 && !init_logs_.empty()) {
        a.logs = std::move(init_logs_);
        init_logs_.clear();
    }
    for (const auto &l : x->sink->logs.lines()) a.logs.push_back(l);
    metrics_.logs((uint64_t)x->sink->logs.bytes(), x->sink->logs.truncated());
    bool recycle_runtime = a.outcome.recycle;
    std::string json;
    if (a.q.blocking && !x->replied) {
        // the caller waits for the whole record, or for the result when the
        // logs were complete before the run's reply (else on_run_reply
        // answered it): built here, journalled before the answer leaves, so
        // what the caller is told is what will be stored, whatever dies next
        nlohmann::json record = build_record(a);
        json = ow::json_dump(record);
        if (journal_) x->ticket = journal_->accept(a.id, json, 0);
        int status = blocking_http_status(a.outcome.status_code);
        if (answers_result(x)) {
            answer(x, status, ow::json_dump(a.outcome.result));
        } else if (a.cause.empty()) {
            // the answer is the record itself: the journal's serialisation
            answer(x, status, json);
        } else {
            // a component: the gateway accounts for it; the logs stay in the
            // stored record and would only swell its in-memory answer
            record["logs"] = nlohmann::json::array();
            answer(x, status, ow::json_dump(record));
        }
    }
    // answered already (result only, or 202): the writer thread builds it
    writer_.submit(std::move(a), std::move(json), true, x->ticket);
    open_--;
    if (recycle_runtime) kill_runtime(proc_);
    maybe_exit();
}

// One write(2) to the page cache before the answer (activation_journal.h):
// what a caller of `wsk activation get` is told should this process die
// before the record is stored.
void Sidecar::journal_unfinished(const InFlightPtr &x) {
    if (journal_ == nullptr || x->ticket != 0) return;
    x->ticket = journal_->accept(x->act.id, ow::json_dump(build_unfinished_record(x->act)), 0);
}

void Sidecar::journal_logs_lost(const InFlightPtr &x) {
    if (journal_ == nullptr || x->ticket != 0) return;
    x->ticket = journal_->accept(
        x->act.id, ow::json_dump(build_record_logs_lost(x->act, ow::now_ns())), 0);
}

// POST /web (conf/web_proxy.conf): a web action request. Answered without
// running when the action is not exported, for OPTIONS, or when
// require-whisk-auth is not met; else its arguments are built and it runs as
// a blocking invocation of the owner (records as usual).
void Sidecar::handle_web(Request &&req, Reply reply) {
    auto x = std::make_shared<InFlight>(read_activation(req, Entry::web, action_.ns, recorded_));
    Activation &a = x->act;
    x->reply = std::move(reply);

    if (!ready_ || draining_ || recycling_ || exiting_) {
        answer_web(x, ow::web_error(503, draining_ ? "The container is shutting down."
                                                   : "The container is not ready.", a.tid));
        return;
    }
    ow::WebRequest w;
    w.method = header(req, "X-OW-Web-Method");
    w.uri = header(req, "X-OW-Web-Uri");
    w.user = header(req, "X-OW-Web-User");
    for (const auto &f : req)
        w.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    w.body = std::move(req.body());
    // the URI, CORS, precheck and arguments (libow/web_action.h)
    auto web = std::make_unique<ow::WebExchange>(w, action_.annotations, action_.run_params,
                                                 action_.init_params, action_.final_params,
                                                 a.tid);
    if (!web->runs()) {
        // nothing ran: no activation id
        a.id.clear();
        answer_web(x, web->response());
        return;
    }
    a.params = web->take_arguments();
    x->web = std::move(web);
    a.q.blocking = true;
    a.q.result = true;
    a.q.timeout_ms = kMaxBlockingWaitMs;
    Reply rep = std::move(x->reply);
    admit(x, std::move(rep));
}

// One run of a web action whose arguments are built already (a WebSocket
// event, websocket_handler.cc): a blocking invocation of the owner, its
// answer shaped by web, as handle_web's.
void Sidecar::run_web(Activation a, std::unique_ptr<ow::WebExchange> web, Reply reply) {
    auto x = std::make_shared<InFlight>(std::move(a));
    x->web = std::move(web);
    x->act.q.blocking = true;
    x->act.q.result = true;
    x->act.q.timeout_ms = kMaxBlockingWaitMs;
    admit(x, std::move(reply));
}

// w: the whole answer (WebExchange's includes the CORS headers)
void Sidecar::answer_web(const InFlightPtr &x, ow::WebResponse w) {
    if (x->replied) return;
    x->replied = true;
    if (x->wait_timer) x->wait_timer->cancel();
    Response r;
    r.version(11);
    r.keep_alive(true);
    r.result(static_cast<unsigned>(w.status));
    for (const auto &h : w.headers) r.insert(h.first, h.second);
    if (!x->act.id.empty()) r.set("x-openwhisk-activation-id", x->act.id);
    if (!x->act.trace.trace_id.empty()) r.set("traceparent", x->act.trace.header());
    // an action's statusCode 1xx, 204 or 304 carries no body (HTTP; Beast
    // throws on one)
    if (w.status < 200 || w.status == 204 || w.status == 304) w.body.clear();
    r.body() = std::move(w.body);
    r.prepare_payload();
    auto rep = std::move(x->reply);
    if (rep) rep(std::move(r));
}

}  // namespace ow::sidecar
