"""test_kube_backend.py: the pool-manager's Kubernetes backend end to end, black-box, against
two clusters (one parametrised suite):
- "sim": the API simulator (t/kube: API server + scheduler + simulated kubelets on 3 nodes, bearer
  token required), which also injects faults (API errors, watch expiry) and logs every call;
- "real": a real Kubernetes v1.21 control plane (../shared/k8s: etcd, kube-apiserver,
  controller-manager, kube-scheduler; skipped where it is not there) with the kubelet stand-in
  (t/kube/standin.py: the simulator's pod workers, registering the 3 nodes and running the pods
  bound to them). The pool-manager authenticates as the chart's ServiceAccount with exactly the
  chart's RBAC (rendered from helm/owx and applied), so the API server itself refuses any call
  the chart does not grant.

On either, the pool-manager replicas (2, leadership through a
coordination.k8s.io/v1 Lease) reach it through the kubeconfig the simulator writes; the real
gateway (nginx + our modules) and Redis serve the invokes; every action pod is two containers that
the simulated kubelet runs as processes sharing the pod's own 127.0.0.x address (its network
namespace): the real ow-sidecar, and the runtime (runtimes/nodejs listening on the pod's port 8080,
as an OpenWhisk runtime image does) behind the wrapper shell that sends its output into the
sidecar's FIFOs in the pod's shared emptyDir. The runtime is no child of the sidecar: the sidecar
speaks /init and /run to it over TCP.

Cold start and warm traffic, collection, a node drain (cordon), a pod killed behind the backend's
back, leader failover via the Lease, on both; on the simulator, API server errors (429 with
Retry-After, 500), watch expiry (410 → relist), and RBAC (every call the backend made is one
pool-manager/backends/kube/kube_api_calls.json lists: what the chart's Role grants); on the real one, the API
server restarted mid-traffic and an 8 s outage (the leader gives up its term at the renew
deadline saying so, a standby takes over, nothing leaks). Waits are readiness waits with
deadlines."""

import base64
import concurrent.futures
import json
import os
import signal
import time

import subprocess

import pytest
import requests
import yaml

from conftest import Api
from kube import Simulator, Standin
from owx import admin
from owx.stack import Stack, let_workers_in

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "e2e-token-7f3a"
NODES = "node-1:cpu=4,memory=8Gi;node-2:cpu=4,memory=8Gi;node-3:cpu=4,memory=8Gi"
NS = "default"  # the kubeconfig's namespace (the simulator writes "default")
SELECTOR = "app.kubernetes.io/managed-by=owx-pool-manager"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/%s/leases/owx-pool-manager" % NS
PODS = "/api/v1/namespaces/%s/pods" % NS
SIDECAR_SECRET = "owx-sidecar"
# the action pods' own metrics token (the chart's sidecar-metrics-token): not the gateway's
SIDECAR_METRICS_TOKEN = "sidecar-metrics-" + "5" * 32
LEASE_S = 2  # --lease: a killed leader is replaced within this (+ one renew period)

# a Node.js action answering with its runtime's pid (the same pid = the same pod) and printing a
# line on each stream, which the sidecar collects through the FIFOs
CODE = """function main(p) {
  console.log("out " + p.name); console.error("err " + p.name);
  return {name: p.name, pid: process.pid};
}"""
SIDECAR_IMAGE = "owx/sidecar:test"
# where the sidecar reaches the runtime: the simulator's pods share the host's loopback, so the
# runtime listens on the pod's own address (on Kubernetes: 127.0.0.1:8080, the pod's loopback)
RUNTIME_ADDRESS = "$(POD_IP):8080"
# slow enough to init that the leader can be killed while starts are under way
SLOW_INIT = """
const until = Date.now() + 300; while (Date.now() < until) {}
function main(p) { return {name: p.name, pid: process.pid} }
"""


def wait_for(what, fn, timeout=20.0, detail=None):
    """Poll fn() until true; fail after timeout seconds (with detail(), if given)."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.monotonic() < end, "timed out waiting for " + what + (
            ": %s" % (detail(),) if detail else "")
        time.sleep(0.05)


class Env:
    def __init__(self, cluster, stack, base, k, kubelets, cp=None):
        self.cluster = cluster  # "sim" or "real"
        self.stack = stack
        self.base = base  # the API server's URL
        self.k = k  # a requests session authenticated as the cluster's admin
        self.kubelets = kubelets  # the kubelets' test hooks (/_sim/kill, /_sim/state)
        self.cp = cp  # the real control plane (ControlPlane), or None
        self.api = Api(stack)
        self.redis = stack.redis()

    def only_on(self, cluster, why):
        if self.cluster != cluster:
            pytest.skip(why)

    # ---- the cluster, as kubectl sees it
    def kget(self, path, **kw):
        kw.setdefault("timeout", 10)
        return self.k.get(self.base + path, **kw)

    def pods(self):
        r = self.kget(PODS, params={"labelSelector": SELECTOR})
        assert r.status_code == 200, r.text
        return r.json()["items"]

    def pod_phases(self):
        """What the cluster says of each owx pod (a failed call's context)."""
        try:
            return {p["metadata"]["name"]: (p["spec"].get("nodeName"), p["status"].get("phase"),
                                            bool(p["metadata"].get("deletionTimestamp")))
                    for p in self.pods()}
        except (AssertionError, requests.RequestException, ValueError, KeyError) as e:
            return repr(e)

    def pod_of(self, cid):
        r = self.kget(PODS + "/owx-" + cid)
        return r.json() if r.status_code == 200 else None

    def hook(self, path, body=None, method="POST"):
        """The kubelets' hooks (kill, state: both clusters) or the simulator's (faults, ...)."""
        r = requests.request(method, self.kubelets + "/_sim/" + path, json=body or {}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def requests_seen(self, since=0):
        """The API requests the simulator served (its log keeps the last 10000: plenty for
        this module), from index since on."""
        assert self.cluster == "sim"
        return requests.get(self.base + "/_sim/requests",
                            timeout=10).json()["requests"][since:]

    # ---- the pool-manager
    def leader(self):
        """Address of the replica that leads (and has reconciled), or None."""
        for addr in self.stack.pool_addrs:
            h = health(addr)
            if h and h.get("leader"):
                return addr
        return None

    def containers(self, addr=None):
        addr = addr or self.leader() or self.stack.pool_addr
        r = requests.get("http://%s/v1/containers" % addr, headers=self.stack.internal_headers,
                         timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["containers"]

    # ---- the user
    def put(self, name, code=CODE):
        r = self.api.put("_/actions/%s?overwrite=true" % name,
                         {"exec": {"kind": "nodejs:default", "code": code}})
        assert r.status_code == 200, r.text

    def invoke(self, name, arg="x", timeout=90):
        r = self.api.post("_/actions/%s?blocking=true&result=true" % name, {"name": arg},
                          timeout=timeout)
        assert r.status_code == 200, (name, r.status_code, r.text, self.pod_phases())
        body = r.json()
        assert body["name"] == arg, body
        return body

    def action_pods(self, name):
        return [p for p in self.pods()
                if p["metadata"].get("annotations", {}).get("owx.dev/action") == "guest/" + name]


def health(addr):
    try:
        return requests.get("http://%s/health" % addr, timeout=2).json()
    except requests.RequestException:
        return None


def parent_pid(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod.get("status", {}).get("conditions", []))


def sim_cluster(home):
    """The simulator: (base URL, admin session, hooks URL, kubeconfig, stop)."""
    kubeconfig = str(home / "kubeconfig")
    sim = Simulator(nodes=NODES, token=TOKEN,
                    extra=["--kubeconfig", kubeconfig, "--bookmark-interval", "1"])
    sim.start()
    k = requests.Session()
    k.headers["Authorization"] = "Bearer " + TOKEN
    return sim.url, k, sim.url, kubeconfig, sim.stop


def real_cluster(home, cp):
    """The real control plane with the kubelet stand-in; the pool-manager's kubeconfig is the
    chart's ServiceAccount (its token), bound to the chart's Role and ClusterRole."""
    standin = Standin(cp.kubeconfig, NODES, workdir=str(home / "kubelet"))
    standin.start()
    k = requests.Session()
    k.trust_env = False  # no REQUESTS_CA_BUNDLE in place of the cluster's CA
    k.verify = os.path.join(cp.dir, "pki", "ca.crt")
    k.cert = (os.path.join(cp.dir, "pki", "admin.crt"), os.path.join(cp.dir, "pki", "admin.key"))
    try:
        render = os.path.join(os.environ.get("OWX_BUILD", os.path.join(ROOT, "build")),
                              "helm-render")
        rbac = subprocess.run([render, "--name", "owx", "--namespace", NS, "--show-only",
                               "templates/rbac.yaml", os.path.join(ROOT, "helm", "owx")],
                              capture_output=True, text=True, timeout=60, check=True).stdout
        cp.kubectl("apply", "-n", NS, "-f", "-", input=rbac)
        sa = next(d["metadata"]["name"] for d in yaml.safe_load_all(rbac)
                  if d and d["kind"] == "ServiceAccount")

        def token():  # the token controller's Secret for the ServiceAccount (v1.21)
            r = k.get(cp.url + "/api/v1/namespaces/%s/serviceaccounts/%s" % (NS, sa), timeout=10)
            for ref in (r.json().get("secrets") or []) if r.status_code == 200 else []:
                sec = k.get(cp.url + "/api/v1/namespaces/%s/secrets/%s" % (NS, ref["name"]),
                            timeout=10).json()
                if (sec.get("data") or {}).get("token"):
                    return base64.b64decode(sec["data"]["token"]).decode()
            return None
        sa_token = wait_for("the ServiceAccount's token", token, timeout=30)
        kubeconfig = str(home / "kubeconfig")
        with open(kubeconfig, "w") as f:
            yaml.safe_dump({
                "apiVersion": "v1", "kind": "Config", "current-context": "owx",
                "clusters": [{"name": "real", "cluster": {"server": cp.url,
                                                          "certificate-authority": k.verify}}],
                "users": [{"name": sa, "user": {"token": sa_token}}],
                "contexts": [{"name": "owx", "context": {"cluster": "real", "user": sa,
                                                         "namespace": NS}}]}, f)
    except BaseException:
        standin.stop()
        raise

    def stop():
        # what the pool-manager left (a killed leader's starts): gone before the nodes are
        try:
            r = k.delete(cp.url + PODS, params={"labelSelector": SELECTOR}, timeout=30,
                         json={"kind": "DeleteOptions", "apiVersion": "v1",
                               "gracePeriodSeconds": 0})
            assert r.status_code == 200, r.text
            wait_for("the action pods to go", lambda: not k.get(
                cp.url + PODS, params={"labelSelector": SELECTOR}, timeout=10).json()["items"],
                timeout=30)
        finally:
            standin.stop()
    return cp.url, k, standin.url, kubeconfig, stop


@pytest.fixture(scope="module", params=["sim", "real"])
def env(tmp_path_factory, request):
    cp = request.getfixturevalue("control_plane") if request.param == "real" else None
    home = tmp_path_factory.mktemp("owx-kube")
    let_workers_in(home)
    base, k, kubelets, kubeconfig, stop_cluster = (
        real_cluster(home, cp) if cp else sim_cluster(home))
    if cp is None:
        # the test's own calls (see Env). Not on the real one: that build of kube-apiserver
        # (v1.21 built with Go 1.19) crashes encoding a ?pretty=true answer (reflect2 v1.0.1's
        # map iteration, fixed in v1.0.2)
        k.params = {"pretty": "true"}
    stack = Stack(str(home), port=0, redis_port=0, pool_port=0, pool_replicas=2)
    try:
        stack.start_redis()
        stack.provision()
        # the module invokes more than guest's default 60 a minute (the outage test's warm
        # traffic alone, on a fast machine)
        assert admin.main(stack.admin_args() + ["limits", "set", "guest",
                                                "--invocationsPerMinute", "100000"]) == 0
        stack.write_runtimes()
        if stack.binary("pool-manager") is None or stack.binary("sidecar") is None:
            pytest.skip("ow-pool-manager / ow-sidecar not built (OWX_BUILD)")
        # the runtime container of each kind: the simulated kubelet has no images, so its
        # "entrypoint" is the kind's local command, listening on the pod's address and port 8080
        # as an OpenWhisk runtime image listens on 8080 (the chart's values name the image's own)
        with open(stack.runtimes_exec) as f:
            kinds = json.load(f)
        images = {k: {"image": "owx/runtime-" + k.replace(":", "-"),
                      "command": [("8080" if a == "{port}" else a) for a in v["command"]] +
                                 ["--host", "$(POD_IP)"]}
                  for k, v in kinds.items() if "command" in v}
        ipath = str(home / "kube-images.json")
        with open(ipath, "w") as f:
            json.dump(images, f)
        # the action pods' credentials, as the chart makes them: a Secret with the sidecar's Redis
        # user, the internal token and the pods' metrics token, mounted into each pod
        # (--kube-sidecar-secret)
        data = {"sidecar-metrics-token": base64.b64encode(
            (SIDECAR_METRICS_TOKEN + "\n").encode()).decode()}
        for name in ("redis-sidecar", "internal-token"):
            with open(stack.secret(name), "rb") as f:
                data[name] = base64.b64encode(f.read()).decode()
        secrets = base + "/api/v1/namespaces/%s/secrets" % NS
        k.delete(secrets + "/" + SIDECAR_SECRET, timeout=10)  # an earlier module's
        r = k.post(secrets, timeout=10,
                   json={"metadata": {"name": SIDECAR_SECRET}, "data": data})
        assert r.status_code == 201, r.text
        stack.pool_args = [
            "--backend", "kubernetes", "--kubeconfig", kubeconfig, "--kube-images", ipath,
            "--kube-sidecar-secret", SIDECAR_SECRET,
            # the sidecar container: its image, and (no images here) the binary as its command
            "--kube-sidecar-image", SIDECAR_IMAGE, "--kube-sidecar-command", stack.binary("sidecar"),
            "--kube-runtime-address", RUNTIME_ADDRESS,
            "--stemcells", "",
            # collection within seconds of the last invoke
            "--idle-timeout", "2s", "--gc-grace", "1s", "--gc-interval", "500ms",
            "--gc-min-warm", "0",
            # no relocations: a pod a test watches must stay the action's only one
            "--gc-relocate", "0",
            "--lease", "%ds" % LEASE_S, "--lease-renew", "250ms",
            "--health-interval", "200ms", "--kube-watch-timeout", "30s"]
        assert stack.start_pool_manager()
        stack.start_nginx()
        yield Env(request.param, stack, base, k, kubelets, cp)
        problems = stack.error_log_problems()
        assert problems == [], "nginx error log:\n" + "".join(problems)
    finally:
        stack.stop()
        stop_cluster()


def log_texts(record):
    """An activation record's log lines without their time stamps: "stdout: text"."""
    return [line.split(" ", 1)[1].strip() for line in record["logs"]]


def test_cold_start_then_warm_traffic(env):
    env.put("hello")
    # blocking without result=true: the whole record, its logs with it
    r = env.api.post("_/actions/hello?blocking=true", {"name": "cold"}, timeout=90)
    assert r.status_code == 200, r.text
    record = r.json()
    cold = record["response"]["result"]
    assert cold["name"] == "cold", record
    # the runtime's own output, collected by the sidecar from another container
    assert log_texts(record) == ["stdout: out cold", "stderr: err cold"], record["logs"]
    assert any(a["key"] == "initTime" for a in record["annotations"]), record["annotations"]
    pods = env.action_pods("hello")
    assert len(pods) == 1, pods
    pod = pods[0]
    meta = pod["metadata"]
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "owx-pool-manager"
    assert meta["labels"]["app.kubernetes.io/name"] == "owx-action"
    cid = meta["labels"]["owx.dev/container"]
    assert meta["name"] == "owx-" + cid
    assert meta["annotations"]["owx.dev/action"] == "guest/hello"
    assert pod["spec"]["nodeName"] in ("node-1", "node-2", "node-3")
    assert pod["status"]["phase"] == "Running" and ready(pod), pod["status"]
    # two containers: the sidecar from its own image, the runtime from the kind's
    spec = pod["spec"]
    containers = {c["name"]: c for c in spec["containers"]}
    assert sorted(containers) == ["runtime", "sidecar"], spec["containers"]
    sidecar, runtime = containers["sidecar"], containers["runtime"]
    assert sidecar["image"] == SIDECAR_IMAGE
    assert runtime["image"].startswith("owx/runtime-nodejs"), runtime
    assert {c["name"]: c["state"].keys() for c in pod["status"]["containerStatuses"]} == \
        {"sidecar": {"running"}, "runtime": {"running"}}, pod["status"]["containerStatuses"]
    # its credentials come from the Secret, mounted in the sidecar's container only (never on a
    # command line); the runtime runs as another uid, confined, with no token of the cluster's
    assert {"name": "secrets", "secret": {"secretName": SIDECAR_SECRET, "defaultMode": 0o440}} in \
        spec["volumes"], spec["volumes"]
    assert "secrets" in {m["name"] for m in sidecar["volumeMounts"]}
    assert {m["name"] for m in runtime["volumeMounts"]} == {"runtime-tmp", "runtime-logs"}
    assert spec["automountServiceAccountToken"] is False
    rsc = runtime["securityContext"]
    assert rsc["runAsUser"] != spec["securityContext"]["runAsUser"], (rsc, spec["securityContext"])
    assert rsc["runAsNonRoot"] is True and rsc["allowPrivilegeEscalation"] is False
    assert rsc["capabilities"] == {"drop": ["ALL"]} and rsc["seccompProfile"]["type"] == "RuntimeDefault"
    assert not any("secret" in e["name"].lower() or "token" in e["name"].lower()
                   for e in runtime["env"]), runtime["env"]
    assert runtime["resources"]["limits"]["memory"] == "256Mi", runtime["resources"]
    # the pool-manager's view: the pod's container, warm, at the pod's address (the sidecar's
    # port, not the runtime's 8080), on its node
    cs = {c["id"]: c for c in env.containers()}
    assert cid in cs, cs
    assert cs[cid]["addr"] == pod["status"]["podIP"] + ":8081", (cs[cid], pod["status"])
    assert cs[cid]["node"] == pod["spec"]["nodeName"]
    assert cs[cid]["action"] == "guest/hello"
    assert cs[cid]["state"] == "warm", cs[cid]
    # the action ran in the runtime's container: its process is the child of the one the kubelet
    # started for that container (the wrapper shell), not of the sidecar's
    state = requests.get(env.kubelets + "/_sim/state", timeout=10).json()
    procs = state["pods"]["%s/%s" % (NS, meta["name"])]["containers"]
    assert parent_pid(cold["pid"]) == procs["runtime"], (cold, state)
    assert procs["sidecar"] not in (cold["pid"], parent_pid(cold["pid"])), (cold, state)
    # warm traffic: the same pod (the same runtime process), no new pod, logs still collected
    r = env.api.post("_/actions/hello?blocking=true", {"name": "warm"}, timeout=90)
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["response"]["result"]["pid"] == cold["pid"], (cold, record)
    assert log_texts(record) == ["stdout: out warm", "stderr: err warm"], record["logs"]
    assert not any(a["key"] == "initTime" for a in record["annotations"])
    assert [p["metadata"]["name"] for p in env.action_pods("hello")] == [meta["name"]]
    # the pod's sidecar acts for the gateway and the pool-manager alone: without the
    # installation's token (an action in another pod has none) /invoke is refused and runs
    # nothing; with it, the same request runs the action
    invoke = "http://%s/invoke?blocking=true&result=true" % cs[cid]["addr"]
    context = {"X-OW-Namespace": "guest", "X-OW-Path": "guest/hello"}
    for token in ({}, {"X-OW-Token": "0" * 64}, {"X-OW-Token": ""}):
        r = requests.post(invoke, json={"name": "forged"}, headers=dict(context, **token),
                          timeout=10)
        assert r.status_code == 401, r.text
        assert "forged" not in r.text
    r = requests.post(invoke, json={"name": "gateway"},
                      headers=dict(context, **env.stack.internal_headers), timeout=10)
    assert r.status_code == 200 and r.json()["name"] == "gateway", r.text
    # its /metrics (this tenant's counters) wants the pods' own metrics token, which the
    # installation's (what opens the gateway's, every tenant's) is not
    metrics = "http://%s/metrics" % cs[cid]["addr"]
    for auth in ({}, env.stack.metrics_headers, {"Authorization": "Bearer " + "0" * 64}):
        assert requests.get(metrics, headers=auth, timeout=10).status_code == 401, auth
    r = requests.get(metrics, headers={"Authorization": "Bearer " + SIDECAR_METRICS_TOKEN},
                     timeout=10)
    assert r.status_code == 200 and "owx_sidecar_activations_total" in r.text, r.text


def test_an_idle_pod_is_collected_through_the_api(env):
    env.put("idle")
    env.invoke("idle")
    pods = env.action_pods("idle")
    assert len(pods) == 1
    name = pods[0]["metadata"]["name"]
    cid = pods[0]["metadata"]["labels"]["owx.dev/container"]
    assert cid in env.redis.hgetall("owx:{warm}")
    # idle 2 s + grace 1 s + GC rounds of 0.5 s (and the kubelet's graceful stop)
    wait_for("the idle pod to be deleted", lambda: env.pod_of(cid) is None, timeout=20)
    if env.cluster == "sim":  # deleted through the API, by name
        deletes = [q for q in env.requests_seen()
                   if q["method"] == "DELETE" and q["path"] == PODS + "/" + name]
        assert deletes and deletes[0]["status"] == 200, deletes
    wait_for("the warm table to drop it", lambda: cid not in env.redis.hgetall("owx:{warm}"),
             timeout=5)
    assert cid not in {c["id"] for c in env.containers()}


def node_capacities(stack, addr):
    """Nodes the leader's allocator places on (its node-size gauge)."""
    r = requests.get("http://%s/metrics" % addr, headers=stack.metrics_headers, timeout=5)
    assert r.status_code == 200, r.text
    text = r.text
    out = set()
    for line in text.splitlines():
        if line.startswith("owx_pool_manager_node_memory_mb{") and 'which="capacity"' in line:
            out.add(line.split('node="', 1)[1].split('"', 1)[0])
    return out


def test_a_cordoned_node_gets_no_new_pods(env):
    leader = env.leader()
    wait_for("the three nodes in the allocator",
             lambda: node_capacities(env.stack, leader) == {"node-1", "node-2", "node-3"},
             timeout=10)
    env.put("d0")
    env.invoke("d0")
    (pod,) = env.action_pods("d0")
    drained = pod["spec"]["nodeName"]
    r = env.k.patch(env.base + "/api/v1/nodes/" + drained,
                    data=json.dumps({"spec": {"unschedulable": True}}),
                    headers={"Content-Type": "application/merge-patch+json"}, timeout=10)
    assert r.status_code == 200 and r.json()["spec"]["unschedulable"] is True, r.text
    try:
        # the node watch takes it out of placement
        wait_for("the cordoned node to leave placement",
                 lambda: drained not in node_capacities(env.stack, leader), timeout=10)
        names = ["d%d" % i for i in range(1, 5)]
        for n in names:
            env.put(n)
        with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
            list(pool.map(env.invoke, names))
        placed = {n: [p["spec"].get("nodeName") for p in env.action_pods(n)] for n in names}
        for n, nodes in placed.items():
            assert nodes and drained not in nodes, (drained, placed)
    finally:
        env.k.patch(env.base + "/api/v1/nodes/" + drained,
                    data=json.dumps({"spec": {"unschedulable": False}}),
                    headers={"Content-Type": "application/merge-patch+json"}, timeout=10)
    wait_for("the uncordoned node back in placement",
             lambda: drained in node_capacities(env.stack, leader), timeout=10)


def test_action_pods_go_where_the_allocator_packs_them(env):
    """The allocator is the scheduler of action pods: it binds each to the node it chose
    (spec.nodeName at creation), packing them (most-allocated), where kube-scheduler's own
    least-allocated scoring would spread them over the three empty-ish nodes."""
    names = ["pack%d" % i for i in range(3)]
    for n in names:
        env.put(n)
        env.invoke(n)
    pods = [p for n in names for p in env.action_pods(n)]
    assert len(pods) == 3, pods
    pool = {c["id"]: c["node"] for c in env.containers()}
    for p in pods:
        assert p["spec"]["nodeName"] == pool[p["metadata"]["labels"]["owx.dev/container"]], p
    assert len({p["spec"]["nodeName"] for p in pods}) == 1, [p["spec"]["nodeName"] for p in pods]


def kill_and_check_dropped(env, name, timeout=5):
    """Kill the action's pod behind the API's back; the pool and the warm table drop it."""
    (pod,) = [p for p in env.action_pods(name) if not p["metadata"].get("deletionTimestamp")]
    cid = pod["metadata"]["labels"]["owx.dev/container"]
    env.hook("kill", {"namespace": NS, "name": pod["metadata"]["name"], "signal": "KILL"})
    wait_for("the pool to drop the killed pod",
             lambda: cid not in {c["id"] for c in env.containers()}, timeout=timeout)
    wait_for("the warm table to drop it", lambda: cid not in env.redis.hgetall("owx:{warm}"),
             timeout=timeout)
    return pod


# a run that takes a while, printing as it starts and as it ends
SLOW = """function main(p) {
  console.log("start " + p.name);
  return new Promise(r => setTimeout(() => {
    console.log("end " + p.name); r({name: p.name, pid: process.pid}); }, 1500));
}"""


def test_deleting_a_pod_drains_its_runs_before_the_runtime_stops(env):
    """The kubelet's SIGTERM reaches both containers' main processes at once: the sidecar drains,
    and the runtime's wrapper passes the signal on only once the sidecar has exited, so the run
    in flight finishes with its logs; then the pod goes at once, not at the end of its grace."""
    env.put("drained", SLOW)
    env.invoke("drained", "warmup")
    (pod,) = env.action_pods("drained")
    cid = pod["metadata"]["labels"]["owx.dev/container"]
    addr = {c["id"]: c for c in env.containers()}[cid]["addr"]
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(env.api.post, "_/actions/drained?blocking=true", {"name": "inflight"},
                        timeout=60)
        wait_for("the run in flight", lambda: (health(addr) or {}).get("inflight") == 1,
                 timeout=10)
        r = env.k.delete(env.base + PODS + "/" + pod["metadata"]["name"], timeout=10,
                         json={"kind": "DeleteOptions", "apiVersion": "v1",
                               "gracePeriodSeconds": 60})
        assert r.status_code == 200, r.text
        deleted = time.monotonic()
        res = fut.result()
    assert res.status_code == 200, res.text
    record = res.json()
    assert record["response"]["result"]["name"] == "inflight", record
    assert log_texts(record) == ["stdout: start inflight", "stdout: end inflight"], record["logs"]
    wait_for("the drained pod to go", lambda: env.pod_of(cid) is None, timeout=20)
    assert time.monotonic() - deleted < 30, "the runtime outlived its sidecar until the grace"


def test_a_runtime_container_that_dies_ends_its_pod(env):
    """restartPolicy Never: the runtime's container ending (OOM, a crash) ends the container as
    the pool knows it; the pod is deleted and the next invoke gets a new one."""
    env.put("fragile")
    before = env.invoke("fragile", "a")
    (pod,) = env.action_pods("fragile")
    cid = pod["metadata"]["labels"]["owx.dev/container"]
    env.hook("kill", {"namespace": NS, "name": pod["metadata"]["name"], "container": "runtime",
                      "signal": "KILL"})
    wait_for("the pool to drop the pod", lambda: cid not in {c["id"] for c in env.containers()},
             timeout=10)
    wait_for("the pod to be deleted", lambda: env.pod_of(cid) is None, timeout=20)
    after = env.invoke("fragile", "b")
    assert after["pid"] != before["pid"]


def test_a_pod_killed_behind_our_back_is_dropped_and_replaced(env):
    env.put("victim")
    before = env.invoke("victim", "a")
    old = kill_and_check_dropped(env, "victim")
    after = env.invoke("victim", "b")
    assert after["pid"] != before["pid"]
    news = [p for p in env.action_pods("victim")
            if p["metadata"]["name"] != old["metadata"]["name"]]
    assert len(news) == 1 and ready(news[0]), news


def test_api_server_errors_on_create_are_retried(env):
    env.only_on("sim", "API errors are injected by the simulator")
    env.put("flaky")
    mark = len(env.requests_seen())
    env.hook("faults", {"verb": "create", "resource": "pods", "code": 429, "count": 1,
                        "retryAfter": 1})
    env.hook("faults", {"verb": "create", "resource": "pods", "code": 500, "count": 1})
    try:
        t0 = time.monotonic()
        env.invoke("flaky")
        took = time.monotonic() - t0
    finally:
        env.hook("faults", method="DELETE")
    creates = [q["status"] for q in env.requests_seen(mark)
               if q.get("verb") == "create" and q.get("resource") == "pods"]
    assert creates[:3] == [429, 500, 201], creates
    # the 429's Retry-After (1 s) was honoured before the next attempt
    assert took >= 1.0, took
    assert len(env.action_pods("flaky")) == 1


def test_watch_expiry_relists_and_keeps_working(env):
    env.only_on("sim", "the simulator compacts and ends watches on demand (the real API server: "
                "test_an_api_server_restart_mid_traffic)")
    env.put("relist")
    env.invoke("relist", "a")
    mark = len(env.requests_seen())
    # The watch cache's history is compacted and the API server restarts (every watch ends).
    # Bookmarks keep the backend's resourceVersion current, so resuming from it may still be
    # served; the watches that resume are answered 410 Expired as when the backend's
    # resourceVersion is older than the kept history.
    env.hook("compact")
    for res in ("pods", "nodes"):
        env.hook("faults", {"verb": "watch", "resource": res, "code": 410, "count": 1})
    closed = env.hook("end-watches")["closed"]
    assert closed >= 2, closed  # at least the leader's pod and node watches

    # the backend lists again (nothing else makes it list)
    def relisted():
        lists = {q["resource"] for q in env.requests_seen(mark)
                 if q.get("verb") == "list" and q["status"] == 200 and
                 "pretty=true" not in q["query"]}
        return lists >= {"pods", "nodes"}
    wait_for("the pod and node watches to relist", relisted, timeout=10)
    kill_and_check_dropped(env, "relist")
    env.invoke("relist", "b")


def test_leader_failover_via_the_lease(env):
    lease = env.kget(LEASE)
    assert lease.status_code == 200, lease.text
    spec = lease.json()["spec"]
    leader = env.leader()
    assert leader is not None
    assert lease.json()["metadata"]["annotations"]["owx.dev/leader-addr"] == leader
    i = env.stack.pool_addrs.index(leader)
    standby = env.stack.pool_addrs[1 - i]
    assert spec["holderIdentity"], spec
    holder = spec["holderIdentity"]
    with open(env.stack.pool_pidfile(i)) as f:
        leader_pid = int(f.read())
    n = 6
    for j in range(n):
        env.put("storm%d" % j, SLOW_INIT)

    def invoke(j):
        r = env.api.post("_/actions/storm%d?blocking=true&result=true" % j, {"name": str(j)},
                         timeout=90)
        return j, r.status_code, r.text

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(invoke, j) for j in range(n)]
        wait_for("starts under way", lambda: any(
            c["state"] == "starting" for c in env.containers(leader)))
        standby_log = pool_logs(env)[1 - i]
        offset = os.path.getsize(standby_log)
        os.kill(leader_pid, signal.SIGKILL)
        killed = time.time()
        results = [f.result() for f in futures]
    for j, status, text in results:
        assert status == 200, (j, status, text)
        assert json.loads(text)["name"] == str(j), text
    wait_for("the standby to lead", lambda: (health(standby) or {}).get("leader"), timeout=15)
    # the lease runs out, the standby's next round (250 ms) takes it, then it reconciles:
    # timed by its log line (the test's own pace on a loaded machine does not count)
    serving = [e for e in log_events(standby_log, offset) if e.get("event") == "serving"]
    assert serving, log_events(standby_log, offset)
    assert serving[0]["ts"] / 1000.0 - killed < LEASE_S + 0.25 + 5, serving[0]
    new = env.kget(LEASE).json()
    assert new["spec"]["holderIdentity"] not in ("", holder), new["spec"]
    assert new["metadata"]["annotations"]["owx.dev/leader-addr"] == standby
    assert new["spec"].get("leaseTransitions", 0) > spec.get("leaseTransitions", 0)

    # no pod leaked: every owx pod in the cluster is one the new leader knows
    def pods_and_pool():
        pods = {p["metadata"]["labels"]["owx.dev/container"]: p["status"].get("phase")
                for p in env.pods() if not p["metadata"].get("deletionTimestamp")}
        return pods, {c["id"]: c["state"] for c in env.containers(standby)}
    wait_for("cluster pods == the new leader's pool",
             lambda: set(pods_and_pool()[0]) == set(pods_and_pool()[1]), timeout=20,
             detail=pods_and_pool)


def log_events(path, offset=0):
    """The JSON log lines of a pool-manager's log file from byte offset on."""
    with open(path, "rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def leader_and_standby(env):
    """The leader's address and index, and the standby's address (started again if an
    earlier test left that replica dead)."""
    leader = wait_for("a leader", env.leader, timeout=15)
    i = env.stack.pool_addrs.index(leader)
    standby = env.stack.pool_addrs[1 - i]
    if health(standby) is None:
        env.stack.start_pool_replica(1 - i)
        wait_for("the standby to answer", lambda: health(standby) is not None, timeout=15)
    return leader, i, standby


def test_sigterm_releases_the_lease_for_an_immediate_takeover(env):
    # (after the previous test one replica is dead: started again as the standby)
    leader, i, standby = leader_and_standby(env)
    assert health(standby)["leader"] is False
    before = env.kget(LEASE).json()["spec"]
    logs = [env.stack.path("pool-manager", "pool-manager.log" if k == 0
                           else "pool-manager-%d.log" % k) for k in (0, 1)]
    offsets = [os.path.getsize(p) for p in logs]
    with open(env.stack.pool_pidfile(i)) as f:
        leader_pid = int(f.read())
    proc = next(p for p in env.stack.procs if p.pid == leader_pid)
    os.kill(leader_pid, signal.SIGTERM)
    stopped_ms = time.time() * 1000
    wait_for("the standby to lead", lambda: (health(standby) or {}).get("leader"), timeout=15)
    # a clean stop, not a lost term
    assert proc.wait(timeout=15) == 0
    released = [e for e in log_events(logs[i], offsets[i]) if e.get("event") == "lease_released"]
    assert released, log_events(logs[i], offsets[i])
    # the standby's own log says when it took the Lease: at its next retry (250 ms), not
    # after the 2 s lease a killed leader leaves behind
    took = next(e["ts"] for e in log_events(logs[1 - i], offsets[1 - i])
                if e.get("event") == "lease_acquired")
    assert took - stopped_ms < LEASE_S * 1000 / 2, took - stopped_ms
    new = env.kget(LEASE).json()
    assert new["spec"]["holderIdentity"] not in ("", before["holderIdentity"]), new["spec"]
    assert new["spec"]["leaseDurationSeconds"] == LEASE_S, new["spec"]
    # the release kept leaseTransitions: the new term's fencing token is the next one
    assert new["spec"]["leaseTransitions"] == before.get("leaseTransitions", 0) + 1, new["spec"]
    assert new["metadata"]["annotations"]["owx.dev/leader-addr"] == standby
    # the stopped replica comes back as the standby
    env.stack.start_pool_replica(i)
    wait_for("the restarted replica to follow",
             lambda: (health(leader) or {}).get("leader") is False, timeout=15)


def pool_logs(env):
    return [env.stack.path("pool-manager", "pool-manager.log" if k == 0
                           else "pool-manager-%d.log" % k) for k in (0, 1)]


OUTAGE_S = 8


def test_an_api_server_outage_mid_traffic(env):
    """kube-apiserver stopped for 8 s under warm traffic, then started again: the warm path
    never needs it; the leader cannot renew its Lease and ends its term at the renew deadline,
    saying so (not that another replica holds the Lease), and exits as client-go's
    OnStoppedLeading does; once the API server is back the standby takes the Lease, adopts
    the pool, and every pod in the cluster is one it knows; its watches resumed (a pod killed
    behind its back is dropped) and cold starts work again."""
    env.only_on("real", "the real control plane's API server is stopped and started (the "
                "simulator's watch expiry: test_watch_expiry_relists_and_keeps_working)")
    leader, i, standby = leader_and_standby(env)
    env.put("outage")
    before = env.invoke("outage", "before")
    logs = pool_logs(env)
    offsets = [os.path.getsize(p) for p in logs]
    with open(env.stack.pool_pidfile(i)) as f:
        leader_pid = int(f.read())
    proc = next(p for p in env.stack.procs if p.pid == leader_pid)

    env.cp.stop_component("kube-apiserver")
    began = time.monotonic()
    try:
        # warm traffic: the gateway and the sidecar alone
        n = 0
        while time.monotonic() - began < OUTAGE_S:
            assert env.invoke("outage", "w%d" % n)["pid"] == before["pid"]
            n += 1
            time.sleep(0.2)
        lost = [e for e in log_events(logs[i], offsets[i]) if e.get("event") == "lost_leadership"]
        assert len(lost) == 1, log_events(logs[i], offsets[i])
        reason = lost[0]["reason"]
        assert reason.startswith("could not renew the lease within the renew deadline"), reason
        assert "another replica" not in reason
        assert proc.wait(timeout=10) != 0  # a lost term, not a clean stop
        assert health(standby)["leader"] is False  # nobody could take the Lease meanwhile
    finally:
        env.cp.up()
    wait_for("the standby to lead", lambda: (health(standby) or {}).get("leader"), timeout=30)
    took = [e for e in log_events(logs[1 - i], offsets[1 - i]) if e.get("event") == "lease_acquired"]
    assert took, log_events(logs[1 - i], offsets[1 - i])

    # nothing leaked: every owx pod in the cluster is one the new leader knows, and the other way
    def pods_and_pool():
        pods = {p["metadata"]["labels"]["owx.dev/container"]
                for p in env.pods() if not p["metadata"].get("deletionTimestamp")}
        return pods, {c["id"] for c in env.containers(standby)}
    wait_for("cluster pods == the new leader's pool",
             lambda: pods_and_pool()[0] == pods_and_pool()[1], timeout=20, detail=pods_and_pool)
    # (its container may have been collected meanwhile: idle past --idle-timeout while the API
    # server came back; then this is a cold start)
    after = env.invoke("outage", "after")
    # the watches are live again: a pod killed behind the backend's back is dropped, and its
    # replacement is a cold start through the API server
    kill_and_check_dropped(env, "outage", timeout=15)
    assert env.invoke("outage", "cold")["pid"] != after["pid"]
    # the replica that lost its term comes back as the standby
    env.stack.start_pool_replica(i)
    wait_for("the restarted replica to follow",
             lambda: (health(leader) or {}).get("leader") is False, timeout=15)


def test_every_api_call_is_one_rbac_grants(env):
    env.only_on("sim", "the real API server enforces the chart's RBAC itself: the pool-manager "
                "ran every other test as the chart's ServiceAccount")
    with open(os.path.join(ROOT, "pool-manager", "backends", "kube", "kube_api_calls.json")) as f:
        calls = json.load(f)
    granted = set()
    for scope in ("namespaced", "cluster"):
        for rule in calls[scope]:
            for verb in rule["verbs"]:
                granted.add((rule["apiGroup"], rule["resource"], verb, scope == "namespaced"))
    seen = {(q.get("apiGroup", ""), q.get("resource"), q.get("verb"), q.get("namespaced"))
            for q in env.requests_seen()
            if not q["path"].startswith("/_sim/") and "pretty=true" not in str(q.get("query"))}
    # the backend's whole life is there: pods made, watched and removed, nodes watched, the
    # Lease taken and renewed
    assert {("", "pods", "create", True), ("", "pods", "delete", True),
            ("", "pods", "list", True), ("", "pods", "watch", True),
            ("", "nodes", "list", False), ("", "nodes", "watch", False),
            ("coordination.k8s.io", "leases", "get", True),
            ("coordination.k8s.io", "leases", "update", True)} <= seen, sorted(seen, key=str)
    assert seen <= granted, sorted(seen - granted, key=str)
