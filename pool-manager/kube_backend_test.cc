// kube_backend_test.cc: the pod the backend creates, and what it makes of
// the pod watch (ready, init failure, exit, deletion behind our back,
// relist), of stop() and adopt(), and of node objects.
#include "pool-manager/kube_backend.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "pool-manager/kube_fake_test.h"

namespace ow::pm::test {
namespace {

nlohmann::json pod(const std::string &id, const std::string &phase, bool ready,
                   const nlohmann::json &state = nullptr, bool deleting = false) {
    nlohmann::json p = {
        {"metadata",
         {{"name", "owx-" + id},
          {"resourceVersion", "7"},
          {"labels", {{"owx.dev/container", id}, {"app.kubernetes.io/managed-by", "owx-pool-manager"}}}}},
        {"status",
         {{"phase", phase},
          {"podIP", "10.1.2.3"},
          {"conditions", nlohmann::json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})}}}};
    if (!state.is_null()) {
        p["status"]["containerStatuses"] = nlohmann::json::array({{{"name", "action"}, {"state", state}}});
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
        opts.images["nodejs:20"] = {"owx/runtime-nodejs:20", {}, {"node", "/app/proxy.js", "--port", "{port}"}};
        opts.images["python:3.11"] = {"owx/runtime-python:3.11", {"/usr/local/bin/ow-sidecar"}, {}};
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
    ASSERT_EQ(s["containers"].size(), 1u);
    const auto &c = s["containers"][0];
    EXPECT_EQ(c["image"], "owx/runtime-nodejs:20");
    EXPECT_FALSE(c.contains("command"));  // the image's entrypoint: ow-sidecar
    std::vector<std::string> args = c["args"];
    EXPECT_EQ(args, (std::vector<std::string>{
                        "--listen", "$(POD_IP):8080", "--redis", "redis.owx:6379", "--container-id",
                        "0a1b2c", "--action", "guest/hello", "--termination-log",
                        "/dev/termination-log", "--api-host", "http://gw", "--runtime-netns",
                        "off", "--", "node",
                        "/app/proxy.js", "--port", "{port}"}));
    EXPECT_EQ(c["env"][0]["name"], "POD_IP");
    EXPECT_EQ(c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP");
    EXPECT_EQ(c["env"][1]["value"], "--max-old-space-size=256");
    EXPECT_EQ(c["resources"]["requests"]["memory"], "384Mi");  // + headroom for the sidecar
    EXPECT_EQ(c["resources"]["limits"]["memory"], "384Mi");
    EXPECT_EQ(c["resources"]["requests"]["cpu"], "250m");
    EXPECT_FALSE(c["resources"]["limits"].contains("cpu"));
    EXPECT_EQ(c["readinessProbe"]["httpGet"]["port"], 8080);
    EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/health?probe=readiness");
    EXPECT_EQ(c["terminationMessagePath"], "/dev/termination-log");
    EXPECT_EQ(c["ports"][0]["containerPort"], 8080);
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
    EXPECT_EQ(s["securityContext"],
              nlohmann::json({{"runAsNonRoot", true},
                              {"runAsUser", 10001},
                              {"runAsGroup", 10001},
                              {"fsGroup", 10001},
                              {"seccompProfile", {{"type", "RuntimeDefault"}}}}));
    const auto &c = s["containers"][0];
    EXPECT_EQ(c["securityContext"]["runAsNonRoot"], true);
    EXPECT_EQ(c["securityContext"]["allowPrivilegeEscalation"], false);
    EXPECT_EQ(c["securityContext"]["readOnlyRootFilesystem"], true);
    EXPECT_EQ(c["securityContext"]["capabilities"]["drop"], nlohmann::json::array({"ALL"}));
    EXPECT_EQ(c["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    // a read-only root: /tmp is the one writable place; no Secret, no flags
    EXPECT_EQ(s["volumes"], nlohmann::json::parse(R"([{"name":"tmp","emptyDir":{}}])"));
    EXPECT_EQ(c["volumeMounts"], nlohmann::json::parse(R"([{"name":"tmp","mountPath":"/tmp"}])"));
    std::vector<std::string> args = c["args"];
    for (const auto &a : args) EXPECT_EQ(a.find("--redis-credentials"), std::string::npos) << a;

    opts.sidecar_secret = "owx-sidecar";
    opts.run_as_user = 2000;
    KubeBackend with_secret(io, client, opts);
    ASSERT_TRUE(with_secret.pod_manifest(spec, &p, &err)) << err;
    EXPECT_EQ(p["spec"]["securityContext"]["runAsUser"], 2000);
    EXPECT_EQ(p["spec"]["securityContext"]["fsGroup"], 2000);
    EXPECT_EQ(p["spec"]["volumes"][1],
              nlohmann::json::parse(R"({"name":"secrets","secret":{"secretName":"owx-sidecar",
                                        "defaultMode":288}})"));
    const auto &c2 = p["spec"]["containers"][0];
    EXPECT_EQ(c2["volumeMounts"][1], nlohmann::json::parse(
                                         R"({"name":"secrets","mountPath":"/var/run/owx/secrets",
                                             "readOnly":true})"));
    // the paths of the three files, before the runtime command; never content
    args = c2["args"].get<std::vector<std::string>>();
    auto dash = std::find(args.begin(), args.end(), "--");
    std::vector<std::string> before(args.begin(), dash);
    std::vector<std::string> tail = {"--redis-credentials", "/var/run/owx/secrets/redis-sidecar",
                                     "--token-file", "/var/run/owx/secrets/internal-token",
                                     "--metrics-token-file",
                                     "/var/run/owx/secrets/sidecar-metrics-token"};
    ASSERT_GE(before.size(), tail.size());
    EXPECT_EQ(std::vector<std::string>(before.end() - tail.size(), before.end()), tail);
    EXPECT_EQ(c2["env"].size(), 2u);  // POD_IP, NODE_OPTIONS: nothing secret
}

TEST_F(Fixture, StemcellsCommandsGpusAndUnknownKinds) {
    spec.kind = "python:3.11";
    spec.family = "python";
    spec.action = "";
    spec.stemcell_ms = 600000;
    spec.gpu = 1;
    nlohmann::json p;
    std::string err;
    ASSERT_TRUE(backend->pod_manifest(spec, &p, &err));
    const auto &c = p["spec"]["containers"][0];
    EXPECT_EQ(c["command"][0], "/usr/local/bin/ow-sidecar");
    std::vector<std::string> args = c["args"];
    EXPECT_EQ(args[6], "--stemcell");
    EXPECT_EQ(args[7], "600000ms");
    EXPECT_EQ(args.back(), "{port}");  // the kind's own command (no args in the image file)
    EXPECT_EQ(args[args.size() - 4], "/usr/bin/node");
    EXPECT_FALSE(p["metadata"]["annotations"].contains("owx.dev/action"));
    EXPECT_EQ(c["resources"]["limits"]["nvidia.com/gpu"], "1");
    EXPECT_EQ(c["resources"]["requests"]["nvidia.com/gpu"], "1");
    spec.kind = "go:1.21";
    EXPECT_FALSE(backend->pod_manifest(spec, &p, &err));
    EXPECT_NE(err.find("go:1.21"), std::string::npos);
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
    EXPECT_EQ(got[0].addr, "10.1.2.3:8080");
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
        R"({"nodejs:20":{"image":"r/node:20","args":["node","/p.js","--port","{port}"]},
            "python:3.11":{"image":"r/py","command":["/bin/ow-sidecar"]}})",
        &m, &err))
        << err;
    EXPECT_EQ(m["nodejs:20"].args.size(), 4u);
    EXPECT_EQ(m["python:3.11"].command[0], "/bin/ow-sidecar");
    EXPECT_FALSE(parse_kube_images(R"({"x":{"args":[]}})", &m, &err));
    EXPECT_FALSE(parse_kube_images(R"({"x":{"image":"i","args":[1]}})", &m, &err));
    EXPECT_FALSE(parse_kube_images("[]", &m, &err));
}

}  // namespace
}  // namespace ow::pm::test
