// sidecar_request_fuzz.cc: what the sidecar makes of a POST /invoke, as
// Sidecar::handle_invoke and Sidecar::run (sidecar/invoke_handler.cc) do
// it: the query (parse_invoke_query), the traceparent header (make_trace),
// the body parsed bounded (libow/json_limits.h), merged over the action's
// parameters (merge_params: `final`), the 1 MB payload check
// (merged_params_over), then the /run and /init bodies as sent.
//
// Input (fuzz/fuzz_input.h):
//   /invoke?blocking=true&result=true&timeout=250     request target
//   00-<trace>-<parent>-01                           traceparent
//   {"name":"x"}                                     body (rest of section)
//   ----
//   {"exec":{...},"parameters":[...],...}            stored action doc
//   ----
//   {"parameters":[...]}                             its package's doc
// The documents are what the gateway stored: parameters and annotations
// are the client's, anything JSON; an absent or unreadable document is a
// default action with a `final` parameter.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_input.h"
#include "libow/json_dump.h"
#include "libow/json_limits.h"
#include "sidecar/action.h"
#include "sidecar/invoke_response.h"
#include "sidecar/trace_context.h"

namespace {

const char kDefaultDoc[] =
    R"({"exec":{"kind":"nodejs:18","code":"function main(a){return a}"},)"
    R"("parameters":[{"key":"fixed","value":1},{"key":"secret","value":"s","init":true}],)"
    R"("annotations":[{"key":"final","value":true}],"limits":{"timeout":1000}})";

// The gateway stores limits as ow_limits_action wrote them (modules/
// ow_limits.c): integers, range-checked. Anything else in a fuzzed doc is a
// document no client can make, so it goes.
void keep_stored_limits(nlohmann::json *doc) {
    auto lim = doc->find("limits");
    if (lim == doc->end()) return;
    if (!lim->is_object()) {
        doc->erase(lim);
        return;
    }
    for (auto it = lim->begin(); it != lim->end();) {
        if (it.value().is_number_integer() && it.value().get<int64_t>() >= 0 &&
            it.value().get<int64_t>() <= 300000)
            ++it;
        else
            it = lim->erase(it);
    }
}

ow::sidecar::Action action_of(std::string_view doc_text, std::string_view pkg_text) {
    ow::sidecar::Action a;
    std::string err;
    nlohmann::json doc = ow::json_parse_bounded(doc_text);
    nlohmann::json pkg = ow::json_parse_bounded(pkg_text);
    if (pkg.is_discarded()) pkg = nullptr;
    if (doc.is_object()) {
        keep_stored_limits(&doc);
        if (ow::sidecar::parse_action("guest", "", "a", doc, pkg, &a, &err)) return a;
    }
    a = ow::sidecar::Action();
    bool ok = ow::sidecar::parse_action("guest", "", "a", nlohmann::json::parse(kDefaultDoc),
                                        nullptr, &a, &err);
    FUZZ_CHECK(ok);
    return a;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size);
    auto parts = fuzz::sections(in);
    std::string_view req = fuzz::section(parts, 0);
    std::string target(fuzz::take_line(&req));
    std::string traceparent(fuzz::take_line(&req));
    std::string body_text(req);

    ow::sidecar::Action action = action_of(fuzz::section(parts, 1), fuzz::section(parts, 2));
    // parse_action's own promise: the record's limits have their four fields
    FUZZ_CHECK(action.limits.timeout_ms >= 1 && action.limits.concurrency >= 1);
    FUZZ_CHECK(action.run_params.is_object() && action.init_params.is_object());

    // the query
    std::string query, err;
    size_t qm = target.find('?');
    if (qm != std::string::npos) query = target.substr(qm + 1);
    ow::sidecar::InvokeQuery q;
    if (ow::sidecar::parse_invoke_query(query, &q, &err)) {
        FUZZ_CHECK(q.timeout_ms >= 1 && q.timeout_ms <= ow::sidecar::kMaxBlockingWaitMs);
    } else {
        FUZZ_CHECK(err == ow::sidecar::kTimeoutError);
    }

    // the trace: continued or new, always a well-formed header
    ow::sidecar::TraceContext t =
        ow::sidecar::make_trace(traceparent, "0123456789abcdef0123456789abcdef", 0x1234u + size);
    FUZZ_CHECK(t.header().size() == 55);
    FUZZ_CHECK(t.trace_id.size() == 32 && t.span_id.size() == 16);

    // the body: bounded parse, an object or the client's 400
    nlohmann::json body = nlohmann::json::object();
    if (!body_text.empty()) {
        ow::JsonError why = ow::JsonError::none;
        body = ow::json_parse_bounded(body_text, &why);
        if (body.is_discarded() || !body.is_object()) {
            FUZZ_CHECK(body.is_discarded() == (why != ow::JsonError::none));
            (void)ow::json_error_text(why);
            return 0;
        }
    }

    // the merge: request over the action's parameters, `final` holds
    nlohmann::json params;
    if (!ow::sidecar::merge_params(action, body, &params)) {
        FUZZ_CHECK(action.final_params);
        return 0;
    }
    FUZZ_CHECK(params.is_object());
    for (auto it = body.begin(); it != body.end(); ++it)
        FUZZ_CHECK(params.contains(it.key()) && params[it.key()] == it.value());
    size_t over = ow::sidecar::merged_params_over(action, body_text.size(), params);
    FUZZ_CHECK(over == 0 || over > ow::sidecar::kMaxPayloadBytes);

    // what goes to the runtime: JSON text, whatever the strings hold (the
    // run body wraps the arguments two levels deeper than the request's)
    nlohmann::json run = {{"value", params}, {"namespace", "guest"},
                          {"action_name", action.fqn}, {"traceparent", t.header()}};
    ow::JsonLimits deeper{ow::kJsonMaxDepth + 2, ow::kJsonMaxBytes};
    std::string run_text = ow::json_dump(run);
    FUZZ_CHECK(!ow::json_parse_bounded(run_text, nullptr, deeper).is_discarded());
    std::string init_text = ow::json_dump(ow::sidecar::init_body(action, "http://gw", 1));
    FUZZ_CHECK(!ow::json_parse_bounded(init_text, nullptr, deeper).is_discarded());
    return 0;
}
