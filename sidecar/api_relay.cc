// api_relay.cc: see api_relay.h.
#include "sidecar/api_relay.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace ow::sidecar {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct ApiRelay::Listener {
    tcp::acceptor acceptor;
    tcp::endpoint upstream;
    asio::steady_timer retry;   // after a failed accept (EMFILE): no busy loop
    Listener(asio::io_context &io) : acceptor(io), retry(io) {}
};

// One relayed connection: the action's end (down) and the gateway's (up),
// a pump per direction, one timer for the connect and idle deadlines.
struct ApiRelay::Conn : std::enable_shared_from_this<ApiRelay::Conn> {
    tcp::socket down, up;
    asio::steady_timer timer;
    std::vector<char> buf[2];   // [0] down→up, [1] up→down
    bool pump_done[2] = {false, false};
    bool connected = false;
    bool closed = false;
    int64_t idle_ms;
    std::shared_ptr<size_t> active;
    std::shared_ptr<ApiRelayCounters> counters;

    Conn(asio::io_context &io, tcp::socket s, size_t bytes, int64_t idle,
         std::shared_ptr<size_t> act, std::shared_ptr<ApiRelayCounters> cnt)
        : down(std::move(s)), up(io), timer(io), idle_ms(idle), active(std::move(act)),
          counters(std::move(cnt)) {
        buf[0].resize(bytes);
        buf[1].resize(bytes);
        ++*active;
    }
    ~Conn() { --*active; }

    void shut() {
        if (closed) return;
        closed = true;
        error_code ec;
        down.close(ec);
        up.close(ec);
        timer.cancel();
    }

    void arm(int64_t ms, bool idle) {
        timer.expires_after(std::chrono::milliseconds(ms));
        std::weak_ptr<Conn> weak = shared_from_this();
        timer.async_wait([weak, idle](error_code ec) {
            auto c = weak.lock();
            if (ec || !c || c->closed) return;
            if (idle) c->counters->timed_out++;
            else c->counters->failed++;
            c->shut();
        });
    }

    void start(const tcp::endpoint &upstream, int64_t connect_ms) {
        error_code ec;
        up.open(upstream.protocol(), ec);
        if (!ec && upstream.address().is_v4() && upstream.address().is_loopback()) {
            // not 127.0.0.1: see kRelaySource
            up.bind(tcp::endpoint(asio::ip::make_address_v4(kRelaySource), 0), ec);
        }
        if (ec) {
            counters->failed++;
            shut();
            return;
        }
        arm(connect_ms, false);
        auto self = shared_from_this();
        up.async_connect(upstream, [self](error_code ec) {
            if (self->closed) return;
            if (ec) {
                self->counters->failed++;
                self->shut();
                return;
            }
            self->connected = true;
            self->arm(self->idle_ms, true);
            self->pump(0);
            self->pump(1);
        });
    }

    // Reads from one side into its buffer and writes all of it to the
    // other, then reads again: at most one buffer in flight per direction.
    void pump(int dir) {
        tcp::socket &from = dir == 0 ? down : up;
        auto self = shared_from_this();
        from.async_read_some(asio::buffer(buf[dir]), [self, dir](error_code ec, size_t n) {
            if (self->closed) return;
            tcp::socket &to = dir == 0 ? self->up : self->down;
            if (ec) {
                if (ec != asio::error::eof) { self->shut(); return; }
                // a half close passes on: the other direction may go on
                error_code ignore;
                to.shutdown(tcp::socket::shutdown_send, ignore);
                self->pump_done[dir] = true;
                if (self->pump_done[0] && self->pump_done[1]) self->shut();
                return;
            }
            self->arm(self->idle_ms, true);
            asio::async_write(to, asio::buffer(self->buf[dir].data(), n),
                              [self, dir](error_code ec, size_t) {
                if (self->closed) return;
                if (ec) { self->shut(); return; }
                self->pump(dir);
            });
        });
    }
};

ApiRelay::ApiRelay(asio::io_context &io, ApiRelayOptions opts)
    : io_(io), opts_(opts), active_(std::make_shared<size_t>(0)),
      counters_(std::make_shared<ApiRelayCounters>()),
      conns_(std::make_shared<std::vector<std::weak_ptr<Conn>>>()) {}

ApiRelay::~ApiRelay() { close(); }

bool ApiRelay::add(int listen_fd, const tcp::endpoint &upstream, std::string *err) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) {
        ::close(listen_fd);
        *err = "API relay: not a listening socket";
        return false;
    }
    auto l = std::make_shared<Listener>(io_);
    l->upstream = upstream;
    error_code ec;
    // the family only decides what assign() records; the fd is what it is
    l->acceptor.assign(upstream.protocol(), listen_fd, ec);
    if (!ec) l->acceptor.non_blocking(true, ec);
    if (ec) {
        if (!l->acceptor.is_open()) ::close(listen_fd);
        *err = "API relay: " + ec.message();
        return false;
    }
    listeners_.push_back(l);
    accept(l);
    return true;
}

void ApiRelay::accept(const std::shared_ptr<Listener> &l) {
    std::weak_ptr<Listener> weak = l;
    l->acceptor.async_accept([this, weak](error_code ec, tcp::socket s) {
        auto l = weak.lock();
        if (!l || !l->acceptor.is_open()) return;
        if (ec) {
            // EMFILE and the like: not fatal to the relay; try again a
            // little later (the connection stays in the backlog meanwhile)
            if (ec == asio::error::operation_aborted) return;
            l->retry.expires_after(std::chrono::milliseconds(100));
            l->retry.async_wait([this, weak](error_code ec) {
                auto l = weak.lock();
                if (!ec && l && l->acceptor.is_open()) accept(l);
            });
            return;
        }
        if (*active_ >= opts_.max_connections) {
            counters_->refused++;
            error_code ignore;
            s.close(ignore);
            accept(l);
            return;
        }
        counters_->accepted++;
        auto c = std::make_shared<Conn>(io_, std::move(s), opts_.buffer_bytes,
                                        opts_.idle_timeout_ms, active_, counters_);
        // forget the connections that ended (bounded by max_connections)
        auto &cs = *conns_;
        cs.erase(std::remove_if(cs.begin(), cs.end(),
                                [](const std::weak_ptr<Conn> &w) { return w.expired(); }),
                 cs.end());
        cs.push_back(c);
        c->start(l->upstream, opts_.connect_timeout_ms);
        accept(l);
    });
}

void ApiRelay::close() {
    for (auto &l : listeners_) {
        error_code ec;
        l->acceptor.close(ec);
        l->retry.cancel();
    }
    listeners_.clear();
    for (auto &w : *conns_)
        if (auto c = w.lock()) c->shut();
    conns_->clear();
}

}  // namespace ow::sidecar
