// idle_collector.h: removes warm containers idle for longer than a timeout:
// the sidecar's last /health answer says nothing is in flight or queued, and
// its lastUsed (or the container's start, if never used) is older than
// idle_timeout. A container whose health is unknown is never collected
// (we do not remove what we cannot see is drained).
#pragma once

#include "pool-manager/collector.h"

namespace ow::pm {

class IdleCollector : public Collector {
public:
    explicit IdleCollector(int64_t idle_timeout_ms) : idle_ms_(idle_timeout_ms) {}
    std::vector<std::string> collect(const Pool &pool, int64_t now_ms) override;

private:
    int64_t idle_ms_;
};

}  // namespace ow::pm
