// runtime_client_test.cc: the external runtime's address, the probe
// back-off, and /init + /run over TCP against a one-connection HTTP server
// on 127.0.0.1 (port 0) standing for the runtime's container.
#include "sidecar/runtime_client.h"

#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "libow/clock.h"

namespace ow::sidecar {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

TEST(ParseRuntimeUrl, TakesAnIpLiteralAndAPort) {
    std::string host, err;
    uint16_t port = 0;
    ASSERT_TRUE(parse_runtime_url("http://127.0.0.1:8080", &host, &port, &err)) << err;
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(port, 8080);
    ASSERT_TRUE(parse_runtime_url("http://[::1]:9000/", &host, &port, &err)) << err;
    EXPECT_EQ(host, "::1");
    EXPECT_EQ(port, 9000);
}

TEST(ParseRuntimeUrl, RefusesWhatItWouldHaveToResolveOrGuess) {
    std::string host, err;
    uint16_t port = 0;
    for (const char *bad : {"", "127.0.0.1:8080", "https://127.0.0.1:8080", "http://localhost:8080",
                            "http://127.0.0.1", "http://127.0.0.1:0", "http://127.0.0.1:65536",
                            "http://127.0.0.1:80x", "http://127.0.0.1:8080/run", "http://:8080"}) {
        EXPECT_FALSE(parse_runtime_url(bad, &host, &port, &err)) << bad;
        EXPECT_FALSE(err.empty());
    }
}

TEST(ProbeDelay, DoublesUpToTheCap) {
    EXPECT_EQ(probe_delay_ms(0, 100), 5);
    EXPECT_EQ(probe_delay_ms(1, 100), 10);
    EXPECT_EQ(probe_delay_ms(4, 100), 80);
    EXPECT_EQ(probe_delay_ms(5, 100), 100);
    EXPECT_EQ(probe_delay_ms(1000, 100), 100);
    // a Unix socket: no back-off
    EXPECT_EQ(probe_delay_ms(0, 5), 5);
    EXPECT_EQ(probe_delay_ms(30, 5), 5);
}

// Answers each request on one accepted connection with 200 and a JSON body
// naming the request's target, keep-alive, until the client closes.
void serve(tcp::acceptor &acc, std::shared_ptr<tcp::socket> s, int *served) {
    acc.async_accept(*s, [s, served](boost::system::error_code ec) {
        if (ec) return;
        auto buf = std::make_shared<asio::streambuf>();
        auto next = std::make_shared<std::function<void()>>();
        *next = [s, buf, served, next]() {
            asio::async_read_until(*s, *buf, "\r\n\r\n",
                                   [s, buf, served, next](boost::system::error_code ec, size_t n) {
                // the connection is done: break the next <-> itself cycle
                // (LeakSanitizer, make test-asan)
                if (ec) { *next = nullptr; return; }
                std::string head(asio::buffers_begin(buf->data()),
                                 asio::buffers_begin(buf->data()) + n);
                buf->consume(n);
                size_t cl = head.find("Content-Length: ");
                size_t len = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
                // the body: already buffered or read now
                boost::system::error_code rec;
                if (buf->size() < len)
                    asio::read(*s, *buf, asio::transfer_exactly(len - buf->size()), rec);
                buf->consume(len);
                std::string target = head.substr(5, head.find(' ', 5) - 5);
                std::string body = "{\"target\":\"" + target + "\"}";
                std::string rep = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                  "Content-Length: " + std::to_string(body.size()) +
                                  "\r\n\r\n" + body;
                asio::write(*s, asio::buffer(rep), rec);
                (*served)++;
                (*next)();
            });
        };
        (*next)();
    });
}

TEST(RuntimeClientTcp, WaitsForTheRuntimeThenPostsOverTcp) {
    asio::io_context io;
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    uint16_t port = acc.local_endpoint().port();
    int served = 0;
    auto sock = std::make_shared<tcp::socket>(io);
    serve(acc, sock, &served);
    RuntimeClient c(io, "127.0.0.1", port, 2);
    bool listening = false;
    std::vector<std::string> replies;
    c.wait_listening(ow::mono_ms() + 5000, [&](bool ok) {
        listening = ok;
        // reuses the probe's connection, then keeps it alive for /run
        c.post("/init", "{}", 5000, [&](RuntimeReply r) {
            replies.push_back(std::to_string(r.status) + " " + r.body);
            c.post("/run", "{\"value\":{}}", 5000, [&](RuntimeReply r) {
                replies.push_back(std::to_string(r.status) + " " + r.body);
                c.close_idle();
                acc.close();
            });
        });
    });
    io.run_for(std::chrono::seconds(10));
    EXPECT_TRUE(listening);
    ASSERT_EQ(replies.size(), 2u);
    EXPECT_EQ(replies[0], "200 {\"target\":\"/init\"}");
    EXPECT_EQ(replies[1], "200 {\"target\":\"/run\"}");
    EXPECT_EQ(served, 2);
}

TEST(RuntimeClientTcp, GivesUpAtTheDeadlineWhenNothingListens) {
    asio::io_context io;
    uint16_t port;
    {
        // a port that was free a moment ago: nothing listens there now
        tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        port = acc.local_endpoint().port();
    }
    RuntimeClient c(io, "127.0.0.1", port, 1);
    int calls = 0;
    bool result = true;
    int64_t t0 = ow::mono_ms();
    c.wait_listening(t0 + 300, [&](bool ok) { calls++; result = ok; });
    io.run_for(std::chrono::seconds(10));
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(result);
    EXPECT_GE(ow::mono_ms() - t0, 300);
}

}  // namespace
}  // namespace ow::sidecar
