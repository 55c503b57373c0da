// stream_handler.cc: streaming web actions in the sidecar
// (docs/streams.md). A POST /web of an action annotated web-stream is taken
// from the HTTP server after its header (http_server.h, Takeover); it gets
// the checks of any web request (token, container, readiness, the web
// rules), one slot of the gate, the namespace's maxStreamBytes and the
// action's time limit; the stream relay (stream_relay.h) moves the bytes;
// the record and the logs are those of any activation.
#include "sidecar/sidecar.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "libow/clock.h"
#include "libow/log.h"
#include "sidecar/activation_record.h"
#include "sidecar/stream_relay.h"

namespace ow::sidecar {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

// One stream while this sidecar holds it.
struct Sidecar::Stream : RelayedRun {
    using RelayedRun::RelayedRun;
    std::unique_ptr<ow::WebExchange> web;
    std::shared_ptr<StreamRelay> relay;
};

bool Sidecar::streams(const Request &header) const {
    if (!action_.web_stream || header.method() != http::verb::post) return false;
    auto t = header.target();
    return t.size() >= 4 && t.substr(0, 4) == "/web" && (t.size() == 4 || t[4] == '?');
}

// A web answer (WebExchange's, CORS first) as the sidecar's HTTP response.
static Response web_answer(const ow::WebResponse &w, const Activation &a) {
    Response r;
    r.version(11);
    r.result(static_cast<unsigned>(w.status));
    for (const auto &h : w.headers) r.insert(h.first, h.second);
    if (!a.id.empty()) r.set("x-openwhisk-activation-id", a.id);
    if (!a.trace.trace_id.empty()) r.set("traceparent", a.trace.header());
    if (w.status >= 200 && w.status != 204 && w.status != 304) r.body() = w.body;
    return r;
}

void Sidecar::handle_stream(StreamConn conn) {
    const Request &req = conn.header;
    auto s = std::make_shared<Stream>(read_activation(req, Entry::web, action_.ns, recorded_));
    Activation &a = s->act;
    std::optional<Response> refusal;
    if (!authorized(req)) {
        refusal = error(401, "The request is not authorized.", header(req, "X-Request-ID"), "");
    } else if (misdirected(req)) {
        refusal = error(503, "This container serves another action; retry.",
                        header(req, "X-Request-ID"), "");
    } else if (!ready_ || draining_ || recycling_ || exiting_) {
        refusal = error(503, draining_ ? "The container is shutting down."
                                       : "The container is not ready.", a.tid, "");
    } else {
        ow::WebRequest w;
        w.method = header(req, "X-OW-Web-Method");
        w.uri = header(req, "X-OW-Web-Uri");
        w.user = header(req, "X-OW-Web-User");
        for (const auto &f : req)
            w.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
        // the body is the stream, not an argument
        s->web = std::make_unique<ow::WebExchange>(w, action_.annotations, action_.run_params,
                                                   action_.init_params, action_.final_params,
                                                   a.tid);
        auto len = conn.parser->content_length();
        if (!s->web->runs()) {
            a.id.clear();   // nothing ran: no activation id
            refusal = web_answer(s->web->response(), a);
        } else if (len && *len > action_.stream_max_bytes) {
            s->web->fail(413, "Request larger than allowed: " + std::to_string(*len) + " > " +
                                  std::to_string(action_.stream_max_bytes) + " bytes.");
            a.id.clear();
            refusal = web_answer(s->web->response(), a);
        }
    }
    s->relay = std::make_shared<StreamRelay>(io_, std::move(conn));
    if (refusal) {
        s->relay->refuse(std::move(*refusal), [] {});
        return;
    }
    a.params = s->web->take_arguments();

    Gate::Admit admit = gate_.enter([this, s]() { start_stream(s); });
    if (admit == Gate::Admit::full) {
        refused_++;
        int64_t wait_s = ow::retry_after_seconds(estimator_.mean_ms(), gate_.queued(),
                                                 gate_.concurrency(), 60);
        size_t count = (size_t)gate_.inflight() + gate_.queued();
        size_t allowed = (size_t)gate_.concurrency() + gate_.buffer();
        s->web->fail(429, "Too many concurrent requests in flight (count: " +
                              std::to_string(count) + ", allowed: " + std::to_string(allowed) +
                              ").");
        Response r = web_answer(s->web->response(), a);
        r.set(http::field::retry_after, std::to_string(wait_s));
        metrics_.throttled(wait_s);
        s->relay->refuse(std::move(r), [] {});
        return;
    }
    open_++;
    last_used_ = ow::now_ms();
    if (admit == Gate::Admit::run) return start_stream(s);
    // a queued stream waits for its slot at most its time limit
    s->queue_timer = std::make_unique<asio::steady_timer>(
        io_, std::chrono::milliseconds(action_.limits.timeout_ms));
    s->queue_timer->async_wait([this, s](error_code ec) {
        if (ec || s->started) return;
        s->abandoned = true;
        s->web->fail(503, "No capacity is available to run this action right now. "
                          "Please try again later.");
        Response r = web_answer(s->web->response(), s->act);
        r.set(http::field::retry_after, "1");
        s->relay->refuse(std::move(r), [] {});
        open_--;
        maybe_exit();
    });
}

void Sidecar::start_stream(const StreamPtr &s) {
    s->started = true;
    if (s->queue_timer) s->queue_timer->cancel();
    if (s->abandoned) {
        // answered while it waited: its slot goes to the next one
        if (auto next = gate_.leave()) next();
        return;
    }
    Activation &a = s->act;
    if (recycling_ || exiting_) {
        // nothing ran: another container may take it
        s->web->fail(429, "The container is being recycled; retry.");
        Response r = web_answer(s->web->response(), a);
        r.set(http::field::retry_after, "1");
        s->relay->refuse(std::move(r), [] {});
        open_--;
        maybe_exit();
        return;
    }
    s->sink = begin_run(a);
    // what is stored should this process die before the stream ends
    if (journal_)
        s->ticket = journal_->accept(a.id, ow::json_dump(build_unfinished_record(a)), 0);

    nlohmann::json meta = run_input(a);
    StreamRelay::Endpoint ep;
    if (cfg_.runtime_port > 0) {
        error_code ec;
        ep = StreamRelay::Endpoint(
            asio::ip::tcp::endpoint(asio::ip::make_address(cfg_.runtime_host, ec),
                                    cfg_.runtime_port));
    } else {
        ep = StreamRelay::Endpoint(asio::local::stream_protocol::endpoint(runtime_socket_.path()));
    }
    StreamRelay::Options opt;
    opt.max_in_bytes = action_.stream_max_bytes;
    opt.timeout_ms = action_.limits.timeout_ms;
    StreamRelay::Hooks hooks;
    hooks.head = [s](int, ow::HeaderList &h) {
        h.insert(h.begin(), s->web->cors().begin(), s->web->cors().end());
        h.emplace_back("x-openwhisk-activation-id", s->act.id);
        if (!s->act.trace.trace_id.empty()) h.emplace_back("traceparent", s->act.trace.header());
    };
    hooks.refusal = [this, s](const StreamResult &r) {
        switch (r.kind) {
        case StreamResult::too_large:
            s->web->fail(413, "Request larger than allowed: " + std::to_string(r.bytes_in) +
                                  " > " + std::to_string(action_.stream_max_bytes) + " bytes.");
            break;
        case StreamResult::timed_out:
            s->web->fail(502, "The action exceeded its time limits of " +
                                  std::to_string(action_.limits.timeout_ms) + " milliseconds.");
            break;
        default:
            s->web->fail(502, stream_failure_text(r));
        }
        return web_answer(s->web->response(), s->act);
    };
    hooks.done = [this, s](const StreamResult &r) { stream_done(s, r); };
    s->relay->start(ep, ow::json_dump(meta), opt, std::move(hooks));
}

// Why a stream failed, for the client and the record.
std::string Sidecar::stream_failure_text(const StreamResult &r) const {
    if (r.kind == StreamResult::action_failed) {
        nlohmann::json f = nlohmann::json::parse(r.failure, nullptr, false);
        if (f.is_object() && f.contains("error"))
            return f["error"].is_string() ? f["error"].get<std::string>() : ow::json_dump(f["error"]);
        return kAbnormalRun;
    }
    if (r.kind == StreamResult::runtime_failed)
        return r.head_sent ? "The action's answer stream ended before its end." : kAbnormalRun;
    if (r.kind == StreamResult::timed_out)
        return "The action exceeded its time limits of " +
               std::to_string(action_.limits.timeout_ms) + " milliseconds.";
    if (r.kind == StreamResult::too_large)
        return "Request larger than allowed: " + std::to_string(r.bytes_in) + " > " +
               std::to_string(action_.stream_max_bytes) + " bytes.";
    return "The client closed the connection before the stream ended.";
}

void Sidecar::stream_done(const StreamPtr &s, const StreamResult &r) {
    Activation &a = s->act;
    a.end_ms = ow::now_ms();
    nlohmann::json headers = nlohmann::json::object();
    for (const auto &h : r.headers) headers[h.first] = h.second;
    nlohmann::json result = {{"statusCode", r.status}, {"headers", std::move(headers)},
                             {"bytesIn", r.bytes_in}, {"bytesOut", r.bytes_out}};
    RunOutcome &o = a.outcome;
    // The slot waits for the runtime's sentinels, which it prints once it
    // can take the next stream: the client may have the last byte before
    // the runtime noticed its answer ended (it would refuse the next one),
    // and an action that lost its client may still be running.
    s->hold_slot = true;
    switch (r.kind) {
    case StreamResult::done:
        o.status_code = 0;
        break;
    case StreamResult::client_gone:
    case StreamResult::too_large:
        o.status_code = 1;
        break;
    case StreamResult::timed_out:
        o.timeout = true;
        /* fall through */
    case StreamResult::runtime_failed:
    case StreamResult::action_failed:
        o.status_code = 2;
        o.recycle = true;
        break;
    }
    if (r.kind != StreamResult::done) result["error"] = stream_failure_text(r);
    o.size = ow::json_dump(result).size();
    o.result = std::move(result);
    estimator_.observe(a.end_ms - a.start_ms);
    if (r.kind != StreamResult::done)
        ow::log_info("stream_ended", {{"activationId", a.id}, {"action", action_.path},
                                      {"why", stream_kind_text(r.kind)},
                                      {"bytesIn", r.bytes_in}, {"bytesOut", r.bytes_out}});
    relayed_run_ended(s);
}

void Sidecar::relayed_run_ended(const RelayedRunPtr &s) {
    Activation &a = s->act;
    RunOutcome &o = a.outcome;
    metrics_.activation(o.status_code, a.end_ms - a.start_ms);
    activations_++;
    last_used_ = a.end_ms;
    if (o.recycle) {
        s->hold_slot = false;
        recycle(o.timeout ? "time limit" : "developer error");
        if (o.timeout || runtime_dead_) kill_runtime(proc_);
    }
    if (s->sink->complete) return relayed_logs_complete(s);
    s->sink->on_complete = [this, s]() { relayed_logs_complete(s); };
    s->log_timer = std::make_unique<asio::steady_timer>(
        io_, std::chrono::milliseconds(cfg_.log_deadline_ms));
    std::weak_ptr<RelayedRun> ws = s;
    s->log_timer->async_wait([this, ws](error_code ec) {
        auto s = ws.lock();
        if (ec || !s) return;
        s->log_timed_out = true;
        logs_.close(s->sink, true, ow::now_ns());
    });
}

void Sidecar::relayed_logs_complete(const RelayedRunPtr &s) {
    Activation &a = s->act;
    s->sink->on_complete = nullptr;
    if (s->log_timer) s->log_timer->cancel();
    if (s->hold_slot) {
        if (s->log_timed_out) {
            // the runtime did not end its stream (an action that lost its
            // client and goes on, say): the next one must not meet it
            recycle("stream not ended");
            kill_runtime(proc_);
        } else if (auto next = gate_.leave()) {
            next();
        }
    }
    if (a.init_time >= 0 && !init_logs_.empty()) {
        a.logs = std::move(init_logs_);
        init_logs_.clear();
    }
    for (const auto &l : s->sink->logs.lines()) a.logs.push_back(l);
    metrics_.logs((uint64_t)s->sink->logs.bytes(), s->sink->logs.truncated());
    bool recycle_runtime = a.outcome.recycle;
    writer_.submit(std::move(a), "", true, s->ticket);
    open_--;
    if (recycle_runtime) kill_runtime(proc_);
    maybe_exit();
}

}  // namespace ow::sidecar
