// kube_backend.h: containers as Kubernetes pods.
//
// One pod per container, named owx-<container id>, with two containers that
// share the pod's network namespace and nothing else but one emptyDir:
// - "sidecar": the sidecar image (--kube-sidecar-image; ow-sidecar its
//   entrypoint, or --kube-sidecar-command), uid run_as_user, the only
//   container that mounts the sidecar's Secret. It listens on
//   $(POD_IP):8081 (downward API), readiness is its GET /health (a
//   readinessProbe), and an init failure is written to its
//   terminationMessagePath, where this backend reads it
//   (status.containerStatuses[sidecar].state.terminated.message). It spawns
//   nothing: --runtime-url http://<runtime_address> (sidecar/runtime_client.h)
//   reaches the runtime over the pod's network, and --runtime-logs reads the
//   runtime's output from two FIFOs in the shared emptyDir
//   (sidecar/runtime_logs.h).
// - "runtime": the kind's image (--kube-images), which may be an unmodified
//   OpenWhisk runtime image: it serves /init and /run on 8080. Its command is
//   the wrapper shell of libow/runtime_log_wrapper.h (output into the
//   sidecar's FIFOs; the kubelet's SIGTERM passed on once the sidecar has
//   drained) around the image's entrypoint, which the images file names per
//   kind ("command"; when it does not, the kind's --runtimes command with
//   {port} = the runtime's port: owx's own runtime images). It runs as a uid of its own
//   (runtime_uid), non-root, without capabilities or privilege escalation,
//   under RuntimeDefault seccomp, with a read-only root filesystem (its own
//   emptyDir at /tmp), and mounts nothing that holds a credential; the pod
//   gets no service account token. The action's memory limit is this
//   container's; the sidecar's is memory_headroom_mb.
//
// - start(): POST the pod (nodeName = the allocator's node, resources from
//   the action's memory and the placement's CPU/GPU), then wait for the
//   pod watch: Ready → done(ok, podIP:8081); the sidecar terminated with exit
//   code 3 → init_failed with its JSON; Failed/deleted/image errors (of
//   either container)/the runtime container ended/the start deadline →
//   failed (and the pod is deleted).
// - stop(): DELETE with DeleteOptions.gracePeriodSeconds (the kubelet sends
//   SIGTERM, the sidecar drains, SIGKILL after the grace).
// - adopt(): the pod is in the watched cache and running; before the first
//   list has arrived it is taken on trust and dropped (on_exit) if the list
//   does not have it.
// - exits: from the pod watch (deleted, phase Failed/Succeeded, either
//   container terminated: restartPolicy Never, a runtime that died is not
//   brought back under a sidecar that was told nothing) with the sidecar's
//   exit code (2, "recycled", when only the runtime ended); after a relist
//   (410 Gone) a tracked pod missing from the list has gone behind our back.
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

#include "pool-manager/backends/backend.h"
#include "pool-manager/backends/kube/kube_client.h"
#include "pool-manager/nodes.h"

namespace ow::pm {

// The runtime container of one kind (--kube-images file: a JSON object
// kind → {"image", "command"?}).
struct KubeImage {
    std::string image;
    // The image's own entrypoint (Kubernetes cannot wrap an entrypoint it
    // does not know, and the wrapper must come first), e.g. ["node",
    // "--expose-gc", "app.js"] for openwhisk/action-nodejs-v18 (its
    // WORKDIR is kept); empty = the kind's --runtimes command, {port}
    // replaced by the runtime's port.
    std::vector<std::string> command;
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
    // --kube-sidecar-image: the sidecar container's image; with
    // --kube-sidecar-command its command ("" = the image's entrypoint)
    std::string sidecar_image;
    std::string sidecar_command;
    // --kube-runtime-address: where the sidecar reaches the runtime
    // container, IP:PORT (the pod's loopback; the port is the one OpenWhisk
    // runtime images serve)
    std::string runtime_address = "127.0.0.1:8080";
    // --kube-runtime-uid: the runtime container's uid and gid (not the
    // sidecar's: the runtime reads none of its files)
    int64_t runtime_uid = 10002;
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
// the emptyDir both containers mount: the runtime's log FIFOs
constexpr const char *kRuntimeLogsDir = "/var/run/owx/logs";
// the sidecar's port in the pod (the runtime's is 8080, OpenWhisk's)
constexpr int kSidecarPort = 8081;

}  // namespace ow::pm
