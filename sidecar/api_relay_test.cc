// api_relay_test.cc: the API relay between a runtime's network namespace
// and the gateway, tested within one namespace: an echo server stands for
// the gateway, a plain listening socket for the namespace's.
#include "sidecar/api_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

namespace ow::sidecar {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// A listening TCP socket on 127.0.0.1, any port (what the runtime's child
// hands over, here in this namespace).
int listener(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

int dial(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// Reads until n bytes or EOF/timeout.
std::string read_n(int fd, size_t n) {
    std::string out;
    char buf[4096];
    while (out.size() < n) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k <= 0) break;
        out.append(buf, (size_t)k);
    }
    return out;
}

// true when the peer closed (EOF or reset) within the receive timeout
bool closed_by_peer(int fd) {
    char c;
    ssize_t k = read(fd, &c, 1);
    return k == 0 || (k < 0 && errno == ECONNRESET);
}

// The gateway: echoes every byte, closes its side after the client's EOF,
// and remembers the address each connection came from.
struct Echo {
    tcp::acceptor acceptor;
    std::vector<std::string> peers;
    explicit Echo(asio::io_context &io) : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        accept();
    }
    uint16_t port() const { return acceptor.local_endpoint().port(); }
    void accept() {
        acceptor.async_accept([this](error_code ec, tcp::socket s) {
            if (ec) return;
            error_code e;
            peers.push_back(s.remote_endpoint(e).address().to_string());
            auto sock = std::make_shared<tcp::socket>(std::move(s));
            auto buf = std::make_shared<std::array<char, 4096>>();
            serve(sock, buf);
            accept();
        });
    }
    void serve(std::shared_ptr<tcp::socket> s, std::shared_ptr<std::array<char, 4096>> buf) {
        s->async_read_some(asio::buffer(*buf), [this, s, buf](error_code ec, size_t n) {
            if (ec) {
                error_code e;
                s->shutdown(tcp::socket::shutdown_send, e);
                return;
            }
            asio::async_write(*s, asio::buffer(buf->data(), n), [this, s, buf](error_code ec, size_t) {
                if (!ec) serve(s, buf);
            });
        });
    }
};

// The relay and the echo server on an io_context of their own thread; the
// test talks to them with blocking sockets.
struct Fixture {
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    Echo echo{io};
    std::unique_ptr<ApiRelay> relay;
    uint16_t port = 0;
    std::thread thread;

    explicit Fixture(ApiRelayOptions o, uint16_t upstream_port = 0) {
        relay = std::make_unique<ApiRelay>(io, o);
        int fd = listener(&port);
        std::string err;
        bool added = relay->add(
            fd, tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                              upstream_port ? upstream_port : echo.port()),
            &err);
        EXPECT_TRUE(added) << err;
        thread = std::thread([this] { io.run(); });
    }
    ~Fixture() {
        on_io([this] { relay->close(); return 0; });
        work.reset();
        io.stop();
        thread.join();
    }
    template <class F> auto on_io(F f) -> decltype(f()) {
        std::promise<decltype(f())> p;
        asio::post(io, [&] { p.set_value(f()); });
        return p.get_future().get();
    }
    ApiRelayCounters counters() { return on_io([this] { return relay->counters(); }); }
    size_t active() { return on_io([this] { return relay->active(); }); }
};

TEST(ApiRelay, RelaysBothWaysAndPassesAHalfClose) {
    Fixture f({});
    int c = dial(f.port);
    ASSERT_GE(c, 0);
    std::string big(100000, 'x');   // several buffers' worth
    std::thread writer([&] {
        ASSERT_EQ(write(c, big.data(), big.size()), (ssize_t)big.size());
        shutdown(c, SHUT_WR);   // the echo server closes after our EOF
    });
    EXPECT_EQ(read_n(c, big.size()), big);
    writer.join();
    EXPECT_TRUE(closed_by_peer(c));
    close(c);
    EXPECT_EQ(f.counters().accepted, 1u);
    // the gateway sees the relay's own loopback address, not 127.0.0.1
    ASSERT_EQ(f.on_io([&] { return f.echo.peers.size(); }), 1u);
    EXPECT_EQ(f.on_io([&] { return f.echo.peers[0]; }), kRelaySource);
}

TEST(ApiRelay, ClosesConnectionsBeyondTheBound) {
    ApiRelayOptions o;
    o.max_connections = 2;
    Fixture f(o);
    int a = dial(f.port), b = dial(f.port);
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    // both relayed: each echoes
    ASSERT_EQ(write(a, "a", 1), 1);
    ASSERT_EQ(write(b, "b", 1), 1);
    EXPECT_EQ(read_n(a, 1), "a");
    EXPECT_EQ(read_n(b, 1), "b");
    int c = dial(f.port);   // the kernel accepts; the relay closes it
    ASSERT_GE(c, 0);
    EXPECT_TRUE(closed_by_peer(c));
    close(c);
    EXPECT_EQ(f.counters().refused, 1u);
    close(a);
    // a freed slot is taken again
    for (int i = 0; i < 100 && f.active() > 1; i++) usleep(10000);
    int d = dial(f.port);
    ASSERT_EQ(write(d, "d", 1), 1);
    EXPECT_EQ(read_n(d, 1), "d");
    close(b);
    close(d);
}

TEST(ApiRelay, AnUnreachableGatewayClosesTheConnection) {
    uint16_t dead;
    int l = listener(&dead);
    close(l);   // nothing listens there now: the connect is refused
    Fixture f({}, dead);
    int c = dial(f.port);
    ASSERT_GE(c, 0);
    EXPECT_TRUE(closed_by_peer(c));
    close(c);
    EXPECT_EQ(f.counters().failed, 1u);
    EXPECT_EQ(f.active(), 0u);
}

TEST(ApiRelay, AnIdleConnectionIsClosed) {
    ApiRelayOptions o;
    o.idle_timeout_ms = 100;
    Fixture f(o);
    int c = dial(f.port);
    ASSERT_GE(c, 0);
    ASSERT_EQ(write(c, "x", 1), 1);
    EXPECT_EQ(read_n(c, 1), "x");
    EXPECT_TRUE(closed_by_peer(c));   // nothing more for 100 ms
    close(c);
    EXPECT_EQ(f.counters().timed_out, 1u);
}

TEST(ApiRelay, CloseEndsEveryConnection) {
    Fixture f({});
    int c = dial(f.port);
    ASSERT_EQ(write(c, "x", 1), 1);
    EXPECT_EQ(read_n(c, 1), "x");
    f.on_io([&] { f.relay->close(); return 0; });
    EXPECT_TRUE(closed_by_peer(c));
    close(c);
    EXPECT_LT(dial(f.port), 0);   // and nothing listens any more
}

TEST(ApiRelay, ANonSocketIsRefused) {
    asio::io_context io;
    ApiRelay relay(io, {});
    int fd = open("/dev/null", O_RDONLY);
    std::string err;
    EXPECT_FALSE(relay.add(fd, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 1), &err));
    EXPECT_FALSE(err.empty());
}

}  // namespace
}  // namespace ow::sidecar
