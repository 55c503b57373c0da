// kube_backend.h: containers as Kubernetes pods (issue 6).
//
// One pod per container, named owx-<container id>, ONE container built from
// the kind's runtime image whose entrypoint is ow-sidecar (the runtime
// images are layered on the sidecar image): the sidecar stays the parent of
// the runtime, so logs, /init and the activation records work exactly as
// with the local backend. The sidecar listens on $(POD_IP):8080 (downward
// API), readiness is its GET /health (a readinessProbe), and an init
// failure is written to the container's terminationMessagePath, where this
// backend reads it (status.containerStatuses[].state.terminated.message).
//
// - start(): POST the pod (nodeName = the allocator's node, resources from
//   the action's memory and the placement's CPU/GPU), then wait for the
//   pod watch: Ready → done(ok, podIP:8080); terminated with exit code 3 →
//   init_failed with the sidecar's JSON; Failed/deleted/image errors/the
//   start deadline → failed (and the pod is deleted).
// - stop(): DELETE with DeleteOptions.gracePeriodSeconds (the kubelet sends
//   SIGTERM, the sidecar drains, SIGKILL after the grace).
// - adopt(): the pod is in the watched cache and running; before the first
//   list has arrived it is taken on trust and dropped (on_exit) if the list
//   does not have it.
// - exits: from the pod watch (deleted, phase Failed/Succeeded, container
//   terminated) with the container's exit code; after a relist (410 Gone)
//   a tracked pod missing from the list has gone behind our back.
// - isolation (the action code is hostile): the pod runs as the images'
//   non-root user with no capability, no privilege escalation, the
//   runtime's default seccomp profile, a read-only root filesystem (an
//   emptyDir at /tmp) and no service account token. With --kube-sidecar-
//   secret the Secret (the Redis user sidecar's credentials, the internal
//   token and the sidecars' metrics token, nothing else) is mounted
//   read-only at kSecretsDir and the sidecar is given the paths of its
//   three files, never their content.
// - nodes: a second list+watch turns nodes into NodeSpecs (allocatable
//   cpu/memory/nvidia.com/gpu/pods; unschedulable, NoSchedule/NoExecute
//   tainted and not-Ready nodes left out), handed to on_nodes().
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pool-manager/backend.h"
#include "pool-manager/kube_client.h"
#include "pool-manager/nodes.h"

namespace ow::pm {

// What runs in the pod of one kind (--kube-images file: a JSON object
// kind → {"image", "command"?, "args"?}).
struct KubeImage {
    std::string image;
    // the container's command; empty = the image's entrypoint (ow-sidecar)
    std::vector<std::string> command;
    // the runtime command after "--" ({port} kept); empty = the kind's
    // command from --runtimes
    std::vector<std::string> args;
};

bool parse_kube_images(const std::string &text, std::map<std::string, KubeImage> *out,
                       std::string *err);

struct KubeBackendOptions {
    std::string ns = "default";          // --kube-namespace
    std::string redis;                   // Redis host:port as seen from the pods
    std::string api_host;                // sidecar --api-host when set
    std::string overflow;                // sidecar --overflow when set
    int64_t start_timeout_ms = 60000;    // pod not Ready by then → failed, deleted
    int64_t memory_headroom_mb = 128;    // added to limits.memory (the sidecar itself)
    std::map<std::string, KubeImage> images;
    std::string termination_log = "/dev/termination-log";
    // --kube-sidecar-secret: a Secret with redis-sidecar, internal-token and
    // sidecar-metrics-token, mounted at kSecretsDir ("" = none: no
    // credentials, no token)
    std::string sidecar_secret;
    int64_t run_as_user = 10001;         // the owx images' user (owx)
    std::string image_pull_policy = "IfNotPresent";
    WatchOptions watch;
};

// "250m" → 250 (millis of the unit), "1Gi" → 1073741824000, ... Kubernetes
// resource.Quantity text (decimal and binary SI suffixes, exponents); false
// on bad text.
bool parse_quantity(const std::string &s, double *value);
// A node object → a NodeSpec; false when no container may go there
// (unschedulable, NoSchedule/NoExecute taint, not Ready).
bool node_spec_of(const nlohmann::json &node, NodeSpec *out);

class KubeBackend : public Backend {
public:
    using NodesCallback = std::function<void(const std::vector<NodeSpec> &)>;

    KubeBackend(boost::asio::io_context &io, KubeClient &client, KubeBackendOptions opts);
    ~KubeBackend() override;
    // Starts the pod and node watches.
    void begin();

    void start(const ContainerSpec &spec, StartCallback done) override;
    void stop(const std::string &id, int64_t grace_ms) override;
    bool adopt(const std::string &id, int64_t pid) override;
    void on_exit(ExitCallback cb) override { exit_cb_ = std::move(cb); }
    // A pod a killed leader created and nobody adopted: deleted at once
    // (nothing else would ever stop it, unlike a local sidecar, which
    // exits on EPIPE from its --ready-fd).
    void remove_orphan(const std::string &id) override;

    // The schedulable nodes, on every change (the daemon refreshes the
    // allocator's nodes with them). Runs on the io thread.
    void on_nodes(NodesCallback cb) { nodes_cb_ = std::move(cb); }
    std::vector<NodeSpec> nodes() const;

    // The pod object start() creates (exposed for tests); false when the
    // kind has no image.
    bool pod_manifest(const ContainerSpec &spec, nlohmann::json *pod, std::string *err) const;
    std::string pods_path() const;

    // Watch handlers (public for tests: they are what the watch threads
    // post to the io thread).
    void on_pod_list(std::vector<nlohmann::json> items);
    void on_pod_event(const std::string &type, const nlohmann::json &pod);
    void on_node_list(std::vector<nlohmann::json> items);
    void on_node_event(const std::string &type, const nlohmann::json &node);
    size_t tracked() const { return pods_.size(); }

private:
    struct Tracked {
        explicit Tracked(boost::asio::io_context &io) : timer(io) {}
        std::string id;
        StartCallback start_cb;
        boost::asio::steady_timer timer;
        bool created = false;   // the POST was answered (or adopted)
        bool verified = false;  // seen in a list or event
        bool deleting = false;  // we asked for the DELETE
        bool adopted = false;   // left by a previous pool-manager
    };
    using TrackedPtr = std::shared_ptr<Tracked>;

    void handle_pod(const nlohmann::json &pod, bool deleted);
    void complete_start(const TrackedPtr &t, StartResult r);
    void exited(const TrackedPtr &t, int status);
    void delete_pod(const std::string &id, int64_t grace_s);
    void publish_nodes();

    boost::asio::io_context &io_;
    KubeClient &client_;
    KubeBackendOptions opts_;
    std::map<std::string, TrackedPtr> pods_;
    // every managed pod seen, by container id: "running" (not terminal, not
    // being deleted) — what adopt() looks at
    std::map<std::string, bool> seen_;
    bool synced_ = false;
    std::map<std::string, NodeSpec> nodes_;
    std::unique_ptr<KubeWatch> pod_watch_;
    std::unique_ptr<KubeWatch> node_watch_;
    ExitCallback exit_cb_;
    NodesCallback nodes_cb_;
    std::shared_ptr<bool> alive_;
};

constexpr const char *kManagedBy = "app.kubernetes.io/managed-by=owx-pool-manager";
// where an action pod finds KubeBackendOptions::sidecar_secret
constexpr const char *kSecretsDir = "/var/run/owx/secrets";

}  // namespace ow::pm
