// nodes.h: the nodes containers are placed on, and what each can hold.
//
// The local backend runs every container on this machine, but it can
// describe several virtual nodes (--nodes), so that placement and
// node-emptying compaction are exercised on one machine exactly as they
// will be on a cluster. Syntax (one option, nodes separated by ';'):
//   "n1:cpu=4000,mem=8192,gpu=0,max=50;n2:cpu=2000,mem=4096"
// cpu in millicores, mem in MB, gpu a count (an extended resource), max
// the node's container cap (0 or absent = no cap). A missing resource is 0:
// a node with gpu=0 takes no container that asks for a GPU.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ow::pm {

// An amount of each placed resource: what a node has or a container asks.
struct Resources {
    int64_t cpu = 0;  // millicores
    int64_t mem = 0;  // MB
    int64_t gpu = 0;  // devices
};

// What is placed on one node: the resources its containers hold and how
// many they are (the pool keeps one per node, pool.h).
struct NodeLoad {
    Resources used;
    int64_t containers = 0;
};

struct NodeSpec {
    std::string name;
    Resources capacity;
    int64_t max_containers = 0;  // 0 = no per-node cap
};

// Parses the --nodes syntax above. False (and *err) on an empty list, a
// duplicate or empty name, an unknown key, a negative or non-numeric value.
bool parse_nodes(const std::string &text, std::vector<NodeSpec> *out,
                 std::string *err);
// One node named "local" sized from this machine (online CPUs, physical
// memory, no GPU, no cap): the default when --nodes is empty.
NodeSpec local_node();

}  // namespace ow::pm
