// garbage_collector.h: mark-and-sweep removal of idle containers (leader
// only), replacing the plain idle timeout. Every pass (--gc-interval):
//
// 1. Unmark what gateways asked for: a gateway that had only marked
//    containers for a waiting request used one and wrote its id to
//    owx:{warm}:unmark (docs/redis-schema.md).
// 2. Sweep each container marked at least --gc-grace ago that is still
//    idle and drained as its sidecar reports it (a /health answer received
//    after the mark: nothing in flight or queued, lastUsed before the mark).
//    The warm-table entry is deleted first, by a script that deletes it only
//    while it is still marked and no unmark request is pending (published
//    "del": gateways stop routing), then the backend drains and stops the
//    container (SIGTERM, SIGKILL after --stop-grace). A marked container
//    found used or busy is unmarked instead; one whose health is unknown
//    or failing is left marked until it can be seen.
// 3. Mark what the policy chooses (collection_policy.h): the entry gains
//    "marked":true and op "mark" is published; gateways route to a marked
//    container only when the action has no other.
// 4. With a compactor (compactor.h): mark what it chooses on the nodes it
//    empties; a relocation mark is swept once drained even if the container
//    served after the mark (its replacement took over).
//
// Level-based: each pass looks at the pool as it is, so a pass can be
// skipped (not the leader, Redis away) and the next one catches up.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pool-manager/backends/backend.h"
#include "pool-manager/clock.h"
#include "pool-manager/collection/collection_policy.h"
#include "pool-manager/collection/compactor.h"
#include "pool-manager/pool.h"
#include "pool-manager/warm_table.h"

namespace ow::pm {

struct GcOptions {
    int64_t interval_ms = 2000;     // between passes
    int64_t grace_ms = 30000;       // marked → sweepable
    int64_t stop_grace_ms = 330000; // SIGTERM → SIGKILL
};

class GarbageCollector {
public:
    // is_leader: passes run only while it says true (leadership is decided
    // elsewhere; a single pool-manager always leads).
    GarbageCollector(Pool &pool, MarkSink &marks, Backend &backend, Clock &clock,
                     const CollectionPolicy &policy, GcOptions opts,
                     std::function<bool()> is_leader = [] { return true; });

    // Starts the periodic passes.
    void run();
    // One pass (run() calls it every interval; tests call it).
    void pass();
    const CollectionPolicy &policy() const { return policy_; }
    // Runs c after each pass (nullptr: none).
    void set_compactor(Compactor *c) { compactor_ = c; }

private:
    void schedule();
    void unmark(Container &c, const char *why, int64_t used_ms = 0);
    void sweep_due(int64_t now);
    void mark_chosen(int64_t now);
    void mark(const std::string &id, int64_t now, bool relocation);

    Pool &pool_;
    MarkSink &marks_;
    Backend &backend_;
    Clock &clock_;
    const CollectionPolicy &policy_;
    GcOptions opts_;
    std::function<bool()> is_leader_;
    Compactor *compactor_ = nullptr;
    std::vector<std::string> order_;  // marked ids, in the order marked
};

}  // namespace ow::pm
