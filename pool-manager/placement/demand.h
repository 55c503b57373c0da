// demand.h: how many containers to start for an action, from its parked
// demand, not from the number of requests (a container of concurrency c
// serves c parked requests at once).
#pragma once

#include <cstdint>

namespace ow::pm {

struct Demand {
    int64_t parked = 0;        // requests waiting for a container of the action
    int64_t concurrency = 1;   // how many one container runs at once
    int64_t starting = 0;      // containers of the action already starting
    int64_t max_starting = 1;  // cap on starting containers of the action
    int64_t room = 0;          // what the namespace cap still allows
};

// ceil(parked / concurrency), capped at max_starting, minus what is already
// starting, capped by room; never negative.
int64_t containers_to_start(const Demand &d);

}  // namespace ow::pm
