// metrics.h: a small Prometheus exposition library (text format 0.0.4) for
// the C++ daemons. prometheus-cpp is not packaged in Debian 12; this is the
// part of it owx needs.
//
// Model: a Registry holds metric families (one name, HELP, TYPE); each family
// has children whose label values are fixed when they are registered (the
// label set is known up front: statuses, pool states, the configured nodes),
// so cardinality is bounded by construction and no lookup happens on the hot
// path. Registration takes a mutex (start-up); Counter::inc, Gauge::set/add
// and Histogram::observe are relaxed std::atomic operations only: no lock,
// no allocation. Values read at scrape time from other state (queue depth,
// pool size) are callback gauges: zero cost between scrapes.
//
// Text format (https://prometheus.io/docs/instrumenting/exposition_formats/):
//   # HELP <name> <help with \\ and \n escaped>
//   # TYPE <name> counter|gauge|histogram
//   <name>{k="v",...} <value>          label values escape \\ \" \n
//   <name>_bucket{...,le="<bound>"} <cumulative count>   ... le="+Inf"
//   <name>_sum{...} <sum>   <name>_count{...} <count>
// Families are written in registration order, children likewise.
//
//   ow::metrics::Registry reg;
//   auto &runs = reg.counter("owx_sidecar_runs_total", "Runs.", {{"status", "success"}});
//   runs.inc();
//   std::string text = reg.expose();
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ow::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
public:
    void inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
    uint64_t value() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

class Gauge {
public:
    void set(double v) { v_.store(v, std::memory_order_relaxed); }
    void add(double d);
    double value() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> v_{0};
};

// Fixed buckets (upper bounds, strictly increasing; +Inf is implicit).
class Histogram {
public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double v);
    const std::vector<double> &bounds() const { return bounds_; }
    // Per-bucket (not cumulative) counts; index bounds().size() is +Inf.
    uint64_t bucket(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
    double sum() const { return sum_.load(std::memory_order_relaxed); }

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<uint64_t>[]> counts_;
    std::atomic<double> sum_{0};
};

// Prometheus client defaults (seconds) and helpers for other bucket sets.
std::vector<double> default_buckets();
std::vector<double> linear_buckets(double start, double width, int count);
std::vector<double> exponential_buckets(double start, double factor, int count);

class Registry {
public:
    Registry() = default;
    Registry(const Registry &) = delete;
    Registry &operator=(const Registry &) = delete;

    // The child of family `name` with these labels (created on first use; a
    // second call with the same labels returns the same child). The family's
    // type and help come from its first registration; registering a name
    // with another type aborts (a programming error, caught by the tests).
    Counter &counter(const std::string &name, const std::string &help,
                     const Labels &labels = {});
    Gauge &gauge(const std::string &name, const std::string &help,
                 const Labels &labels = {});
    Histogram &histogram(const std::string &name, const std::string &help,
                         const std::vector<double> &bounds, const Labels &labels = {});
    // A gauge whose value is read at scrape time (fn runs inside expose(), on
    // the scraping thread: it must be safe there).
    void gauge_fn(const std::string &name, const std::string &help,
                  std::function<double()> fn, const Labels &labels = {});
    // A counter read at scrape time (a count kept elsewhere, e.g. a writer
    // thread's totals).
    void counter_fn(const std::string &name, const std::string &help,
                    std::function<double()> fn, const Labels &labels = {});

    // A gauge family whose children are listed at scrape time (e.g. one per
    // node of the configured set): fn returns (labels, value) pairs. The
    // caller bounds the set.
    using Samples = std::vector<std::pair<Labels, double>>;
    void gauge_set_fn(const std::string &name, const std::string &help,
                      std::function<Samples()> fn);

    // The whole registry in text format 0.0.4.
    std::string expose() const;

private:
    enum class Type { counter, gauge, histogram };
    struct Child {
        Labels labels;
        std::unique_ptr<Counter> counter;
        std::unique_ptr<Gauge> gauge;
        std::unique_ptr<Histogram> histogram;
        std::function<double()> fn;
        std::function<Samples()> set_fn;
    };
    struct Family {
        std::string name, help;
        Type type;
        std::deque<Child> children;   // deque: references stay valid
    };
    Child &child(const std::string &name, const std::string &help, Type type,
                 const Labels &labels, bool *created);

    mutable std::mutex mu_;
    std::deque<Family> families_;
};

// Text-format pieces (exposed for the tests and for other exporters).
std::string escape_help(const std::string &s);
std::string escape_label_value(const std::string &s);
// A sample value: integers without a fraction, "+Inf", "-Inf", "NaN", else
// the shortest representation that reads back exactly (as Go's client).
std::string format_value(double v);

// "Content-Type" of the exposition.
extern const char kContentType[];

}  // namespace ow::metrics
