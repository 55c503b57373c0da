// pool.h: the containers this pool-manager knows, by id and by action.
//
// A container is starting (sidecar spawned, not ready), warm (ready and in
// the warm table), stopping (unrouted, draining) or gone (removed). The pool
// is plain data: who decides what happens to a container lives elsewhere
// (capacity.h starts, manager.h reaps and retires).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pool-manager/nodes.h"

namespace ow::pm {

enum class State { starting, warm, stopping, gone };
const char *state_name(State s);

// The last GET /health answer of a container's sidecar.
struct Health {
    bool known = false;      // at least one answer received
    bool ready = false;
    int64_t inflight = 0;
    int64_t queued = 0;
    int64_t last_used = 0;   // epoch ms, as the sidecar reports it
    int64_t activations = 0;
    int64_t mean_run_ms = 0; // the sidecar's recent mean run time (0: none yet)
    int64_t checked_ms = 0;  // when the last answer arrived
    int failures = 0;        // consecutive failed polls
};

struct Container {
    std::string id;
    std::string action;      // "<ns>/<path>"
    std::string ns;
    std::string kind;        // resolved kind, e.g. "nodejs:20"
    // The action document's version it was started with ("" = unknown: an
    // entry adopted from a pool-manager that did not record it). A capacity
    // request retires warm containers of an older version (capacity.h).
    std::string version;
    std::string addr;        // "127.0.0.1:port" once ready
    int64_t memory = 256;    // MB
    int64_t cpu = 0;         // millicores reserved on its node (placement)
    int64_t gpu = 0;         // GPUs reserved on its node (placement)
    std::string node;        // the node it was placed on ("" = unknown)
    int64_t concurrency = 1;
    int64_t started_ms = 0;  // epoch ms when the start was asked for
    int64_t pid = 0;         // local backend: the sidecar's pid (0: unknown)
    State state = State::starting;
    bool adopted = false;    // left by a previous pool-manager, watched by polling
    // Garbage collection (garbage_collector.h): when the collector marked
    // this warm container (0 = not marked). A marked container stays in the
    // warm table with "marked":true; gateways route to it only as a last
    // resort, and it is swept after the grace period if still idle.
    int64_t marked_ms = 0;
    // Relocation (compactor.h): when a replacement was asked for this
    // container of a node being emptied (0 = none), and whether its mark is
    // a relocation (swept once drained even if it served since the mark:
    // the gateways had its replacement meanwhile).
    int64_t relocate_ms = 0;
    bool relocating = false;
    Health health;
};

// The last use of a container: its sidecar's lastUsed, or its start.
int64_t last_use(const Container &c);

// Splits an action key "<ns>/<path>" (path = name, pkg/name, or
// owner/pkg/name for another namespace's package: libow/action_ref.h); ns is
// the invoker's namespace, the one containers count against. False on
// anything else.
bool split_action(const std::string &action, std::string *ns,
                  std::string *path);

// The warm-table entry (owx:{warm} field value) of a container.
nlohmann::json warm_entry(const Container &c);
// The event body after "v": "op", "id", "action", "addr", "concurrency".
nlohmann::json warm_event(const Container &c, const char *op);
// Everything, for GET /v1/containers.
nlohmann::json describe(const Container &c);

// The pool keeps a running load per node (what its starting, warm and
// stopping containers hold: every state but gone), updated on add, remove
// and set_state, so the allocator never recounts the pool to place one
// container. Hence a stored container's node, memory, cpu and gpu must not
// be changed in place (re-add it instead), and it becomes gone only
// through set_state; starting/warm/stopping may be assigned directly
// (they all hold their resources).
class Pool {
public:
    // Adds c (replacing an entry with the same id); returns the stored one.
    Container &add(Container c);
    Container *find(const std::string &id);
    const Container *find(const std::string &id) const;
    bool remove(const std::string &id);
    // Changes a container's state, keeping the node loads; false when the
    // id is unknown.
    bool set_state(const std::string &id, State s);
    // What is placed on a node (zero for a node with nothing on it).
    const NodeLoad &load(const std::string &node) const;
    // Room a stemcell holds on a node (stemcell_pool.h): in the node's
    // load like a container's (it is a process, or a pod, there), so
    // nothing else is placed in it; released when the stemcell is gone or
    // becomes an action's container (which then holds it).
    void hold(const std::string &node, const Resources &r);
    void release(const std::string &node, const Resources &r);
    // The holds alone, by node (what ResourceAllocator::tally adds).
    const std::map<std::string, NodeLoad> &holds() const { return holds_; }
    // Every node with something placed on it ("" included: containers
    // without a node), by name.
    const std::map<std::string, NodeLoad> &loads() const { return loads_; }

    // Containers of one action in one state, oldest first.
    std::vector<const Container *> of_action(const std::string &action,
                                             State s) const;
    // Starting + warm containers of a namespace: what the cap counts
    // (stopping ones are already unrouted and on their way out).
    size_t count_namespace(const std::string &ns) const;
    // All warm containers (what the warm table must hold).
    std::vector<Container> warm() const;

    const std::map<std::string, Container> &all() const { return by_id_; }
    size_t size() const { return by_id_.size(); }

private:
    void count(const Container &c, int sign);
    static void add_load(std::map<std::string, NodeLoad> *loads, const std::string &node,
                         const Resources &r, int sign);

    std::map<std::string, Container> by_id_;
    std::map<std::string, NodeLoad> loads_;  // by node; no empty entries
    std::map<std::string, NodeLoad> holds_;  // by node; no empty entries
};

}  // namespace ow::pm
