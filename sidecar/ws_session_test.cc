// ws_session_test.cc: one WebSocket connection of the sidecar (ws_session.h)
// against a Beast client on a thread of its own: the handshake with the
// headers given, a message per read with the next one only after resume(),
// the close codes of its bounds (1009 too big, 1001 idle), a refusal.
#include "sidecar/ws_session.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket.hpp>

namespace ow::sidecar {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct Seen {
    std::vector<std::string> messages;   // what the session was given
    uint16_t closed_code = 0;
    bool closed = false;
};

// Runs a session on this thread until it is closed (or 10 s), the client on
// another. start: what to do once the upgrade request is read.
void run(std::function<void(tcp::socket &, uint16_t)> client,
         std::function<void(std::shared_ptr<WsSession>, Seen &)> start, Seen &seen) {
    asio::io_context io;
    tcp::acceptor front(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    uint16_t port = front.local_endpoint().port();
    std::thread t([&] {
        asio::io_context cio;
        tcp::socket s(cio);
        s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        client(s, port);
    });
    tcp::socket accepted(io);
    beast::flat_buffer buf;
    http::request_parser<http::string_body> parser;
    std::shared_ptr<WsSession> session;
    front.async_accept(accepted, [&](error_code ec) {
        ASSERT_FALSE(ec);
        http::async_read_header(accepted, buf, parser, [&](error_code ec, size_t) {
            ASSERT_FALSE(ec);
            Request header(parser.get().base());
            session = std::make_shared<WsSession>(
                StreamConn{std::move(accepted), std::move(buf), std::move(header),
                           std::make_unique<BodyParser>()});
            start(session, seen);
        });
    });
    io.run_for(std::chrono::seconds(10));
    t.join();
}

WsSession::Hooks hooks(std::shared_ptr<WsSession> s, Seen &seen, bool echo) {
    WsSession::Hooks h;
    std::weak_ptr<WsSession> w = s;
    h.message = [w, &seen, echo](std::string data, bool binary) {
        seen.messages.push_back(data);
        auto s = w.lock();
        if (!s) return;
        if (echo) s->send("echo:" + data, binary);
        s->resume();
    };
    h.closed = [&seen](uint16_t code, const std::string &) {
        seen.closed = true;
        seen.closed_code = code;
    };
    return h;
}

TEST(WsSession, AcceptsWithHeadersAndEchoesInOrder) {
    Seen seen;
    std::string got_header;
    std::vector<std::string> replies;
    run([&](tcp::socket &s, uint16_t port) {
            websocket::stream<tcp::socket &> ws(s);
            websocket::response_type res;
            ws.handshake(res, "127.0.0.1:" + std::to_string(port), "/web");
            got_header = std::string(res["x-openwhisk-connection-id"]);
            for (int i = 0; i < 3; i++) ws.write(asio::buffer("m" + std::to_string(i)));
            for (int i = 0; i < 3; i++) {
                beast::flat_buffer b;
                ws.read(b);
                replies.push_back(beast::buffers_to_string(b.data()));
            }
            ws.close(websocket::close_code::normal);
        },
        [](std::shared_ptr<WsSession> s, Seen &seen) {
            s->accept({{"x-openwhisk-connection-id", "c1"}}, {}, hooks(s, seen, true));
        },
        seen);
    EXPECT_EQ(got_header, "c1");
    EXPECT_EQ(seen.messages, (std::vector<std::string>{"m0", "m1", "m2"}));
    EXPECT_EQ(replies, (std::vector<std::string>{"echo:m0", "echo:m1", "echo:m2"}));
    EXPECT_TRUE(seen.closed);
    EXPECT_EQ(seen.closed_code, websocket::close_code::normal);
}

// What the client's read ends with: the close code it received.
uint16_t read_until_closed(websocket::stream<tcp::socket &> &ws) {
    for (;;) {
        beast::flat_buffer b;
        error_code ec;
        ws.read(b, ec);
        if (ec == websocket::error::closed) return ws.reason().code;
        if (ec) return 0;
    }
}

TEST(WsSession, MessageOverTheMaximumClosesWith1009) {
    Seen seen;
    uint16_t code = 0;
    run([&](tcp::socket &s, uint16_t port) {
            websocket::stream<tcp::socket &> ws(s);
            ws.handshake("127.0.0.1:" + std::to_string(port), "/web");
            ws.write(asio::buffer(std::string(10, 'x')));
            ws.write(asio::buffer(std::string(11, 'x')));
            code = read_until_closed(ws);
        },
        [](std::shared_ptr<WsSession> s, Seen &seen) {
            WsSession::Options o;
            o.max_message_bytes = 10;
            s->accept({}, o, hooks(s, seen, true));
        },
        seen);
    EXPECT_EQ(code, websocket::close_code::too_big);
    EXPECT_EQ(seen.messages, (std::vector<std::string>{std::string(10, 'x')}));
    EXPECT_TRUE(seen.closed);
}

TEST(WsSession, IdleConnectionClosesWith1001) {
    Seen seen;
    uint16_t code = 0;
    auto t0 = std::chrono::steady_clock::now();
    double took = 0;
    run([&](tcp::socket &s, uint16_t port) {
            websocket::stream<tcp::socket &> ws(s);
            ws.handshake("127.0.0.1:" + std::to_string(port), "/web");
            code = read_until_closed(ws);
            took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        },
        [](std::shared_ptr<WsSession> s, Seen &seen) {
            WsSession::Options o;
            o.idle_ms = 300;
            s->accept({}, o, hooks(s, seen, false));
        },
        seen);
    EXPECT_EQ(code, websocket::close_code::going_away);
    EXPECT_GE(took, 0.25);
    EXPECT_LT(took, 3.0);
    EXPECT_EQ(seen.closed_code, websocket::close_code::going_away);
}

TEST(WsSession, RefusalIsAnHttpAnswer) {
    Seen seen;
    int status = 0;
    std::string body;
    run([&](tcp::socket &s, uint16_t port) {
            std::string req = "GET /web HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
            asio::write(s, asio::buffer(req));
            beast::flat_buffer b;
            http::response<http::string_body> res;
            error_code ec;
            http::read(s, b, res, ec);
            status = res.result_int();
            body = res.body();
        },
        [](std::shared_ptr<WsSession> s, Seen &) {
            s->refuse(json_response(403, "{\"error\":\"no\"}"));
        },
        seen);
    EXPECT_EQ(status, 403);
    EXPECT_EQ(body, "{\"error\":\"no\"}");
    EXPECT_FALSE(seen.closed);
}

}  // namespace
}  // namespace ow::sidecar
