// activation_test.cc: the facts read from an /invoke or /web request.
#include "sidecar/activation.h"

#include <gtest/gtest.h>

using namespace ow::sidecar;

namespace {

const std::string kId = "0123456789abcdef0123456789abcdef";
const std::string kCause = "fedcba9876543210fedcba9876543210";

std::shared_ptr<const RecordedAction> hello() {
    Action a;
    a.ns = "owner";
    a.name = "hello";
    a.path = "owner/pkg/hello";
    a.kind = "nodejs:20";
    a.limits_json = {{"timeout", 1000}};
    return recorded_action(a);
}

Request invoke_request() {
    Request r{boost::beast::http::verb::post, "/invoke?blocking=true", 11};
    r.set("X-OW-Activation-Id", kId);
    r.set("X-Request-ID", "tid-1");
    r.set("X-OW-Namespace", "caller");
    r.set("X-OW-Subject", "someone");
    r.set("X-OW-Cause", kCause);
    r.set("X-OW-Accept-Time", "1700000000000");
    return r;
}

}  // namespace

TEST(RecordedAction, WhatEveryRecordSaysOfTheAction) {
    auto r = hello();
    EXPECT_EQ(r->name, "hello");
    EXPECT_EQ(r->path, "owner/pkg/hello");
    EXPECT_EQ(r->version, "0.0.1");
    EXPECT_EQ(r->limits, (nlohmann::json{{"timeout", 1000}}));
    EXPECT_EQ(r->index, "pkg/hello");
}

TEST(ReadActivation, InvokeHeaders) {
    auto action = hello();
    Activation a = read_activation(invoke_request(), Entry::invoke, "owner", action);
    EXPECT_EQ(a.id, kId);
    EXPECT_EQ(a.tid, "tid-1");
    EXPECT_EQ(a.ns, "caller");
    EXPECT_EQ(a.subject, "someone");
    EXPECT_EQ(a.cause, kCause);
    EXPECT_FALSE(a.cause_is_trigger);
    EXPECT_EQ(a.accept_ms, 1700000000000);
    EXPECT_EQ(a.trace.trace_id, kId);   // no traceparent: a new trace, the id's
    EXPECT_EQ(a.action, action);
    EXPECT_EQ(a.init_time, -1);
}

TEST(ReadActivation, DefaultsWhenHeadersAreMissingOrBad) {
    Request r{boost::beast::http::verb::post, "/invoke", 11};
    r.set("X-OW-Activation-Id", "not-an-id");
    r.set("X-OW-Cause", "0123");
    r.set("X-OW-Accept-Time", "-5");
    Activation a = read_activation(r, Entry::invoke, "owner", hello());
    EXPECT_EQ(a.id.size(), 32u);
    EXPECT_NE(a.id, "not-an-id");
    EXPECT_EQ(a.tid, a.id);
    EXPECT_EQ(a.ns, "owner");
    EXPECT_EQ(a.subject, "owner");
    EXPECT_EQ(a.cause, "");
    EXPECT_GT(a.accept_ms, 0);
    Activation b = read_activation(r, Entry::invoke, "owner", hello());
    EXPECT_NE(a.id, b.id);
}

TEST(ReadActivation, TriggerCause) {
    Request r = invoke_request();
    r.set("X-OW-Cause-Kind", "trigger");
    Activation a = read_activation(r, Entry::invoke, "owner", hello());
    EXPECT_EQ(a.cause, kCause);
    EXPECT_TRUE(a.cause_is_trigger);
}

TEST(ReadActivation, AWebActionsCallerIsItsOwner) {
    Activation a = read_activation(invoke_request(), Entry::web, "owner", hello());
    EXPECT_EQ(a.id, kId);
    EXPECT_EQ(a.ns, "owner");
    EXPECT_EQ(a.subject, "owner");
    EXPECT_EQ(a.cause, "");
}
