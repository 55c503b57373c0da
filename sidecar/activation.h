// activation.h: one activation as the sidecar carries it, from the request
// that asked for it to its record.
//
// Built once from an /invoke or /web request (the facts its headers carry);
// the gate, the /run call and the answer then fill in its arguments, timing,
// outcome and logs. The answer (invoke_handler.cc), the record and the
// journal's stand-ins (activation_record.h) and the record writer's "run" log
// line (record_writer.h) are all made from it: nothing is read back from a
// record's JSON.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sidecar/action.h"
#include "sidecar/http_server.h"
#include "sidecar/invoke_response.h"
#include "sidecar/run_result.h"
#include "sidecar/trace_context.h"

namespace ow::sidecar {

// What a record says of the action that ran, the same for every activation
// of a container: made once when the action is known and shared by its
// activations. Immutable: the record writer's thread reads it.
struct RecordedAction {
    std::string name;        // action name only
    std::string version;
    std::string path;        // ns/pkg/name of the action run
    std::string kind;
    std::string binding;     // "ns/binding" when invoked through one
    nlohmann::json limits;   // as stored
    std::string index;       // the record's name index (libow/activation_store.h)
};

std::shared_ptr<const RecordedAction> recorded_action(const Action &a);

// How the request came: POST /invoke (an API invoke, a trigger's, a sequence
// component's) or POST /web (a web action, run as a blocking invocation of
// its owner).
enum class Entry { invoke, web };

struct Activation {
    std::string id;          // 32 lowercase hex
    std::string ns;          // caller's namespace (where the record is stored)
    std::string subject;
    std::string tid;         // X-Request-ID, else the id
    TraceContext trace;      // W3C traceparent (trace_context.h)
    // X-OW-Cause: set by the gateway (only) for the components of a
    // sequence or conductor action it runs (modules/gateway/ngx_http_ow_
    // compose_module.c), and by the pool-manager's fire consumer for a
    // trigger's rule (X-OW-Cause-Kind: trigger). A component's record gets
    // "cause" and causedBy, and its blocking answer is always the whole
    // record (no array shortcut): the gateway needs its id, duration and
    // limits.
    std::string cause;
    bool cause_is_trigger = false;
    int64_t accept_ms = 0;   // when the gateway accepted it (epoch ms)

    // the request, once checked (invoke_handler.cc)
    InvokeQuery q;           // how the caller waits
    nlohmann::json params;   // the arguments: moved into the /run body
    std::string api_key;     // provide-api-key actions only

    // the run
    int64_t start_ms = 0, end_ms = 0;
    int64_t wait_ms = 0;     // accept to start: the record's waitTime
    int64_t init_time = -1;  // the cold start's /init ms; < 0: warm
    RunOutcome outcome;
    std::vector<std::string> logs;

    std::shared_ptr<const RecordedAction> action;   // never null
};

// The facts of a request's headers: the id (X-OW-Activation-Id when it is
// one, else a new one), X-Request-ID, traceparent and X-OW-Accept-Time;
// for an invoke also the caller's X-OW-Namespace and X-OW-Subject (default:
// the owner) and X-OW-Cause. A web action's caller is always its owner: the
// owner pays and keeps the record.
Activation read_activation(const Request &req, Entry entry, const std::string &owner,
                           std::shared_ptr<const RecordedAction> action);

// A value of one of the request's headers ("" when absent).
std::string header(const Request &req, const char *name);

}  // namespace ow::sidecar
