#include "libow/metrics.h"

#include <gtest/gtest.h>
#include <thread>

using namespace ow::metrics;

TEST(Metrics, CounterAndGaugeExactText) {
    Registry r;
    auto &ok = r.counter("owx_runs_total", "Runs by status.", {{"status", "success"}});
    auto &bad = r.counter("owx_runs_total", "ignored", {{"status", "application_error"}});
    auto &g = r.gauge("owx_inflight", "In flight.");
    ok.inc();
    ok.inc(2);
    bad.inc();
    g.set(4);
    g.add(-1.5);
    EXPECT_EQ(&ok, &r.counter("owx_runs_total", "x", {{"status", "success"}}));
    EXPECT_EQ(r.expose(),
              "# HELP owx_runs_total Runs by status.\n"
              "# TYPE owx_runs_total counter\n"
              "owx_runs_total{status=\"success\"} 3\n"
              "owx_runs_total{status=\"application_error\"} 1\n"
              "# HELP owx_inflight In flight.\n"
              "# TYPE owx_inflight gauge\n"
              "owx_inflight 2.5\n");
}

TEST(Metrics, HistogramBucketsSumCount) {
    Registry r;
    auto &h = r.histogram("owx_run_seconds", "Run time.", {0.1, 1, 2.5}, {{"kind", "nodejs:20"}});
    h.observe(0.05);
    h.observe(0.1);   // le is inclusive
    h.observe(2);
    h.observe(7);
    EXPECT_EQ(r.expose(),
              "# HELP owx_run_seconds Run time.\n"
              "# TYPE owx_run_seconds histogram\n"
              "owx_run_seconds_bucket{kind=\"nodejs:20\",le=\"0.1\"} 2\n"
              "owx_run_seconds_bucket{kind=\"nodejs:20\",le=\"1\"} 2\n"
              "owx_run_seconds_bucket{kind=\"nodejs:20\",le=\"2.5\"} 3\n"
              "owx_run_seconds_bucket{kind=\"nodejs:20\",le=\"+Inf\"} 4\n"
              "owx_run_seconds_sum{kind=\"nodejs:20\"} 9.15\n"
              "owx_run_seconds_count{kind=\"nodejs:20\"} 4\n");
}

TEST(Metrics, HistogramWithoutLabels) {
    Registry r;
    r.histogram("h", "H.", {1}).observe(3);
    EXPECT_EQ(r.expose(),
              "# HELP h H.\n# TYPE h histogram\n"
              "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n");
}

TEST(Metrics, Escaping) {
    Registry r;
    r.counter("c_total", "a \\ b\nc \"q\"", {{"v", "x\\y\"z\nw"}}).inc();
    EXPECT_EQ(r.expose(),
              "# HELP c_total a \\\\ b\\nc \"q\"\n# TYPE c_total counter\n"
              "c_total{v=\"x\\\\y\\\"z\\nw\"} 1\n");
}

TEST(Metrics, CallbackGaugeReadAtScrape) {
    Registry r;
    int depth = 1;
    r.gauge_fn("q", "Queue.", [&] { return (double)depth; }, {{"a", "b"}});
    EXPECT_NE(r.expose().find("q{a=\"b\"} 1\n"), std::string::npos);
    depth = 7;
    EXPECT_NE(r.expose().find("q{a=\"b\"} 7\n"), std::string::npos);
}

TEST(Metrics, GaugeSetListedAtScrape) {
    Registry r;
    r.gauge_set_fn("fill", "Fill.", [] {
        return Registry::Samples{{{{"node", "n1"}}, 0.5}, {{{"node", "n\"2"}}, 1}};
    });
    EXPECT_EQ(r.expose(), "# HELP fill Fill.\n# TYPE fill gauge\n"
                          "fill{node=\"n1\"} 0.5\nfill{node=\"n\\\"2\"} 1\n");
}

TEST(Metrics, FormatValue) {
    EXPECT_EQ(format_value(0), "0");
    EXPECT_EQ(format_value(-3), "-3");
    EXPECT_EQ(format_value(0.005), "0.005");
    EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
    EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
    EXPECT_EQ(format_value(0.0 / 0.0), "NaN");
    EXPECT_EQ(format_value(0.1 + 0.2), "0.30000000000000004");
}

TEST(Metrics, Buckets) {
    EXPECT_EQ(default_buckets().size(), 11u);
    EXPECT_EQ(linear_buckets(1, 2, 3), (std::vector<double>{1, 3, 5}));
    EXPECT_EQ(exponential_buckets(1, 2, 3), (std::vector<double>{1, 2, 4}));
}

TEST(Metrics, ConcurrentIncrementsAreNotLost) {
    Registry r;
    auto &c = r.counter("n_total", "N.");
    auto &h = r.histogram("d", "D.", {1});
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++)
        ts.emplace_back([&] { for (int i = 0; i < 10000; i++) { c.inc(); h.observe(0.5); } });
    for (auto &t : ts) t.join();
    EXPECT_EQ(c.value(), 40000u);
    EXPECT_EQ(h.bucket(0), 40000u);
    EXPECT_DOUBLE_EQ(h.sum(), 20000);
}

TEST(MetricsDeath, TypeMismatchAborts) {
    Registry r;
    r.counter("x", "X.");
    EXPECT_DEATH(r.gauge("x", "X."), "another type");
    EXPECT_DEATH(r.counter("bad-name", "X."), "invalid metric name");
}
