// capacity.cc: see capacity.h.
#include "pool-manager/placement/capacity.h"
#include "pool-manager/pm_metrics.h"

#include <algorithm>
#include <random>
#include <tuple>

#include "pool-manager/placement/demand.h"

#include "libow/log.h"
#include "libow/retry_after.h"

namespace ow::pm {

nlohmann::json error_body(const std::string &msg) {
    return {{"error", msg}, {"code", ""}};
}

std::string random_id() {
    static std::mt19937_64 rng{std::random_device{}()};
    static const char hex[] = "0123456789abcdef";
    uint64_t v = rng();
    std::string s(16, '0');
    for (int i = 15; i >= 0; i--) {
        s[i] = hex[v & 0xf];
        v >>= 4;
    }
    return s;
}

Capacity::Capacity(Pool &pool, Backend &backend, ActionSource &actions,
                   const Runtimes &runtimes, WarmSink &warm, Clock &clock,
                   CapacityOptions opts, ResourceAllocator *allocator)
    : pool_(pool), backend_(backend), actions_(actions), runtimes_(runtimes),
      warm_(warm), clock_(clock), opts_(opts), allocator_(allocator),
      new_id_(random_id) {}

Capacity::~Capacity() {
    for (auto &kv : starts_) {
        for (auto &w : kv.second.waiters) clock_.cancel(w.timer);
    }
}

size_t Capacity::waiting() const {
    size_t n = 0;
    for (const auto &kv : starts_) n += kv.second.waiters.size();
    return n;
}

size_t Capacity::starts_in_flight() const {
    size_t n = 0;
    for (const auto &kv : starts_) n += kv.second.ids.size();
    return n;
}

nlohmann::json Capacity::containers_of(const std::string &action) const {
    nlohmann::json list = nlohmann::json::array();
    for (const Container *c : pool_.of_action(action, State::warm)) {
        list.push_back({{"id", c->id},
                        {"addr", c->addr},
                        {"concurrency", c->concurrency}});
    }
    return {{"containers", list}};
}

void Capacity::request(const std::string &action, bool scale, Reply reply, int64_t parked,
                       bool web) {
    std::string ns, path;
    if (!split_action(action, &ns, &path)) {
        reply(400, error_body("action must be \"<namespace>/[<package>/]<name>\""));
        return;
    }
    bool have_warm = !pool_.of_action(action, State::warm).empty();
    ActionInfo conductor;
    if (have_warm) have_warm = check_warm(action, ns, path, &conductor);
    if (have_warm && !scale) {
        nlohmann::json body = containers_of(action);
        // the gateway drives a conductor action's invocations (compose
        // module): say so on this answer too, or it would send the request
        // to the container as a plain invocation
        if (conductor.conductor) {
            if (web && !conductor.web_export) {
                reply(404, error_body("The requested resource does not exist."));
                return;
            }
            body["conductor"] = true;
            if (web) body["web"] = conductor.web_facts;
        }
        reply(200, body);
        return;
    }
    // A group under way was begun for an invocation the action allows: a
    // web request joining it starts nothing more, and its sidecar answers.
    if (!starts_.count(action) && !begin_group(action, ns, path, reply, web)) return;
    grow(action, have_warm, std::move(reply), std::max<int64_t>(parked, 1));
}

bool Capacity::check_warm(const std::string &action, const std::string &ns,
                          const std::string &path, ActionInfo *conductor) {
    ActionLookup look = actions_.lookup(ns, path);
    if (look.status == ActionLookup::not_found || look.status == ActionLookup::forbidden) {
        // Deleted (or its package no longer shared): its containers must not
        // run it again. The gateways forgot them on the entity event and ask
        // here; begin_group answers 404 (403).
        std::vector<std::string> gone;
        for (const Container *c : pool_.of_action(action, State::warm)) gone.push_back(c->id);
        for (const std::string &id : gone) {
            log_info("container_outdated", {{"id", id}, {"action", action},
                                            {"reason", "action deleted"}});
            if (retire_) retire_(id, "action deleted");
        }
        return false;
    }
    // Unreadable (Redis away): the containers stay as they are, serving.
    if (look.status != ActionLookup::ok) return true;
    if (look.info.conductor) *conductor = look.info;
    if (!retire_) return true;
    std::vector<std::string> old;
    size_t warm = 0;
    for (const Container *c : pool_.of_action(action, State::warm)) {
        warm++;
        if (!c->version.empty() && c->version != look.info.version) old.push_back(c->id);
    }
    for (const std::string &id : old) {
        log_info("container_outdated", {{"id", id}, {"action", action},
                                        {"version", look.info.version}});
        retire_(id, "action updated");
    }
    return warm > old.size();
}

bool Capacity::begin_group(const std::string &action, const std::string &ns,
                           const std::string &path, Reply &reply, bool web) {
    ActionLookup look = actions_.lookup(ns, path);
    if (look.status == ActionLookup::not_found || look.status == ActionLookup::forbidden) {
        // the OpenWhisk message: 403 names the action as invoked
        reply(look.status == ActionLookup::forbidden ? 403 : 404,
              error_body(look.error.empty() ? "The requested resource does not exist."
                                            : look.error));
        return false;
    }
    if (look.status != ActionLookup::ok) {
        log_warn("action_lookup_failed", {{"action", action}, {"error", look.error}});
        reply(503, error_body("cannot read the action: " + look.error));
        return false;
    }
    if (web && !look.info.web_export) {
        // §7: not exported is "does not exist", with no cold start for it
        reply(404, error_body("The requested resource does not exist."));
        return false;
    }
    if (look.info.sequence) {
        // No container: the gateway runs the components itself and keeps
        // this answer (modules/gateway/ngx_http_ow_compose_module.c).
        nlohmann::json body = {{"containers", nlohmann::json::array()},
                               {"sequence", {{"components", look.info.components},
                                             {"version", look.info.version},
                                             {"limits", look.info.limits}}}};
        // a web request: what the gateway shapes it by (libow/ow_web.h)
        if (web) body["web"] = look.info.web_facts;
        reply(200, body);
        return false;
    }
    const Runtime *rt = runtimes_.resolve(look.info.kind);
    if (rt == nullptr) {
        reply(400, error_body("kind '" + look.info.kind +
                              "' is not supported by this deployment"));
        return false;
    }
    Start &s = starts_[action];
    s.ns = ns;
    s.rt = rt;
    s.memory = look.info.memory;
    s.concurrency = look.info.concurrency;
    s.conductor = look.info.conductor;
    if (s.conductor) s.web_facts = look.info.web_facts;
    s.version = look.info.version;
    auto inst = look.info.limits.is_object() ? look.info.limits.find("instances")
                                             : look.info.limits.end();
    s.instances = inst != look.info.limits.end() && inst->is_number_integer()
                      ? std::max<int64_t>(inst->get<int64_t>(), 0) : 0;
    s.cap = cap_of(look.info.max_containers);
    return true;
}

void Capacity::grow(const std::string &action, bool have_warm, Reply reply, int64_t parked) {
    Start &s = starts_[action];
    Demand d;
    // Each report counts the gateway's whole queue for the action: the
    // largest one is the demand (summing would count a request per call).
    d.parked = parked;
    for (const Waiter &w : s.waiters) d.parked = std::max(d.parked, w.parked);
    d.concurrency = s.concurrency;
    d.starting = static_cast<int64_t>(s.ids.size());
    d.max_starting = have_warm ? opts_.max_starts_per_action : 1;
    d.room = s.cap - static_cast<int64_t>(pool_.count_namespace(s.ns));
    bool at_instances = false;
    if (s.instances > 0) {
        // limits.instances: the action's own cap, warm and starting counted
        int64_t have = static_cast<int64_t>(pool_.of_action(action, State::warm).size() +
                                            s.ids.size());
        at_instances = have >= s.instances;
        d.room = std::min(d.room, s.instances - have);
    }
    int64_t n = containers_to_start(d);
    if (n == 0 && s.ids.empty() && !at_instances && d.room <= 0 &&
        evict_for(action, s.ns)) {
        // the evicted container no longer counts (it drains and exits)
        d.room = s.cap - static_cast<int64_t>(pool_.count_namespace(s.ns));
        n = containers_to_start(d);
    }
    if (n == 0 && s.ids.empty() && at_instances && have_warm) {
        // No more containers for this action: its requests queue on the
        // ones it has (the gateway parks them; a sidecar's buffer, then
        // its 429 + Retry-After, bound the queue).
        starts_.erase(action);
        reply(200, containers_of(action));
        return;
    }
    if (n == 0 && s.ids.empty()) {
        // Nothing starting and nothing may start: only the namespace cap
        // does that (parked >= 1 and max_starting >= 1).
        // and every container of the namespace is busy (else one was evicted)
        log_warn("namespace_cap", {{"action", action}, {"cap", s.cap}});
        pm_metrics().refused("namespace");
        std::string ns = s.ns;
        int64_t cap = s.cap;
        starts_.erase(action);
        nlohmann::json body = error_body("Too many containers for namespace '" + ns +
                                         "' (limit " + std::to_string(cap) + ").");
        // the gateway sends it on as the 429's Retry-After
        body["retryAfter"] = retry_after_s(ns);
        reply(429, body);
        return;
    }
    // Park first: a backend may fail a start synchronously (fork), and
    // that failure answers every parked request, this one included.
    join(action, std::move(reply), parked);
    for (int64_t i = 0; i < n; i++) {
        auto it = starts_.find(action);
        if (it == starts_.end() || !start_one(action, it->second)) break;
    }
    auto it = starts_.find(action);
    if (it != starts_.end() && it->second.ids.empty()) {
        // No start at all: make room, or nothing else can answer those
        // parked here. While an evicted container drains, they wait (their
        // deadline runs) for room_freed.
        if (it->second.wants_room || evict_for_room(action, it->second)) {
            it->second.wants_room = true;
            return;
        }
        no_room(it);
    }
}

void Capacity::no_room(std::map<std::string, Start>::iterator it) {
    pm_metrics().refused("cluster");
    nlohmann::json body = error_body("no node has room for a container of " + it->first +
                                     " (" + std::to_string(it->second.memory) + " MB)");
    std::vector<Waiter> waiters = std::move(it->second.waiters);
    starts_.erase(it);
    for (Waiter &w : waiters) {
        clock_.cancel(w.timer);
        w.reply(503, body);
    }
}

void Capacity::room_freed() {
    std::vector<std::string> waiting;
    for (const auto &kv : starts_)
        if (kv.second.wants_room && kv.second.ids.empty()) waiting.push_back(kv.first);
    for (const std::string &action : waiting) {
        auto it = starts_.find(action);
        if (it == starts_.end() || !it->second.wants_room) continue;
        if (start_one(action, it->second)) {
            it = starts_.find(action);
            if (it != starts_.end()) it->second.wants_room = false;
            continue;
        }
        // still no room (the one freed was too small, or elsewhere): the
        // next idle container, or the 503
        it = starts_.find(action);
        if (it != starts_.end() && it->second.ids.empty() &&
            !evict_for_room(action, it->second)) {
            no_room(it);
        }
    }
}

bool Capacity::evict_for_room(const std::string &action, Start &s) {
    if (allocator_ == nullptr) return false;
    // stemcells first: prewarmed for no one in particular, while this is a
    // real action's request (the start waits for its exit: room_freed)
    if (stemcells_ != nullptr && stemcells_->make_room()) {
        log_info("stemcell_evicted", {{"for", action}, {"memory", s.memory}});
        pm_metrics().evicted();
        return true;
    }
    if (!retire_) return false;
    const Container *victim = eviction_victim(action, "");
    if (victim == nullptr) return false;
    log_info("container_evicted", {{"id", victim->id}, {"action", victim->action},
                                   {"for", action}, {"node", victim->node},
                                   {"memory", s.memory}, {"reason", "no node has room"},
                                   {"idle_ms", clock_.now_ms() - last_use(*victim)}});
    pm_metrics().evicted();
    std::string id = victim->id;
    retire_(id, "evicted");
    return true;
}

bool Capacity::start_one(const std::string &action, Start &s, bool stemcell) {
    Resources req;
    req.mem = s.memory;
    std::string node;
    // a prewarmed process of this kind and memory: only /init is left, and
    // the room it holds on its node is this container's
    StemcellPool::Taken cell;
    bool from_cell = stemcell && stemcells_ != nullptr &&
                     stemcells_->take(s.rt->kind, s.memory, &cell, &s.rt->command);
    if (stemcell && stemcells_ != nullptr) pm_metrics().stemcell(from_cell);
    if (allocator_ != nullptr) {
        req = allocator_->demand(s.memory);
        node = from_cell && !cell.node.empty() ? cell.node : allocator_->place(pool_, req);
        pm_metrics().placement(node, allocator_->strategy().name());
        if (node.empty()) {
            log_warn("no_room", {{"action", action}, {"memory", s.memory}, {"cpu", req.cpu},
                                 {"starting", s.ids.size()}});
            if (from_cell) stemcells_->discard(cell);  // placed nowhere: not ours to run
            return false;
        }
    }
    Container c;
    c.id = from_cell ? cell.id : new_id_();
    c.pid = from_cell ? cell.pid : 0;
    c.action = action;
    c.ns = s.ns;
    c.kind = s.rt->kind;
    c.memory = s.memory;
    c.cpu = req.cpu;
    c.gpu = req.gpu;
    c.node = node;
    c.concurrency = s.concurrency;
    c.version = s.version;
    c.started_ms = clock_.now_ms();
    c.state = State::starting;
    pool_.add(c);
    s.ids.push_back(c.id);
    if (from_cell) {
        log_info("container_specializing", {{"id", c.id}, {"action", action},
                                            {"kind", c.kind}, {"node", node}});
        std::string id = c.id;
        stemcells_->specialize(cell, action, [this, action, id](const StartResult &res) {
            on_specialized(action, id, res);
        });
        return true;
    }

    ContainerSpec spec;
    spec.id = c.id;
    spec.action = action;
    spec.kind = s.rt->kind;
    spec.family = s.rt->family;
    spec.command = s.rt->command;
    spec.memory = c.memory;
    spec.concurrency = c.concurrency;
    spec.node = node;
    spec.cpu = c.cpu;
    spec.gpu = c.gpu;
    log_info("container_starting", {{"id", c.id}, {"action", action}, {"kind", c.kind},
                                    {"node", node}});
    std::string id = c.id;
    backend_.start(spec, [this, action, id](const StartResult &res) {
        on_started(action, id, res);
    });
    return true;
}

void Capacity::on_specialized(const std::string &action, const std::string &id,
                              const StartResult &res) {
    // The stemcell did not answer (gone, refused, timed out; the pool
    // stopped it): start the action from nothing under a new id. The
    // fresh start joins the group before the failed one leaves it, so
    // on_started does not answer the waiters with this failure.
    auto it = starts_.find(action);
    if (res.status == StartResult::failed && it != starts_.end() && pool_.find(id) != nullptr) {
        pool_.remove(id);  // frees its node's room for the fresh start
        start_one(action, it->second, false);
    }
    on_started(action, id, res);
}

void Capacity::join(const std::string &action, Reply reply, int64_t parked) {
    Start &s = starts_[action];
    if (s.waiters.size() >= opts_.max_waiters_per_action) {
        reply(503, error_body("too many requests waiting for a container of " + action));
        return;
    }
    uint64_t seq = ++seq_;
    Clock::TimerId t = clock_.after(opts_.deadline_ms, [this, action, seq] {
        expire(action, seq);
    });
    s.waiters.push_back(Waiter{seq, parked, std::move(reply), t});
}

void Capacity::on_started(const std::string &action, const std::string &id,
                          const StartResult &res) {
    int status = 200;
    nlohmann::json body;
    Container *c = pool_.find(id);
    if (c != nullptr)
        pm_metrics().container_start(res.status == StartResult::ok,
                                     res.status == StartResult::init_failed,
                                     (double)(clock_.now_ms() - c->started_ms) / 1000.0);
    if (res.status == StartResult::ok && c != nullptr) {
        c->addr = res.addr;
        c->pid = res.pid;
        c->state = State::warm;
        log_info("container_ready", {{"id", id}, {"action", action}, {"addr", res.addr},
                                     {"ms", clock_.now_ms() - c->started_ms}});
        warm_.add(*c);
        body = containers_of(action);
    } else {
        pool_.remove(id);
        if (res.status == StartResult::init_failed) {
            status = 502;
            body = error_body(res.error.empty() ? "action initialization failed" : res.error);
            if (!res.init_error.is_null()) body["init"] = res.init_error;
        } else {
            status = 503;
            body = error_body("container failed to start: " +
                              (res.error.empty() ? std::string("gone") : res.error));
        }
        log_warn("container_start_failed", {{"id", id}, {"action", action},
                                            {"status", status}, {"error", res.error}});
    }
    auto it = starts_.find(action);
    if (it == starts_.end()) return;
    Start &s = it->second;
    auto mine = std::find(s.ids.begin(), s.ids.end(), id);
    if (mine == s.ids.end()) return;
    s.ids.erase(mine);
    // A start that failed for want of resources or a process may be made
    // good by another one still starting; an init failure will not be.
    if (status == 503 && !s.ids.empty()) return;
    std::vector<Waiter> waiters = std::move(s.waiters);
    s.waiters.clear();
    // the gateway drives a conductor action's invocations (compose module)
    // (the web facts too: a web request may have joined; the gateway reads
    // them only for one)
    if (status == 200 && s.conductor) {
        body["conductor"] = true;
        body["web"] = s.web_facts;
    }
    if (s.ids.empty()) starts_.erase(it);
    for (Waiter &w : waiters) {
        clock_.cancel(w.timer);
        w.reply(status, body);
    }
}

const Container *Capacity::eviction_victim(const std::string &action,
                                          const std::string &ns) const {
    // Idle as its sidecar last said: nothing in flight or queued. A request
    // that reached it since is not lost: retiring unroutes it first and its
    // sidecar finishes what it has before it exits. Those the collector
    // marked already go first, then the least recently used.
    // For room on a node (ns ""): the fewer containers its node holds, the
    // sooner removing them empties it (the pool stays compact).
    const Container *victim = nullptr;
    auto order = [this, &ns](const Container &c) {
        auto l = pool_.loads().find(c.node);
        int64_t on_node = ns.empty() && l != pool_.loads().end() ? l->second.containers : 0;
        return std::make_tuple(c.marked_ms == 0, on_node, last_use(c), c.id);
    };
    for (const auto &kv : pool_.all()) {
        const Container &c = kv.second;
        const Health &h = c.health;
        if ((!ns.empty() && c.ns != ns) || c.action == action || c.state != State::warm)
            continue;
        if (!h.known || h.failures > 0 || h.inflight != 0 || h.queued != 0) continue;
        if (victim == nullptr || order(c) < order(*victim)) victim = &c;
    }
    return victim;
}

bool Capacity::evict_for(const std::string &action, const std::string &ns) {
    if (!retire_) return false;
    const Container *victim = eviction_victim(action, ns);
    if (victim == nullptr) return false;
    log_info("container_evicted", {{"id", victim->id}, {"action", victim->action},
                                   {"for", action},
                                   {"idle_ms", clock_.now_ms() - last_use(*victim)}});
    pm_metrics().evicted();
    std::string id = victim->id;
    retire_(id, "evicted");
    return true;
}

bool Capacity::room_for(const std::string &action, const std::string &ns,
                        int64_t max_containers) const {
    return static_cast<int64_t>(pool_.count_namespace(ns)) < cap_of(max_containers) ||
           (retire_ && eviction_victim(action, ns) != nullptr);
}

int64_t Capacity::retry_after_s(const std::string &ns) const {
    int64_t best = 60;
    bool warm = false;
    for (const auto &kv : pool_.all()) {
        const Container &c = kv.second;
        // (unknown health: nothing observed, which says 1 s, as a sidecar)
        if (c.ns != ns || c.state != State::warm) continue;
        warm = true;
        int concurrency = static_cast<int>(std::max<int64_t>(c.concurrency, 1));
        // evictable once everything it runs and holds is done: as long as
        // a request queued behind all but one of them would wait
        size_t behind = static_cast<size_t>(
            std::max<int64_t>(c.health.inflight + c.health.queued - 1, 0));
        best = std::min(best, ow::retry_after_seconds(static_cast<double>(c.health.mean_run_ms),
                                                      behind, concurrency, 60));
    }
    return warm ? best : 1;  // all still starting: about as long as a start
}

void Capacity::expire(const std::string &action, uint64_t seq) {
    auto it = starts_.find(action);
    if (it == starts_.end()) return;
    auto &ws = it->second.waiters;
    for (auto w = ws.begin(); w != ws.end(); ++w) {
        if (w->seq == seq) {
            Reply r = std::move(w->reply);
            ws.erase(w);
            r(503, error_body("no container of " + action + " became ready within " +
                              std::to_string(opts_.deadline_ms / 1000) + " s"));
            return;
        }
    }
}

}  // namespace ow::pm
