// capacity.h: answers the gateways' POST /v1/capacity.
//
// - A warm container exists and scale is false: answer at once with the
//   action's warm containers. Gateways route to warm containers without
//   reading the action (no Redis on the warm path) and forget an action's
//   containers when its entity event says it changed, so a request that
//   reaches here with warm containers is a miss: the document is read, and
//   warm containers started from an older version (the action was updated
//   since) are retired, so the request gets the new code (OpenWhisk matches
//   containers by revision the same way).
// - Otherwise the request parks on the action's starts. How many
//   containers start follows the parked demand, not the request count
//   (demand.h): ceil(parked / concurrency) minus those already starting,
//   capped. While the action has no warm container at most one starts (the
//   first start also proves that the action initializes: a broken action
//   costs one container, not N), so N concurrent cold misses → one start.
//   scale=true (the caller saw every warm container busy) parks the same
//   way and sizes the starts by the parked demand the gateway reports
//   ("parked": how many of its requests wait for this action, this one
//   included; 1 when absent), the largest report among the requests
//   parked here, up to max_starts_per_action at once. Concurrent scale
//   requests without a count therefore still share one more container.
//   The first start that becomes ready answers every parked request.
// - Each new container is placed on a node by the resource allocator
//   (resource_allocator.h), the one place that allocates; no node with
//   room → 503 (when nothing else is starting for the action).
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
#include "pool-manager/backends/backend.h"
#include "pool-manager/clock.h"
#include "pool-manager/pool.h"
#include "pool-manager/placement/resource_allocator.h"
#include "pool-manager/runtimes.h"
#include "pool-manager/placement/stemcell_pool.h"
#include "pool-manager/warm_table.h"

namespace ow::pm {

struct CapacityOptions {
    int64_t deadline_ms = 30000;
    int64_t max_per_namespace = 30;
    size_t max_waiters_per_action = 10000;  // bound on parked requests
    int64_t max_starts_per_action = 10;     // containers starting at once
};

class Capacity {
public:
    using Reply = std::function<void(int status, const nlohmann::json &body)>;

    Capacity(Pool &pool, Backend &backend, ActionSource &actions,
             const Runtimes &runtimes, WarmSink &warm, Clock &clock,
             CapacityOptions opts, ResourceAllocator *allocator = nullptr);
    ~Capacity();

    // parked: the gateway's count of requests waiting for the action (>= 1).
    // web: a web request (openwhisk-api.md §7): an action that is not
    // web-exported is 404 before anything starts for it (the sidecar would
    // say 404 too, but only after a cold start).
    void request(const std::string &action, bool scale, Reply reply, int64_t parked = 1,
                 bool web = false);

    // Id generator (tests make it deterministic).
    void set_id_source(std::function<std::string()> f) { new_id_ = std::move(f); }
    // Cold starts whose kind and memory match take a prewarmed container
    // from here (stemcell_pool.h); nullptr: always start from nothing.
    void set_stemcells(StemcellPool *p) { stemcells_ = p; }
    // How warm containers are retired (Manager::retire in the daemon):
    // outdated ones, and idle ones evicted to make room; unset: they are not.
    using Retire = std::function<void(const std::string &id, const char *why)>;
    void set_retire(Retire f) { retire_ = std::move(f); }
    // A container left the pool (exited, reaped): a start waiting for the
    // room an eviction frees tries again (Manager calls it).
    void room_freed();
    // Containers starting (all actions).
    size_t starts_in_flight() const;
    size_t waiting() const;
    int64_t max_per_namespace() const { return opts_.max_per_namespace; }
    // Whether a container of action may start in namespace ns: it is under
    // its cap (max_containers, the namespace's limit; 0: the default), or an
    // idle container of another action can be evicted.
    bool room_for(const std::string &action, const std::string &ns,
                  int64_t max_containers) const;
    // The cap of a namespace whose limit is max_containers (0: default).
    int64_t cap_of(int64_t max_containers) const {
        return max_containers > 0 ? max_containers : opts_.max_per_namespace;
    }
    // When a cold start refused at the namespace's cap may succeed: the
    // soonest any of its containers is likely to be idle, by the run times
    // its sidecar observed (libow/retry_after.h), 1..60 s.
    int64_t retry_after_s(const std::string &ns) const;

private:
    struct Waiter {
        uint64_t seq;
        int64_t parked;  // the demand its gateway reported
        Reply reply;
        Clock::TimerId timer;
    };
    // One action's starts in flight and the requests parked on them. The
    // action's document is read once, when the group begins.
    struct Start {
        std::vector<std::string> ids;  // containers starting
        std::vector<Waiter> waiters;
        std::string ns;
        const Runtime *rt = nullptr;
        int64_t memory = 256;
        int64_t concurrency = 1;
        bool conductor = false;  // say so in the answer (gateway compose)
        nlohmann::json web_facts;  // a conductor's, for a web request
        std::string version;     // the document's, recorded on each container
        int64_t instances = 0;   // limits.instances: at most this many
                                 // containers of the action; 0 = no bound
        int64_t cap = 0;         // the namespace's containers (cap_of)
        bool wants_room = false; // no node had room: an eviction is under way
    };

    bool begin_group(const std::string &action, const std::string &ns,
                     const std::string &path, Reply &reply, bool web);
    void grow(const std::string &action, bool have_warm, Reply reply, int64_t parked);
    // stemcell false: from nothing (the fallback of a failed specialization)
    bool start_one(const std::string &action, Start &s, bool stemcell = true);
    void on_specialized(const std::string &action, const std::string &id,
                        const StartResult &res);
    void join(const std::string &action, Reply reply, int64_t parked);
    void on_started(const std::string &action, const std::string &id,
                    const StartResult &res);
    void expire(const std::string &action, uint64_t seq);
    // Retires the namespace's least recently used idle container of another
    // action than this one (OpenWhisk's pool removes a free container to make
    // room); false when every one is busy or there is no retire_.
    bool evict_for(const std::string &action, const std::string &ns);
    // The container evict_for would retire, or nullptr. ns "": any
    // namespace (the cluster is full), nodes that hold fewest first.
    const Container *eviction_victim(const std::string &action, const std::string &ns) const;
    // No node has room for a container of action: retires the least
    // recently used idle container of any namespace, preferring one whose
    // removal empties its node; its room counts once it has exited
    // (room_freed). False when nothing is idle.
    bool evict_for_room(const std::string &action, Start &s);
    // No start at all and no room to be made: the 503 for every waiter.
    void no_room(std::map<std::string, Start>::iterator it);
    nlohmann::json containers_of(const std::string &action) const;
    // Reads the action's document for a request that found warm containers:
    // retires those of another version than the document's (with retire_
    // set) and says whether it is a conductor action (*conductor: its
    // ActionInfo, else null); true while some warm container is left.
    bool check_warm(const std::string &action, const std::string &ns,
                    const std::string &path, ActionInfo *conductor);

    Pool &pool_;
    Backend &backend_;
    ActionSource &actions_;
    const Runtimes &runtimes_;
    WarmSink &warm_;
    Clock &clock_;
    CapacityOptions opts_;
    ResourceAllocator *allocator_;  // nullptr: no placement (one unbounded node)
    StemcellPool *stemcells_ = nullptr;
    std::function<std::string()> new_id_;
    Retire retire_;
    std::map<std::string, Start> starts_;  // by action: the start in flight
    uint64_t seq_ = 0;
};

// {"error": msg, "code": ""}: the OpenWhisk error shape.
nlohmann::json error_body(const std::string &msg);
// A fresh container id: 16 lowercase hex characters.
std::string random_id();

}  // namespace ow::pm
