// resource_allocator.cc: see resource_allocator.h.
#include "pool-manager/placement/resource_allocator.h"

namespace ow::pm {

bool fits(const NodeSpec &n, const NodeLoad &l, const Resources &req) {
    if (n.max_containers > 0 && l.containers >= n.max_containers) return false;
    return l.used.cpu + req.cpu <= n.capacity.cpu &&
           l.used.mem + req.mem <= n.capacity.mem &&
           l.used.gpu + req.gpu <= n.capacity.gpu;
}

double utilization_after(const NodeSpec &n, const NodeLoad &l, const Resources &req) {
    double sum = 0;
    int dims = 0;
    auto add = [&](int64_t used, int64_t ask, int64_t cap) {
        if (cap <= 0) return;
        sum += static_cast<double>(used + ask) / static_cast<double>(cap);
        dims++;
    };
    add(l.used.cpu, req.cpu, n.capacity.cpu);
    add(l.used.mem, req.mem, n.capacity.mem);
    // GPUs count only for a container that asks for one: otherwise every
    // GPU node would look emptier than it is and repel ordinary work.
    if (req.gpu > 0) add(l.used.gpu, req.gpu, n.capacity.gpu);
    return dims == 0 ? 0.0 : sum / dims;
}

size_t MostAllocated::choose(const std::vector<NodeSpec> &nodes,
                             const std::vector<NodeLoad> &loads,
                             const std::vector<size_t> &candidates, const Resources &req) {
    // Ties go to the first node in order, so packing is deterministic and
    // fills nodes front to back.
    size_t best = candidates[0];
    double best_score = -1;
    for (size_t i : candidates) {
        double s = utilization_after(nodes[i], loads[i], req);
        if (s > best_score) {
            best_score = s;
            best = i;
        }
    }
    return best;
}

size_t LeastAllocated::choose(const std::vector<NodeSpec> &nodes,
                              const std::vector<NodeLoad> &loads,
                              const std::vector<size_t> &candidates, const Resources &req) {
    size_t best = candidates[0];
    double best_score = 2;
    for (size_t i : candidates) {
        double s = utilization_after(nodes[i], loads[i], req);
        if (s < best_score) {
            best_score = s;
            best = i;
        }
    }
    return best;
}

size_t RandomPlacement::choose(const std::vector<NodeSpec> &, const std::vector<NodeLoad> &,
                               const std::vector<size_t> &candidates, const Resources &) {
    // Modulo of a 64-bit draw: the bias is < 2^-50 for any realistic node
    // count, and unlike std::uniform_int_distribution the sequence is the
    // same with every standard library (the benchmark is reproducible).
    return candidates[rng_() % candidates.size()];
}

std::unique_ptr<PlacementStrategy> make_strategy(const std::string &name, uint64_t seed) {
    if (name == "most-allocated") return std::make_unique<MostAllocated>();
    if (name == "least-allocated") return std::make_unique<LeastAllocated>();
    if (name == "random") return std::make_unique<RandomPlacement>(seed);
    return nullptr;
}

ResourceAllocator::ResourceAllocator(std::vector<NodeSpec> nodes,
                                     std::unique_ptr<PlacementStrategy> strategy,
                                     int64_t cpu_per_gb)
    : nodes_(std::move(nodes)), strategy_(std::move(strategy)), cpu_per_gb_(cpu_per_gb) {
    if (!strategy_) strategy_ = std::make_unique<MostAllocated>();  // the default
    for (size_t i = 0; i < nodes_.size(); i++) by_name_[nodes_[i].name] = i;
    candidates_.reserve(nodes_.size());
    avoided_.assign(nodes_.size(), false);
}

void ResourceAllocator::set_nodes(std::vector<NodeSpec> nodes) {
    nodes_ = std::move(nodes);
    by_name_.clear();
    for (size_t i = 0; i < nodes_.size(); i++) by_name_[nodes_[i].name] = i;
    candidates_.reserve(nodes_.size());
    set_avoided(avoided_names_);
}

void ResourceAllocator::set_avoided(const std::set<std::string> &names) {
    avoided_names_ = names;
    avoided_.assign(nodes_.size(), false);
    for (const std::string &n : names) {
        int i = index_of(n);
        if (i >= 0) avoided_[static_cast<size_t>(i)] = true;
    }
}

Resources ResourceAllocator::demand(int64_t memory_mb, int64_t gpu) const {
    Resources r;
    r.mem = memory_mb;
    r.cpu = memory_mb * cpu_per_gb_ / 1024;
    r.gpu = gpu;
    return r;
}

int ResourceAllocator::place(const std::vector<NodeLoad> &loads, const Resources &req) {
    // GPU nodes are kept for GPU work: a container that asks for no GPU
    // goes to one only when no other node has room (otherwise packing would
    // fill the GPU nodes' memory with ordinary work first).
    // Likewise nodes being emptied: last resort, after the GPU nodes.
    candidates_.clear();
    for (int pass = 0; pass < 4 && candidates_.empty(); pass++) {
        bool avoided_ok = pass >= 2;
        bool gpu_pass = pass % 2 == 1;
        for (size_t i = 0; i < nodes_.size() && i < loads.size(); i++) {
            bool gpu_node = nodes_[i].capacity.gpu > 0;
            if (!gpu_pass && req.gpu == 0 && gpu_node) continue;
            if (gpu_pass && !(req.gpu == 0 && gpu_node)) continue;
            if (!avoided_ok && i < avoided_.size() && avoided_[i]) continue;
            if (fits(nodes_[i], loads[i], req)) candidates_.push_back(i);
        }
    }
    if (candidates_.empty()) return -1;
    return static_cast<int>(strategy_->choose(nodes_, loads, candidates_, req));
}

std::vector<NodeLoad> ResourceAllocator::tally(const Pool &pool) const {
    std::vector<NodeLoad> loads(nodes_.size());
    for (const auto &kv : pool.all()) {
        const Container &c = kv.second;
        if (c.state == State::gone || c.node.empty()) continue;
        int i = index_of(c.node);
        if (i < 0) continue;
        loads[i].used.cpu += c.cpu;
        loads[i].used.mem += c.memory;
        loads[i].used.gpu += c.gpu;
        loads[i].containers++;
    }
    for (const auto &kv : pool.holds()) {  // stemcells (Pool::hold)
        int i = index_of(kv.first);
        if (i < 0) continue;
        loads[i].used.cpu += kv.second.used.cpu;
        loads[i].used.mem += kv.second.used.mem;
        loads[i].used.gpu += kv.second.used.gpu;
        loads[i].containers += kv.second.containers;
    }
    return loads;
}

int ResourceAllocator::index_of(const std::string &name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? -1 : static_cast<int>(it->second);
}

std::string ResourceAllocator::place(const Pool &pool, const Resources &req) {
    loads_.resize(nodes_.size());
    for (size_t i = 0; i < nodes_.size(); i++) loads_[i] = pool.load(nodes_[i].name);
    int i = place(loads_, req);
    return i < 0 ? std::string() : nodes_[i].name;
}

}  // namespace ow::pm
