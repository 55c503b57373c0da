// collection_policy.cc: see collection_policy.h.
#include "pool-manager/collection/collection_policy.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace ow::pm {

bool is_idle(const Container &c, int64_t now_ms, int64_t idle_ms) {
    if (c.state != State::warm || c.marked_ms != 0) return false;
    if (!c.health.known || c.health.failures > 0) return false;
    if (c.health.inflight != 0 || c.health.queued != 0) return false;
    return now_ms - last_use(c) >= idle_ms;
}

std::vector<std::string> IdleTimeoutPolicy::choose(const Pool &pool, int64_t now_ms) const {
    std::vector<const Container *> idle;
    for (const auto &kv : pool.all()) {
        if (is_idle(kv.second, now_ms, idle_ms_)) idle.push_back(&kv.second);
    }
    std::sort(idle.begin(), idle.end(), [](const Container *a, const Container *b) {
        return std::make_tuple(last_use(*a), a->id) < std::make_tuple(last_use(*b), b->id);
    });
    std::vector<std::string> out;
    for (const Container *c : idle) out.push_back(c->id);
    return out;
}

std::vector<std::string> NodeEmptyingPolicy::choose(const Pool &pool, int64_t now_ms) const {
    // Per node: the containers that will still be there once every marked
    // one and every candidate is gone. A node with the local backend's
    // single implicit node (node "") is one node like any other.
    struct NodeCount {
        int64_t occupants = 0;  // starting + warm (marked included)
        int64_t leaving = 0;    // marked, or chosen below
        int64_t compactable = 0;  // idle compact_idle_ms, not idle_ms
        int64_t mem = 0;        // MB held by the unmarked occupants
        bool drain = false;     // short idle is enough here
    };
    struct ActionUse {
        int64_t last = 0;     // its most recent use
        int64_t staying = 0;  // warm, unmarked, not chosen: stays warm
    };
    const bool compact = o_.compact_idle_ms > 0 && o_.compact_idle_ms < o_.idle_ms;
    std::map<std::string, NodeCount> nodes;
    std::map<std::string, ActionUse> actions;
    std::map<std::string, std::vector<const Container *>> cands;  // by action
    int64_t fullest = 0;
    for (const auto &kv : pool.all()) {
        const Container &c = kv.second;
        if (c.state != State::starting && c.state != State::warm) continue;
        NodeCount &n = nodes[c.node];
        ActionUse &a = actions[c.action];
        n.occupants++;
        a.last = std::max(a.last, last_use(c));
        if (c.marked_ms != 0) {
            n.leaving++;
            continue;
        }
        n.mem += c.memory;
        fullest = std::max(fullest, n.mem);
        if (is_idle(c, now_ms, o_.idle_ms)) {
            n.leaving++;
            cands[c.action].push_back(&c);
        } else if (compact && is_idle(c, now_ms, o_.compact_idle_ms)) {
            n.compactable++;
        }
    }
    // The nodes compaction empties: few containers would stay, and little
    // memory is held there (relative to the fullest node: packing keeps
    // that one near its capacity), so emptying it is worth early marks.
    if (compact) {
        for (auto &kv : nodes) {
            NodeCount &n = kv.second;
            n.drain = n.compactable > 0 &&
                      n.occupants - n.leaving - n.compactable <= o_.compact_max_left &&
                      static_cast<double>(n.mem) <=
                          o_.compact_max_fill * static_cast<double>(fullest);
        }
    }
    for (const auto &kv : pool.all()) {
        const Container &c = kv.second;
        if (c.state != State::starting && c.state != State::warm) continue;
        if (c.marked_ms != 0 || is_idle(c, now_ms, o_.idle_ms)) continue;
        NodeCount &n = nodes[c.node];
        if (n.drain && is_idle(c, now_ms, o_.compact_idle_ms)) {
            n.leaving++;
            cands[c.action].push_back(&c);
        } else {
            actions[c.action].staying++;  // starting ones count: about to be warm
        }
    }
    auto remaining = [&nodes](const Container *c) {
        const NodeCount &n = nodes.at(c->node);
        return n.occupants - n.leaving;
    };

    // Keep min_warm per recently used action: the candidates on the nodes
    // that stay busiest (they will not empty anyway), most recently used
    // first among equals.
    std::vector<const Container *> chosen;
    for (auto &kv : cands) {
        std::vector<const Container *> &list = kv.second;
        const ActionUse &a = actions.at(kv.first);
        int64_t keep = 0;
        if (now_ms - a.last < o_.recent_ms) keep = std::max<int64_t>(0, o_.min_warm - a.staying);
        keep = std::min<int64_t>(keep, static_cast<int64_t>(list.size()));
        std::sort(list.begin(), list.end(), [&](const Container *x, const Container *y) {
            return std::make_tuple(-remaining(x), -last_use(*x), x->id) <
                   std::make_tuple(-remaining(y), -last_use(*y), y->id);
        });
        for (int64_t i = 0; i < keep; i++) nodes.at(list[i]->node).leaving--;
        chosen.insert(chosen.end(), list.begin() + keep, list.end());
    }

    // Nodes that empty first, then those left with the fewest containers;
    // within a node the longest idle first.
    std::sort(chosen.begin(), chosen.end(), [&](const Container *x, const Container *y) {
        return std::make_tuple(remaining(x), x->node, last_use(*x), x->id) <
               std::make_tuple(remaining(y), y->node, last_use(*y), y->id);
    });
    std::vector<std::string> out;
    for (const Container *c : chosen) out.push_back(c->id);
    return out;
}

std::unique_ptr<CollectionPolicy> make_policy(const std::string &name, NodeEmptyingOptions o) {
    if (name == "idle-timeout") return std::make_unique<IdleTimeoutPolicy>(o.idle_ms);
    if (name == "node-emptying") return std::make_unique<NodeEmptyingPolicy>(o);
    return nullptr;
}

}  // namespace ow::pm
