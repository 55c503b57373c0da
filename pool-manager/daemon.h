// daemon.h: the pool-manager's parts wired together on one io_context:
// Redis, the pool, the local backend, capacity, the invoke queue, the manager (reaping, health,
// probes), the garbage collector, the warm table and the control API. start() opens the
// API and campaigns for the lead (redis_lease.h); until this replica leads and has
// reconciled, its API forwards to the leader (leader_forward.h). On winning it runs the
// reconcile (retried until Redis answers: adopt the live containers of the previous
// leader, rewrite the table) and only then serves, so no start races the adoption. A
// replica that loses its term exits (its supervisor restarts it as a standby).
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "libow/activation_journal.h"
#include "libow/redis_client.h"

#include "pool-manager/action_source.h"
#include "pool-manager/control/failure_record.h"
#include "pool-manager/control/fire_consumer.h"
#include "pool-manager/asio_clock.h"
#include "pool-manager/placement/capacity.h"
#include "pool-manager/collection/compactor.h"
#include "pool-manager/control/control_api.h"
#include "pool-manager/health_poller.h"
#include "pool-manager/collection/collection_policy.h"
#include "pool-manager/container_registry.h"
#include "pool-manager/collection/garbage_collector.h"
#include "pool-manager/control/invoke_queue.h"
#include "pool-manager/control/leader_forward.h"
#include "pool-manager/leadership/kube_lease.h"
#include "pool-manager/leadership/redis_lease.h"
#include "pool-manager/backends/backend_select.h"
#include "pool-manager/backends/local_backend.h"
#include "pool-manager/manager.h"
#include "pool-manager/pool.h"
#include "pool-manager/placement/resource_allocator.h"
#include "pool-manager/runtimes.h"
#include "pool-manager/control/sidecar_client.h"
#include "pool-manager/placement/specialize_client.h"
#include "pool-manager/placement/stemcell_pool.h"
#include "pool-manager/warm_table.h"

namespace ow::pm {

struct DaemonConfig {
    std::string listen_host = "127.0.0.1";
    uint16_t listen_port = 0;
    std::string redis_host = "127.0.0.1";
    uint16_t redis_port = 6379;
    RedisCredentials redis_cred;   // AUTH of every connection; empty: none
    std::string token;             // internal token (libow/secrets.h); "": none
    std::string metrics_token;     // GET /metrics wants it as Bearer; "": open
    int64_t redis_timeout_ms = 250;
    int64_t resync_interval_ms = 30000;
    int64_t idle_timeout_ms = 600000;
    std::string gc_policy = "node-emptying";  // make_policy() name
    int64_t gc_min_warm = 1;
    int64_t gc_recent_ms = 1800000;
    int64_t gc_compact_idle_ms = 120000;  // NodeEmptyingOptions::compact_idle_ms
    CompactorOptions compactor;           // node-emptying only (compactor.h)
    GcOptions gc;
    int64_t health_timeout_ms = 1000;
    LocalBackendOptions backend;
    std::string backend_kind = "local";  // --backend: local or kubernetes
    KubeSetup kube;                      // --kube-* (backend_kind kubernetes)
    CapacityOptions capacity;
    InvokeOptions invoke;
    FireOptions fire;
    // Placement (resource_allocator.h): no nodes = one sized from this
    // machine (local_node()).
    std::vector<NodeSpec> nodes;
    std::string placement = "most-allocated";  // make_strategy() name
    int64_t cpu_per_gb = 0;
    int64_t retention_ms = 7 * 24 * 3600 * 1000LL;  // failure records
    // Journals (libow/activation_journal.h): this process's own is
    // <journal_root>/pool-manager-<pid>; every dead journal under the root
    // (its sidecars', a previous pool-manager's) is stored every
    // journal_sweep_ms. "" = none.
    std::string journal_root;
    int64_t journal_sweep_ms = 2000;
    ManagerOptions manager;
    // Leadership (redis_lease.h): identity "" = <hostname>:<pid>; advertise
    // "" = the listen address (what the other replicas forward to).
    LeaseOptions lease;
    std::string advertise;
    // Prewarm pools (stemcell_pool.h); empty = none.
    std::vector<StemcellSpec> stemcells;
    StemcellOptions stemcell;
};

class Daemon {
public:
    Daemon(boost::asio::io_context &io, DaemonConfig cfg, Runtimes runtimes);
    // Begins the startup reconcile; the API opens when it is done. On a
    // listen failure the io_context is stopped and failed() turns true.
    void start();
    // Stops accepting; containers are left running for the next one.
    void stop();
    bool failed() const { return failed_; }
    size_t containers() const { return pool_.size(); }

private:
    Leadership leadership() const { return elector_ ? elector_->current() : Leadership{}; }
    void on_leadership(const Leadership &l);
    void lost_leadership(const char *why);
    // The compactor's replacements: n more containers of action.
    void start_replacements(const std::string &action, int64_t n);
    void reconcile();
    void resync();

    boost::asio::io_context &io_;
    DaemonConfig cfg_;
    Runtimes runtimes_;
    AsioClock clock_;
    Redis redis_;
    Pool pool_;
    WarmTable warm_;
    RedisActionSource actions_;
    // --backend: local processes or Kubernetes pods (backend_select.h); the
    // Kubernetes API client (null for local) outlives the backend's watches
    std::unique_ptr<KubeClient> kube_client_;
    std::unique_ptr<Backend> backend_;
    // What this leader started, in Redis (a successor removes the ones it
    // cannot adopt); everything below talks to the backend through it.
    ContainerRegistry registry_;
    // Prewarmed containers; sits between the backend's exit events and
    // the manager (stemcells are not the manager's containers).
    SpecializeClient specialize_client_;
    StemcellPool stemcells_;
    ResourceAllocator allocator_;  // capacity_ and stemcells_ place with it
    Capacity capacity_;
    SidecarClient sidecar_client_;
    RedisRecordSink records_;
    ow::ActivationJournal journal_;
    void sweep_journals();
    InvokeQueue invokes_;
    // Fired triggers' rule invocations: the blocking take has its own
    // connection (its deadline is longer than one take's wait).
    Redis fire_redis_;
    RedisFireStore fire_taker_;
    RedisFireStore fire_acker_;
    FireConsumer fires_;
    std::unique_ptr<CollectionPolicy> policy_;
    GarbageCollector gc_;
    // Empties nearly empty nodes (node-emptying policy only): asks capacity_
    // for replacements, the collector marks what they replace.
    Compactor compactor_;
    HealthPoller poller_;
    Manager manager_;
    ControlApi api_;
    RedisLeaseStore lease_store_;
    // Made by start(), once the API's address is known: a Redis lease on
    // the local backend, a Lease object on Kubernetes.
    std::unique_ptr<LeaderElector> elector_;
    LeaderForwarder forwarder_;
    bool leading_ = false;   // won the lease: reconciling, then serving
    bool serving_ = false;   // reconciled: answers the control API itself
    int64_t backoff_ms_ = 100;
    bool failed_ = false;
};

}  // namespace ow::pm
