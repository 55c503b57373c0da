// health_poller.h: GET /health of a sidecar, asynchronously, with a
// deadline. Used every few seconds for every warm container (idle
// collection, dead adopted containers) and at startup to decide which
// warm-table entries of a previous pool-manager are still alive.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <string>

#include "pool-manager/pool.h"

namespace ow::pm {

class HealthPoller {
public:
    // ok=false: no connection, timeout, non-200 or unreadable body.
    using Done = std::function<void(bool ok, const Health &h)>;
    HealthPoller(boost::asio::io_context &io, int64_t timeout_ms)
        : io_(io), timeout_ms_(timeout_ms) {}
    void check(const std::string &addr, Done done);

private:
    boost::asio::io_context &io_;
    int64_t timeout_ms_;
};

// Parses a /health body; false when it is not the sidecar's shape.
bool parse_health(const std::string &body, Health *h);

}  // namespace ow::pm
