// redis_lease.h: leadership on the local backend: a Redis lock with a
// fencing token (leader_election.h).
//
//   owx:{warm}:leader        "<token> <identity> <addr>", PX = the lease
//   owx:{warm}:leader:token  the fencing token, INCR on every new term
//
// Both keys share the warm table's hash tag, so the warm-table scripts can
// check the token in the same slot (warm_table.h: every write of a leader
// is refused once a newer term exists).
//
// Every renew interval each replica runs one script: the holder extends its
// lease; anyone else learns who holds it, or takes it when it has expired
// (a new token). A holder that cannot reach Redis keeps leading until it
// sees another holder: nobody else can take the lock while Redis is away,
// and its writes carry the token, so they fail once a successor exists. A
// replica that sees another holder after leading has lost its term: the
// daemon then exits (as client-go's leader election does), and its
// supervisor restarts it as a standby. Its containers keep running; the new
// leader adopts them from the warm table.
#pragma once

#include <cstdint>
#include <string>

#include "pool-manager/clock.h"
#include "pool-manager/leadership/leader_election.h"

namespace ow {
class Redis;   // libow/redis_client.h
}  // namespace ow

namespace ow::pm {

// The lock's one operation, an interface so the election runs on a fake in
// unit tests.
class LeaseStore {
public:
    struct Answer {
        bool ok = false;        // false: Redis did not answer
        bool held = false;      // the caller holds the lease now
        int64_t token = 0;      // the current term's token
        std::string addr;       // the holder's control API address
        std::string error;
    };
    virtual ~LeaseStore() = default;
    // Takes the lease when it is free or ours (extending it), else tells
    // who holds it.
    virtual Answer acquire(const std::string &identity, const std::string &addr,
                           int64_t lease_ms) = 0;
    // Frees the lease when it is ours.
    virtual void release(const std::string &identity) = 0;
};

class RedisLeaseStore : public LeaseStore {
public:
    explicit RedisLeaseStore(Redis &redis) : redis_(redis) {}
    Answer acquire(const std::string &identity, const std::string &addr,
                   int64_t lease_ms) override;
    void release(const std::string &identity) override;

    static const char *const kAcquireScript;
    static const char *const kReleaseScript;

private:
    Redis &redis_;
};

struct LeaseOptions {
    std::string identity;      // unique per replica (host:pid by default)
    std::string addr;          // this replica's control API, for forwarding
    int64_t lease_ms = 3000;   // a dead leader is replaced within this
    int64_t renew_ms = 1000;   // campaign / renew period
};

class RedisLease : public LeaderElector {
public:
    RedisLease(LeaseStore &store, Clock &clock, LeaseOptions opts);
    void start(ChangeCallback on_change) override;
    void resign() override;
    Leadership current() const override { return state_; }
    // The address may be known only once the API listens.
    void set_addr(const std::string &addr) { opts_.addr = addr; }
    // One campaign step (the timer's; exposed for tests).
    void tick();

private:
    LeaseStore &store_;
    Clock &clock_;
    LeaseOptions opts_;
    ChangeCallback on_change_;
    Leadership state_;
    bool resigned_ = false;
};

}  // namespace ow::pm
