// failure_record.cc: see failure_record.h.
#include "pool-manager/failure_record.h"

#include <hiredis/hiredis.h>

#include "libow/log.h"
#include "pool-manager/redis.h"

namespace ow::pm {

// KEYS: record, namespace index, name index
// ARGV: record json, start ms, activationId, retention ms
// -> 1 stored, 0 already expired (nothing stored; indexes still trimmed)
const char kWriteActivationLua[] = R"LUA(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local start = tonumber(ARGV[2])
local retention = tonumber(ARGV[4])
local floor = string.format('%d', now - retention)
local expire_at = string.format('%d', start + retention)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. floor)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. floor)
if start + retention <= now then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', expire_at)
for i = 2, 3 do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[3])
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 or now + ttl < start + retention then
    redis.call('PEXPIREAT', KEYS[i], expire_at)
  end
end
return 1
)LUA";

nlohmann::json failure_record(const FailureInput &in) {
    using nlohmann::json;
    std::string name = in.action.substr(in.action.rfind('/') + 1);
    int64_t wait = in.accept_ms > 0 ? in.now_ms - in.accept_ms : 0;
    if (wait < 0) wait = 0;
    json annotations = json::array();
    annotations.push_back({{"key", "path"}, {"value", in.action}});
    annotations.push_back({{"key", "waitTime"}, {"value", wait}});
    annotations.push_back({{"key", "kind"}, {"value", in.kind}});
    annotations.push_back({{"key", "timeout"}, {"value", false}});
    annotations.push_back({{"key", "limits"}, {"value", in.limits}});
    json r = json::object();
    r["namespace"] = in.ns;
    r["name"] = name;
    r["version"] = in.version;
    r["publish"] = false;
    r["subject"] = in.subject.empty() ? in.ns : in.subject;
    r["activationId"] = in.activation_id;
    r["start"] = in.now_ms;
    r["end"] = in.now_ms;
    r["duration"] = 0;
    r["response"] = {{"status", "whisk internal error"},
                     {"success", false},
                     {"result", {{"error", in.error}}}};
    r["logs"] = json::array();
    r["annotations"] = annotations;
    return r;
}

std::string record_index_name(const nlohmann::json &record) {
    std::string name = record.value("name", "");
    std::string path;
    for (const auto &a : record.value("annotations", nlohmann::json::array())) {
        if (a.is_object() && a.value("key", "") == "path" && a.contains("value") &&
            a["value"].is_string()) {
            path = a["value"].get<std::string>();
        }
    }
    size_t a = path.find('/');
    if (a == std::string::npos) return name;
    size_t b = path.find('/', a + 1);
    if (b == std::string::npos || path.find('/', b + 1) != std::string::npos) return name;
    return path.substr(a + 1, b - a - 1) + "/" + name;
}

bool RedisRecordSink::write(const nlohmann::json &record, std::string *err) {
    std::string ns = record.value("namespace", "");
    std::string id = record.value("activationId", "");
    int64_t start = record.value("start", int64_t{0});
    // EVAL, not EVALSHA: this runs only when an invoke could not be
    // delivered, rarely enough that sending the script body costs nothing.
    RedisResult r = redis_.command({"EVAL", kWriteActivationLua, "3",
                                    "owx:{" + ns + "}:a:" + id, "owx:{" + ns + "}:ai",
                                    "owx:{" + ns + "}:ai:" + record_index_name(record),
                                    ow::json_dump(record), std::to_string(start), id,
                                    std::to_string(retention_ms_)});
    if (!r.ok()) {
        *err = r.error;
        return false;
    }
    if (r.reply->type != REDIS_REPLY_INTEGER) {
        *err = "unexpected reply to the record script";
        return false;
    }
    return true;
}

}  // namespace ow::pm
