// activation_record.cc: see activation_record.h.
#include "sidecar/activation_record.h"

#include <algorithm>

#include "sidecar/log_collector.h"

namespace ow::sidecar {

using nlohmann::json;

// The record of a, told as ending with o over start..end: a record and its
// stand-ins differ in these alone.
static json record(const Activation &a, int64_t start, int64_t end, int64_t wait,
                   const RunOutcome &o, const std::vector<std::string> &logs) {
    const RecordedAction &act = *a.action;
    json response = {{"status", status_text(o.status_code)},
                     {"success", o.status_code == 0},
                     {"result", o.result},
                     {"size", o.size}};
    json annotations = json::array();
    annotations.push_back({{"key", "path"}, {"value", act.path}});
    annotations.push_back({{"key", "waitTime"}, {"value", wait}});
    annotations.push_back({{"key", "kind"}, {"value", act.kind}});
    annotations.push_back({{"key", "timeout"}, {"value", o.timeout}});
    annotations.push_back({{"key", "limits"}, {"value", act.limits}});
    // OpenWhisk writes causedBy for the components of sequences and
    // conductors only, not for a trigger's rule
    if (!a.cause.empty() && !a.cause_is_trigger)
        annotations.push_back({{"key", "causedBy"}, {"value", "sequence"}});
    if (a.init_time >= 0)
        annotations.push_back({{"key", "initTime"}, {"value", a.init_time}});
    if (!act.binding.empty())
        annotations.push_back({{"key", "binding"}, {"value", act.binding}});
    if (!a.trace.trace_id.empty())
        annotations.push_back({{"key", "traceId"}, {"value", a.trace.trace_id}});
    json r = json::object();
    r["namespace"] = a.ns;
    r["name"] = act.name;
    r["version"] = act.version;
    r["publish"] = false;
    r["subject"] = a.subject.empty() ? a.ns : a.subject;
    r["activationId"] = a.id;
    r["start"] = start;
    r["end"] = end;
    r["duration"] = end - start;
    if (!a.cause.empty()) r["cause"] = a.cause;
    r["response"] = std::move(response);
    r["logs"] = logs;
    r["annotations"] = std::move(annotations);
    return r;
}

json build_record(const Activation &a) {
    return record(a, a.start_ms, a.end_ms, a.wait_ms, a.outcome, a.logs);
}

json build_unfinished_record(const Activation &a) {
    int64_t at = a.start_ms > 0 ? a.start_ms : a.accept_ms;
    RunOutcome o;
    o.status_code = 3;
    o.result = {{"error", "The activation was accepted, but its container ended "
                          "before it finished."}};
    o.size = 0;
    return record(a, at, at, std::max<int64_t>(at - a.accept_ms, 0), o, {});
}

json build_record_logs_lost(const Activation &a, int64_t now_ns) {
    return record(a, a.start_ms, a.end_ms, a.wait_ms, a.outcome,
                  {format_log_line(now_ns, 2,
                                   "[owx] the logs were lost: the container ended "
                                   "before they were stored")});
}

}  // namespace ow::sidecar
