// ow_cache_test.cc: the response cache's policy: the reserved field,
// Cache-Control, the canonical input of a key, a hit's record.

#include <gtest/gtest.h>
#include <cstdlib>
#include <string>

#include "ow_cache.h"

static json_t *J(const char *s) { return json_loads(s, 0, nullptr); }

static std::string Input(const char *params, const char *spec) {
  json_t *o = J(params);
  size_t len = 0;
  char *s = ow_cache_input(o, spec, &len);
  json_decref(o);
  if (s == nullptr) return "<null>";
  std::string r(s, len);
  free(s);
  return r;
}

TEST(Cache, FieldNeedsMaxAgeAndNamesSortedOnce) {
  ow_cache_policy_t p;
  char spec[OW_CACHE_SPEC_MAX + 1];
  json_t *f = J("{\"maxAge\":30,\"key\":[\"token\",\"aud\",\"token\"],"
                "\"staleWhileRevalidate\":5}");
  ASSERT_EQ(ow_cache_field_parse(f, &p, spec), 0);
  EXPECT_EQ(p.max_age, 30);
  EXPECT_EQ(p.stale_while_revalidate, 5);
  EXPECT_STREQ(spec, "aud\ntoken");
  json_decref(f);

  for (const char *bad : {"{}", "{\"maxAge\":0}", "{\"maxAge\":\"5\"}",
                          "{\"maxAge\":5,\"key\":[]}", "{\"maxAge\":5,\"key\":[1]}",
                          "{\"maxAge\":5,\"key\":\"token\"}", "[]", "5"}) {
    f = J(bad);
    EXPECT_EQ(ow_cache_field_parse(f, &p, spec), -1) << bad;
    EXPECT_LT(p.max_age, 0) << bad;
    json_decref(f);
  }

  f = J("{\"maxAge\":999999999}");
  ASSERT_EQ(ow_cache_field_parse(f, &p, spec), 0);
  EXPECT_EQ(p.max_age, OW_CACHE_AGE_MAX);
  EXPECT_STREQ(spec, "");
  json_decref(f);
}

TEST(Cache, FieldIsTakenOutOfRecordOrResult) {
  json_t *rec = J("{\"activationId\":\"a\",\"response\":{\"result\":"
                  "{\"ok\":1,\"__ow_cache\":{\"maxAge\":3}}}}");
  json_t *f = ow_cache_field_take(rec, 0);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(json_integer_value(json_object_get(f, "maxAge")), 3);
  char *s = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
  EXPECT_STREQ(s, "{\"activationId\":\"a\",\"response\":{\"result\":{\"ok\":1}}}");
  free(s);
  json_decref(f);
  EXPECT_EQ(ow_cache_field_take(rec, 0), nullptr);
  json_decref(rec);

  json_t *res = J("{\"__ow_cache\":{\"maxAge\":3},\"x\":2}");
  f = ow_cache_field_take(res, 1);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(json_object_size(res), 1u);
  json_decref(f);
  json_decref(res);
}

TEST(Cache, CacheControlAsASharedCacheReadsIt) {
  ow_cache_policy_t p = {};
  p.max_age = -1;
  std::string h = "public, max-age=60, s-maxage=\"120\", stale-while-revalidate=10";
  ow_cache_control_parse(h.data(), h.size(), &p);
  EXPECT_EQ(p.max_age, 120);
  EXPECT_TRUE(p.is_public);
  EXPECT_EQ(p.stale_while_revalidate, 10);

  p = {};
  p.max_age = -1;
  h = "s-maxage=5,max-age=60";
  ow_cache_control_parse(h.data(), h.size(), &p);
  EXPECT_EQ(p.max_age, 5);

  p = {};
  p.max_age = -1;
  h = "private,max-age=7";
  ow_cache_control_parse(h.data(), h.size(), &p);
  EXPECT_TRUE(p.is_private);
  EXPECT_EQ(p.max_age, 7);

  for (const char *s : {"no-store, max-age=5", "No-Cache"}) {
    p = {};
    p.max_age = -1;
    h = s;
    ow_cache_control_parse(h.data(), h.size(), &p);
    EXPECT_TRUE(p.no_store) << s;
  }

  p = {};
  p.max_age = -1;
  h = "max-age=abc, foo=\"x,y\"";
  ow_cache_control_parse(h.data(), h.size(), &p);
  EXPECT_EQ(p.max_age, -1);
}

TEST(Cache, InputIsCanonical) {
  EXPECT_EQ(Input("{\"b\":1,\"a\":{\"y\":2,\"x\":1}}", ""),
            "{\"a\":{\"x\":1,\"y\":2},\"b\":1}");
  EXPECT_EQ(Input("{\"token\":\"t1\",\"n\":5}", "token"), "4:\"t1\"");
  // absent and null are different inputs; values cannot run together
  EXPECT_NE(Input("{}", "token"), Input("{\"token\":null}", "token"));
  EXPECT_NE(Input("{\"a\":\"x\",\"b\":\"\"}", "a\nb"),
            Input("{\"a\":\"\",\"b\":\"x\"}", "a\nb"));
  EXPECT_EQ(Input("[1]", ""), "<null>");
}

TEST(Cache, ArgsSorted) {
  char out[64];
  std::string a = "b=2&a=1&c";
  size_t n = ow_cache_sort_args(a.data(), a.size(), out);
  EXPECT_EQ(std::string(out, n), "a=1&b=2&c");
  EXPECT_EQ(ow_cache_sort_args("", 0, out), 0u);
}

TEST(Cache, RecordTailIsAnnotatedAndLeavesTheFreshFieldsOut) {
  std::string rec = "{\"activationId\":\"a1\",\"namespace\":\"guest\","
                    "\"subject\":\"s\",\"start\":1,\"end\":2,\"duration\":1,"
                    "\"response\":{\"result\":{\"x\":0.1}},\"annotations\":[]}";
  size_t len = 0;
  char *t = ow_cache_record_tail_text(rec.data(), rec.size(), &len);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(std::string(t, len),
            "\"namespace\":\"guest\",\"response\":{\"result\":{\"x\":0.1}},"
            "\"annotations\":[{\"key\":\"cacheHit\",\"value\":true}]}");
  free(t);

  rec = "{\"annotations\":[{\"key\":\"path\",\"value\":\"a/b\"}],"
        "\"activationId\":\"x\"}";
  t = ow_cache_record_tail_text(rec.data(), rec.size(), &len);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(std::string(t, len),
            "\"annotations\":[{\"key\":\"path\",\"value\":\"a/b\"},"
            "{\"key\":\"cacheHit\",\"value\":true}]}");
  free(t);

  rec = "{\"ok\":1}";
  EXPECT_EQ(ow_cache_record_tail_text(rec.data(), rec.size(), &len), nullptr);

  // blanks before the brace (what the fuzzer found): the tail starts after
  // the brace all the same; a text that is no object has none
  rec = "\n\n{\"end\":2,\"annotations\":[]}";
  t = ow_cache_record_tail_text(rec.data(), rec.size(), &len);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(std::string(t, len), "\"annotations\":[{\"key\":\"cacheHit\",\"value\":true}]}");
  free(t);
  rec = "[\"annotations\",[]]";
  EXPECT_EQ(ow_cache_record_tail_text(rec.data(), rec.size(), &len), nullptr);
}

static std::string Strip(const std::string &s, int result_only) {
  std::string out(s.size(), '\0');
  long n = ow_cache_strip(s.data(), s.size(), result_only, &out[0]);
  return n < 0 ? "<none>" : out.substr(0, n);
}

TEST(Cache, FieldIsStrippedByteForByte) {
  EXPECT_EQ(Strip("{\"a\":0.1,\"__ow_cache\":{\"maxAge\":3},\"b\":[1,\"}\"]}", 1),
            "{\"a\":0.1,\"b\":[1,\"}\"]}");
  EXPECT_EQ(Strip("{\"__ow_cache\":{\"maxAge\":3}, \"b\":1e5}", 1), "{\"b\":1e5}");
  EXPECT_EQ(Strip("{\"b\":true , \"__ow_cache\" : {\"k\":[\"x\"]} }", 1),
            "{\"b\":true  }");
  EXPECT_EQ(Strip("{\"__ow_cache\":{}}", 1), "{}");
  EXPECT_EQ(Strip("{\"activationId\":\"x\",\"response\":{\"status\":\"success\","
                  "\"result\":{\"s\":\"\\\"__ow_cache\\\"\",\"__ow_cache\":{}}},"
                  "\"logs\":[]}", 0),
            "{\"activationId\":\"x\",\"response\":{\"status\":\"success\","
            "\"result\":{\"s\":\"\\\"__ow_cache\\\"\"}},\"logs\":[]}");
  EXPECT_EQ(Strip("{\"a\":1}", 1), "<none>");
  EXPECT_EQ(Strip("{\"result\":{\"__ow_cache\":{}}}", 0), "<none>");
  EXPECT_EQ(Strip("[1]", 1), "<none>");
  EXPECT_EQ(Strip("{\"a\":", 1), "<none>");
}
