// kube_backend.cc: see kube_backend.h.
#include "pool-manager/kube_backend.h"

#include <boost/asio/post.hpp>
#include <cmath>
#include <cstdlib>

#include "libow/log.h"

namespace ow::pm {

namespace {

constexpr int kSidecarPort = 8080;
constexpr const char *kContainerLabel = "owx.dev/container";
constexpr int kInitFailed = 3;  // the sidecar's exit code after a failed /init

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
    if (cs.is_array() && !cs.empty()) {
        const nlohmann::json &state = sub(cs[0], "state");
        const nlohmann::json &term = sub(state, "terminated");
        if (term.is_object()) {
            s.terminated = true;
            auto ec = term.find("exitCode");
            if (ec != term.end() && ec->is_number_integer()) s.exit_code = ec->get<int>();
            s.message = str(term, "message");
            s.reason = str(term, "reason");
        }
        const nlohmann::json &wait = sub(state, "waiting");
        if (wait.is_object()) {
            s.reason = str(wait, "reason");
            static const char *fatal[] = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                                          "CreateContainerConfigError", "CreateContainerError"};
            for (const char *f : fatal) s.image_error = s.image_error || s.reason == f;
            if (s.image_error) s.message = str(wait, "message");
        }
    }
    return s;
}

bool terminal(const PodState &s) {
    return s.terminated || s.phase == "Failed" || s.phase == "Succeeded";
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
        *err = "kube images: not a JSON object (kind → {image, command?, args?})";
        return false;
    }
    for (auto it = doc.begin(); it != doc.end(); ++it) {
        const nlohmann::json &v = it.value();
        KubeImage img;
        img.image = str(v, "image");
        if (img.image.empty() || !strings(sub(v, "command"), &img.command) ||
            !strings(sub(v, "args"), &img.args)) {
            *err = "kube images: " + it.key() + " needs \"image\" and string arrays";
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

bool KubeBackend::pod_manifest(const ContainerSpec &spec, nlohmann::json *pod,
                               std::string *err) const {
    auto img = opts_.images.find(spec.kind);
    if (img == opts_.images.end()) {
        *err = "no image for kind " + spec.kind + " in --kube-images";
        return false;
    }
    // The sidecar's arguments, as the local backend gives them
    // (local_backend.cc sidecar_argv) but for a pod: its address comes from
    // the downward API, readiness from the probe instead of --ready-fd, and
    // an init failure goes to the termination log.
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
    // the pod is the runtime's network namespace (its NetworkPolicies say
    // what it reaches), and the sidecar there is not root
    args.insert(args.end(), {"--runtime-netns", "off"});
    if (!opts_.sidecar_secret.empty()) {
        const std::string dir = kSecretsDir;
        // the pod's own metrics token, not the gateway's: action code can
        // read this Secret today (README, Security model), and the
        // gateway's /metrics names every tenant's actions
        args.insert(args.end(), {"--redis-credentials", dir + "/redis-sidecar", "--token-file",
                                 dir + "/internal-token", "--metrics-token-file",
                                 dir + "/sidecar-metrics-token"});
    }
    args.push_back("--");
    const std::vector<std::string> &runtime = img->second.args.empty() ? spec.command
                                                                       : img->second.args;
    args.insert(args.end(), runtime.begin(), runtime.end());

    nlohmann::json env = nlohmann::json::array(
        {{{"name", "POD_IP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}}});
    if (spec.family == "nodejs") {
        // as the local backend: V8 collects before the container's limit
        env.push_back({{"name", "NODE_OPTIONS"},
                       {"value", "--max-old-space-size=" + std::to_string(spec.memory)}});
    }
    std::string mem = std::to_string(spec.memory + opts_.memory_headroom_mb) + "Mi";
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
    nlohmann::json container = {
        {"name", "action"},
        {"image", img->second.image},
        {"imagePullPolicy", opts_.image_pull_policy},
        {"args", args},
        {"env", env},
        {"ports", nlohmann::json::array(
                      {{{"name", "http"}, {"containerPort", kSidecarPort}, {"protocol", "TCP"}}})},
        {"resources", {{"requests", requests}, {"limits", limits}}},
        // the sidecar answers 503 on ?probe=readiness until /init is done
        // (a plain /health answers 200 with "ready":false)
        {"readinessProbe",
         {{"httpGet", {{"path", "/health?probe=readiness"}, {"port", kSidecarPort}}},
          {"periodSeconds", 1},
          {"timeoutSeconds", 1},
          {"failureThreshold", 1}}},
        {"terminationMessagePath", opts_.termination_log},
        {"terminationMessagePolicy", "File"},
        {"securityContext",
         {{"runAsNonRoot", true},
          {"allowPrivilegeEscalation", false},
          {"readOnlyRootFilesystem", true},
          {"capabilities", {{"drop", nlohmann::json::array({"ALL"})}}},
          {"seccompProfile", {{"type", "RuntimeDefault"}}}}}};
    if (!img->second.command.empty()) container["command"] = img->second.command;
    // the one writable place (actions write to /tmp, as on OpenWhisk)
    nlohmann::json mounts = nlohmann::json::array({{{"name", "tmp"}, {"mountPath", "/tmp"}}});
    nlohmann::json volumes =
        nlohmann::json::array({{{"name", "tmp"}, {"emptyDir", nlohmann::json::object()}}});
    if (!opts_.sidecar_secret.empty()) {
        mounts.push_back({{"name", "secrets"}, {"mountPath", kSecretsDir}, {"readOnly", true}});
        // 0440: root and the pod's fsGroup (the sidecar's group) read
        nlohmann::json secret = {{"secretName", opts_.sidecar_secret}, {"defaultMode", 0440}};
        volumes.push_back({{"name", "secrets"}, {"secret", secret}});
    }
    container["volumeMounts"] = mounts;

    nlohmann::json annotations = {{"owx.dev/kind", spec.kind},
                                  {"owx.dev/memory", std::to_string(spec.memory)}};
    if (!spec.action.empty()) annotations["owx.dev/action"] = spec.action;
    nlohmann::json podspec = {
        {"restartPolicy", "Never"},
        // the sidecar needs no API access
        {"automountServiceAccountToken", false},
        {"enableServiceLinks", false},
        {"securityContext",
         {{"runAsNonRoot", true},
          {"runAsUser", opts_.run_as_user},
          {"runAsGroup", opts_.run_as_user},
          {"fsGroup", opts_.run_as_user},
          {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
        {"volumes", volumes},
        // stop() chooses the grace of each deletion; this is the default
        {"terminationGracePeriodSeconds", 30},
        {"containers", nlohmann::json::array({container})}};
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
