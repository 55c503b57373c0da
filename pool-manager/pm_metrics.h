// pm_metrics.h: the pool-manager's Prometheus metrics (GET /metrics on the
// control API; libow/metrics.h).
//
// One process-wide set (pm_metrics()): the counters are bumped where the
// decision is made (capacity.cc, garbage_collector.cc, control_api.cc)
// without threading a handle through every constructor. Gauges that
// describe the pool (containers by state, stemcells, node fill) are read at
// scrape time from the objects given to watch() (the daemon's; nothing is
// read while unset, so unit tests that build their own pools are unaffected).
// Everything runs on the io thread except the atomics themselves.
//
// Labels are bounded: state (4), outcome (fixed words), node (the configured
// --nodes), strategy (3), op (the backend's calls).
#pragma once

#include <cstdint>
#include <string>

#include "libow/metrics.h"

namespace ow::pm {

class Pool;
class ResourceAllocator;
class StemcellPool;

class PmMetrics {
public:
    PmMetrics();
    void watch(const Pool *pool, const ResourceAllocator *alloc, const StemcellPool *cells);

    // leadership (the lead wires it; 1 until then: a single replica leads)
    void set_leader(bool leading) { leader_->set(leading ? 1 : 0); }
    // a placement: node "" = no node had room
    void placement(const std::string &node, const std::string &strategy);
    void stemcell(bool hit) { (hit ? stemcell_hits_ : stemcell_misses_)->inc(); }
    void marked() { marked_->inc(); }
    void unmarked() { unmarked_->inc(); }
    void swept() { swept_->inc(); }
    // an idle container retired to make room for a cold start (capacity.h)
    void evicted() { evicted_->inc(); }
    // a cold start refused: which limit ("namespace", "cluster")
    void refused(const std::string &limit);
    void relocated() { relocated_->inc(); }
    // a POST /v1/capacity answered with status after seconds
    void capacity(int status, double seconds);
    // a container start ended (start() to ready / failure)
    void container_start(bool ok, bool init_failed, double seconds);
    // one backend call (the Kubernetes backend's API requests): op is a
    // fixed word ("pods.create", ...), ok false on an error or timeout
    void backend_call(const std::string &op, bool ok, double seconds);

    std::string expose() const { return registry_.expose(); }
    ow::metrics::Registry &registry() { return registry_; }

private:
    ow::metrics::Registry registry_;
    ow::metrics::Gauge *leader_;
    ow::metrics::Counter *stemcell_hits_, *stemcell_misses_, *marked_, *unmarked_, *swept_, *evicted_,
        *relocated_;
    ow::metrics::Counter *capacity_[4];   // 2xx, 4xx, 429, 5xx
    ow::metrics::Histogram *capacity_seconds_;
    ow::metrics::Counter *starts_[3];     // ok, init_failed, failed
    ow::metrics::Histogram *start_seconds_;
    const Pool *pool_ = nullptr;
    const ResourceAllocator *alloc_ = nullptr;
    const StemcellPool *cells_ = nullptr;
};

PmMetrics &pm_metrics();

}  // namespace ow::pm
