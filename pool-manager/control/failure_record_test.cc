// failure_record_test.cc: the record of an undelivered invoke is the §3
// activation shape, and its index name follows activation.py index_name.
#include "pool-manager/control/failure_record.h"
#include "libow/activation_store.h"

#include <gtest/gtest.h>

namespace ow::pm::test {
namespace {

TEST(FailureRecord, Shape) {
    FailureInput in;
    in.ns = "caller";
    in.action = "owner/pkg/act";
    in.version = "0.0.2";
    in.kind = "python:3.11";
    in.limits = {{"timeout", 1000}, {"memory", 128}, {"logs", 5}, {"concurrency", 2}};
    in.activation_id = std::string(32, 'b');
    in.accept_ms = 1000;
    in.now_ms = 1500;
    in.error = "why";
    nlohmann::json r = failure_record(in);
    EXPECT_EQ(r["namespace"], "caller");
    EXPECT_EQ(r["subject"], "caller") << "subject defaults to the namespace";
    EXPECT_EQ(r["name"], "act");
    EXPECT_EQ(r["publish"], false);
    EXPECT_EQ(r["response"], nlohmann::json::parse(
        R"({"status":"whisk internal error","success":false,"result":{"error":"why"}})"));
    EXPECT_EQ(r["annotations"][1]["value"], 500);
    EXPECT_EQ(r["annotations"][4]["value"], in.limits);
    EXPECT_EQ(ow::activation_index_name(r), "pkg/act");
    in.action = "owner/act";
    EXPECT_EQ(ow::activation_index_name(failure_record(in)), "act");
    in.accept_ms = 0;
    EXPECT_EQ(failure_record(in)["annotations"][1]["value"], 0);
}

}  // namespace
}  // namespace ow::pm::test
