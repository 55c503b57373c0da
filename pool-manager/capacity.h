// capacity.h: answers the gateways' POST /v1/capacity.
//
// - A warm container exists and scale is false: answer at once with the
//   action's warm containers.
// - Otherwise one container is started for the action, and every request
//   for that action that arrives while it starts waits for the same start
//   (coalescing: N concurrent misses → one start). scale=true asks for one
//   more container even when warm ones exist (the caller saw them all busy);
//   it is coalesced the same way, with any start already in flight.
// - A start is refused with 429 when the namespace already has
//   max_per_namespace starting + warm containers.
// - Each waiting request has a deadline (503); the start itself goes on and
//   its container becomes warm for later requests.
// - Init failure (the sidecar wrote "failed <json>") → 502 with the init
//   error; any other failure to start → 503. Unknown action 404, a kind this
//   machine has no runtime for 400, a malformed request 400.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pool-manager/action_source.h"
#include "pool-manager/backend.h"
#include "pool-manager/clock.h"
#include "pool-manager/pool.h"
#include "pool-manager/runtimes.h"
#include "pool-manager/warm_table.h"

namespace ow::pm {

struct CapacityOptions {
    int64_t deadline_ms = 30000;
    int64_t max_per_namespace = 30;
    size_t max_waiters_per_action = 10000;  // bound on parked requests
};

class Capacity {
public:
    using Reply = std::function<void(int status, const nlohmann::json &body)>;

    Capacity(Pool &pool, Backend &backend, ActionSource &actions,
             const Runtimes &runtimes, WarmSink &warm, Clock &clock,
             CapacityOptions opts);
    ~Capacity();

    void request(const std::string &action, bool scale, Reply reply);

    // Id generator (tests make it deterministic).
    void set_id_source(std::function<std::string()> f) { new_id_ = std::move(f); }
    size_t starts_in_flight() const { return starts_.size(); }
    size_t waiting() const;
    int64_t max_per_namespace() const { return opts_.max_per_namespace; }

private:
    struct Waiter {
        uint64_t seq;
        Reply reply;
        Clock::TimerId timer;
    };
    struct Start {
        std::string id;
        std::vector<Waiter> waiters;
    };

    void begin_start(const std::string &action, const std::string &ns,
                     const std::string &path, Reply reply);
    void join(const std::string &action, Reply reply);
    void on_started(const std::string &action, const std::string &id,
                    const StartResult &res);
    void expire(const std::string &action, uint64_t seq);
    nlohmann::json containers_of(const std::string &action) const;

    Pool &pool_;
    Backend &backend_;
    ActionSource &actions_;
    const Runtimes &runtimes_;
    WarmSink &warm_;
    Clock &clock_;
    CapacityOptions opts_;
    std::function<std::string()> new_id_;
    std::map<std::string, Start> starts_;  // by action: the start in flight
    uint64_t seq_ = 0;
};

// {"error": msg, "code": ""}: the OpenWhisk error shape.
nlohmann::json error_body(const std::string &msg);
// A fresh container id: 16 lowercase hex characters.
std::string random_id();

}  // namespace ow::pm
