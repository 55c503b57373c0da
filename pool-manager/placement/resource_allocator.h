// resource_allocator.h: places a new container on a node with room.
//
// The allocator is given the nodes (nodes.h) and what is already placed on
// each (NodeLoad), filters the nodes where the container fits (CPU, memory,
// GPU and the per-node container cap), and lets a strategy choose among
// them (a container that asks for no GPU is offered the GPU nodes only when
// no other node has room). Strategies, each a small class behind one
// interface:
// - most-allocated (default): the node that is fullest after placing it,
//   so containers pack, whole nodes stay empty and can be given back;
// - least-allocated: the emptiest node (spreading, kube-scheduler's
//   default), for latency isolation at the cost of nodes in use;
// - random: a uniformly random node with room, seeded (the baseline: what
//   OpenWhisk's invokers amount to).
// Only the leader allocates: Capacity (capacity.h) is the one caller in the
// daemon; the simulation (sim/pool_sim.cc) drives the same code.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "pool-manager/nodes.h"
#include "pool-manager/pool.h"

namespace ow::pm {

// Whether req fits on node n with load l (every resource and the cap).
bool fits(const NodeSpec &n, const NodeLoad &l, const Resources &req);

class PlacementStrategy {
public:
    virtual ~PlacementStrategy() = default;
    virtual const char *name() const = 0;
    // Chooses among the candidate nodes (indexes into nodes/loads, all of
    // which have room for req, in node order; never empty): returns one of
    // the candidates.
    virtual size_t choose(const std::vector<NodeSpec> &nodes,
                          const std::vector<NodeLoad> &loads,
                          const std::vector<size_t> &candidates,
                          const Resources &req) = 0;
};

// Fraction of node n that is used after adding req, averaged over CPU and
// memory (the resources every node has) plus GPU when req asks for one.
double utilization_after(const NodeSpec &n, const NodeLoad &l, const Resources &req);

class MostAllocated : public PlacementStrategy {
public:
    const char *name() const override { return "most-allocated"; }
    size_t choose(const std::vector<NodeSpec> &nodes, const std::vector<NodeLoad> &loads,
                  const std::vector<size_t> &candidates, const Resources &req) override;
};

class LeastAllocated : public PlacementStrategy {
public:
    const char *name() const override { return "least-allocated"; }
    size_t choose(const std::vector<NodeSpec> &nodes, const std::vector<NodeLoad> &loads,
                  const std::vector<size_t> &candidates, const Resources &req) override;
};

class RandomPlacement : public PlacementStrategy {
public:
    explicit RandomPlacement(uint64_t seed) : rng_(seed) {}
    const char *name() const override { return "random"; }
    size_t choose(const std::vector<NodeSpec> &nodes, const std::vector<NodeLoad> &loads,
                  const std::vector<size_t> &candidates, const Resources &req) override;

private:
    std::mt19937_64 rng_;
};

// "most-allocated", "least-allocated" or "random"; nullptr for anything else.
std::unique_ptr<PlacementStrategy> make_strategy(const std::string &name, uint64_t seed);

class ResourceAllocator {
public:
    // cpu_per_gb: millicores a container reserves per GB of its memory
    // limit (OpenWhisk gives CPU in proportion to memory); 0 = CPU is not
    // reserved (the local backend's default: it cannot enforce it).
    ResourceAllocator(std::vector<NodeSpec> nodes, std::unique_ptr<PlacementStrategy> strategy,
                      int64_t cpu_per_gb = 0);

    // What a container of an action with this memory limit reserves.
    Resources demand(int64_t memory_mb, int64_t gpu = 0) const;
    // The node index for req given the loads (one per node), or -1 when no
    // node has room.
    int place(const std::vector<NodeLoad> &loads, const Resources &req);
    // Level-based: reads the pool's running per-node loads (Pool::load(),
    // kept on every add, state change and remove: no recount of the pool
    // per placement), then places. Starting, warm and stopping containers
    // hold their resources until they are gone. Returns the node's name, or
    // "" when no node has room.
    std::string place(const Pool &pool, const Resources &req);
    // One load per node recounted from the pool's containers (those on a
    // node this allocator does not know, e.g. adopted after --nodes changed,
    // count nowhere): what the running loads must always equal (tests).
    std::vector<NodeLoad> tally(const Pool &pool) const;
    // Index of a node by name, -1 when unknown.
    int index_of(const std::string &name) const;

    // Replaces the node list (the Kubernetes backend's node watch: nodes
    // join, leave, are cordoned). Loads are kept by node name in the pool,
    // so containers on a node that left simply count nowhere.
    void set_nodes(std::vector<NodeSpec> nodes);
    // Nodes being emptied (compactor.h): placed on only when no other node
    // has room (a soft cordon: demand is never refused for it).
    void set_avoided(const std::set<std::string> &names);

    const std::vector<NodeSpec> &nodes() const { return nodes_; }
    const PlacementStrategy &strategy() const { return *strategy_; }

private:
    std::vector<NodeSpec> nodes_;
    std::map<std::string, size_t> by_name_;
    std::set<std::string> avoided_names_;
    std::vector<bool> avoided_;       // by node index
    std::unique_ptr<PlacementStrategy> strategy_;
    int64_t cpu_per_gb_;
    std::vector<size_t> candidates_;  // reused: no allocation per placement
    std::vector<NodeLoad> loads_;     // reused by place(pool)
};

}  // namespace ow::pm
