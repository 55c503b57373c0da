#include "sidecar/activation_record.h"

#include <gtest/gtest.h>

using namespace ow::sidecar;
using nlohmann::json;

namespace {

Activation hello(const std::string &path) {
    Action act;
    act.name = "hello";
    act.path = path;
    act.kind = "nodejs:20";
    act.limits_json = {{"timeout", 60000}};
    Activation a;
    a.action = recorded_action(act);
    a.ns = "caller";
    a.subject = "subj";
    a.id = std::string(32, 'a');
    return a;
}

}  // namespace

TEST(Record, Shape) {
    Activation a = hello("guest/p/hello");
    a.start_ms = 1000;
    a.end_ms = 1042;
    a.outcome.status_code = 1;
    a.outcome.result = {{"error", "x"}};
    a.outcome.size = 11;
    a.wait_ms = 5;
    a.init_time = 30;
    a.logs = {"line"};
    json r = build_record(a);
    EXPECT_EQ(r["namespace"], "caller");
    EXPECT_EQ(r["subject"], "subj");
    EXPECT_EQ(r["name"], "hello");
    EXPECT_EQ(r["version"], "0.0.1");
    EXPECT_EQ(r["start"], 1000);
    EXPECT_EQ(r["duration"], 42);
    EXPECT_EQ(r["publish"], false);
    EXPECT_EQ(r["logs"], (json{"line"}));
    EXPECT_EQ(r["response"], (json{{"status", "application error"}, {"success", false},
                                   {"result", {{"error", "x"}}}, {"size", 11}}));
    EXPECT_EQ(r["annotations"].size(), 6u);
    EXPECT_EQ(r["annotations"][0], (json{{"key", "path"}, {"value", "guest/p/hello"}}));
    EXPECT_EQ(r["annotations"][1], (json{{"key", "waitTime"}, {"value", 5}}));
    EXPECT_EQ(r["annotations"][5], (json{{"key", "initTime"}, {"value", 30}}));
    a = hello("guest/hello");
    a.trace.trace_id = std::string(32, 't');
    r = build_record(a);
    EXPECT_EQ(r["annotations"].size(), 6u);
    EXPECT_EQ(r["annotations"][5], (json{{"key", "traceId"}, {"value", a.trace.trace_id}}));
}

TEST(Record, CauseAndCausedByForSequenceComponents) {
    Activation a = hello("guest/a");
    json r = build_record(a);
    EXPECT_FALSE(r.contains("cause"));
    a.cause = std::string(32, 'c');
    r = build_record(a);
    EXPECT_EQ(r["cause"], a.cause);
    json expect = {{"key", "causedBy"}, {"value", "sequence"}};
    EXPECT_EQ(r["annotations"][5], expect);
    // a trigger's rule: the cause, but no causedBy
    a.cause_is_trigger = true;
    r = build_record(a);
    EXPECT_EQ(r["cause"], a.cause);
    EXPECT_EQ(r["annotations"].size(), 5u);
}

TEST(Record, StandInForAnUnfinishedActivation) {
    Activation a = hello("guest/hello");
    a.accept_ms = 900;
    a.logs = {"not in a stand-in"};
    json r = build_unfinished_record(a);
    EXPECT_EQ(r["start"], 900);   // never started: its accept time
    EXPECT_EQ(r["duration"], 0);
    EXPECT_EQ(r["logs"], json::array());
    EXPECT_EQ(r["response"]["status"], "whisk internal error");
    EXPECT_EQ(r["response"]["size"], 0);
    EXPECT_EQ(r["annotations"][1]["value"], 0);
    a.start_ms = 950;
    r = build_unfinished_record(a);
    EXPECT_EQ(r["start"], 950);
    EXPECT_EQ(r["end"], 950);
    EXPECT_EQ(r["annotations"][1]["value"], 50);
}

TEST(Record, StandInWhoseLogsWereLost) {
    Activation a = hello("guest/hello");
    a.start_ms = 1000;
    a.end_ms = 1010;
    a.wait_ms = 7;
    a.outcome.result = {{"ok", true}};
    a.logs = {"collected later"};
    json r = build_record_logs_lost(a, 1000000000);
    EXPECT_EQ(r["duration"], 10);
    EXPECT_EQ(r["response"]["result"], (json{{"ok", true}}));
    ASSERT_EQ(r["logs"].size(), 1u);
    EXPECT_NE(r["logs"][0].get<std::string>().find("[owx] the logs were lost"),
              std::string::npos);
    EXPECT_EQ(r["annotations"][1]["value"], 7);
}
