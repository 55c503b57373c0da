#include "sidecar/gate.h"

#include <gtest/gtest.h>

using ow::sidecar::Gate;

TEST(Gate, DefaultBuffer) {
    EXPECT_EQ(ow::sidecar::default_buffer(1, 64), 2u);
    EXPECT_EQ(ow::sidecar::default_buffer(10, 64), 10u);
    EXPECT_EQ(ow::sidecar::default_buffer(100, 64), 64u);
    EXPECT_EQ(ow::sidecar::default_buffer(1, 1), 1u);
    EXPECT_EQ(ow::sidecar::default_buffer(1, 0), 0u);
}

TEST(Gate, SerialRuntimeGetsOneAtATime) {
    Gate g(1, 2);
    int started = 0;
    auto start = [&] { started++; };
    EXPECT_EQ(g.enter(start), Gate::Admit::run);
    EXPECT_EQ(g.enter(start), Gate::Admit::queued);
    EXPECT_EQ(g.enter(start), Gate::Admit::queued);
    EXPECT_EQ(g.enter(start), Gate::Admit::full);
    EXPECT_EQ(g.inflight(), 1);
    EXPECT_EQ(g.queued(), 2u);
    auto next = g.leave();
    ASSERT_TRUE(next);
    next();
    EXPECT_EQ(started, 1);
    EXPECT_EQ(g.inflight(), 1);   // never two at once
    EXPECT_EQ(g.queued(), 1u);
    EXPECT_EQ(g.enter(start), Gate::Admit::queued);
    EXPECT_EQ(g.enter(start), Gate::Admit::full);
}

TEST(Gate, FifoOrder) {
    Gate g(1, 3);
    std::vector<int> order;
    g.enter([] {});
    for (int i = 0; i < 3; i++) g.enter([&order, i] { order.push_back(i); });
    for (int i = 0; i < 3; i++) g.leave()();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
    EXPECT_FALSE(g.leave());
    EXPECT_EQ(g.inflight(), 0);
}

TEST(Gate, ConcurrencyAndNoQueueJumping) {
    Gate g(3, 0);
    EXPECT_EQ(g.enter([] {}), Gate::Admit::run);
    EXPECT_EQ(g.enter([] {}), Gate::Admit::run);
    EXPECT_EQ(g.enter([] {}), Gate::Admit::run);
    EXPECT_EQ(g.enter([] {}), Gate::Admit::full);   // no buffer at all
    EXPECT_FALSE(g.leave());
    EXPECT_EQ(g.inflight(), 2);
    EXPECT_EQ(g.enter([] {}), Gate::Admit::run);
}

TEST(Gate, TakeQueuedLeavesSlotsAlone) {
    Gate g(1, 2);
    g.enter([] {});
    g.enter([] {});
    g.enter([] {});
    EXPECT_EQ(g.take_queued().size(), 2u);
    EXPECT_EQ(g.queued(), 0u);
    EXPECT_EQ(g.inflight(), 1);
}
