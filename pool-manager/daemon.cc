// daemon.cc: see daemon.h.
#include "pool-manager/daemon.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include "libow/clock.h"
#include "libow/json_limits.h"
#include "libow/log.h"
#include "pool-manager/pm_metrics.h"

namespace ow::pm {

Daemon::Daemon(boost::asio::io_context &io, DaemonConfig cfg, Runtimes runtimes)
    : io_(io),
      cfg_(std::move(cfg)),
      runtimes_(std::move(runtimes)),
      clock_(io),
      redis_(cfg_.redis_host, cfg_.redis_port, cfg_.redis_cred, {cfg_.redis_timeout_ms}),
      warm_(redis_, clock_, [this] { return pool_.warm(); }),
      actions_(redis_),
      backend_(make_backend(io, cfg_.backend_kind, cfg_.backend, cfg_.kube, &kube_client_)),
      registry_(*backend_, redis_, clock_),
      specialize_client_(io, cfg_.token),
      stemcells_(registry_, specialize_client_, clock_, cfg_.stemcells, cfg_.stemcell),
      allocator_(cfg_.nodes.empty() ? std::vector<NodeSpec>{local_node()} : cfg_.nodes,
                 make_strategy(cfg_.placement, std::random_device{}()), cfg_.cpu_per_gb),
      capacity_(pool_, registry_, actions_, runtimes_, warm_, clock_, cfg_.capacity,
                &allocator_),
      sidecar_client_(io, cfg_.token),
      records_(redis_, cfg_.retention_ms),
      invokes_(capacity_, pool_, actions_, runtimes_, sidecar_client_, records_, clock_,
               cfg_.invoke),
      fire_redis_(cfg_.redis_host, cfg_.redis_port, cfg_.redis_cred,
                  {cfg_.redis_timeout_ms + cfg_.fire.take_wait_ms}),
      fire_taker_(fire_redis_),
      fire_acker_(redis_),
      fires_(fire_taker_, fire_acker_,
             [this](const HeaderFn &h, const std::string &q, std::string body,
                    std::function<void()> done) {
                 return invokes_.accept(h, q, std::move(body), std::move(done));
             },
             records_, clock_,
             [this](std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); },
             cfg_.fire),
      policy_(make_policy(cfg_.gc_policy,
                          {cfg_.idle_timeout_ms, cfg_.gc_min_warm, cfg_.gc_recent_ms,
                           cfg_.gc_compact_idle_ms})),
      gc_(pool_, warm_, registry_, clock_, *policy_, cfg_.gc),
      compactor_(pool_, allocator_, cfg_.compactor,
                 [this](const std::string &action, int64_t n) { start_replacements(action, n); }),
      poller_(io, cfg_.health_timeout_ms),
      manager_(pool_, stemcells_, warm_, clock_,
               [this](const std::string &addr, Manager::ProbeDone d) {
                   poller_.check(addr, std::move(d));
               },
               cfg_.manager),
      api_(io, capacity_, pool_, invokes_),
      lease_store_(redis_),
      forwarder_(io, clock_, [this] { return leadership(); }, [this] { return serving_; },
                 // a forwarded capacity request waits as long as a local one
                 // would, plus a failover
                 cfg_.capacity.deadline_ms + cfg_.lease.lease_ms) {
    capacity_.set_stemcells(&stemcells_);
    // stemcells are placed and hold their room; the first to go for a
    // real action, which then waits for their exit
    stemcells_.set_placement(&pool_, &allocator_);
    stemcells_.set_on_room_freed([this] { capacity_.room_freed(); });
    capacity_.set_retire([this](const std::string &id, const char *why) {
        manager_.retire(id, why);
    });
    manager_.set_on_removed([this] { capacity_.room_freed(); });
    api_.set_stemcells(&stemcells_);
    api_.set_token(cfg_.token);
    api_.set_metrics_token(cfg_.metrics_token);
    pm_metrics().watch(&pool_, &allocator_, &stemcells_);   // GET /metrics
    api_.set_standby(&forwarder_, [this] { return serving_; });
    warm_.set_fence([this] { return leadership().token; },
                    [this] { lost_leadership("a warm-table write was fenced"); });
    // On Kubernetes the nodes come from the node watch (joins, leaves,
    // cordons), not from --nodes.
    if (auto *kube = dynamic_cast<KubeBackend *>(backend_.get())) {
        kube->on_nodes([this](const std::vector<NodeSpec> &nodes) {
            allocator_.set_nodes(nodes);
            log_info("nodes", {{"schedulable", nodes.size()}});
        });
    }
    if (cfg_.gc_policy == "node-emptying") gc_.set_compactor(&compactor_);
    pm_metrics().set_leader(false);
}

void Daemon::start_replacements(const std::string &action, int64_t n) {
    // A scale request with no gateway behind it: Capacity sizes the starts
    // by parked demand in requests, n containers' worth, and the allocator
    // places them away from the nodes being emptied. Its answer (the
    // action's containers, or why none started) is for nobody: a
    // replacement that does not become warm is asked for again later.
    std::vector<const Container *> warm = pool_.of_action(action, State::warm);
    int64_t concurrency = warm.empty() ? 1 : std::max<int64_t>(1, warm.front()->concurrency);
    capacity_.request(action, true, [](int, const nlohmann::json &) {}, n * concurrency);
}

// Dead journals, then this process's own spill: records owed to Redis.
// Synchronous writes on the io thread, bounded per pass; a pass stops at
// the first write Redis refuses (it is away) and the next one goes on.
void Daemon::sweep_journals() {
    auto store = [this](const std::string &json) {
        nlohmann::json record = ow::json_parse_bounded(json);
        if (!record.is_object()) {
            log_warn("journal_line_skipped", {{"reason", "not a record"}});
            return true;
        }
        std::string err;
        return records_.write(record, &err);
    };
    ow::SweepResult r = ow::sweep_journals(cfg_.journal_root, store, ow::now_ms(),
                                           10000, 1000);
    std::string spill = r.failed ? "" : journal_.next_spill();
    if (!spill.empty()) {
        std::ifstream in(spill);
        std::string line, id, json;
        bool ok = true;
        int64_t reap_after;
        while (ok && std::getline(in, line))
            if (ow::parse_journal_line(line, &reap_after, &id, &json)) ok = store(json);
        if (ok) journal_.finish_spill(spill);
    }
    clock_.after(cfg_.journal_sweep_ms, [this] { sweep_journals(); });
}

void Daemon::start() {
    std::string e;
    if (!cfg_.journal_root.empty()) {
        ::mkdir(cfg_.journal_root.c_str(), 0700);
        std::string dir = cfg_.journal_root + "/pool-manager-" + std::to_string(::getpid());
        if (!journal_.open(dir, 256u << 20, &e)) {
            log_error("journal_failed", {{"error", e}});
            failed_ = true;
            io_.stop();
            return;
        }
        invokes_.set_journal(&journal_);
        sweep_journals();
    }
    if (!api_.listen(cfg_.listen_host, cfg_.listen_port, &e)) {
        log_error("listen_failed", {{"error", e}});
        failed_ = true;
        io_.stop();
        return;
    }
    std::string addr = !cfg_.advertise.empty()
                           ? cfg_.advertise
                           : cfg_.listen_host + ":" + std::to_string(api_.port());
    if (kube_client_) {
        KubeLeaseOptions o;
        o.ns = cfg_.kube.backend.ns;
        o.identity = cfg_.lease.identity;
        o.leader_addr = addr;
        // client-go's proportions: renew deadline 2/3 of the lease
        o.lease_duration_ms = cfg_.lease.lease_ms;
        o.renew_deadline_ms = cfg_.lease.lease_ms * 2 / 3;
        o.retry_period_ms = cfg_.lease.renew_ms;
        elector_ = std::make_unique<KubeLeaseElector>(io_, *kube_client_, o);
    } else {
        LeaseOptions o = cfg_.lease;
        o.addr = addr;
        elector_ = std::make_unique<RedisLease>(lease_store_, clock_, o);
    }
    log_info("campaigning", {{"port", api_.port()}, {"lease_ms", cfg_.lease.lease_ms},
                             {"lease", kube_client_ ? "kubernetes" : "redis"}});
    elector_->start([this](const Leadership &l) { on_leadership(l); });
}

void Daemon::on_leadership(const Leadership &l) {
    if (l.leading && !leading_) {
        leading_ = true;
        reconcile();
    } else if (!l.leading && leading_) {
        std::string why = l.lost_reason.empty() ? "the lease was lost" : l.lost_reason;
        lost_leadership(why.c_str());
    }
}

void Daemon::lost_leadership(const char *why) {
    if (failed_) return;
    // Whatever this replica still believes about the pool may be stale: a
    // successor adopts the containers from the warm table. Exiting is the
    // simple safe answer (client-go's OnStoppedLeading does the same).
    log_error("lost_leadership", {{"reason", why}, {"containers", pool_.size()}});
    serving_ = false;
    stop();
    failed_ = true;
    io_.stop();
}

void Daemon::stop() {
    api_.close();
    // a standby takes over at once instead of after the lease (both
    // electors release synchronously, the Kubernetes one within its
    // release deadline, since the io loop stops right after)
    if (elector_) elector_->resign();
    // Jobs in hand stay in the processing list for the next pool-manager.
    fires_.stop();
    // stemcells serve nothing and no successor adopts them
    stemcells_.stop_all();
}

void Daemon::reconcile() {
    std::vector<std::string> entries;
    std::string err;
    // The Redis lease's token already is the fence; a Lease's term number
    // lives in the API server, so it is raised in Redis before any write.
    if (!warm_.raise_fence(leadership().token, &err) || !warm_.read_all(&entries, &err)) {
        log_warn("reconcile_retry", {{"error", err}, {"retry_ms", backoff_ms_}});
        clock_.after(backoff_ms_, [this] { reconcile(); });
        backoff_ms_ = std::min<int64_t>(backoff_ms_ * 2, 5000);
        return;
    }
    size_t previous = entries.size();
    manager_.adopt(entries, [this, previous](size_t kept) {
        std::string e;
        if (!warm_.sync(pool_.warm(), &e)) {
            log_warn("reconcile_sync_failed", {{"error", e}});
            warm_.resync_later();
        }
        if (failed_) return;
        pm_metrics().set_leader(true);
        // what a killed predecessor started and nobody adopted: a start
        // under way, its stemcells
        bool read = false;
        size_t orphans = registry_.remove_orphans(
            [this](const std::string &id) { return pool_.find(id) != nullptr; }, &read);
        serving_ = true;
        manager_.run();
        // after the adoption: fired rules find the adopted containers
        fires_.start();
        gc_.run();
        stemcells_.run();
        clock_.after(cfg_.resync_interval_ms, [this] { resync(); });
        log_info("serving", {{"port", api_.port()},
                             {"token", leadership().token},
                             {"adopted", kept},
                             {"orphans_removed", orphans},
                             {"registry_read", read},
                             {"previous_entries", previous},
                             {"kinds", runtimes_.size()}});
    });
}

void Daemon::resync() {
    // Level-based repair: the table is rewritten from the pool now and then
    // (only differences are written and published), so a Redis that lost
    // its data or a hand edit is corrected without a restart.
    std::string e;
    if (!warm_.sync(pool_.warm(), &e)) log_warn("warm_table_resync_failed", {{"error", e}});
    clock_.after(cfg_.resync_interval_ms, [this] { resync(); });
}

}  // namespace ow::pm
