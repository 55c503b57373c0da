// sidecar_client.cc: see sidecar_client.h.
#include "pool-manager/sidecar_client.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <memory>

#include "libow/options.h"

namespace ow::pm {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr size_t kMaxAnswer = 64 * 1024;  // a sidecar's 202/429/503 is tiny

struct Call : std::enable_shared_from_this<Call> {
    explicit Call(boost::asio::io_context &io) : stream(io) {}
    beast::tcp_stream stream;
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    http::response_parser<http::string_body> parser;
    Deliverer::Done done;
    bool finished = false;

    void finish(Delivery::Kind kind, const std::string &error) {
        if (finished) return;
        finished = true;
        Delivery d;
        d.kind = kind;
        d.error = error;
        if (kind == Delivery::answered) {
            const auto &res = parser.get();
            d.status = static_cast<int>(res.result_int());
            d.body = res.body();
            auto ra = res.find(http::field::retry_after);
            if (ra != res.end()) {
                d.retry_after_s = std::strtoll(std::string(ra->value()).c_str(), nullptr, 10);
                if (d.retry_after_s < 0) d.retry_after_s = 0;
            }
        }
        beast::error_code ec;
        stream.socket().close(ec);
        done(d);
    }
};

}  // namespace

void SidecarClient::post(const std::string &addr, const InvokeRequest &r, int64_t timeout_ms,
                         Done done) {
    std::string host;
    uint16_t port = 0;
    beast::error_code ec;
    boost::asio::ip::address ip;
    if (ow::split_host_port(addr, &host, &port)) ip = boost::asio::ip::make_address(host, ec);
    if (port == 0 || ec) {
        Delivery d;
        d.error = "bad container address " + addr;
        boost::asio::post(io_, [done = std::move(done), d] { done(d); });
        return;
    }
    auto c = std::make_shared<Call>(io_);
    c->done = std::move(done);
    c->parser.body_limit(kMaxAnswer);
    std::string target = "/invoke";
    if (!r.query.empty()) target += "?" + r.query;
    c->req = http::request<http::string_body>(http::verb::post, target, 11);
    c->req.set(http::field::host, addr);
    c->req.set(http::field::content_type, "application/json");
    c->req.set("X-OW-Activation-Id", r.activation_id);
    c->req.set("X-OW-Namespace", r.ns);
    if (!r.subject.empty()) c->req.set("X-OW-Subject", r.subject);
    c->req.set("X-OW-Path", r.action);
    c->req.set("X-OW-Accept-Time", std::to_string(r.accept_ms));
    if (!r.authorization.empty()) c->req.set(http::field::authorization, r.authorization);
    if (!r.traceparent.empty()) c->req.set("traceparent", r.traceparent);
    if (!r.cause.empty()) {
        // only the fire consumer passes a cause: the trigger activation;
        // the sidecar then writes "cause" but no causedBy: "sequence"
        c->req.set("X-OW-Cause", r.cause);
        c->req.set("X-OW-Cause-Kind", "trigger");
    }
    c->req.keep_alive(false);
    c->req.body() = r.body;
    c->req.prepare_payload();
    // One deadline for connect + write + read: tcp_stream closes the socket
    // when it passes, which fails the pending operation.
    c->stream.expires_after(std::chrono::milliseconds(timeout_ms));
    c->stream.async_connect(tcp::endpoint(ip, port), [c](beast::error_code ec) {
        if (ec) return c->finish(Delivery::unsent, "connect: " + ec.message());
        http::async_write(c->stream, c->req, [c](beast::error_code ec, size_t) {
            if (ec) return c->finish(Delivery::unsent, "write: " + ec.message());
            http::async_read(c->stream, c->buf, c->parser, [c](beast::error_code ec, size_t) {
                if (ec) return c->finish(Delivery::lost, "read: " + ec.message());
                c->finish(Delivery::answered, "");
            });
        });
    });
}

}  // namespace ow::pm
