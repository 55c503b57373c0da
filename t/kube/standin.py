"""standin.py: a kubelet stand-in for a real Kubernetes API server (../shared/k8s/control-plane).

No kubelet can run here (it refuses a loopback node address, and tests may only use loopback), so
this process does a kubelet's part of the job against the real kube-apiserver, with the simulator's
own pod workers (kubelet.py: processes on 127.0.x.y, status, probes, graceful deletion, restarts);
only the store they read and write is remote:

- registers each Node of --nodes (capacity = allocatable, InternalIP 127.0.0.1, Ready), removes the
  `node.kubernetes.io/not-ready` taint the API server's admission adds to a new node (no node
  lifecycle controller runs to do it), and heartbeats: the Ready condition's lastHeartbeatTime and a
  Lease in `kube-node-lease`, every --heartbeat seconds, as the kubelet does;
- lists and watches pods (all namespaces) and nodes, relisting after a 410 Expired or a lost
  connection (back-off 0.2 s doubling to 5 s), and runs the pods the real scheduler bound to its
  nodes (it schedules nothing itself);
- writes `pods/status` with the object's resourceVersion (a 409 Conflict re-reads and retries), and
  removes a pod whose containers have stopped with `gracePeriodSeconds: 0` and a uid precondition,
  as the kubelet's status manager does;
- on SIGTERM stops every process it started and deletes its Node objects and their Leases (so the
  next test module's cluster starts clean).

Test hooks, the simulator's: POST /_sim/kill {"namespace","name","container"?,"signal"?} and
GET /_sim/state on http://127.0.0.1:<port> (printed as "listening on <url>" once the nodes are Ready).

    /usr/bin/python3 -m t.kube.standin --kubeconfig DIR/admin.kubeconfig --nodes "n1:cpu=4,memory=8Gi"
"""

import argparse
import datetime
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
import yaml

from t.kube import apisim, kubelet

HEARTBEAT_S = 10.0
WATCH_S = 60  # timeoutSeconds of one watch request
BACKOFF_MIN, BACKOFF_MAX = 0.2, 5.0
HTTP_TIMEOUT = 10
WRITE_RETRY_S = 120  # a status write or a removal retried this long while the API is away


def _micro_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Client:
    """The API server, as the kubeconfig's first context reaches it (client certificate or token)."""

    def __init__(self, kubeconfig):
        with open(kubeconfig) as f:
            cfg = yaml.safe_load(f)
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == cfg["current-context"])
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        self.url = cluster["server"].rstrip("/")
        self.s = requests.Session()
        # no proxy, and no REQUESTS_CA_BUNDLE overriding the cluster's CA
        self.s.trust_env = False
        self.s.verify = cluster.get("certificate-authority", True)
        if "client-certificate" in user:
            self.s.cert = (user["client-certificate"], user["client-key"])
        if "token" in user:
            self.s.headers["Authorization"] = "Bearer " + user["token"]

    def request(self, method, path, **kw):
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.s.request(method, self.url + path, **kw)


def _path(rt, ns, name=None):
    base = "/api/v1/" + ("namespaces/%s/" % ns if rt.namespaced and ns else "") + rt.resource
    return base + ("/" + name if name else "")


class Event:
    def __init__(self, rt, obj):
        self.rt = rt
        self.obj = obj


class RemoteStore:
    """What kubelet.Cluster and PodWorker use of apisim.Store, over the API server: `objects`
    (pods and nodes, kept by the watches), `lock`, `listeners`, `peek`, `mutate`, `remove`."""

    def __init__(self, client):
        self.client = client
        self.lock = threading.RLock()
        self.objects = {"pods": {}, "nodes": {}}
        self.listeners = []

    def apply(self, rt, kind, obj):
        """A watch or list result: update the cache, wake the listeners."""
        md = obj["metadata"]
        key = (md.get("namespace"), md["name"])
        with self.lock:
            if kind == "DELETED":
                old = self.objects[rt.resource].get(key)
                if old is not None and old["metadata"]["uid"] == md["uid"]:
                    del self.objects[rt.resource][key]
            else:
                self.objects[rt.resource][key] = obj
            for fn in self.listeners:
                fn(Event(rt, obj))

    def replace(self, rt, items):
        """A relist: what is not listed any more is gone."""
        with self.lock:
            have = self.objects[rt.resource]
            listed = {(o["metadata"].get("namespace"), o["metadata"]["name"]) for o in items}
            for key in [k for k in have if k not in listed]:
                self.apply(rt, "DELETED", have[key])
            for o in items:
                self.apply(rt, "MODIFIED", o)

    def peek(self, rt, ns, name):
        if rt.resource in self.objects:
            return self.objects[rt.resource].get((ns, name))
        try:
            r = self.client.request("GET", _path(rt, ns, name))
        except requests.RequestException:
            return None
        return r.json() if r.status_code == 200 else None

    def mutate(self, rt, ns, name, fn, uid=None):
        """fn(copy) edits the object's status; written with its resourceVersion. Returns the new
        object, or None when it is gone (or is another object of that name now). While the API
        server cannot be reached it retries (back-off to 5 s, up to WRITE_RETRY_S): the pod's
        processes run on meanwhile, as under a kubelet whose API server is away."""
        with self.lock:
            old = self.objects[rt.resource].get((ns, name))
        end = time.monotonic() + WRITE_RETRY_S
        backoff = BACKOFF_MIN
        while True:
            new = apisim.edited(old, fn, uid)
            if new is None:
                return None
            if new == old:
                return old
            try:
                r = self.client.request("PUT", _path(rt, ns, name) + "/status", json=new)
                if r.status_code == 200:
                    obj = r.json()
                    with self.lock:  # the watch brings it too; the cache must not go back
                        cur = self.objects[rt.resource].get((ns, name))
                        if cur is None or int(cur["metadata"]["resourceVersion"]) < int(
                                obj["metadata"]["resourceVersion"]):
                            self.objects[rt.resource][(ns, name)] = obj
                    return obj
                if r.status_code == 404:
                    return None
                if r.status_code != 409:  # 409: another writer; re-read and apply fn again
                    print("standin: status of %s/%s: %d %s" % (ns, name, r.status_code,
                                                              r.text[:300]), flush=True)
                    raise requests.RequestException("status %d" % r.status_code)
                g = self.client.request("GET", _path(rt, ns, name))
                old = g.json() if g.status_code == 200 else None
                continue
            except requests.RequestException as e:
                if time.monotonic() > end:
                    print("standin: status of %s/%s not written: %r" % (ns, name, e), flush=True)
                    return old
            time.sleep(backoff)
            backoff = min(BACKOFF_MAX, backoff * 2)

    def remove(self, rt, ns, name, uid=None):
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}
        if uid:
            body["preconditions"] = {"uid": uid}
        end = time.monotonic() + WRITE_RETRY_S
        backoff = BACKOFF_MIN
        while True:
            try:
                r = self.client.request("DELETE", _path(rt, ns, name), json=body)
                return r.json() if r.status_code == 200 else None
            except requests.RequestException:
                if time.monotonic() > end:
                    return None
            time.sleep(backoff)
            backoff = min(BACKOFF_MAX, backoff * 2)


class Reflector(threading.Thread):
    """List, then watch from the list's resourceVersion; relist on 410 or a lost stream."""

    def __init__(self, store, rt, stopping):
        super().__init__(name="standin-watch-" + rt.resource, daemon=True)
        self.store, self.rt, self.stopping = store, rt, stopping
        self.synced = threading.Event()

    def run(self):
        backoff = BACKOFF_MIN
        while not self.stopping.is_set():
            try:
                rv = self._list()
                self.synced.set()
                backoff = BACKOFF_MIN
                while not self.stopping.is_set() and rv is not None:
                    rv = self._watch(rv)
            except (requests.RequestException, ValueError, KeyError) as e:
                print("standin: %s watch: %r" % (self.rt.resource, e), flush=True)
            self.stopping.wait(backoff)
            backoff = min(BACKOFF_MAX, backoff * 2)

    def _list(self):
        r = self.store.client.request("GET", "/api/v1/" + self.rt.resource)
        r.raise_for_status()
        body = r.json()
        self.store.replace(self.rt, body.get("items") or [])
        return body["metadata"]["resourceVersion"]

    def _watch(self, rv):
        """One watch request: the last resourceVersion seen, or None to relist."""
        r = self.store.client.request(
            "GET", "/api/v1/" + self.rt.resource, stream=True, timeout=(HTTP_TIMEOUT, WATCH_S + 15),
            params={"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                    "timeoutSeconds": str(WATCH_S)})
        with r:
            if r.status_code == 410:
                return None
            r.raise_for_status()
            for line in r.iter_lines():
                if self.stopping.is_set():
                    return None
                if not line:
                    continue
                ev = json.loads(line)
                obj = ev["object"]
                if ev["type"] == "ERROR":
                    return None  # 410 Expired (or another error): relist
                rv = obj["metadata"]["resourceVersion"]
                if ev["type"] != "BOOKMARK":
                    self.store.apply(self.rt, ev["type"], obj)
        return rv


class Nodes:
    """Registers the nodes, keeps them Ready and their Leases renewed; removes them at the end."""

    def __init__(self, client, specs, heartbeat, stopping):
        self.client, self.specs, self.heartbeat, self.stopping = client, specs, heartbeat, stopping
        self.thread = threading.Thread(target=self._loop, name="standin-heartbeat", daemon=True)

    def register(self):
        for spec in self.specs:
            obj = apisim.node_object(spec)
            obj["status"]["nodeInfo"]["kubeletVersion"] = "v1.21.2-owx-standin"
            obj["status"]["nodeInfo"]["containerRuntimeVersion"] = "owx-standin://1"
            r = self.client.request("POST", "/api/v1/nodes", json=obj)
            if r.status_code == 409:  # left by an earlier run: take it over
                cur = self.client.request("GET", "/api/v1/nodes/" + spec["name"]).json()
                obj["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
                r = self.client.request("PUT", "/api/v1/nodes/" + spec["name"], json=obj)
            if r.status_code not in (200, 201):
                raise RuntimeError("node %s: %d %s" % (spec["name"], r.status_code, r.text))
            # the admission's not-ready taint: what the node lifecycle controller would lift
            r = self.client.request(
                "PATCH", "/api/v1/nodes/" + spec["name"],
                headers={"Content-Type": "application/merge-patch+json"},
                json={"spec": {"taints": spec.get("taints") or None}})
            if r.status_code != 200:
                raise RuntimeError("node %s taints: %d %s" % (spec["name"], r.status_code, r.text))
            self._beat(spec["name"])
        self.thread.start()

    def _beat(self, name):
        now = apisim.now_time()
        patch = {"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady",
             "message": "kubelet is posting ready status", "lastHeartbeatTime": now}]}}
        self.client.request("PATCH", "/api/v1/nodes/%s/status" % name, json=patch,
                            headers={"Content-Type": "application/strategic-merge-patch+json"})
        lease = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + name
        r = self.client.request("GET", lease)
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                         "renewTime": _micro_now()}}
        if r.status_code == 200:
            body["metadata"]["resourceVersion"] = r.json()["metadata"]["resourceVersion"]
            self.client.request("PUT", lease, json=body)
        else:
            self.client.request("POST", lease.rsplit("/", 1)[0], json=body)

    def _loop(self):
        while not self.stopping.wait(self.heartbeat):
            for spec in self.specs:
                try:
                    self._beat(spec["name"])
                except requests.RequestException as e:  # the API server away: the next beat
                    print("standin: heartbeat of %s: %r" % (spec["name"], e), flush=True)

    def remove(self):
        for spec in self.specs:
            for path in ("/api/v1/nodes/" + spec["name"],
                         "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"
                         + spec["name"]):
                try:
                    self.client.request("DELETE", path)
                except requests.RequestException:
                    pass


def _hooks(cluster):
    class Hooks(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/_sim/state":
                return self._send(200, {"pods": cluster.state()})
            self._send(404, {"message": "no such hook"})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n) or b"{}") if n else {}
            if self.path == "/_sim/kill":
                try:
                    killed = cluster.kill(body.get("namespace", "default"), body.get("name", ""),
                                          body.get("container"), body.get("signal", "KILL"))
                except apisim.ApiError as e:
                    return self._send(400, {"message": str(e)})
                if killed is None:
                    return self._send(404, {"message": "no running pod"})
                return self._send(200, {"killed": killed})
            self._send(404, {"message": "no such hook"})
    return Hooks


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m t.kube.standin", description=__doc__.split("\n")[0])
    ap.add_argument("--kubeconfig", required=True, help="cluster-admin kubeconfig of the API server")
    ap.add_argument("--nodes", default="node-1:cpu=4,memory=8Gi", help="as t.kube.apisim's --nodes")
    ap.add_argument("--port", type=int, default=0, help="the test hooks' port on 127.0.0.1")
    ap.add_argument("--heartbeat", type=float, default=HEARTBEAT_S, help="seconds between heartbeats")
    ap.add_argument("--restart-backoff", type=float, default=10.0)
    ap.add_argument("--workdir", default=None, help="logs and volumes (default: a temp dir)")
    a = ap.parse_args(argv)

    client = Client(a.kubeconfig)
    specs = apisim.parse_nodes(a.nodes)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    store = RemoteStore(client)
    cluster = kubelet.Cluster(store, [s["name"] for s in specs], workdir=a.workdir,
                              restart_backoff=a.restart_backoff, schedule=False)
    nodes = Nodes(client, specs, a.heartbeat, stopping)
    reflectors = [Reflector(store, rt, stopping) for rt in (apisim.NODES, apisim.PODS)]
    httpd = ThreadingHTTPServer(("127.0.0.1", a.port), _hooks(cluster))
    httpd.daemon_threads = True
    serving = False
    try:
        nodes.register()
        for r in reflectors:
            r.start()
        for r in reflectors:
            if not r.synced.wait(30):
                raise RuntimeError("no %s list from the API server" % r.rt.resource)
        cluster.start()
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        serving = True
        print("listening on http://127.0.0.1:%d" % httpd.server_address[1], flush=True)
        while not stopping.wait(1.0):
            pass
    finally:
        stopping.set()
        if serving:
            httpd.shutdown()
        httpd.server_close()
        cluster.stop()
        nodes.remove()
    return 0


if __name__ == "__main__":
    # as apisim: the package's modules, so kubelet.py and this share apisim's globals
    from t.kube import standin as _standin
    sys.exit(_standin.main())
