// cache_fuzz.cc: the response cache's reading of an action's answer
// (modules/engine/ow_cache.h): the reserved field cut out of the answer's
// bytes (ow_cache_strip, at the top and at response.result), a record's
// tail built from its text (ow_cache_record_tail_text), the field's policy
// and the canonical input of a key.
//
// Beyond sanitizers, what the header promises: what is cut out of valid
// JSON leaves valid JSON without the field (when the answer named it
// once); a tail after "{" is a JSON object without the members a hit sets
// anew, with the cacheHit annotation last.
//
// Input: the answer's bytes.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include <jansson.h>

#include "fuzz/fuzz_input.h"
#include "ow_cache.h"

namespace {

// the object at response.result (record) or the top (result only)
json_t *result_of(json_t *o, int result_only) {
    return result_only ? o : json_object_get(json_object_get(o, "response"), "result");
}

size_t occurrences(const std::string &s, const std::string &what) {
    size_t n = 0;
    for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1)) n++;
    return n;
}

void check_strip(const std::string &in, json_t *parsed, int result_only) {
    std::string out(in.size() + 1, '\0');
    long n = ow_cache_strip(in.data(), in.size(), result_only, &out[0]);
    if (n < 0) return;
    FUZZ_CHECK((size_t) n < in.size());
    out.resize((size_t) n);
    if (parsed == nullptr || occurrences(in, "\"" OW_CACHE_FIELD "\"") != 1) return;
    json_t *o = json_loadb(out.data(), out.size(), 0, nullptr);
    FUZZ_CHECK(o != nullptr);
    FUZZ_CHECK(json_object_get(result_of(o, result_only), OW_CACHE_FIELD) == nullptr);
    json_t *field = ow_cache_field_take(parsed, result_only);
    FUZZ_CHECK(field != nullptr);
    // all else is the same
    FUZZ_CHECK(json_equal(o, parsed));
    ow_cache_policy_t p;
    char spec[OW_CACHE_SPEC_MAX + 1];
    if (ow_cache_field_parse(field, &p, spec) == 0) {
        FUZZ_CHECK(p.max_age >= 1 && p.max_age <= OW_CACHE_AGE_MAX);
        FUZZ_CHECK(strlen(spec) <= OW_CACHE_SPEC_MAX);
        size_t len = 0;
        char *key = ow_cache_input(o, spec, &len);
        FUZZ_CHECK(json_is_object(o) == (key != nullptr));
        free(key);
    }
    json_decref(field);
    json_decref(o);
}

void check_tail(const std::string &in) {
    size_t len = 0;
    char *t = ow_cache_record_tail_text(in.data(), in.size(), &len);
    if (t == nullptr) return;
    json_t *parsed = json_loadb(in.data(), in.size(), 0, nullptr);
    if (parsed && occurrences(in, "\"annotations\"") == 1) {
        std::string whole = "{" + std::string(t, len);
        json_t *o = json_loadb(whole.data(), whole.size(), 0, nullptr);
        FUZZ_CHECK(o != nullptr);
        for (const char *k : {"activationId", "subject", "start", "end", "duration"}) {
            if (occurrences(in, std::string("\"") + k + "\"") <= 1)
                FUZZ_CHECK(json_object_get(o, k) == nullptr);
        }
        json_t *a = json_object_get(o, "annotations");
        FUZZ_CHECK(json_is_array(a) && json_array_size(a) >= 1);
        json_t *hit = json_array_get(a, json_array_size(a) - 1);
        FUZZ_CHECK(json_is_true(json_object_get(hit, "value")));
        json_decref(o);
    }
    json_decref(parsed);
    free(t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string in(reinterpret_cast<const char *>(data), size);
    for (int result_only = 0; result_only <= 1; result_only++) {
        json_t *parsed = json_loadb(in.data(), in.size(), 0, nullptr);
        check_strip(in, parsed, result_only);
        json_decref(parsed);
    }
    check_tail(in);
    return 0;
}
