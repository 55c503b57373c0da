#include "libow/options.h"

#include <cstdlib>
#include <gtest/gtest.h>

static const ow::OptionSpec kTable[] = {
    {"listen", "127.0.0.1:0", "address"},
    {"ready-fd", "-1", "fd"},
    {"retention", "7d", "retention"},
};

TEST(Options, FlagBeatsEnvBeatsDefault) {
    setenv("OWT_READY_FD", "7", 1);
    setenv("OWT_LISTEN", "1.2.3.4:5", 1);
    const char *argv[] = {"x", "--listen=9.9.9.9:1", "--", "node", "--port", "{port}"};
    ow::Options o(kTable, 3, "OWT_");
    std::string err;
    ASSERT_TRUE(o.parse(6, argv, &err)) << err;
    EXPECT_EQ(o.get("listen"), "9.9.9.9:1");
    int64_t fd;
    ASSERT_TRUE(o.get_int("ready-fd", &fd));
    EXPECT_EQ(fd, 7);
    EXPECT_EQ(o.get("retention"), "7d");
    ASSERT_EQ(o.rest().size(), 3u);
    EXPECT_EQ(o.rest()[2], "{port}");
    unsetenv("OWT_READY_FD");
    unsetenv("OWT_LISTEN");
}

TEST(Options, Errors) {
    std::string err;
    const char *a1[] = {"x", "--nope", "1"};
    ow::Options o1(kTable, 3, "OWT_");
    EXPECT_FALSE(o1.parse(3, a1, &err));
    EXPECT_EQ(err, "unknown option: --nope");
    const char *a2[] = {"x", "--listen"};
    ow::Options o2(kTable, 3, "OWT_");
    EXPECT_FALSE(o2.parse(2, a2, &err));
    EXPECT_EQ(o2.env_name("ready-fd"), "OWT_READY_FD");
}

TEST(Options, Durations) {
    static const ow::OptionSpec t[] = {{"a", "600", ""}, {"b", "250ms", ""},
                                       {"c", "10m", ""}, {"d", "x", ""}};
    const char *argv[] = {"x"};
    ow::Options o(t, 4, "OWT_");
    std::string err;
    ASSERT_TRUE(o.parse(1, argv, &err));
    int64_t v;
    ASSERT_TRUE(o.get_duration_ms("a", &v)); EXPECT_EQ(v, 600000);
    ASSERT_TRUE(o.get_duration_ms("b", &v)); EXPECT_EQ(v, 250);
    ASSERT_TRUE(o.get_duration_ms("c", &v)); EXPECT_EQ(v, 600000);
    EXPECT_FALSE(o.get_duration_ms("d", &v));
}

TEST(Options, HostPort) {
    std::string h;
    uint16_t p;
    ASSERT_TRUE(ow::split_host_port("127.0.0.1:6379", &h, &p));
    EXPECT_EQ(h, "127.0.0.1");
    EXPECT_EQ(p, 6379);
    EXPECT_FALSE(ow::split_host_port("127.0.0.1", &h, &p));
    EXPECT_FALSE(ow::split_host_port("h:70000", &h, &p));
}

// Every bad option is named with its value and what it must be, all of them
// in one run, and a value from the environment says so.
TEST(OptionCheck, NamesEveryBadOption) {
    static const ow::OptionSpec t[] = {
        {"listen", "127.0.0.1:0", ""}, {"grace", "30s", ""},   {"interval", "0s", ""},
        {"count", "7", ""},            {"pct", "101", ""},     {"mode", "auto", ""},
        {"policy", "lru", ""},         {"watch", "500ms", ""}, {"ok-int", "5", ""}};
    setenv("OWT_GRACE", "soon", 1);
    const char *argv[] = {"x", "--listen", "nohost", "--count=-1"};
    ow::Options o(t, 9, "OWT_");
    std::string err;
    ASSERT_TRUE(o.parse(4, argv, &err)) << err;
    unsetenv("OWT_GRACE");
    ow::OptionCheck c(o);
    std::string host;
    uint16_t port = 0;
    int64_t v = -5;
    EXPECT_FALSE(c.host_port("listen", &host, &port));
    EXPECT_FALSE(c.duration_ms("grace", &v));
    EXPECT_FALSE(c.duration_ms("interval", &v, 1));
    EXPECT_FALSE(c.integer("count", &v, 0));
    EXPECT_FALSE(c.integer("pct", &v, 0, 100));
    EXPECT_EQ(v, -5) << "a bad value leaves *out alone";
    EXPECT_TRUE(c.one_of("mode", {"auto", "on", "off"}));
    EXPECT_FALSE(c.one_of("policy", {"node-emptying", "idle-timeout"}));
    EXPECT_FALSE(c.duration_ms("watch", &v, 1000));
    EXPECT_TRUE(c.integer("ok-int", &v, 1));
    EXPECT_EQ(v, 5);
    EXPECT_FALSE(c.ok());
    EXPECT_EQ(c.errors("ow-test"),
              "ow-test: --listen \"nohost\": expected host:port (port 0 to 65535)\n"
              "ow-test: --grace \"soon\" (from OWT_GRACE): expected a duration "
              "(600 = 600s, 250ms, 10m, 1h)\n"
              "ow-test: --interval \"0s\": expected a duration above 0 "
              "(600 = 600s, 250ms, 10m, 1h)\n"
              "ow-test: --count \"-1\": expected a whole number of at least 0\n"
              "ow-test: --pct \"101\": expected a whole number from 0 to 100\n"
              "ow-test: --policy \"lru\": expected node-emptying or idle-timeout\n"
              "ow-test: --watch \"500ms\": expected a duration of at least 1s "
              "(600 = 600s, 250ms, 10m, 1h)\n");
}

TEST(OptionCheck, GoodValuesLeaveNoError) {
    static const ow::OptionSpec t[] = {{"listen", "[::1]:80", ""}, {"d", "10m", ""}};
    const char *argv[] = {"x"};
    ow::Options o(t, 2, "OWT_");
    std::string err;
    ASSERT_TRUE(o.parse(1, argv, &err));
    ow::OptionCheck c(o);
    std::string host;
    uint16_t port = 0;
    int64_t d = 0;
    EXPECT_TRUE(c.host_port("listen", &host, &port));
    EXPECT_TRUE(c.duration_ms("d", &d, 1));
    EXPECT_TRUE(c.expect("d", d == 600000, "ten minutes"));
    EXPECT_EQ(host, "::1");
    EXPECT_EQ(port, 80);
    EXPECT_TRUE(c.ok());
    EXPECT_EQ(c.errors("ow-test"), "");
}
