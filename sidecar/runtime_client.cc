// runtime_client.cc: see runtime_client.h.
#include "sidecar/runtime_client.h"

#include <cstdlib>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/optional.hpp>

#include "libow/clock.h"
#include "sidecar/write_now.h"

namespace ow::sidecar {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using stream = asio::generic::stream_protocol;
using boost::system::error_code;

static const int64_t kIdleReuseMs = 2000;
static const uint64_t kMaxBody = 8 * kMaxResultBytes;

struct RuntimeClient::Idle {
    stream::socket sock;
    int64_t since;
    explicit Idle(stream::socket s) : sock(std::move(s)), since(ow::mono_ms()) {}
};

struct RuntimeClient::Call : std::enable_shared_from_this<RuntimeClient::Call> {
    stream::socket sock;
    asio::steady_timer timer;
    boost::beast::flat_buffer buf;
    http::request<http::string_body> req;
    // req's, made anew for each send (write_now, then async_write)
    boost::optional<http::request_serializer<http::string_body>> sr;
    std::unique_ptr<http::response_parser<http::string_body>> parser;
    Done done;
    bool timed_out = false;
    bool finished = false;
    bool reused = false;
    bool retried = false;
    Call(asio::io_context &io) : sock(io), timer(io) {}
};

bool parse_runtime_url(const std::string &url, std::string *host, uint16_t *port,
                       std::string *err) {
    static const std::string scheme = "http://";
    std::string rest = url;
    if (rest.compare(0, scheme.size(), scheme) != 0) {
        *err = "runtime URL \"" + url + "\": not http://HOST:PORT";
        return false;
    }
    rest.erase(0, scheme.size());
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    size_t colon = rest.rfind(':');
    std::string h = colon == std::string::npos ? "" : rest.substr(0, colon);
    std::string p = colon == std::string::npos ? "" : rest.substr(colon + 1);
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    error_code ec;
    asio::ip::make_address(h, ec);
    char *end = nullptr;
    long n = p.empty() ? 0 : strtol(p.c_str(), &end, 10);
    if (ec || p.empty() || *end != '\0' || n < 1 || n > 65535) {
        *err = "runtime URL \"" + url + "\": not http://IP:PORT (an IP literal, a port 1-65535)";
        return false;
    }
    *host = h;
    *port = (uint16_t)n;
    return true;
}

int64_t probe_delay_ms(int attempt, int64_t cap_ms) {
    int64_t d = 5;
    for (int i = 0; i < attempt && d < cap_ms; i++) d *= 2;
    return d < cap_ms ? d : cap_ms;
}

RuntimeClient::RuntimeClient(asio::io_context &io, const std::string &path, size_t max_idle)
    : io_(io), ep_(asio::local::stream_protocol::endpoint(path)), max_idle_(max_idle) {}

RuntimeClient::RuntimeClient(asio::io_context &io, const std::string &host, uint16_t port,
                             size_t max_idle)
    : io_(io), ep_(asio::ip::tcp::endpoint(asio::ip::make_address(host), port)), tcp_(true),
      max_idle_(max_idle) {}

void RuntimeClient::close_idle() {
    for (auto &i : idle_) {
        error_code ec;
        i->sock.close(ec);
    }
    idle_.clear();
}

void RuntimeClient::post(const std::string &target, std::string body, int64_t timeout_ms,
                         Done done) {
    auto c = std::make_shared<Call>(io_);
    c->req.method(http::verb::post);
    c->req.target(target);
    c->req.version(11);
    c->req.set(http::field::host, "127.0.0.1");
    c->req.set(http::field::content_type, "application/json");
    c->req.keep_alive(true);
    c->req.body() = std::move(body);
    c->req.prepare_payload();
    c->done = std::move(done);
    c->timer.expires_after(std::chrono::milliseconds(timeout_ms));
    std::weak_ptr<Call> weak = c;
    c->timer.async_wait([weak](error_code ec) {
        auto c = weak.lock();
        if (ec || !c || c->finished) return;
        c->timed_out = true;
        error_code ignore;
        c->sock.close(ignore);   // aborts the pending connect/write/read
    });
    start(c, false);
}

void RuntimeClient::start(std::shared_ptr<Call> c, bool fresh) {
    c->parser = std::make_unique<http::response_parser<http::string_body>>();
    c->parser->body_limit(kMaxBody);
    c->buf.clear();
    auto send = [this, c]() {
        error_code ec;
        // write_now; once a connection (an ioctl), not once a request
        if (!c->sock.non_blocking()) c->sock.non_blocking(true, ec);
        c->sr.emplace(c->req);
        if (!write_now(c->sock, *c->sr, ec)) {
            http::async_write(c->sock, *c->sr, [this, c](error_code ec, size_t) { sent(c, ec); });
        } else if (ec) {
            // a failure is answered from the io loop, as before: never
            // inside the caller's post()
            asio::post(io_, [this, c, ec]() { sent(c, ec); });
        } else {
            sent(c, ec);   // reads the reply: nothing completes inline
        }
    };
    // reuse a recent idle connection when there is one
    while (!fresh && !idle_.empty()) {
        auto i = idle_.back();
        idle_.pop_back();
        if (ow::mono_ms() - i->since > kIdleReuseMs || !i->sock.is_open()) {
            error_code ignore;
            i->sock.close(ignore);
            continue;
        }
        c->sock = std::move(i->sock);
        c->reused = true;
        send();
        return;
    }
    c->sock.async_connect(ep_, [this, c, send](error_code ec) {
        if (!ec && tcp_) {
            // /run bodies and replies are small and latency-bound
            c->sock.set_option(asio::ip::tcp::no_delay(true), ec);
            ec = {};
        }
        if (ec) {
            RuntimeReply r;
            r.kind = c->timed_out ? RuntimeReply::timed_out : RuntimeReply::dropped;
            finish(c, r, false);
            return;
        }
        send();
    });
}

// The request is written (or failed): read the reply.
void RuntimeClient::sent(const std::shared_ptr<Call> &c, error_code ec) {
    if (ec) {
        RuntimeReply r;
        r.kind = c->timed_out ? RuntimeReply::timed_out : RuntimeReply::dropped;
        finish(c, r, false);
        return;
    }
    http::async_read(c->sock, c->buf, *c->parser, [this, c](error_code ec, size_t) {
        RuntimeReply r;
        if (c->timed_out) {
            r.kind = RuntimeReply::timed_out;
            finish(c, r, false);
            return;
        }
        auto &msg = c->parser->get();
        if (ec == http::error::body_limit) {
            r.kind = RuntimeReply::too_large;
            r.status = msg.result_int();
            r.body = msg.body();
            auto len = c->parser->content_length();
            r.length = len ? *len : (uint64_t)kMaxBody + 1;
            finish(c, r, false);
            return;
        }
        if (ec) {
            // an idle connection the runtime closed before reading
            // our request: try once more on a new connection
            if (c->reused && !c->retried && !c->parser->is_header_done()) {
                c->retried = true;
                c->reused = false;
                error_code ignore;
                c->sock.close(ignore);
                c->sock = stream::socket(io_);
                start(c, true);
                return;
            }
            r.kind = RuntimeReply::dropped;
            finish(c, r, false);
            return;
        }
        r.kind = RuntimeReply::ok;
        r.status = msg.result_int();
        r.body = std::move(msg.body());
        if (r.body.size() > kMaxResultBytes) {
            r.kind = RuntimeReply::too_large;
            r.length = r.body.size();
        }
        finish(c, std::move(r), msg.keep_alive());
    });
}

void RuntimeClient::finish(std::shared_ptr<Call> c, RuntimeReply r, bool reusable) {
    if (c->finished) return;
    c->finished = true;
    c->timer.cancel();
    if (reusable && c->sock.is_open() && idle_.size() < max_idle_)
        idle_.push_back(std::make_shared<Idle>(std::move(c->sock)));
    else {
        error_code ignore;
        c->sock.close(ignore);
    }
    auto done = std::move(c->done);
    done(std::move(r));
}

void RuntimeClient::wait_listening(int64_t deadline_ms, std::function<void(bool)> done) {
    probe(0, deadline_ms, std::move(done));
}

void RuntimeClient::probe(int attempt, int64_t deadline_ms, std::function<void(bool)> done) {
    auto sock = std::make_shared<stream::socket>(io_);
    sock->async_connect(ep_, [this, sock, attempt, deadline_ms, done](error_code ec) {
        if (!ec) {
            if (idle_.size() < max_idle_)
                idle_.push_back(std::make_shared<Idle>(std::move(*sock)));
            done(true);
            return;
        }
        int64_t now = ow::mono_ms();
        if (now >= deadline_ms) { done(false); return; }
        int64_t delay = probe_delay_ms(attempt, tcp_ ? 100 : 5);
        if (delay > deadline_ms - now) delay = deadline_ms - now;
        auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(delay));
        t->async_wait([this, t, attempt, deadline_ms, done](error_code) {
            probe(attempt + 1, deadline_ms, done);
        });
    });
}

}  // namespace ow::sidecar
