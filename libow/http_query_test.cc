#include "libow/http_query.h"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

using Pairs = std::vector<std::pair<std::string, std::string>>;

static Pairs pairs_of(std::string_view query) {
    Pairs out;
    ow::for_each_query_param(query, [&](std::string_view k, std::string_view v) {
        out.emplace_back(std::string(k), std::string(v));
        return true;
    });
    return out;
}

TEST(UrlDecode, PlusPercentAndStrayPercent) {
    EXPECT_EQ(ow::url_decode("a+b%20c%2Fd"), "a b c/d");
    EXPECT_EQ(ow::url_decode("%74%52ue"), "tRue");
    // not two hex digits after it: kept as is
    EXPECT_EQ(ow::url_decode("100%"), "100%");
    EXPECT_EQ(ow::url_decode("%zz%4"), "%zz%4");
    EXPECT_EQ(ow::url_decode(""), "");
    EXPECT_EQ(ow::url_decode("a%00b"), std::string("a\0b", 3));
}

TEST(QueryParams, PairsInOrderDecoded) {
    EXPECT_EQ(pairs_of("blocking=true&result=false&timeout=100"),
              (Pairs{{"blocking", "true"}, {"result", "false"}, {"timeout", "100"}}));
    // empty pairs skipped, a key alone has the value "", decoding per side
    EXPECT_EQ(pairs_of("&&flag&k%3D=v+w&=x&"),
              (Pairs{{"flag", ""}, {"k=", "v w"}, {"", "x"}}));
    EXPECT_EQ(pairs_of(""), Pairs{});
    // only the first "=" splits
    EXPECT_EQ(pairs_of("a=b=c"), (Pairs{{"a", "b=c"}}));
}

TEST(QueryParams, StopsWhenTold) {
    int seen = 0;
    EXPECT_FALSE(ow::for_each_query_param("a=1&b=2&c=3", [&](std::string_view k, std::string_view) {
        seen++;
        return k != "b";
    }));
    EXPECT_EQ(seen, 2);
}

TEST(WaitTimeout, OneToSixtySeconds) {
    int64_t ms = 0;
    EXPECT_TRUE(ow::parse_wait_timeout("1", &ms));
    EXPECT_EQ(ms, 1);
    EXPECT_TRUE(ow::parse_wait_timeout("60000", &ms));
    EXPECT_EQ(ms, 60000);
    EXPECT_TRUE(ow::parse_wait_timeout(" +250", &ms));   // strtoll's syntax
    EXPECT_EQ(ms, 250);
    EXPECT_TRUE(ow::parse_wait_timeout(std::string_view("5\0x", 3), &ms));
    EXPECT_EQ(ms, 5);
    for (const char *bad : {"", "0", "60001", "-1", "abc", "1x", "99999999999999999999"})
        EXPECT_FALSE(ow::parse_wait_timeout(bad, &ms)) << bad;
    EXPECT_STREQ(ow::kTimeoutError, "Timeout must be number of milliseconds up to 60000.");
}

TEST(ActivationId, ThirtyTwoLowercaseHex) {
    EXPECT_TRUE(ow::valid_activation_id("0123456789abcdef0123456789abcdef"));
    EXPECT_FALSE(ow::valid_activation_id("0123456789abcdef0123456789abcde"));
    EXPECT_FALSE(ow::valid_activation_id("0123456789abcdef0123456789abcdef0"));
    EXPECT_FALSE(ow::valid_activation_id("0123456789ABCDEF0123456789abcdef"));
    EXPECT_FALSE(ow::valid_activation_id("0123456789abcdeg0123456789abcdef"));
    EXPECT_FALSE(ow::valid_activation_id(""));
}
