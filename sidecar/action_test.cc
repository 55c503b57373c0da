#include "sidecar/action.h"

#include <gtest/gtest.h>

using namespace ow::sidecar;
using nlohmann::json;

static Action parsed(const json &doc, const json &pkg = json()) {
    Action a;
    std::string err;
    EXPECT_TRUE(parse_action("guest", pkg.is_null() ? "" : "p", "hello", doc, pkg, &a, &err)) << err;
    return a;
}

static json doc() {
    return json::parse(R"({"namespace":"guest","name":"hello","version":"0.0.3",
      "exec":{"kind":"nodejs:20","code":"function main(){}","binary":false},
      "limits":{"timeout":3000,"memory":256,"logs":1,"concurrency":2},
      "parameters":[{"key":"a","value":"action"},{"key":"secret","value":{"k":1},"init":true}],
      "annotations":[{"key":"provide-api-key","value":false},{"key":"exec","value":"nodejs:20"}]})");
}

TEST(Action, Spec) {
    std::string ns, pkg, name;
    ASSERT_TRUE(split_action_spec("guest/p/x", &ns, &pkg, &name));
    EXPECT_EQ(pkg, "p");
    ASSERT_TRUE(split_action_spec("guest/x", &ns, &pkg, &name));
    EXPECT_EQ(pkg, "");
    EXPECT_FALSE(split_action_spec("guest", &ns, &pkg, &name));
    EXPECT_FALSE(split_action_spec("guest/a/b/c", &ns, &pkg, &name));
}

TEST(Action, Parse) {
    Action a = parsed(doc());
    EXPECT_EQ(a.path, "guest/hello");
    EXPECT_EQ(a.fqn, "/guest/hello");
    EXPECT_EQ(a.version, "0.0.3");
    EXPECT_EQ(a.limits.timeout_ms, 3000);
    EXPECT_EQ(a.limits.concurrency, 2);
    EXPECT_FALSE(a.provide_api_key);
    EXPECT_EQ(a.main, "main");
    EXPECT_EQ(a.run_params, (json{{"a", "action"}}));
    EXPECT_EQ(a.init_params, (json{{"secret", {{"k", 1}}}}));
}

TEST(Action, MissingProvideApiKeyIsTrue) {
    json d = doc();
    d["annotations"] = json::array();
    EXPECT_TRUE(parsed(d).provide_api_key);
}

TEST(Action, MergePackageActionRequest) {
    json pkg = json::parse(R"({"parameters":[{"key":"a","value":"pkg"},{"key":"b","value":"pkg"}]})");
    Action a = parsed(doc(), pkg);
    EXPECT_EQ(a.path, "guest/p/hello");
    json out;
    ASSERT_TRUE(merge_params(a, json{{"c", 3}, {"b", "req"}}, &out));
    EXPECT_EQ(out, (json{{"a", "action"}, {"b", "req"}, {"c", 3}}));
}

TEST(Action, MergedParametersOverOneMegabyte) {
    // 700 KB in the package, 400 KB in the request: each fits, together not
    json pkg = json{{"parameters", json::array({{{"key", "big"},
                                                 {"value", std::string(700000, 'p')}}})}};
    Action a = parsed(doc(), pkg);
    EXPECT_GT(a.run_params_bytes, 700000u);
    json body = json{{"more", std::string(400000, 'r')}}, out;
    ASSERT_TRUE(merge_params(a, body, &out));
    size_t n = merged_params_over(a, body.dump().size(), out);
    EXPECT_GT(n, kMaxPayloadBytes);
    EXPECT_EQ(n, out.dump().size());
    // overriding the big parameter keeps the merge small
    json small = json{{"big", std::string(400000, 'r')}};
    ASSERT_TRUE(merge_params(a, small, &out));
    EXPECT_EQ(merged_params_over(a, small.dump().size(), out), 0u);
    // small requests are decided without measuring
    ASSERT_TRUE(merge_params(a, json{{"x", 1}}, &out));
    EXPECT_EQ(merged_params_over(a, 7, out), 0u);
}

TEST(Action, Final) {
    json d = doc();
    d["annotations"].push_back({{"key", "final"}, {"value", true}});
    Action a = parsed(d);
    json out;
    EXPECT_FALSE(merge_params(a, json{{"a", "x"}}, &out));
    EXPECT_FALSE(merge_params(a, json{{"secret", "x"}}, &out));
    EXPECT_TRUE(merge_params(a, json{{"new", "x"}}, &out));
}

TEST(Action, InitBody) {
    Action a = parsed(doc());
    json b = init_body(a, "http://h", 1234);
    EXPECT_EQ(b["value"]["name"], "hello");
    EXPECT_EQ(b["value"]["main"], "main");
    EXPECT_EQ(b["value"]["binary"], false);
    const json &env = b["value"]["env"];
    EXPECT_EQ(env["secret"], "{\"k\":1}");
    EXPECT_EQ(env["__OW_ACTION_NAME"], "/guest/hello");
    EXPECT_EQ(env["__OW_NAMESPACE"], "guest");
    EXPECT_EQ(env["__OW_DEADLINE"], "1234");
    EXPECT_EQ(env["__OW_API_HOST"], "http://h");
}
