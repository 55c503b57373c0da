// ow_warm_test.cc: warm-table entries and the choice of a container.

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <cstring>
#include <string>

#include "ow_warm.h"

static int Parse(const std::string &s, ow_warm_entry_t *e) {
  return ow_warm_parse(s.data(), s.size(), e);
}

TEST(Warm, ParsesAddEventsAndTableEntries) {
  ow_warm_entry_t e;
  ASSERT_EQ(Parse("{\"v\":7,\"op\":\"add\",\"id\":\"c1\",\"action\":"
                  "\"guest/pkg/a\",\"addr\":\"127.0.0.1:8081\","
                  "\"concurrency\":4}", &e), 0);
  EXPECT_EQ(e.op, OW_WARM_ADD);
  EXPECT_EQ(e.version, 7);
  EXPECT_STREQ(e.id, "c1");
  EXPECT_STREQ(e.action, "guest/pkg/a");
  EXPECT_EQ(e.ip, inet_addr("127.0.0.1"));
  EXPECT_EQ(e.port, 8081);
  EXPECT_EQ(e.concurrency, 4);

  ASSERT_EQ(Parse("{\"id\":\"c2\",\"action\":\"guest/a\",\"addr\":"
                  "\"127.0.0.2:9\",\"kind\":\"nodejs:20\"}", &e), 0);
  EXPECT_EQ(e.op, OW_WARM_ADD);
  EXPECT_EQ(e.concurrency, 1);
}

TEST(Warm, DeleteNeedsOnlyTheId) {
  ow_warm_entry_t e;
  ASSERT_EQ(Parse("{\"v\":8,\"op\":\"del\",\"id\":\"c1\"}", &e), 0);
  EXPECT_EQ(e.op, OW_WARM_DEL);
  EXPECT_STREQ(e.id, "c1");
}

TEST(Warm, RejectsWhatIsNotAnEntry) {
  ow_warm_entry_t e;
  EXPECT_EQ(Parse("[]", &e), -1);
  EXPECT_EQ(Parse("{\"id\":\"c\",\"action\":\"a\",\"addr\":\"host:1\"}", &e),
            -1);
  EXPECT_EQ(Parse("{\"id\":\"c\",\"action\":\"a\",\"addr\":\"1.2.3.4\"}", &e),
            -1);
  EXPECT_EQ(Parse("{\"id\":\"c\",\"action\":\"a\",\"addr\":\"1.2.3.4:0\"}",
                  &e), -1);
  EXPECT_EQ(Parse("{\"action\":\"a\",\"addr\":\"1.2.3.4:1\"}", &e), -1);
  EXPECT_EQ(Parse(std::string("{\"id\":\"") + std::string(60, 'x') +
                  "\",\"action\":\"a\",\"addr\":\"1.2.3.4:1\"}", &e), -1);
}

TEST(Warm, PicksMostFreeSkippingBusyAndTried) {
  ow_warm_slot_t s[3] = {{4, 3, 0, 0}, {4, 1, 0, 0}, {4, 0, 1, 0}};
  EXPECT_EQ(ow_warm_pick(s, 3), 1);
  s[1].tried = 1;
  EXPECT_EQ(ow_warm_pick(s, 3), 0);
  s[0].tried = 1;
  EXPECT_EQ(ow_warm_pick(s, 3), -1);
}

TEST(Warm, FullContainersAreLastResort) {
  ow_warm_slot_t s[2] = {{1, 1, 0, 0}, {1, 2, 0, 0}};
  EXPECT_EQ(ow_warm_pick(s, 2), 0);
  EXPECT_EQ(ow_warm_pick(s, 0), -1);
}

TEST(Warm, MarksFromEventsAndEntries) {
  ow_warm_entry_t e;
  const std::string rest = "\"id\":\"c1\",\"action\":\"guest/a\","
                           "\"addr\":\"127.0.0.1:80\",\"concurrency\":1";
  ASSERT_EQ(Parse("{\"v\":9,\"op\":\"mark\"," + rest + "}", &e), 0);
  EXPECT_EQ(e.op, OW_WARM_ADD);
  EXPECT_EQ(e.marked, 1);
  ASSERT_EQ(Parse("{\"v\":10,\"op\":\"unmark\"," + rest + "}", &e), 0);
  EXPECT_EQ(e.op, OW_WARM_ADD);
  EXPECT_EQ(e.marked, 0);
  ASSERT_EQ(Parse("{" + rest + ",\"marked\":true}", &e), 0);  // table entry
  EXPECT_EQ(e.marked, 1);
  ASSERT_EQ(Parse("{\"v\":11,\"op\":\"add\"," + rest + "}", &e), 0);
  EXPECT_EQ(e.marked, 0);
  ASSERT_EQ(Parse("{\"v\":12,\"op\":\"add\"," + rest + ",\"marked\":true}",
                  &e), 0);
  EXPECT_EQ(e.marked, 1);
}

TEST(Warm, MarkedContainersAreTheLastResort) {
  // {concurrency, inflight, busy, tried, marked}
  ow_warm_slot_t s[3] = {{4, 0, 0, 0, 1}, {4, 3, 0, 0, 0}, {4, 0, 0, 0, 1}};
  EXPECT_EQ(ow_warm_pick(s, 3), 1) << "unmarked, even with fewer free slots";
  s[1].busy = 1;
  EXPECT_EQ(ow_warm_pick(s, 3), 0) << "only marked ones left: use one";
  s[2].inflight = -1;
  EXPECT_EQ(ow_warm_pick(s, 3), 2) << "the freest marked one";
  s[0].tried = s[2].tried = 1;
  EXPECT_EQ(ow_warm_pick(s, 3), -1);
}

TEST(Warm, UnmarkCommand) {
  char buf[128];
  size_t n = ow_warm_unmark_command(buf, sizeof(buf), "c-12xyz", 4,
                                    1700000000123LL);
  EXPECT_EQ(std::string(buf, n),
            "*4\r\n$4\r\nHSET\r\n$17\r\nowx:{warm}:unmark\r\n$4\r\nc-12"
            "\r\n$13\r\n1700000000123\r\n");
  EXPECT_EQ(ow_warm_unmark_command(buf, 20, "c-12", 4, 1), 0u);
}
