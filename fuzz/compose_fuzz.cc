// compose_fuzz.cc: sequences and conductor actions as the gateway runs
// them (modules/engine/ow_compose.h), driven the way ngx_http_ow_compose_module.c
// drives them: each component's answer accounted (ow_compose_step), the
// conductor protocol (ow_compose_conductor, _conductor_input), then the
// record, the client's answer and the Redis command that stores it.
//
// A component's answer is what a sidecar sends (the activation record of a
// blocking invoke, sidecar/activation_record.h, built here from a runtime
// reply as the sidecar builds it) or any bytes with any status (an error
// page, a proxy's answer). Beyond sanitizers: a record a sidecar sent is
// accounted as an activation, never taken for a failure of the platform;
// the answer and the stored record are JSON.
//
// Input (fuzz/fuzz_input.h): the first section "sequence" or "conductor"
// on a line, then the run's input (a JSON object); then one section per
// answer, in the order the gateway asks (a conductor's, then its
// component's, ...):
//   run ok 200            the runtime's reply, the sidecar's record of it
//   {"result":1}
// or
//   502 3                 an HTTP status, X-OW-Atomic-Count (-1: none)
//   <body>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fuzz/fuzz_input.h"
#include "fuzz/runtime_reply_input.h"
#include "fuzz/jansson_gaps.h"
#include "libow/json_dump.h"
#include "ow_compose.h"
#include "sidecar/activation_record.h"
#include "sidecar/run_result.h"

namespace {

struct Answer {
    int http = 0;
    int nested = -1;
    std::string body;
    bool from_sidecar = false;
    bool readable = true;   // by jansson (fuzz/jansson_gaps.h)
};

// A runtime reply → the sidecar's blocking answer: the full record, 200,
// 502 or 500 by its status code (sidecar/invoke_response.h
// blocking_http_status).
Answer sidecar_answer(std::string_view head, std::string_view body, int n) {
    ow::sidecar::RuntimeReply r = fuzz::runtime_reply(head, body, (long long)body.size() + 1);
    ow::sidecar::Action action;
    action.name = "c";
    action.path = "guest/c";
    action.kind = "nodejs:18";
    action.limits_json = {{"timeout", 1000}, {"memory", 128 + n}, {"logs", 10},
                          {"concurrency", 1}};
    ow::sidecar::Activation in;
    in.action = ow::sidecar::recorded_action(action);
    in.ns = "guest";
    char id[33];
    snprintf(id, sizeof(id), "%032x", n + 1);
    in.id = id;
    in.start_ms = 1700000000000 + n;
    in.end_ms = in.start_ms + 3;
    in.outcome = ow::sidecar::map_run_reply(r, 1000);
    in.cause = "0123456789abcdef0123456789abcdef";
    Answer a;
    a.http = in.outcome.status_code == 0 ? 200 : in.outcome.status_code == 3 ? 500 : 502;
    a.body = ow::json_dump(ow::sidecar::build_record(in));
    a.from_sidecar = true;
    a.readable = !fuzz::nul_in_a_key(in.outcome.result);
    return a;
}

Answer answer_of(std::string_view s, int n) {
    std::string_view head = fuzz::take_line(&s);
    if (head.substr(0, 4) == "run ") return sidecar_answer(head.substr(4), s, n);
    Answer a;
    a.http = (int)fuzz::number(fuzz::take_word(&head), 200, 0, 999);
    a.nested = (int)fuzz::number(head, -1, -1, 1000);
    a.body = std::string(s);
    return a;
}

// One answer accounted; a sidecar's record counts as an activation.
int step(ow_compose_t *c, bool sequence, const Answer &a) {
    size_t logs = json_array_size(c->logs);
    int rc = ow_compose_step(c, sequence ? 1 : 0, a.http, a.body.data(), a.body.size(),
                             nullptr, a.nested);
    FUZZ_CHECK(c->status_code >= 0 && c->status_code <= 3);
    FUZZ_CHECK(json_is_object(c->response));
    if (a.from_sidecar && a.readable) {
        if (json_array_size(c->logs) != logs + 1)
            fprintf(stderr, "a sidecar's record not accounted: %.300s\n", a.body.c_str());
        FUZZ_CHECK(json_array_size(c->logs) == logs + 1);
    }
    return rc;
}

std::string dump(const json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    FUZZ_CHECK(s != nullptr);
    std::string r(s);
    free(s);
    return r;
}

void finish(ow_compose_t *c, bool conductor) {
    ow_compose_record_in_t in{};
    in.ns = "guest";
    in.subject = "guest";
    in.action = "guest/pkg/seq";
    in.activation_id = "fedcba9876543210fedcba9876543210";
    in.start = 1700000000000;
    in.end = 1700000000100;
    in.wait_time = conductor ? 3 : -1;
    in.conductor = conductor ? 1 : 0;
    json_t *record = ow_compose_record(c, &in);
    FUZZ_CHECK(json_is_object(record));
    for (int result_only = 0; result_only < 2; result_only++) {
        int status = 0;
        char *body = ow_compose_answer(record, result_only, &status);
        FUZZ_CHECK(body != nullptr);
        FUZZ_CHECK(status == 200 || status == 500 || status == 502);
        json_t *j = json_loads(body, JSON_DECODE_ANY | JSON_ALLOW_NUL, nullptr);
        FUZZ_CHECK(j != nullptr);
        json_decref(j);
        free(body);
    }
    char name[512];
    ow_compose_index_name(record, name, sizeof(name));
    FUZZ_CHECK(strcmp(name, "pkg/seq") == 0);
    size_t len = 0;
    char *cmd = ow_compose_write_command(record, 86400000, &len);
    FUZZ_CHECK(cmd != nullptr && len > 0);
    free(cmd);
    json_decref(record);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auto parts = fuzz::sections(std::string_view(reinterpret_cast<const char *>(data), size));
    std::string_view first = fuzz::section(parts, 0);
    bool conductor = fuzz::take_line(&first) == "conductor";
    json_t *input = json_loadb(first.data(), first.size(), 0, nullptr);
    if (!json_is_object(input)) {
        // the module answers 400 before anything runs
        json_decref(input);
        return 0;
    }
    ow_compose_t c;
    FUZZ_CHECK(ow_compose_init(&c, input, 0) == 0);
    json_decref(input);

    size_t next = 1;
    if (!conductor) {
        // one component per answer, each given the last result
        while (next < parts.size()) {
            if (c.atomic >= OW_COMPOSE_MAX_ATOMIC) {
                ow_compose_fail(&c, 1, OW_MSG_SEQ_TOO_LONG, nullptr);
                break;
            }
            // the next component's payload (none: a record without a
            // result; the module sends "{}")
            if (json_t *next_in = ow_compose_input(&c)) (void)dump(next_in);
            if (step(&c, true, answer_of(parts[next], (int)next)) != 1) break;
            next++;
        }
    } else {
        // conductor, component, conductor, ... until one says done
        json_t *params = json_incref(ow_compose_input(&c));
        for (;;) {
            if (c.conductors > 2 * OW_COMPOSE_MAX_ATOMIC) {
                json_decref(params);
                ow_compose_fail(&c, 1, OW_MSG_COMP_TOO_LONG, nullptr);
                break;
            }
            c.conductors++;
            json_t *in = ow_compose_conductor_input(&c, params);
            json_decref(params);
            FUZZ_CHECK(json_is_object(in));
            (void)dump(in);
            json_decref(in);
            if (next >= parts.size()) break;   // no answer: the run stops here
            int rc = step(&c, false, answer_of(parts[next], (int)next));
            next++;
            if (rc != 1) {
                if (rc == 2 || rc == 3) ow_compose_fail(&c, 3, OW_MSG_COMP_FAILED, nullptr);
                break;
            }
            char *component = nullptr;
            params = nullptr;
            rc = ow_compose_conductor(&c, "guest", &component, &params);
            if (rc == 0) break;
            if (rc == -1) {
                FUZZ_CHECK(json_is_object(params));
                continue;   // the conductor again, with the error
            }
            FUZZ_CHECK(rc == 1 && component != nullptr && component[0] == '/');
            char path[1024];
            FUZZ_CHECK(ow_compose_component_path(component, "guest", path, sizeof(path)) == 0);
            free(component);
            c.components++;
            if (next >= parts.size()) {
                json_decref(params);
                break;
            }
            json_decref(params);
            rc = step(&c, false, answer_of(parts[next], (int)next));
            next++;
            if (rc == 1) {
                params = json_incref(ow_compose_input(&c));
            } else if (rc == 2 || rc == 3) {
                params = json_pack("{s:s}", "error", "Failed to resolve action");
            } else {
                break;
            }
        }
    }
    finish(&c, conductor);
    ow_compose_free(&c);
    return 0;
}
