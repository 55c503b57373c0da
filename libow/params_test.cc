#include "libow/params.h"

#include <gtest/gtest.h>

using nlohmann::json;

TEST(Params, AddParamsSplitsRunAndInit) {
    json run = json::object(), init = json::object();
    // package ← binding ← action: a later key wins and leaves the other set
    ow::add_params(json::array({{{"key", "a"}, {"value", 1}},
                                {{"key", "b"}, {"value", "x"}, {"init", true}},
                                {{"key", "c"}, {"value", 3}}}),
                   &run, &init);
    ow::add_params(json::array({{{"key", "a"}, {"value", 2}, {"init", "yes"}},
                                {{"key", "b"}, {"value", "y"}, {"init", 0}},
                                {{"key", "n"}},
                                {{"value", 9}},
                                {{"key", 7}, {"value", 9}},
                                "junk"}),
                   &run, &init);
    EXPECT_EQ(run, json({{"b", "y"}, {"c", 3}, {"n", nullptr}}));
    EXPECT_EQ(init, json({{"a", 2}}));
    ow::add_params(json::object({{"key", "z"}}), &run, &init);   // not an array
    EXPECT_FALSE(run.contains("z"));
}

TEST(Params, TruthyAndAnnotation) {
    EXPECT_TRUE(ow::truthy(true));
    EXPECT_TRUE(ow::truthy(2));
    EXPECT_TRUE(ow::truthy("no"));
    EXPECT_TRUE(ow::truthy(json::object()));
    EXPECT_FALSE(ow::truthy(false));
    EXPECT_FALSE(ow::truthy(0.0));
    EXPECT_FALSE(ow::truthy(""));
    EXPECT_FALSE(ow::truthy(json()));
    json ann = json::array({{{"key", "web-export"}, {"value", true}}, {{"key", "x"}}, 5});
    EXPECT_EQ(ow::annotation(ann, "web-export"), true);
    EXPECT_TRUE(ow::annotation(ann, "x").is_null());
    EXPECT_TRUE(ow::annotation(ann, "missing").is_null());
    EXPECT_TRUE(ow::annotation(json::object(), "web-export").is_null());
    EXPECT_EQ(ow::error_body("m", "t"), json({{"error", "m"}, {"code", "t"}}));
}
