// runtime_reply_fuzz.cc: a runtime's /run and /init reply, as the sidecar
// maps it (sidecar/run_result.h map_run_reply, map_init_reply), then what
// becomes of the outcome: the activation record (build_record), the answer
// to a blocking caller that wants the result, and the record read back by the
// gateway (GET /activations/{id}, modules/engine/ow_api_activations.c, jansson).
//
// The body is the action's doing: any bytes, any JSON. Whatever it is, the
// record the sidecar writes must be one the gateway can read: a record that
// reads back as "corrupted" is an activation its owner cannot see.
//
// Input (fuzz/fuzz_input.h): a first line "<kind> <status> [<length>]"
// (kind: ok, too_large, timed_out, dropped; anything else is ok), then the
// body the runtime sent.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fuzz/fuzz_input.h"
#include "fuzz/runtime_reply_input.h"
#include "fuzz/jansson_gaps.h"
#include "libow/json_dump.h"
#include "ow_api.h"
#include "sidecar/activation_record.h"
#include "sidecar/invoke_response.h"
#include "sidecar/run_result.h"

namespace {

const char kId[] = "0123456789abcdef0123456789abcdef";

ow::sidecar::RuntimeReply reply_of(std::string_view in) {
    std::string_view head = fuzz::take_line(&in);
    return fuzz::runtime_reply(head, in);
}

// The outcome's promises (run_result.h), whatever the reply was.
void check_outcome(const ow::sidecar::RunOutcome &o) {
    FUZZ_CHECK(o.status_code >= 0 && o.status_code <= 3);
    FUZZ_CHECK(o.size == ow::json_dump(o.result).size());
    // a developer error replaces the container; nothing else does
    FUZZ_CHECK(o.recycle == (o.status_code == 2));
    if (o.status_code != 0) FUZZ_CHECK(o.result.is_object() && o.result.contains("error"));
}

// GET /api/v1/namespaces/guest/activations/<id>, Redis answering the
// record's text: the gateway's status for it.
int gateway_reads(const std::string &record) {
    ow_config_t conf{};
    ow_limits_default(&conf.system_limits);
    ow_op_t *op = ow_op_create();
    std::string uri = std::string("/api/v1/namespaces/guest/activations/") + kId;
    op->method = OW_GET;
    op->uri = uri.c_str();
    op->uri_len = uri.size();
    op->subject = "guest";
    op->auth_ns = "guest";
    op->conf = &conf;
    int step = ow_api_start(op);
    FUZZ_CHECK(step == OW_STEP_REDIS);
    redisReply r{};
    r.type = REDIS_REPLY_STRING;
    r.str = const_cast<char *>(record.data());
    r.len = record.size();
    step = ow_api_resume(op, &r);
    FUZZ_CHECK(step == OW_STEP_DONE);
    int status = op->status;
    size_t n = 0;
    free(ow_op_response_body(op, "tid", &n));
    ow_op_free(op);
    return status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ow::sidecar::RuntimeReply r =
        reply_of(std::string_view(reinterpret_cast<const char *>(data), size));

    ow::sidecar::RunOutcome init = ow::sidecar::map_init_reply(r, 1000);
    check_outcome(init);
    ow::sidecar::RunOutcome run = ow::sidecar::map_run_reply(r, 1000);
    check_outcome(run);

    // a blocking caller's answer, as Sidecar::on_run_reply builds it
    int http = ow::sidecar::blocking_http_status(run.status_code);
    FUZZ_CHECK(http == 200 || http == 500 || http == 502);
    (void)ow::json_dump(run.result);

    // the record, as the record writer stores it, read by the gateway
    ow::sidecar::Action action;
    action.name = "a";
    action.path = "guest/a";
    action.kind = "nodejs:18";
    action.limits_json = {{"timeout", 1000}, {"memory", 256}, {"logs", 10}, {"concurrency", 1}};
    ow::sidecar::Activation in;
    in.action = ow::sidecar::recorded_action(action);
    in.ns = "guest";
    in.id = kId;
    in.start_ms = 1700000000000;
    in.end_ms = in.start_ms + 5;
    in.outcome = run;
    std::string record = ow::json_dump(ow::sidecar::build_record(in));
    FUZZ_CHECK(gateway_reads(record) == 200 || fuzz::nul_in_a_key(run.result));
    return 0;
}
