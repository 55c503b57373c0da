// garbage_collector.cc: see garbage_collector.h.
#include "pool-manager/collection/garbage_collector.h"
#include "pool-manager/pm_metrics.h"

#include <algorithm>

#include "libow/log.h"

namespace ow::pm {

GarbageCollector::GarbageCollector(Pool &pool, MarkSink &marks, Backend &backend,
                                   Clock &clock, const CollectionPolicy &policy,
                                   GcOptions opts, std::function<bool()> is_leader)
    : pool_(pool), marks_(marks), backend_(backend), clock_(clock), policy_(policy),
      opts_(opts), is_leader_(std::move(is_leader)) {}

void GarbageCollector::run() { schedule(); }

void GarbageCollector::schedule() {
    clock_.after(opts_.interval_ms, [this] {
        pass();
        schedule();
    });
}

void GarbageCollector::unmark(Container &c, const char *why, int64_t used_ms) {
    c.marked_ms = 0;
    c.relocating = false;
    // A gateway's request is a use the sidecar's next /health answer will
    // report; count it now, so this pass does not mark the container again.
    c.health.last_used = std::max(c.health.last_used, used_ms);
    order_.erase(std::remove(order_.begin(), order_.end(), c.id), order_.end());
    log_info("container_unmarked", {{"id", c.id}, {"action", c.action}, {"reason", why}});
    pm_metrics().unmarked();
    // A failed write schedules a resync of the whole table, which writes
    // the entry unmarked from the pool.
    marks_.unmark(c);
}

void GarbageCollector::pass() {
    if (!is_leader_()) return;
    int64_t now = clock_.now_ms();

    std::vector<std::string> asked;
    if (marks_.take_unmarks(&asked)) {
        for (const std::string &id : asked) {
            Container *c = pool_.find(id);
            if (c != nullptr && c->state == State::warm && c->marked_ms != 0) {
                unmark(*c, "gateway", now);
            }
        }
    }
    sweep_due(now);
    mark_chosen(now);
    if (compactor_ != nullptr) {
        for (const CompactorMark &m : compactor_->pass(now)) mark(m.id, now, m.relocation);
    }
}

void GarbageCollector::sweep_due(int64_t now) {
    std::vector<std::string> ids = order_;
    for (const std::string &id : ids) {
        Container *c = pool_.find(id);
        if (c == nullptr || c->state != State::warm || c->marked_ms == 0) {
            // gone (exited, reaped) or unmarked meanwhile
            order_.erase(std::remove(order_.begin(), order_.end(), id), order_.end());
            continue;
        }
        if (now - c->marked_ms < opts_.grace_ms) continue;
        const Health &h = c->health;
        // Only what the sidecar says after the mark counts: a request may
        // have reached it since the last answer before it.
        if (!h.known || h.failures > 0 || h.checked_ms < c->marked_ms) continue;
        if (h.inflight != 0 || h.queued != 0) {
            // a relocation waits for what is in flight: gateways route
            // to its replacement meanwhile
            if (c->relocating) continue;
            unmark(*c, "busy");
            continue;
        }
        if (h.last_used >= c->marked_ms && !c->relocating) {
            unmark(*c, "used");
            continue;
        }
        switch (marks_.sweep(*c)) {
        case MarkSink::Sweep::swept:
            order_.erase(std::remove(order_.begin(), order_.end(), id), order_.end());
            log_info("container_swept", {{"id", id}, {"action", c->action},
                                         {"node", c->node},
                                         {"marked_for_ms", now - c->marked_ms},
                                         {"policy", policy_.name()}});
            // Unrouted now; the sidecar finishes anything that still
            // reaches it and exits 0, or is killed after the grace.
            c->state = State::stopping;
            pm_metrics().swept();
            backend_.stop(id, opts_.stop_grace_ms);
            break;
        case MarkSink::Sweep::unmark_requested:
            unmark(*c, "gateway", now);
            break;
        case MarkSink::Sweep::not_marked:
            unmark(*c, "table_not_marked");
            break;
        case MarkSink::Sweep::failed:
            break;  // Redis away: the next pass tries again
        }
    }
}

void GarbageCollector::mark_chosen(int64_t now) {
    for (const std::string &id : policy_.choose(pool_, now)) mark(id, now, false);
}

void GarbageCollector::mark(const std::string &id, int64_t now, bool relocation) {
    Container *c = pool_.find(id);
    if (c == nullptr || c->state != State::warm || c->marked_ms != 0) return;
    c->marked_ms = now;
    if (!marks_.mark(*c)) {
        // Not published: gateways would keep routing to it without saying
        // so. The resync that a failed write schedules writes the pool's
        // (unmarked) state.
        c->marked_ms = 0;
        return;
    }
    c->relocating = relocation;
    order_.push_back(id);
    if (relocation) {
        pm_metrics().relocated();
    } else {
        pm_metrics().marked();
    }
    log_info("container_marked", {{"id", id}, {"action", c->action},
                                  {"node", c->node}, {"idle_ms", now - last_use(*c)},
                                  {"policy", policy_.name()},
                                  {"reason", relocation ? "relocation" : "idle"}});
}

}  // namespace ow::pm
