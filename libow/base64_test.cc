#include "libow/base64.h"

#include <gtest/gtest.h>

TEST(Base64, Decode) {
    std::string out;
    ASSERT_TRUE(ow::base64_decode("dXVpZDprZXk=", &out));
    EXPECT_EQ(out, "uuid:key");
    ASSERT_TRUE(ow::base64_decode("YQ", &out));
    EXPECT_EQ(out, "a");
    EXPECT_FALSE(ow::base64_decode("a*b", &out));
}

TEST(Base64, Encode) {
    const char *cases[][2] = {{"", ""}, {"a", "YQ=="}, {"ab", "YWI="}, {"abc", "YWJj"},
                              {"uuid:key", "dXVpZDprZXk="}};
    for (auto &c : cases) EXPECT_EQ(ow::base64_encode(c[0]), c[1]) << c[0];
    std::string bin("\x00\xff\x10\x80", 4), back;
    ASSERT_TRUE(ow::base64_decode(ow::base64_encode(bin), &back));
    EXPECT_EQ(back, bin);
}
