// leader_election.h: which pool-manager replica leads. The leader alone runs
// the allocator, the collector, the stemcell pools and the fire consumer; the
// others serve the control API and forward to the leader. Two
// implementations behind this interface: a Redis lock with a fencing token
// for the local backend (redis_lease.h), a coordination.k8s.io/v1 Lease for
// the Kubernetes backend (kube_lease.h).
//
// The fencing token grows with every change of leader. Every write the
// leader makes to shared state carries it, and the write is refused when a
// newer token exists, so a leader that lost its lease without noticing (a
// long pause, a partition) cannot undo its successor's work.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace ow::pm {

struct Leadership {
    bool leading = false;
    int64_t token = 0;          // fencing token of the current term; 0 none
    std::string leader_addr;    // control API "host:port" of the leader
    // Why a lead was lost (logged by the daemon): another replica holds the
    // lease, or this one could not renew it within the renew deadline.
    std::string lost_reason;
};

class LeaderElector {
public:
    using ChangeCallback = std::function<void(const Leadership &)>;

    virtual ~LeaderElector() = default;
    // Begins campaigning; on_change runs on the io thread whenever this
    // replica gains or loses the lead or learns of another leader.
    virtual void start(ChangeCallback on_change) = 0;
    // Gives the lead up at once (SIGTERM), so a standby need not wait for
    // the lease to expire.
    virtual void resign() = 0;
    virtual Leadership current() const = 0;
};

}  // namespace ow::pm
