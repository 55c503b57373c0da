// compactor.cc: see compactor.h.
#include "pool-manager/compactor.h"

#include <algorithm>
#include <tuple>

#include "libow/log.h"
#include "pool-manager/collection_policy.h"

namespace ow::pm {

namespace {
// Nodes tried per pass when choosing one to empty: each try is a
// first-fit-decreasing check, so the pass stays short however many nodes
// qualify; the next pass tries the next ones.
constexpr size_t kTriesPerPass = 8;

bool holds_resources(const Container &c) {
    return c.state == State::starting || c.state == State::warm;
}

double fill(const NodeSpec &n, const NodeLoad &l) {
    double f = 0;
    if (n.capacity.mem > 0)
        f = std::max(f, static_cast<double>(l.used.mem) / static_cast<double>(n.capacity.mem));
    if (n.capacity.cpu > 0)
        f = std::max(f, static_cast<double>(l.used.cpu) / static_cast<double>(n.capacity.cpu));
    return f;
}
}  // namespace

Compactor::Compactor(Pool &pool, ResourceAllocator &allocator, CompactorOptions o, Start start)
    : pool_(pool), allocator_(allocator), o_(o), start_(std::move(start)) {}

bool Compactor::fits_elsewhere(const std::set<std::string> &emptying) const {
    std::vector<Resources> items;
    for (const auto &kv : pool_.all()) {
        const Container &c = kv.second;
        if (holds_resources(c) && emptying.count(c.node)) items.push_back({c.cpu, c.memory, c.gpu});
    }
    // Nothing to move (only stopping containers left): the node empties
    // by itself.
    if (items.empty()) return false;
    std::sort(items.begin(), items.end(), [](const Resources &a, const Resources &b) {
        return std::tie(a.gpu, a.mem, a.cpu) > std::tie(b.gpu, b.mem, b.cpu);
    });
    // The room on the other nodes in use (never an empty node: emptying
    // one node by filling another gains nothing).
    std::vector<std::pair<const NodeSpec *, NodeLoad>> bins;
    for (const NodeSpec &n : allocator_.nodes()) {
        const NodeLoad &l = pool_.load(n.name);
        if (l.containers > 0 && !emptying.count(n.name)) bins.emplace_back(&n, l);
    }
    for (const Resources &it : items) {
        bool placed = false;
        for (auto &b : bins) {
            if (!fits(*b.first, b.second, it)) continue;
            b.second.used.cpu += it.cpu;
            b.second.used.mem += it.mem;
            b.second.used.gpu += it.gpu;
            b.second.containers++;
            placed = true;
            break;
        }
        if (!placed) return false;
    }
    return true;
}

void Compactor::update_nodes(int64_t now_ms) {
    // A container placed on a node after its emptying began means no other
    // node had room (the allocator's last resort): demand came back.
    std::set<std::string> arrivals;
    for (const auto &kv : pool_.all()) {
        const Container &c = kv.second;
        auto d = draining_.find(c.node);
        if (d != draining_.end() && holds_resources(c) && c.started_ms > d->second)
            arrivals.insert(c.node);
    }
    for (auto it = draining_.begin(); it != draining_.end();) {
        if (arrivals.count(it->first)) {
            log_info("node_emptying_given_up", {{"node", it->first}, {"reason", "no room elsewhere"}});
            cooldown_[it->first] = now_ms + o_.drain_ms;
            it = draining_.erase(it);
        } else if (pool_.load(it->first).containers == 0) {
            log_info("node_emptied", {{"node", it->first}, {"ms", now_ms - it->second}});
            emptied_total_++;
            it = draining_.erase(it);
        } else if (now_ms - it->second >= o_.drain_ms) {
            log_info("node_emptying_given_up",
                     {{"node", it->first}, {"reason", "not empty in time"},
                      {"containers", pool_.load(it->first).containers}});
            cooldown_[it->first] = now_ms + o_.drain_ms;
            it = draining_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto it = cooldown_.begin(); it != cooldown_.end();) {
        it = it->second <= now_ms ? cooldown_.erase(it) : std::next(it);
    }
    if (static_cast<int64_t>(draining_.size()) >= o_.max_nodes) return;

    std::vector<std::pair<double, std::string>> sparse;
    for (const NodeSpec &n : allocator_.nodes()) {
        const NodeLoad &l = pool_.load(n.name);
        if (l.containers == 0 || draining_.count(n.name) || cooldown_.count(n.name)) continue;
        double f = fill(n, l);
        if (f <= o_.max_fill) sparse.emplace_back(f, n.name);
    }
    std::sort(sparse.begin(), sparse.end());
    std::set<std::string> emptying;
    for (const auto &kv : draining_) emptying.insert(kv.first);
    size_t tries = 0;
    for (const auto &s : sparse) {
        if (static_cast<int64_t>(draining_.size()) >= o_.max_nodes || tries++ >= kTriesPerPass)
            break;
        emptying.insert(s.second);
        if (!fits_elsewhere(emptying)) {
            emptying.erase(s.second);
            continue;
        }
        draining_[s.second] = now_ms;
        log_info("node_emptying", {{"node", s.second}, {"fill", s.first},
                                   {"containers", pool_.load(s.second).containers}});
    }
}

void Compactor::publish_avoided() {
    std::set<std::string> names;
    for (const auto &kv : draining_) names.insert(kv.first);
    allocator_.set_avoided(names);
}

std::vector<CompactorMark> Compactor::pass(int64_t now_ms) {
    std::vector<CompactorMark> out;
    if (o_.max_fill <= 0) return out;
    update_nodes(now_ms);
    publish_avoided();
    if (draining_.empty()) {
        claimed_.clear();
        return out;
    }
    for (auto it = claimed_.begin(); it != claimed_.end();) {
        it = pool_.find(*it) == nullptr ? claimed_.erase(it) : std::next(it);
    }

    struct ActionUse {
        int64_t elsewhere = 0;  // warm, unmarked, not on a node being emptied
        int64_t last = 0;       // most recent use of any of its containers
    };
    std::map<std::string, ActionUse> actions;
    std::vector<Container *> here;  // warm, unmarked, on a node being emptied
    int64_t pending = 0;
    for (auto &kv : pool_.all()) {
        const Container &c = kv.second;
        if (!holds_resources(c)) continue;
        ActionUse &a = actions[c.action];
        a.last = std::max(a.last, last_use(c));
        bool emptying = draining_.count(c.node) > 0;
        if (c.state != State::warm || c.marked_ms != 0) continue;
        if (!emptying) {
            a.elsewhere++;
            continue;
        }
        here.push_back(pool_.find(c.id));
        if (c.relocate_ms != 0 && now_ms - c.relocate_ms < o_.start_timeout_ms) pending++;
    }

    std::map<std::string, int64_t> asks;
    for (Container *c : here) {
        if (c->relocate_ms != 0) {
            const Container *found = nullptr;
            for (const Container *r : pool_.of_action(c->action, State::warm)) {
                if (r->marked_ms == 0 && r->started_ms >= c->relocate_ms &&
                    !draining_.count(r->node) && !claimed_.count(r->id)) {
                    found = r;
                    break;
                }
            }
            if (found != nullptr) {
                claimed_.insert(found->id);
                out.push_back({c->id, true});
                continue;
            }
            if (now_ms - c->relocate_ms < o_.start_timeout_ms) continue;
            c->relocate_ms = 0;  // never became warm elsewhere: ask again
        }
        const ActionUse &a = actions[c->action];
        if (is_idle(*c, now_ms, o_.compact_idle_ms) &&
            (a.elsewhere > 0 || now_ms - a.last >= o_.recent_ms)) {
            out.push_back({c->id, false});
            continue;
        }
        if (pending >= o_.max_starts) continue;
        c->relocate_ms = now_ms;
        asks[c->action]++;
        pending++;
    }
    for (const auto &kv : asks) {
        asked_total_ += kv.second;
        start_(kv.first, kv.second);
    }
    return out;
}

}  // namespace ow::pm
