// specialize_client.cc: see specialize_client.h.
#include "pool-manager/specialize_client.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>

#include "libow/options.h"

namespace ow::pm {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr size_t kMaxAnswer = 1024 * 1024;  // an init failure carries its logs

struct Call {
    explicit Call(boost::asio::io_context &io) : stream(io) {}
    beast::tcp_stream stream;
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    http::response_parser<http::string_body> parser;
    Specializer::Done done;
    bool finished = false;

    void finish(const std::string &error) {
        if (finished) return;
        finished = true;
        Specialized s;
        if (error.empty()) {
            s.status = static_cast<int>(parser.get().result_int());
            s.body = parser.get().body();
            s.kind = specialize_kind(s.status);
        } else {
            s.error = error;
        }
        beast::error_code ec;
        stream.socket().close(ec);
        done(s);
    }
};

}  // namespace

Specialized::Kind specialize_kind(int status) {
    return status == 200   ? Specialized::ready
           : status == 502 ? Specialized::init_failed
                           : Specialized::failed;
}

void SpecializeClient::specialize(const std::string &addr, const std::string &action,
                                  int64_t timeout_ms, Done done) {
    std::string host;
    uint16_t port = 0;
    beast::error_code ec;
    boost::asio::ip::address ip;
    if (ow::split_host_port(addr, &host, &port)) ip = boost::asio::ip::make_address(host, ec);
    if (port == 0 || ec) {
        Specialized s;
        s.error = "bad stemcell address " + addr;
        boost::asio::post(io_, [done = std::move(done), s] { done(s); });
        return;
    }
    auto c = std::make_shared<Call>(io_);
    c->done = std::move(done);
    c->parser.body_limit(kMaxAnswer);
    c->req = http::request<http::string_body>(http::verb::post, "/specialize", 11);
    c->req.set(http::field::host, addr);
    c->req.set(http::field::content_type, "application/json");
    c->req.keep_alive(false);
    c->req.body() = nlohmann::json({{"action", action}}).dump();
    c->req.prepare_payload();
    c->stream.expires_after(std::chrono::milliseconds(timeout_ms));
    c->stream.async_connect(tcp::endpoint(ip, port), [c](beast::error_code ec) {
        if (ec) return c->finish("connect: " + ec.message());
        http::async_write(c->stream, c->req, [c](beast::error_code ec, size_t) {
            if (ec) return c->finish("write: " + ec.message());
            http::async_read(c->stream, c->buf, c->parser, [c](beast::error_code ec, size_t) {
                c->finish(ec ? "read: " + ec.message() : "");
            });
        });
    });
}

}  // namespace ow::pm
