#include "sidecar/activation_record.h"

#include <gtest/gtest.h>

using namespace owsc;
using nlohmann::json;

TEST(Record, Shape) {
    RecordInput in;
    in.ns = "caller";
    in.subject = "subj";
    in.name = "hello";
    in.version = "0.0.1";
    in.activation_id = std::string(32, 'a');
    in.start = 1000;
    in.end = 1042;
    in.outcome.status_code = 1;
    in.outcome.result = {{"error", "x"}};
    in.outcome.size = 11;
    in.path = "guest/p/hello";
    in.kind = "nodejs:20";
    in.limits = {{"timeout", 60000}};
    in.wait_time = 5;
    in.init_time = 30;
    json r = build_record(in);
    EXPECT_EQ(r["namespace"], "caller");
    EXPECT_EQ(r["duration"], 42);
    EXPECT_EQ(r["publish"], false);
    EXPECT_EQ(r["response"], (json{{"status", "application error"}, {"success", false},
                                   {"result", {{"error", "x"}}}, {"size", 11}}));
    EXPECT_EQ(r["annotations"].size(), 6u);
    EXPECT_EQ(r["annotations"][5], (json{{"key", "initTime"}, {"value", 30}}));
    in.init_time = -1;
    in.path = "guest/hello";
    r = build_record(in);
    EXPECT_EQ(r["annotations"].size(), 5u);
}

TEST(Record, CauseAndCausedByForSequenceComponents) {
    RecordInput in;
    in.ns = "guest";
    in.name = "a";
    in.activation_id = std::string(32, 'b');
    in.path = "guest/a";
    in.kind = "nodejs:20";
    in.limits = {{"timeout", 60000}};
    nlohmann::json r = build_record(in);
    EXPECT_FALSE(r.contains("cause"));
    in.cause = std::string(32, 'c');
    r = build_record(in);
    EXPECT_EQ(r["cause"], in.cause);
    nlohmann::json expect = {{"key", "causedBy"}, {"value", "sequence"}};
    EXPECT_EQ(r["annotations"][5], expect);
}
