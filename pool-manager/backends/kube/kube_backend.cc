// kube_backend.cc: see kube_backend.h.
#include "pool-manager/backends/kube/kube_backend.h"

#include <boost/asio/post.hpp>
#include <cmath>
#include <cstdlib>

#include "libow/log.h"
#include "libow/runtime_log_wrapper.h"

namespace ow::pm {

namespace {

constexpr const char *kContainerLabel = "owx.dev/container";
constexpr int kInitFailed = 3;  // the sidecar's exit code after a failed /init
constexpr int kRecycled = 2;    // the sidecar's exit code after its runtime died

std::string str(const nlohmann::json &o, const char *key) {
    if (!o.is_object()) return "";
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

const nlohmann::json &sub(const nlohmann::json &o, const char *key) {
    static const nlohmann::json none;
    if (!o.is_object()) return none;
    auto it = o.find(key);
    return it != o.end() ? *it : none;
}

// What the watch says about one pod.
struct PodState {
    std::string id;
    std::string phase;
    std::string ip;
    bool ready = false;
    bool deleting = false;        // metadata.deletionTimestamp set
    bool terminated = false;
    int exit_code = -1;
    std::string message;          // terminated.message (the termination log)
    std::string reason;           // terminated or waiting reason
    bool image_error = false;     // waiting for an image that will not come
    bool runtime_ended = false;   // the runtime container terminated
};

PodState pod_state(const nlohmann::json &pod) {
    PodState s;
    const nlohmann::json &meta = sub(pod, "metadata");
    s.id = str(sub(meta, "labels"), kContainerLabel);
    s.deleting = meta.is_object() && meta.contains("deletionTimestamp") &&
                 !meta["deletionTimestamp"].is_null();
    const nlohmann::json &st = sub(pod, "status");
    s.phase = str(st, "phase");
    s.ip = str(st, "podIP");
    const nlohmann::json &conds = sub(st, "conditions");
    if (conds.is_array()) {
        for (const auto &c : conds) {
            if (str(c, "type") == "Ready") s.ready = str(c, "status") == "True";
        }
    }
    const nlohmann::json &cs = sub(st, "containerStatuses");
    if (!cs.is_array()) return s;
    for (const auto &c : cs) {
        // "action": the one container of a pod an older pool-manager made
        std::string name = str(c, "name");
        bool sidecar = name == "sidecar" || name == "action";
        const nlohmann::json &state = sub(c, "state");
        const nlohmann::json &term = sub(state, "terminated");
        if (term.is_object()) {
            if (sidecar) {
                s.terminated = true;
                auto ec = term.find("exitCode");
                if (ec != term.end() && ec->is_number_integer()) s.exit_code = ec->get<int>();
                s.message = str(term, "message");
                s.reason = str(term, "reason");
            } else {
                s.runtime_ended = true;
            }
        }
        const nlohmann::json &wait = sub(state, "waiting");
        if (wait.is_object() && !s.image_error) {
            std::string reason = str(wait, "reason");
            static const char *fatal[] = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                                          "CreateContainerConfigError", "CreateContainerError"};
            for (const char *f : fatal) s.image_error = s.image_error || reason == f;
            if (s.image_error) {
                s.reason = name.empty() ? reason : name + ": " + reason;
                s.message = str(wait, "message");
            } else if (sidecar && s.reason.empty()) {
                s.reason = reason;
            }
        }
    }
    // the runtime container alone ended: the sidecar would recycle
    if (s.runtime_ended && !s.terminated) s.exit_code = kRecycled;
    return s;
}

bool terminal(const PodState &s) {
    return s.terminated || s.runtime_ended || s.phase == "Failed" || s.phase == "Succeeded";
}

bool strings(const nlohmann::json &j, std::vector<std::string> *out) {
    if (j.is_null()) return true;
    if (!j.is_array()) return false;
    for (const auto &e : j) {
        if (!e.is_string()) return false;
        out->push_back(e.get<std::string>());
    }
    return true;
}

}  // namespace

bool parse_kube_images(const std::string &text, std::map<std::string, KubeImage> *out,
                       std::string *err) {
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (!doc.is_object()) {
        *err = "kube images: not a JSON object (kind → {image, command?})";
        return false;
    }
    for (auto it = doc.begin(); it != doc.end(); ++it) {
        const nlohmann::json &v = it.value();
        KubeImage img;
        img.image = str(v, "image");
        if (v.is_object() && v.contains("args")) {
            // the format of the one-container pods (command = the sidecar,
            // args = the runtime): refused rather than misread
            *err = "kube images: " + it.key() + ": \"args\" is no longer used: the runtime "
                   "has a container of its own, \"command\" is its image's entrypoint and the "
                   "sidecar's image is --kube-sidecar-image";
            return false;
        }
        if (img.image.empty() || !strings(sub(v, "command"), &img.command)) {
            *err = "kube images: " + it.key() + " needs \"image\" and \"command\" a string array";
            return false;
        }
        (*out)[it.key()] = img;
    }
    return true;
}

bool parse_quantity(const std::string &s, double *value) {
    if (s.empty()) return false;
    char *end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str()) return false;
    std::string suffix(end);
    static const std::pair<const char *, double> units[] = {
        {"", 1},          {"n", 1e-9},     {"u", 1e-6},     {"m", 1e-3},
        {"k", 1e3},       {"M", 1e6},      {"G", 1e9},      {"T", 1e12},
        {"P", 1e15},      {"E", 1e18},     {"Ki", 1024.0},  {"Mi", 1048576.0},
        {"Gi", 1073741824.0}, {"Ti", 1099511627776.0}, {"Pi", 1125899906842624.0},
        {"Ei", 1152921504606846976.0}};
    for (const auto &u : units) {
        if (suffix == u.first) {
            *value = v * u.second;
            return v >= 0;
        }
    }
    return false;  // strtod took any exponent ("1e3") already
}

bool node_spec_of(const nlohmann::json &node, NodeSpec *out) {
    const nlohmann::json &meta = sub(node, "metadata");
    const nlohmann::json &spec = sub(node, "spec");
    const nlohmann::json &st = sub(node, "status");
    NodeSpec n;
    n.name = str(meta, "name");
    if (n.name.empty()) return false;
    auto un = spec.is_object() ? spec.find("unschedulable") : spec.end();
    if (spec.is_object() && un != spec.end() && un->is_boolean() && un->get<bool>()) return false;
    const nlohmann::json &taints = sub(spec, "taints");
    if (taints.is_array()) {
        for (const auto &t : taints) {
            // our pods carry no tolerations: the kubelet would reject them
            std::string e = str(t, "effect");
            if (e == "NoSchedule" || e == "NoExecute") return false;
        }
    }
    const nlohmann::json &conds = sub(st, "conditions");
    if (conds.is_array()) {
        for (const auto &c : conds) {
            if (str(c, "type") == "Ready" && str(c, "status") != "True") return false;
        }
    }
    const nlohmann::json &alloc = sub(st, "allocatable");
    double v = 0;
    if (parse_quantity(str(alloc, "cpu"), &v)) n.capacity.cpu = static_cast<int64_t>(v * 1000 + 0.5);
    if (parse_quantity(str(alloc, "memory"), &v)) n.capacity.mem = static_cast<int64_t>(v / 1048576.0);
    if (parse_quantity(str(alloc, "nvidia.com/gpu"), &v)) n.capacity.gpu = static_cast<int64_t>(v);
    if (parse_quantity(str(alloc, "pods"), &v)) n.max_containers = static_cast<int64_t>(v);
    *out = n;
    return true;
}

KubeBackend::KubeBackend(boost::asio::io_context &io, KubeClient &client, KubeBackendOptions opts)
    : io_(io), client_(client), opts_(std::move(opts)), alive_(std::make_shared<bool>(true)) {}

KubeBackend::~KubeBackend() {
    *alive_ = false;
    // the watch threads are joined here; what they posted and is still
    // queued on the io thread sees alive_ false
    pod_watch_.reset();
    node_watch_.reset();
}

std::string KubeBackend::pods_path() const { return "/api/v1/namespaces/" + opts_.ns + "/pods"; }

void KubeBackend::begin() {
    std::weak_ptr<bool> alive = alive_;
    KubeWatch::Handlers ph;
    ph.on_list = [this, alive](std::vector<nlohmann::json> items) {
        if (auto a = alive.lock(); a && *a) on_pod_list(std::move(items));
    };
    ph.on_event = [this, alive](const std::string &type, nlohmann::json obj) {
        if (auto a = alive.lock(); a && *a) on_pod_event(type, obj);
    };
    pod_watch_ = std::make_unique<KubeWatch>(client_, pods_path(), kManagedBy, ph, opts_.watch);
    KubeWatch::Handlers nh;
    nh.on_list = [this, alive](std::vector<nlohmann::json> items) {
        if (auto a = alive.lock(); a && *a) on_node_list(std::move(items));
    };
    nh.on_event = [this, alive](const std::string &type, nlohmann::json obj) {
        if (auto a = alive.lock(); a && *a) on_node_event(type, obj);
    };
    node_watch_ = std::make_unique<KubeWatch>(client_, "/api/v1/nodes", "", nh, opts_.watch);
    pod_watch_->start();
    node_watch_->start();
}

namespace {

// The securityContext every container of an action pod gets (the pod's
// runAsUser applies unless uid > 0 overrides it).
nlohmann::json container_security(int64_t uid) {
    nlohmann::json sc = {{"runAsNonRoot", true},
                         {"allowPrivilegeEscalation", false},
                         {"readOnlyRootFilesystem", true},
                         {"capabilities", {{"drop", nlohmann::json::array({"ALL"})}}},
                         {"seccompProfile", {{"type", "RuntimeDefault"}}}};
    if (uid > 0) {
        sc["runAsUser"] = uid;
        sc["runAsGroup"] = uid;
    }
    return sc;
}

}  // namespace

bool KubeBackend::pod_manifest(const ContainerSpec &spec, nlohmann::json *pod,
                               std::string *err) const {
    auto img = opts_.images.find(spec.kind);
    if (img == opts_.images.end()) {
        *err = "no image for kind " + spec.kind + " in --kube-images";
        return false;
    }
    if (opts_.sidecar_image.empty()) {
        *err = "no sidecar image (--kube-sidecar-image)";
        return false;
    }
    size_t colon = opts_.runtime_address.rfind(':');
    std::string runtime_port =
        colon == std::string::npos ? "8080" : opts_.runtime_address.substr(colon + 1);
    // The sidecar's arguments, as the local backend gives them
    // (local_backend.cc sidecar_argv) but for a pod: its address comes from
    // the downward API, readiness from the probe instead of --ready-fd, an
    // init failure goes to the termination log, and the runtime is the
    // other container's (reached over the pod's network, its output
    // through the shared directory's FIFOs).
    std::vector<std::string> args = {"--listen", "$(POD_IP):" + std::to_string(kSidecarPort),
                                     "--redis", opts_.redis, "--container-id", spec.id};
    if (spec.stemcell_ms > 0) {
        args.insert(args.end(), {"--stemcell", std::to_string(spec.stemcell_ms) + "ms"});
    } else {
        args.insert(args.end(), {"--action", spec.action});
    }
    args.insert(args.end(), {"--termination-log", opts_.termination_log});
    if (!opts_.api_host.empty()) args.insert(args.end(), {"--api-host", opts_.api_host});
    if (!opts_.overflow.empty()) args.insert(args.end(), {"--overflow", opts_.overflow});
    // The kubelet pulls the runtime's image only once the sidecar's
    // container has started: the sidecar waits for the runtime as long as
    // this backend waits for the pod (not its own 10 s default).
    args.insert(args.end(), {"--runtime-url", "http://" + opts_.runtime_address,
                             "--runtime-logs", kRuntimeLogsDir, "--start-timeout",
                             std::to_string(opts_.start_timeout_ms) + "ms"});
    if (!opts_.sidecar_secret.empty()) {
        const std::string dir = kSecretsDir;
        // the pod's own metrics token, not the gateway's: a scraper of
        // action pods need not open the gateway's /metrics, which names
        // every tenant's actions
        args.insert(args.end(), {"--redis-credentials", dir + "/redis-sidecar", "--token-file",
                                 dir + "/internal-token", "--metrics-token-file",
                                 dir + "/sidecar-metrics-token"});
    }

    // The runtime's entrypoint: the image's own (the images file), else the
    // kind's command (owx's runtime images) on the runtime's port.
    std::vector<std::string> entry = img->second.command;
    if (entry.empty()) {
        for (const auto &a : spec.command) entry.push_back(a == "{port}" ? runtime_port : a);
    }
    if (entry.empty()) {
        *err = "kind " + spec.kind + ": no runtime command (--kube-images or --runtimes)";
        return false;
    }
    std::vector<std::string> runtime_cmd = {"/bin/sh", "-c", ow::kRuntimeLogWrapper, "sh",
                                            kRuntimeLogsDir};
    runtime_cmd.insert(runtime_cmd.end(), entry.begin(), entry.end());

    nlohmann::json pod_ip = {{"name", "POD_IP"},
                             {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}};
    // The runtime's environment: what an OpenWhisk invoker gives a runtime
    // container, nothing secret (the API key, when the action has one, comes
    // with each /run). POD_IP lets a command name the pod's address.
    nlohmann::json runtime_env = nlohmann::json::array({pod_ip});
    if (!opts_.api_host.empty())
        runtime_env.push_back({{"name", "__OW_API_HOST"}, {"value", opts_.api_host}});
    // the sidecar's gate is the concurrency limit; OpenWhisk's Node.js
    // runtime refuses a second /run in flight without this
    runtime_env.push_back({{"name", "__OW_ALLOW_CONCURRENT"}, {"value", "true"}});
    if (spec.family == "nodejs") {
        // as the local backend: V8 collects before the container's limit
        runtime_env.push_back({{"name", "NODE_OPTIONS"},
                               {"value", "--max-old-space-size=" + std::to_string(spec.memory)}});
    }
    // The action's memory is the runtime container's limit; the sidecar
    // gets the headroom (its own buffers, bounded) as its own.
    std::string mem = std::to_string(spec.memory) + "Mi";
    nlohmann::json requests = {{"memory", mem}};
    nlohmann::json limits = {{"memory", mem}};
    // CPU is requested (what the allocator reserved) but not limited: a
    // CFS quota throttles short bursts, which hurts invoke latency more
    // than sharing idle CPU costs.
    if (spec.cpu > 0) requests["cpu"] = std::to_string(spec.cpu) + "m";
    if (spec.gpu > 0) {
        // extended resources: the request must equal the limit
        requests["nvidia.com/gpu"] = std::to_string(spec.gpu);
        limits["nvidia.com/gpu"] = std::to_string(spec.gpu);
    }
    std::string sidecar_mem = std::to_string(opts_.memory_headroom_mb) + "Mi";
    nlohmann::json logs_mount = {{"name", "runtime-logs"}, {"mountPath", kRuntimeLogsDir}};
    nlohmann::json sidecar_mounts =
        nlohmann::json::array({{{"name", "tmp"}, {"mountPath", "/tmp"}}, logs_mount});
    nlohmann::json volumes = nlohmann::json::array(
        {{{"name", "tmp"}, {"emptyDir", nlohmann::json::object()}},
         {{"name", "runtime-tmp"}, {"emptyDir", nlohmann::json::object()}},
         // FIFOs take no space; the bound is for what the runtime may
         // write there besides
         {{"name", "runtime-logs"}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "1Mi"}}}}});
    if (!opts_.sidecar_secret.empty()) {
        sidecar_mounts.push_back(
            {{"name", "secrets"}, {"mountPath", kSecretsDir}, {"readOnly", true}});
        // 0440: root and the pod's fsGroup read; mounted in the sidecar's
        // container only, so the runtime has no path to it
        nlohmann::json secret = {{"secretName", opts_.sidecar_secret}, {"defaultMode", 0440}};
        volumes.push_back({{"name", "secrets"}, {"secret", secret}});
    }
    nlohmann::json sidecar = {
        {"name", "sidecar"},
        {"image", opts_.sidecar_image},
        {"imagePullPolicy", opts_.image_pull_policy},
        {"args", args},
        {"env", nlohmann::json::array({pod_ip})},
        {"ports", nlohmann::json::array(
                      {{{"name", "http"}, {"containerPort", kSidecarPort}, {"protocol", "TCP"}}})},
        {"resources", {{"requests", {{"memory", sidecar_mem}}},
                       {"limits", {{"memory", sidecar_mem}}}}},
        // the sidecar answers 503 on ?probe=readiness until /init is done
        // (a plain /health answers 200 with "ready":false)
        {"readinessProbe",
         {{"httpGet", {{"path", "/health?probe=readiness"}, {"port", kSidecarPort}}},
          {"periodSeconds", 1},
          {"timeoutSeconds", 1},
          {"failureThreshold", 1}}},
        {"terminationMessagePath", opts_.termination_log},
        {"terminationMessagePolicy", "File"},
        {"securityContext", container_security(0)},
        {"volumeMounts", sidecar_mounts}};
    if (!opts_.sidecar_command.empty())
        sidecar["command"] = nlohmann::json::array({opts_.sidecar_command});
    nlohmann::json runtime = {
        {"name", "runtime"},
        {"image", img->second.image},
        {"imagePullPolicy", opts_.image_pull_policy},
        {"command", runtime_cmd},
        {"env", runtime_env},
        {"resources", {{"requests", requests}, {"limits", limits}}},
        {"securityContext", container_security(opts_.runtime_uid)},
        // the one writable place (actions write to /tmp, as on OpenWhisk),
        // its own: not the sidecar's
        {"volumeMounts", nlohmann::json::array(
                             {{{"name", "runtime-tmp"}, {"mountPath", "/tmp"}}, logs_mount})}};

    nlohmann::json annotations = {{"owx.dev/kind", spec.kind},
                                  {"owx.dev/memory", std::to_string(spec.memory)}};
    if (!spec.action.empty()) annotations["owx.dev/action"] = spec.action;
    nlohmann::json podspec = {
        {"restartPolicy", "Never"},
        // neither container needs API access
        {"automountServiceAccountToken", false},
        {"enableServiceLinks", false},
        // the runtime sees no process of the sidecar's (nor its /proc/*/root)
        {"shareProcessNamespace", false},
        {"securityContext",
         {{"runAsNonRoot", true},
          {"runAsUser", opts_.run_as_user},
          {"runAsGroup", opts_.run_as_user},
          {"fsGroup", opts_.run_as_user},
          {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
        {"volumes", volumes},
        // stop() chooses the grace of each deletion; this is the default
        {"terminationGracePeriodSeconds", 30},
        {"containers", nlohmann::json::array({sidecar, runtime})}};
    // nodeName binds the pod without the scheduler: only to a node the
    // watch knows (the allocator may still hold --nodes or the default
    // "local" node until the daemon refreshes it); otherwise the
    // scheduler places the pod
    if (!spec.node.empty() && nodes_.count(spec.node)) podspec["nodeName"] = spec.node;
    *pod = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata",
             {{"name", "owx-" + spec.id},
              {"namespace", opts_.ns},
              {"labels",
               {{"app.kubernetes.io/name", "owx-action"},
                {"app.kubernetes.io/managed-by", "owx-pool-manager"},
                {kContainerLabel, spec.id}}},
              {"annotations", annotations}}},
            {"spec", podspec}};
    return true;
}

void KubeBackend::start(const ContainerSpec &spec, StartCallback done) {
    nlohmann::json pod;
    std::string err;
    if (pods_.count(spec.id) || !pod_manifest(spec, &pod, &err)) {
        StartResult r;
        r.error = err.empty() ? "container " + spec.id + " exists" : err;
        boost::asio::post(io_, [done = std::move(done), r] { done(r); });
        return;
    }
    auto t = std::make_shared<Tracked>(io_);
    t->id = spec.id;
    t->start_cb = std::move(done);
    pods_[t->id] = t;
    t->timer.expires_after(std::chrono::milliseconds(opts_.start_timeout_ms));
    t->timer.async_wait([this, t](const boost::system::error_code &ec) {
        if (ec || !t->start_cb) return;
        StartResult r;
        r.error = "the pod was not ready within " + std::to_string(opts_.start_timeout_ms / 1000) +
                  " s";
        complete_start(t, r);
        delete_pod(t->id, 0);
    });
    KubeRequest req;
    req.verb = "POST";
    req.path = pods_path();
    req.body = ow::json_dump(pod);
    log_info("pod_creating", {{"id", spec.id}, {"node", spec.node}, {"kind", spec.kind}});
    std::weak_ptr<bool> alive = alive_;
    client_.call(req, [this, alive, t](const KubeResponse &r) {
        auto a = alive.lock();
        if (!a || !*a) return;
        // 409: a retried create whose first attempt landed (the name is
        // the container id, nobody else makes it)
        if (r.status == 201 || r.status == 200 || r.status == 202 || r.status == 409) {
            t->created = true;
            return;
        }
        nlohmann::json st = nlohmann::json::parse(r.body, nullptr, false);
        std::string msg = str(st, "message");
        StartResult res;
        res.error = "creating pod owx-" + t->id + ": " +
                    (r.status == 0 ? r.error : std::to_string(r.status) + " " + msg);
        log_warn("pod_create_failed", {{"id", t->id}, {"status", r.status}, {"error", res.error}});
        complete_start(t, res);
        // no pod, so no exit event will come: forget it
        if (pods_.count(t->id) && pods_[t->id] == t) pods_.erase(t->id);
    });
}

void KubeBackend::complete_start(const TrackedPtr &t, StartResult r) {
    if (!t->start_cb) return;
    StartCallback cb = std::move(t->start_cb);
    t->start_cb = nullptr;
    t->timer.cancel();
    cb(r);
}

void KubeBackend::exited(const TrackedPtr &t, int status) {
    if (!pods_.count(t->id) || pods_[t->id] != t) return;
    if (t->start_cb) {
        StartResult r;
        r.error = "the pod ended before it was ready (exit " + std::to_string(status) + ")";
        complete_start(t, r);
    }
    pods_.erase(t->id);
    log_info("pod_exited", {{"id", t->id}, {"status", status}});
    if (exit_cb_) exit_cb_(t->id, status);
}

void KubeBackend::delete_pod(const std::string &id, int64_t grace_s) {
    auto it = pods_.find(id);
    if (it != pods_.end()) it->second->deleting = true;
    KubeRequest req;
    req.verb = "DELETE";
    req.path = pods_path() + "/owx-" + id;
    req.body = ow::json_dump({{"apiVersion", "v1"},
                              {"kind", "DeleteOptions"},
                              {"gracePeriodSeconds", grace_s},
                              {"propagationPolicy", "Background"}});
    std::weak_ptr<bool> alive = alive_;
    client_.call(req, [this, alive, id](const KubeResponse &r) {
        auto a = alive.lock();
        if (!a || !*a) return;
        if (r.status == 404) {
            // already gone: the DELETED event may have been missed
            auto it = pods_.find(id);
            if (it != pods_.end()) exited(it->second, -1);
        } else if (r.status != 200 && r.status != 202) {
            log_warn("pod_delete_failed", {{"id", id}, {"status", r.status}, {"error", r.error}});
        }
    });
}

void KubeBackend::stop(const std::string &id, int64_t grace_ms) {
    auto it = pods_.find(id);
    if (it == pods_.end()) return;
    int64_t grace_s = grace_ms <= 0 ? 0 : (grace_ms + 999) / 1000;
    log_info("pod_deleting", {{"id", id}, {"grace_s", grace_s}});
    delete_pod(id, grace_s);
}

void KubeBackend::remove_orphan(const std::string &id) {
    if (pods_.count(id)) return;  // ours after all: stop() handles it
    log_info("pod_deleting", {{"id", id}, {"grace_s", 0}, {"orphan", true}});
    delete_pod(id, 0);
}

bool KubeBackend::adopt(const std::string &id, int64_t) {
    if (pods_.count(id)) return false;
    if (synced_) {
        auto it = seen_.find(id);
        if (it == seen_.end() || !it->second) return false;
    }
    auto t = std::make_shared<Tracked>(io_);
    t->id = id;
    t->created = true;
    t->adopted = true;
    t->verified = synced_;
    pods_[id] = t;
    return true;
}

void KubeBackend::handle_pod(const nlohmann::json &pod, bool deleted) {
    PodState s = pod_state(pod);
    if (s.id.empty()) return;
    if (deleted) {
        seen_.erase(s.id);
    } else {
        seen_[s.id] = !terminal(s) && !s.deleting;
    }
    auto it = pods_.find(s.id);
    if (it == pods_.end()) return;
    TrackedPtr t = it->second;
    t->verified = true;
    if (t->start_cb) {
        if (s.ready && !s.ip.empty() && !terminal(s) && !deleted) {
            StartResult r;
            r.status = StartResult::ok;
            std::string ip = s.ip.find(':') != std::string::npos ? "[" + s.ip + "]" : s.ip;
            r.addr = ip + ":" + std::to_string(kSidecarPort);
            log_info("pod_ready", {{"id", s.id}, {"addr", r.addr}});
            complete_start(t, r);
            return;
        }
        if (terminal(s) && s.exit_code == kInitFailed) {
            StartResult r;
            r.status = StartResult::init_failed;
            r.init_error = nlohmann::json::parse(s.message, nullptr, false);
            if (r.init_error.is_discarded()) r.init_error = s.message;
            if (r.init_error.is_object() && r.init_error.contains("error") &&
                r.init_error["error"].is_string()) {
                r.error = r.init_error["error"].get<std::string>();
            } else {
                r.error = s.message.empty() ? "init failed" : s.message;
            }
            complete_start(t, r);
        } else if (s.image_error) {
            StartResult r;
            r.error = "pod owx-" + s.id + ": " + s.reason +
                      (s.message.empty() ? "" : ": " + s.message);
            complete_start(t, r);
            if (!t->deleting) delete_pod(s.id, 0);
            return;
        }
    }
    if (deleted || terminal(s)) {
        exited(t, s.exit_code);
        // a finished pod stays as an object (restartPolicy Never): remove it
        if (!deleted && !s.deleting && !t->deleting) delete_pod(s.id, 0);
    }
}

void KubeBackend::on_pod_event(const std::string &type, const nlohmann::json &pod) {
    handle_pod(pod, type == "DELETED");
}

void KubeBackend::on_pod_list(std::vector<nlohmann::json> items) {
    std::map<std::string, bool> listed;
    seen_.clear();
    for (const auto &p : items) {
        listed[pod_state(p).id] = true;
        handle_pod(p, false);
    }
    synced_ = true;
    // Gone behind our back while the watch was away (or an adopted pod
    // that no longer exists): report it now. A pod we created but never
    // saw may be younger than the list's snapshot (the list can be read
    // while its create is answered): its start deadline covers it.
    std::vector<TrackedPtr> gone;
    for (auto &kv : pods_) {
        const Tracked &t = *kv.second;
        if ((t.verified || t.adopted) && !listed.count(kv.first)) gone.push_back(kv.second);
    }
    for (auto &t : gone) {
        log_warn("pod_vanished", {{"id", t->id}});
        exited(t, -1);
    }
}

void KubeBackend::on_node_list(std::vector<nlohmann::json> items) {
    nodes_.clear();
    for (const auto &n : items) {
        NodeSpec s;
        if (node_spec_of(n, &s)) nodes_[s.name] = s;
    }
    publish_nodes();
}

void KubeBackend::on_node_event(const std::string &type, const nlohmann::json &node) {
    std::string name = str(sub(node, "metadata"), "name");
    NodeSpec s;
    bool usable = type != "DELETED" && node_spec_of(node, &s);
    auto it = nodes_.find(name);
    if (!usable) {
        if (it == nodes_.end()) return;
        nodes_.erase(it);
    } else {
        if (it != nodes_.end() && it->second.capacity.cpu == s.capacity.cpu &&
            it->second.capacity.mem == s.capacity.mem && it->second.capacity.gpu == s.capacity.gpu &&
            it->second.max_containers == s.max_containers) {
            return;  // a heartbeat or a condition time: nothing for placement
        }
        nodes_[name] = s;
    }
    publish_nodes();
}

std::vector<NodeSpec> KubeBackend::nodes() const {
    std::vector<NodeSpec> v;
    for (const auto &kv : nodes_) v.push_back(kv.second);
    return v;
}

void KubeBackend::publish_nodes() {
    if (nodes_cb_) nodes_cb_(nodes());
}

}  // namespace ow::pm
