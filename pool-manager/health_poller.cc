// health_poller.cc: see health_poller.h.
#include "pool-manager/health_poller.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "libow/clock.h"
#include "libow/options.h"

namespace ow::pm {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

bool parse_health(const std::string &body, Health *h) {
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return false;
    auto num = [&j](const char *k) -> int64_t {
        return j.contains(k) && j[k].is_number() ? j[k].get<int64_t>() : 0;
    };
    h->ready = j.contains("ready") && j["ready"].is_boolean() && j["ready"].get<bool>();
    h->inflight = num("inflight");
    h->queued = num("queued");
    h->last_used = num("lastUsed");
    h->activations = num("activations");
    h->mean_run_ms = num("meanRunMs");
    h->known = true;
    return true;
}

namespace {

struct Probe : std::enable_shared_from_this<Probe> {
    Probe(boost::asio::io_context &io) : stream(io) {}
    beast::tcp_stream stream;
    beast::flat_buffer buf;
    http::request<http::empty_body> req;
    http::response_parser<http::string_body> parser;
    HealthPoller::Done done;
    bool finished = false;

    void finish(bool ok) {
        if (finished) return;
        finished = true;
        Health h;
        if (ok) {
            const auto &res = parser.get();
            ok = res.result() == http::status::ok && parse_health(res.body(), &h);
        }
        if (ok) h.checked_ms = ow::now_ms();
        beast::error_code ec;
        stream.socket().close(ec);
        done(ok, h);
    }
};

}  // namespace

void HealthPoller::check(const std::string &addr, Done done) {
    std::string host;
    uint16_t port = 0;
    boost::system::error_code ec;
    if (!ow::split_host_port(addr, &host, &port)) {
        done(false, Health{});
        return;
    }
    auto ip = boost::asio::ip::make_address(host, ec);
    if (ec) {
        done(false, Health{});
        return;
    }
    auto p = std::make_shared<Probe>(io_);
    p->done = std::move(done);
    p->parser.body_limit(64 * 1024);
    p->req = http::request<http::empty_body>(http::verb::get, "/health", 11);
    p->req.set(http::field::host, addr);
    p->req.keep_alive(false);
    // One deadline for connect + write + read: tcp_stream closes the socket
    // when it passes, which fails the pending operation.
    p->stream.expires_after(std::chrono::milliseconds(timeout_ms_));
    p->stream.async_connect(tcp::endpoint(ip, port), [p](beast::error_code ec) {
        if (ec) return p->finish(false);
        http::async_write(p->stream, p->req, [p](beast::error_code ec, size_t) {
            if (ec) return p->finish(false);
            http::async_read(p->stream, p->buf, p->parser,
                             [p](beast::error_code ec, size_t) {
                                 p->finish(!ec);
                             });
        });
    });
}

}  // namespace ow::pm
