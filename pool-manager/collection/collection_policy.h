// collection_policy.h: which idle containers the garbage collector marks
// (garbage_collector.h). A policy only chooses, from the pool and the time;
// the collector publishes the marks, waits the grace period and sweeps.
//
// Every policy considers only "idle" containers: warm, not already marked,
// their sidecar's last /health answer known and successful, nothing in
// flight or queued, and the last use (lastUsed, or the start if never used)
// at least the idle timeout ago. A container whose health is unknown is
// never chosen: we do not remove what we cannot see is drained.
//
// - IdleTimeoutPolicy ("idle-timeout"): OpenWhisk's rule, every idle
//   container, oldest use first.
// - NodeEmptyingPolicy ("node-emptying", the default): compaction. The
//   idle containers, ordered so that those whose removal empties their
//   node (or leaves the fewest containers on it) come first, so whole nodes
//   free up and the cluster can shrink. Waiting the full idle timeout on
//   every node would leave churn's fragmentation in place for that long, so
//   on a node the policy can empty or nearly empty (after its idle
//   containers go, at most `compact_max_left` stay, and it holds at most
//   `compact_max_fill` of the memory the fullest node holds) containers
//   idle for only `compact_idle_ms` go as well; on busier nodes idle
//   containers stay until the full timeout (a request that comes back finds
//   them warm, and removing them would free no node). For each action used
//   within `recent_ms`, `min_warm` containers are kept warm (not marked):
//   those on the nodes that stay busiest, never the ones that would empty a
//   node when another will do.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pool-manager/pool.h"

namespace ow::pm {

class CollectionPolicy {
public:
    virtual ~CollectionPolicy() = default;
    virtual const char *name() const = 0;
    // Ids to mark now, in the order they should go.
    virtual std::vector<std::string> choose(const Pool &pool, int64_t now_ms) const = 0;
};

// Warm, unmarked, health known and answering, nothing in flight or queued,
// last use at least idle_ms ago.
bool is_idle(const Container &c, int64_t now_ms, int64_t idle_ms);

class IdleTimeoutPolicy : public CollectionPolicy {
public:
    explicit IdleTimeoutPolicy(int64_t idle_ms) : idle_ms_(idle_ms) {}
    const char *name() const override { return "idle-timeout"; }
    std::vector<std::string> choose(const Pool &pool, int64_t now_ms) const override;

private:
    int64_t idle_ms_;
};

struct NodeEmptyingOptions {
    int64_t idle_ms = 600000;
    int64_t min_warm = 1;           // kept per recently used action
    int64_t recent_ms = 1800000;    // "recently used": last use this recent
    // Compaction (--gc-compact-idle): idle this long is enough on a node
    // that can be emptied or nearly; 0 (or >= idle_ms) = off, every node
    // waits idle_ms.
    int64_t compact_idle_ms = 120000;
    int64_t compact_max_left = 1;    // "nearly empty": containers that stay
    double compact_max_fill = 0.5;   // share of the fullest node's memory
};

class NodeEmptyingPolicy : public CollectionPolicy {
public:
    explicit NodeEmptyingPolicy(NodeEmptyingOptions o) : o_(o) {}
    const char *name() const override { return "node-emptying"; }
    std::vector<std::string> choose(const Pool &pool, int64_t now_ms) const override;

private:
    NodeEmptyingOptions o_;
};

// "idle-timeout" or "node-emptying"; nullptr for anything else.
std::unique_ptr<CollectionPolicy> make_policy(const std::string &name,
                                              NodeEmptyingOptions o);

}  // namespace ow::pm
