// termination_log_test.cc: the init error as Kubernetes will show it.
#include "sidecar/termination_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace ow::sidecar {
namespace {

TEST(TerminationLog, WholeErrorWhenItFits) {
    nlohmann::json e = {{"error", "boom"}, {"initTime", 5}, {"logs", {"a", "b"}}};
    EXPECT_EQ(nlohmann::json::parse(termination_message(e)), e);
}

TEST(TerminationLog, DropsLogsThenShortensTheErrorAndStaysJson) {
    nlohmann::json e = {{"error", "x"}, {"logs", {std::string(5000, 'l')}}};
    nlohmann::json got = nlohmann::json::parse(termination_message(e));
    EXPECT_EQ(got["error"], "x");
    EXPECT_FALSE(got.contains("logs"));
    e["error"] = std::string(3000, '"') + "\xc3\xa9";  // escapes double its size
    std::string s = termination_message(e);
    EXPECT_LE(s.size(), kTerminationLogMax);
    got = nlohmann::json::parse(s);  // valid JSON, valid UTF-8
    std::string err = got["error"];
    EXPECT_EQ(err.substr(err.size() - 3), "...");
    EXPECT_GT(err.size(), 1000u);
}

TEST(TerminationLog, WritesTheFile) {
    char path[] = "/tmp/owx-termlog-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    ASSERT_TRUE(write_termination_log(path, {{"error", "The action did not initialize."}}));
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    EXPECT_EQ(nlohmann::json::parse(ss.str())["error"], "The action did not initialize.");
    unlink(path);
    EXPECT_TRUE(write_termination_log("", {{"error", "x"}}));
    EXPECT_FALSE(write_termination_log("/nonexistent-dir/x", {{"error", "x"}}));
}

}  // namespace
}  // namespace ow::sidecar
