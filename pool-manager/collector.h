// collector.h: which containers to remove, given the pool and the time.
// Policies are swappable (idle timeout now; mark-and-sweep with node
// emptying later). A collector only chooses: the manager unroutes (warm
// table del), then drains and stops what it chose.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pool-manager/pool.h"

namespace ow::pm {

class Collector {
public:
    virtual ~Collector() = default;
    virtual std::vector<std::string> collect(const Pool &pool, int64_t now_ms) = 0;
};

}  // namespace ow::pm
