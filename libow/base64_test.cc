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
