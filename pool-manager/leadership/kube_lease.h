// kube_lease.h: leadership through a coordination.k8s.io/v1 Lease, the
// Kubernetes backend's LeaderElector (leader_election.h), as client-go's
// leaderelection does it:
// - every retry period: GET the Lease (404 → POST it with us as holder);
//   held by us → PUT it with a fresh renewTime; held by another whose
//   record has not changed for leaseDurationSeconds (measured on OUR clock
//   from when we last saw it change, so clock skew between replicas does
//   not matter) or released (holderIdentity "") → PUT it with us as holder
//   and leaseTransitions + 1. Every PUT carries metadata.resourceVersion:
//   409 Conflict = another replica wrote first, we lost the race;
// - the fencing token is leaseTransitions + 1: it grows with every change
//   of holder (the Lease must not be deleted, which would restart it);
// - a leader that cannot renew for renew_deadline (< lease duration) steps
//   down before a standby may take over;
// - the leader's control API address is the annotation
//   owx.dev/leader-addr on the Lease, so standbys forward to it;
// - resign() (SIGTERM), as client-go's ReleaseOnCancel: when we lead, PUT
//   the Lease with holderIdentity "" and leaseDurationSeconds 1 (the
//   leaseTransitions kept, so the successor's token still grows), so a
//   standby takes it at its next retry instead of after the lease. The PUT
//   carries the resourceVersion of our last write: 409 = the Lease changed
//   since; one GET tells whether it is still ours (our own renew landed:
//   release it with the fresh resourceVersion) or another's (leave it).
//   It runs on the calling thread, because the daemon stops its io loop
//   right after, and within release_timeout_ms, so it never holds shutdown
//   up for longer; a failure is logged and the standby waits out the lease.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "pool-manager/backends/kube/kube_client.h"
#include "pool-manager/leadership/leader_election.h"

namespace ow::pm {

struct KubeLeaseOptions {
    std::string ns = "default";
    std::string name = "owx-pool-manager";
    std::string identity;          // unique per replica (pod name)
    std::string leader_addr;       // our control API "host:port"
    int64_t lease_duration_ms = 15000;
    int64_t renew_deadline_ms = 10000;
    int64_t retry_period_ms = 2000;
    // resign()'s whole release, retries included: what a SIGTERM may wait
    // for the API server before the process goes on exiting
    int64_t release_timeout_ms = 1500;
};

class KubeLeaseElector : public LeaderElector {
public:
    // now_ms: a monotonic clock (tests pass a fake one); wall_us: epoch us
    // for renewTime/acquireTime.
    KubeLeaseElector(boost::asio::io_context &io, KubeClient &client, KubeLeaseOptions opts,
                     std::function<int64_t()> now_ms = nullptr,
                     std::function<int64_t()> wall_us = nullptr);
    ~KubeLeaseElector() override;

    void start(ChangeCallback on_change) override;
    void resign() override;
    Leadership current() const override { return state_; }

    // One round (tests drive it directly instead of waiting for the timer).
    // the lost_reason of a lead not renewed in time
    std::string not_renewed(const KubeResponse &r) const;
    void tick();
    std::string lease_path() const;

private:
    void on_get(const KubeResponse &r);
    void take(nlohmann::json lease, bool create);
    void on_write(const KubeResponse &r, int64_t transitions, bool create);
    void set(Leadership l);
    void schedule();
    nlohmann::json spec(int64_t transitions, const std::string &acquire) const;
    void release();

    boost::asio::io_context &io_;
    KubeClient &client_;
    KubeLeaseOptions opts_;
    std::function<int64_t()> now_ms_;
    std::function<int64_t()> wall_us_;
    boost::asio::steady_timer timer_;
    ChangeCallback on_change_;
    Leadership state_;
    bool busy_ = false;       // a round is in flight
    bool resigned_ = false;
    // the other holder's record as last seen, and when (our clock)
    std::string observed_;
    int64_t observed_ms_ = 0;
    int64_t renewed_ms_ = 0;  // our last successful renew
    std::string acquired_;    // acquireTime of our term
    // the Lease as our last successful write returned it (its
    // resourceVersion is resign()'s precondition); null when none
    nlohmann::json held_;
    std::shared_ptr<bool> alive_;
};

}  // namespace ow::pm
