// control_api.cc: see control_api.h.
#include "pool-manager/control/control_api.h"

#include <strings.h>

#include <algorithm>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "libow/json_limits.h"
#include "libow/log.h"
#include "libow/metrics.h"
#include "libow/secrets.h"
#include "pool-manager/pm_metrics.h"

namespace ow::pm {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr size_t kMaxBody = 64 * 1024;
constexpr auto kIdle = std::chrono::seconds(30);

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket s, ControlApi &api) : stream_(std::move(s)), api_(api) {
        api_.connections++;
    }
    ~Session() { api_.connections--; }

    void read() {
        parser_.emplace();
        // The largest limit until the target is known (the parser checks a
        // Content-Length against it while it reads the header).
        parser_->body_limit(ControlApi::body_limit("/v1/invoke"));
        stream_.expires_after(kIdle);
        auto self = shared_from_this();
        // The header first: the body limit depends on the target (an invoke
        // carries the params, up to 1 MB).
        http::async_read_header(stream_, buf_, *parser_,
                                [self](beast::error_code ec, size_t) { self->on_header(ec); });
    }

private:
    void on_header(beast::error_code ec) {
        if (ec) return on_read(ec);
        size_t limit = ControlApi::body_limit(std::string(parser_->get().target()));
        auto length = parser_->content_length();
        if (length && *length > limit) return on_read(http::error::body_limit);
        parser_->body_limit(limit);  // a chunked body is checked as it comes
        auto self = shared_from_this();
        http::async_read(stream_, buf_, *parser_,
                         [self](beast::error_code ec, size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
            ec == boost::asio::error::operation_aborted) {
            return close();
        }
        if (ec) {
            // Oversized or malformed requests get an answer, then the
            // connection is closed (the parser's state is unusable).
            keep_alive_ = false;
            return reply(ec == http::error::body_limit ? 413 : 400,
                         error_body(ec == http::error::body_limit ? "request body too large"
                                                                  : "malformed request"),
                         {});
        }
        auto &req = parser_->get();
        keep_alive_ = req.keep_alive();
        version_ = req.version();
        // No read deadline while the capacity request waits: it has its own.
        stream_.expires_never();
        auto self = shared_from_this();
        HeaderFn header = [&req](const char *name) {
            auto it = req.find(name);
            return it == req.end() ? std::string() : std::string(it->value());
        };
        api_.handle(std::string(req.method_string()), std::string(req.target()), header,
                    std::move(req.body()),
                    [self](int status, const nlohmann::json &body, const Headers &headers) {
                        self->reply(status, body, headers);
                    });
    }

    void reply(int status, const nlohmann::json &body, const Headers &headers) {
        auto res = std::make_shared<http::response<http::string_body>>();
        res->version(version_);
        res->result(static_cast<unsigned>(status));
        res->set(http::field::content_type, "application/json");
        bool text = false;   // a handler's own Content-Type: body is the text
        for (const auto &h : headers) {
            res->set(h.first, h.second);
            if (strcasecmp(h.first.c_str(), "Content-Type") == 0) text = body.is_string();
        }
        res->keep_alive(keep_alive_);
        res->body() = text ? body.get<std::string>() : ow::json_dump(body);
        res->prepare_payload();
        stream_.expires_after(kIdle);
        auto self = shared_from_this();
        http::async_write(stream_, *res, [self, res](beast::error_code ec, size_t) {
            if (ec || !self->keep_alive_) return self->close();
            self->read();
        });
    }

    void close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream_.socket().close(ec);
    }

    beast::tcp_stream stream_;
    ControlApi &api_;
    beast::flat_buffer buf_;
    boost::optional<http::request_parser<http::string_body>> parser_;
    bool keep_alive_ = true;
    unsigned version_ = 11;
};

}  // namespace

ControlApi::ControlApi(boost::asio::io_context &io, Capacity &capacity, Pool &pool,
                       InvokeQueue &invokes, size_t max_conn)
    : max_connections(max_conn), io_(io), capacity_(capacity), pool_(pool),
      invokes_(invokes), acceptor_(io) {}

size_t ControlApi::body_limit(const std::string &target) {
    // The gateway refuses params over 1 MB (413) before it gets here; the
    // slack covers its own Content-Length arithmetic, nothing more.
    if (target.compare(0, 10, "/v1/invoke") == 0) return (1u << 20) + kMaxBody;
    return kMaxBody;
}

bool ControlApi::listen(const std::string &host, uint16_t port, std::string *err) {
    beast::error_code ec;
    auto ip = boost::asio::ip::make_address(host, ec);
    if (ec) {
        *err = "bad listen address " + host;
        return false;
    }
    tcp::endpoint ep(ip, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec) {
        *err = "listen " + host + ":" + std::to_string(port) + ": " + ec.message();
        return false;
    }
    port_ = acceptor_.local_endpoint(ec).port();
    accept();
    return true;
}

void ControlApi::close() {
    beast::error_code ec;
    acceptor_.close(ec);
}

void ControlApi::accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket s) {
        if (ec == boost::asio::error::operation_aborted) return;
        if (!ec) {
            if (connections >= max_connections) {
                beast::error_code ignored;
                s.close(ignored);  // bounded: refuse rather than queue
            } else {
                std::make_shared<Session>(std::move(s), *this)->read();
            }
        }
        accept();
    });
}

void ControlApi::handle(const std::string &method, const std::string &target,
                        const HeaderFn &header, std::string body, Done d) {
    // /v1/ acts (starts containers, runs actions, lists every container's
    // address): the gateways and the other replicas alone hold the token.
    // /health tells no secret and no tenant's data.
    if (!token_.empty() && target.compare(0, 4, "/v1/") == 0 &&
        !ow::token_equal(header(ow::kTokenHeader), token_)) {
        return d(401, error_body("The request is not authorized."), {});
    }
    // /metrics: the scraper's credential, the one every /metrics of the
    // installation wants (the local backend's sidecars', one tenant's
    // counters each, too), so a scrape config holds one token
    std::string_view path = std::string_view(target).substr(0, target.find('?'));
    if (!metrics_token_.empty() && path == "/metrics" &&
        !ow::bearer_equal(header("Authorization"), metrics_token_)) {
        return d(401, error_body("The supplied authentication is invalid."),
                 {{"WWW-Authenticate", "Bearer realm=\"owx metrics\""}});
    }
    if (!forwarder_ || serving_() || target.compare(0, 4, "/v1/") != 0) {
        return handle_here(method, target, header, std::move(body), std::move(d));
    }
    if (!header(LeaderForwarder::kHopHeader).empty()) {
        // forwarded to us, but we do not lead (any more, or not yet): the
        // sender asks again with its view refreshed (leader_forward.h)
        return d(503, error_body("This pool-manager replica is not the leader."),
                 {{LeaderForwarder::kNotLeaderHeader, "1"}, {"Retry-After", "1"}});
    }
    ForwardRequest fwd;
    fwd.method = method;
    fwd.target = target;
    for (const char *const *h = LeaderForwarder::kForwardedHeaders; *h; h++) {
        std::string v = header(*h);
        if (!v.empty()) fwd.headers.emplace_back(*h, std::move(v));
    }
    fwd.body = std::move(body);
    // a capacity request may be asked twice; an invoke may not be queued twice
    fwd.idempotent = target.compare(0, 10, "/v1/invoke") != 0;
    // copies: this replica may come to handle it itself, after the session's
    // request is gone
    auto copy = std::make_shared<ForwardRequest>(fwd);
    forwarder_->forward(
        std::move(fwd),
        [this, copy, d] {
            HeaderFn h = [copy](const char *name) {
                for (const auto &kv : copy->headers)
                    if (strcasecmp(kv.first.c_str(), name) == 0) return kv.second;
                return std::string();
            };
            handle_here(copy->method, copy->target, h, copy->body, d);
        },
        d);
}

void ControlApi::handle_here(const std::string &method, const std::string &target,
                             const HeaderFn &header, std::string body, Done d) {
    size_t qm = target.find('?');
    std::string path = target.substr(0, qm);
    auto done = [d](int status, const nlohmann::json &b) { d(status, b, {}); };
    if (path == "/health") {
        if (method != "GET") return done(405, error_body("method not allowed"));
        return done(200, {{"ok", true},
                          {"leader", !forwarder_ || serving_()},
                          {"containers", pool_.size()}});
    }
    if (path == "/metrics") {   // Prometheus text (pm_metrics.h), every replica
        if (method != "GET") return done(405, error_body("method not allowed"));
        return d(200, pm_metrics().expose(), {{"Content-Type", ow::metrics::kContentType}});
    }
    if (path == "/v1/containers") {
        if (method != "GET") return done(405, error_body("method not allowed"));
        nlohmann::json list = nlohmann::json::array();
        for (const auto &kv : pool_.all()) list.push_back(describe(kv.second));
        return done(200, {{"containers", list},
                          {"stemcells", stemcells_ ? stemcells_->list()
                                                   : nlohmann::json::array()}});
    }
    if (path == "/v1/capacity") {
        if (method != "POST") return done(405, error_body("method not allowed"));
        // bounded (libow/json_limits.h): a 64 KB body can nest deep enough
        // to overflow the stack of the thread that copies it
        nlohmann::json j = ow::json_parse_bounded(body);
        if (j.is_discarded() || !j.is_object() || !j.contains("action") ||
            !j["action"].is_string()) {
            return done(400, error_body("body must be {\"action\":\"<namespace>/<name>\"}"));
        }
        bool scale = j.contains("scale") && j["scale"].is_boolean() && j["scale"].get<bool>();
        // "parked": the gateway's count of requests waiting for the action
        // (demand-driven scale, capacity.h); anything else counts as 1.
        int64_t parked = 1;
        if (j.contains("parked") && j["parked"].is_number_integer()) {
            parked = std::clamp<int64_t>(j["parked"].get<int64_t>(), 1, 1000000);
        }
        // "web": a web request (conf/nginx.conf, /_owpool_web)
        bool web = j.contains("web") && j["web"].is_boolean() && j["web"].get<bool>();
        auto t0 = std::chrono::steady_clock::now();
        capacity_.request(j["action"].get<std::string>(), scale,
                          [d, t0](int status, const nlohmann::json &b) {
                              std::chrono::duration<double> dt =
                                  std::chrono::steady_clock::now() - t0;
                              pm_metrics().capacity(status, dt.count());
                              d(status, b, {});
                          },
                          parked, web);
        return;
    }
    if (path == "/v1/invoke") {
        if (method != "POST") return done(405, error_body("method not allowed"));
        std::string query = qm == std::string::npos ? "" : target.substr(qm + 1);
        InvokeAnswer a = invokes_.accept(header, query, std::move(body));
        return d(a.status, a.body, a.headers);
    }
    done(404, error_body("The requested resource does not exist."));
}

}  // namespace ow::pm
