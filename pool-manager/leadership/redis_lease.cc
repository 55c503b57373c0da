// redis_lease.cc: see redis_lease.h.
#include "pool-manager/leadership/redis_lease.h"

#include <hiredis/hiredis.h>

#include "libow/log.h"
#include "libow/redis_client.h"
#include "schema/ow_schema.h"

namespace ow::pm {

// KEYS: leader, token. ARGV: identity, addr, lease ms. Returns {held (0/1),
// token, holder's addr}. Identities and addresses hold no spaces.
const char *const RedisLeaseStore::kAcquireScript = R"lua(
local v = redis.call('GET', KEYS[1])
if v then
  local tok, id, addr = string.match(v, '^(%d+) (%S+) (%S*)$')
  if id == ARGV[1] then
    redis.call('SET', KEYS[1], tok .. ' ' .. id .. ' ' .. ARGV[2], 'PX', ARGV[3])
    return {1, tonumber(tok), ARGV[2]}
  end
  if tok then return {0, tonumber(tok), addr} end
end
local tok = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], tok .. ' ' .. ARGV[1] .. ' ' .. ARGV[2], 'PX', ARGV[3])
return {1, tok, ARGV[2]}
)lua";

// KEYS: leader. ARGV: identity.
const char *const RedisLeaseStore::kReleaseScript = R"lua(
local v = redis.call('GET', KEYS[1])
if v and string.match(v, '^%d+ (%S+) ') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
)lua";

LeaseStore::Answer RedisLeaseStore::acquire(const std::string &identity,
                                            const std::string &addr, int64_t lease_ms) {
    Answer a;
    RedisResult r = redis_.command({"EVAL", kAcquireScript, "2", OW_KEY_LEADER,
                                    OW_KEY_LEADER_TOKEN, identity, addr,
                                    std::to_string(lease_ms)});
    if (!r.ok() || r.reply->type != REDIS_REPLY_ARRAY || r.reply->elements != 3 ||
        r.reply->element[0]->type != REDIS_REPLY_INTEGER ||
        r.reply->element[1]->type != REDIS_REPLY_INTEGER) {
        a.error = r.ok() ? "unexpected reply to the lease script" : r.error;
        return a;
    }
    a.ok = true;
    a.held = r.reply->element[0]->integer == 1;
    a.token = r.reply->element[1]->integer;
    redisReply *addr_r = r.reply->element[2];
    if (addr_r->type == REDIS_REPLY_STRING) a.addr.assign(addr_r->str, addr_r->len);
    return a;
}

void RedisLeaseStore::release(const std::string &identity) {
    RedisResult r = redis_.command({"EVAL", kReleaseScript, "1", OW_KEY_LEADER, identity});
    if (!r.ok()) log_warn("lease_release_failed", {{"error", r.error}});
}

RedisLease::RedisLease(LeaseStore &store, Clock &clock, LeaseOptions opts)
    : store_(store), clock_(clock), opts_(std::move(opts)) {}

void RedisLease::start(ChangeCallback on_change) {
    on_change_ = std::move(on_change);
    tick();
}

void RedisLease::tick() {
    if (resigned_) return;
    clock_.after(opts_.renew_ms, [this] { tick(); });
    LeaseStore::Answer a = store_.acquire(opts_.identity, opts_.addr, opts_.lease_ms);
    if (!a.ok) {
        // Nobody can take the lock while Redis is away: keep the role (the
        // fencing token guards every write).
        log_warn("lease_unreachable", {{"error", a.error}, {"leading", state_.leading}});
        return;
    }
    Leadership next;
    next.leading = a.held;
    next.token = a.token;
    next.leader_addr = a.addr;
    // the lock is only ever lost to another replica (Redis away keeps it)
    if (!a.held) next.lost_reason = "another replica holds the lease (" + a.addr + ")";
    bool changed = next.leading != state_.leading || next.token != state_.token ||
                   next.leader_addr != state_.leader_addr;
    if (!changed) return;
    if (next.leading != state_.leading || next.token != state_.token) {
        log_info(next.leading ? "leading" : "following",
                 {{"token", next.token}, {"leader", next.leader_addr}});
    }
    state_ = next;
    if (on_change_) on_change_(state_);
}

void RedisLease::resign() {
    if (resigned_) return;
    resigned_ = true;
    if (state_.leading) store_.release(opts_.identity);
    state_.leading = false;
}

}  // namespace ow::pm
