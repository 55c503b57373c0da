// manager.h: keeps the pool true to the world, level-based:
// - exited containers leave the pool and the warm table at once;
// - every health interval each warm container's sidecar is polled (GET
//   /health); an adopted container (not our child, so no SIGCHLD) that stops
//   answering is treated as dead;
// - the health answers feed the garbage collector (garbage_collector.h),
//   which runs on its own timer;
// - at startup, the warm table left by a previous pool-manager is
//   reconciled: entries whose sidecar answers are adopted, the rest deleted.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "pool-manager/backends/backend.h"
#include "pool-manager/clock.h"
#include "pool-manager/pool.h"
#include "pool-manager/warm_table.h"

namespace ow::pm {

struct ManagerOptions {
    int64_t health_interval_ms = 2000;
    int64_t stop_grace_ms = 10000;
    int adopted_max_failures = 3;
};

class Manager {
public:
    using ProbeDone = std::function<void(bool ok, const Health &h)>;
    using Probe = std::function<void(const std::string &addr, ProbeDone done)>;

    Manager(Pool &pool, Backend &backend, WarmSink &warm, Clock &clock,
            Probe probe, ManagerOptions opts);

    // Starts the periodic health poll.
    void run();
    // One round (run() calls it every health interval; tests call it).
    void tick();
    void on_exit(const std::string &id, int status);
    // Unroutes, drains and stops one container.
    void retire(const std::string &id, const char *why);
    // Runs after a container left the pool, its node's room free again
    // (Capacity::room_freed: a start waiting for an eviction).
    void set_on_removed(std::function<void()> f) { on_removed_ = std::move(f); }
    // Startup: entries = owx:{warm} values left by a previous pool-manager.
    // done(kept) runs once every entry has been probed and adopted or not;
    // the caller then rewrites the table to the pool's warm set.
    void adopt(const std::vector<std::string> &entries,
               std::function<void(size_t kept)> done);

private:
    void schedule();

    Pool &pool_;
    Backend &backend_;
    WarmSink &warm_;
    Clock &clock_;
    Probe probe_;
    ManagerOptions opts_;
    std::set<std::string> polling_;  // ids with a probe outstanding
    std::function<void()> on_removed_;
};

}  // namespace ow::pm
