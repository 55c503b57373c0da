// websocket_handler.cc: WebSockets at a web action's URL, one activation
// per event (docs/websockets.md). A GET /web upgrade of an action annotated
// web-socket is taken from the HTTP server after its header (Takeover);
// it gets the checks of any web request (token, container, readiness, the
// web rules), a place in the namespace's connection limit (the registry,
// connection_registry.h), then its connect event runs the action: an error
// or a statusCode >= 400 refuses the upgrade with that answer. Each message
// and the disconnect run it again, in order, one at a time, each through
// the gate as a web request does (its own activation and record); between
// them the connection holds no slot. POST, DELETE and GET
// /connections/<id> push to, close and describe a connection (the REST
// API's way in).
#include "sidecar/sidecar.h"

#include <sys/random.h>

#include <cstdio>
#include <utility>

#include <boost/beast/websocket/rfc6455.hpp>

#include "libow/base64.h"
#include "libow/clock.h"
#include "libow/json_dump.h"
#include "libow/log.h"
#include "sidecar/activation_record.h"
#include "sidecar/ws_stream_relay.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

namespace ow::sidecar {

namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using boost::system::error_code;

// One connection while this sidecar holds it.
struct Sidecar::WsConn {
    std::string id;
    std::shared_ptr<WsSession> session;
    Request header;        // the upgrade's: each event's activation facts
    ow::WebRequest web;    // the upgrade as a web request: each event's arguments
    std::string entry;     // its registry entry (owx:{ns}:conn:<id>)
    nlohmann::json entry_json;
    bool registered = false;
};

// A streaming handler's connection while it runs: one activation for the
// connection's life, one gate slot.
struct Sidecar::WsStream : RelayedRun {
    using RelayedRun::RelayedRun;
    WsConnPtr conn;
    std::shared_ptr<WsStreamRelay> relay;
};

// 128 random bits, hex. getrandom(2) from the kernel's pool; it does not
// fail for 16 bytes once the pool is ready (at boot it blocks until then).
static std::string new_connection_id() {
    unsigned char b[16] = {0};
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n > 0) got += (size_t)n;
    }
    char hex[33];
    for (size_t i = 0; i < sizeof b; i++) std::snprintf(hex + 2 * i, 3, "%02x", b[i]);
    return std::string(hex, 32);
}

bool Sidecar::websockets(const Request &header) const {
    if (!action_.web_socket || header.method() != http::verb::get) return false;
    auto t = header.target();
    bool web = t.size() >= 4 && t.substr(0, 4) == "/web" && (t.size() == 4 || t[4] == '?');
    return web && websocket::is_upgrade(header);
}

// A web answer as an HTTP response (CORS first, the activation id).
static Response ws_web_answer(const ow::WebResponse &w, const std::string &activation_id) {
    Response r;
    r.version(11);
    r.result(static_cast<unsigned>(w.status));
    for (const auto &h : w.headers) r.insert(h.first, h.second);
    if (!activation_id.empty()) r.set("x-openwhisk-activation-id", activation_id);
    if (w.status >= 200 && w.status != 204 && w.status != 304) r.body() = w.body;
    return r;
}

void Sidecar::handle_websocket(StreamConn conn) {
    auto c = std::make_shared<WsConn>();
    c->header = conn.header;
    c->session = std::make_shared<WsSession>(std::move(conn));
    const Request &req = c->header;
    std::string tid = header(req, "X-Request-ID");
    if (!authorized(req))
        return c->session->refuse(error(401, "The request is not authorized.", tid, ""));
    if (misdirected(req))
        return c->session->refuse(
            error(503, "This container serves another action; retry.", tid, ""));
    if (!ready_ || draining_ || recycling_ || exiting_)
        return c->session->refuse(error(503, draining_ ? "The container is shutting down."
                                                       : "The container is not ready.", tid, ""));
    c->web.method = header(req, "X-OW-Web-Method");
    c->web.uri = header(req, "X-OW-Web-Uri");
    c->web.user = header(req, "X-OW-Web-User");
    for (const auto &f : req)
        c->web.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    // not exported, require-whisk-auth not met, a bad URI: nothing runs
    ow::WebExchange check(c->web, action_.annotations, action_.run_params, action_.init_params,
                          action_.final_params, tid);
    if (!check.runs()) return c->session->refuse(ws_web_answer(check.response(), ""));

    if (!registry_) {
        ConnectionRegistryOptions ro;
        registry_ = std::make_unique<ConnectionRegistry>(io_, cfg_.redis_host, cfg_.redis_port,
                                                         cfg_.redis_cred, ro);
    }
    c->id = new_connection_id();
    c->entry_json = {{"connectionId", c->id}, {"container", cfg_.container_id},
                     {"action", action_.path}, {"connectedAt", ow::now_ms()}};
    c->entry = ow::json_dump(c->entry_json);
    int64_t max = action_.ws.max_connections;
    registry_->admit(action_.invoker, c->id, c->entry, max,
                     [this, c, tid, max](ConnectionRegistry::Admit a, int64_t count) {
        if (a == ConnectionRegistry::Admit::full) {
            Response r = error(429, "Too many concurrent connections (count: " +
                                    std::to_string(count) + ", allowed: " +
                                    std::to_string(max) + ").", tid, "");
            r.set(http::field::retry_after, "1");
            return c->session->refuse(std::move(r));
        }
        if (a != ConnectionRegistry::Admit::ok)
            return c->session->refuse(error(503, "The connection could not be registered; "
                                                 "retry.", tid, ""));
        c->registered = true;
        if (action_.web_stream) ws_stream_start(c);
        else ws_connect(c);
    });
}

void Sidecar::ws_connect(const WsConnPtr &c) {
    ws_event(c, "connect", "", false, 0, [this, c](Response r) {
        // the next events are activations of their own: new ids, accepted now
        std::string connect_id = header(c->header, "X-OW-Activation-Id");
        c->header.erase("X-OW-Activation-Id");
        c->header.erase("X-OW-Accept-Time");
        if (r.result_int() >= 400 || exiting_) {
            // the action refused (or failed): its answer instead of the 101
            ws_unregister(c);
            return c->session->refuse(std::move(r));
        }
        ow::HeaderList h;
        auto act = r.find("x-openwhisk-activation-id");
        if (act != r.end()) h.emplace_back("x-openwhisk-activation-id", std::string(act->value()));
        h.emplace_back("x-openwhisk-connection-id", c->id);
        WsSession::Options opt;
        opt.max_message_bytes = action_.ws.max_message_bytes;
        opt.idle_ms = action_.ws.idle_ms;
        WsSession::Hooks hooks;
        std::weak_ptr<WsConn> wc = c;
        hooks.message = [this, wc](std::string data, bool binary) {
            auto c = wc.lock();
            if (c) ws_message(c, std::move(data), binary);
        };
        hooks.closed = [this, wc](uint16_t code, const std::string &why) {
            auto c = wc.lock();
            if (c) ws_closed(c, code, why);
        };
        ws_conns_[c->id] = c;
        if (!ws_refresh_timer_) ws_refresh();
        c->session->accept(std::move(h), opt, std::move(hooks));
        ow::log_info("websocket_open", {{"connectionId", c->id}, {"action", action_.path},
                                        {"connections", ws_conns_.size()}});
    });
}

// A message's result with a body goes back: a binary frame when its
// Content-Type is not text (the web rules decoded its base64 body), else a
// text frame. No body (or an empty one), an error: nothing is sent.
void Sidecar::ws_message(const WsConnPtr &c, std::string data, bool binary) {
    ws_event(c, "message", std::move(data), binary, 0, [c](Response r) {
        if (r.result_int() < 400 && !r.body().empty()) {
            std::string type(r[http::field::content_type]);
            bool text = type.empty() || type.compare(0, 5, "text/") == 0 ||
                        type.find("json") != std::string::npos ||
                        type.find("xml") != std::string::npos ||
                        type.find("javascript") != std::string::npos;
            if (!c->session->send(std::move(r.body()), !text))
                ow::log_warn("websocket_reply_dropped", {{"connectionId", c->id}});
        } else if (r.result_int() >= 400) {
            ow::log_info("websocket_message_failed",
                         {{"connectionId", c->id}, {"status", r.result_int()}});
        }
        c->session->resume();
    });
}

void Sidecar::ws_closed(const WsConnPtr &c, uint16_t code, const std::string &why) {
    ws_conns_.erase(c->id);
    ws_unregister(c);
    ow::log_info("websocket_closed", {{"connectionId", c->id}, {"code", code}, {"why", why},
                                      {"connections", ws_conns_.size()}});
    last_used_ = ow::now_ms();
    ws_event(c, "disconnect", "", false, code, [](Response) {});
    maybe_exit();   // a drain that waited for this connection
}

void Sidecar::ws_unregister(const WsConnPtr &c) {
    if (!c->registered) return;
    c->registered = false;
    registry_->remove(action_.invoker, c->id);
}

void Sidecar::ws_event(const WsConnPtr &c, const char *event, std::string data, bool binary,
                       uint16_t code, Reply done) {
    Activation a = read_activation(c->header, Entry::web, action_.ns, recorded_);
    if (!ready_ || recycling_ || exiting_) {
        ow::log_warn("websocket_event_lost", {{"connectionId", c->id}, {"event", event}});
        return done(error(503, "The container is not ready.", a.tid, ""));
    }
    auto web = std::make_unique<ow::WebExchange>(c->web, action_.annotations, action_.run_params,
                                                 action_.init_params, action_.final_params,
                                                 a.tid);
    if (!web->runs()) return done(ws_web_answer(web->response(), ""));
    nlohmann::json ev = {{"event", event}, {"connectionId", c->id}};
    if (std::string(event) == "message") {
        ev["isBinary"] = binary;
        ev["message"] = binary ? ow::base64_encode(data) : std::move(data);
    } else if (std::string(event) == "disconnect") {
        ev["closeCode"] = code;
    }
    a.params = web->take_arguments();
    a.params["__ow_websocket"] = std::move(ev);
    if (std::string(event) == "message") ws_count_message();
    run_web(std::move(a), std::move(web), std::move(done));
}

// Messages count against the namespace's invocationsPerMinute: added to the
// gateways' per-minute counter once a second (the connect is counted by the
// gateway itself). The gateways refuse the namespace's next requests and
// connects once it is over; the messages of open connections still run.
void Sidecar::ws_count_message() {
    ws_messages_unsent_++;
    if (ws_count_timer_) return;
    ws_count_timer_ = std::make_unique<boost::asio::steady_timer>(io_, std::chrono::seconds(1));
    ws_count_timer_->async_wait([this](error_code) {
        if (registry_ && ws_messages_unsent_ > 0)
            registry_->count(action_.invoker, ow::now_ms() / 60000, ws_messages_unsent_);
        ws_messages_unsent_ = 0;
        ws_count_timer_.reset();
    });
}

// The registry entries of the open connections, refreshed every third of
// their time to live while there are any.
void Sidecar::ws_refresh() {
    if (ws_conns_.empty()) {
        ws_refresh_timer_.reset();
        return;
    }
    if (!ws_refresh_timer_) ws_refresh_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
    else {
        std::vector<std::pair<std::string, std::string>> entries;
        for (const auto &kv : ws_conns_)
            if (kv.second->registered) entries.emplace_back(kv.first, kv.second->entry);
        registry_->refresh(action_.invoker, std::move(entries));
    }
    ws_refresh_timer_->expires_after(std::chrono::milliseconds(registry_->ttl_ms() / 3));
    ws_refresh_timer_->async_wait([this](error_code ec) {
        if (!ec) ws_refresh();
    });
}

// Every open connection gets a close frame (SIGTERM: 1001, going away).
void Sidecar::ws_close_all(uint16_t code) {
    auto conns = ws_conns_;
    for (auto &kv : conns) kv.second->session->close(code);
}

// ---- the streaming handler: web-socket and web-stream

void Sidecar::ws_stream_start(const WsConnPtr &c) {
    auto s = std::make_shared<WsStream>(read_activation(c->header, Entry::web, action_.ns,
                                                        recorded_));
    s->conn = c;
    Activation &a = s->act;
    ow::WebExchange web(c->web, action_.annotations, action_.run_params, action_.init_params,
                        action_.final_params, a.tid);
    a.params = web.take_arguments();
    a.params["__ow_websocket"] = {{"event", "connect"}, {"connectionId", c->id}};
    Gate::Admit admit = gate_.enter([this, s]() { ws_stream_run(s); });
    if (admit == Gate::Admit::full) {
        refused_++;
        size_t count = (size_t)gate_.inflight() + gate_.queued();
        size_t allowed = (size_t)gate_.concurrency() + gate_.buffer();
        Response r = error(429, "Too many concurrent requests in flight (count: " +
                                    std::to_string(count) + ", allowed: " +
                                    std::to_string(allowed) + ").", a.tid, "");
        r.set(http::field::retry_after, "1");
        ws_unregister(c);
        return c->session->refuse(std::move(r));
    }
    open_++;
    last_used_ = ow::now_ms();
    if (admit == Gate::Admit::run) return ws_stream_run(s);
    // waiting for the slot: at most the action's time limit
    s->queue_timer = std::make_unique<boost::asio::steady_timer>(
        io_, std::chrono::milliseconds(action_.limits.timeout_ms));
    s->queue_timer->async_wait([this, s](error_code ec) {
        if (ec || s->started) return;
        s->abandoned = true;
        Response r = error(503, "No capacity is available to run this action right now. "
                                "Please try again later.", s->act.tid, "");
        r.set(http::field::retry_after, "1");
        ws_unregister(s->conn);
        s->conn->session->refuse(std::move(r));
        open_--;
        maybe_exit();
    });
}

void Sidecar::ws_stream_run(const WsStreamPtr &s) {
    s->started = true;
    if (s->queue_timer) s->queue_timer->cancel();
    if (s->abandoned) {
        if (auto next = gate_.leave()) next();
        return;
    }
    Activation &a = s->act;
    const WsConnPtr &c = s->conn;
    if (recycling_ || exiting_) {
        Response r = error(429, "The container is being recycled; retry.", a.tid, "");
        r.set(http::field::retry_after, "1");
        ws_unregister(c);
        c->session->refuse(std::move(r));
        open_--;
        maybe_exit();
        return;
    }
    s->sink = begin_run(a);
    if (journal_)
        s->ticket = journal_->accept(a.id, ow::json_dump(build_unfinished_record(a)), 0);
    nlohmann::json meta = run_input(a);
    WsStreamRelay::Endpoint ep;
    if (cfg_.runtime_port > 0) {
        error_code ec;
        ep = WsStreamRelay::Endpoint(boost::asio::ip::tcp::endpoint(
            boost::asio::ip::make_address(cfg_.runtime_host, ec), cfg_.runtime_port));
    } else {
        ep = WsStreamRelay::Endpoint(
            boost::asio::local::stream_protocol::endpoint(runtime_socket_.path()));
    }
    WsStreamRelay::Options opt;
    opt.session.max_message_bytes = action_.ws.max_message_bytes;
    opt.session.idle_ms = action_.ws.idle_ms;
    opt.accept_headers = {{"x-openwhisk-activation-id", a.id},
                          {"x-openwhisk-connection-id", c->id}};
    opt.timeout_ms = action_.limits.timeout_ms;
    WsStreamRelay::Hooks hooks;
    hooks.refusal = [this, s](const WsStreamResult &r) {
        std::string why = kAbnormalRun;
        if (r.kind == WsStreamResult::action_failed) {
            nlohmann::json f = nlohmann::json::parse(r.failure, nullptr, false);
            if (f.is_object() && f.contains("error"))
                why = f["error"].is_string() ? f["error"].get<std::string>()
                                             : ow::json_dump(f["error"]);
        } else if (r.kind == WsStreamResult::timed_out) {
            why = "The action exceeded its time limits of " +
                  std::to_string(action_.limits.timeout_ms) + " milliseconds.";
        }
        return error(502, why, s->act.tid, s->act.id);
    };
    hooks.done = [this, s](const WsStreamResult &r) { ws_stream_done(s, r); };
    ws_conns_[c->id] = c;
    if (!ws_refresh_timer_) ws_refresh();
    s->relay = std::make_shared<WsStreamRelay>(io_, c->session);
    s->relay->start(ep, ow::json_dump(meta), std::move(opt), std::move(hooks));
}

void Sidecar::ws_stream_done(const WsStreamPtr &s, const WsStreamResult &r) {
    Activation &a = s->act;
    ws_conns_.erase(s->conn->id);
    ws_unregister(s->conn);
    a.end_ms = ow::now_ms();
    nlohmann::json result = {{"connectionId", s->conn->id}, {"messagesIn", r.messages_in},
                             {"messagesOut", r.messages_out}, {"bytesIn", r.bytes_in},
                             {"bytesOut", r.bytes_out}, {"closeCode", r.close_code}};
    RunOutcome &o = a.outcome;
    s->hold_slot = true;
    switch (r.kind) {
    case WsStreamResult::done:
        o.status_code = 0;
        break;
    case WsStreamResult::too_big:
        o.status_code = 1;
        result["error"] = "A message of the action was larger than allowed.";
        break;
    case WsStreamResult::timed_out:
        o.timeout = true;
        o.status_code = 2;
        o.recycle = true;
        result["error"] = "The action exceeded its time limits of " +
                          std::to_string(action_.limits.timeout_ms) + " milliseconds.";
        break;
    case WsStreamResult::runtime_failed:
    case WsStreamResult::action_failed:
        o.status_code = 2;
        o.recycle = true;
        result["error"] = r.kind == WsStreamResult::action_failed && !r.failure.empty()
                              ? r.failure : std::string(kAbnormalRun);
        break;
    }
    o.size = ow::json_dump(result).size();
    o.result = std::move(result);
    ow::log_info("websocket_stream_ended", {{"activationId", a.id},
                                            {"connectionId", s->conn->id},
                                            {"closeCode", r.close_code},
                                            {"messagesIn", r.messages_in},
                                            {"messagesOut", r.messages_out}});
    relayed_run_ended(s);
}

// The process exits: a close frame for each open connection, and their
// registry entries dropped now (no disconnect runs: the runtime is gone).
void Sidecar::ws_exit() {
    for (auto &kv : ws_conns_) {
        ws_unregister(kv.second);
        kv.second->session->close(websocket::close_code::going_away);
    }
    if (registry_) registry_->stop(ow::mono_ms() + 1000);
}

// The REST API's way to a connection (X-OW-Token checked by handle()):
// POST pushes the body (application/octet-stream: a binary frame, else
// text), DELETE closes (1000), GET describes it.
void Sidecar::handle_connections(Request &&req, Reply reply) {
    std::string target(req.target());
    std::string id = target.substr(13, target.find('?') == std::string::npos
                                           ? std::string::npos : target.find('?') - 13);
    std::string tid = header(req, "X-Request-ID");
    auto it = ws_conns_.find(id);
    if (it == ws_conns_.end() || !it->second->session->open())
        return reply(error(404, "The requested resource does not exist.", tid, ""));
    WsConn &c = *it->second;
    if (req.method() == http::verb::get) {
        nlohmann::json j = c.entry_json;
        j["lastActiveAt"] = c.session->last_active_ms();
        return reply(json_response(200, ow::json_dump(j)));
    }
    if (req.method() == http::verb::delete_) {
        c.session->close(websocket::close_code::normal);
        return reply(json_response(200, "{}"));
    }
    if (req.method() != http::verb::post)
        return reply(error(405, "The requested method is not allowed.", tid, ""));
    if (req.body().size() > action_.ws.max_message_bytes)
        return reply(error(413, "Request larger than allowed: " +
                                    std::to_string(req.body().size()) + " > " +
                                    std::to_string(action_.ws.max_message_bytes) + " bytes.",
                           tid, ""));
    std::string type(req[http::field::content_type]);
    bool binary = type.compare(0, 24, "application/octet-stream") == 0;
    if (!c.session->send(std::move(req.body()), binary))
        return reply(error(503, "The connection is not taking messages now; retry.", tid, ""));
    reply(json_response(200, "{}"));
}

}  // namespace ow::sidecar
