// activation_record.cc: see activation_record.h.
#include "sidecar/activation_record.h"

namespace owsc {

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
    if (!in.cause.empty() && in.caused_by_sequence)
        annotations.push_back({{"key", "causedBy"}, {"value", "sequence"}});
    if (in.init_time >= 0)
        annotations.push_back({{"key", "initTime"}, {"value", in.init_time}});
    if (!in.binding.empty()) annotations.push_back({{"key", "binding"}, {"value", in.binding}});
    if (!in.trace_id.empty()) annotations.push_back({{"key", "traceId"}, {"value", in.trace_id}});
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
    if (!in.cause.empty()) r["cause"] = in.cause;
    r["response"] = response;
    r["logs"] = in.logs;
    r["annotations"] = annotations;
    return r;
}

}  // namespace owsc
