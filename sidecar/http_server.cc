// http_server.cc: see http_server.h.
#include "sidecar/http_server.h"

#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/optional.hpp>

#include <limits>

#include "libow/clock.h"
#include "libow/log.h"
#include "sidecar/invoke_response.h"
#include "sidecar/run_result.h"
#include "sidecar/write_now.h"

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

// One keep-alive connection. Its deadline (an idle read, a write) is a
// number the server's sweep compares once a second, not a timer of its own:
// a per-connection timer set before every read and write re-armed the
// kernel's timer (timerfd_settime) twice a request whenever it became the
// earliest, which at one request at a time was always.
class HttpServer::Session : public std::enable_shared_from_this<HttpServer::Session> {
public:
    Session(tcp::socket s, std::shared_ptr<Shared> shared)
        : sock_(std::move(s)), shared_(std::move(shared)) {
        shared_->sessions.insert(this);
    }
    ~Session() { shared_->sessions.erase(this); }

    void read() {
        parser_.emplace();
        // the limit is set once the header is in: a streaming action's
        // body has none here, and Beast refuses a Content-Length over the
        // limit while it reads the header, before the 413 below could say so
        parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
        deadline_ms_ = ow::mono_ms() + shared_->idle_ms;
        auto self = shared_from_this();
        http::async_read_header(sock_, buf_, *parser_, [self](error_code ec, size_t) {
            if (ec) return self->close();
            const Takeover &t = self->shared_->takeover;
            if (t.wants && t.wants(self->parser_->get())) {
                self->deadline_ms_ = 0;   // the relay has deadlines of its own
                Request header(self->parser_->get().base());
                auto body = std::make_unique<BodyParser>(std::move(*self->parser_));
                t.take(StreamConn{std::move(self->sock_), std::move(self->buf_),
                                  std::move(header), std::move(body)});
                return;
            }
            auto len = self->parser_->content_length();
            if (len && *len > kMaxResultBytes) {
                std::string msg = "Request larger than allowed: " + std::to_string(*len) +
                                  " > " + std::to_string(kMaxResultBytes) + " bytes.";
                auto &h = self->parser_->get();
                auto rid = h["X-OW-Activation-Id"];
                self->refuse(json_response(413, ow::json_dump(error_body(msg, std::string(rid))),
                                           false));
                return;
            }
            self->parser_->body_limit(kMaxResultBytes);
            // a small body comes with its header: parsed here, the request
            // is handled now, not a turn of the loop later (async_read
            // completes through a posted handler, with epoll polled again
            // before it runs)
            error_code ec2;
            if (self->parse_buffered(ec2)) return self->body_read(ec2);
            http::async_read(self->sock_, self->buf_, *self->parser_,
                             [self](error_code ec, size_t) { self->body_read(ec); });
        });
    }

    // the sweep: a connection past its deadline is closed (its pending read
    // or write ends with operation_aborted)
    void expire(int64_t now_ms) {
        if (deadline_ms_ != 0 && now_ms >= deadline_ms_) close();
    }

    void close() {
        deadline_ms_ = 0;
        error_code ec;
        sock_.shutdown(tcp::socket::shutdown_send, ec);
        sock_.close(ec);
    }

private:
    // The body from what was read with the header. True when that ends the
    // request (the whole body, or an error in ec); false: the rest is to read.
    bool parse_buffered(error_code &ec) {
        while (!parser_->is_done() && buf_.size() > 0) {
            size_t n = parser_->put(buf_.data(), ec);
            buf_.consume(n);
            if (ec == http::error::need_more) ec = {};
            if (ec) return true;
            if (n == 0) break;
        }
        return parser_->is_done();
    }

    void body_read(error_code ec) {
        if (ec == http::error::body_limit) {
            std::string rid(parser_->get()["X-OW-Activation-Id"]);
            refuse(json_response(413, ow::json_dump(error_body(
                "Request larger than allowed: > 1048576 bytes.", rid)), false));
            return;
        }
        if (ec) return close();
        dispatch();
    }

    void dispatch() {
        deadline_ms_ = 0;   // the handler answers within its own deadlines
        Request req = parser_->release();
        keep_alive_ = req.keep_alive();
        // the reply holds the session: a blocking invoke answers later, and
        // every invoke is answered within its deadlines
        auto self = shared_from_this();
        auto replied = std::make_shared<bool>(false);
        shared_->handler(std::move(req), [self, replied](Response r) {
            if (*replied) return;
            *replied = true;
            if (!self->keep_alive_) r.keep_alive(false);
            self->write(std::move(r));
        });
    }

    // an answer and its serializer, alive until written
    struct Out {
        explicit Out(Response r) : res(std::move(r)), sr(res) {}
        Response res;
        http::response_serializer<http::string_body> sr;
    };

    void write(Response r) {
        auto out = std::make_shared<Out>(std::move(r));
        error_code ec;
        if (write_now(sock_, out->sr, ec)) return written(ec, out->res.keep_alive());
        auto self = shared_from_this();
        deadline_ms_ = ow::mono_ms() + kWriteTimeoutMs;
        http::async_write(sock_, out->sr, [self, out](error_code ec, size_t) {
            self->written(ec, out->res.keep_alive());
        });
    }

    void written(error_code ec, bool keep_alive) {
        if (!ec && lingering_) return linger();
        if (ec || !keep_alive) return close();
        read();
    }

    // A refusal sent before the body was read (413): the peer (nginx, with
    // proxy_request_buffering off) may still be sending it. Closed at once,
    // with its bytes unread, the socket answers them with a reset, which
    // nginx may take for the upstream's failure (502) before it reads the
    // 413. So, as nginx's lingering_close: our side shut after the answer
    // (a FIN follows it), then what comes read and dropped until the peer
    // closes or kLingerMs passes (the sweep).
    void refuse(Response r) {
        lingering_ = true;
        write(std::move(r));
    }

    void linger() {
        error_code ec;
        sock_.shutdown(tcp::socket::shutdown_send, ec);
        deadline_ms_ = ow::mono_ms() + kLingerMs;
        discard();
    }

    void discard() {
        // dropped bytes: one buffer for every session of this (single)
        // io thread
        static char dropped[16384];
        auto self = shared_from_this();
        sock_.async_read_some(asio::buffer(dropped), [self](error_code ec, size_t) {
            if (ec) return self->close();
            self->discard();
        });
    }

    static constexpr int64_t kWriteTimeoutMs = 30000, kLingerMs = 5000;
    tcp::socket sock_;
    std::shared_ptr<Shared> shared_;   // outlives the server when a reply is late
    beast::flat_buffer buf_;
    boost::optional<http::request_parser<http::string_body>> parser_;
    int64_t deadline_ms_ = 0;   // monotonic ms; 0: none (a request being handled)
    bool keep_alive_ = true;
    bool lingering_ = false;   // refuse(): linger() once the answer is out
};

HttpServer::HttpServer(asio::io_context &io, Handler handler, int64_t idle_ms)
    : io_(io), acceptor_(io), sweep_timer_(io),
      shared_(std::make_shared<Shared>(Shared{std::move(handler), idle_ms, {}, {}})) {}

HttpServer::~HttpServer() = default;

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
    sweep();
    return true;
}

tcp::endpoint HttpServer::local() const {
    error_code ec;
    return acceptor_.local_endpoint(ec);
}

void HttpServer::close() {
    error_code ec;
    acceptor_.close(ec);
    sweep_timer_.cancel();
}

// Once a second (idle deadlines are minutes; a shorter idle_ms, in tests,
// sweeps as often), however many connections. The
// pending timer also keeps the kernel's timer armed: an activation's own
// timers (its wait, its run's time limit), later than this one, are added
// without re-arming it.
void HttpServer::sweep() {
    sweep_timer_.expires_after(
        std::chrono::milliseconds(std::min(kSweepMs, std::max<int64_t>(shared_->idle_ms, 1))));
    sweep_timer_.async_wait([this](error_code ec) {
        if (ec || !acceptor_.is_open()) return;
        int64_t now = ow::mono_ms();
        // expire() may end a session (erasing it from the set): a copy
        std::vector<std::weak_ptr<Session>> all;
        all.reserve(shared_->sessions.size());
        for (Session *s : shared_->sessions) all.push_back(s->weak_from_this());
        for (auto &w : all)
            if (auto s = w.lock()) s->expire(now);
        sweep();
    });
}

void HttpServer::accept() {
    acceptor_.async_accept([this](error_code ec, tcp::socket s) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
            s.set_option(tcp::no_delay(true), ec);
            s.non_blocking(true, ec);   // write_now
            std::make_shared<Session>(std::move(s), shared_)->read();
        }
        accept();
    });
}

}  // namespace ow::sidecar
