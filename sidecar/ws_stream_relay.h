// ws_stream_relay.h: a WebSocket streaming handler's messages, both ways,
// between the client's connection (ws_session.h) and the runtime's
// POST /stream (docs/websockets.md, "The streaming handler").
//
// The runtime gets POST /stream (chunked): the JSON line of the run, then
// the client's messages framed (ws_frame.h). Its answer: 200 at once, then
// the action's messages framed the same way, chunked. The upgrade completes
// when that 200 came (any other answer refuses it); a close frame from the
// runtime closes the connection with its code, the client's close goes to
// the runtime as a close frame and the end of the body.
//
// Backpressure both ways: the client's next message is read when the
// runtime took the last one; the runtime is read again when the client's
// send queue is under kWsStreamHighWater. Every wait is bounded by the
// deadline (the action's time limit): then the connection is closed with
// 1001 and the runtime's connection closed. No exceptions; single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "sidecar/ws_frame.h"
#include "sidecar/ws_session.h"

namespace ow::sidecar {

constexpr size_t kWsStreamPieceBytes = 65536;
constexpr size_t kWsStreamHighWater = 1u << 20;

struct WsStreamResult {
    enum Kind {
        done,            // the action ended the connection, or the client did
        timed_out,       // the deadline passed
        runtime_failed,  // no connection, a dropped or malformed answer
        action_failed,   // the runtime answered X-OW-Stream-Error (before the upgrade)
        too_big          // a message of the action over the maximum
    };
    Kind kind = done;
    bool accepted = false;        // the upgrade completed
    uint16_t close_code = 0;      // sent or received
    uint64_t messages_in = 0, messages_out = 0;
    uint64_t bytes_in = 0, bytes_out = 0;
    std::string failure;          // action_failed: the runtime's body (first 64 KiB)
};

class WsStreamRelay : public std::enable_shared_from_this<WsStreamRelay> {
public:
    using Endpoint = boost::asio::generic::stream_protocol::endpoint;

    struct Hooks {
        // The upgrade's refusal when the runtime did not answer 200.
        std::function<Response(const WsStreamResult &)> refusal;
        // Once, at the end, when both connections are closed.
        std::function<void(const WsStreamResult &)> done;
    };
    struct Options {
        WsSession::Options session;
        ow::HeaderList accept_headers;   // on the 101
        int64_t timeout_ms = 60000;
    };

    WsStreamRelay(boost::asio::io_context &io, std::shared_ptr<WsSession> session);
    void start(const Endpoint &ep, std::string meta, Options opt, Hooks hooks);

private:
    void down_header();
    void down_read();
    void down_frames(size_t n);
    void up_message(std::string data, bool binary);
    void up_close(uint16_t code);
    void client_closed(uint16_t code);
    void collect_failure();
    void end(WsStreamResult::Kind k);
    void maybe_finish();

    std::shared_ptr<WsSession> session_;
    boost::asio::generic::stream_protocol::socket runtime_;
    boost::beast::flat_buffer runtime_buf_;
    boost::beast::http::response_parser<boost::beast::http::buffer_body> down_;
    boost::asio::steady_timer deadline_;
    Options opt_;
    Hooks hooks_;
    WsStreamResult result_;
    WsFrameReader frames_;
    std::string head_;
    std::string up_frame_;          // the message being written, framed
    std::unique_ptr<char[]> piece_;
    size_t piece_len_ = 0, piece_off_ = 0;
    bool up_done_ = false;          // our body to the runtime ended
    bool down_done_ = false;        // the runtime's answer ended (or failed)
    bool client_done_ = false;      // the client's connection is gone
    bool ended_ = false, finished_ = false;
};

}  // namespace ow::sidecar
