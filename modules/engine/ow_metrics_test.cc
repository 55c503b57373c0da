// ow_metrics_test.cc: the label-set table (bounded, lock-free claims) and
// the Prometheus text exposition.

#include <gtest/gtest.h>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ow_metrics.h"

namespace {

struct Zone {
  explicit Zone(unsigned long n) : size(ow_metrics_size(n)) {
    mem = static_cast<ow_metrics_t *>(calloc(1, size));
    ow_metrics_init(mem, n);
  }
  ~Zone() { free(mem); }
  ow_m_set_t *Action(const std::string &ns, const std::string &a,
                     const std::string &init) {
    return ow_metrics_set(mem, ns.data(), ns.size(), a.data(), a.size(),
                          init.data(), init.size());
  }
  std::string Text() {
    size_t len = 0;
    char *p = ow_metrics_format(mem, &len);
    EXPECT_NE(p, nullptr);
    std::string s(p, len);
    EXPECT_EQ(strlen(p), len);
    free(p);
    return s;
  }
  size_t size;
  ow_metrics_t *mem;
};

// sample lines "name{labels} value" -> value, and which names had
// # HELP / # TYPE before their first sample
struct Parsed {
  std::map<std::string, std::string> samples;
  std::map<std::string, std::string> types;
};

Parsed Parse(const std::string &text) {
  Parsed p;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream l(line.substr(7));
      std::string name, type;
      l >> name >> type;
      p.types[name] = type;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    EXPECT_NE(sp, std::string::npos) << line;
    p.samples[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return p;
}

}  // namespace

TEST(Metrics, SameLabelsSameSetOtherLabelsOtherSet) {
  Zone z(64);
  ow_m_set_t *a = z.Action("guest", "hello", "guest");
  EXPECT_EQ(a, z.Action("guest", "hello", "guest"));
  EXPECT_NE(a, z.Action("guest", "hello", "alice"));
  EXPECT_NE(a, z.Action("guest", "pkg/hello", "guest"));
  // a namespace's set (limits) is not an action's
  ow_m_set_t *ns = ow_metrics_set(z.mem, "guest", 5, nullptr, 0, "x", 1);
  EXPECT_NE(a, ns);
  EXPECT_EQ(ns->action_len, 0);
  EXPECT_EQ(ns->initiator_len, 0);
  EXPECT_EQ(z.mem->dropped, 0UL);
}

TEST(Metrics, TableIsBoundedAndOverflowGoesToOther) {
  const unsigned long n = 10;  // 8 hashed slots + the two "_other" sets
  Zone z(n);
  for (int i = 0; i < 1000; i++) {
    ow_m_set_t *s = z.Action("ns", "action" + std::to_string(i), "ns");
    OW_M_ADD(&s->c[OW_M_ACTIVATIONS], 1);
  }
  unsigned long used = 0, total = 0;
  for (unsigned long i = 0; i < n; i++) {
    if (z.mem->sets[i].state == OW_M_READY) used++;
    total += z.mem->sets[i].c[OW_M_ACTIVATIONS];
  }
  EXPECT_EQ(used, n);                        // never more than the table
  EXPECT_EQ(total, 1000UL);                  // nothing lost
  EXPECT_EQ(z.mem->sets[1].c[OW_M_ACTIVATIONS], 1000UL - 8);
  EXPECT_EQ(z.mem->dropped, 1000UL - 8);
  std::string t = z.Text();
  EXPECT_NE(t.find("openwhisk_action_activations_total{namespace=\"_other\","
                   "initiator=\"_other\",action=\"_other\"} 992\n"),
            std::string::npos) << t;
  // a known set still finds its slot when the table is full
  ow_m_set_t *again = nullptr;
  for (int i = 0; i < 1000 && again == nullptr; i++) {
    ow_m_set_t *s = z.Action("ns", "action" + std::to_string(i), "ns");
    if (s != &z.mem->sets[1]) again = s;
  }
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->c[OW_M_ACTIVATIONS], 1UL);
}

TEST(Metrics, LabelsLongerThanAKeyGoToOther) {
  Zone z(16);
  std::string big(OW_M_KEY_MAX, 'a');
  EXPECT_EQ(z.Action("ns", big, "ns"), &z.mem->sets[1]);
  // exactly OW_M_KEY_MAX bytes still fit
  ow_m_set_t *fits = ow_metrics_set(z.mem, big.data(), big.size(), nullptr, 0,
                                    nullptr, 0);
  EXPECT_NE(fits, &z.mem->sets[0]);
  EXPECT_EQ(fits->ns_len, OW_M_KEY_MAX);
  std::string huge(OW_M_KEY_MAX + 1, 'b');
  EXPECT_EQ(ow_metrics_set(z.mem, huge.data(), huge.size(), nullptr, 0,
                           nullptr, 0), &z.mem->sets[0]);
}

TEST(Metrics, ConcurrentClaimsMakeNoDuplicates) {
  Zone z(512);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++) {
    ts.emplace_back([&z] {
      for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 100; i++) {
          ow_m_set_t *s = z.Action("ns", "a" + std::to_string(i), "ns");
          OW_M_ADD(&s->c[OW_M_ACTIVATIONS], 1);
        }
      }
    });
  }
  for (auto &t : ts) t.join();
  std::set<std::string> keys;
  for (unsigned long i = 2; i < 512; i++) {
    const ow_m_set_t &s = z.mem->sets[i];
    if (s.state != OW_M_READY) continue;
    EXPECT_TRUE(keys.insert(std::string(s.key, s.ns_len + s.action_len
                                        + s.initiator_len)).second);
    EXPECT_EQ(s.c[OW_M_ACTIVATIONS], 200UL);
  }
  EXPECT_EQ(keys.size(), 100UL);
}

TEST(Metrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  Zone z(16);
  ow_m_set_t *s = z.Action("guest", "pkg/hi", "alice");
  ow_metrics_observe(&s->latency, 3000);       // 3 ms   -> le 0.005
  ow_metrics_observe(&s->latency, 80000);      // 80 ms  -> le 0.1
  ow_metrics_observe(&s->latency, 20000000);   // 20 s   -> +Inf only
  Parsed p = Parse(z.Text());
  const std::string l = "{namespace=\"guest\",initiator=\"alice\","
                        "action=\"pkg/hi\",";
  const std::string base = "owx_action_latency_seconds";
  EXPECT_EQ(p.types[base], "histogram");
  EXPECT_EQ(p.samples[base + "_bucket" + l + "le=\"0.005\"}"], "1");
  EXPECT_EQ(p.samples[base + "_bucket" + l + "le=\"0.075\"}"], "1");
  EXPECT_EQ(p.samples[base + "_bucket" + l + "le=\"0.1\"}"], "2");
  EXPECT_EQ(p.samples[base + "_bucket" + l + "le=\"10\"}"], "2");
  EXPECT_EQ(p.samples[base + "_bucket" + l + "le=\"+Inf\"}"], "3");
  const std::string ls = "{namespace=\"guest\",initiator=\"alice\","
                         "action=\"pkg/hi\"}";
  EXPECT_EQ(p.samples[base + "_count" + ls], "3");
  EXPECT_EQ(p.samples[base + "_sum" + ls], "20.083000");
}

TEST(Metrics, ExpositionHasEveryFamilyTypedAndEscapesLabels) {
  Zone z(16);
  ow_m_set_t *s = z.Action("gu\"est", "a\\b", "x\ny");
  OW_M_ADD(&s->c[OW_M_ACTIVATIONS], 3);
  OW_M_ADD(&s->c[OW_M_SUCCESS], 2);
  OW_M_ADD(&s->c[OW_M_APPLICATION_ERROR], 1);
  ow_m_set_t *ns = ow_metrics_set(z.mem, "guest", 5, nullptr, 0, nullptr, 0);
  OW_M_ADD(&ns->c[OW_M_LIMIT_TIMED], 4);
  OW_M_ADD(&z.mem->auth[OW_M_AUTH_HIT], 7);
  z.mem->redis[1] = 2;
  z.mem->redis[0] = 1;
  z.mem->warm_seen = 9;
  z.mem->warm_applied = 7;
  z.mem->responses[ow_metrics_class(429)] += 1;
  z.mem->responses[ow_metrics_class(0)] += 1;

  std::string t = z.Text();
  Parsed p = Parse(t);
  for (const char *f : {"openwhisk_action_activations_total",
                        "openwhisk_action_coldStarts_total",
                        "openwhisk_action_status",
                        "openwhisk_action_limit_concurrent_total",
                        "openwhisk_action_limit_timed_total",
                        "owx_action_latency_seconds", "owx_auth_total",
                        "owx_parked_requests", "owx_park_seconds",
                        "owx_container_429_total",
                        "owx_capacity_requests_total", "owx_warm_containers",
                        "owx_warm_event_lag", "owx_redis_connected",
                        "owx_http_responses_total"}) {
    EXPECT_TRUE(p.types.count(f)) << f;
    EXPECT_NE(t.find(std::string("# HELP ") + f + " "), std::string::npos);
  }
  const std::string l = "{namespace=\"gu\\\"est\",initiator=\"x\\ny\","
                        "action=\"a\\\\b\"";
  EXPECT_EQ(p.samples["openwhisk_action_activations_total" + l + "}"], "3");
  EXPECT_EQ(p.samples["openwhisk_action_status" + l +
                      ",status=\"success\"}"], "2");
  EXPECT_EQ(p.samples["openwhisk_action_status" + l +
                      ",status=\"application_error\"}"], "1");
  EXPECT_EQ(p.samples.count("openwhisk_action_status" + l +
                            ",status=\"whisk_internal_error\"}"), 0u);
  EXPECT_EQ(p.samples["openwhisk_action_limit_timed_total"
                      "{namespace=\"guest\"}"], "4");
  EXPECT_EQ(p.samples["openwhisk_action_limit_concurrent_total"
                      "{namespace=\"guest\"}"], "0");
  EXPECT_EQ(p.samples["owx_auth_total{result=\"hit\"}"], "7");
  EXPECT_EQ(p.samples["owx_redis_connected{worker=\"0\"}"], "0");
  EXPECT_EQ(p.samples["owx_redis_connected{worker=\"1\"}"], "1");
  EXPECT_EQ(p.samples.count("owx_redis_connected{worker=\"2\"}"), 0u);
  EXPECT_EQ(p.samples["owx_warm_event_lag"], "2");
  EXPECT_EQ(p.samples["owx_http_responses_total{code=\"4xx\"}"], "1");
  EXPECT_EQ(p.samples["owx_http_responses_total{code=\"other\"}"], "1");
  // the unused "_other" sets print nothing
  EXPECT_EQ(t.find("_other\"} 0"), std::string::npos);
  EXPECT_EQ(t.back(), '\n');
}

TEST(Metrics, SizeAndFitAgree) {
  EXPECT_EQ(ow_metrics_fit(ow_metrics_size(100)), 100UL);
  EXPECT_EQ(ow_metrics_fit(ow_metrics_size(100) - 1), 99UL);
  EXPECT_EQ(ow_metrics_fit(10), 0UL);
  // 1 MB, as conf/nginx.conf gives it: well over a thousand label sets
  EXPECT_GT(ow_metrics_fit(1024 * 1024 - 1024 * 1024 / 32 - 3 * 4096),
            1500UL);
}
