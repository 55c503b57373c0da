// stream_relay.h: the bytes of a streaming web action, both ways, through
// bounded buffers (docs/streams.md).
//
// Up: the client's request body, read as it arrives, goes to the runtime's
// POST /stream after one JSON line of metadata: a body of known length
// (Content-Length) as it is, with that length plus the line's, spliced from
// socket to socket through a pipe (read into the piece where the kernel
// cannot); a chunked one through the parser, as chunks. The client is read again only when the runtime took the last
// piece (backpressure).
// Down: the runtime's answer, status and headers first (shaped by the
// caller's head hook), then its body: a chunked one passes to the client as
// it came, framing and all, piece by piece (ChunkScanner checks the framing
// on the way); another is re-framed as chunks. At most one piece of each
// direction is held at a time.
//
// Every wait is bounded by the deadline (the action's time limit): when it
// passes both connections are closed (the client gets the refusal when no
// header went out yet). No exceptions: every failure is an error code that
// ends the relay with a kind. Single-threaded (the sidecar's io_context).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http.hpp>

#include "libow/web_action.h"
#include "sidecar/chunk_scanner.h"
#include "sidecar/http_server.h"

namespace ow::sidecar {

// The size of a piece read from either side.
constexpr size_t kStreamPieceBytes = 262144;

// The answer header of a runtime whose action failed before it answered
// (its body is then {"error": ...}).
extern const char kStreamErrorHeader[];

struct StreamResult {
    enum Kind {
        done,            // both ways to their end
        client_gone,     // the client's connection failed or closed early
        too_large,       // the request body passed max_in_bytes
        timed_out,       // the deadline passed
        runtime_failed,  // no connection, a dropped or malformed answer
        action_failed    // the runtime answered kStreamErrorHeader
    };
    Kind kind = done;
    bool head_sent = false;       // the client got the answer's header
    int status = 0;               // the action's status
    ow::HeaderList headers;       // the action's headers, as relayed
    uint64_t bytes_in = 0;        // request body bytes read from the client
    uint64_t bytes_out = 0;       // answer body bytes written to the client
    std::string failure;          // action_failed: the runtime's body (first 64 KiB)
};

const char *stream_kind_text(StreamResult::Kind k);

// The action's answer headers that may reach the client: not hop-by-hop
// (Connection, Transfer-Encoding, Content-Length, ...), not the relay's
// error header, no CR, LF or NUL in a value, a token as name.
ow::HeaderList relayable_headers(const ow::HeaderList &in);

// "HTTP/1.1 <status> <reason>\r\n" + headers + chunked framing (none for
// 204 and 304) + "Connection: close\r\n\r\n".
std::string stream_head_text(int status, const ow::HeaderList &headers);

class StreamRelay : public std::enable_shared_from_this<StreamRelay> {
public:
    using Endpoint = boost::asio::generic::stream_protocol::endpoint;

    struct Hooks {
        // The runtime's status and (relayable) headers, before they go to the
        // client: the caller adds its own (activation id, CORS).
        std::function<void(int status, ow::HeaderList &headers)> head;
        // The whole answer for a stream that ends before its header went out.
        std::function<Response(const StreamResult &)> refusal;
        // Once, at the end, after both connections are closed.
        std::function<void(const StreamResult &)> done;
    };

    struct Options {
        uint64_t max_in_bytes = 0;   // 0: no bound
        int64_t timeout_ms = 60000;  // from start() to the last byte
    };

    StreamRelay(boost::asio::io_context &io, StreamConn conn);
    ~StreamRelay();

    // Connects to the runtime at ep, sends POST /stream with meta (one
    // line, no '\n' in it) and relays. hooks.done runs exactly once.
    void start(const Endpoint &ep, std::string meta, Options opt, Hooks hooks);

    // Answers r on the client connection and closes it, with nothing relayed
    // (a refusal before the run: 401, 413, 429...). done runs after.
    void refuse(Response r, std::function<void()> done);

private:
    void up_read();
    void up_read_sized();
    void up_splice();
    void close_pipe();
    void up_write(size_t n, bool last);
    void down_header();
    void down_copy();
    void down_pass(size_t got);
    void down_read();
    void down_write(size_t n, bool last);
    void collect_failure();
    void end(StreamResult::Kind k);
    void finish();
    void write_refusal();
    void linger();

    boost::asio::ip::tcp::socket client_;
    boost::beast::flat_buffer client_buf_;
    std::unique_ptr<BodyParser> up_;
    boost::asio::generic::stream_protocol::socket runtime_;
    boost::beast::flat_buffer runtime_buf_;
    boost::beast::http::response_parser<boost::beast::http::buffer_body> down_;
    boost::asio::steady_timer deadline_;
    Options opt_;
    Hooks hooks_;
    StreamResult result_;
    std::string head_;                 // request header + meta chunk
    std::string frame_, down_frame_;   // a chunk's size line, each way
    std::unique_ptr<char[]> up_piece_, down_piece_;
    bool up_sized_ = false;            // Content-Length: not through the parser
    uint64_t up_left_ = 0;             // its bytes still to read
    // a sized body moves from socket to socket through a pipe (splice(2)):
    // the kernel passes pages; none of it is copied through this process
    int pipe_r_ = -1, pipe_w_ = -1;
    size_t in_pipe_ = 0;               // spliced in, not yet out
    bool splice_off_ = false;          // no pipe, or the kernel refused
    ChunkScanner down_chunks_;         // a chunked answer's framing, checked
    bool up_done_ = false, down_done_ = false;
    bool ended_ = false, finished_ = false;
    std::shared_ptr<Response> refusal_;
};

}  // namespace ow::sidecar
