// daemon.cc: see daemon.h.
#include "pool-manager/daemon.h"

#include <algorithm>

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
      capacity_(pool_, backend_, actions_, runtimes_, warm_, clock_, cfg_.capacity),
      sidecar_client_(io),
      records_(redis_, cfg_.retention_ms),
      invokes_(capacity_, pool_, actions_, runtimes_, sidecar_client_, records_, clock_,
               cfg_.invoke),
      collector_(cfg_.idle_timeout_ms),
      poller_(io, cfg_.health_timeout_ms),
      manager_(pool_, backend_, warm_, collector_, clock_,
               [this](const std::string &addr, Manager::ProbeDone d) {
                   poller_.check(addr, std::move(d));
               },
               cfg_.manager),
      api_(io, capacity_, pool_, invokes_) {}

void Daemon::start() { reconcile(); }

void Daemon::stop() { api_.close(); }

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
