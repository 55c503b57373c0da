// exec_fuzz.cc: an action's exec and limits as the engine validates them
// (modules/engine/ow_exec.h ow_exec_parse, ow_exec_meta, ow_exec_annotate;
// modules/engine/ow_limits.h: a namespace's overrides, ow_limits_action), on any
// JSON: what a client PUTs, what an admin sets (ow-admin limits).
//
// Beyond sanitizers: what was accepted is accepted again the same (a
// client that GETs an action and PUTs it back changes nothing); accepted
// limits lie within the namespace's bounds; the limits document of
// GET /namespaces/{ns}/limits reads back as the limits it shows.
//
// Input: a JSON object
//   {"exec":{...}, "limits":{...}, "base":{...}  (the stored action's),
//    "namespace":{"maxActionMemory":1024,...}, "annotations":[...]}
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "fuzz/fuzz_input.h"
#include "ow_exec.h"
#include "ow_limits.h"

namespace {

const char kKinds[] =
    R"({"nodejs:18":{"kind":"nodejs:18","attached":false},)"
    R"("nodejs:20":{"kind":"nodejs:20","attached":true},)"
    R"("python:3.11":{"kind":"python:3.11"},)"
    R"("java:8":{"kind":"java:8","requireMain":true},)"
    R"("php:5":{"kind":"php:5","deprecated":true}})";
const char kDefaults[] = R"({"nodejs":"nodejs:18","python":"python:3.11","java":"java:8"})";

struct Kinds {
    json_t *kinds = json_loads(kKinds, 0, nullptr);
    json_t *defaults = json_loads(kDefaults, 0, nullptr);
};

bool same_limits(const ow_limits_t &a, const ow_limits_t &b) {
    return memcmp(&a, &b, sizeof(a)) == 0;
}

void check_limits(const json_t *in) {
    ow_limits_t l;
    ow_limits_default(&l);
    ow_limits_apply(&l, json_object_get(in, "namespace"));

    // GET /namespaces/{ns}/limits, set again, is the same limits
    json_t *doc = ow_limits_to_json(&l);
    FUZZ_CHECK(doc != nullptr);
    ow_limits_t back;
    ow_limits_default(&back);
    ow_limits_apply(&back, doc);
    FUZZ_CHECK(same_limits(l, back));
    json_decref(doc);

    char err[2048];
    err[0] = '\0';
    json_t *got = ow_limits_action(&l, json_object_get(in, "limits"),
                                   json_object_get(in, "base"), err, sizeof(err));
    if (got == nullptr) {
        FUZZ_CHECK(err[0] != '\0');
        return;
    }
    json_int_t t = json_integer_value(json_object_get(got, "timeout"));
    json_int_t m = json_integer_value(json_object_get(got, "memory"));
    json_int_t g = json_integer_value(json_object_get(got, "logs"));
    json_int_t c = json_integer_value(json_object_get(got, "concurrency"));
    FUZZ_CHECK(t >= l.min_action_timeout && t <= l.max_action_timeout);
    FUZZ_CHECK(m >= l.min_action_memory && m <= l.max_action_memory);
    FUZZ_CHECK(g >= l.min_action_logs && g <= l.max_action_logs);
    FUZZ_CHECK(c >= l.min_action_concurrency && c <= l.max_action_concurrency);

    // the stored limits, sent again (or kept on an update without any)
    json_t *again = ow_limits_action(&l, got, nullptr, err, sizeof(err));
    FUZZ_CHECK(again && json_equal(again, got));
    json_t *kept = ow_limits_action(&l, nullptr, got, err, sizeof(err));
    FUZZ_CHECK(kept && json_equal(kept, got));
    json_decref(kept);
    json_decref(again);
    json_decref(got);
}

void check_exec(const json_t *in) {
    static Kinds k;
    char err[2048];
    int status = 0;
    err[0] = '\0';
    json_t *exec = ow_exec_parse(json_object_get(in, "exec"), k.kinds, k.defaults, "guest",
                                 &status, err, sizeof(err));
    if (exec == nullptr) {
        FUZZ_CHECK(status == 400 || status == 413);
        FUZZ_CHECK(err[0] != '\0');
        return;
    }
    const char *kind = ow_exec_kind(exec);
    FUZZ_CHECK(kind != nullptr);
    FUZZ_CHECK(ow_exec_is_sequence(exec) || strcmp(kind, "blackbox") == 0 ||
               json_object_get(k.kinds, kind) != nullptr);

    // the stored exec, PUT again, is stored the same
    json_t *again = ow_exec_parse(exec, k.kinds, k.defaults, "other", &status, err, sizeof(err));
    if (again == nullptr) fprintf(stderr, "refused on the second PUT: %s\n", err);
    FUZZ_CHECK(again != nullptr && json_equal(again, exec));
    json_decref(again);

    json_t *meta = ow_exec_meta(exec);
    FUZZ_CHECK(meta && json_object_get(meta, "code") == nullptr);
    json_decref(meta);

    // the annotations the controller writes: one "exec", the kind, last
    json_t *ann = json_deep_copy(json_object_get(in, "annotations"));
    ann = ow_exec_annotate(ann, kind, 1);
    FUZZ_CHECK(json_is_array(ann) && json_array_size(ann) >= 1);
    json_t *last = json_array_get(ann, json_array_size(ann) - 1);
    FUZZ_CHECK(json_equal(json_object_get(last, "value"), json_object_get(exec, "kind")));
    json_decref(ann);
    json_decref(exec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *in = json_loadb(reinterpret_cast<const char *>(data), size, 0, nullptr);
    if (!json_is_object(in)) {
        json_decref(in);
        return 0;
    }
    check_limits(in);
    check_exec(in);
    json_decref(in);
    return 0;
}
