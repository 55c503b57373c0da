#include "sidecar/trace_context.h"

#include <gtest/gtest.h>

using namespace ow::sidecar;

static const char kAct[] = "0123456789abcdef0123456789abcdef";

TEST(TraceContext, ContinuesValidHeader) {
    TraceContext t = make_trace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", kAct,
                                0x1122334455667788ull);
    EXPECT_TRUE(t.continued);
    EXPECT_EQ(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(t.parent_id, "00f067aa0ba902b7");
    EXPECT_EQ(t.span_id, "1122334455667788");
    EXPECT_EQ(t.header(), "00-4bf92f3577b34da6a3ce929d0e0e4736-1122334455667788-01");
}

TEST(TraceContext, StartsTraceFromActivationIdWhenInvalid) {
    const char *bad[] = {
        "",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero parent
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // uppercase
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // 00 + extra
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    // short
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };
    for (const char *b : bad) {
        TraceContext t = make_trace(b, kAct, 0xabcull);
        EXPECT_FALSE(t.continued) << b;
        EXPECT_EQ(t.trace_id, kAct) << b;
        EXPECT_EQ(t.header(), std::string("00-") + kAct + "-0000000000000abc-00") << b;
    }
}

TEST(TraceContext, FutureVersionAndFlags) {
    TraceContext t = make_trace("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what",
                                kAct, 5);
    EXPECT_TRUE(t.continued);
    EXPECT_EQ(t.flags, "01");
    EXPECT_EQ(make_trace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", kAct, 0)
                  .span_id, "0000000000000001");
}
