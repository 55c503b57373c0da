// ws_stream_relay.cc: see ws_stream_relay.h.
#include "sidecar/ws_stream_relay.h"

#include <cstdio>
#include <limits>

#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "sidecar/stream_relay.h"

namespace ow::sidecar {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

constexpr size_t kFailureBytes = 65536;

static std::string chunk_of(const std::string &data) {
    char b[24];
    int len = std::snprintf(b, sizeof b, "%zx\r\n", data.size());
    return std::string(b, (size_t)len) + data + "\r\n";
}

WsStreamRelay::WsStreamRelay(asio::io_context &io, std::shared_ptr<WsSession> session)
    : session_(std::move(session)), runtime_(io), deadline_(io), frames_(0),
      piece_(new char[kWsStreamPieceBytes]) {
    down_.body_limit(std::numeric_limits<uint64_t>::max());
}

void WsStreamRelay::start(const Endpoint &ep, std::string meta, Options opt, Hooks hooks) {
    opt_ = std::move(opt);
    hooks_ = std::move(hooks);
    frames_ = WsFrameReader(opt_.session.max_message_bytes);
    auto self = shared_from_this();
    deadline_.expires_after(std::chrono::milliseconds(opt_.timeout_ms));
    deadline_.async_wait([self](error_code ec) {
        if (!ec && !self->ended_) self->end(WsStreamResult::timed_out);
    });
    meta += '\n';
    head_ = "POST /stream HTTP/1.1\r\nHost: runtime\r\n"
            "Content-Type: application/x-ow-websocket\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunk_of(meta);
    runtime_.async_connect(ep, [self](error_code ec) {
        if (self->ended_) return;
        if (ec) return self->end(WsStreamResult::runtime_failed);
        asio::async_write(self->runtime_, asio::buffer(self->head_),
                          [self](error_code ec, size_t) {
            if (self->ended_) return;
            if (ec) return self->end(WsStreamResult::runtime_failed);
        });
        self->down_header();
    });
}

void WsStreamRelay::down_header() {
    auto self = shared_from_this();
    http::async_read_header(runtime_, runtime_buf_, down_, [self](error_code ec, size_t) {
        if (self->ended_) return;
        if (ec) return self->end(WsStreamResult::runtime_failed);
        auto &h = self->down_.get();
        if (h.find(kStreamErrorHeader) != h.end()) return self->collect_failure();
        if (h.result_int() != 200) return self->end(WsStreamResult::runtime_failed);
        self->result_.accepted = true;
        WsSession::Hooks sh;
        std::weak_ptr<WsStreamRelay> weak = self;
        sh.message = [weak](std::string data, bool binary) {
            if (auto s = weak.lock()) s->up_message(std::move(data), binary);
        };
        sh.closed = [weak](uint16_t code, const std::string &) {
            if (auto s = weak.lock()) s->client_closed(code);
        };
        sh.drained = [weak]() {
            auto s = weak.lock();
            if (s && s->piece_off_ < s->piece_len_) s->down_frames(0);
        };
        self->session_->accept(self->opt_.accept_headers, self->opt_.session, std::move(sh));
        self->down_read();
    });
}

// ---- down: the action's messages to the client

void WsStreamRelay::down_read() {
    if (ended_ || down_done_) return;
    if (down_.is_done()) {
        down_done_ = true;
        // the action returned: the connection ends with it
        session_->close(beast::websocket::close_code::normal);
        return maybe_finish();
    }
    auto &b = down_.get().body();
    b.data = piece_.get();
    b.size = kWsStreamPieceBytes;
    auto self = shared_from_this();
    http::async_read_some(runtime_, runtime_buf_, down_, [self](error_code ec, size_t) {
        if (self->ended_) return;
        if (ec == http::error::need_buffer) ec = {};
        if (ec) return self->end(WsStreamResult::runtime_failed);
        self->piece_len_ = kWsStreamPieceBytes - self->down_.get().body().size;
        self->piece_off_ = 0;
        self->down_frames(0);
    });
}

// The frames of the piece read, from piece_off_; reads on when the client's
// queue has room, else drained() brings us back.
void WsStreamRelay::down_frames(size_t) {
    while (piece_off_ < piece_len_) {
        if (session_->queued_bytes() > kWsStreamHighWater) return;
        size_t used = 0;
        auto st = frames_.feed(piece_.get() + piece_off_, piece_len_ - piece_off_, &used);
        piece_off_ += used;
        if (st == WsFrameReader::Status::more) break;
        if (st != WsFrameReader::Status::frame) {
            return end(st == WsFrameReader::Status::too_big ? WsStreamResult::too_big
                                                            : WsStreamResult::runtime_failed);
        }
        if (frames_.type() == WsFrameType::close) {
            result_.close_code = ws_close_code(frames_.payload());
            session_->close(result_.close_code);
            continue;
        }
        result_.messages_out++;
        result_.bytes_out += frames_.payload().size();
        session_->send(std::move(frames_.payload()), frames_.type() == WsFrameType::binary);
    }
    down_read();
}

// ---- up: the client's messages to the action

void WsStreamRelay::up_message(std::string data, bool binary) {
    if (ended_ || up_done_) return;
    result_.messages_in++;
    result_.bytes_in += data.size();
    up_frame_ = chunk_of(ws_frame_header(binary ? WsFrameType::binary : WsFrameType::text,
                                         (uint32_t)data.size()) + data);
    auto self = shared_from_this();
    asio::async_write(runtime_, asio::buffer(up_frame_), [self](error_code ec, size_t) {
        if (self->ended_) return;
        // the runtime stopped reading (the action returned): its answer ends too
        if (ec) return;
        self->session_->resume();
    });
}

void WsStreamRelay::client_closed(uint16_t code) {
    client_done_ = true;
    if (!result_.close_code) result_.close_code = code;
    if (!ended_ && !up_done_) {
        up_done_ = true;
        up_frame_ = chunk_of(ws_frame_header(WsFrameType::close, 2) + ws_close_payload(code)) +
                    "0\r\n\r\n";
        auto self = shared_from_this();
        asio::async_write(runtime_, asio::buffer(up_frame_), [self](error_code, size_t) {});
    }
    maybe_finish();
}

// The runtime's error answer: its body is read (bounded) for the refusal.
void WsStreamRelay::collect_failure() {
    if (down_.is_done()) return end(WsStreamResult::action_failed);
    auto &b = down_.get().body();
    b.data = piece_.get();
    b.size = kWsStreamPieceBytes;
    auto self = shared_from_this();
    http::async_read_some(runtime_, runtime_buf_, down_, [self](error_code ec, size_t) {
        if (self->ended_) return;
        if (ec == http::error::need_buffer) ec = {};
        if (ec) return self->end(WsStreamResult::action_failed);
        size_t got = kWsStreamPieceBytes - self->down_.get().body().size;
        if (self->result_.failure.size() < kFailureBytes)
            self->result_.failure.append(self->piece_.get(),
                                         std::min(got, kFailureBytes - self->result_.failure.size()));
        self->collect_failure();
    });
}

void WsStreamRelay::maybe_finish() {
    if (finished_ || !client_done_ || !down_done_) return;
    finished_ = true;
    ended_ = true;
    deadline_.cancel();
    error_code ec;
    runtime_.close(ec);
    auto done = std::move(hooks_.done);
    hooks_ = Hooks();
    if (done) done(result_);
}

// The relay stops moving bytes (the deadline, a failure): the runtime's
// connection is closed, the client's refused (no upgrade yet) or closed
// with a code that says why; done runs once the client's is gone.
void WsStreamRelay::end(WsStreamResult::Kind k) {
    if (ended_) return;
    ended_ = true;
    result_.kind = k;
    deadline_.cancel();
    error_code ec;
    runtime_.close(ec);
    down_done_ = true;
    if (!result_.accepted) {
        client_done_ = true;
        Response r = hooks_.refusal ? hooks_.refusal(result_) : Response{};
        session_->refuse(std::move(r));
    } else if (k == WsStreamResult::timed_out) {
        session_->close(beast::websocket::close_code::going_away);
    } else if (k == WsStreamResult::too_big) {
        session_->close(beast::websocket::close_code::too_big);
    } else {
        session_->close(beast::websocket::close_code::internal_error);
    }
    maybe_finish();
}

}  // namespace ow::sidecar
