// sidecar_metrics.cc: see sidecar_metrics.h.
#include "sidecar/sidecar_metrics.h"

#include "sidecar/api_relay.h"
#include "sidecar/gate.h"

namespace ow::sidecar {

using ow::metrics::default_buckets;

SidecarMetrics::SidecarMetrics() {
    // the status names of openwhisk_action_status (openwhisk-api.md §12)
    static const char *status[] = {"success", "application_error", "action_developer_error",
                                   "whisk_internal_error"};
    for (int i = 0; i < 4; i++)
        by_status[i] = &registry.counter(
            "owx_sidecar_activations_total",
            "Activations this container ran (or recorded as failed), by status.",
            {{"status", status[i]}});
    throttled_total = &registry.counter(
        "owx_sidecar_throttled_total",
        "Requests refused with 429 because the concurrency gate and its buffer were full.");
    // Retry-After is an integer >= 1 up to 60 (retry_after.h)
    retry_after = &registry.histogram(
        "owx_sidecar_retry_after_seconds", "Retry-After values given with the 429s.",
        {1, 2, 5, 10, 30, 60});
    run_seconds = &registry.histogram(
        "owx_sidecar_run_seconds", "Time of /run on the runtime (the activation's duration).",
        default_buckets());
    wait_seconds = &registry.histogram(
        "owx_sidecar_wait_seconds",
        "Gateway accept to /run (the record's waitTime: routing, queueing, a cold start).",
        default_buckets());
    init_seconds = &registry.histogram(
        "owx_sidecar_init_seconds", "Time of /init on the runtime (successful or not).",
        default_buckets());
    init_failed = &registry.counter("owx_sidecar_init_failures_total",
                                    "/init calls that failed (the container exits 3).");
    log_bytes = &registry.counter(
        "owx_sidecar_log_bytes_total",
        "Bytes of action log text stored in activation records (within limits.logs).");
    log_truncations = &registry.counter(
        "owx_sidecar_log_truncations_total",
        "Activations whose logs were cut at limits.logs.");
}

void SidecarMetrics::watch(const Gate &gate) {
    const Gate *g = &gate;
    registry.gauge_fn("owx_sidecar_inflight", "Activations running on the runtime now.",
                      [g] { return (double)g->inflight(); });
    registry.gauge_fn("owx_sidecar_queued",
                      "Activations admitted and waiting in the buffer for a free slot.",
                      [g] { return (double)g->queued(); });
    registry.gauge_fn("owx_sidecar_concurrency", "The action's limits.concurrency.",
                      [g] { return (double)g->concurrency(); });
}

void SidecarMetrics::watch(const ApiRelay &relay) {
    const ApiRelay *r = &relay;
    registry.gauge_fn("owx_sidecar_api_relay_connections",
                      "The action's connections to the API relayed now (runtime_netns.h).",
                      [r] { return (double)r->active(); });
    static const char *results[] = {"relayed", "refused", "unreachable", "idle"};
    for (int i = 0; i < 4; i++) {
        registry.counter_fn(
            "owx_sidecar_api_relay_total",
            "The action's connections to the API, by outcome: relayed, refused (over the "
            "bound), unreachable (the gateway did not answer the connect), idle (closed "
            "for idleness).",
            [r, i] {
                const ApiRelayCounters &c = r->counters();
                return (double)(i == 0 ? c.accepted : i == 1 ? c.refused
                                : i == 2 ? c.failed : c.timed_out);
            },
            {{"result", results[i]}});
    }
}

void SidecarMetrics::activation(int status_code, int64_t run_ms) {
    if (status_code < 0 || status_code > 3) status_code = 3;
    by_status[status_code]->inc();
    if (run_ms >= 0) run_seconds->observe((double)run_ms / 1000.0);
}

void SidecarMetrics::throttled(int64_t retry_after_s) {
    throttled_total->inc();
    retry_after->observe((double)retry_after_s);
}

void SidecarMetrics::init(bool ok, int64_t init_ms) {
    if (!ok) init_failed->inc();
    init_seconds->observe((double)init_ms / 1000.0);
}

void SidecarMetrics::logs(uint64_t bytes, bool truncated) {
    log_bytes->inc(bytes);
    if (truncated) log_truncations->inc();
}

}  // namespace ow::sidecar
