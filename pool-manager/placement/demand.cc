// demand.cc: see demand.h.
#include "pool-manager/placement/demand.h"

#include <algorithm>

namespace ow::pm {

int64_t containers_to_start(const Demand &d) {
    if (d.parked <= 0) return 0;
    int64_t c = std::max<int64_t>(d.concurrency, 1);
    int64_t want = std::min(d.max_starting, (d.parked + c - 1) / c);
    int64_t n = std::min(want - d.starting, d.room);
    return std::max<int64_t>(n, 0);
}

}  // namespace ow::pm
