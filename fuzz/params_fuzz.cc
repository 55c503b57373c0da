// params_fuzz.cc: parameters from the PUT that stores them to the run that
// uses them. The gateway validates the arrays (modules/engine/ow_entity.c
// ow_check_kv), stores them as jansson writes them, and shows them
// inherited package ← binding ← action (ow_exec.h ow_params_inherit); the
// sidecar reads that text bounded (libow/json_limits.h), splits it into run
// and init parameters (libow/params.h add_params) and merges a request
// over them (sidecar/action.h merge_params: `final`).
//
// Two implementations of one rule, so they are held to agree: when no
// array repeats a key, the inherited array and the sidecar's two objects
// hold the same keys with the same values, each where its "init" says.
//
// Input (fuzz/fuzz_input.h):
//   {"package":[...],"binding":[...],"action":[...],"annotations":[...]}
//   ----
//   {"request":"body"}
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "fuzz/fuzz_input.h"
#include "libow/json_dump.h"
#include "libow/json_limits.h"
#include "libow/params.h"
#include "ow_api.h"
#include "ow_entity.h"
#include "ow_exec.h"
#include "sidecar/action.h"

namespace {

// jansson value → its text (as stored) → nlohmann, as the sidecar reads it
nlohmann::json as_stored(const json_t *v) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY);
    FUZZ_CHECK(s != nullptr);
    ow::JsonError why = ow::JsonError::none;
    nlohmann::json j = ow::json_parse_bounded(s, &why);
    // what the gateway stored, the sidecar can read
    FUZZ_CHECK(!j.is_discarded());
    free(s);
    return j;
}

// The array as the gateway would store it: a valid key-value array, or
// none (the PUT was a 400 or 413).
json_t *accepted(json_t *doc, const char *field) {
    json_t *v = json_object_get(doc, field);
    if (v == nullptr) return json_array();
    ow_op_t *op = ow_op_create();
    int rc = ow_check_kv(op, v, field);
    ow_op_free(op);
    return rc == 0 ? json_incref(v) : json_array();
}

bool unique_keys(const json_t *arr) {
    std::set<std::string> seen;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *k = json_string_value(json_object_get(e, "key"));
        if (k && !seen.insert(k).second) return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auto parts = fuzz::sections(std::string_view(reinterpret_cast<const char *>(data), size));
    std::string_view doc_text = fuzz::section(parts, 0);
    std::string body_text(fuzz::section(parts, 1));

    json_t *doc = json_loadb(doc_text.data(), doc_text.size(), JSON_REJECT_DUPLICATES, nullptr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return 0;
    }
    json_t *pkg = accepted(doc, "package");
    json_t *bnd = accepted(doc, "binding");
    json_t *act = accepted(doc, "action");
    json_t *ann = accepted(doc, "annotations");

    // the gateway's view: GET of a packaged action
    json_t *pb = ow_params_inherit(pkg, bnd);
    json_t *all = ow_params_inherit(pb, act);
    FUZZ_CHECK(json_is_array(all));
    FUZZ_CHECK(json_array_size(all) <= json_array_size(pkg) + json_array_size(bnd) +
                                           json_array_size(act));

    // the sidecar's: parse_action over the stored documents
    nlohmann::json action_doc = {
        {"exec", {{"kind", "nodejs:18"}, {"code", "x"}}},
        {"parameters", as_stored(act)},
        {"annotations", as_stored(ann)}};
    nlohmann::json pkg_doc = {{"parameters", as_stored(pkg)}};
    nlohmann::json bnd_doc = {{"parameters", as_stored(bnd)}};
    ow::sidecar::Action a;
    std::string err;
    FUZZ_CHECK(ow::sidecar::parse_action("guest", "p", "a", action_doc, pkg_doc, &a, &err,
                                         bnd_doc));
    FUZZ_CHECK(a.run_params.is_object() && a.init_params.is_object());
    FUZZ_CHECK(a.run_params_bytes == ow::json_dump(a.run_params).size());

    if (unique_keys(pkg) && unique_keys(bnd) && unique_keys(act)) {
        size_t i;
        json_t *e;
        FUZZ_CHECK(a.run_params.size() + a.init_params.size() == json_array_size(all));
        json_array_foreach(all, i, e) {
            std::string k = json_string_value(json_object_get(e, "key"));
            nlohmann::json value = as_stored(json_object_get(e, "value"));
            json_t *init = json_object_get(e, "init");
            bool is_init = init && ow::truthy(as_stored(init));
            const nlohmann::json &in = is_init ? a.init_params : a.run_params;
            const nlohmann::json &out = is_init ? a.run_params : a.init_params;
            FUZZ_CHECK(in.contains(k) && !out.contains(k));
            FUZZ_CHECK(in[k] == value);
        }
    }

    // a request over them
    if (!body_text.empty()) {
        nlohmann::json body = ow::json_parse_bounded(body_text);
        if (body.is_object()) {
            nlohmann::json merged;
            bool ok = ow::sidecar::merge_params(a, body, &merged);
            if (!ok) {
                FUZZ_CHECK(a.final_params);
            } else {
                FUZZ_CHECK(merged.size() >= body.size());
                (void)ow::sidecar::merged_params_over(a, body_text.size(), merged);
            }
        }
    }

    json_decref(all);
    json_decref(pb);
    json_decref(pkg);
    json_decref(bnd);
    json_decref(act);
    json_decref(ann);
    json_decref(doc);
    return 0;
}
