// activation_store_test.cc: record keys, index names, and the write script
// being the reference's (tools/owx/activation.py WRITE_LUA) to the byte.
#include "libow/activation_store.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using nlohmann::json;

static json record(const std::string &path, const std::string &binding = "") {
    json anns = json::array({{{"key", "path"}, {"value", path}}});
    if (!binding.empty()) anns.push_back({{"key", "binding"}, {"value", binding}});
    return {{"name", "hello"}, {"annotations", anns}};
}

TEST(ActivationStore, IndexNameFollowsOpenWhisksView) {
    EXPECT_EQ(ow::activation_index_name(record("guest/hello")), "hello");
    EXPECT_EQ(ow::activation_index_name(record("guest/p/hello")), "p/hello");
    EXPECT_EQ(ow::activation_index_name(record("whisk.system/p/hello", "guest/bound")),
              "bound/hello");
    EXPECT_EQ(ow::activation_index_name(json{{"name", "x"}}), "x");
}

TEST(ActivationStore, KeysAreTheSchemasPatterns) {
    EXPECT_EQ(ow::activation_key("guest", "id"), "owx:{guest}:a:id");
    EXPECT_EQ(ow::act_index_key("guest"), "owx:{guest}:ai");
    EXPECT_EQ(ow::act_name_index_key("guest", "p/x"), "owx:{guest}:ai:p/x");
    EXPECT_EQ(ow::entity_key("guest", "p/x"), "owx:{guest}:e:p/x");
}

TEST(ActivationStore, ScriptIsTheReferenceScript) {
    std::ifstream f(std::string(OW_SOURCE_DIR) + "/tools/owx/activation.py");
    ASSERT_TRUE(f) << "tools/owx/activation.py";
    std::stringstream ss;
    ss << f.rdbuf();
    std::string py = ss.str();
    size_t a = py.find("WRITE_LUA = \"\"\"");
    ASSERT_NE(a, std::string::npos);
    a += 15;
    size_t b = py.find("\"\"\"", a);
    ASSERT_NE(b, std::string::npos);
    EXPECT_EQ(py.substr(a, b - a), std::string(ow::kWriteActivationLua));
}
