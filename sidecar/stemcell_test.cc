// stemcell_test.cc: the /specialize body.
#include "sidecar/stemcell.h"

#include <gtest/gtest.h>

using ow::sidecar::parse_specialize;

TEST(Specialize, TakesTheActionKey) {
    std::string key, err;
    ASSERT_TRUE(parse_specialize(R"({"action":"guest/pkg/hello"})", &key, &err));
    EXPECT_EQ(key, "guest/pkg/hello");
}

TEST(Specialize, RefusesWhatIsNotAnActionKey) {
    std::string key, err;
    for (const char *body : {"", "[]", "{}", R"({"action":""})", R"({"action":3})",
                             "{\"action\":", R"("guest/hello")"}) {
        err.clear();
        EXPECT_FALSE(parse_specialize(body, &key, &err)) << body;
        EXPECT_NE(err.find("malformed"), std::string::npos) << body;
    }
}

TEST(Specialize, RefusesADeepBody) {
    std::string key, err;
    std::string deep = R"({"action":"guest/hello","x":)" + std::string(100000, '[') + "}";
    EXPECT_FALSE(parse_specialize(deep, &key, &err));
    EXPECT_NE(err.find("malformed"), std::string::npos);
}
