// idle_collector.cc: see idle_collector.h.
#include "pool-manager/idle_collector.h"

#include <algorithm>

namespace ow::pm {

std::vector<std::string> IdleCollector::collect(const Pool &pool, int64_t now_ms) {
    std::vector<std::string> out;
    for (const auto &kv : pool.all()) {
        const Container &c = kv.second;
        if (c.state != State::warm || !c.health.known || c.health.failures > 0) continue;
        if (c.health.inflight != 0 || c.health.queued != 0) continue;
        int64_t last = std::max(c.health.last_used, c.started_ms);
        if (now_ms - last >= idle_ms_) out.push_back(c.id);
    }
    return out;
}

}  // namespace ow::pm
