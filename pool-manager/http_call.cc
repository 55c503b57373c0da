// http_call.cc: see http_call.h.
#include "pool-manager/http_call.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <memory>

#include "libow/options.h"

namespace ow::pm {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

struct Call {
    explicit Call(boost::asio::io_context &io) : stream(io) {}
    beast::tcp_stream stream;
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    http::response_parser<http::string_body> parser;
    std::function<void(HttpAnswer &)> done;
    bool finished = false;

    void finish(HttpAnswer::Stage stage, const std::string &error) {
        if (finished) return;
        finished = true;
        HttpAnswer a;
        a.stage = stage;
        a.error = error;
        if (stage == HttpAnswer::answered) a.res = parser.release();
        beast::error_code ec;
        stream.socket().close(ec);
        done(a);
    }
};

}  // namespace

void http_call(boost::asio::io_context &io, const std::string &addr,
               http::request<http::string_body> req, size_t max_answer, int64_t timeout_ms,
               std::function<void(HttpAnswer &)> done) {
    std::string host;
    uint16_t port = 0;
    beast::error_code ec;
    boost::asio::ip::address ip;
    if (ow::split_host_port(addr, &host, &port)) ip = boost::asio::ip::make_address(host, ec);
    if (port == 0 || ec) {
        boost::asio::post(io, [done = std::move(done), addr] {
            HttpAnswer a;
            a.error = "bad container address " + addr;
            done(a);
        });
        return;
    }
    auto c = std::make_shared<Call>(io);
    c->done = std::move(done);
    c->parser.body_limit(max_answer);
    c->req = std::move(req);
    c->req.set(http::field::host, addr);
    c->req.keep_alive(false);
    c->req.prepare_payload();
    // One deadline for connect + write + read: tcp_stream closes the socket
    // when it passes, which fails the pending operation.
    c->stream.expires_after(std::chrono::milliseconds(timeout_ms));
    c->stream.async_connect(tcp::endpoint(ip, port), [c](beast::error_code ec) {
        if (ec) return c->finish(HttpAnswer::unsent, "connect: " + ec.message());
        http::async_write(c->stream, c->req, [c](beast::error_code ec, size_t) {
            if (ec) return c->finish(HttpAnswer::unsent, "write: " + ec.message());
            http::async_read(c->stream, c->buf, c->parser, [c](beast::error_code ec, size_t) {
                if (ec) return c->finish(HttpAnswer::lost, "read: " + ec.message());
                c->finish(HttpAnswer::answered, "");
            });
        });
    });
}

}  // namespace ow::pm
