// redis_test.cc: the synchronous connection's backoff, against a loopback
// socket that stands in for Redis (it answers every read with +PONG).
#include "pool-manager/redis.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

namespace ow::pm::test {
namespace {

// A port with nothing listening on it (bound, then closed), and a server
// that can be started on it later.
class PongServer {
public:
    PongServer() {
        int fd = bound_socket(0);
        sockaddr_in a{};
        socklen_t len = sizeof a;
        getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
        port_ = ntohs(a.sin_port);
        close(fd);
    }
    ~PongServer() {
        stop_ = true;
        if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
        if (thread_.joinable()) thread_.join();
        if (fd_ >= 0) close(fd_);
        for (int c : clients_) close(c);
    }
    uint16_t port() const { return port_; }

    void start() {
        fd_ = bound_socket(port_);
        ASSERT_EQ(listen(fd_, 8), 0);
        thread_ = std::thread([this] { serve(); });
    }

private:
    static int bound_socket(uint16_t port) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
        return fd;
    }

    // one connection at a time is enough: each client sends one command
    void serve() {
        while (!stop_) {
            int c = accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            clients_.push_back(c);
            char buf[256];
            while (read(c, buf, sizeof buf) > 0) {
                if (write(c, "+PONG\r\n", 7) != 7) break;
                break;
            }
        }
    }

    uint16_t port_ = 0;
    int fd_ = -1;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::vector<int> clients_;
};

TEST(Redis, FailsFastWhileBackingOff) {
    PongServer server;
    Redis r("127.0.0.1", server.port(), {}, 250);
    EXPECT_FALSE(r.command({"PING"}).ok());
    server.start();
    // the first failure's backoff (100 ms) has not passed: no new connect
    RedisResult res = r.command({"PING"});
    EXPECT_FALSE(res.ok());
    EXPECT_EQ(res.error, "redis unavailable (reconnecting)");
    EXPECT_FALSE(r.connected());
}

TEST(Redis, AnotherConnectionReachingRedisEndsTheBackoff) {
    PongServer server;
    Redis lookups("127.0.0.1", server.port(), {}, 250);
    EXPECT_FALSE(lookups.command({"PING"}).ok());   // backs off 100 ms
    server.start();
    Redis lease("127.0.0.1", server.port(), {}, 250);
    ASSERT_TRUE(lease.command({"PING"}).ok());       // Redis is back
    // lookups' backoff has not passed, but Redis answered since its failure
    RedisResult res = lookups.command({"PING"});
    EXPECT_TRUE(res.ok()) << res.error;
}

}  // namespace
}  // namespace ow::pm::test
