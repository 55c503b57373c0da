// metrics.cc: see metrics.h.
#include "libow/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ow::metrics {

const char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

void Gauge::add(double d) {
    // std::atomic<double>::fetch_add is C++20; a CAS loop is lock-free too
    double cur = v_.load(std::memory_order_relaxed);
    while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
    }
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
    counts_.reset(new std::atomic<uint64_t>[bounds_.size() + 1]);
    for (size_t i = 0; i <= bounds_.size(); i++) counts_[i].store(0);
}

void Histogram::observe(double v) {
    // le is inclusive: v lands in the first bucket whose bound is >= v
    size_t i = (size_t)(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    double cur = sum_.load(std::memory_order_relaxed);
    while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
    }
}

std::vector<double> default_buckets() {
    return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> linear_buckets(double start, double width, int count) {
    std::vector<double> b;
    for (int i = 0; i < count; i++) b.push_back(start + width * i);
    return b;
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
    std::vector<double> b;
    double v = start;
    for (int i = 0; i < count; i++, v *= factor) b.push_back(v);
    return b;
}

static bool valid_name(const std::string &s, bool colon) {
    if (s.empty()) return false;
    for (size_t i = 0; i < s.size(); i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

static void must(bool ok, const char *what, const std::string &name) {
    if (ok) return;
    // registration happens at start-up with names from the code: a bad one
    // is a bug, and a half-registered metric would silently lie
    fprintf(stderr, "metrics: %s: %s\n", what, name.c_str());
    abort();
}

Registry::Child &Registry::child(const std::string &name, const std::string &help, Type type,
                                 const Labels &labels, bool *created) {
    must(valid_name(name, true), "invalid metric name", name);
    for (const auto &l : labels) {
        must(valid_name(l.first, false) && l.first.compare(0, 2, "__") != 0,
             "invalid label name", l.first);
        must(!(type == Type::histogram && l.first == "le"), "le on a histogram", name);
    }
    Family *fam = nullptr;
    for (auto &f : families_)
        if (f.name == name) fam = &f;
    if (!fam) {
        families_.push_back(Family{name, help, type, {}});
        fam = &families_.back();
    }
    must(fam->type == type, "registered with another type", name);
    for (auto &c : fam->children) {
        if (c.labels == labels) {
            *created = false;
            return c;
        }
    }
    fam->children.push_back(Child{labels, nullptr, nullptr, nullptr, nullptr, nullptr});
    *created = true;
    return fam->children.back();
}

Counter &Registry::counter(const std::string &name, const std::string &help,
                           const Labels &labels) {
    std::lock_guard<std::mutex> lk(mu_);
    bool created;
    Child &c = child(name, help, Type::counter, labels, &created);
    must(created ? true : c.counter != nullptr, "callback counter reused", name);
    if (created) c.counter = std::make_unique<Counter>();
    return *c.counter;
}

Gauge &Registry::gauge(const std::string &name, const std::string &help, const Labels &labels) {
    std::lock_guard<std::mutex> lk(mu_);
    bool created;
    Child &c = child(name, help, Type::gauge, labels, &created);
    must(created ? true : c.gauge != nullptr, "callback gauge reused", name);
    if (created) c.gauge = std::make_unique<Gauge>();
    return *c.gauge;
}

Histogram &Registry::histogram(const std::string &name, const std::string &help,
                               const std::vector<double> &bounds, const Labels &labels) {
    must(!bounds.empty() && std::is_sorted(bounds.begin(), bounds.end()) &&
         std::adjacent_find(bounds.begin(), bounds.end()) == bounds.end() &&
         !std::isinf(bounds.back()), "bad buckets", name);
    std::lock_guard<std::mutex> lk(mu_);
    bool created;
    Child &c = child(name, help, Type::histogram, labels, &created);
    if (created) c.histogram = std::make_unique<Histogram>(bounds);
    must(c.histogram->bounds() == bounds, "other buckets for one family", name);
    return *c.histogram;
}

void Registry::gauge_fn(const std::string &name, const std::string &help,
                        std::function<double()> fn, const Labels &labels) {
    std::lock_guard<std::mutex> lk(mu_);
    bool created;
    Child &c = child(name, help, Type::gauge, labels, &created);
    must(created, "callback gauge registered twice", name);
    c.fn = std::move(fn);
}

void Registry::counter_fn(const std::string &name, const std::string &help,
                          std::function<double()> fn, const Labels &labels) {
    std::lock_guard<std::mutex> lk(mu_);
    bool created;
    Child &c = child(name, help, Type::counter, labels, &created);
    must(created, "callback counter registered twice", name);
    c.fn = std::move(fn);
}

void Registry::gauge_set_fn(const std::string &name, const std::string &help,
                            std::function<Samples()> fn) {
    std::lock_guard<std::mutex> lk(mu_);
    bool created;
    Child &c = child(name, help, Type::gauge, {}, &created);
    must(created, "callback gauge registered twice", name);
    c.set_fn = std::move(fn);
}

std::string escape_help(const std::string &s) {
    std::string o;
    o.reserve(s.size());
    for (char c : s) {
        if (c == '\\') o += "\\\\";
        else if (c == '\n') o += "\\n";
        else o += c;
    }
    return o;
}

std::string escape_label_value(const std::string &s) {
    std::string o;
    o.reserve(s.size());
    for (char c : s) {
        if (c == '\\') o += "\\\\";
        else if (c == '"') o += "\\\"";
        else if (c == '\n') o += "\\n";
        else o += c;
    }
    return o;
}

std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
        char b[32];
        snprintf(b, sizeof b, "%lld", (long long)v);
        return b;
    }
    char b[64];
    auto r = std::to_chars(b, b + sizeof b, v);   // shortest round-trip
    return std::string(b, r.ptr);
}

// {k="v",...,extra} or "" when there is nothing
static std::string label_text(const Labels &labels, const std::string &extra = "") {
    if (labels.empty() && extra.empty()) return "";
    std::string o = "{";
    bool first = true;
    for (const auto &l : labels) {
        if (!first) o += ',';
        first = false;
        o += l.first;
        o += "=\"";
        o += escape_label_value(l.second);
        o += '"';
    }
    if (!extra.empty()) {
        if (!first) o += ',';
        o += extra;
    }
    o += '}';
    return o;
}

std::string Registry::expose() const {
    static const char *type_name[] = {"counter", "gauge", "histogram"};
    std::lock_guard<std::mutex> lk(mu_);
    std::string o;
    o.reserve(4096);
    for (const auto &f : families_) {
        o += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
        o += "# TYPE " + f.name + " " + type_name[(int)f.type] + "\n";
        for (const auto &c : f.children) {
            if (c.set_fn) {
                for (const auto &sample : c.set_fn())
                    o += f.name + label_text(sample.first) + " " + format_value(sample.second) +
                         "\n";
                continue;
            }
            if (f.type != Type::histogram) {
                double v = c.fn ? c.fn()
                           : c.counter ? (double)c.counter->value() : c.gauge->value();
                o += f.name + label_text(c.labels) + " " + format_value(v) + "\n";
                continue;
            }
            const Histogram &h = *c.histogram;
            uint64_t cum = 0;
            for (size_t i = 0; i <= h.bounds().size(); i++) {
                cum += h.bucket(i);
                std::string le = i < h.bounds().size() ? format_value(h.bounds()[i]) : "+Inf";
                o += f.name + "_bucket" + label_text(c.labels, "le=\"" + le + "\"") + " " +
                     std::to_string(cum) + "\n";
            }
            o += f.name + "_sum" + label_text(c.labels) + " " + format_value(h.sum()) + "\n";
            // the count from the same read as +Inf, so they always agree
            o += f.name + "_count" + label_text(c.labels) + " " + std::to_string(cum) + "\n";
        }
    }
    return o;
}

}  // namespace ow::metrics
