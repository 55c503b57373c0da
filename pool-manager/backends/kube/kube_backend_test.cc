// kube_backend_test.cc: the pod the backend creates, and what it makes of
// the pod watch (ready, init failure, exit, deletion behind our back,
// relist), of stop() and adopt(), and of node objects.
#include "pool-manager/backends/kube/kube_backend.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "libow/runtime_log_wrapper.h"
#include "pool-manager/backends/kube/kube_fake_test.h"

namespace ow::pm::test {
namespace {

// state: the sidecar container's; runtime_state: the runtime container's
nlohmann::json pod(const std::string &id, const std::string &phase, bool ready,
                   const nlohmann::json &state = nullptr, bool deleting = false,
                   const nlohmann::json &runtime_state = nullptr) {
    nlohmann::json p = {
        {"metadata",
         {{"name", "owx-" + id},
          {"resourceVersion", "7"},
          {"labels", {{"owx.dev/container", id}, {"app.kubernetes.io/managed-by", "owx-pool-manager"}}}}},
        {"status",
         {{"phase", phase},
          {"podIP", "10.1.2.3"},
          {"conditions", nlohmann::json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})}}}};
    if (!state.is_null() || !runtime_state.is_null()) {
        nlohmann::json running = {{"running", {{"startedAt", "2026-11-27T23:00:00Z"}}}};
        p["status"]["containerStatuses"] = nlohmann::json::array(
            {{{"name", "sidecar"}, {"state", state.is_null() ? running : state}},
             {{"name", "runtime"}, {"state", runtime_state.is_null() ? running : runtime_state}}});
    }
    if (deleting) p["metadata"]["deletionTimestamp"] = "2026-11-27T23:00:00Z";
    return p;
}

struct Fixture : ::testing::Test {
    Fixture() : fake(std::make_shared<FakeKube>()), client(io_post(io), fake, {}) {
        fake->set_handler([](const KubeRequest &req) {
            if (req.verb == "POST") return answer(201, "{}");
            if (req.verb == "DELETE") return answer(200, "{}");
            return answer(404, "{}");
        });
        opts.ns = "owx";
        opts.redis = "redis.owx:6379";
        opts.api_host = "http://gw";
        opts.start_timeout_ms = 60000;
        opts.images["nodejs:20"] = {"openwhisk/action-nodejs-v20",
                                    {"node", "--expose-gc", "app.js"}};
        opts.images["python:3.11"] = {"owx/runtime-python:3.11", {}};
        opts.sidecar_image = "owx/sidecar:1";
        backend = std::make_unique<KubeBackend>(io, client, opts);
        backend->on_exit([this](const std::string &id, int st) { exits.push_back({id, st}); });
        spec.id = "0a1b2c";
        spec.action = "guest/hello";
        spec.kind = "nodejs:20";
        spec.family = "nodejs";
        spec.command = {"/usr/bin/node", "/local/proxy.js", "--port", "{port}"};
        spec.memory = 256;
        spec.node = "node-2";
        spec.cpu = 250;
        nlohmann::json node2 = {{"metadata", {{"name", "node-2"}}},
                                {"status", {{"allocatable", {{"cpu", "4"}, {"memory", "8Gi"}}}}}};
        backend->on_node_list(std::vector<nlohmann::json>{node2});
    }
    ~Fixture() override { backend.reset(); }

    KubeRequest last(const std::string &verb) {
        KubeRequest found;
        for (const auto &r : fake->requests()) {
            if (r.verb == verb) found = r;
        }
        return found;
    }
    bool saw(const std::string &verb) {
        return fake->wait_requests([&](const auto &rs) {
            for (const auto &r : rs) {
                if (r.verb == verb) return true;
            }
            return false;
        });
    }

    boost::asio::io_context io;
    std::shared_ptr<FakeKube> fake;
    KubeClient client;
    KubeBackendOptions opts;
    std::unique_ptr<KubeBackend> backend;
    ContainerSpec spec;
    std::vector<std::pair<std::string, int>> exits;
};

const nlohmann::json &container(const nlohmann::json &pod, const std::string &name) {
    static const nlohmann::json none;
    for (const auto &c : pod["spec"]["containers"])
        if (c["name"] == name) return c;
    return none;
}

TEST_F(Fixture, PodManifestFollowsTheFixedShape) {
    nlohmann::json p;
    std::string err;
    ASSERT_TRUE(backend->pod_manifest(spec, &p, &err)) << err;
    EXPECT_EQ(p["apiVersion"], "v1");
    EXPECT_EQ(p["kind"], "Pod");
    EXPECT_EQ(p["metadata"]["name"], "owx-0a1b2c");
    EXPECT_EQ(p["metadata"]["namespace"], "owx");
    EXPECT_EQ(p["metadata"]["labels"]["app.kubernetes.io/name"], "owx-action");
    EXPECT_EQ(p["metadata"]["labels"]["app.kubernetes.io/managed-by"], "owx-pool-manager");
    EXPECT_EQ(p["metadata"]["labels"]["owx.dev/container"], "0a1b2c");
    EXPECT_EQ(p["metadata"]["annotations"]["owx.dev/action"], "guest/hello");
    EXPECT_EQ(p["metadata"]["annotations"]["owx.dev/kind"], "nodejs:20");
    EXPECT_EQ(p["metadata"]["annotations"]["owx.dev/memory"], "256");
    const auto &s = p["spec"];
    EXPECT_EQ(s["restartPolicy"], "Never");
    EXPECT_EQ(s["nodeName"], "node-2");
    ASSERT_EQ(s["containers"].size(), 2u);
    // the sidecar: its own image and port, the runtime reached over the pod's network
    const auto &c = container(p, "sidecar");
    EXPECT_EQ(c["image"], "owx/sidecar:1");
    EXPECT_FALSE(c.contains("command"));  // the image's entrypoint: ow-sidecar
    std::vector<std::string> args = c["args"];
    EXPECT_EQ(args, (std::vector<std::string>{
                        "--listen", "$(POD_IP):8081", "--redis", "redis.owx:6379", "--container-id",
                        "0a1b2c", "--action", "guest/hello", "--termination-log",
                        "/dev/termination-log", "--api-host", "http://gw", "--runtime-url",
                        "http://127.0.0.1:8080", "--runtime-logs", "/var/run/owx/logs",
                        "--start-timeout", "60000ms"}));
    EXPECT_EQ(c["env"], nlohmann::json::parse(R"([{"name":"POD_IP",
        "valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}}])"));
    EXPECT_EQ(c["resources"]["limits"]["memory"], "128Mi");  // the headroom: the sidecar's own
    EXPECT_EQ(c["readinessProbe"]["httpGet"]["port"], 8081);
    EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/health?probe=readiness");
    EXPECT_EQ(c["terminationMessagePath"], "/dev/termination-log");
    EXPECT_EQ(c["ports"], nlohmann::json::parse(
                              R"([{"name":"http","containerPort":8081,"protocol":"TCP"}])"));
    // the runtime: the kind's image, its entrypoint wrapped so its output reaches the FIFOs
    const auto &r = container(p, "runtime");
    EXPECT_EQ(r["image"], "openwhisk/action-nodejs-v20");
    std::vector<std::string> cmd = r["command"];
    ASSERT_EQ(cmd.size(), 8u);
    EXPECT_EQ(cmd[0], "/bin/sh");
    EXPECT_EQ(cmd[1], "-c");
    EXPECT_EQ(cmd[2], ow::kRuntimeLogWrapper);
    EXPECT_EQ(std::vector<std::string>(cmd.begin() + 3, cmd.end()),
              (std::vector<std::string>{"sh", "/var/run/owx/logs", "node", "--expose-gc",
                                        "app.js"}));
    EXPECT_FALSE(r.contains("args"));
    EXPECT_FALSE(r.contains("ports"));  // nobody outside the pod has business with it
    EXPECT_EQ(r["env"][1],
              nlohmann::json::parse(R"({"name":"__OW_API_HOST","value":"http://gw"})"));
    EXPECT_EQ(r["env"][2]["name"], "__OW_ALLOW_CONCURRENT");
    EXPECT_EQ(r["env"][3]["value"], "--max-old-space-size=256");
    // the action's memory is the runtime's limit
    EXPECT_EQ(r["resources"]["requests"]["memory"], "256Mi");
    EXPECT_EQ(r["resources"]["limits"]["memory"], "256Mi");
    EXPECT_EQ(r["resources"]["requests"]["cpu"], "250m");
    EXPECT_FALSE(r["resources"]["limits"].contains("cpu"));
    EXPECT_FALSE(c["resources"]["requests"].contains("cpu"));
    // a node the watch does not know: the scheduler places the pod
    spec.node = "local";
    ASSERT_TRUE(backend->pod_manifest(spec, &p, &err));
    EXPECT_FALSE(p["spec"].contains("nodeName"));
}

TEST_F(Fixture, PodsRunConfinedWithTheSidecarSecretOnlyWhenGiven) {
    nlohmann::json p;
    std::string err;
    ASSERT_TRUE(backend->pod_manifest(spec, &p, &err)) << err;
    const auto &s = p["spec"];
    EXPECT_EQ(s["automountServiceAccountToken"], false);
    EXPECT_EQ(s["shareProcessNamespace"], false);
    EXPECT_EQ(s["securityContext"],
              nlohmann::json({{"runAsNonRoot", true},
                              {"runAsUser", 10001},
                              {"runAsGroup", 10001},
                              {"fsGroup", 10001},
                              {"seccompProfile", {{"type", "RuntimeDefault"}}}}));
    for (const char *name : {"sidecar", "runtime"}) {
        const auto &sc = container(p, name)["securityContext"];
        EXPECT_EQ(sc["runAsNonRoot"], true) << name;
        EXPECT_EQ(sc["allowPrivilegeEscalation"], false) << name;
        EXPECT_EQ(sc["readOnlyRootFilesystem"], true) << name;
        EXPECT_EQ(sc["capabilities"]["drop"], nlohmann::json::array({"ALL"})) << name;
        EXPECT_EQ(sc["seccompProfile"]["type"], "RuntimeDefault") << name;
    }
    // the runtime: a uid of its own; the sidecar: the pod's
    EXPECT_EQ(container(p, "runtime")["securityContext"]["runAsUser"], 10002);
    EXPECT_EQ(container(p, "runtime")["securityContext"]["runAsGroup"], 10002);
    EXPECT_FALSE(container(p, "sidecar")["securityContext"].contains("runAsUser"));
    // a read-only root: each container's own /tmp; the log FIFOs' directory shared
    EXPECT_EQ(s["volumes"], nlohmann::json::parse(R"([{"name":"tmp","emptyDir":{}},
        {"name":"runtime-tmp","emptyDir":{}},
        {"name":"runtime-logs","emptyDir":{"medium":"Memory","sizeLimit":"1Mi"}}])"));
    EXPECT_EQ(container(p, "sidecar")["volumeMounts"], nlohmann::json::parse(
        R"([{"name":"tmp","mountPath":"/tmp"},
            {"name":"runtime-logs","mountPath":"/var/run/owx/logs"}])"));
    EXPECT_EQ(container(p, "runtime")["volumeMounts"], nlohmann::json::parse(
        R"([{"name":"runtime-tmp","mountPath":"/tmp"},
            {"name":"runtime-logs","mountPath":"/var/run/owx/logs"}])"));
    std::vector<std::string> args = container(p, "sidecar")["args"];
    for (const auto &a : args) EXPECT_EQ(a.find("--redis-credentials"), std::string::npos) << a;

    opts.sidecar_secret = "owx-sidecar";
    opts.run_as_user = 2000;
    opts.runtime_uid = 3000;
    KubeBackend with_secret(io, client, opts);
    ASSERT_TRUE(with_secret.pod_manifest(spec, &p, &err)) << err;
    EXPECT_EQ(p["spec"]["securityContext"]["runAsUser"], 2000);
    EXPECT_EQ(p["spec"]["securityContext"]["fsGroup"], 2000);
    EXPECT_EQ(container(p, "runtime")["securityContext"]["runAsUser"], 3000);
    EXPECT_EQ(p["spec"]["volumes"][3],
              nlohmann::json::parse(R"({"name":"secrets","secret":{"secretName":"owx-sidecar",
                                        "defaultMode":288}})"));
    const auto &c2 = container(p, "sidecar");
    EXPECT_EQ(c2["volumeMounts"][2], nlohmann::json::parse(
                                         R"({"name":"secrets","mountPath":"/var/run/owx/secrets",
                                             "readOnly":true})"));
    // the paths of the three files, never content
    args = c2["args"].get<std::vector<std::string>>();
    std::vector<std::string> tail = {"--redis-credentials", "/var/run/owx/secrets/redis-sidecar",
                                     "--token-file", "/var/run/owx/secrets/internal-token",
                                     "--metrics-token-file",
                                     "/var/run/owx/secrets/sidecar-metrics-token"};
    ASSERT_GE(args.size(), tail.size());
    EXPECT_EQ(std::vector<std::string>(args.end() - tail.size(), args.end()), tail);
    EXPECT_EQ(c2["env"].size(), 1u);  // POD_IP: nothing secret
    // the runtime mounts nothing of the Secret's, and its environment holds no credential
    const auto &r2 = container(p, "runtime");
    for (const auto &m : r2["volumeMounts"]) EXPECT_NE(m["name"], "secrets");
    for (const auto &e : r2["env"]) {
        std::string name = e["name"];
        EXPECT_TRUE(name == "POD_IP" || name == "__OW_API_HOST" ||
                    name == "__OW_ALLOW_CONCURRENT" || name == "NODE_OPTIONS") << name;
    }
}

TEST_F(Fixture, StemcellsCommandsGpusAndUnknownKinds) {
    spec.kind = "python:3.11";
    spec.family = "python";
    spec.action = "";
    spec.stemcell_ms = 600000;
    spec.gpu = 1;
    spec.command = {"/opt/owx/bin/runtime", "--port", "{port}"};
    opts.sidecar_command = "/usr/local/bin/ow-sidecar";
    opts.runtime_address = "$(POD_IP):9090";
    KubeBackend b(io, client, opts);
    nlohmann::json p;
    std::string err;
    ASSERT_TRUE(b.pod_manifest(spec, &p, &err)) << err;
    const auto &c = container(p, "sidecar");
    EXPECT_EQ(c["command"], nlohmann::json::array({"/usr/local/bin/ow-sidecar"}));
    std::vector<std::string> args = c["args"];
    EXPECT_EQ(args[6], "--stemcell");
    EXPECT_EQ(args[7], "600000ms");
    auto url = std::find(args.begin(), args.end(), "--runtime-url");
    ASSERT_NE(url, args.end());
    EXPECT_EQ(url[1], "http://$(POD_IP):9090");
    // no command in the images file: the kind's own, on the runtime's port
    std::vector<std::string> cmd = container(p, "runtime")["command"];
    EXPECT_EQ(std::vector<std::string>(cmd.end() - 3, cmd.end()),
              (std::vector<std::string>{"/opt/owx/bin/runtime", "--port", "9090"}));
    EXPECT_FALSE(p["metadata"]["annotations"].contains("owx.dev/action"));
    const auto &r = container(p, "runtime");
    EXPECT_EQ(r["resources"]["limits"]["nvidia.com/gpu"], "1");
    EXPECT_EQ(r["resources"]["requests"]["nvidia.com/gpu"], "1");
    EXPECT_FALSE(c["resources"]["limits"].contains("nvidia.com/gpu"));
    spec.kind = "go:1.21";
    EXPECT_FALSE(b.pod_manifest(spec, &p, &err));
    EXPECT_NE(err.find("go:1.21"), std::string::npos);
    spec.kind = "python:3.11";
    opts.sidecar_image = "";
    KubeBackend no_sidecar(io, client, opts);
    EXPECT_FALSE(no_sidecar.pod_manifest(spec, &p, &err));
    EXPECT_NE(err.find("--kube-sidecar-image"), std::string::npos);
}

TEST_F(Fixture, StartPostsThePodAndIsReadyFromTheWatch) {
    std::vector<StartResult> got;
    backend->start(spec, [&](const StartResult &r) { got.push_back(r); });
    ASSERT_TRUE(saw("POST"));
    KubeRequest post = last("POST");
    EXPECT_EQ(post.path, "/api/v1/namespaces/owx/pods");
    EXPECT_EQ(nlohmann::json::parse(post.body)["metadata"]["name"], "owx-0a1b2c");
    run_until(io, [] { return false; }, 50);
    backend->on_pod_event("ADDED", pod("0a1b2c", "Pending", false));
    backend->on_pod_event("MODIFIED", pod("0a1b2c", "Running", false));
    EXPECT_TRUE(got.empty());
    backend->on_pod_event("MODIFIED", pod("0a1b2c", "Running", true));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].status, StartResult::ok);
    EXPECT_EQ(got[0].addr, "10.1.2.3:8081");
    // a pod of nobody's is not ours to report
    backend->on_pod_event("DELETED", pod("ffff", "Running", true));
    EXPECT_TRUE(exits.empty());
}

TEST_F(Fixture, InitFailureComesFromTheTerminationMessage) {
    std::vector<StartResult> got;
    backend->start(spec, [&](const StartResult &r) { got.push_back(r); });
    ASSERT_TRUE(saw("POST"));
    run_until(io, [] { return false; }, 50);
    nlohmann::json term = {{"terminated",
                            {{"exitCode", 3},
                             {"reason", "Error"},
                             {"message", R"({"error":"boom: x is not defined","initTime":12})"}}}};
    backend->on_pod_event("MODIFIED", pod("0a1b2c", "Failed", false, term));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].status, StartResult::init_failed);
    EXPECT_EQ(got[0].error, "boom: x is not defined");
    EXPECT_EQ(got[0].init_error["initTime"], 12);
    // then the exit, and the finished pod object is removed
    ASSERT_EQ(exits.size(), 1u);
    EXPECT_EQ(exits[0], (std::pair<std::string, int>{"0a1b2c", 3}));
    ASSERT_TRUE(saw("DELETE"));
    EXPECT_EQ(last("DELETE").path, "/api/v1/namespaces/owx/pods/owx-0a1b2c");
}

TEST_F(Fixture, ImagePullErrorsAndCreateRefusalsFailTheStart) {
    std::vector<StartResult> got;
    backend->start(spec, [&](const StartResult &r) { got.push_back(r); });
    ASSERT_TRUE(saw("POST"));
    run_until(io, [] { return false; }, 50);
    nlohmann::json wait = {{"waiting", {{"reason", "ImagePullBackOff"}, {"message", "no such image"}}}};
    backend->on_pod_event("MODIFIED", pod("0a1b2c", "Pending", false, wait));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].status, StartResult::failed);
    EXPECT_NE(got[0].error.find("ImagePullBackOff"), std::string::npos);
    ASSERT_TRUE(saw("DELETE"));

    fake->set_handler([](const KubeRequest &) {
        return answer(403, R"({"kind":"Status","code":403,"message":"pods is forbidden"})");
    });
    spec.id = "beef";
    backend->start(spec, [&](const StartResult &r) { got.push_back(r); });
    ASSERT_TRUE(run_until(io, [&] { return got.size() == 2; }));
    EXPECT_EQ(got[1].status, StartResult::failed);
    EXPECT_NE(got[1].error.find("pods is forbidden"), std::string::npos);
    EXPECT_EQ(backend->tracked(), 1u);  // only the first, until its DELETED
}

TEST_F(Fixture, TheRuntimeContainerFailingFailsTheStartOrEndsThePod) {
    std::vector<StartResult> got;
    backend->start(spec, [&](const StartResult &r) { got.push_back(r); });
    ASSERT_TRUE(saw("POST"));
    run_until(io, [] { return false; }, 50);
    // the runtime's image cannot be pulled: the start fails at once (not at its deadline)
    nlohmann::json wait = {{"waiting", {{"reason", "ErrImagePull"}, {"message", "not found"}}}};
    backend->on_pod_event("MODIFIED", pod("0a1b2c", "Pending", false, nullptr, false, wait));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].status, StartResult::failed);
    EXPECT_NE(got[0].error.find("runtime: ErrImagePull: not found"), std::string::npos)
        << got[0].error;

    // a ready pod whose runtime container ends (restartPolicy Never): the container is gone,
    // as the sidecar would say (2, recycled), and the pod is removed
    spec.id = "c0ffee";
    backend->start(spec, [&](const StartResult &r) { got.push_back(r); });
    run_until(io, [] { return false; }, 50);
    backend->on_pod_event("MODIFIED", pod("c0ffee", "Running", true));
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[1].status, StartResult::ok);
    EXPECT_EQ(got[1].addr, "10.1.2.3:8081");
    nlohmann::json ended = {{"terminated", {{"exitCode", 137}, {"reason", "OOMKilled"}}}};
    backend->on_pod_event("MODIFIED", pod("c0ffee", "Running", false, nullptr, false, ended));
    ASSERT_EQ(exits.size(), 1u);
    EXPECT_EQ(exits[0], (std::pair<std::string, int>{"c0ffee", 2}));
    ASSERT_TRUE(run_until(io, [&] { return last("DELETE").path.find("owx-c0ffee") !=
                                           std::string::npos; }));
}

TEST_F(Fixture, StopDeletesWithGraceAndTheWatchReportsTheExit) {
    backend->start(spec, [](const StartResult &) {});
    ASSERT_TRUE(saw("POST"));
    run_until(io, [] { return false; }, 50);
    backend->on_pod_event("MODIFIED", pod("0a1b2c", "Running", true));
    backend->stop("0a1b2c", 330000);
    ASSERT_TRUE(saw("DELETE"));
    nlohmann::json body = nlohmann::json::parse(last("DELETE").body);
    EXPECT_EQ(body["kind"], "DeleteOptions");
    EXPECT_EQ(body["gracePeriodSeconds"], 330);
    run_until(io, [] { return false; }, 50);
    EXPECT_TRUE(exits.empty());  // draining: still there
    nlohmann::json term = {{"terminated", {{"exitCode", 0}, {"reason", "Completed"}}}};
    backend->on_pod_event("MODIFIED", pod("0a1b2c", "Running", false, term, true));
    ASSERT_EQ(exits.size(), 1u);
    EXPECT_EQ(exits[0].second, 0);
    backend->on_pod_event("DELETED", pod("0a1b2c", "Succeeded", false, term, true));
    EXPECT_EQ(exits.size(), 1u);  // once
    backend->stop("unknown", 1000);  // ignored
}

TEST_F(Fixture, PodDeletedBehindOurBackOrMissingFromARelistExits) {
    backend->start(spec, [](const StartResult &) {});
    ContainerSpec b = spec;
    b.id = "b2";
    backend->start(b, [](const StartResult &) {});
    ASSERT_TRUE(run_until(io, [&] {
        int n = 0;
        for (const auto &r : fake->requests()) n += r.verb == "POST";
        return n == 2;
    }));
    run_until(io, [] { return false; }, 50);
    backend->on_pod_event("MODIFIED", pod("0a1b2c", "Running", true));
    backend->on_pod_event("MODIFIED", pod("b2", "Running", true));
    // kubectl delete pod owx-0a1b2c: the kubelet killed it
    nlohmann::json term = {{"terminated", {{"exitCode", 137}, {"reason", "Error"}}}};
    backend->on_pod_event("DELETED", pod("0a1b2c", "Running", false, term, true));
    ASSERT_EQ(exits.size(), 1u);
    EXPECT_EQ(exits[0], (std::pair<std::string, int>{"0a1b2c", 137}));
    // the watch expired (410) and b2 went meanwhile: the relist says so
    backend->on_pod_list({});
    ASSERT_EQ(exits.size(), 2u);
    EXPECT_EQ(exits[1], (std::pair<std::string, int>{"b2", -1}));
    EXPECT_EQ(backend->tracked(), 0u);
}

TEST_F(Fixture, AdoptTrustsUntilTheFirstListThenChecks) {
    // before any list: taken on trust, dropped if the list lacks it
    EXPECT_TRUE(backend->adopt("old1", 0));
    EXPECT_TRUE(backend->adopt("old2", 0));
    EXPECT_FALSE(backend->adopt("old1", 0));  // already watched
    backend->on_pod_list({pod("old1", "Running", true), pod("done", "Succeeded", false)});
    ASSERT_EQ(exits.size(), 1u);
    EXPECT_EQ(exits[0].first, "old2");
    // after it: only a running pod of ours
    EXPECT_FALSE(backend->adopt("done", 0));
    EXPECT_FALSE(backend->adopt("nope", 0));
    backend->on_pod_event("ADDED", pod("later", "Running", true));
    EXPECT_TRUE(backend->adopt("later", 0));
}

TEST_F(Fixture, StartDeadlineFailsAndDeletes) {
    opts.start_timeout_ms = 50;
    backend = std::make_unique<KubeBackend>(io, client, opts);
    std::vector<StartResult> got;
    backend->start(spec, [&](const StartResult &r) { got.push_back(r); });
    ASSERT_TRUE(run_until(io, [&] { return !got.empty(); }));
    EXPECT_EQ(got[0].status, StartResult::failed);
    EXPECT_NE(got[0].error.find("not ready"), std::string::npos);
    ASSERT_TRUE(saw("DELETE"));
    EXPECT_EQ(nlohmann::json::parse(last("DELETE").body)["gracePeriodSeconds"], 0);
}

TEST_F(Fixture, AnOrphanPodIsDeletedAtOnceAndOursAreLeftToStop) {
    // a pod a killed leader created and nobody adopted: nothing else would
    // ever stop it
    backend->on_pod_event("ADDED", pod("dead1", "Running", true));
    backend->remove_orphan("dead1");
    ASSERT_TRUE(saw("DELETE"));
    EXPECT_EQ(last("DELETE").path, "/api/v1/namespaces/owx/pods/owx-dead1");
    EXPECT_EQ(nlohmann::json::parse(last("DELETE").body)["gracePeriodSeconds"], 0);
    run_until(io, [] { return false; }, 50);
    EXPECT_TRUE(exits.empty());  // no exit event for an orphan
    // one of ours is not an orphan: no DELETE for it
    backend->start(spec, [](const StartResult &) {});
    ASSERT_TRUE(saw("POST"));
    size_t before = fake->requests().size();
    backend->remove_orphan("0a1b2c");
    run_until(io, [] { return false; }, 50);
    for (size_t i = before; i < fake->requests().size(); i++) {
        EXPECT_NE(fake->requests()[i].verb, "DELETE");
    }
}

TEST(KubeNodes, QuantitiesAndNodeSpecs) {
    double v = 0;
    ASSERT_TRUE(parse_quantity("3500m", &v));
    EXPECT_DOUBLE_EQ(v, 3.5);
    ASSERT_TRUE(parse_quantity("16318452Ki", &v));
    EXPECT_DOUBLE_EQ(v, 16318452.0 * 1024);
    ASSERT_TRUE(parse_quantity("8Gi", &v));
    EXPECT_DOUBLE_EQ(v, 8.0 * 1024 * 1024 * 1024);
    ASSERT_TRUE(parse_quantity("1e3", &v));
    EXPECT_DOUBLE_EQ(v, 1000);
    ASSERT_TRUE(parse_quantity("2G", &v));
    EXPECT_DOUBLE_EQ(v, 2e9);
    EXPECT_FALSE(parse_quantity("12Q", &v));
    EXPECT_FALSE(parse_quantity("", &v));

    nlohmann::json n = {
        {"metadata", {{"name", "gpu-1"}}},
        {"spec", nlohmann::json::object()},
        {"status",
         {{"allocatable", {{"cpu", "3920m"}, {"memory", "8Gi"}, {"nvidia.com/gpu", "2"}, {"pods", "110"}}},
          {"conditions", nlohmann::json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
    NodeSpec s;
    ASSERT_TRUE(node_spec_of(n, &s));
    EXPECT_EQ(s.name, "gpu-1");
    EXPECT_EQ(s.capacity.cpu, 3920);
    EXPECT_EQ(s.capacity.mem, 8192);
    EXPECT_EQ(s.capacity.gpu, 2);
    EXPECT_EQ(s.max_containers, 110);
    nlohmann::json cordoned = n;
    cordoned["spec"]["unschedulable"] = true;
    EXPECT_FALSE(node_spec_of(cordoned, &s));
    nlohmann::json tainted = n;
    tainted["spec"]["taints"] = {{{"key", "k"}, {"effect", "NoExecute"}}};
    EXPECT_FALSE(node_spec_of(tainted, &s));
    tainted["spec"]["taints"] = {{{"key", "k"}, {"effect", "PreferNoSchedule"}}};
    EXPECT_TRUE(node_spec_of(tainted, &s));
    nlohmann::json down = n;
    down["status"]["conditions"][0]["status"] = "Unknown";
    EXPECT_FALSE(node_spec_of(down, &s));
}

TEST_F(Fixture, NodeListAndEventsReachTheHook) {
    std::vector<std::vector<NodeSpec>> seen;
    backend->on_nodes([&](const std::vector<NodeSpec> &v) { seen.push_back(v); });
    auto node = [](const std::string &name, const std::string &mem) {
        return nlohmann::json{{"metadata", {{"name", name}}},
                              {"status", {{"allocatable", {{"cpu", "4"}, {"memory", mem}, {"pods", "110"}}}}}};
    };
    backend->on_node_list({node("a", "4Gi"), node("b", "8Gi")});
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].size(), 2u);
    backend->on_node_event("MODIFIED", node("a", "4Gi"));  // a heartbeat: no change
    EXPECT_EQ(seen.size(), 1u);
    nlohmann::json cordon = node("a", "4Gi");
    cordon["spec"]["unschedulable"] = true;
    backend->on_node_event("MODIFIED", cordon);
    ASSERT_EQ(seen.size(), 2u);
    ASSERT_EQ(seen[1].size(), 1u);
    EXPECT_EQ(seen[1][0].name, "b");
    backend->on_node_event("DELETED", node("b", "8Gi"));
    EXPECT_TRUE(seen.back().empty());
}

TEST(KubeImages, ParsesTheImagesFile) {
    std::map<std::string, KubeImage> m;
    std::string err;
    ASSERT_TRUE(parse_kube_images(
        R"({"nodejs:20":{"image":"openwhisk/action-nodejs-v20","command":["node","app.js"]},
            "python:3.11":{"image":"r/py"}})",
        &m, &err))
        << err;
    EXPECT_EQ(m["nodejs:20"].command, (std::vector<std::string>{"node", "app.js"}));
    EXPECT_TRUE(m["python:3.11"].command.empty());
    EXPECT_FALSE(parse_kube_images(R"({"x":{"command":[]}})", &m, &err));
    EXPECT_FALSE(parse_kube_images(R"({"x":{"image":"i","command":[1]}})", &m, &err));
    EXPECT_FALSE(parse_kube_images("[]", &m, &err));
    // the one-container format is refused, not misread
    EXPECT_FALSE(parse_kube_images(
        R"({"x":{"image":"i","command":["/bin/ow-sidecar"],"args":["node"]}})", &m, &err));
    EXPECT_NE(err.find("--kube-sidecar-image"), std::string::npos) << err;
}

}  // namespace
}  // namespace ow::pm::test
