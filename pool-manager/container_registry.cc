// container_registry.cc: see container_registry.h.
#include "pool-manager/container_registry.h"

#include <hiredis/hiredis.h>

#include "libow/log.h"
#include "libow/redis_client.h"
#include "schema/ow_schema.h"

namespace ow::pm {

ContainerRegistry::ContainerRegistry(Backend &inner, Redis &redis, Clock &clock)
    : inner_(inner), redis_(redis), clock_(clock) {
    inner_.on_exit([this](const std::string &id, int status) {
        RedisResult r = redis_.command({"HDEL", OW_KEY_WARM_STARTED, id});
        if (!r.ok()) log_warn("registry_write_failed", {{"id", id}, {"error", r.error}});
        if (downstream_) downstream_(id, status);
    });
}

void ContainerRegistry::start(const ContainerSpec &spec, StartCallback done) {
    RedisResult r = redis_.command({"HSET", OW_KEY_WARM_STARTED, spec.id,
                                    std::to_string(clock_.now_ms())});
    if (!r.ok()) log_warn("registry_write_failed", {{"id", spec.id}, {"error", r.error}});
    inner_.start(spec, std::move(done));
}

size_t ContainerRegistry::remove_orphans(
    const std::function<bool(const std::string &)> &known, bool *ok) {
    RedisResult r = redis_.command({"HKEYS", OW_KEY_WARM_STARTED});
    *ok = r.ok() && r.reply->type == REDIS_REPLY_ARRAY;
    if (!*ok) {
        log_warn("registry_read_failed", {{"error", r.ok() ? "unexpected reply" : r.error}});
        return 0;
    }
    size_t removed = 0;
    for (size_t i = 0; i < r.reply->elements; i++) {
        redisReply *e = r.reply->element[i];
        if (e->type != REDIS_REPLY_STRING) continue;
        std::string id(e->str, e->len);
        if (known(id)) continue;
        inner_.remove_orphan(id);
        redis_.command({"HDEL", OW_KEY_WARM_STARTED, id});
        log_info("orphan_removed", {{"id", id}});
        removed++;
    }
    return removed;
}

}  // namespace ow::pm
