// pool_sim.cc: ow-pool-sim, the placement + collection benchmark (make bench).
//
// A simulated cluster of 100 identical nodes is driven by a deterministic
// churn trace (seeded: actions of mixed memory 128-2048 MB, on/off arrival
// periods with idle gaps, a load that ramps up, plateaus, falls and comes
// back) through the REAL code: ResourceAllocator (resource_allocator.h)
// places every cold start, the real Pool holds every container, and the
// real GarbageCollector (garbage_collector.h) with each CollectionPolicy
// (collection_policy.h) marks and sweeps. Only the world around them is
// simulated: the clock, the backend (a stop removes the container at the
// next step), the warm table (marks always publish) and the gateways (a
// request takes the action's oldest unmarked warm container, a marked one
// only when no other is free, which unmarks it).
//
// For each strategy/policy pair it samples, every minute of simulated time,
// the nodes in use (at least one container) and the first-fit-decreasing
// packing of the live containers (the reference "bound"), and reports the
// mean and p95 of their ratio. With node-emptying the compactor
// (compactor.h) relocates the busy containers of nearly empty nodes, as
// the daemon does by default; its replacement starts are counted apart
// ("relocations"), and most-allocated/node-emptying is also run without it. Then it times one allocation and one
// collection pass with 10,000 containers in the pool, and the RSS.
// Output: a table on stdout and JSON (--out, default
// bench/results/pool_sim.json).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "libow/log.h"
#include "pool-manager/backend.h"
#include "pool-manager/clock.h"
#include "pool-manager/collection_policy.h"
#include "pool-manager/garbage_collector.h"
#include "pool-manager/pool.h"
#include "pool-manager/resource_allocator.h"
#include "pool-manager/warm_table.h"

using namespace ow::pm;

namespace {

// ---- knobs (one place) ----------------------------------------------------
constexpr int kNodes = 100;
constexpr int64_t kNodeCpu = 16000;      // millicores
constexpr int64_t kNodeMem = 32768;      // MB
constexpr int64_t kCpuPerGb = 500;       // CPU reserved in proportion to memory
constexpr int kActions = 1800;
constexpr int64_t kStepMs = 10000;       // one simulation step
constexpr int64_t kSampleMs = 60000;     // one sample of nodes in use
constexpr int64_t kDurationMs = 8 * 3600 * 1000LL;
constexpr int64_t kIdleMs = 600000;      // OpenWhisk's 10 minutes
constexpr int64_t kGraceMs = 30000;
// node-emptying's compaction idle (--gc-compact-idle): the daemon's default
// unless --compact-idle says otherwise.
int64_t g_compact_idle_ms = NodeEmptyingOptions().compact_idle_ms;
int64_t g_compact_left = NodeEmptyingOptions().compact_max_left;
double g_compact_fill = NodeEmptyingOptions().compact_max_fill;
// the compactor's --gc-relocate-fill (0 = no relocation)
double g_relocate_fill = CompactorOptions().max_fill;
constexpr int64_t kT0 = 1800000000000LL;  // epoch ms the trace starts at

// Uniform in [0, 1) from raw 64-bit draws: std::*_distribution differ
// between standard libraries; the trace must not.
double unit(std::mt19937_64 &r) { return static_cast<double>(r() >> 11) * 0x1.0p-53; }
double expo(std::mt19937_64 &r, double mean) { return -mean * std::log(1.0 - unit(r)); }
template <size_t N>
int64_t weighted(std::mt19937_64 &r, const int64_t (&vals)[N], const int (&w)[N]) {
    int total = 0;
    for (int x : w) total += x;
    int pick = static_cast<int>(r() % static_cast<uint64_t>(total));
    for (size_t i = 0; i < N; i++) {
        if (pick < w[i]) return vals[i];
        pick -= w[i];
    }
    return vals[N - 1];
}

// The cluster's load shape over the 8 hours (fraction of actions that turn
// on when an idle gap ends): ramp, plateau, fall, low, partial return.
double load_at(int64_t t) {
    double h = static_cast<double>(t) / 3600000.0;
    if (h < 1) return h;
    if (h < 4) return 1.0;
    if (h < 5) return 1.0 - 0.7 * (h - 4);
    if (h < 6.5) return 0.3;
    if (h < 7.5) return 0.3 + 0.5 * (h - 6.5);
    return 0.8;
}

struct ActionTrace {
    std::string name;
    int64_t memory;
    int64_t level;       // busy containers when on (before jitter)
    bool on = false;
    int64_t until = 0;   // end of the current on/off period (ms from start)
};

// ---- the simulated world around the real code -----------------------------
class SimClock : public Clock {
public:
    int64_t now = kT0;
    int64_t now_ms() const override { return now; }
    TimerId after(int64_t, std::function<void()>) override { return 0; }  // passes are driven
    void cancel(TimerId) override {}
};

class SimBackend : public Backend {
public:
    std::vector<std::string> stopped;
    void start(const ContainerSpec &, StartCallback) override {}
    void stop(const std::string &id, int64_t) override { stopped.push_back(id); }
    bool adopt(const std::string &, int64_t) override { return true; }
    void on_exit(ExitCallback) override {}
};

class SimMarks : public MarkSink {
public:
    std::vector<std::string> unmarks;
    bool mark(const Container &) override { return true; }
    bool unmark(const Container &) override { return true; }
    Sweep sweep(const Container &c) override {
        // A gateway's unmark request that lands first wins, as the script.
        return std::find(unmarks.begin(), unmarks.end(), c.id) == unmarks.end()
                   ? Sweep::swept
                   : Sweep::unmark_requested;
    }
    bool take_unmarks(std::vector<std::string> *ids) override {
        ids->swap(unmarks);
        unmarks.clear();
        return true;
    }
};

// First-fit decreasing over the live containers: the reference packing.
int ffd_nodes(std::vector<Resources> items) {
    std::sort(items.begin(), items.end(), [](const Resources &a, const Resources &b) {
        return a.mem != b.mem ? a.mem > b.mem : a.cpu > b.cpu;
    });
    std::vector<Resources> bins;
    for (const Resources &it : items) {
        bool placed = false;
        for (Resources &b : bins) {
            if (b.mem + it.mem <= kNodeMem && b.cpu + it.cpu <= kNodeCpu) {
                b.mem += it.mem;
                b.cpu += it.cpu;
                placed = true;
                break;
            }
        }
        if (!placed) bins.push_back(it);
    }
    return static_cast<int>(bins.size());
}

std::vector<NodeSpec> cluster(int n, int64_t cpu, int64_t mem) {
    std::vector<NodeSpec> nodes;
    for (int i = 0; i < n; i++) {
        NodeSpec s;
        char name[16];
        std::snprintf(name, sizeof name, "n%03d", i);
        s.name = name;
        s.capacity = {cpu, mem, 0};
        nodes.push_back(s);
    }
    return nodes;
}

std::vector<ActionTrace> make_actions(uint64_t seed) {
    std::mt19937_64 r(seed);
    static const int64_t mems[] = {128, 256, 512, 1024, 2048};
    static const int memw[] = {25, 30, 20, 15, 10};
    static const int64_t levels[] = {1, 2, 4, 8, 16};
    static const int levelw[] = {45, 25, 15, 10, 5};
    std::vector<ActionTrace> out;
    for (int i = 0; i < kActions; i++) {
        ActionTrace a;
        a.name = "ns" + std::to_string(i % 40) + "/action" + std::to_string(i);
        a.memory = weighted(r, mems, memw);
        a.level = weighted(r, levels, levelw);
        a.until = static_cast<int64_t>(expo(r, 20 * 60000.0));  // staggered first gap
        out.push_back(a);
    }
    return out;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
    return v[std::min(i, v.size() - 1)];
}

struct RunResult {
    std::string strategy, policy;
    double mean_ratio = 0, p95_ratio = 0, max_ratio = 0;
    double mean_nodes = 0, mean_ffd = 0, mean_lower = 0;
    int max_nodes = 0;
    double relocate_fill = 0;
    int64_t cold_starts = 0, no_room = 0, swept = 0, unmarked = 0;
    int64_t relocations = 0, nodes_emptied = 0;
    nlohmann::json series = nlohmann::json::array();  // every 10 minutes
};

RunResult run(const std::string &strategy, const std::string &policy_name, uint64_t seed,
              double relocate_fill) {
    ResourceAllocator alloc(cluster(kNodes, kNodeCpu, kNodeMem), make_strategy(strategy, seed),
                            kCpuPerGb);
    NodeEmptyingOptions no;
    no.idle_ms = kIdleMs;
    no.compact_idle_ms = g_compact_idle_ms;
    no.compact_max_left = g_compact_left;
    no.compact_max_fill = g_compact_fill;
    auto policy = make_policy(policy_name, no);
    if (!policy) policy = std::make_unique<IdleTimeoutPolicy>(kIdleMs);
    Pool pool;
    SimClock clock;
    SimBackend backend;
    SimMarks marks;
    GcOptions go;
    go.interval_ms = kStepMs;
    go.grace_ms = kGraceMs;
    GarbageCollector gc(pool, marks, backend, clock, *policy, go);

    std::vector<ActionTrace> actions = make_actions(seed);
    std::map<std::string, const ActionTrace *> by_name;
    for (const ActionTrace &a : actions) by_name[a.name] = &a;
    std::mt19937_64 r(seed ^ 0x5eed);  // the same trace for every pair
    std::map<std::string, std::vector<std::string>> by_action;  // ids, oldest first
    RunResult res;
    res.strategy = strategy;
    res.policy = policy_name;
    std::vector<double> ratios;
    double sum_nodes = 0, sum_ffd = 0, sum_lower = 0;
    int samples = 0;
    uint64_t next_id = 0;

    // A cold start through the daemon's path (capacity.cc): the pool's
    // running per-node loads, then the strategy. The start latency is not
    // what this measures: the container is warm at once.
    auto start = [&](const ActionTrace &a, bool busy) {
        Resources req = alloc.demand(a.memory);
        std::string node = alloc.place(pool, req);
        if (node.empty()) {
            res.no_room++;
            return;
        }
        Container c;
        c.id = std::to_string(++next_id);
        c.action = a.name;
        c.ns = a.name.substr(0, a.name.find('/'));
        c.memory = req.mem;
        c.cpu = req.cpu;
        c.node = node;
        c.started_ms = clock.now;
        c.state = State::warm;
        c.health.known = true;
        c.health.ready = true;
        c.health.inflight = busy ? 1 : 0;
        c.health.last_used = clock.now;
        c.health.checked_ms = clock.now;
        by_action[a.name].push_back(c.id);
        pool.add(std::move(c));
    };
    CompactorOptions co;
    co.max_fill = relocate_fill;
    co.compact_idle_ms = g_compact_idle_ms;
    res.relocate_fill = policy_name == "node-emptying" ? relocate_fill : 0;
    Compactor compactor(pool, alloc, co, [&](const std::string &action, int64_t n) {
        for (int64_t i = 0; i < n; i++) {
            start(*by_name.at(action), false);
            res.relocations++;
        }
    });
    if (res.relocate_fill > 0) gc.set_compactor(&compactor);

    auto drop = [&](const std::string &id) {
        Container *c = pool.find(id);
        if (c == nullptr) return;
        auto &v = by_action[c->action];
        v.erase(std::remove(v.begin(), v.end(), id), v.end());
        pool.remove(id);
    };

    for (int64_t t = 0; t < kDurationMs; t += kStepMs) {
        clock.now = kT0 + t;
        // Containers swept at the last pass have drained: gone.
        for (const std::string &id : backend.stopped) drop(id);
        res.swept += static_cast<int64_t>(backend.stopped.size());
        backend.stopped.clear();

        for (ActionTrace &a : actions) {
            if (t >= a.until) {
                if (a.on) {
                    a.on = false;
                    a.until = t + static_cast<int64_t>(expo(r, 40 * 60000.0));
                } else {
                    a.on = unit(r) < load_at(t);
                    a.until = t + static_cast<int64_t>(expo(r, (a.on ? 20 : 40) * 60000.0));
                }
            }
            int64_t busy = 0;
            if (a.on) {
                busy = static_cast<int64_t>(std::lround(static_cast<double>(a.level) *
                                                        (0.5 + unit(r))));
            }
            auto &ids = by_action[a.name];
            // The gateways: unmarked warm containers first (oldest first),
            // then marked ones (each use asks for an unmark), then cold
            // starts through the real allocator.
            int64_t used = 0;
            for (int pass = 0; pass < 2; pass++) {
                for (const std::string &id : ids) {
                    Container *c = pool.find(id);
                    if (c == nullptr || c->state != State::warm) continue;
                    bool marked = c->marked_ms != 0;
                    if (marked != (pass == 1)) continue;
                    c->health.known = true;
                    c->health.ready = true;
                    c->health.checked_ms = clock.now;
                    if (used < busy) {
                        used++;
                        c->health.inflight = 1;
                        c->health.last_used = clock.now;
                        if (marked) {
                            marks.unmarks.push_back(id);
                            res.unmarked++;
                        }
                    } else {
                        c->health.inflight = 0;
                    }
                }
            }
            for (; used < busy; used++) {
                start(a, true);
                res.cold_starts++;
            }
        }
        gc.pass();

        if (t % kSampleMs == 0) {
            int in_use = static_cast<int>(pool.loads().size());  // nodes with a container
            std::vector<Resources> items;
            int64_t mem = 0;
            for (const auto &kv : pool.all()) {
                items.push_back({kv.second.cpu, kv.second.memory, 0});
                mem += kv.second.memory;
            }
            int ffd = ffd_nodes(items);
            int lower = static_cast<int>((mem + kNodeMem - 1) / kNodeMem);
            if (ffd > 0) {
                double ratio = static_cast<double>(in_use) / ffd;
                ratios.push_back(ratio);
                sum_nodes += in_use;
                sum_ffd += ffd;
                sum_lower += lower;
                samples++;
            }
            res.max_nodes = std::max(res.max_nodes, in_use);
            if (t % (10 * kSampleMs) == 0) {
                res.series.push_back({{"min", t / 60000},
                                      {"containers", pool.size()},
                                      {"nodes", in_use},
                                      {"ffd", ffd},
                                      {"mem_bound", lower}});
            }
        }
    }
    double sum = 0;
    for (double x : ratios) sum += x;
    res.mean_ratio = ratios.empty() ? 0 : sum / static_cast<double>(ratios.size());
    res.p95_ratio = percentile(ratios, 0.95);
    res.max_ratio = ratios.empty() ? 0 : *std::max_element(ratios.begin(), ratios.end());
    res.mean_nodes = samples ? sum_nodes / samples : 0;
    res.mean_ffd = samples ? sum_ffd / samples : 0;
    res.mean_lower = samples ? sum_lower / samples : 0;
    res.nodes_emptied = compactor.nodes_emptied();
    return res;
}

int64_t rss_kb() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
    }
    return -1;
}

template <typename F>
double time_us(int reps, F f) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; i++) f();
    auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::micro>(t1 - t0).count() / reps;
}

// 10,000 containers on 100 nodes (128 GB each, so they fit), a third of
// them idle past the timeout: one allocation (level-based: tally the pool,
// then choose; and choose alone) and one collection pass of each policy.
nlohmann::json scale_test(uint64_t seed) {
    constexpr int kContainers = 10000;
    int64_t rss_before = rss_kb();
    ResourceAllocator alloc(cluster(kNodes, 4 * kNodeCpu, 4 * kNodeMem),
                            make_strategy("most-allocated", seed), kCpuPerGb);
    std::vector<ActionTrace> actions = make_actions(seed);
    std::mt19937_64 r(seed);
    Pool pool;
    const int64_t now = kT0 + 3600000;
    for (int i = 0; i < kContainers; i++) {
        const ActionTrace &a = actions[static_cast<size_t>(i) % actions.size()];
        Resources req = alloc.demand(a.memory);
        std::string node = alloc.place(pool, req);
        if (node.empty()) break;
        Container c;
        char id[17];
        std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(r()));
        c.id = id;
        c.action = a.name;
        c.ns = a.name.substr(0, a.name.find('/'));
        c.kind = "nodejs:20";
        c.addr = "127.0.0.1:" + std::to_string(20000 + i % 40000);
        c.memory = req.mem;
        c.cpu = req.cpu;
        c.node = node;
        c.started_ms = now - 3600000;
        c.pid = 100000 + i;
        c.state = State::warm;
        c.health.known = c.health.ready = true;
        c.health.checked_ms = now;
        c.health.last_used = (i % 3 == 0) ? now - 2 * kIdleMs : now - 1000;
        pool.add(std::move(c));
    }
    int64_t rss_after = rss_kb();
    Resources req = alloc.demand(512);
    // The daemon's allocation (Capacity calls place(pool, req): the pool's
    // running loads + the strategy), the strategy alone, and what a recount
    // of the pool per placement (the former path) costs.
    double daemon_us = time_us(20000, [&] { (void)alloc.place(pool, req); });
    std::vector<NodeLoad> loads = alloc.tally(pool);
    double choose_us = time_us(20000, [&] { (void)alloc.place(loads, req); });
    double tally_us = time_us(50, [&] { (void)alloc.place(alloc.tally(pool), req); });
    nlohmann::json out = {{"containers", pool.size()},
                          {"alloc_daemon_us", daemon_us},
                          {"alloc_choose_only_us", choose_us},
                          {"alloc_recount_us", tally_us},
                          {"rss_kb", rss_after},
                          {"pool_rss_delta_kb", rss_after - rss_before}};
    for (const char *pn : {"idle-timeout", "node-emptying"}) {
        NodeEmptyingOptions no;
        no.idle_ms = kIdleMs;
        no.compact_idle_ms = g_compact_idle_ms;
        no.compact_max_left = g_compact_left;
        no.compact_max_fill = g_compact_fill;
        auto policy = make_policy(pn, no);
        double choose = time_us(5, [&] { (void)policy->choose(pool, now); });
        // One full pass (unmarks, sweep check, marks) on a copy each time,
        // so every timed pass marks the same third of the pool.
        double pass_us = 0;
        size_t marked = 0;
        for (int i = 0; i < 3; i++) {
            Pool p = pool;
            SimClock clock;
            clock.now = now;
            SimBackend backend;
            SimMarks marks;
            GarbageCollector gc(p, marks, backend, clock, *policy, GcOptions());
            pass_us += time_us(1, [&] { gc.pass(); });
            marked = 0;
            for (const auto &kv : p.all()) marked += kv.second.marked_ms != 0;
        }
        out[std::string("gc_pass_us_") + pn] = pass_us / 3;
        if (!std::strcmp(pn, "node-emptying")) {
            // The compactor's pass at its worst: every node qualifies
            // (max_fill 1), so it makes its 8 first-fit-decreasing tries.
            Pool p = pool;
            CompactorOptions co;
            co.max_fill = 1.0;
            int64_t asked = 0;
            double us = time_us(1, [&] {
                Compactor c(p, alloc, co, [&](const std::string &, int64_t n) { asked += n; });
                (void)c.pass(now);
            });
            alloc.set_avoided({});
            out["compactor_pass_worst_us"] = us;
        }
        out[std::string("policy_choose_us_") + pn] = choose;
        out[std::string("gc_marked_") + pn] = marked;
    }
    return out;
}

}  // namespace

int main(int argc, char **argv) {
    std::string out_path = "bench/results/pool_sim.json";
    uint64_t seed = 20261127;
    std::string only;  // "strategy/policy": that pair only (quick runs)
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--out") && i + 1 < argc) {
            out_path = argv[++i];
        } else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = std::strtoull(argv[++i], nullptr, 10);
        } else if (!std::strcmp(argv[i], "--compact-idle") && i + 1 < argc) {
            g_compact_idle_ms = std::strtoll(argv[++i], nullptr, 10);
        } else if (!std::strcmp(argv[i], "--compact-left") && i + 1 < argc) {
            g_compact_left = std::strtoll(argv[++i], nullptr, 10);
        } else if (!std::strcmp(argv[i], "--compact-fill") && i + 1 < argc) {
            g_compact_fill = std::strtod(argv[++i], nullptr);
        } else if (!std::strcmp(argv[i], "--relocate-fill") && i + 1 < argc) {
            g_relocate_fill = std::strtod(argv[++i], nullptr);
        } else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) {
            only = argv[++i];
        } else {
            std::fprintf(stderr, "usage: ow-pool-sim [--out file.json] [--seed n] "
                                 "[--only strategy/policy] [--compact-idle ms] [--compact-left n] "
                                 "[--compact-fill f] [--relocate-fill f]\n");
            return 2;
        }
    }
    // The collector logs every mark and sweep: thousands of lines here.
    ow::log_setup(2, ow::LogLevel::error);

    nlohmann::json runs = nlohmann::json::array();
    std::printf("pool simulation: %d nodes (%lld m CPU, %lld MB), %d actions, %lld h, seed %llu\n",
                kNodes, static_cast<long long>(kNodeCpu), static_cast<long long>(kNodeMem),
                kActions, static_cast<long long>(kDurationMs / 3600000),
                static_cast<unsigned long long>(seed));
    std::printf("nodes in use / first-fit-decreasing packing of the live containers, per minute\n");
    std::printf("%-16s %-14s %5s %6s %6s %6s %7s %7s %7s %8s %7s %7s\n", "strategy", "policy",
                "reloc", "mean", "p95", "max", "nodes", "ffd", "maxnod", "cold", "reloc.", "noroom");
    struct Pair {
        const char *strategy, *policy;
        double relocate_fill;
    };
    std::vector<Pair> pairs;
    for (const char *s : {"most-allocated", "least-allocated", "random"}) {
        pairs.push_back({s, "node-emptying", g_relocate_fill});
        // what relocation adds: the default pair without it
        if (!std::strcmp(s, "most-allocated") && g_relocate_fill > 0)
            pairs.push_back({s, "node-emptying", 0});
        pairs.push_back({s, "idle-timeout", 0});
    }
    for (const Pair &pr : pairs) {
        {
            const char *s = pr.strategy, *p = pr.policy;
            if (!only.empty() && only != std::string(s) + "/" + p) continue;
            RunResult r = run(s, p, seed, pr.relocate_fill);
            std::printf("%-16s %-14s %5.2f %6.3f %6.3f %6.3f %7.1f %7.1f %7d %8lld %7lld %7lld\n",
                        s, p, r.relocate_fill, r.mean_ratio, r.p95_ratio, r.max_ratio,
                        r.mean_nodes, r.mean_ffd, r.max_nodes,
                        static_cast<long long>(r.cold_starts),
                        static_cast<long long>(r.relocations),
                        static_cast<long long>(r.no_room));
            std::fflush(stdout);
            runs.push_back({{"strategy", r.strategy},
                            {"policy", r.policy},
                            {"relocate_fill", r.relocate_fill},
                            {"relocations", r.relocations},
                            {"nodes_emptied", r.nodes_emptied},
                            {"mean_ratio", r.mean_ratio},
                            {"p95_ratio", r.p95_ratio},
                            {"max_ratio", r.max_ratio},
                            {"mean_nodes_in_use", r.mean_nodes},
                            {"mean_ffd_nodes", r.mean_ffd},
                            {"mean_memory_bound_nodes", r.mean_lower},
                            {"max_nodes_in_use", r.max_nodes},
                            {"cold_starts", r.cold_starts},
                            {"no_room", r.no_room},
                            {"swept", r.swept},
                            {"unmarked_by_use", r.unmarked},
                            {"series_10min", r.series}});
        }
    }
    nlohmann::json scale = scale_test(seed);
    std::printf("\nwith %zu containers in the pool (100 nodes):\n",
                scale["containers"].get<size_t>());
    std::printf("  one allocation (the daemon's path, running loads): %.2f us; choose only %.2f us;"
                " with a recount of the pool %.1f us\n",
                scale["alloc_daemon_us"].get<double>(),
                scale["alloc_choose_only_us"].get<double>(),
                scale["alloc_recount_us"].get<double>());
    for (const char *pn : {"idle-timeout", "node-emptying"}) {
        std::printf("  one collection pass (%s): %.1f ms (policy alone %.1f ms), %zu marked\n", pn,
                    scale[std::string("gc_pass_us_") + pn].get<double>() / 1000,
                    scale[std::string("policy_choose_us_") + pn].get<double>() / 1000,
                    scale[std::string("gc_marked_") + pn].get<size_t>());
    }
    std::printf("  one compactor pass, every node a candidate: %.1f ms\n",
                scale["compactor_pass_worst_us"].get<double>() / 1000);
    std::printf("  RSS %lld KB (the pool of 10,000 containers: +%lld KB)\n",
                static_cast<long long>(scale["rss_kb"].get<int64_t>()),
                static_cast<long long>(scale["pool_rss_delta_kb"].get<int64_t>()));

    nlohmann::json doc = {{"seed", seed},
                          {"nodes", kNodes},
                          {"node", {{"cpu", kNodeCpu}, {"mem", kNodeMem}}},
                          {"cpu_per_gb", kCpuPerGb},
                          {"actions", kActions},
                          {"duration_h", kDurationMs / 3600000},
                          {"idle_ms", kIdleMs},
                          {"grace_ms", kGraceMs},
                          {"compact_idle_ms", g_compact_idle_ms},
                          {"collector", "pool-manager/garbage_collector.cc + collection_policy.cc + compactor.cc"},
                          {"relocate_fill", g_relocate_fill},
                          {"runs", runs},
                          {"scale_10k", scale}};
    std::ofstream f(out_path);
    if (!f) {
        std::fprintf(stderr, "ow-pool-sim: cannot write %s\n", out_path.c_str());
        return 1;
    }
    f << doc.dump(2) << "\n";
    std::printf("\nwrote %s\n", out_path.c_str());
    return 0;
}
