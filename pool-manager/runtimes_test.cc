// runtimes_test.cc: runtimes-exec.json parsing and kind resolution.
#include "pool-manager/runtimes.h"

#include <gtest/gtest.h>

namespace ow::pm::test {
namespace {

TEST(Runtimes, ResolvesKindsAndDefaults) {
    Runtimes r;
    std::string err;
    ASSERT_TRUE(r.load_text(
        R"({"nodejs:20":{"command":["/usr/bin/node","p.js","--port","{port}"],"family":"nodejs","default":true},)"
        R"("nodejs:18":{"command":["/usr/bin/node18","p.js"],"family":"nodejs"},)"
        R"("python:3.11":{"command":["/usr/bin/python3","r.py"]}})",
        &err))
        << err;
    ASSERT_NE(r.resolve("nodejs:18"), nullptr);
    EXPECT_EQ(r.resolve("nodejs:18")->command[0], "/usr/bin/node18");
    ASSERT_NE(r.resolve("nodejs:default"), nullptr);
    EXPECT_EQ(r.resolve("nodejs:default")->kind, "nodejs:20");
    EXPECT_EQ(r.resolve("python:3.11")->family, "python") << "family from the kind";
    EXPECT_EQ(r.resolve("python:default"), nullptr) << "no default declared";
    EXPECT_EQ(r.resolve("java:8"), nullptr);
    EXPECT_EQ(r.resolve(":default"), nullptr);
}

TEST(Runtimes, RejectsMalformed) {
    Runtimes r;
    std::string err;
    EXPECT_FALSE(r.load_text("[]", &err));
    EXPECT_FALSE(r.load_text("{", &err));
    EXPECT_FALSE(r.load_text(R"({"k":{"command":[]}})", &err));
    EXPECT_FALSE(r.load_text(R"({"k":{"command":[1]}})", &err));
    EXPECT_FALSE(r.load_text(R"({"k":{}})", &err));
    EXPECT_FALSE(r.load_file("/nonexistent/runtimes.json", &err));
}

}  // namespace
}  // namespace ow::pm::test
