// compactor.h: empties nearly empty nodes by relocating their containers
// (leader only; the garbage collector runs it after each pass).
//
// Packing (most-allocated placement) and node-emptying collection free a
// node only once everything on it goes idle. After a peak, demand falls
// everywhere at once and every node keeps a few busy containers, so the
// cluster stays spread over as many nodes as at the peak (the benchmark,
// without this: ~79 nodes in use for an hour holding ~35 nodes' worth of
// containers). The compactor does what the Kubernetes descheduler's
// HighNodeUtilization does for a scheduler that scores MostAllocated, with
// one difference that matters for serverless: it takes no capacity away
// before the replacement is warm.
//
// Every pass:
// 1. Nodes to empty: a node in use whose memory and CPU are both at most
//    `max_fill` used, or, while the cluster has `excess_start` nodes in use
//    more than the fewest that could hold everything (until it is down to
//    `excess_stop`: hysteresis), at most `excess_fill` used (without this,
//    after a peak nodes stay 40-70 % used and the benchmark's p95 was 1.22x
//    the first-fit-decreasing packing). Cheapest first: fewest containers
//    that need a replacement, then least used; as long as everything on the nodes
//    being emptied (this one included) fits, first-fit decreasing, into the
//    room left on the other nodes in use: emptying never opens a node. At
//    most `max_nodes` at once. The allocator avoids them (a soft cordon,
//    resource_allocator.h: used only when no other node has room).
// 2. Each warm, unmarked container there: if it is idle `compact_idle_ms`
//    and its action has a spare elsewhere (another warm container idle as
//    long: a busy one is no spare, marking would cost a cold start when
//    demand returns) or was not used within `recent_ms`, it is marked now. Otherwise a replacement is
//    asked for (`start`: placed by the allocator, so away from the nodes
//    being emptied; at most `max_starts` asked and not yet warm), and once a
//    container of the same action that started after the ask is warm
//    elsewhere, this one is marked as a relocation. A replacement not warm
//    after `start_timeout_ms` may be asked for again.
// 3. A node with nothing left on it is done. One not empty after `drain_ms`
//    (replacements failed), or that received a new container (placed there
//    because no other node had room: demand came back), is given up and not
//    picked again for `drain_ms`.
//
// The marks go through the collector (garbage_collector.h): gateways stop
// routing to a marked container while the action has another, so traffic
// moves to the replacement, and the sweep removes the marked one once
// drained. A relocation mark is swept even if the container served after
// the mark (requests in flight then, or a gateway that had not seen the
// mark yet): its replacement serves the action.
//
// Cost: one pass reads the pool once (O(containers)) plus, per node tried,
// a first-fit-decreasing check of the containers of the nodes being
// emptied against the nodes in use: with 10,000 containers on 100 nodes a
// few milliseconds, every --gc-interval.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pool-manager/pool.h"
#include "pool-manager/placement/resource_allocator.h"

namespace ow::pm {

struct CompactorOptions {
    double max_fill = 0.3;             // share; 0 = off (--gc-relocate, in %)
    int64_t max_nodes = 4;             // nodes being emptied at once
    int64_t max_starts = 8;            // replacements asked, not yet warm
    int64_t start_timeout_ms = 60000;  // a replacement not warm by then: ask again
    int64_t drain_ms = 600000;         // a node not empty by then: given up
    int64_t compact_idle_ms = 120000;  // idle this long: no replacement needed
    int64_t recent_ms = 1800000;       // used within this: keep it served
    // The excess: nodes in use beyond the fewest that could hold everything
    // placed (nodes_needed). Once it reaches excess_start, nodes up to
    // excess_fill used are emptied too, least used first, until it is down
    // to excess_stop (nodes being emptied counted as gone). excess_fill <=
    // max_fill: off.
    int64_t excess_start = 3;
    int64_t excess_stop = 2;
    double excess_fill = 0.75;
};

// The fewest of these nodes that could hold what is placed on them (per
// resource, the biggest nodes first; no packing is that tight, so this is a
// lower bound).
int64_t nodes_needed(const std::vector<NodeSpec> &nodes, const Pool &pool);

// One container to mark, and whether the mark is a relocation.
struct CompactorMark {
    std::string id;
    bool relocation = false;
};

class Compactor {
public:
    // start(action, n): ask for n more containers of the action (placed by
    // the allocator). The daemon sends it through Capacity; the benchmark
    // places them itself.
    using Start = std::function<void(const std::string &action, int64_t n)>;

    Compactor(Pool &pool, ResourceAllocator &allocator, CompactorOptions o, Start start);

    // One pass at now_ms: the containers to mark.
    std::vector<CompactorMark> pass(int64_t now_ms);

    // The nodes being emptied, and since when.
    const std::map<std::string, int64_t> &draining() const { return draining_; }
    int64_t replacements_asked() const { return asked_total_; }
    int64_t nodes_emptied() const { return emptied_total_; }

private:
    void update_nodes(int64_t now_ms);
    bool fits_elsewhere(const std::set<std::string> &emptying) const;
    void publish_avoided();

    Pool &pool_;
    ResourceAllocator &allocator_;
    CompactorOptions o_;
    Start start_;
    std::map<std::string, int64_t> draining_;  // node → since
    std::map<std::string, int64_t> cooldown_;  // node → not before
    std::set<std::string> claimed_;            // containers that replaced one
    bool excess_ = false;                      // between excess_start and _stop
    int64_t asked_total_ = 0;
    int64_t emptied_total_ = 0;
};

}  // namespace ow::pm
