// failure_record.cc: see failure_record.h.
#include "pool-manager/control/failure_record.h"

#include <hiredis/hiredis.h>

#include "libow/activation_store.h"
#include "libow/log.h"
#include "libow/redis_client.h"

namespace ow::pm {

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
    if (!in.binding.empty()) annotations.push_back({{"key", "binding"}, {"value", in.binding}});
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
    if (!in.cause.empty()) r["cause"] = in.cause;
    r["response"] = {{"status", "whisk internal error"},
                     {"success", false},
                     {"result", {{"error", in.error}}}};
    r["logs"] = json::array();
    r["annotations"] = annotations;
    return r;
}

bool RedisRecordSink::write(const nlohmann::json &record, std::string *err) {
    std::string ns = record.value("namespace", "");
    std::string id = record.value("activationId", "");
    int64_t start = record.value("start", int64_t{0});
    // EVAL, not EVALSHA: this runs only when an invoke could not be
    // delivered, rarely enough that sending the script body costs nothing.
    RedisResult r = redis_.command({"EVAL", ow::kWriteActivationLua, "3",
                                    ow::activation_key(ns, id), ow::act_index_key(ns),
                                    ow::act_name_index_key(ns, ow::activation_index_name(record)),
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
