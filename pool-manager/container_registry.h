// container_registry.h: the leader's record, in Redis, of every container it
// asked the backend for, kept until the container is gone. A new leader
// adopts what the warm table lists; this record tells it what else its
// predecessor left running — a start under way, or a stemcell, when the
// predecessor was killed or fenced — so it can remove those instead of
// leaking them.
//
//   owx:{warm}:started  hash container id → epoch ms of the start
//
// One HSET per start and one HDEL per exit, on the control path only (a
// cold start already costs a document read and a warm-table script). A
// failed write is logged and the start goes on: the record matters only if
// the leader also dies during that start.
#pragma once

#include <functional>
#include <string>

#include "pool-manager/backends/backend.h"
#include "pool-manager/clock.h"

namespace ow {
class Redis;   // libow/redis_client.h
}  // namespace ow

namespace ow::pm {

class ContainerRegistry : public Backend {
public:
    ContainerRegistry(Backend &inner, Redis &redis, Clock &clock);

    void start(const ContainerSpec &spec, StartCallback done) override;
    void stop(const std::string &id, int64_t grace_ms) override { inner_.stop(id, grace_ms); }
    bool adopt(const std::string &id, int64_t pid) override { return inner_.adopt(id, pid); }
    void on_exit(ExitCallback cb) override { downstream_ = std::move(cb); }
    void remove_orphan(const std::string &id) override { inner_.remove_orphan(id); }

    // Takeover, after the adoption: every recorded container known() does
    // not claim is removed through the backend and forgotten. Returns how
    // many were removed; false in *ok when Redis could not be read.
    size_t remove_orphans(const std::function<bool(const std::string &)> &known, bool *ok);

private:
    Backend &inner_;
    Redis &redis_;
    Clock &clock_;
    ExitCallback downstream_;
};

}  // namespace ow::pm
