// activation_record.cc: see activation_record.h.
#include "sidecar/activation_record.h"

namespace owsc {

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

nlohmann::json build_record(const RecordInput &in) {
    using nlohmann::json;
    json response = {{"status", status_text(in.outcome.status_code)},
                     {"success", in.outcome.status_code == 0},
                     {"result", in.outcome.result},
                     {"size", in.outcome.size}};
    json annotations = json::array();
    annotations.push_back({{"key", "path"}, {"value", in.path}});
    annotations.push_back({{"key", "waitTime"}, {"value", in.wait_time}});
    annotations.push_back({{"key", "kind"}, {"value", in.kind}});
    annotations.push_back({{"key", "timeout"}, {"value", in.outcome.timeout}});
    annotations.push_back({{"key", "limits"}, {"value", in.limits}});
    if (in.init_time >= 0)
        annotations.push_back({{"key", "initTime"}, {"value", in.init_time}});
    json r = json::object();
    r["namespace"] = in.ns;
    r["name"] = in.name;
    r["version"] = in.version;
    r["publish"] = false;
    r["subject"] = in.subject.empty() ? in.ns : in.subject;
    r["activationId"] = in.activation_id;
    r["start"] = in.start;
    r["end"] = in.end;
    r["duration"] = in.end - in.start;
    r["response"] = response;
    r["logs"] = in.logs;
    r["annotations"] = annotations;
    return r;
}

static std::string ann_string(const nlohmann::json &record, const char *key) {
    auto a = record.find("annotations");
    if (a == record.end() || !a->is_array()) return "";
    for (const auto &e : *a) {
        if (e.is_object() && e.value("key", "") == key) {
            auto v = e.find("value");
            if (v != e.end() && v->is_string()) return v->get<std::string>();
        }
    }
    return "";
}

std::string index_name(const nlohmann::json &record) {
    std::string name = record.value("name", "");
    std::string binding = ann_string(record, "binding");
    size_t slash = binding.find('/');
    if (slash != std::string::npos) {
        std::string rest = binding.substr(slash + 1);
        return rest.substr(0, rest.find('/')) + "/" + name;
    }
    std::string path = ann_string(record, "path");
    size_t a = path.find('/');
    if (a != std::string::npos) {
        size_t b = path.find('/', a + 1);
        if (b != std::string::npos && path.find('/', b + 1) == std::string::npos)
            return path.substr(a + 1, b - a - 1) + "/" + name;
    }
    return name;
}

std::string activation_key(const std::string &ns, const std::string &id) {
    return "owx:{" + ns + "}:a:" + id;
}
std::string act_index_key(const std::string &ns) { return "owx:{" + ns + "}:ai"; }
std::string act_name_index_key(const std::string &ns, const std::string &name) {
    return "owx:{" + ns + "}:ai:" + name;
}

}  // namespace owsc
