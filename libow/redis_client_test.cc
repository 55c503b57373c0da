// redis_client_test.cc: the synchronous connection's backoff, pipeline and
// on-connect hook, against a loopback socket that stands in for Redis: it
// parses each command and answers what the test's handler says.
#include "libow/redis_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace ow::test {
namespace {

using Command = std::vector<std::string>;

// A port with nothing listening on it, and a server that can be started on
// it later (the socket is bound from the start: no other socket, a client's
// included, can take the port meanwhile). Each connection has a thread of
// its own.
class FakeRedis {
public:
    // A reply in RESP ("+OK\r\n"); kClose: close the connection instead;
    // kSilent: answer nothing (a hung Redis)
    static constexpr const char *kClose = "close", *kSilent = "silent";
    using Handler = std::function<std::string(const Command &)>;

    FakeRedis() {
        fd_ = bound_socket();
        sockaddr_in a{};
        socklen_t len = sizeof a;
        getsockname(fd_, reinterpret_cast<sockaddr *>(&a), &len);
        port_ = ntohs(a.sin_port);
    }
    ~FakeRedis() {
        if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
        if (thread_.joinable()) thread_.join();
        if (fd_ >= 0) close(fd_);
        {
            std::lock_guard<std::mutex> lk(mu_);
            for (int c : clients_) shutdown(c, SHUT_RDWR);
        }
        for (auto &t : client_threads_) t.join();
        for (int c : clients_) close(c);
    }
    uint16_t port() const { return port_; }

    // batch: answer nothing until that many commands of a connection have
    // arrived (a client that waits for each reply before sending the next
    // command would time out)
    void start(Handler h = nullptr, size_t batch = 1) {
        handler_ = h ? std::move(h) : [](const Command &) { return std::string("+PONG\r\n"); };
        batch_ = batch;
        ASSERT_EQ(listen(fd_, 8), 0);
        thread_ = std::thread([this] { accept_loop(); });
    }

    // every command received, in order of arrival
    std::vector<Command> received() {
        std::lock_guard<std::mutex> lk(mu_);
        return received_;
    }
    int connections() {
        std::lock_guard<std::mutex> lk(mu_);
        return static_cast<int>(clients_.size());
    }

private:
    static int bound_socket() {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
        return fd;
    }

    void accept_loop() {
        for (;;) {
            int c = accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            std::lock_guard<std::mutex> lk(mu_);
            clients_.push_back(c);
            client_threads_.emplace_back([this, c] { serve(c); });
        }
    }

    // One command of hiredis's (an array of bulk strings) off the front of
    // buf; false while it is incomplete.
    static bool take_command(std::string *buf, Command *out) {
        size_t pos = 0;
        auto line = [&](char kind, long *n) {
            size_t end = buf->find("\r\n", pos);
            if (end == std::string::npos || (*buf)[pos] != kind) return false;
            *n = std::stol(buf->substr(pos + 1, end - pos - 1));
            pos = end + 2;
            return true;
        };
        long argc = 0;
        if (!line('*', &argc)) return false;
        Command cmd;
        for (long i = 0; i < argc; i++) {
            long len = 0;
            if (!line('$', &len) || buf->size() < pos + len + 2) return false;
            cmd.push_back(buf->substr(pos, len));
            pos += len + 2;
        }
        buf->erase(0, pos);
        *out = std::move(cmd);
        return true;
    }

    void serve(int c) {
        std::string in, out;
        size_t held = 0;
        char chunk[4096];
        ssize_t n;
        while ((n = read(c, chunk, sizeof chunk)) > 0) {
            in.append(chunk, n);
            Command cmd;
            while (take_command(&in, &cmd)) {
                {
                    std::lock_guard<std::mutex> lk(mu_);
                    received_.push_back(cmd);
                }
                std::string reply = handler_(cmd);
                if (reply == kClose) {
                    flush(c, &out);
                    shutdown(c, SHUT_RDWR);
                    return;
                }
                if (reply != kSilent) out += reply;
                if (++held >= batch_) {
                    flush(c, &out);
                    held = 0;
                }
            }
        }
    }

    static void flush(int c, std::string *out) {
        if (!out->empty() && write(c, out->data(), out->size()) < 0) return;
        out->clear();
    }

    uint16_t port_ = 0;
    int fd_ = -1;
    Handler handler_;
    size_t batch_ = 1;
    std::thread thread_;
    std::mutex mu_;
    std::vector<int> clients_;
    std::vector<std::thread> client_threads_;
    std::vector<Command> received_;
};

TEST(Redis, FailsFastWhileBackingOff) {
    FakeRedis server;
    Redis r("127.0.0.1", server.port(), {});
    EXPECT_FALSE(r.command({"PING"}).ok());
    server.start();
    // the first failure's backoff (100 ms) has not passed: no new connect
    RedisResult res = r.command({"PING"});
    EXPECT_FALSE(res.ok());
    EXPECT_EQ(res.error, "redis unavailable (reconnecting)");
    EXPECT_FALSE(r.connected());
}

TEST(Redis, AnotherConnectionReachingRedisEndsTheBackoff) {
    FakeRedis server;
    Redis lookups("127.0.0.1", server.port(), {});
    EXPECT_FALSE(lookups.command({"PING"}).ok());   // backs off 100 ms
    server.start();
    Redis lease("127.0.0.1", server.port(), {});
    ASSERT_TRUE(lease.command({"PING"}).ok());       // Redis is back
    // lookups' backoff has not passed, but Redis answered since its failure
    RedisResult res = lookups.command({"PING"});
    EXPECT_TRUE(res.ok()) << res.error;
}

TEST(Redis, WithoutBackoffEveryCallTries) {
    FakeRedis server;
    Redis r("127.0.0.1", server.port(), {}, {250, 0, 0});
    EXPECT_FALSE(r.command({"PING"}).ok());
    server.start();
    RedisResult res = r.command({"PING"});
    EXPECT_TRUE(res.ok()) << res.error;
}

TEST(Redis, AnErrorReplyIsAnErrorWithItsReply) {
    FakeRedis server;
    server.start([](const Command &) { return std::string("-ERR no such key\r\n"); });
    Redis r("127.0.0.1", server.port(), {});
    RedisResult res = r.command({"GET", "k"});
    EXPECT_FALSE(res.ok());
    ASSERT_TRUE(res.reply);
    EXPECT_EQ(res.reply->type, REDIS_REPLY_ERROR);
    EXPECT_EQ(res.error, "ERR no such key");
    EXPECT_TRUE(r.connected());   // Redis answered: the connection stays
}

TEST(Redis, APipelineSendsEveryCommandBeforeReadingAndAnswersEachOnItsOwn) {
    FakeRedis server;
    // no reply until all three are in: a client waiting for each would time out
    server.start(
        [](const Command &c) {
            if (c[0] == "BAD") return std::string("-ERR bad\r\n");
            if (c[0] == "INCR") return std::string(":7\r\n");
            return std::string("+OK\r\n");
        },
        3);
    Redis r("127.0.0.1", server.port(), {});
    std::string big(100000, 'x');   // more than one socket buffer's worth
    std::vector<RedisResult> res = r.pipeline({{"SET", "k", big}, {"BAD"}, {"INCR", "n"}});
    ASSERT_EQ(res.size(), 3u);
    EXPECT_TRUE(res[0].ok()) << res[0].error;
    EXPECT_EQ(res[1].error, "ERR bad");
    ASSERT_TRUE(res[1].reply);
    ASSERT_TRUE(res[2].ok()) << res[2].error;
    EXPECT_EQ(res[2].reply->integer, 7);
    EXPECT_EQ(server.received()[0][2].size(), big.size());
    EXPECT_TRUE(r.connected());
    EXPECT_EQ(server.connections(), 1);
}

TEST(Redis, AConnectionLostMidPipelineFailsTheRestAndBacksOff) {
    FakeRedis server;
    server.start([](const Command &c) {
        return c[0] == "QUIT" ? std::string(FakeRedis::kClose) : std::string("+OK\r\n");
    });
    Redis r("127.0.0.1", server.port(), {});
    std::vector<RedisResult> res = r.pipeline({{"SET", "a", "1"}, {"QUIT"}, {"SET", "b", "2"}});
    ASSERT_EQ(res.size(), 3u);
    EXPECT_TRUE(res[0].ok()) << res[0].error;
    for (size_t i : {1u, 2u}) {
        EXPECT_FALSE(res[i].reply);
        EXPECT_NE(res[i].error, "");
    }
    EXPECT_FALSE(r.connected());
    EXPECT_EQ(r.command({"PING"}).error, "redis unavailable (reconnecting)");
}

TEST(Redis, ATimeoutDropsTheConnection) {
    FakeRedis server;
    server.start([](const Command &c) {
        return c[0] == "HANG" ? std::string(FakeRedis::kSilent) : std::string("+OK\r\n");
    });
    Redis r("127.0.0.1", server.port(), {}, {50, 100, 5000});
    RedisResult res = r.command({"HANG"});
    EXPECT_FALSE(res.reply);
    EXPECT_NE(res.error, "");
    EXPECT_FALSE(r.connected());
}

TEST(Redis, TheOnConnectHookRunsAfterAuthOnEveryConnect) {
    FakeRedis server;
    server.start([](const Command &c) {
        return c[0] == "SCRIPT" ? std::string("$3\r\nabc\r\n") : std::string("+OK\r\n");
    });
    Redis r("127.0.0.1", server.port(), {"user", "secret"});
    std::string sha;
    int hooks = 0;
    r.set_on_connect([&](const RedisCall &call, std::string *err) {
        hooks++;
        RedisResult res = call({"SCRIPT", "LOAD", "return 1"});
        if (!res.ok()) {
            *err = res.error;
            return false;
        }
        sha.assign(res.reply->str, res.reply->len);
        return true;
    });
    EXPECT_TRUE(r.command({"PING"}).ok());
    r.disconnect();   // not a failure: the next call connects at once
    EXPECT_TRUE(r.command({"PING"}).ok());
    EXPECT_EQ(hooks, 2);
    EXPECT_EQ(sha, "abc");
    const std::vector<Command> once = {{"AUTH", "user", "secret"},
                                       {"SCRIPT", "LOAD", "return 1"}, {"PING"}};
    std::vector<Command> twice = once;
    twice.insert(twice.end(), once.begin(), once.end());
    EXPECT_EQ(server.received(), twice);
}

TEST(Redis, ARefusedAuthIsAFailedConnectThatDoesNotTellThePassword) {
    FakeRedis server;
    server.start([](const Command &c) {
        return c[0] == "AUTH" ? std::string("-WRONGPASS invalid username-password pair\r\n")
                              : std::string("+OK\r\n");
    });
    Redis r("127.0.0.1", server.port(), {"user", "secret"});
    RedisResult res = r.command({"PING"});
    EXPECT_EQ(res.error, "redis AUTH as user: WRONGPASS invalid username-password pair");
    EXPECT_FALSE(r.connected());
    EXPECT_EQ(r.command({"PING"}).error, "redis unavailable (reconnecting)");
}

TEST(Redis, AFailingOnConnectHookIsAFailedConnect) {
    FakeRedis server;
    server.start([](const Command &c) {
        return c[0] == "SCRIPT" ? std::string("-LOADING Redis is loading\r\n")
                                : std::string("+OK\r\n");
    });
    Redis r("127.0.0.1", server.port(), {});
    r.set_on_connect([](const RedisCall &call, std::string *err) {
        RedisResult res = call({"SCRIPT", "LOAD", "return 1"});
        *err = "SCRIPT LOAD: " + res.error;
        return res.ok();
    });
    RedisResult res = r.command({"PING"});
    EXPECT_EQ(res.error, "SCRIPT LOAD: LOADING Redis is loading");
    EXPECT_FALSE(r.connected());
    EXPECT_EQ(r.command({"PING"}).error, "redis unavailable (reconnecting)");
    EXPECT_EQ(server.received().size(), 1u);   // PING never went out
}

}  // namespace
}  // namespace ow::test
