"""test_kube_backend.py: the pool-manager's Kubernetes backend end to end, black-box.

The API simulator (t/kube: API server + scheduler + simulated kubelets on 3 nodes, bearer token
required) stands in for the cluster; the pool-manager replicas (2, leadership through a
coordination.k8s.io/v1 Lease) reach it through the kubeconfig the simulator writes; the real
gateway (nginx + our modules) and Redis serve the invokes; every action pod is a real ow-sidecar
+ runtime process pair that the simulated kubelet runs on its own 127.0.0.x address.

Cold start and warm traffic, collection, a node drain (cordon), a pod killed behind the backend's
back, API server errors (429 with Retry-After, 500), watch expiry (410 → relist), leader failover
via the Lease, and RBAC: every call the backend made is one pool-manager/kube_api_calls.json
lists (what the chart's Role grants). Waits are readiness waits with deadlines."""

import base64
import concurrent.futures
import json
import os
import signal
import time

import pytest
import requests

from conftest import Api
from kube import Simulator
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

# a Node.js action answering with its runtime's pid: the same pid = the same pod
CODE = "function main(p) { return {name: p.name, pid: process.pid}; }"
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
    def __init__(self, sim, stack):
        self.sim = sim
        self.stack = stack
        self.api = Api(stack)
        self.k = requests.Session()
        self.k.headers["Authorization"] = "Bearer " + TOKEN
        # marks the test's own API calls (kubectl's ?pretty=true; the backend never sends it),
        # so the RBAC check looks at the backend's calls only
        self.k.params = {"pretty": "true"}
        self.redis = stack.redis()

    # ---- the cluster, as kubectl sees it
    def kget(self, path, **kw):
        kw.setdefault("timeout", 10)
        return self.k.get(self.sim.url + path, **kw)

    def pods(self):
        r = self.kget(PODS, params={"labelSelector": SELECTOR})
        assert r.status_code == 200, r.text
        return r.json()["items"]

    def pod_of(self, cid):
        r = self.kget(PODS + "/owx-" + cid)
        return r.json() if r.status_code == 200 else None

    def hook(self, path, body=None, method="POST"):
        r = requests.request(method, self.sim.url + "/_sim/" + path, json=body or {}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def requests_seen(self, since=0):
        """The API requests the simulator served (its log keeps the last 10000: plenty for
        this module), from index since on."""
        return requests.get(self.sim.url + "/_sim/requests",
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
        assert r.status_code == 200, (name, r.status_code, r.text)
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


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("owx-kube")
    let_workers_in(home)
    kubeconfig = str(home / "kubeconfig")
    sim = Simulator(nodes=NODES, token=TOKEN,
                    extra=["--kubeconfig", kubeconfig, "--bookmark-interval", "1"])
    sim.start()
    stack = Stack(str(home), port=0, redis_port=0, pool_port=0, pool_replicas=2)
    try:
        stack.start_redis()
        stack.provision()
        stack.write_runtimes()
        if stack.binary("pool-manager") is None or stack.binary("sidecar") is None:
            pytest.skip("ow-pool-manager / ow-sidecar not built (OWX_BUILD)")
        # the pods' image = the runtime layered on the sidecar image, whose entrypoint is the
        # sidecar: here the sidecar binary as the command (the simulated kubelet has no images);
        # the runtime command after "--" defaults to the kind's from --runtimes
        with open(stack.runtimes_exec) as f:
            kinds = json.load(f)
        images = {k: {"image": "owx/runtime-" + k.replace(":", "-"),
                      "command": [stack.binary("sidecar")]}
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
        r = requests.post(sim.url + "/api/v1/namespaces/%s/secrets" % NS, params={"pretty": "true"},
                          headers={"Authorization": "Bearer " + TOKEN}, timeout=10,
                          json={"metadata": {"name": SIDECAR_SECRET}, "data": data})
        assert r.status_code == 201, r.text
        stack.pool_args = [
            "--backend", "kubernetes", "--kubeconfig", kubeconfig, "--kube-images", ipath,
            "--kube-sidecar-secret", SIDECAR_SECRET,
            "--stemcells", "",
            # collection within seconds of the last invoke
            "--idle-timeout", "2s", "--gc-grace", "1s", "--gc-interval", "500ms",
            "--gc-min-warm", "0",
            "--lease", "%ds" % LEASE_S, "--lease-renew", "250ms",
            "--health-interval", "200ms", "--kube-watch-timeout", "30s"]
        assert stack.start_pool_manager()
        stack.start_nginx()
        yield Env(sim, stack)
        problems = stack.error_log_problems()
        assert problems == [], "nginx error log:\n" + "".join(problems)
    finally:
        stack.stop()
        sim.stop()


def test_cold_start_then_warm_traffic(env):
    env.put("hello")
    cold = env.invoke("hello", "cold")
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
    # its credentials come from the Secret, mounted (never on its command line)
    assert {"name": "secrets", "secret": {"secretName": SIDECAR_SECRET, "defaultMode": 0o440}} in \
        pod["spec"]["volumes"], pod["spec"]["volumes"]
    # the pool-manager's view: the pod's container, warm, at the pod's address, on its node
    cs = {c["id"]: c for c in env.containers()}
    assert cid in cs, cs
    assert cs[cid]["addr"] == pod["status"]["podIP"] + ":8080", (cs[cid], pod["status"])
    assert cs[cid]["node"] == pod["spec"]["nodeName"]
    assert cs[cid]["action"] == "guest/hello"
    assert cs[cid]["state"] == "warm", cs[cid]
    # the action ran in the pod: its runtime is the child of the process the kubelet
    # started for the pod's container (the sidecar, the image's entrypoint)
    state = requests.get(env.sim.url + "/_sim/state", timeout=10).json()
    sidecar_pid = state["pods"]["%s/%s" % (NS, meta["name"])]["containers"]["action"]
    assert parent_pid(cold["pid"]) == sidecar_pid, (cold, state)
    # warm traffic: the same pod (the same runtime process), no new pod
    warm = env.invoke("hello", "warm")
    assert warm["pid"] == cold["pid"], (cold, warm)
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
    r = env.k.patch(env.sim.url + "/api/v1/nodes/" + drained,
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
        env.k.patch(env.sim.url + "/api/v1/nodes/" + drained,
                    data=json.dumps({"spec": {"unschedulable": False}}),
                    headers={"Content-Type": "application/merge-patch+json"}, timeout=10)
    wait_for("the uncordoned node back in placement",
             lambda: drained in node_capacities(env.stack, leader), timeout=10)


def kill_and_check_dropped(env, name):
    """Kill the action's pod behind the API's back; the pool and the warm table drop it."""
    (pod,) = env.action_pods(name)
    cid = pod["metadata"]["labels"]["owx.dev/container"]
    env.hook("kill", {"namespace": NS, "name": pod["metadata"]["name"], "signal": "KILL"})
    wait_for("the pool to drop the killed pod",
             lambda: cid not in {c["id"] for c in env.containers()}, timeout=5)
    wait_for("the warm table to drop it", lambda: cid not in env.redis.hgetall("owx:{warm}"),
             timeout=5)
    return pod


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
        os.kill(leader_pid, signal.SIGKILL)
        killed = time.monotonic()
        results = [f.result() for f in futures]
    for j, status, text in results:
        assert status == 200, (j, status, text)
        assert json.loads(text)["name"] == str(j), text
    wait_for("the standby to lead", lambda: (health(standby) or {}).get("leader"), timeout=15)
    # the lease runs out, the standby's next round (250 ms) takes it, then it reconciles
    assert time.monotonic() - killed < LEASE_S + 0.25 + 5
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


def test_sigterm_releases_the_lease_for_an_immediate_takeover(env):
    # (after the previous test one replica is dead: start it again as the standby)
    leader = wait_for("a leader", env.leader, timeout=15)
    i = env.stack.pool_addrs.index(leader)
    standby = env.stack.pool_addrs[1 - i]
    if health(standby) is None:
        env.stack.start_pool_replica(1 - i)
        wait_for("the standby to answer", lambda: health(standby) is not None, timeout=15)
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


def test_every_api_call_is_one_rbac_grants(env):
    with open(os.path.join(ROOT, "pool-manager", "kube_api_calls.json")) as f:
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
