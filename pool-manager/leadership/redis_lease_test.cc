// redis_lease_test.cc: the election's state machine over a fake lock.
#include "pool-manager/leadership/redis_lease.h"

#include <gtest/gtest.h>

#include <set>

#include "pool-manager/fakes_test.h"

namespace ow::pm::test {
namespace {

// One lock shared by the replicas of a test, with expiry on the fake clock.
class FakeLock : public LeaseStore {
public:
    explicit FakeLock(test::FakeClock &clock) : clock_(clock) {}
    Answer acquire(const std::string &id, const std::string &addr, int64_t lease_ms) override {
        Answer a;
        if (down || dead.count(id)) return a;
        a.ok = true;
        if (!holder.empty() && clock_.now >= expires) holder.clear();
        if (holder.empty() || holder == id) {
            if (holder.empty()) token++;
            holder = id;
            holder_addr = addr;
            expires = clock_.now + lease_ms;
        }
        a.held = holder == id;
        a.token = token;
        a.addr = holder_addr;
        return a;
    }
    void release(const std::string &id) override {
        if (holder == id) holder.clear();
    }
    bool down = false;
    std::set<std::string> dead;  // replicas killed: they renew no more
    std::string holder, holder_addr;
    int64_t token = 0, expires = 0;

private:
    test::FakeClock &clock_;
};

struct Replica {
    Replica(FakeLock &lock, test::FakeClock &clock, const std::string &id)
        : lease(lock, clock, {id, id + ":1", 3000, 1000}) {
        lease.start([this](const Leadership &l) { changes.push_back(l); });
    }
    RedisLease lease;
    std::vector<Leadership> changes;
};

TEST(RedisLease, FirstReplicaLeadsTheOtherFollowsWithItsAddress) {
    test::FakeClock clock;
    FakeLock lock(clock);
    Replica a(lock, clock, "a"), b(lock, clock, "b");
    EXPECT_TRUE(a.lease.current().leading);
    EXPECT_EQ(a.lease.current().token, 1);
    EXPECT_FALSE(b.lease.current().leading);
    EXPECT_EQ(b.lease.current().leader_addr, "a:1");
    // renewals keep the term: no change reported, same token
    clock.advance(10000);
    EXPECT_TRUE(a.lease.current().leading);
    EXPECT_EQ(a.lease.current().token, 1);
    EXPECT_EQ(a.changes.size(), 1u);
    EXPECT_EQ(b.changes.size(), 1u);
}

TEST(RedisLease, StandbyTakesOverWithinTheLeaseWithANewerToken) {
    test::FakeClock clock;
    FakeLock lock(clock);
    Replica a(lock, clock, "a"), b(lock, clock, "b");
    int64_t killed_at = clock.now;
    lock.dead.insert("a");  // killed: no more renewals, no release
    while (!b.lease.current().leading) clock.advance(100);
    EXPECT_LE(clock.now - killed_at, 3000 + 1000);  // lease + one renew period
    EXPECT_EQ(b.lease.current().token, 2);
    EXPECT_EQ(b.lease.current().leader_addr, "b:1");
}

TEST(RedisLease, ResignHandsOverAtOnce) {
    test::FakeClock clock;
    FakeLock lock(clock);
    Replica a(lock, clock, "a"), b(lock, clock, "b");
    a.lease.resign();
    EXPECT_FALSE(a.lease.current().leading);
    clock.advance(1000);  // b's next campaign step, not the lease time
    EXPECT_TRUE(b.lease.current().leading);
    // a resigned for good: it does not campaign again
    clock.advance(10000);
    EXPECT_TRUE(b.lease.current().leading);
    EXPECT_EQ(a.changes.size(), 1u);
}

TEST(RedisLease, LeaderKeepsItsRoleWhileRedisIsAwayAndLearnsItLostAfter) {
    test::FakeClock clock;
    FakeLock lock(clock);
    Replica a(lock, clock, "a");
    lock.down = true;
    clock.advance(5000);
    EXPECT_TRUE(a.lease.current().leading);  // nobody else can take it
    // meanwhile the lease expired and another replica took it
    lock.down = false;
    lock.holder = "b";
    lock.holder_addr = "b:1";
    lock.token = 2;
    lock.expires = clock.now + 3000;
    clock.advance(1000);
    ASSERT_EQ(a.changes.size(), 2u);
    EXPECT_FALSE(a.changes.back().leading);
    EXPECT_EQ(a.changes.back().token, 2);
    EXPECT_EQ(a.changes.back().leader_addr, "b:1");
}

TEST(RedisLease, ExpiredOwnLeaseIsRetakenAsANewTerm) {
    test::FakeClock clock;
    FakeLock lock(clock);
    Replica a(lock, clock, "a");
    lock.down = true;
    clock.advance(4000);
    lock.down = false;  // the key expired meanwhile; nobody took it
    clock.advance(1000);
    EXPECT_TRUE(a.lease.current().leading);
    EXPECT_EQ(a.lease.current().token, 2);  // writes carry the new term's token
}

}  // namespace
}  // namespace ow::pm::test
