// backend.h: how containers are made and removed. The local-process backend
// (local_backend.h) is the embedded default; a Kubernetes backend implements
// the same interface. All callbacks run on the daemon's io thread.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ow::pm {

struct ContainerSpec {
    std::string id;
    std::string action;                // "<ns>/<path>"
    std::string kind;                  // resolved kind
    std::string family;                // "nodejs", "python"
    std::vector<std::string> command;  // runtime command, "{port}" kept
    int64_t memory = 256;              // MB
    int64_t concurrency = 1;
    // > 0: a stemcell (stemcell_pool.h): action is empty and the sidecar
    // exits by itself if not specialized within this
    int64_t stemcell_ms = 0;
    // Placement (resource_allocator.h): the node chosen ("" = none) and
    // what the container reserves there; the Kubernetes backend turns them
    // into nodeName and resources.
    std::string node;
    int64_t cpu = 0;  // millicores
    int64_t gpu = 0;
};

struct StartResult {
    enum Status { ok, init_failed, failed };
    Status status = failed;
    std::string addr;            // ok: "127.0.0.1:port"
    int64_t pid = 0;             // local backend: the sidecar's pid
    std::string error;           // failed / init_failed: what happened
    nlohmann::json init_error;   // init_failed: the sidecar's JSON, if any
};

class Backend {
public:
    using StartCallback = std::function<void(const StartResult &)>;
    // status: exit code (2 recycled, 3 init failed, ...), 128+signal, or -1
    // when it is not known (a container we did not start ourselves).
    using ExitCallback = std::function<void(const std::string &id, int status)>;

    virtual ~Backend() = default;
    // Starts a container; done is called exactly once, before the exited
    // event of the same container.
    virtual void start(const ContainerSpec &spec, StartCallback done) = 0;
    // Asks a container to drain (SIGTERM for the local backend), then
    // forces it after grace_ms. Unknown ids are ignored.
    virtual void stop(const std::string &id, int64_t grace_ms) = 0;
    // Watches a container left by a previous pool-manager; false when it
    // cannot be found (the caller then drops it).
    virtual bool adopt(const std::string &id, int64_t pid) = 0;
    // Where exited events go (one per started or adopted container).
    virtual void on_exit(ExitCallback cb) = 0;
    // Removes, at once, a container a previous leader started and nobody
    // adopted (container_registry.h); no exit event follows. Unknown ids
    // are ignored.
    virtual void remove_orphan(const std::string &id) { (void)id; }
};

}  // namespace ow::pm
