// pm_metrics.cc: see pm_metrics.h.
#include "pool-manager/pm_metrics.h"

#include "pool-manager/pool.h"
#include "pool-manager/placement/resource_allocator.h"
#include "pool-manager/placement/stemcell_pool.h"

namespace ow::pm {

using ow::metrics::Labels;
using ow::metrics::Registry;

PmMetrics &pm_metrics() {
    static PmMetrics m;
    return m;
}

PmMetrics::PmMetrics() {
    auto &r = registry_;
    leader_ = &r.gauge("owx_pool_manager_leader",
                       "1 while this replica holds the pool-manager lease, else 0.");
    leader_->set(1);
    r.gauge_set_fn("owx_pool_manager_containers", "Containers in the pool by state.", [this] {
        Registry::Samples s;
        if (!pool_) return s;
        int64_t n[3] = {0, 0, 0}, marked = 0;
        for (const auto &kv : pool_->all()) {
            const Container &c = kv.second;
            if (c.state == State::starting) n[0]++;
            else if (c.state == State::warm && c.marked_ms != 0) marked++;
            else if (c.state == State::warm) n[1]++;
            else if (c.state == State::stopping) n[2]++;
        }
        // a marked container is warm but no longer routed to: its own state
        s.push_back({{{"state", "starting"}}, (double)n[0]});
        s.push_back({{{"state", "warm"}}, (double)n[1]});
        s.push_back({{{"state", "marked"}}, (double)marked});
        s.push_back({{{"state", "stopping"}}, (double)n[2]});
        return s;
    });
    r.gauge_set_fn("owx_pool_manager_stemcells", "Prewarmed stemcells by state.", [this] {
        Registry::Samples s;
        if (!cells_) return s;
        int64_t ready = 0, starting = 0;
        for (const auto &c : cells_->list()) {
            if (c.value("state", "") == "ready") ready++;
            else starting++;
        }
        s.push_back({{{"state", "ready"}}, (double)ready});
        s.push_back({{{"state", "starting"}}, (double)starting});
        return s;
    });
    r.gauge_set_fn("owx_pool_manager_node_memory_mb",
                   "Memory per node: what its containers hold (used) and its size (capacity).",
                   [this] {
        Registry::Samples s;
        if (!pool_ || !alloc_) return s;
        for (const auto &n : alloc_->nodes()) {
            s.push_back({{{"node", n.name}, {"which", "used"}}, (double)pool_->load(n.name).used.mem});
            s.push_back({{{"node", n.name}, {"which", "capacity"}}, (double)n.capacity.mem});
        }
        return s;
    });
    r.gauge_set_fn("owx_pool_manager_node_containers",
                   "Containers placed per node (starting, warm and stopping).", [this] {
        Registry::Samples s;
        if (!pool_ || !alloc_) return s;
        for (const auto &n : alloc_->nodes())
            s.push_back({{{"node", n.name}}, (double)pool_->load(n.name).containers});
        return s;
    });
    stemcell_hits_ = &r.counter("owx_pool_manager_stemcell_starts_total",
                                "Container starts by whether a ready stemcell was used.",
                                {{"result", "hit"}});
    stemcell_misses_ = &r.counter("owx_pool_manager_stemcell_starts_total", "",
                                  {{"result", "miss"}});
    const char *gc_help = "Collection decisions: marked idle, marked for relocation off a node "
                          "being emptied (relocated), unmarked (used or asked), swept, evicted "
                          "(an idle container retired at once to make room for a cold start).";
    marked_ = &r.counter("owx_pool_manager_collection_total", gc_help, {{"decision", "marked"}});
    unmarked_ = &r.counter("owx_pool_manager_collection_total", gc_help, {{"decision", "unmarked"}});
    swept_ = &r.counter("owx_pool_manager_collection_total", gc_help, {{"decision", "swept"}});
    evicted_ = &r.counter("owx_pool_manager_collection_total", gc_help, {{"decision", "evicted"}});
    relocated_ = &r.counter("owx_pool_manager_collection_total", gc_help,
                            {{"decision", "relocated"}});
    static const char *cap[] = {"ok", "client_error", "throttled", "unavailable"};
    for (int i = 0; i < 4; i++)
        capacity_[i] = &r.counter("owx_pool_manager_capacity_requests_total",
                                  "POST /v1/capacity answers: ok (200), client_error (4xx but "
                                  "429), throttled (429), unavailable (5xx).",
                                  {{"result", cap[i]}});
    capacity_seconds_ = &r.histogram("owx_pool_manager_capacity_seconds",
                                     "Time to answer POST /v1/capacity.",
                                     {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
    static const char *st[] = {"ok", "init_failed", "failed"};
    for (int i = 0; i < 3; i++)
        starts_[i] = &r.counter("owx_pool_manager_container_starts_total",
                                "Container starts by outcome (backend start to ready).",
                                {{"result", st[i]}});
    start_seconds_ = &r.histogram("owx_pool_manager_container_start_seconds",
                                  "Backend start to ready (or failure) of a container.",
                                  {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
}

void PmMetrics::watch(const Pool *pool, const ResourceAllocator *alloc,
                      const StemcellPool *cells) {
    pool_ = pool;
    alloc_ = alloc;
    cells_ = cells;
}

void PmMetrics::placement(const std::string &node, const std::string &strategy) {
    // a cold path (a container start): the lookup under the registry's lock
    // is cheap next to a fork; nodes and strategies are bounded
    Labels l = {{"node", node.empty() ? "none" : node}, {"strategy", strategy},
                {"outcome", node.empty() ? "no_room" : "placed"}};
    registry_.counter("owx_pool_manager_placements_total",
                      "Placement decisions by node, strategy and outcome (placed / no_room).", l)
        .inc();
}

void PmMetrics::capacity(int status, double seconds) {
    int i = status < 400 ? 0 : status == 429 ? 2 : status < 500 ? 1 : 3;
    capacity_[i]->inc();
    capacity_seconds_->observe(seconds);
}

void PmMetrics::refused(const std::string &limit) {
    registry_.counter("owx_pool_manager_refused_total",
                      "Cold starts refused, by the limit that refused them (namespace: its "
                      "container cap with every container busy; cluster: no node has room).",
                      {{"limit", limit}})
        .inc();
}

void PmMetrics::container_start(bool ok, bool init_failed, double seconds) {
    starts_[ok ? 0 : init_failed ? 1 : 2]->inc();
    start_seconds_->observe(seconds);
}

void PmMetrics::backend_call(const std::string &op, bool ok, double seconds) {
    registry_.counter("owx_pool_manager_backend_requests_total",
                      "Backend API calls by operation and result.",
                      {{"op", op}, {"result", ok ? "ok" : "error"}})
        .inc();
    registry_.histogram("owx_pool_manager_backend_request_seconds",
                        "Backend API call latency.",
                        {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}, {{"op", op}})
        .observe(seconds);
}

}  // namespace ow::pm
