// stream_relay_test.cc: the stream relay between a client and a runtime,
// both played by blocking sockets on threads of their own, on port 0.
#include "sidecar/stream_relay.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>

namespace ow::sidecar {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using HeaderParserForTest = http::request_parser<http::string_body>;

// Everything a socket sends until it closes.
std::string read_all(tcp::socket &s) {
    std::string out;
    char b[65536];
    for (;;) {
        error_code ec;
        size_t n = s.read_some(asio::buffer(b), ec);
        out.append(b, n);
        if (ec) return out;
    }
}

// The body of a chunked answer (its framing undone); "!" when malformed.
std::string dechunked(const std::string &answer) {
    size_t at = answer.find("\r\n\r\n");
    if (at == std::string::npos) return "!";
    std::string body;
    for (at += 4;;) {
        size_t eol = answer.find("\r\n", at);
        if (eol == std::string::npos) return "!";
        size_t n = std::stoul(answer.substr(at, eol - at), nullptr, 16);
        if (n == 0) return answer.compare(eol, 4, "\r\n\r\n") == 0 ? body : "!";
        if (answer.compare(eol + 2 + n, 2, "\r\n") != 0) return "!";
        body += answer.substr(eol + 2, n);
        at = eol + 4 + n;
    }
}

struct Outcome {
    std::string answer;        // what the client got, raw
    std::string meta, body;    // what the runtime got
    StreamResult result;
    bool done = false;
    bool head_hook = false;
};

// The runtime: reads one POST /stream (its meta line and body) and answers
// with `reply` (raw), or says nothing and waits for the relay to close.
using Runtime = std::function<void(tcp::socket &, Outcome &)>;

Runtime answering(const std::string &reply, bool then_close = false) {
    return [reply, then_close](tcp::socket &s, Outcome &o) {
        beast::flat_buffer buf;
        http::request<http::string_body> req;
        error_code ec;
        http::read(s, buf, req, ec);
        if (ec) return;
        EXPECT_EQ(req.target(), "/stream");
        std::string b = req.body();
        size_t nl = b.find('\n');
        o.meta = b.substr(0, nl);
        o.body = nl == std::string::npos ? "" : b.substr(nl + 1);
        asio::write(s, asio::buffer(reply), ec);
        if (then_close) s.close(ec);
    };
}

// client_shuts: the client ends its side once it sent the request (a body
// shorter than its Content-Length is then cut short)
Outcome relay(const std::string &request, Runtime runtime, StreamRelay::Options opt,
              bool client_shuts = false) {
    Outcome o;
    asio::io_context io;
    tcp::acceptor front(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    asio::io_context rt_io;
    tcp::acceptor back(rt_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));

    std::thread rt([&] {
        tcp::socket s(rt_io);
        error_code ec;
        back.accept(s, ec);
        if (!ec) runtime(s, o);
        // until the relay closes its side
        read_all(s);
    });
    std::thread client([&, port = front.local_endpoint().port()] {
        asio::io_context cio;
        tcp::socket s(cio);
        s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        error_code ec;
        asio::write(s, asio::buffer(request), ec);
        if (client_shuts) s.shutdown(tcp::socket::shutdown_send, ec);
        o.answer = read_all(s);
    });

    tcp::socket accepted(io);
    beast::flat_buffer buf;
    HeaderParserForTest parser;
    std::shared_ptr<StreamRelay> r;
    front.async_accept(accepted, [&](error_code ec) {
        ASSERT_FALSE(ec);
        http::async_read_header(accepted, buf, parser, [&](error_code ec, size_t) {
            ASSERT_FALSE(ec);
            Request header(parser.get().base());
            r = std::make_shared<StreamRelay>(
                io, StreamConn{std::move(accepted), std::move(buf), std::move(header),
                               std::make_unique<BodyParser>(std::move(parser))});
            StreamRelay::Hooks h;
            h.head = [&](int, ow::HeaderList &hs) {
                o.head_hook = true;
                hs.emplace_back("x-openwhisk-activation-id", "abc");
            };
            h.refusal = [](const StreamResult &res) {
                return json_response(res.kind == StreamResult::too_large ? 413 : 502,
                                     std::string("{\"error\":\"") + stream_kind_text(res.kind) +
                                         "\"}",
                                     false);
            };
            h.done = [&](const StreamResult &res) {
                o.result = res;
                o.done = true;
            };
            r->start(StreamRelay::Endpoint(back.local_endpoint()), "{\"value\":{}}", opt,
                     std::move(h));
        });
    });
    io.run_for(std::chrono::seconds(10));
    client.join();
    rt.join();
    return o;
}

const char kChunkedRequest[] =
    "POST /web HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

TEST(StreamRelay, RelaysBodyBothWaysChunked) {
    StreamRelay::Options opt;
    Outcome o = relay(kChunkedRequest,
                      answering("HTTP/1.1 201 Created\r\nX-A: b\r\nConnection: close\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
                      opt);
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.result.kind, StreamResult::done);
    EXPECT_EQ(o.meta, "{\"value\":{}}");
    EXPECT_EQ(o.body, "hello world");
    EXPECT_EQ(o.result.bytes_in, 11u);
    EXPECT_EQ(o.result.bytes_out, 5u);
    EXPECT_EQ(o.result.status, 201);
    EXPECT_TRUE(o.head_hook);
    EXPECT_EQ(o.answer.substr(0, 21), "HTTP/1.1 201 Created\r");
    EXPECT_NE(o.answer.find("X-A: b\r\n"), std::string::npos);
    EXPECT_NE(o.answer.find("x-openwhisk-activation-id: abc\r\n"), std::string::npos);
    // the runtime's chunks as it framed them
    EXPECT_NE(o.answer.find("\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), std::string::npos);
    EXPECT_EQ(dechunked(o.answer), "abcde");
}

// The runtime: its answer written in pieces of `step` bytes, a chunk's
// framing cut anywhere, whatever the relay's reads see.
Runtime answering_in_pieces(const std::string &reply, size_t step) {
    return [reply, step](tcp::socket &s, Outcome &o) {
        answering("")(s, o);
        s.set_option(tcp::no_delay(true));
        error_code ec;
        for (size_t at = 0; at < reply.size() && !ec; at += step)
            asio::write(s, asio::buffer(reply.data() + at, std::min(step, reply.size() - at)), ec);
    };
}

TEST(StreamRelay, ChunkedAnswerPassesAsItCameToItsLastChunk) {
    std::string body, framed;
    for (size_t n : {65536u, 7u, 300000u, 1u, 65535u}) {
        std::string chunk(n, (char)('a' + n % 26));
        body += chunk;
        char size[32];
        std::snprintf(size, sizeof size, "%zX;n=1\r\n", n);
        framed += size + chunk + "\r\n";
    }
    framed += "0\r\nX-Trailer: t\r\n\r\n";
    std::string reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framed;
    for (size_t step : {size_t(3), size_t(4093), reply.size()}) {
        StreamRelay::Options opt;
        // what follows the last chunk is no part of the answer
        Outcome o = relay(kChunkedRequest, answering_in_pieces(reply + "EXTRA", step), opt);
        ASSERT_TRUE(o.done);
        EXPECT_EQ(o.result.kind, StreamResult::done) << step;
        EXPECT_EQ(o.result.bytes_out, body.size()) << step;
        size_t head_end = o.answer.find("\r\n\r\n");
        ASSERT_NE(head_end, std::string::npos);
        EXPECT_EQ(o.answer.substr(head_end + 4), framed) << step;
    }
}

TEST(StreamRelay, MalformedChunkFramingIsCutBeforeItLeaves) {
    StreamRelay::Options opt;
    Outcome o = relay(kChunkedRequest,
                      answering("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "3\r\nabc\r\nzz\r\n0\r\n\r\n"),
                      opt);
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.result.kind, StreamResult::runtime_failed);
    EXPECT_TRUE(o.result.head_sent);
    // nothing of the piece that held the bad size line, no last chunk
    EXPECT_EQ(o.answer.find("zz"), std::string::npos);
    EXPECT_EQ(o.answer.find("0\r\n\r\n"), std::string::npos);
}

TEST(StreamRelay, ContentLengthBodyAndContentLengthAnswer) {
    StreamRelay::Options opt;
    std::string body(200000, 'x');
    Outcome o = relay("POST /web HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + body,
                      answering("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), opt);
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.result.kind, StreamResult::done);
    EXPECT_EQ(o.body, body);
    EXPECT_EQ(o.result.bytes_in, 200000u);
    // re-framed: the runtime's Content-Length does not reach the client
    EXPECT_EQ(o.answer.find("Content-Length"), std::string::npos);
    EXPECT_NE(o.answer.find("2\r\nok\r\n0\r\n\r\n"), std::string::npos);
}

TEST(StreamRelay, SizedBodyCutShortIsTheClientGone) {
    StreamRelay::Options opt;
    std::string part(300000, 'y');
    Outcome o = relay("POST /web HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + part,
                      [](tcp::socket &, Outcome &) {}, opt, true);
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.result.kind, StreamResult::client_gone);
    EXPECT_EQ(o.result.bytes_in, 300000u);
    EXPECT_EQ(o.answer, "");
}

TEST(StreamRelay, BodyOverTheMaximumIsRefusedBeforeAnyAnswer) {
    StreamRelay::Options opt;
    opt.max_in_bytes = 8;
    Outcome o = relay(kChunkedRequest, [](tcp::socket &, Outcome &) {}, opt);
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.result.kind, StreamResult::too_large);
    EXPECT_EQ(o.answer.substr(0, 12), "HTTP/1.1 413");
    EXPECT_NE(o.answer.find("too large"), std::string::npos);
}

TEST(StreamRelay, DeadlineEndsASilentRuntime) {
    StreamRelay::Options opt;
    opt.timeout_ms = 100;
    Outcome o = relay(kChunkedRequest, [](tcp::socket &, Outcome &) {}, opt);
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.result.kind, StreamResult::timed_out);
    EXPECT_EQ(o.answer.substr(0, 12), "HTTP/1.1 502");
}

TEST(StreamRelay, ActionFailureBeforeItsAnswerIsCollected) {
    StreamRelay::Options opt;
    Outcome o = relay(kChunkedRequest,
                      answering("HTTP/1.1 502 Bad Gateway\r\nX-OW-Stream-Error: true\r\n"
                                "Content-Length: 16\r\n\r\n{\"error\":\"boom\"}"),
                      opt);
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.result.kind, StreamResult::action_failed);
    EXPECT_EQ(o.result.failure, "{\"error\":\"boom\"}");
    EXPECT_FALSE(o.head_hook);
    EXPECT_EQ(o.answer.substr(0, 12), "HTTP/1.1 502");
}

TEST(StreamRelay, AnswerCutAfterItsHeaderIsCutForTheClient) {
    StreamRelay::Options opt;
    Outcome o = relay(kChunkedRequest,
                      answering("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "3\r\nabc\r\n",
                                true),
                      opt);
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.result.kind, StreamResult::runtime_failed);
    EXPECT_TRUE(o.result.head_sent);
    EXPECT_NE(o.answer.find("3\r\nabc\r\n"), std::string::npos);
    EXPECT_EQ(o.answer.find("0\r\n\r\n"), std::string::npos);   // no last chunk
}

TEST(StreamRelay, RuntimeThatDropsTheConnectionIsARuntimeFailure) {
    StreamRelay::Options opt;
    Outcome o = relay(kChunkedRequest, [](tcp::socket &s, Outcome &) { s.close(); }, opt);
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.result.kind, StreamResult::runtime_failed);
    EXPECT_FALSE(o.result.head_sent);
    EXPECT_EQ(o.answer.substr(0, 12), "HTTP/1.1 502");
}

TEST(StreamRelay, RelayableHeadersDropHopByHopAndInjection) {
    ow::HeaderList in = {{"Content-Type", "text/plain"}, {"Connection", "keep-alive"},
                         {"transfer-encoding", "chunked"}, {"Content-Length", "3"},
                         {"X-Bad", "a\r\nInjected: 1"}, {"Bad Name", "x"},
                         {"X-OW-Stream-Error", "true"}, {"X-Ok", "1"}};
    ow::HeaderList out = relayable_headers(in);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].first, "Content-Type");
    EXPECT_EQ(out[1].first, "X-Ok");
}

TEST(StreamRelay, HeadTextFramesByStatus) {
    EXPECT_EQ(stream_head_text(200, {{"A", "b"}}),
              "HTTP/1.1 200 OK\r\nA: b\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(stream_head_text(204, {}), "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(stream_head_text(299, {}).substr(0, 21), "HTTP/1.1 299 Unknown\r");
}

}  // namespace
}  // namespace ow::sidecar
