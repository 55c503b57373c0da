// capacity.cc: see capacity.h.
#include "pool-manager/capacity.h"

#include <random>

#include "libow/log.h"

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
                   CapacityOptions opts)
    : pool_(pool), backend_(backend), actions_(actions), runtimes_(runtimes),
      warm_(warm), clock_(clock), opts_(opts), new_id_(random_id) {}

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

nlohmann::json Capacity::containers_of(const std::string &action) const {
    nlohmann::json list = nlohmann::json::array();
    for (const Container *c : pool_.of_action(action, State::warm)) {
        list.push_back({{"id", c->id},
                        {"addr", c->addr},
                        {"concurrency", c->concurrency}});
    }
    return {{"containers", list}};
}

void Capacity::request(const std::string &action, bool scale, Reply reply) {
    std::string ns, path;
    if (!split_action(action, &ns, &path)) {
        reply(400, error_body("action must be \"<namespace>/[<package>/]<name>\""));
        return;
    }
    bool have_warm = !pool_.of_action(action, State::warm).empty();
    if (have_warm && !scale) {
        reply(200, containers_of(action));
        return;
    }
    if (starts_.count(action)) {
        join(action, std::move(reply));
        return;
    }
    begin_start(action, ns, path, std::move(reply));
}

void Capacity::join(const std::string &action, Reply reply) {
    Start &s = starts_[action];
    if (s.waiters.size() >= opts_.max_waiters_per_action) {
        reply(503, error_body("too many requests waiting for a container of " + action));
        return;
    }
    uint64_t seq = ++seq_;
    Clock::TimerId t = clock_.after(opts_.deadline_ms, [this, action, seq] {
        expire(action, seq);
    });
    s.waiters.push_back(Waiter{seq, std::move(reply), t});
}

void Capacity::begin_start(const std::string &action, const std::string &ns,
                           const std::string &path, Reply reply) {
    ActionLookup look = actions_.lookup(ns, path);
    if (look.status == ActionLookup::not_found) {
        reply(404, error_body("The requested resource does not exist."));
        return;
    }
    if (look.status != ActionLookup::ok) {
        log_warn("action_lookup_failed", {{"action", action}, {"error", look.error}});
        reply(503, error_body("cannot read the action: " + look.error));
        return;
    }
    const Runtime *rt = runtimes_.resolve(look.info.kind);
    if (rt == nullptr) {
        reply(400, error_body("kind '" + look.info.kind +
                              "' is not supported by this deployment"));
        return;
    }
    if (static_cast<int64_t>(pool_.count_namespace(ns)) >= opts_.max_per_namespace) {
        log_warn("namespace_cap", {{"action", action}, {"cap", opts_.max_per_namespace}});
        reply(429, error_body("Too many containers for namespace '" + ns +
                              "' (limit " +
                              std::to_string(opts_.max_per_namespace) + ")."));
        return;
    }

    Container c;
    c.id = new_id_();
    c.action = action;
    c.ns = ns;
    c.kind = rt->kind;
    c.memory = look.info.memory;
    c.concurrency = look.info.concurrency;
    c.started_ms = clock_.now_ms();
    c.state = State::starting;
    pool_.add(c);

    starts_[action].id = c.id;
    join(action, std::move(reply));

    ContainerSpec spec;
    spec.id = c.id;
    spec.action = action;
    spec.kind = rt->kind;
    spec.family = rt->family;
    spec.command = rt->command;
    spec.memory = c.memory;
    spec.concurrency = c.concurrency;
    log_info("container_starting", {{"id", c.id}, {"action", action}, {"kind", c.kind}});
    std::string id = c.id;
    backend_.start(spec, [this, action, id](const StartResult &res) {
        on_started(action, id, res);
    });
}

void Capacity::on_started(const std::string &action, const std::string &id,
                          const StartResult &res) {
    int status = 200;
    nlohmann::json body;
    Container *c = pool_.find(id);
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
    if (it == starts_.end() || it->second.id != id) return;
    std::vector<Waiter> waiters = std::move(it->second.waiters);
    starts_.erase(it);
    for (Waiter &w : waiters) {
        clock_.cancel(w.timer);
        w.reply(status, body);
    }
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
