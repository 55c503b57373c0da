// manager.cc: see manager.h.
#include "pool-manager/manager.h"

#include <memory>
#include <nlohmann/json.hpp>

#include "libow/log.h"

namespace ow::pm {

Manager::Manager(Pool &pool, Backend &backend, WarmSink &warm, Clock &clock,
                 Probe probe, ManagerOptions opts)
    : pool_(pool), backend_(backend), warm_(warm), clock_(clock),
      probe_(std::move(probe)), opts_(opts) {
    backend_.on_exit([this](const std::string &id, int status) { on_exit(id, status); });
}

void Manager::run() { schedule(); }

void Manager::schedule() {
    clock_.after(opts_.health_interval_ms, [this] {
        tick();
        schedule();
    });
}

void Manager::on_exit(const std::string &id, int status) {
    Container *c = pool_.find(id);
    // A container that exits while starting is answered by its start
    // callback (the backend delivers it first), which removes it.
    if (c == nullptr || c->state == State::starting) return;
    const char *why = status == 0   ? "drained"
                      : status == 2 ? "recycled"
                      : status == 3 ? "init_failed"
                      : status < 0  ? "gone"
                                    : "died";
    nlohmann::json f = {{"id", id}, {"action", c->action}, {"status", status},
                        {"reason", why}, {"state", state_name(c->state)}};
    if (c->state == State::stopping) {
        log_info("container_stopped", f);
    } else {
        log_warn("container_exited", f);
    }
    if (c->state == State::warm) warm_.del(*c);
    pool_.remove(id);
    polling_.erase(id);
    if (on_removed_) on_removed_();
}

void Manager::retire(const std::string &id, const char *why) {
    Container *c = pool_.find(id);
    if (c == nullptr || c->state == State::stopping) return;
    log_info("container_retire", {{"id", id}, {"action", c->action}, {"reason", why}});
    // Unroute before draining: gateways stop sending work, then the sidecar
    // finishes what it has and exits 0.
    if (c->state == State::warm) warm_.del(*c);
    c->state = State::stopping;
    backend_.stop(id, opts_.stop_grace_ms);
}

void Manager::tick() {
    // Ids first: a probe may answer synchronously and change the pool.
    std::vector<std::pair<std::string, std::string>> todo;
    for (const auto &kv : pool_.all()) {
        const Container &c = kv.second;
        if (c.state != State::warm || c.addr.empty() || polling_.count(c.id)) continue;
        todo.emplace_back(c.id, c.addr);
    }
    for (const auto &ia : todo) {
        std::string id = ia.first;
        polling_.insert(id);
        probe_(ia.second, [this, id](bool ok, const Health &h) {
            polling_.erase(id);
            Container *c = pool_.find(id);
            if (c == nullptr) return;
            if (ok) {
                c->health = h;
                c->health.failures = 0;
                return;
            }
            c->health.failures++;
            if (c->adopted && c->state == State::warm &&
                c->health.failures >= opts_.adopted_max_failures) {
                // No SIGCHLD for a container we did not start: repeated
                // silence is how it is seen to be dead.
                log_warn("container_unresponsive", {{"id", id}, {"action", c->action}});
                warm_.del(*c);
                c->state = State::stopping;
                backend_.stop(id, 0);
                pool_.remove(id);
                if (on_removed_) on_removed_();
            }
        });
    }
}

void Manager::adopt(const std::vector<std::string> &entries,
                    std::function<void(size_t kept)> done) {
    struct State_ {
        size_t pending = 0;
        size_t kept = 0;
        std::function<void(size_t)> done;
    };
    auto st = std::make_shared<State_>();
    st->done = std::move(done);
    std::vector<Container> cands;
    for (const std::string &e : entries) {
        nlohmann::json j = nlohmann::json::parse(e, nullptr, false);
        if (j.is_discarded() || !j.is_object()) continue;
        Container c;
        c.id = j.value("id", "");
        c.action = j.value("action", "");
        c.addr = j.value("addr", "");
        c.kind = j.value("kind", "");
        c.concurrency = j.value("concurrency", int64_t(1));
        c.memory = j.value("memory", int64_t(256));
        c.started_ms = j.value("started", int64_t(0));
        c.pid = j.value("pid", int64_t(0));
        // Where the previous pool-manager placed it: the allocator counts
        // it there (a node no longer in --nodes counts nowhere).
        c.node = j.value("node", "");
        c.version = j.value("version", "");
        std::string path;
        if (c.id.empty() || c.addr.empty() || !split_action(c.action, &c.ns, &path)) continue;
        c.state = State::warm;
        c.adopted = true;
        cands.push_back(std::move(c));
    }
    st->pending = cands.size() + 1;  // +1: released below, so done runs once
    auto finish_one = [st] {
        if (--st->pending == 0) st->done(st->kept);
    };
    for (Container &c : cands) {
        std::string addr = c.addr;
        probe_(addr, [this, st, c, finish_one](bool ok, const Health &h) mutable {
            if (ok && backend_.adopt(c.id, c.pid)) {
                c.health = h;
                pool_.add(c);
                st->kept++;
                log_info("container_adopted", {{"id", c.id}, {"action", c.action},
                                               {"addr", c.addr}, {"pid", c.pid}});
            } else {
                log_info("container_dropped", {{"id", c.id}, {"action", c.action},
                                               {"addr", c.addr}});
            }
            finish_one();
        });
    }
    finish_one();
}

}  // namespace ow::pm
