// ws_session.h: one WebSocket connection the sidecar holds
// (docs/websockets.md), on Beast's websocket::stream.
//
// The upgrade request was read by the HTTP server (http_server.h,
// Takeover); the session either refuses it with an HTTP answer or accepts
// it, then reads one message at a time: after each the owner decides when
// the next is read (resume()), so a connection whose message is being
// handled sends nothing more our way than the socket buffers hold. Writes
// are queued (at most kMaxQueuedBytes) and go one at a time.
//
// Bounds: a message over max_message_bytes closes with 1009 (Beast's
// read_message_max); no message either way for idle_ms closes with 1001;
// the handshake and the closing handshake get kHandshakeMs. closed runs
// once, when the connection is gone (whichever side ended it). No
// exceptions: Beast's error_code handlers. Single-threaded (the sidecar's
// io_context).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>

#include "libow/web_action.h"
#include "sidecar/http_server.h"

namespace ow::sidecar {

class WsSession : public std::enable_shared_from_this<WsSession> {
public:
    static constexpr int64_t kHandshakeMs = 10000;
    static constexpr size_t kMaxQueuedBytes = 8u << 20;

    struct Options {
        uint64_t max_message_bytes = 1048576;
        int64_t idle_ms = 600000;
    };
    struct Hooks {
        // A message; the next is read after resume().
        std::function<void(std::string data, bool binary)> message;
        // Once, when the connection is gone: the close code sent or received
        // (0: none, the connection failed) and why, for the logs.
        std::function<void(uint16_t code, const std::string &why)> closed;
        // The send queue went empty (optional: for a producer that waits).
        std::function<void()> drained;
    };

    explicit WsSession(StreamConn conn);

    // Answers r on the connection (no upgrade) and closes it.
    void refuse(Response r);
    // Completes the handshake of the request it was made with, headers
    // added to the 101, then reads. False through closed when it fails.
    void accept(ow::HeaderList headers, Options opt, Hooks hooks);
    // Reads the next message.
    void resume();
    // Queues a message; false when the queue is full or the connection is
    // closing.
    bool send(std::string data, bool binary);
    // Sends a close frame (after what is queued) and ends.
    void close(uint16_t code);

    bool open() const { return accepted_ && !closing_ && !ended_; }
    int64_t last_active_ms() const { return last_active_ms_; }
    size_t queued_bytes() const { return out_bytes_; }

private:
    void read();
    void write_next();
    void arm_idle();
    void end(uint16_t code, const std::string &why);

    boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
    Request req_;
    boost::beast::flat_buffer in_;
    boost::asio::steady_timer idle_;
    Options opt_;
    Hooks hooks_;
    struct Out {
        std::string data;
        bool binary;
    };
    std::deque<Out> out_;
    size_t out_bytes_ = 0;
    bool writing_ = false, reading_ = false, busy_ = false, close_sent_ = false;
    bool accepted_ = false, closing_ = false, ended_ = false;
    uint16_t close_code_ = 0;
    int64_t last_active_ms_ = 0;
    std::shared_ptr<Response> refusal_;
};

}  // namespace ow::sidecar
