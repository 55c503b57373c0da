// action_source_test.cc: reading kind and limits from an action document.
#include "pool-manager/action_source.h"

#include <gtest/gtest.h>

namespace ow::pm::test {
namespace {

TEST(ActionDoc, KindAndLimits) {
    ActionLookup l = parse_action_doc(
        R"({"name":"a","exec":{"kind":"nodejs:20","code":"x"},)"
        R"("limits":{"timeout":60000,"memory":512,"logs":10,"concurrency":5}})");
    ASSERT_EQ(l.status, ActionLookup::ok);
    EXPECT_EQ(l.info.kind, "nodejs:20");
    EXPECT_EQ(l.info.memory, 512);
    EXPECT_EQ(l.info.concurrency, 5);
    EXPECT_EQ(l.info.version, "0.0.1") << "absent version: the default";
    EXPECT_EQ(l.info.limits, nlohmann::json::parse(
                                 R"({"timeout":60000,"memory":512,"logs":10,"concurrency":5})"));
}

TEST(ActionDoc, VersionAndFullLimitsForRecords) {
    ActionLookup l = parse_action_doc(
        R"({"version":"0.0.3","exec":{"kind":"nodejs:20"},"limits":{"memory":128}})");
    ASSERT_EQ(l.status, ActionLookup::ok);
    EXPECT_EQ(l.info.version, "0.0.3");
    EXPECT_EQ(l.info.limits, nlohmann::json::parse(
                                 R"({"timeout":60000,"memory":128,"logs":10,"concurrency":1})"));
}

TEST(ActionDoc, DefaultsAndClamps) {
    ActionLookup l = parse_action_doc(R"({"exec":{"kind":"python:3.11"}})");
    ASSERT_EQ(l.status, ActionLookup::ok);
    EXPECT_EQ(l.info.memory, 256);
    EXPECT_EQ(l.info.concurrency, 1);
    l = parse_action_doc(R"({"exec":{"kind":"k"},"limits":{"memory":0,"concurrency":-3}})");
    EXPECT_EQ(l.info.memory, 256);
    EXPECT_EQ(l.info.concurrency, 1);
}

TEST(ActionDoc, Unusable) {
    for (const char *bad : {"", "[]", "{}", R"({"exec":{}})", R"({"exec":{"kind":3}})"}) {
        EXPECT_EQ(parse_action_doc(bad).status, ActionLookup::failed) << bad;
    }
}

TEST(ActionDoc, SequenceComponents) {
    ActionLookup l = parse_action_doc(
        R"({"exec":{"kind":"sequence","components":["/guest/a","/guest/p/b"]}})");
    ASSERT_EQ(l.status, ActionLookup::ok);
    EXPECT_TRUE(l.info.sequence);
    EXPECT_FALSE(l.info.conductor);
    EXPECT_EQ(l.info.components, nlohmann::json::parse(R"(["/guest/a","/guest/p/b"])"));
    EXPECT_EQ(parse_action_doc(R"({"exec":{"kind":"sequence"}})").status,
              ActionLookup::failed);
    EXPECT_EQ(parse_action_doc(R"({"exec":{"kind":"sequence","components":[1]}})").status,
              ActionLookup::failed);
}

TEST(ActionDoc, ConductorAnnotationIsTruthy) {
    auto doc = [](const char *v) {
        return std::string(R"({"exec":{"kind":"nodejs:20"},"annotations":[)"
                           R"({"key":"exec","value":"nodejs:20"},{"key":"conductor","value":)") +
               v + "}]}";
    };
    EXPECT_TRUE(parse_action_doc(doc("true")).info.conductor);
    EXPECT_TRUE(parse_action_doc(doc("\"yes\"")).info.conductor);
    EXPECT_FALSE(parse_action_doc(doc("false")).info.conductor);
    EXPECT_FALSE(parse_action_doc(doc("0")).info.conductor);
    EXPECT_FALSE(parse_action_doc(R"({"exec":{"kind":"nodejs:20"}})").info.conductor);
}

TEST(ActionDoc, WebExportOnlyWhenTrue) {
    // as the sidecar reads it (sidecar/web_action.cc): a boolean true, nothing else
    auto doc = [](const char *v) {
        return std::string(R"({"exec":{"kind":"nodejs:20"},"annotations":[)"
                           R"({"key":"web-export","value":)") +
               v + "}]}";
    };
    EXPECT_TRUE(parse_action_doc(doc("true")).info.web_export);
    EXPECT_FALSE(parse_action_doc(doc("false")).info.web_export);
    EXPECT_FALSE(parse_action_doc(doc("\"true\"")).info.web_export);
    EXPECT_FALSE(parse_action_doc(doc("1")).info.web_export);
    EXPECT_FALSE(parse_action_doc(R"({"exec":{"kind":"nodejs:20"}})").info.web_export);
}

}  // namespace
}  // namespace ow::pm::test
