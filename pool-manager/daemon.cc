// daemon.cc: see daemon.h.
#include "pool-manager/daemon.h"

#include <algorithm>
#include <random>

#include <boost/asio/post.hpp>

#include "libow/log.h"

namespace ow::pm {

Daemon::Daemon(boost::asio::io_context &io, DaemonConfig cfg, Runtimes runtimes)
    : io_(io),
      cfg_(std::move(cfg)),
      runtimes_(std::move(runtimes)),
      clock_(io),
      redis_(cfg_.redis_host, cfg_.redis_port, cfg_.redis_timeout_ms),
      warm_(redis_, clock_, [this] { return pool_.warm(); }),
      actions_(redis_),
      backend_(io, cfg_.backend),
      specialize_client_(io),
      stemcells_(backend_, specialize_client_, clock_, cfg_.stemcells, cfg_.stemcell),
      allocator_(cfg_.nodes.empty() ? std::vector<NodeSpec>{local_node()} : cfg_.nodes,
                 make_strategy(cfg_.placement, std::random_device{}()), cfg_.cpu_per_gb),
      capacity_(pool_, backend_, actions_, runtimes_, warm_, clock_, cfg_.capacity,
                &allocator_),
      sidecar_client_(io),
      records_(redis_, cfg_.retention_ms),
      invokes_(capacity_, pool_, actions_, runtimes_, sidecar_client_, records_, clock_,
               cfg_.invoke),
      fire_redis_(cfg_.redis_host, cfg_.redis_port,
                  cfg_.redis_timeout_ms + cfg_.fire.take_wait_ms),
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
      gc_(pool_, warm_, backend_, clock_, *policy_, cfg_.gc),
      poller_(io, cfg_.health_timeout_ms),
      manager_(pool_, stemcells_, warm_, clock_,
               [this](const std::string &addr, Manager::ProbeDone d) {
                   poller_.check(addr, std::move(d));
               },
               cfg_.manager),
      api_(io, capacity_, pool_, invokes_) {
    capacity_.set_stemcells(&stemcells_);
    api_.set_stemcells(&stemcells_);
}

void Daemon::start() { reconcile(); }

void Daemon::stop() {
    api_.close();
    // Jobs in hand stay in the processing list for the next pool-manager.
    fires_.stop();
    // stemcells serve nothing and no successor adopts them
    stemcells_.stop_all();
}

void Daemon::reconcile() {
    std::vector<std::string> entries;
    std::string err;
    if (!warm_.read_all(&entries, &err)) {
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
        if (!api_.listen(cfg_.listen_host, cfg_.listen_port, &e)) {
            log_error("listen_failed", {{"error", e}});
            failed_ = true;
            io_.stop();
            return;
        }
        manager_.run();
        // after the adoption: fired rules find the adopted containers
        fires_.start();
        gc_.run();
        stemcells_.run();
        clock_.after(cfg_.resync_interval_ms, [this] { resync(); });
        log_info("listening", {{"port", api_.port()},
                               {"adopted", kept},
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
