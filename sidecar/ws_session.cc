// ws_session.cc: see ws_session.h.
#include "sidecar/ws_session.h"

#include <chrono>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/write.hpp>

#include "libow/clock.h"

namespace ow::sidecar {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace http = boost::beast::http;
using boost::system::error_code;

WsSession::WsSession(StreamConn conn)
    : ws_(beast::tcp_stream(std::move(conn.socket))), req_(std::move(conn.header)),
      idle_(ws_.get_executor()) {
    // bytes past the upgrade request (conn.buffer) would be frames a client
    // sent before it had the 101, which RFC 6455 does not allow: dropped
}

void WsSession::refuse(Response r) {
    refusal_ = std::make_shared<Response>(std::move(r));
    refusal_->keep_alive(false);
    refusal_->prepare_payload();
    ended_ = true;
    auto &tcp = beast::get_lowest_layer(ws_);
    tcp.expires_after(std::chrono::milliseconds(kHandshakeMs));
    auto self = shared_from_this();
    http::async_write(tcp, *refusal_, [self](error_code, size_t) {
        error_code ec;
        auto &s = beast::get_lowest_layer(self->ws_).socket();
        s.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
        s.close(ec);
    });
}

void WsSession::accept(ow::HeaderList headers, Options opt, Hooks hooks) {
    opt_ = opt;
    hooks_ = std::move(hooks);
    beast::get_lowest_layer(ws_).expires_never();   // the stream's own timeouts
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::milliseconds(kHandshakeMs);
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
        [headers = std::move(headers)](websocket::response_type &res) {
            for (const auto &h : headers) res.set(h.first, h.second);
        }));
    ws_.read_message_max(opt_.max_message_bytes);
    auto self = shared_from_this();
    ws_.async_accept(req_, [self](error_code ec) {
        if (ec) return self->end(0, "handshake: " + ec.message());
        self->accepted_ = true;
        self->last_active_ms_ = ow::now_ms();
        self->arm_idle();
        self->read();
    });
}

void WsSession::resume() {
    busy_ = false;
    last_active_ms_ = ow::now_ms();
    read();
}

void WsSession::read() {
    if (reading_ || busy_ || !open()) return;
    reading_ = true;
    auto self = shared_from_this();
    ws_.async_read(in_, [self](error_code ec, size_t) {
        self->reading_ = false;
        if (ec) {
            uint16_t code = 0;
            if (ec == websocket::error::message_too_big) code = websocket::close_code::too_big;
            else if (ec == websocket::error::closed) code = self->ws_.reason().code;
            else if (self->closing_) code = self->close_code_;
            return self->end(code, ec.message());
        }
        bool binary = self->ws_.got_binary();
        std::string data = beast::buffers_to_string(self->in_.data());
        self->in_.consume(self->in_.size());
        self->last_active_ms_ = ow::now_ms();
        if (self->closing_ || self->ended_) return;
        self->busy_ = true;
        if (self->hooks_.message) self->hooks_.message(std::move(data), binary);
    });
}

bool WsSession::send(std::string data, bool binary) {
    if (!open() || out_bytes_ + data.size() > kMaxQueuedBytes) return false;
    out_bytes_ += data.size();
    out_.push_back({std::move(data), binary});
    last_active_ms_ = ow::now_ms();
    write_next();
    return true;
}

void WsSession::write_next() {
    if (writing_ || ended_) return;
    if (out_.empty()) {
        if (closing_ && !close_sent_) {
            close_sent_ = true;
            auto self = shared_from_this();
            ws_.async_close(websocket::close_reason(close_code_), [self](error_code ec) {
                self->end(self->close_code_, ec ? "close: " + ec.message() : "closed");
            });
        }
        return;
    }
    writing_ = true;
    ws_.binary(out_.front().binary);
    auto self = shared_from_this();
    ws_.async_write(boost::asio::buffer(out_.front().data), [self](error_code ec, size_t) {
        self->writing_ = false;
        self->out_bytes_ -= self->out_.front().data.size();
        self->out_.pop_front();
        if (ec) return self->end(0, "write: " + ec.message());
        self->last_active_ms_ = ow::now_ms();
        self->write_next();
        if (self->out_.empty() && !self->ended_ && self->hooks_.drained) self->hooks_.drained();
    });
}

void WsSession::close(uint16_t code) {
    if (!accepted_ || closing_ || ended_) return;
    closing_ = true;
    close_code_ = code;
    // a peer that takes neither our frames nor our close is cut after this
    idle_.expires_after(std::chrono::milliseconds(kHandshakeMs));
    auto self = shared_from_this();
    idle_.async_wait([self](error_code ec) {
        if (!ec) self->end(self->close_code_, "close timed out");
    });
    write_next();
}

void WsSession::arm_idle() {
    if (closing_ || ended_) return;
    int64_t left = last_active_ms_ + opt_.idle_ms - ow::now_ms();
    idle_.expires_after(std::chrono::milliseconds(left > 0 ? left : 0));
    auto self = shared_from_this();
    idle_.async_wait([self](error_code ec) {
        if (ec || self->closing_ || self->ended_) return;
        // a message being handled is not idleness
        if (!self->busy_ && ow::now_ms() - self->last_active_ms_ >= self->opt_.idle_ms)
            return self->close(websocket::close_code::going_away);
        if (self->busy_) self->last_active_ms_ = ow::now_ms();
        self->arm_idle();
    });
}

void WsSession::end(uint16_t code, const std::string &why) {
    if (ended_) return;
    ended_ = true;
    idle_.cancel();
    error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
    auto closed = std::move(hooks_.closed);
    hooks_ = Hooks();
    if (closed) closed(code, why);
}

}  // namespace ow::sidecar
