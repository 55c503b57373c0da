// pool.cc: see pool.h.
#include "pool-manager/pool.h"

#include <algorithm>

namespace ow::pm {

int64_t last_use(const Container &c) { return std::max(c.health.last_used, c.started_ms); }

const char *state_name(State s) {
    switch (s) {
    case State::starting: return "starting";
    case State::warm: return "warm";
    case State::stopping: return "stopping";
    case State::gone: return "gone";
    }
    return "?";
}

bool split_action(const std::string &action, std::string *ns,
                  std::string *path) {
    // ns/name or ns/pkg/name, no empty segment, nothing that could not be
    // part of an entity name (control characters, spaces at the ends).
    size_t slashes = 0;
    size_t seg = 0;
    for (size_t i = 0; i < action.size(); i++) {
        unsigned char ch = action[i];
        if (ch < 0x20 || ch == 0x7f) return false;
        if (ch == '/') {
            if (seg == 0) return false;
            slashes++;
            seg = 0;
        } else {
            seg++;
        }
    }
    // three slashes: <invoker>/<owner>/<pkg>/<name>, another namespace's
    // public package (libow/action_ref.h)
    if (seg == 0 || slashes < 1 || slashes > 3) return false;
    size_t first = action.find('/');
    *ns = action.substr(0, first);
    *path = action.substr(first + 1);
    return true;
}

nlohmann::json warm_entry(const Container &c) {
    return {{"id", c.id},           {"action", c.action},
            {"addr", c.addr},       {"concurrency", c.concurrency},
            {"kind", c.kind},       {"memory", c.memory},
            {"started", c.started_ms}, {"pid", c.pid},
            {"node", c.node},       {"version", c.version}};
}

nlohmann::json warm_event(const Container &c, const char *op) {
    return {{"op", op},
            {"id", c.id},
            {"action", c.action},
            {"addr", c.addr},
            {"concurrency", c.concurrency}};
}

nlohmann::json describe(const Container &c) {
    nlohmann::json j = warm_entry(c);
    j["state"] = c.state == State::warm && c.marked_ms ? "marked" : state_name(c.state);
    if (c.marked_ms) j["marked"] = c.marked_ms;
    j["adopted"] = c.adopted;
    if (c.health.known) {
        j["health"] = {{"ready", c.health.ready},
                       {"inflight", c.health.inflight},
                       {"queued", c.health.queued},
                       {"lastUsed", c.health.last_used},
                       {"activations", c.health.activations},
                       {"meanRunMs", c.health.mean_run_ms},
                       {"checked", c.health.checked_ms}};
    }
    return j;
}

void Pool::add_load(std::map<std::string, NodeLoad> *loads, const std::string &node,
                    const Resources &r, int sign) {
    NodeLoad &l = (*loads)[node];
    l.used.cpu += sign * r.cpu;
    l.used.mem += sign * r.mem;
    l.used.gpu += sign * r.gpu;
    l.containers += sign;
    // No empty entries: loads() lists exactly the nodes in use.
    if (l.containers == 0) loads->erase(node);
}

void Pool::count(const Container &c, int sign) {
    if (c.state == State::gone) return;  // holds nothing
    Resources r;
    r.cpu = c.cpu;
    r.mem = c.memory;
    r.gpu = c.gpu;
    add_load(&loads_, c.node, r, sign);
}

void Pool::hold(const std::string &node, const Resources &r) {
    add_load(&loads_, node, r, +1);
    add_load(&holds_, node, r, +1);
}

void Pool::release(const std::string &node, const Resources &r) {
    add_load(&loads_, node, r, -1);
    add_load(&holds_, node, r, -1);
}

Container &Pool::add(Container c) {
    auto it = by_id_.find(c.id);
    if (it != by_id_.end()) {
        count(it->second, -1);
        it->second = std::move(c);
    } else {
        std::string id = c.id;
        it = by_id_.emplace(std::move(id), std::move(c)).first;
    }
    count(it->second, +1);
    return it->second;
}

bool Pool::set_state(const std::string &id, State s) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return false;
    count(it->second, -1);
    it->second.state = s;
    count(it->second, +1);
    return true;
}

const NodeLoad &Pool::load(const std::string &node) const {
    static const NodeLoad none;
    auto it = loads_.find(node);
    return it == loads_.end() ? none : it->second;
}

Container *Pool::find(const std::string &id) {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &it->second;
}

const Container *Pool::find(const std::string &id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &it->second;
}

bool Pool::remove(const std::string &id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return false;
    count(it->second, -1);
    by_id_.erase(it);
    return true;
}

std::vector<const Container *> Pool::of_action(const std::string &action,
                                               State s) const {
    std::vector<const Container *> out;
    for (const auto &kv : by_id_) {
        if (kv.second.action == action && kv.second.state == s) {
            out.push_back(&kv.second);
        }
    }
    std::sort(out.begin(), out.end(),
              [](const Container *a, const Container *b) {
                  return a->started_ms < b->started_ms;
              });
    return out;
}

size_t Pool::count_namespace(const std::string &ns) const {
    size_t n = 0;
    for (const auto &kv : by_id_) {
        const Container &c = kv.second;
        if (c.ns == ns &&
            (c.state == State::starting || c.state == State::warm)) {
            n++;
        }
    }
    return n;
}

std::vector<Container> Pool::warm() const {
    std::vector<Container> out;
    for (const auto &kv : by_id_) {
        if (kv.second.state == State::warm) out.push_back(kv.second);
    }
    return out;
}

}  // namespace ow::pm
