// http_server.cc: see http_server.h.
#include "sidecar/http_server.h"

#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/optional.hpp>

#include "libow/log.h"
#include "sidecar/invoke_response.h"
#include "sidecar/run_result.h"

namespace ow::sidecar {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

Response json_response(int status, const std::string &body, bool keep_alive) {
    Response r{(http::status)status, 11};
    r.set(http::field::content_type, "application/json");
    r.body() = body;
    r.keep_alive(keep_alive);
    r.prepare_payload();
    return r;
}

namespace {

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket s, Handler &h, int64_t idle_ms)
        : stream_(std::move(s)), handler_(h), idle_ms_(idle_ms) {}

    void read() {
        parser_.emplace();
        parser_->body_limit(kMaxResultBytes);
        stream_.expires_after(std::chrono::milliseconds(idle_ms_));
        auto self = shared_from_this();
        http::async_read_header(stream_, buf_, *parser_, [self](error_code ec, size_t) {
            if (ec) return self->close();
            auto len = self->parser_->content_length();
            if (len && *len > kMaxResultBytes) {
                std::string msg = "Request larger than allowed: " + std::to_string(*len) +
                                  " > " + std::to_string(kMaxResultBytes) + " bytes.";
                auto &h = self->parser_->get();
                auto rid = h["X-OW-Activation-Id"];
                self->write(json_response(413, ow::json_dump(error_body(msg, std::string(rid))),
                                          false));
                return;
            }
            http::async_read(self->stream_, self->buf_, *self->parser_,
                             [self](error_code ec, size_t) {
                if (ec == http::error::body_limit) {
                    self->write(json_response(413, ow::json_dump(error_body(
                        "Request larger than allowed: > 1048576 bytes.", "")), false));
                    return;
                }
                if (ec) return self->close();
                self->dispatch();
            });
        });
    }

private:
    void dispatch() {
        stream_.expires_never();
        Request req = parser_->release();
        keep_alive_ = req.keep_alive();
        // the reply holds the session: a blocking invoke answers later, and
        // every invoke is answered within its deadlines
        auto self = shared_from_this();
        auto replied = std::make_shared<bool>(false);
        handler_(std::move(req), [self, replied](Response r) {
            if (*replied) return;
            *replied = true;
            if (!self->keep_alive_) r.keep_alive(false);
            self->write(std::move(r));
        });
    }

    void write(Response r) {
        auto res = std::make_shared<Response>(std::move(r));
        auto self = shared_from_this();
        stream_.expires_after(std::chrono::seconds(30));
        http::async_write(stream_, *res, [self, res](error_code ec, size_t) {
            if (ec || !res->keep_alive()) return self->close();
            self->read();
        });
    }

    void close() {
        error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream_.close();
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buf_;
    boost::optional<http::request_parser<http::string_body>> parser_;
    Handler &handler_;
    int64_t idle_ms_;
    bool keep_alive_ = true;
};

}  // namespace

HttpServer::HttpServer(asio::io_context &io, Handler handler, int64_t idle_ms)
    : io_(io), acceptor_(io), handler_(std::move(handler)), idle_ms_(idle_ms) {}

bool HttpServer::listen(const std::string &host, uint16_t port, std::string *err) {
    error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) { *err = "bad listen address " + host; return false; }
    tcp::endpoint ep(addr, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) { *err = ec.message(); return false; }
    accept();
    return true;
}

tcp::endpoint HttpServer::local() const {
    error_code ec;
    return acceptor_.local_endpoint(ec);
}

void HttpServer::close() {
    error_code ec;
    acceptor_.close(ec);
}

void HttpServer::accept() {
    acceptor_.async_accept([this](error_code ec, tcp::socket s) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
            s.set_option(tcp::no_delay(true), ec);
            std::make_shared<Session>(std::move(s), handler_, idle_ms_)->read();
        }
        accept();
    });
}

}  // namespace ow::sidecar
