// sidecar_metrics.h: the sidecar's Prometheus metrics (GET /metrics on its
// listener; libow/metrics.h). One sidecar serves one container, so the
// scrape target (pod / address) identifies the container and action; the
// only label here is a bounded status.
//
// Hot path cost: relaxed atomic adds (Counter::inc, Histogram::observe). The
// gate's depth is read at scrape time (gauge callbacks), not kept twice.
#pragma once

#include <cstdint>

#include "libow/metrics.h"

namespace ow::sidecar {

class ApiRelay;
class Gate;

struct SidecarMetrics {
    SidecarMetrics();
    // in-flight / queued from the gate, read at scrape time
    void watch(const Gate &gate);
    // the API relay of the runtime's network namespace, read at scrape time
    void watch(const ApiRelay &relay);
    // status_code of RunOutcome: 0 success ... 3 whisk internal error
    void activation(int status_code, int64_t run_ms);
    void throttled(int64_t retry_after_s);
    // an activation reached the runtime wait_ms after the gateway accepted
    // it (the record's waitTime)
    void started(int64_t wait_ms) { wait_seconds->observe((double)wait_ms / 1000.0); }
    void init(bool ok, int64_t init_ms);
    void logs(uint64_t bytes, bool truncated);
    std::string expose() const { return registry.expose(); }

    ow::metrics::Registry registry;
    ow::metrics::Counter *by_status[4];
    ow::metrics::Counter *throttled_total, *log_bytes, *log_truncations, *init_failed;
    ow::metrics::Histogram *retry_after, *run_seconds, *init_seconds, *wait_seconds;
};

}  // namespace ow::sidecar
