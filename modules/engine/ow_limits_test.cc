// ow_limits_test.cc: namespace limits and action limit validation.

#include <gtest/gtest.h>
#include <jansson.h>
#include <string>

#include "ow_limits.h"

namespace {

json_t *Json(const char *s) { return json_loads(s, 0, nullptr); }

std::string Check(const ow_limits_t &l, const char *given) {
  char err[256] = "";
  json_t *g = given ? Json(given) : nullptr;
  json_t *out = ow_limits_action(&l, g, nullptr, err, sizeof(err));
  json_decref(g);
  if (out == nullptr) return std::string("error: ") + err;
  char *s = json_dumps(out, JSON_COMPACT);
  std::string r(s);
  free(s);
  json_decref(out);
  return r;
}

}  // namespace

TEST(Limits, DefaultsAreOpenWhisks) {
  ow_limits_t l;
  ow_limits_default(&l);
  EXPECT_EQ(Check(l, nullptr),
            "{\"timeout\":60000,\"memory\":256,\"logs\":10,\"concurrency\":1}");
}

TEST(Limits, RangeErrorsUseOpenWhiskMessages) {
  ow_limits_t l;
  ow_limits_default(&l);
  EXPECT_EQ(Check(l, "{\"memory\":1024}"),
            "error: memory 1024 MB exceeds allowed threshold of 512 MB");
  EXPECT_EQ(Check(l, "{\"timeout\":400000}"),
            "error: duration 400000 milliseconds exceeds allowed threshold "
            "of 300000 milliseconds");
  EXPECT_EQ(Check(l, "{\"concurrency\":10}"),
            "error: concurrency 10 exceeds allowed threshold of 1");
  EXPECT_EQ(Check(l, "{\"memory\":64}"),
            "error: memory 64 MB below allowed threshold of 128 MB");
  // a negative instance limit is below the bound (0: the namespace's), not
  // over the namespace's concurrency
  EXPECT_EQ(Check(l, "{\"instances\":-1}"),
            "error: instances -1 below allowed threshold of 0");
  EXPECT_EQ(Check(l, "{\"instances\":31}"),
            "error: Max action instance concurrency must not exceed your "
            "namespace concurrency of 30.");
  EXPECT_NE(Check(l, "{\"memory\":\"x\"}").find("error: The request content "
                                               "was malformed"),
            std::string::npos);
}

TEST(Limits, UpdateKeepsStoredValues) {
  ow_limits_t l;
  ow_limits_default(&l);
  char err[256];
  json_t *base = Json("{\"timeout\":1000,\"memory\":128,\"logs\":1,"
                      "\"concurrency\":1}");
  json_t *given = Json("{\"memory\":512}");
  json_t *out = ow_limits_action(&l, given, base, err, sizeof(err));
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(json_integer_value(json_object_get(out, "timeout")), 1000);
  EXPECT_EQ(json_integer_value(json_object_get(out, "memory")), 512);
  json_decref(out);
  json_decref(base);
  json_decref(given);
}

TEST(Limits, NamespaceOverridesApply) {
  ow_limits_t l;
  ow_limits_default(&l);
  json_t *o = Json("{\"maxActionConcurrency\":500,\"invocationsPerMinute\":7,"
                   "\"maxParameterSize\":\"2 MB\",\"bogus\":1,"
                   "\"firesPerMinute\":-1}");
  ow_limits_apply(&l, o);
  json_decref(o);
  EXPECT_EQ(l.max_action_concurrency, 500);
  EXPECT_EQ(l.invocations_per_minute, 7);
  EXPECT_EQ(l.max_parameter_size, 2 * 1024 * 1024);
  EXPECT_EQ(l.fires_per_minute, 60);  // negative values are ignored
  EXPECT_EQ(Check(l, "{\"concurrency\":200}").rfind("{", 0), 0u);

  json_t *doc = ow_limits_to_json(&l);
  EXPECT_STREQ(json_string_value(json_object_get(doc, "maxParameterSize")),
               "2 MB");
  json_decref(doc);
}

// fuzz/exec_fuzz.cc (UBSan): a maxParameterSize of more bytes than 64 bits
// count (ow-admin takes any digits) overflowed the multiplication:
// "17592186044418 MB" is 2^64 + 2 MB, read as 2 MB. Such a size is
// ignored, as a malformed one is.
TEST(Limits, HugeParameterSizeIsIgnored) {
  ow_limits_t l;
  ow_limits_default(&l);
  json_t *o = Json("{\"maxParameterSize\":\"17592186044418 MB\"}");
  ow_limits_apply(&l, o);
  json_decref(o);
  EXPECT_EQ(l.max_parameter_size, 1024 * 1024);
  o = Json("{\"maxParameterSize\":\"8796093022207 MB\"}");   // the largest
  ow_limits_apply(&l, o);
  json_decref(o);
  EXPECT_EQ(l.max_parameter_size, 8796093022207LL * 1024 * 1024);
}

// ow-admin writes "1 GB" as readily as "1 MB"; an unknown unit was read as
// bytes ("1 GB" became a 1-byte limit: every parameter refused).
TEST(Limits, ParameterSizeUnits) {
  const struct {
    const char *size;
    int64_t bytes;
  } cases[] = {
      {"1 GB", 1024LL * 1024 * 1024}, {"3 MB", 3 * 1024 * 1024},
      {"512 KB", 512 * 1024},         {"1048577 B", 1048577},
      {"1048578", 1048578},
  };
  for (const auto &c : cases) {
    ow_limits_t l;
    ow_limits_default(&l);
    std::string doc = std::string("{\"maxParameterSize\":\"") + c.size + "\"}";
    json_t *o = Json(doc.c_str());
    ow_limits_apply(&l, o);
    json_decref(o);
    EXPECT_EQ(l.max_parameter_size, c.bytes) << c.size;
  }
  ow_limits_t l;
  ow_limits_default(&l);
  json_t *o = Json("{\"maxParameterSize\":\"2 TB\"}");   // not a unit we know
  ow_limits_apply(&l, o);
  json_decref(o);
  EXPECT_EQ(l.max_parameter_size, 1024 * 1024);
}
