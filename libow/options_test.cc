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
