// pool_test.cc: action names, namespace counts, warm entries and events.
#include "pool-manager/pool.h"

#include <gtest/gtest.h>

namespace ow::pm {
namespace {

TEST(SplitAction, GoodAndBad) {
    std::string ns, path;
    ASSERT_TRUE(split_action("guest/hello", &ns, &path));
    EXPECT_EQ(ns, "guest");
    EXPECT_EQ(path, "hello");
    ASSERT_TRUE(split_action("guest/pkg/hello", &ns, &path));
    EXPECT_EQ(path, "pkg/hello");
    // another namespace's public package: keyed by the invoker
    ASSERT_TRUE(split_action("guest/whisk.system/utils/echo", &ns, &path));
    EXPECT_EQ(ns, "guest");
    EXPECT_EQ(path, "whisk.system/utils/echo");
    for (const char *bad : {"", "guest", "/hello", "guest/", "guest//x", "a/b/c/d/e",
                            "guest/he\nllo"}) {
        EXPECT_FALSE(split_action(bad, &ns, &path)) << bad;
    }
}

TEST(Pool, CountsStartingAndWarmPerNamespace) {
    Pool pool;
    auto add = [&](const char *id, const char *ns, State s) {
        Container c;
        c.id = id;
        c.ns = ns;
        c.action = std::string(ns) + "/a";
        c.state = s;
        pool.add(c);
    };
    add("1", "guest", State::starting);
    add("2", "guest", State::warm);
    add("3", "guest", State::stopping);
    add("4", "other", State::warm);
    EXPECT_EQ(pool.count_namespace("guest"), 2u);
    EXPECT_EQ(pool.count_namespace("other"), 1u);
    EXPECT_EQ(pool.count_namespace("none"), 0u);
    EXPECT_EQ(pool.warm().size(), 2u);
    EXPECT_EQ(pool.of_action("guest/a", State::warm).size(), 1u);
    EXPECT_TRUE(pool.remove("2"));
    EXPECT_FALSE(pool.remove("2"));
    EXPECT_EQ(pool.count_namespace("guest"), 1u);
}

TEST(Pool, WarmEntryAndEventShapes) {
    Container c;
    c.id = "abc";
    c.action = "guest/hello";
    c.addr = "127.0.0.1:4000";
    c.concurrency = 3;
    c.kind = "nodejs:20";
    c.memory = 256;
    c.started_ms = 1700000000000;
    c.pid = 77;
    c.node = "n1";
    EXPECT_EQ(warm_entry(c), nlohmann::json::parse(
                                 R"({"id":"abc","action":"guest/hello","addr":"127.0.0.1:4000",)"
                                 R"("concurrency":3,"kind":"nodejs:20","memory":256,"node":"n1",)"
                                 R"("started":1700000000000,"pid":77})"));
    EXPECT_EQ(warm_event(c, "del"), nlohmann::json::parse(
                                        R"({"op":"del","id":"abc","action":"guest/hello",)"
                                        R"("addr":"127.0.0.1:4000","concurrency":3})"));
}

}  // namespace
}  // namespace ow::pm
