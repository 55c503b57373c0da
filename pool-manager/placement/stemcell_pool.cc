// stemcell_pool.cc: see stemcell_pool.h.
#include "pool-manager/placement/stemcell_pool.h"

#include "pool-manager/pool.h"
#include "pool-manager/placement/resource_allocator.h"

#include <algorithm>
#include <cstdlib>

#include "pool-manager/placement/capacity.h"  // random_id

#include "libow/log.h"

namespace ow::pm {

namespace {

constexpr int64_t kMaxRetryMs = 30000;
constexpr int64_t kMaxPerPool = 100;  // a typo must not fork a thousand runtimes
// A stemcell outlives its TTL by this much before it exits by itself: the
// pool-manager normally replaces it first; the sidecar's own deadline only
// bounds the leak when the pool-manager died.
constexpr int64_t kLifetimeMarginMs = 60000;

bool parse_int(const std::string &s, int64_t *out) {
    if (s.empty() || s.size() > 9) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    *out = std::strtoll(s.c_str(), nullptr, 10);
    return true;
}

}  // namespace

bool parse_stemcells(const std::string &text, const Runtimes &runtimes,
                     std::vector<StemcellSpec> *out, std::string *err) {
    out->clear();
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find(',', pos);
        if (end == std::string::npos) end = text.size();
        std::string item = text.substr(pos, end - pos);
        pos = end + 1;
        if (item.empty()) continue;
        // the kind has a ':' of its own (nodejs:20): memory follows the last
        size_t eq = item.rfind('=');
        size_t colon = item.rfind(':', eq);
        int64_t memory = 0, count = 0;
        if (eq == std::string::npos || colon == std::string::npos || colon == 0 ||
            !parse_int(item.substr(colon + 1, eq - colon - 1), &memory) || memory <= 0 ||
            !parse_int(item.substr(eq + 1), &count) || count > kMaxPerPool) {
            *err = "bad stemcell pool '" + item + "' (want kind:memory=count, count <= " +
                   std::to_string(kMaxPerPool) + ")";
            return false;
        }
        std::string kind = item.substr(0, colon);
        const Runtime *rt = runtimes.resolve(kind);
        if (rt == nullptr) {
            *err = "stemcell kind '" + kind + "' is not in --runtimes";
            return false;
        }
        if (count == 0) continue;
        StemcellSpec s;
        s.kind = rt->kind;
        s.family = rt->family;
        s.command = rt->command;
        s.memory = memory;
        s.count = count;
        // two entries naming one kind (nodejs:default and nodejs:20) are one pool
        auto same = std::find_if(out->begin(), out->end(), [&](const StemcellSpec &o) {
            return o.kind == s.kind && o.memory == s.memory;
        });
        if (same != out->end()) same->count = std::min(kMaxPerPool, same->count + count);
        else out->push_back(std::move(s));
    }
    return true;
}

StemcellPool::StemcellPool(Backend &inner, Specializer &specializer, Clock &clock,
                           std::vector<StemcellSpec> specs, StemcellOptions opts)
    : inner_(inner), specializer_(specializer), clock_(clock), specs_(std::move(specs)),
      opts_(opts), new_id_(random_id), backoff_ms_(specs_.size(), 0),
      retry_(specs_.size(), 0) {
    inner_.on_exit([this](const std::string &id, int status) { on_inner_exit(id, status); });
}

StemcellPool::~StemcellPool() {
    for (auto &kv : cells_)
        if (kv.second.ttl) clock_.cancel(kv.second.ttl);
    for (Clock::TimerId t : retry_)
        if (t) clock_.cancel(t);
}

void StemcellPool::run() {
    running_ = true;
    for (size_t i = 0; i < specs_.size(); i++) fill(i);
}

void StemcellPool::stop_all() {
    running_ = false;
    std::vector<std::string> ids;
    for (auto &kv : cells_) ids.push_back(kv.first);
    for (const std::string &id : ids) retire(id, "shutdown");
}

size_t StemcellPool::count(size_t pool, bool ready) const {
    size_t n = 0;
    for (const auto &kv : cells_)
        if (kv.second.pool == pool && kv.second.ready == ready) n++;
    return n;
}

bool StemcellPool::matches(size_t pool, const std::string &kind, int64_t memory) const {
    return kind.empty() || (specs_[pool].kind == kind && specs_[pool].memory == memory);
}

size_t StemcellPool::ready(const std::string &kind, int64_t memory) const {
    size_t n = 0;
    for (size_t i = 0; i < specs_.size(); i++)
        if (matches(i, kind, memory)) n += count(i, true);
    return n;
}

size_t StemcellPool::starting(const std::string &kind, int64_t memory) const {
    size_t n = 0;
    for (size_t i = 0; i < specs_.size(); i++)
        if (matches(i, kind, memory)) n += count(i, false);
    return n;
}

nlohmann::json StemcellPool::list() const {
    nlohmann::json a = nlohmann::json::array();
    for (const auto &kv : cells_) {
        const Cell &c = kv.second;
        a.push_back({{"id", kv.first}, {"kind", specs_[c.pool].kind},
                     {"memory", specs_[c.pool].memory}, {"addr", c.addr}, {"pid", c.pid},
                     {"node", c.held.node}, {"started", c.started_ms},
                     {"state", c.ready ? "ready" : "starting"}});
    }
    return a;
}

void StemcellPool::fill(size_t pool) {
    if (!running_ || retry_[pool] != 0) return;  // a failed start waits out its backoff
    int64_t have = static_cast<int64_t>(count(pool, true) + count(pool, false));
    for (int64_t i = have; i < specs_[pool].count; i++) {
        if (!start_cell(pool)) {
            retry_later(pool);  // no room now: real actions come first
            return;
        }
    }
}

bool StemcellPool::start_cell(size_t pool) {
    const StemcellSpec &s = specs_[pool];
    ContainerSpec spec;
    spec.id = new_id_();
    spec.kind = s.kind;
    spec.family = s.family;
    spec.command = s.command;
    spec.memory = s.memory;
    spec.stemcell_ms = opts_.ttl_ms + kLifetimeMarginMs;
    Cell c;
    c.pool = pool;
    c.started_ms = clock_.now_ms();
    if (pool_ != nullptr && allocator_ != nullptr) {
        c.held.req = allocator_->demand(s.memory);
        c.held.node = allocator_->place(*pool_, c.held.req);
        if (c.held.node.empty()) {
            log_info("stemcell_no_room", {{"kind", s.kind}, {"memory", s.memory}});
            return false;
        }
        pool_->hold(c.held.node, c.held.req);
        spec.node = c.held.node;
        spec.cpu = c.held.req.cpu;
        spec.gpu = c.held.req.gpu;
    }
    cells_[spec.id] = c;
    log_info("stemcell_starting", {{"id", spec.id}, {"kind", s.kind}, {"memory", s.memory},
                                   {"node", spec.node}});
    std::string id = spec.id;
    inner_.start(spec, [this, id](const StartResult &res) { on_cell_started(id, res); });
    return true;
}

void StemcellPool::release(const Held &h) {
    if (pool_ != nullptr && !h.node.empty()) pool_->release(h.node, h.req);
}

void StemcellPool::on_cell_started(const std::string &id, const StartResult &res) {
    auto it = cells_.find(id);
    if (it == cells_.end()) return;  // retired while starting (shutdown)
    size_t pool = it->second.pool;
    if (res.status != StartResult::ok) {
        log_warn("stemcell_start_failed", {{"id", id}, {"kind", specs_[pool].kind},
                                           {"error", res.error}});
        release(it->second.held);
        cells_.erase(it);
        retry_later(pool);
        return;
    }
    Cell &c = it->second;
    c.ready = true;
    c.addr = res.addr;
    c.pid = res.pid;
    backoff_ms_[pool] = 0;
    c.ttl = clock_.after(opts_.ttl_ms, [this, id] {
        auto t = cells_.find(id);
        if (t == cells_.end()) return;
        t->second.ttl = 0;
        size_t p = t->second.pool;
        retire(id, "ttl");
        fill(p);
    });
    log_info("stemcell_ready", {{"id", id}, {"kind", specs_[pool].kind},
                                {"memory", specs_[pool].memory}, {"addr", res.addr},
                                {"ms", clock_.now_ms() - c.started_ms}});
}

void StemcellPool::retry_later(size_t pool) {
    if (!running_ || retry_[pool] != 0) return;
    int64_t &b = backoff_ms_[pool];
    b = b == 0 ? opts_.retry_ms : std::min(b * 2, kMaxRetryMs);
    retry_[pool] = clock_.after(b, [this, pool] {
        retry_[pool] = 0;
        fill(pool);
    });
}

void StemcellPool::retire(const std::string &id, const char *why) {
    auto it = cells_.find(id);
    if (it == cells_.end()) return;
    if (it->second.ttl) clock_.cancel(it->second.ttl);
    log_info("stemcell_stopping", {{"id", id}, {"reason", why}});
    // its room stays held until it has exited (a pod being deleted still
    // counts on its node)
    stopping_[id] = it->second.held;
    cells_.erase(it);
    inner_.stop(id, opts_.stop_grace_ms);
}

bool StemcellPool::make_room() {
    auto best = cells_.end();
    for (auto it = cells_.begin(); it != cells_.end(); ++it) {
        const Cell &c = it->second;
        if (!c.ready || c.held.node.empty()) continue;
        if (best == cells_.end() || c.held.req.mem > best->second.held.req.mem ||
            (c.held.req.mem == best->second.held.req.mem &&
             c.started_ms < best->second.started_ms)) {
            best = it;
        }
    }
    if (best == cells_.end()) return false;
    std::string id = best->first;  // retire erases the entry its key lives in
    size_t pool = best->second.pool;
    retire(id, "room");
    // replaced once room is left over: tried after the backoff (doubling
    // while the node stays full), never before the start it made room for
    retry_later(pool);
    return true;
}

bool StemcellPool::take(const std::string &kind, int64_t memory, Taken *out,
                        const std::vector<std::string> *command) {
    auto best = cells_.end();
    for (auto it = cells_.begin(); it != cells_.end(); ++it) {
        const Cell &c = it->second;
        if (!c.ready) continue;
        const StemcellSpec &s = specs_[c.pool];
        if (command != nullptr ? (s.command != *command || s.memory != memory)
                               : !matches(c.pool, kind, memory))
            continue;
        // the oldest: the TTL would retire it first
        if (best == cells_.end() || c.started_ms < best->second.started_ms) best = it;
    }
    if (best == cells_.end()) return false;
    out->id = best->first;
    out->addr = best->second.addr;
    out->pid = best->second.pid;
    out->started_ms = best->second.started_ms;
    out->node = best->second.held.node;
    size_t pool = best->second.pool;
    if (best->second.ttl) clock_.cancel(best->second.ttl);
    // its room is the action container's now (Capacity adds it on node)
    release(best->second.held);
    cells_.erase(best);
    // replenish off the request path (a fork per start)
    clock_.after(0, [this, pool] { fill(pool); });
    return true;
}

void StemcellPool::discard(const Taken &cell) {
    log_info("stemcell_stopping", {{"id", cell.id}, {"reason", "discarded"}});
    stopping_[cell.id] = Held();  // take() released its room
    inner_.stop(cell.id, opts_.stop_grace_ms);
}

void StemcellPool::specialize(const Taken &cell, const std::string &action,
                              StartCallback done) {
    log_info("stemcell_specializing", {{"id", cell.id}, {"action", action}});
    Taken t = cell;
    specializer_.specialize(cell.addr, action, opts_.specialize_timeout_ms,
                            [this, t, done = std::move(done)](const Specialized &s) {
        StartResult r;
        r.addr = t.addr;
        r.pid = t.pid;
        if (s.kind == Specialized::ready) {
            r.status = StartResult::ok;
        } else if (s.kind == Specialized::init_failed) {
            // the sidecar's init failure, as a normal start reports it
            // ("failed <json>" on the ready fd); it exits 3 by itself
            r.status = StartResult::init_failed;
            r.init_error = nlohmann::json::parse(s.body, nullptr, false);
            if (r.init_error.is_discarded()) r.init_error = s.body;
            if (r.init_error.is_object() && r.init_error.contains("error") &&
                r.init_error["error"].is_string()) {
                r.error = r.init_error["error"].get<std::string>();
            } else {
                r.error = "action initialization failed";
            }
        } else {
            r.status = StartResult::failed;
            r.error = "stemcell did not specialize: " +
                      (s.error.empty() ? "status " + std::to_string(s.status) : s.error);
            log_warn("stemcell_specialize_failed", {{"id", t.id}, {"error", r.error}});
            // no longer a stemcell nor a container of the action: its exit
            // ends here (the container it was to be held the room)
            stopping_[t.id] = Held();
            inner_.stop(t.id, opts_.stop_grace_ms);
        }
        done(r);
    });
}

void StemcellPool::on_inner_exit(const std::string &id, int status) {
    auto stopped = stopping_.find(id);
    if (stopped != stopping_.end()) {
        Held h = stopped->second;
        stopping_.erase(stopped);
        release(h);
        if (!h.node.empty() && on_room_freed_) on_room_freed_();
        return;
    }
    auto it = cells_.find(id);
    if (it == cells_.end()) {
        if (downstream_) downstream_(id, status);
        return;
    }
    // a ready stemcell died (its runtime crashed, or it was killed): a
    // starting one is answered by its start callback first (backend.h)
    size_t pool = it->second.pool;
    log_warn("stemcell_exited", {{"id", id}, {"status", status}});
    if (it->second.ttl) clock_.cancel(it->second.ttl);
    release(it->second.held);
    cells_.erase(it);
    retry_later(pool);
}

}  // namespace ow::pm
