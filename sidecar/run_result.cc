// run_result.cc: see run_result.h.
#include "sidecar/run_result.h"

#include "libow/json_limits.h"
#include "libow/log.h"

namespace ow::sidecar {

const char kAbnormalRun[] =
    "The action did not produce a valid response and exited unexpectedly.";
const char kAbnormalInit[] =
    "The action did not initialize and exited unexpectedly.";

const char *status_text(int c) {
    switch (c) {
    case 0: return "success";
    case 1: return "application error";
    case 2: return "action developer error";
    default: return "whisk internal error";
    }
}

static RunOutcome developer_error(nlohmann::json error) {
    RunOutcome o;
    o.status_code = 2;
    o.recycle = true;
    o.result = nlohmann::json{{"error", std::move(error)}};
    return o;
}

static std::string time_limit_text(int64_t timeout_ms, bool init) {
    return "The action exceeded its time limits of " + std::to_string(timeout_ms) +
           " milliseconds" + (init ? " during initialization." : ".");
}

// A runtime's reply is parsed bounded (libow/json_limits.h): a result
// nested 100,000 deep would overflow the stack wherever it is copied. Three
// levels fewer than the gateway reads: the record holds the result two levels
// down ({"response":{"result":...}}) and jansson counts the innermost scalar
// as a level, so every record written stays readable by GET /activations.
static const ow::JsonLimits &result_limits() {
    static const ow::JsonLimits lim{ow::kJsonMaxDepth - 3, ow::kJsonMaxBytes};
    return lim;
}

static void set_size(RunOutcome *o) {
    o->size = ow::json_dump(o->result).size();
}

RunOutcome map_run_reply(const RuntimeReply &r, int64_t timeout_ms) {
    RunOutcome o;
    switch (r.kind) {
    case RuntimeReply::timed_out:
        o = developer_error(time_limit_text(timeout_ms, false));
        o.timeout = true;
        set_size(&o);
        return o;
    case RuntimeReply::dropped:
        o = developer_error(kAbnormalRun);
        set_size(&o);
        return o;
    case RuntimeReply::too_large:
        if (r.status == 200) {
            o.status_code = 1;
            o.result = nlohmann::json{{"error",
                "The action produced a response that exceeded the allowed length: " +
                std::to_string(r.length) + " > " + std::to_string(kMaxResultBytes) +
                " bytes. The truncated response was: " +
                r.body.substr(0, kMaxResultBytes)}};
            set_size(&o);
            return o;
        }
        o = developer_error(kAbnormalRun);
        set_size(&o);
        return o;
    case RuntimeReply::ok:
        break;
    }
    ow::JsonError why = ow::JsonError::none;
    nlohmann::json body = ow::json_parse_bounded(r.body, &why, result_limits());
    bool json_ok = !body.is_discarded() && (body.is_object() || body.is_array());
    if (why == ow::JsonError::too_deep) {
        // the action's doing, like any reply that is not JSON; the text is
        // left out: up to 1 MB of brackets tells nobody anything
        o = developer_error("The action did not produce a valid JSON or JSON Array response: " +
                            ow::json_error_text(why, result_limits()));
    } else if (r.status != 200) {
        if (json_ok && body.is_object() && body.contains("error"))
            o = developer_error(body["error"]);
        else
            o = developer_error("The action did not produce a valid JSON or JSON Array response: " + r.body);
    } else if (!json_ok) {
        o = developer_error("The action did not produce a valid JSON or JSON Array response: " + r.body);
    } else if (body.is_object() && body.contains("error")) {
        o.status_code = 1;   // application error: the container stays warm
        o.result = nlohmann::json{{"error", body["error"]}};
    } else {
        o.status_code = 0;
        o.result = std::move(body);
    }
    set_size(&o);
    return o;
}

RunOutcome map_init_reply(const RuntimeReply &r, int64_t timeout_ms) {
    RunOutcome o;
    if (r.kind == RuntimeReply::timed_out) {
        o = developer_error(time_limit_text(timeout_ms, true));
        o.timeout = true;
    } else if (r.kind == RuntimeReply::dropped) {
        o = developer_error(kAbnormalInit);
    } else if (r.status == 200) {
        o.status_code = 0;
        o.result = nlohmann::json::object();
    } else {
        nlohmann::json body = ow::json_parse_bounded(r.body, nullptr, result_limits());
        if (!body.is_discarded() && body.is_object() && body.contains("error"))
            o = developer_error(body["error"]);
        else
            o = developer_error("The action failed during initialization: " + r.body);
    }
    set_size(&o);
    return o;
}

}  // namespace ow::sidecar
