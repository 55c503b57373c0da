#include "libow/json_limits.h"

#include <gtest/gtest.h>

namespace {

std::string nested(int levels, const std::string &inner = "") {
    return std::string((size_t)levels, '[') + inner + std::string((size_t)levels, ']');
}

}  // namespace

TEST(JsonLimits, ExactlyAtTheLimitParses) {
    ow::JsonLimits lim;
    lim.max_depth = 8;
    ow::JsonError why = ow::JsonError::malformed;
    nlohmann::json j = ow::json_parse_bounded(nested(8, "1"), &why, lim);
    EXPECT_EQ(why, ow::JsonError::none);
    ASSERT_FALSE(j.is_discarded());
    EXPECT_EQ(j.dump(), nested(8, "1"));
    // mixed objects and arrays count alike
    EXPECT_FALSE(ow::json_parse_bounded(R"({"a":[{"b":[{"c":[{"d":[]}]}]}]})", &why, lim)
                     .is_discarded());
    EXPECT_EQ(why, ow::JsonError::none);
}

TEST(JsonLimits, OneLevelOverIsTooDeep) {
    ow::JsonLimits lim;
    lim.max_depth = 8;
    ow::JsonError why = ow::JsonError::none;
    EXPECT_TRUE(ow::json_parse_bounded(nested(9), &why, lim).is_discarded());
    EXPECT_EQ(why, ow::JsonError::too_deep);
    EXPECT_EQ(ow::json_check_limits(R"({"a":[{"b":[{"c":[{"d":[{}]}]}]}]})", lim),
              ow::JsonError::too_deep);
    EXPECT_EQ(ow::json_error_text(why, lim), "JSON nested deeper than 8 levels.");
}

// the body of the report: {"a": then 100,000 '[' (200 KB, unbalanced);
// refused by the scan without touching the stack
TEST(JsonLimits, HostileBodyIsRefused) {
    std::string body = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
    ow::JsonError why = ow::JsonError::none;
    EXPECT_TRUE(ow::json_parse_bounded(body, &why).is_discarded());
    EXPECT_EQ(why, ow::JsonError::too_deep);
    EXPECT_EQ(ow::json_check_limits(nested(ow::kJsonMaxDepth)), ow::JsonError::none);
    EXPECT_EQ(ow::json_check_limits(nested(ow::kJsonMaxDepth + 1)), ow::JsonError::too_deep);
}

TEST(JsonLimits, BracketsInsideStringsDoNotCount) {
    ow::JsonLimits lim;
    lim.max_depth = 2;
    std::string s = "{\"k\":[\"" + std::string(1000, '[') + std::string(1000, '{') + "\"]}";
    ow::JsonError why = ow::JsonError::malformed;
    nlohmann::json j = ow::json_parse_bounded(s, &why, lim);
    EXPECT_EQ(why, ow::JsonError::none);
    ASSERT_FALSE(j.is_discarded());
    EXPECT_EQ(j["k"][0].get<std::string>().size(), 2000u);
}

TEST(JsonLimits, EscapedQuotesKeepTheStringOpen) {
    ow::JsonLimits lim;
    lim.max_depth = 1;
    ow::JsonError why = ow::JsonError::malformed;
    // \" does not end the string: the brackets after it are still inside
    EXPECT_FALSE(ow::json_parse_bounded(R"(["a\"[[[{{"])", &why, lim).is_discarded());
    EXPECT_EQ(why, ow::JsonError::none);
    // \\ is a backslash: the quote after it ends the string, the brackets
    // after that count
    EXPECT_EQ(ow::json_check_limits(R"(["a\\",[[]]])", lim), ow::JsonError::too_deep);
    EXPECT_FALSE(ow::json_parse_bounded(R"(["a\\","[["])", &why, lim).is_discarded());
    EXPECT_EQ(why, ow::JsonError::none);
    // a key with a quote and brackets
    EXPECT_FALSE(ow::json_parse_bounded(R"({"\"[[":1})", &why, lim).is_discarded());
    EXPECT_EQ(why, ow::JsonError::none);
    // a trailing backslash: no read past the end, and malformed
    EXPECT_EQ(ow::json_check_limits("[\"\\"), ow::JsonError::none);
    EXPECT_TRUE(ow::json_parse_bounded("[\"\\", &why).is_discarded());
    EXPECT_EQ(why, ow::JsonError::malformed);
}

TEST(JsonLimits, MalformedIsDiscardedNotThrown) {
    ow::JsonError why = ow::JsonError::none;
    for (const char *s : {"", "{", "]]]][[[[", "{\"a\":}", "[1,]", "nul", "\"\xff\"", "{}}"}) {
        EXPECT_TRUE(ow::json_parse_bounded(s, &why).is_discarded()) << s;
        EXPECT_EQ(why, ow::JsonError::malformed) << s;
    }
    EXPECT_EQ(ow::json_error_text(ow::JsonError::malformed), "malformed JSON.");
    EXPECT_EQ(ow::json_error_text(ow::JsonError::none), "");
    // scalars are JSON texts too
    EXPECT_EQ(ow::json_parse_bounded("42", &why), 42);
    EXPECT_EQ(why, ow::JsonError::none);
}

TEST(JsonLimits, TooLarge) {
    ow::JsonLimits lim;
    lim.max_bytes = 4;
    ow::JsonError why = ow::JsonError::none;
    EXPECT_FALSE(ow::json_parse_bounded("[12]", &why, lim).is_discarded());
    EXPECT_TRUE(ow::json_parse_bounded("[123]", &why, lim).is_discarded());
    EXPECT_EQ(why, ow::JsonError::too_large);
    EXPECT_EQ(ow::json_error_text(why, lim), "JSON larger than 4 bytes.");
}
