// warm_table.cc: see warm_table.h.
#include "pool-manager/warm_table.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <map>

#include "libow/log.h"
#include "libow/redis_client.h"
#include "schema/ow_schema.h"

namespace ow::pm {

namespace {
// OW_KEY_WARM and OW_KEY_WARM_VERSION share a hash tag: one script, one
// slot. Gateways HSET <id> <epoch ms> in OW_KEY_WARM_UNMARK when they route
// to a marked container (their last resort); the collector consumes it
// every pass and the sweep script checks it, so a request that lands before
// a sweep always wins. OW_KEY_LEADER_TOKEN is the leader's fencing token
// (redis_lease.h): every script below gets it as its last key, and the
// writer's token as its last argument, so a write from a leader whose term
// has ended is refused (0: no election, not checked).
const char kFencePrelude[] = R"lua(
local fence = tonumber(ARGV[#ARGV])
if fence > 0 and tonumber(redis.call('GET', KEYS[#KEYS]) or '0') ~= fence then
  return redis.error_reply('FENCED a newer pool-manager leader exists')
end
)lua";
}  // namespace

// KEYS: OW_KEY_WARM, OW_KEY_WARM_VERSION. ARGV: op ("add", "mark", "unmark":
// write the entry; "del"), id, entry, event fields after "v" (the version is
// only known inside the script). A no-op change (same entry, or deleting
// what is not there) publishes nothing.
const char *const WarmTable::kChangeScript = R"lua(
if ARGV[1] ~= 'del' then
  if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[3] then return 0 end
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
else
  if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then return 0 end
end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ')lua" OW_CHANNEL_WARM R"lua(', '{"v":' .. v .. ',' .. ARGV[4] .. '}')
return v
)lua";

// KEYS as above. ARGV: triplets id, entry, add-event fields. Deletes every
// entry not wanted (its del event is built from the stored entry), then
// writes every wanted entry that differs. Returns the number of changes.
const char *const WarmTable::kSyncScript = R"lua(
local want = {}
for i = 1, #ARGV - 1, 3 do want[ARGV[i]] = true end
local have = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #have, 2 do
  local id, e = have[i], have[i + 1]
  if not want[id] then
    redis.call('HDEL', KEYS[1], id)
    local v = redis.call('INCR', KEYS[2])
    local ok, d = pcall(cjson.decode, e)
    if not ok or type(d) ~= 'table' then d = {} end
    local conc = tonumber(d.concurrency) or 0
    redis.call('PUBLISH', ')lua" OW_CHANNEL_WARM R"lua(',
      '{"v":' .. v .. ',"op":"del","id":' .. cjson.encode(id) ..
      ',"action":' .. cjson.encode(tostring(d.action or '')) ..
      ',"addr":' .. cjson.encode(tostring(d.addr or '')) ..
      ',"concurrency":' .. string.format('%d', conc) .. '}')
    n = n + 1
  end
end
for i = 1, #ARGV - 1, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    local v = redis.call('INCR', KEYS[2])
    redis.call('PUBLISH', ')lua" OW_CHANNEL_WARM R"lua(', '{"v":' .. v .. ',' .. ARGV[i + 2] .. '}')
    n = n + 1
  end
end
return n
)lua";

// KEYS: OW_KEY_WARM, OW_KEY_WARM_VERSION, OW_KEY_WARM_UNMARK. ARGV: id,
// del-event fields. Deletes the entry only while it is marked and no gateway
// asked to unmark it. Returns the new version (swept), 0 (no entry: swept), -1 (a
// gateway's unmark request is pending), -2 (the entry is not marked).
const char *const WarmTable::kSweepScript = R"lua(
local e = redis.call('HGET', KEYS[1], ARGV[1])
if not e then return 0 end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return -1 end
local ok, d = pcall(cjson.decode, e)
if not ok or type(d) ~= 'table' or d.marked ~= true then return -2 end
redis.call('HDEL', KEYS[1], ARGV[1])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ')lua" OW_CHANNEL_WARM R"lua(', '{"v":' .. v .. ',' .. ARGV[2] .. '}')
return v
)lua";

// KEYS: OW_KEY_WARM_UNMARK. Reads and clears the gateways' unmark requests.
const char *const WarmTable::kTakeUnmarksScript = R"lua(
local ids = redis.call('HKEYS', KEYS[1])
if #ids > 0 then redis.call('DEL', KEYS[1]) end
return ids
)lua";

namespace {
// The table entry: the pool's entry plus "marked":true while marked.
std::string entry_of(const Container &c) {
    nlohmann::json j = warm_entry(c);
    if (c.marked_ms) j["marked"] = true;
    return ow::json_dump(j);
}

// The event's fields without the braces, to follow "v" in the script.
std::string event_tail(const Container &c, const char *op) {
    nlohmann::json j = warm_event(c, op);
    if (c.marked_ms && std::string(op) != "del") j["marked"] = true;
    std::string s = ow::json_dump(j);
    return s.substr(1, s.size() - 2);
}
}  // namespace

const std::string &WarmTable::script(const char *body) {
    // built once per script text; the prelude must come first (a return)
    static std::map<const char *, std::string> scripts;
    auto it = scripts.find(body);
    if (it == scripts.end()) it = scripts.emplace(body, std::string(kFencePrelude) + body).first;
    return it->second;
}

std::string WarmTable::token() const {
    return std::to_string(fence_ ? fence_() : 0);
}

bool WarmTable::fenced(const RedisResult &r) {
    if (r.error.compare(0, 7, "FENCED ") != 0) return false;
    log_error("fenced", {{"error", r.error}});
    if (on_fenced_) on_fenced_();
    return true;
}

WarmTable::WarmTable(Redis &redis, Clock &clock,
                     std::function<std::vector<Container>()> desired)
    : redis_(redis), clock_(clock), desired_(std::move(desired)) {}

void WarmTable::add(const Container &c) {
    if (!change("add", c)) schedule_resync();
}

void WarmTable::del(const Container &c) {
    if (!change("del", c)) schedule_resync();
}

bool WarmTable::change(const char *op, const Container &c) {
    if (resync_pending_) return false;  // the resync will cover this change
    RedisResult r = redis_.command({"EVAL", script(kChangeScript), "3", OW_KEY_WARM,
                                    OW_KEY_WARM_VERSION, OW_KEY_LEADER_TOKEN, op, c.id,
                                    entry_of(c), event_tail(c, op), token()});
    if (fenced(r)) return false;
    if (!r.ok()) {
        log_warn("warm_table_write_failed",
                 {{"op", op}, {"id", c.id}, {"error", r.error}});
        return false;
    }
    return true;
}

void WarmTable::schedule_resync() {
    if (resync_pending_) return;
    resync_pending_ = true;
    backoff_ms_ = backoff_ms_ == 0 ? 100 : std::min<int64_t>(backoff_ms_ * 2, 5000);
    clock_.after(backoff_ms_, [this] {
        resync_pending_ = false;
        std::string err;
        if (sync(desired_(), &err)) {
            backoff_ms_ = 0;
            log_info("warm_table_resynced");
        } else {
            log_warn("warm_table_resync_failed", {{"error", err}});
            schedule_resync();
        }
    });
}

bool WarmTable::sync(const std::vector<Container> &want, std::string *err) {
    std::vector<std::string> argv = {"EVAL", script(kSyncScript), "3", OW_KEY_WARM,
                                     OW_KEY_WARM_VERSION, OW_KEY_LEADER_TOKEN};
    for (const Container &c : want) {
        argv.push_back(c.id);
        argv.push_back(entry_of(c));
        argv.push_back(event_tail(c, "add"));
    }
    argv.push_back(token());
    RedisResult r = redis_.command(argv);
    fenced(r);
    if (!r.ok()) {
        *err = r.error;
        return false;
    }
    if (r.reply->type == REDIS_REPLY_INTEGER && r.reply->integer > 0) {
        log_info("warm_table_synced", {{"changes", r.reply->integer},
                                       {"entries", want.size()}});
    }
    return true;
}

bool WarmTable::mark(const Container &c) {
    if (change("mark", c)) return true;
    schedule_resync();
    return false;
}

bool WarmTable::unmark(const Container &c) {
    if (change("unmark", c)) return true;
    schedule_resync();
    return false;
}

MarkSink::Sweep WarmTable::sweep(const Container &c) {
    // Not while a resync is pending: the table may not hold what the pool
    // says, and the resync must not re-add what a sweep removed.
    if (resync_pending_) return Sweep::failed;
    RedisResult r = redis_.command({"EVAL", script(kSweepScript), "4", OW_KEY_WARM,
                                    OW_KEY_WARM_VERSION, OW_KEY_WARM_UNMARK, OW_KEY_LEADER_TOKEN,
                                    c.id, event_tail(c, "del"), token()});
    fenced(r);
    if (!r.ok() || r.reply->type != REDIS_REPLY_INTEGER) {
        log_warn("warm_table_sweep_failed",
                 {{"id", c.id}, {"error", r.ok() ? "unexpected reply" : r.error}});
        return Sweep::failed;
    }
    if (r.reply->integer == -1) return Sweep::unmark_requested;
    if (r.reply->integer == -2) return Sweep::not_marked;
    return Sweep::swept;
}

bool WarmTable::take_unmarks(std::vector<std::string> *ids) {
    RedisResult r = redis_.command({"EVAL", script(kTakeUnmarksScript), "2", OW_KEY_WARM_UNMARK,
                                    OW_KEY_LEADER_TOKEN, token()});
    fenced(r);
    if (!r.ok() || r.reply->type != REDIS_REPLY_ARRAY) {
        log_warn("warm_table_unmarks_failed",
                 {{"error", r.ok() ? "unexpected reply" : r.error}});
        return false;
    }
    for (size_t i = 0; i < r.reply->elements; i++) {
        redisReply *e = r.reply->element[i];
        if (e->type == REDIS_REPLY_STRING) ids->emplace_back(e->str, e->len);
    }
    return true;
}

bool WarmTable::raise_fence(int64_t token, std::string *err) {
    // KEYS: the fence. ARGV: the new term's token. Never lowers it.
    static const char kRaise[] = R"lua(
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 0
)lua";
    RedisResult r = redis_.command({"EVAL", kRaise, "1", OW_KEY_LEADER_TOKEN, std::to_string(token)});
    if (!r.ok()) {
        *err = r.error;
        return false;
    }
    return true;
}

bool WarmTable::read_all(std::vector<std::string> *entries, std::string *err) {
    RedisResult r = redis_.command({"HVALS", OW_KEY_WARM});
    if (!r.ok()) {
        *err = r.error;
        return false;
    }
    if (r.reply->type != REDIS_REPLY_ARRAY) {
        *err = "unexpected reply to HVALS";
        return false;
    }
    for (size_t i = 0; i < r.reply->elements; i++) {
        redisReply *e = r.reply->element[i];
        if (e->type == REDIS_REPLY_STRING) entries->emplace_back(e->str, e->len);
    }
    return true;
}

}  // namespace ow::pm
