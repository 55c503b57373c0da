// compactor.cc: see compactor.h.
#include "pool-manager/collection/compactor.h"

#include <algorithm>
#include <functional>
#include <tuple>

#include "libow/log.h"
#include "pool-manager/collection/collection_policy.h"

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

int64_t nodes_needed(const std::vector<NodeSpec> &nodes, const Pool &pool) {
    Resources used;
    for (const NodeSpec &n : nodes) {
        const NodeLoad &l = pool.load(n.name);
        used.cpu += l.used.cpu;
        used.mem += l.used.mem;
        used.gpu += l.used.gpu;
    }
    // Per resource, the fewest nodes whose capacities add up to what is
    // used, the biggest nodes first; the answer is the largest of the three.
    auto fewest = [&nodes](int64_t Resources::*r, int64_t want) -> int64_t {
        if (want <= 0) return 0;
        std::vector<int64_t> caps;
        caps.reserve(nodes.size());
        for (const NodeSpec &n : nodes) caps.push_back(n.capacity.*r);
        std::sort(caps.begin(), caps.end(), std::greater<int64_t>());
        int64_t k = 0;
        for (int64_t c : caps) {
            if (want <= 0) break;
            want -= c;
            k++;
        }
        return k;
    };
    return std::max({fewest(&Resources::cpu, used.cpu), fewest(&Resources::mem, used.mem),
                     fewest(&Resources::gpu, used.gpu)});
}

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

    // The excess: nodes in use beyond the fewest that could hold everything
    // placed. Hysteresis, so that the compactor does not chase every node
    // that churn leaves half used: emptying fuller nodes starts once the
    // excess reaches excess_start and stops at excess_stop.
    int64_t in_use = 0;
    for (const NodeSpec &n : allocator_.nodes()) in_use += pool_.load(n.name).containers > 0;
    int64_t excess = in_use - nodes_needed(allocator_.nodes(), pool_);
    if (o_.excess_fill > o_.max_fill && excess >= o_.excess_start) {
        if (!excess_) log_info("nodes_in_excess", {{"in_use", in_use}, {"excess", excess}});
        excess_ = true;
    } else if (excess <= o_.excess_stop) {
        excess_ = false;
    }
    if (static_cast<int64_t>(draining_.size()) >= o_.max_nodes) return;

    // Containers each node would need a replacement for (starting, or
    // warm and used within compact_idle_ms): the cheapest nodes to empty go
    // first, so relocations buy as many nodes as they can.
    std::map<std::string, int64_t> busy;
    for (const auto &kv : pool_.all()) {
        const Container &c = kv.second;
        if (c.state == State::starting ||
            (c.state == State::warm && c.marked_ms == 0 && !is_idle(c, now_ms, o_.compact_idle_ms)))
            busy[c.node]++;
    }
    struct Cand {
        double key, fill;
        std::string name;
        bool operator<(const Cand &o) const { return std::tie(key, name) < std::tie(o.key, o.name); }
    };
    std::vector<Cand> sparse;
    for (const NodeSpec &n : allocator_.nodes()) {
        const NodeLoad &l = pool_.load(n.name);
        if (l.containers == 0 || draining_.count(n.name) || cooldown_.count(n.name)) continue;
        double f = fill(n, l);
        double key = static_cast<double>(busy[n.name]) + f;  // then the least used
        if (f <= o_.max_fill || (excess_ && f <= o_.excess_fill)) sparse.push_back({key, f, n.name});
    }
    std::sort(sparse.begin(), sparse.end());
    std::set<std::string> emptying;
    for (const auto &kv : draining_) emptying.insert(kv.first);
    size_t tries = 0;
    for (const auto &s : sparse) {
        if (static_cast<int64_t>(draining_.size()) >= o_.max_nodes) break;
        // A node fuller than max_fill only while the excess lasts, the
        // nodes being emptied counted as gone already.
        if (s.fill > o_.max_fill &&
            excess - static_cast<int64_t>(draining_.size()) <= o_.excess_stop)
            continue;
        if (tries++ >= kTriesPerPass) break;
        emptying.insert(s.name);
        if (!fits_elsewhere(emptying)) {
            emptying.erase(s.name);
            continue;
        }
        draining_[s.name] = now_ms;
        log_info("node_emptying", {{"node", s.name}, {"fill", s.fill},
                                   {"containers", pool_.load(s.name).containers}});
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
        int64_t elsewhere_idle = 0;  // warm, unmarked, idle compact_idle_ms, not
                                     // on a node being emptied
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
            if (is_idle(c, now_ms, o_.compact_idle_ms)) a.elsewhere_idle++;
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
        // Marked without a replacement only when the action has a spare
        // elsewhere (another container idle as long) or is no longer used:
        // otherwise the mark would cost a cold start when its demand returns.
        if (is_idle(*c, now_ms, o_.compact_idle_ms) &&
            (a.elsewhere_idle > 0 || now_ms - a.last >= o_.recent_ms)) {
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
