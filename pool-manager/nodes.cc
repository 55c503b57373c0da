// nodes.cc: see nodes.h.
#include "pool-manager/nodes.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <set>

namespace ow::pm {

namespace {

std::string trim(const std::string &s) {
    size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    size_t e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string &s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t p = s.find(sep, start);
        out.push_back(s.substr(start, p == std::string::npos ? p : p - start));
        if (p == std::string::npos) return out;
        start = p + 1;
    }
}

bool parse_count(const std::string &v, int64_t *out) {
    if (v.empty() || v.size() > 15) return false;
    for (char ch : v) {
        if (ch < '0' || ch > '9') return false;
    }
    *out = std::strtoll(v.c_str(), nullptr, 10);
    return true;
}

}  // namespace

bool parse_nodes(const std::string &text, std::vector<NodeSpec> *out,
                 std::string *err) {
    out->clear();
    std::set<std::string> names;
    for (const std::string &raw : split(text, ';')) {
        std::string item = trim(raw);
        if (item.empty()) continue;  // "a:...;" and "a;;b" are fine
        NodeSpec n;
        size_t colon = item.find(':');
        n.name = trim(item.substr(0, colon));
        if (n.name.empty()) {
            *err = "node without a name in '" + item + "'";
            return false;
        }
        if (!names.insert(n.name).second) {
            *err = "node '" + n.name + "' is listed twice";
            return false;
        }
        if (colon != std::string::npos) {
            for (const std::string &kvraw : split(item.substr(colon + 1), ',')) {
                std::string kv = trim(kvraw);
                if (kv.empty()) continue;
                size_t eq = kv.find('=');
                std::string k = trim(kv.substr(0, eq));
                std::string v = eq == std::string::npos ? "" : trim(kv.substr(eq + 1));
                int64_t *dst = k == "cpu"   ? &n.capacity.cpu
                               : k == "mem" ? &n.capacity.mem
                               : k == "gpu" ? &n.capacity.gpu
                               : k == "max" ? &n.max_containers
                                            : nullptr;
                if (dst == nullptr) {
                    *err = "node '" + n.name + "': unknown resource '" + k +
                           "' (cpu, mem, gpu, max)";
                    return false;
                }
                if (!parse_count(v, dst)) {
                    *err = "node '" + n.name + "': " + k +
                           " must be a whole number >= 0, not '" + v + "'";
                    return false;
                }
            }
        }
        out->push_back(std::move(n));
    }
    if (out->empty()) {
        *err = "no node described";
        return false;
    }
    return true;
}

NodeSpec local_node() {
    NodeSpec n;
    n.name = "local";
    long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    long pages = ::sysconf(_SC_PHYS_PAGES);
    long page = ::sysconf(_SC_PAGESIZE);
    n.capacity.cpu = (cpus > 0 ? cpus : 1) * 1000;
    n.capacity.mem = pages > 0 && page > 0
                         ? static_cast<int64_t>(pages) * page / (1024 * 1024)
                         : 4096;
    return n;
}

}  // namespace ow::pm
