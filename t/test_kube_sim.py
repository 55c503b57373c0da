"""The Kubernetes API simulator (t/kube) against the real API's semantics, black-box over HTTP:
verbs, resourceVersion and its conflicts, Status errors, selectors, watches (bookmarks, timeouts, 410),
the scheduler and kubelets (real processes on 127.0.0.x, readiness, termination messages, graceful
deletion) and the fault-injection hooks."""

import json
import os
import socket
import threading
import time

import pytest
import requests

from kube import Simulator

TOKEN = "s3cret-token"
NODES = "n1:cpu=4,memory=8Gi;n2:cpu=2,memory=4Gi,nvidia.com/gpu=1,label=gpu=yes;" \
        "n3:cpu=2,memory=4Gi,taint=dedicated=infra:NoSchedule"
PODS = "/api/v1/namespaces/default/pods"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
PY = "/usr/bin/python3"


@pytest.fixture(scope="module")
def sim():
    s = Simulator(nodes=NODES, token=TOKEN,
                  extra=["--bookmark-interval", "0.5", "--event-window", "200", "--restart-backoff", "0.2"])
    s.start()
    yield s
    s.stop()


class K:
    def __init__(self, sim):
        self.sim = sim
        self.s = requests.Session()
        self.s.headers["Authorization"] = "Bearer " + TOKEN

    def req(self, method, path, **kw):
        kw.setdefault("timeout", 10)
        return self.s.request(method, self.sim.url + path, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.req("POST", path, json=body, **kw)

    def put(self, path, body, **kw):
        return self.req("PUT", path, json=body, **kw)

    def patch(self, path, body, ctype="application/merge-patch+json", **kw):
        return self.req("PATCH", path, data=json.dumps(body), headers={"Content-Type": ctype}, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)

    def hook(self, path, body=None):
        r = requests.post(self.sim.url + "/_sim/" + path, json=body or {}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def wait(self, path, pred, timeout=10.0, what="condition"):
        """Poll an object until pred(obj) (None when 404) holds; deadline-bounded."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            r = self.get(path)
            last = r.json() if r.status_code == 200 else None
            if pred(last):
                return last
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %s: %s" % (what, json.dumps(last)[:2000]))


@pytest.fixture(scope="module")
def k(sim):
    return K(sim)


def assert_status(r, code, reason, message=None):
    assert r.status_code == code, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/json"
    st = r.json()
    assert st["kind"] == "Status" and st["apiVersion"] == "v1" and st["status"] == "Failure", st
    assert st["code"] == code and st["reason"] == reason, st
    if message is not None:
        assert st["message"] == message, st["message"]
    return st


def pod(name, command=None, **spec):
    c = {"name": "main", "image": "registry.example/owx/runtime:1",
         "command": command or [PY, "-c", "import time; time.sleep(60)"]}
    c.update(spec.pop("container", {}))
    s = {"containers": [c], "restartPolicy": "Never", "terminationGracePeriodSeconds": 2}
    s.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "t"}}, "spec": s}


def cond(obj, type_):
    return next((c["status"] for c in (obj or {}).get("status", {}).get("conditions", []) if c["type"] == type_),
                None)


class Watch:
    """A watch stream read on a thread; events collected in order."""

    def __init__(self, k, path, **params):
        params.setdefault("watch", "1")
        self.r = k.get(path, params=params, stream=True, timeout=(5, 30))
        assert self.r.status_code == 200, self.r.text
        self.events = []
        self.done = threading.Event()
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        try:
            for line in self.r.iter_lines():
                if line:
                    with self.cv:
                        self.events.append(json.loads(line))
                        self.cv.notify_all()
        except (requests.RequestException, ValueError, AttributeError):
            pass  # closed by the test (urllib3 drops its fp)
        finally:
            self.done.set()
            with self.cv:
                self.cv.notify_all()

    def wait_for(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for e in self.events:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or self.done.is_set():
                    raise AssertionError("no such event; got %s" % [(e["type"], e["object"].get("metadata", {})
                                                                     .get("name")) for e in self.events])
                self.cv.wait(left)

    def close(self):
        # shut the socket down first: closing a streamed response would otherwise wait for the
        # server to end the stream
        conn = getattr(self.r.raw, "_connection", None)
        sock = getattr(conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.r.close()
        self.done.wait(5)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------

def test_auth_and_discovery(k, sim):
    r = requests.get(sim.url + "/api/v1/nodes", timeout=5)
    assert_status(r, 401, "Unauthorized", "Unauthorized")
    r = requests.get(sim.url + "/api/v1/nodes", headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert_status(r, 401, "Unauthorized")
    assert k.get("/version").json()["major"] == "1"
    groups = k.get("/apis").json()["groups"]
    assert groups[0]["name"] == "coordination.k8s.io"
    assert_status(k.get("/api/v1/services"), 404, "NotFound", "the server could not find the requested resource")


def test_nodes_from_the_command_line(k):
    r = k.get("/api/v1/nodes")
    assert r.status_code == 200
    lst = r.json()
    assert lst["kind"] == "NodeList" and lst["apiVersion"] == "v1"
    assert int(lst["metadata"]["resourceVersion"]) > 0
    by = {n["metadata"]["name"]: n for n in lst["items"]}
    assert set(by) == {"n1", "n2", "n3"}
    assert by["n2"]["status"]["allocatable"]["nvidia.com/gpu"] == "1"
    assert by["n2"]["metadata"]["labels"]["gpu"] == "yes"
    assert by["n3"]["spec"]["taints"] == [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]
    n1 = k.get("/api/v1/nodes/n1").json()
    assert n1["kind"] == "Node" and n1["status"]["allocatable"]["memory"] == "8Gi"
    assert cond(n1, "Ready") == "True"
    # nodes are cluster-scoped: no namespaced path
    assert_status(k.get("/api/v1/namespaces/default/nodes/n1"), 404, "NotFound")


def test_create_get_errors(k):
    r = k.post(PODS, pod("crud-1"))
    assert r.status_code == 201, r.text
    p = r.json()
    md = p["metadata"]
    assert md["namespace"] == "default" and md["uid"] and md["generation"] == 1
    assert md["creationTimestamp"].endswith("Z") and int(md["resourceVersion"]) > 0
    assert p["spec"]["containers"][0]["terminationMessagePath"] == "/dev/termination-log"
    assert p["status"]["phase"] == "Pending"
    got = k.get(PODS + "/crud-1").json()
    assert got["metadata"]["uid"] == md["uid"]
    assert_status(k.post(PODS, pod("crud-1")), 409, "AlreadyExists", 'pods "crud-1" already exists')
    st = assert_status(k.get(PODS + "/nope"), 404, "NotFound", 'pods "nope" not found')
    assert st["details"] == {"name": "nope", "kind": "pods"}
    st = assert_status(k.get(LEASES + "/nope"), 404, "NotFound", 'leases.coordination.k8s.io "nope" not found')
    assert st["details"]["group"] == "coordination.k8s.io"
    bad = pod("crud-bad")
    bad["spec"]["containers"] = []
    st = assert_status(k.post(PODS, bad), 422, "Invalid", 'Pod "crud-bad" is invalid: spec.containers: '
                       'Required value')
    assert st["details"]["causes"][0]["field"] == "spec.containers"
    st = assert_status(k.post(PODS, pod("Bad_Name")), 422, "Invalid")
    assert st["details"]["causes"][0]["field"] == "metadata.name"
    r = k.req("POST", PODS, data="{not json", headers={"Content-Type": "application/json"})
    assert_status(r, 400, "BadRequest")
    other = pod("crud-ns")
    other["metadata"]["namespace"] = "elsewhere"
    assert_status(k.post(PODS, other), 400, "BadRequest", "the namespace of the provided object does not "
                  "match the namespace sent on the request")
    gen = pod("x")
    del gen["metadata"]["name"]
    gen["metadata"]["generateName"] = "gen-"
    r = k.post(PODS, gen)
    assert r.status_code == 201
    assert r.json()["metadata"]["name"].startswith("gen-") and len(r.json()["metadata"]["name"]) == 9
    for n in ("crud-1", r.json()["metadata"]["name"]):
        assert k.delete(PODS + "/" + n, params={"gracePeriodSeconds": "0"}).status_code == 200
    assert_status(k.delete(PODS + "/crud-1"), 404, "NotFound")


def test_update_and_conflicts(k):
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "owx-leader"},
             "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                      "acquireTime": "2026-01-01T00:00:00.000000Z", "renewTime": "2026-01-01T00:00:00.000000Z",
                      "leaseTransitions": 0}}
    r = k.post(LEASES, lease)
    assert r.status_code == 201, r.text
    v1 = r.json()
    # optimistic concurrency: the current version wins, a stale one is a Conflict
    v1["spec"]["holderIdentity"] = "b"
    r = k.put(LEASES + "/owx-leader", v1)
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert int(v2["metadata"]["resourceVersion"]) > int(v1["metadata"]["resourceVersion"])
    v1["spec"]["holderIdentity"] = "c"
    st = assert_status(k.put(LEASES + "/owx-leader", v1), 409, "Conflict",
                       'Operation cannot be fulfilled on leases.coordination.k8s.io "owx-leader": the object has '
                       'been modified; please apply your changes to the latest version and try again')
    assert st["details"] == {"name": "owx-leader", "group": "coordination.k8s.io", "kind": "leases"}
    # an update that changes nothing keeps the version
    r = k.put(LEASES + "/owx-leader", v2)
    assert r.status_code == 200 and r.json()["metadata"]["resourceVersion"] == v2["metadata"]["resourceVersion"]
    # leases need a resourceVersion on update; a PUT creates a missing lease
    nov = json.loads(json.dumps(v2))
    del nov["metadata"]["resourceVersion"]
    assert_status(k.put(LEASES + "/owx-leader", nov), 422, "Invalid")
    fresh = {"metadata": {"name": "other"}, "spec": {"holderIdentity": "x"}}
    assert k.put(LEASES + "/other", fresh).status_code == 201
    # MicroTime needs its 6 fractional digits, as the apiserver's decoder does
    bad = json.loads(json.dumps(v2))
    bad["spec"]["renewTime"] = "2026-01-01T00:00:01Z"
    assert_status(k.put(LEASES + "/owx-leader", bad), 400, "BadRequest")
    bad = json.loads(json.dumps(v2))
    bad["spec"]["leaseDurationSeconds"] = 0
    assert_status(k.put(LEASES + "/owx-leader", bad), 422, "Invalid")
    assert_status(k.put(LEASES + "/wrong-name", v2), 400, "BadRequest",
                  "the name of the object (owx-leader) does not match the name on the URL (wrong-name)")
    # pods: PUT of a missing pod is 404 (no create on update)
    assert_status(k.put(PODS + "/missing", pod("missing")), 404, "NotFound")
    r = k.delete(LEASES + "/other")
    assert r.status_code == 200 and r.json()["status"] == "Success"
    assert r.json()["details"]["name"] == "other"


def test_patch_types(k):
    r = k.post(PODS, pod("patch-1"))
    assert r.status_code == 201
    rv = r.json()["metadata"]["resourceVersion"]
    r = k.patch(PODS + "/patch-1", {"metadata": {"labels": {"extra": "1", "app": None},
                                                 "annotations": {"owx.dev/action": "guest/a"}}})
    assert r.status_code == 200, r.text
    md = r.json()["metadata"]
    assert md["labels"] == {"extra": "1"} and md["annotations"] == {"owx.dev/action": "guest/a"}
    r = k.patch(PODS + "/patch-1", [{"op": "add", "path": "/metadata/labels/jp", "value": "x"}],
                "application/json-patch+json")
    assert r.status_code == 200 and r.json()["metadata"]["labels"]["jp"] == "x"
    # strategic merge patch merges containers by name
    r = k.patch(PODS + "/patch-1", {"spec": {"containers": [{"name": "main", "image": "img:2"}]}},
                "application/strategic-merge-patch+json")
    assert r.status_code == 200, r.text
    c = r.json()["spec"]["containers"]
    assert len(c) == 1 and c[0]["image"] == "img:2" and c[0]["command"][0] == PY
    assert r.json()["metadata"]["generation"] == 2
    assert_status(k.patch(PODS + "/patch-1", {"metadata": {"resourceVersion": rv, "labels": {"z": "1"}}}),
                  409, "Conflict")
    assert_status(k.patch(PODS + "/patch-1", {"spec": {"restartPolicy": "Always"}}), 422, "Invalid")
    assert_status(k.patch(PODS + "/patch-1", {"a": 1}, "application/xml"), 415, "UnsupportedMediaType")
    assert_status(k.patch(PODS + "/nope", {"metadata": {}}), 404, "NotFound")
    # cordon a node (kubectl cordon sends a strategic merge patch)
    r = k.patch("/api/v1/nodes/n3", {"spec": {"unschedulable": True}}, "application/strategic-merge-patch+json")
    assert r.status_code == 200 and r.json()["spec"]["unschedulable"] is True
    assert [n["metadata"]["name"] for n in k.get("/api/v1/nodes", params={
        "fieldSelector": "spec.unschedulable=true"}).json()["items"]] == ["n3"]
    r = k.patch("/api/v1/nodes/n3", {"spec": {"unschedulable": None}})
    assert "unschedulable" not in r.json()["spec"]
    k.delete(PODS + "/patch-1", params={"gracePeriodSeconds": "0"})


def test_selectors(k):
    specs = {"sel-a": {"tier": "web", "env": "prod"}, "sel-b": {"tier": "db", "env": "prod"},
             "sel-c": {"tier": "web"}}
    for n, labels in specs.items():
        p = pod(n, nodeName="n3")  # bound to n3 but not started: n3 runs its pods too; fine
        p["metadata"]["labels"] = labels
        assert k.post(PODS, p).status_code == 201

    def names(**params):
        r = k.get(PODS, params=params)
        assert r.status_code == 200, r.text
        return sorted(i["metadata"]["name"] for i in r.json()["items"] if i["metadata"]["name"].startswith("sel-"))

    assert names(labelSelector="tier=web") == ["sel-a", "sel-c"]
    assert names(labelSelector="tier==web,env=prod") == ["sel-a"]
    assert names(labelSelector="tier!=web") == ["sel-b"]
    assert names(labelSelector="tier in (db, web),env") == ["sel-a", "sel-b"]
    assert names(labelSelector="tier notin (web)") == ["sel-b"]
    assert names(labelSelector="!env") == ["sel-c"]
    assert names(fieldSelector="metadata.name=sel-b") == ["sel-b"]
    assert names(fieldSelector="spec.nodeName=n3,metadata.name!=sel-a") == ["sel-b", "sel-c"]
    assert names(fieldSelector="spec.nodeName=n1") == []
    assert_status(k.get(PODS, params={"fieldSelector": "spec.image=x"}), 400, "BadRequest",
                  "field label not supported: spec.image")
    assert_status(k.get(PODS, params={"labelSelector": "a in (b"}), 400, "BadRequest")
    # limit + continue
    r = k.get(PODS, params={"labelSelector": "tier", "limit": "2"}).json()
    assert len(r["items"]) == 2 and r["metadata"]["continue"]
    r2 = k.get(PODS, params={"labelSelector": "tier", "limit": "2", "continue": r["metadata"]["continue"]}).json()
    assert [i["metadata"]["name"] for i in r["items"] + r2["items"]] == ["sel-a", "sel-b", "sel-c"]
    assert "continue" not in r2["metadata"]
    r = k.delete(PODS, params={"labelSelector": "tier", "gracePeriodSeconds": "0"})
    assert r.status_code == 200
    assert names(labelSelector="tier") == []


def test_watch_events_selectors_bookmarks_timeout(k):
    rv = k.get(PODS).json()["metadata"]["resourceVersion"]
    w = Watch(k, PODS, resourceVersion=rv, labelSelector="w=1", allowWatchBookmarks="true", timeoutSeconds="2")
    p = pod("watch-1", nodeName="nowhere")  # a node without kubelet: stays Pending, no status churn
    p["metadata"]["labels"] = {"w": "1"}
    assert k.post(PODS, p).status_code == 201
    k.patch(PODS + "/watch-1", {"metadata": {"annotations": {"x": "y"}}})
    k.patch(PODS + "/watch-1", {"metadata": {"labels": {"w": "2"}}})  # leaves the selection: DELETED
    k.patch(PODS + "/watch-1", {"metadata": {"labels": {"w": "1"}}})  # enters again: ADDED
    k.delete(PODS + "/watch-1")  # unscheduled... bound to an unknown node: graceful, stays
    k.delete(PODS + "/watch-1", params={"gracePeriodSeconds": "0"})
    w.wait_for(lambda e: e["type"] == "BOOKMARK")
    seq = [e["type"] for e in w.events if e["type"] != "BOOKMARK"]
    assert seq == ["ADDED", "MODIFIED", "DELETED", "ADDED", "MODIFIED", "DELETED"], seq
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in w.events if e["type"] != "BOOKMARK"]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)
    bm = next(e for e in w.events if e["type"] == "BOOKMARK")
    assert bm["object"]["kind"] == "Pod" and set(bm["object"]["metadata"]) == {"resourceVersion"}
    assert w.events[4]["object"]["metadata"]["deletionTimestamp"]
    # timeoutSeconds: the server ends the stream
    assert w.done.wait(8), "watch did not end after timeoutSeconds"
    # resourceVersion=0: the current state as synthetic ADDED events first
    w2 = Watch(k, "/api/v1/nodes", resourceVersion="0", timeoutSeconds="1")
    w2.wait_for(lambda e: e["object"]["metadata"]["name"] == "n2" and e["type"] == "ADDED")
    assert w2.done.wait(5)
    assert [e["object"]["metadata"]["name"] for e in w2.events] == ["n1", "n2", "n3"]
    assert_status(k.get(PODS, params={"watch": "1", "fieldSelector": "bad=1"}), 400, "BadRequest")


def test_watch_too_old_gives_410(k):
    old = k.get(PODS).json()["metadata"]["resourceVersion"]
    assert k.post(PODS, pod("old-1", nodeName="nowhere")).status_code == 201
    k.hook("compact")
    w = Watch(k, PODS, resourceVersion=old)
    e = w.wait_for(lambda e: e["type"] == "ERROR")
    st = e["object"]
    assert st["kind"] == "Status" and st["code"] == 410 and st["reason"] == "Expired"
    assert st["message"].startswith("too old resource version: %s (" % old)
    assert w.done.wait(5)
    # a continue token from before the compaction is too old as well
    k.post(PODS, pod("old-2", nodeName="nowhere"))
    tok = k.get(PODS, params={"limit": "1"}).json()["metadata"]["continue"]
    k.delete(PODS + "/old-2", params={"gracePeriodSeconds": "0"})  # a newer revision, then compaction
    k.hook("compact")
    assert_status(k.get(PODS, params={"limit": "1", "continue": tok}), 410, "Expired")
    # from the current version it works, and the list tells that version
    cur = k.get(PODS).json()["metadata"]["resourceVersion"]
    w = Watch(k, PODS, resourceVersion=cur, timeoutSeconds="5")
    k.delete(PODS + "/old-1", params={"gracePeriodSeconds": "0"})
    w.wait_for(lambda e: e["type"] == "DELETED" and e["object"]["metadata"]["name"] == "old-1")
    w.close()


def test_pod_runs_becomes_ready_and_graceful_delete_stops_it(k):
    p = pod("web-1", command=[PY, "-m", "http.server", "--bind", "$(POD_IP)", "8080"],
            container={"env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                               {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                               {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                               {"name": "GREETING", "value": "hi $(ME) on $(NODE) $$(ME)"}],
                       "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}})
    rv = k.post(PODS, p).json()["metadata"]["resourceVersion"]
    w = Watch(k, PODS, resourceVersion=rv, fieldSelector="metadata.name=web-1")
    ready = k.wait(PODS + "/web-1", lambda o: cond(o, "Ready") == "True", what="web-1 Ready")
    st = ready["status"]
    assert st["phase"] == "Running" and st["podIP"].startswith("127.0.") and st["podIP"] != "127.0.0.1"
    assert ready["spec"]["nodeName"] in ("n1", "n2")  # n3 is tainted
    assert cond(ready, "ContainersReady") == "True" and cond(ready, "PodScheduled") == "True"
    cs = st["containerStatuses"][0]
    assert cs["ready"] is True and "running" in cs["state"] and cs["image"] == p["spec"]["containers"][0]["image"]
    assert requests.get("http://%s:8080/" % st["podIP"], timeout=5).status_code == 200
    state = requests.get(k.sim.url + "/_sim/state", timeout=5).json()["pods"]["default/web-1"]
    pid = state["containers"]["main"]
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = dict(x.split(b"=", 1) for x in f.read().split(b"\0") if b"=" in x)
    assert env[b"GREETING"] == ("hi web-1 on %s $(ME)" % ready["spec"]["nodeName"]).encode()
    assert env[b"POD_IP"] == st["podIP"].encode() and env[b"HOSTNAME"] == b"web-1"
    # graceful delete: deletionTimestamp, then gone once the process stopped
    r = k.delete(PODS + "/web-1", json={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 5})
    assert r.status_code == 200 and r.json()["metadata"]["deletionTimestamp"]
    assert r.json()["metadata"]["deletionGracePeriodSeconds"] == 5
    e = w.wait_for(lambda e: e["type"] == "DELETED")
    assert e["object"]["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] in (143, 0)
    assert not _alive(pid)
    assert_status(k.get(PODS + "/web-1"), 404, "NotFound")
    w.close()


def test_sigterm_ignored_is_killed_at_deadline(k):
    cmd = [PY, "-c", "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True);"
                     "time.sleep(60)"]
    k.post(PODS, pod("stubborn", command=cmd, terminationGracePeriodSeconds=1))
    k.wait(PODS + "/stubborn", lambda o: o and o["status"].get("phase") == "Running", what="Running")
    pid = requests.get(k.sim.url + "/_sim/state", timeout=5).json()["pods"]["default/stubborn"]["containers"]["main"]
    deadline = time.monotonic() + 10  # the handler is installed once it printed
    while "up" not in k.get(PODS + "/stubborn/log").text:
        assert time.monotonic() < deadline, "no log line"
        time.sleep(0.05)
    t0 = time.monotonic()
    assert k.delete(PODS + "/stubborn").status_code == 200
    k.wait(PODS + "/stubborn", lambda o: o is None, what="pod removed")
    assert time.monotonic() - t0 >= 0.5  # it waited for the grace period
    assert not _alive(pid)


def test_failing_container_termination_message(k):
    cmd = [PY, "-c", "import sys; open(sys.argv[1], 'w').write('init failed: boom'); sys.exit(3)",
           "/dev/termination-log"]
    k.post(PODS, pod("fails-1", command=cmd))
    p = k.wait(PODS + "/fails-1", lambda o: o["status"]["phase"] in ("Failed", "Succeeded"), what="Failed")
    assert p["status"]["phase"] == "Failed"
    t = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert t["exitCode"] == 3 and t["reason"] == "Error" and t["message"] == "init failed: boom"
    assert cond(p, "Ready") == "False"
    # FallbackToLogsOnError: the log's tail when the file is empty
    cmd = [PY, "-c", "import sys; print('last words', flush=True); sys.exit(1)"]
    k.post(PODS, pod("fails-2", command=cmd, container={"terminationMessagePolicy": "FallbackToLogsOnError"}))
    p = k.wait(PODS + "/fails-2", lambda o: o["status"]["phase"] == "Failed", what="Failed")
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["message"].strip() == "last words"
    # a command that cannot run
    k.post(PODS, pod("fails-3", command=["/nonexistent/bin"]))
    p = k.wait(PODS + "/fails-3", lambda o: o["status"]["phase"] == "Failed", what="Failed")
    t = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert t["exitCode"] == 128 and t["reason"] == "StartError"
    for n in ("fails-1", "fails-2", "fails-3"):  # terminated pods go at once
        r = k.delete(PODS + "/" + n)
        assert r.status_code == 200
        assert_status(k.get(PODS + "/" + n), 404, "NotFound")


def test_scheduler_resources_and_taints(k):
    gpu = pod("gpu-1", container={"resources": {"limits": {"nvidia.com/gpu": "1", "memory": "256Mi"}}})
    r = k.post(PODS, gpu)
    assert r.json()["spec"]["containers"][0]["resources"]["requests"] == {"nvidia.com/gpu": "1", "memory": "256Mi"}
    p = k.wait(PODS + "/gpu-1", lambda o: o["spec"].get("nodeName"), what="scheduled")
    assert p["spec"]["nodeName"] == "n2"
    k.post(PODS, pod("gpu-2", container={"resources": {"limits": {"nvidia.com/gpu": "1"}}}))
    p = k.wait(PODS + "/gpu-2", lambda o: cond(o, "PodScheduled") == "False", what="Unschedulable")
    c = next(c for c in p["status"]["conditions"] if c["type"] == "PodScheduled")
    assert c["reason"] == "Unschedulable" and "Insufficient nvidia.com/gpu" in c["message"]
    # a toleration lets a pod onto the tainted node
    tol = pod("tol-1", nodeSelector={"kubernetes.io/hostname": "n3"},
              tolerations=[{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}])
    k.post(PODS, tol)
    assert k.wait(PODS + "/tol-1", lambda o: o["spec"].get("nodeName"), what="scheduled")["spec"]["nodeName"] == "n3"
    # freeing the GPU schedules the waiting pod
    k.delete(PODS + "/gpu-1", params={"gracePeriodSeconds": "0"})
    p = k.wait(PODS + "/gpu-2", lambda o: o["spec"].get("nodeName") == "n2", what="gpu-2 scheduled")
    for n in ("gpu-2", "tol-1"):
        k.delete(PODS + "/" + n, params={"gracePeriodSeconds": "0"})


def test_fault_injection(k):
    k.hook("faults", {"verb": "list", "resource": "pods", "code": 429, "count": 1, "retryAfter": 2})
    r = k.get(PODS)
    st = assert_status(r, 429, "TooManyRequests")
    assert r.headers["Retry-After"] == "2" and st["details"]["retryAfterSeconds"] == 2
    assert k.get(PODS).status_code == 200  # only the next one
    k.hook("faults", {"verb": "create", "resource": "pods", "code": 500, "count": 2})
    assert_status(k.post(PODS, pod("fault-1")), 500, "InternalError")
    assert_status(k.post(PODS, pod("fault-1")), 500, "InternalError")
    assert k.get("/api/v1/nodes").status_code == 200  # other verbs/resources unaffected
    assert k.post(PODS, pod("fault-1")).status_code == 201
    k.hook("faults", {"verb": "get", "resource": "leases", "code": 503, "count": 1})
    assert_status(k.get(LEASES + "/x"), 503, "ServiceUnavailable")
    # a watch answered 410 in-stream
    k.hook("faults", {"verb": "watch", "resource": "pods", "code": 410, "count": 1})
    w = Watch(k, PODS, resourceVersion="1")
    assert w.wait_for(lambda e: e["type"] == "ERROR")["object"]["code"] == 410
    # end all open watches
    w1 = Watch(k, PODS, timeoutSeconds="30")
    w2 = Watch(k, "/api/v1/nodes", timeoutSeconds="30")
    w1.wait_for(lambda e: e["object"]["metadata"].get("name") == "fault-1")
    assert k.hook("end-watches")["closed"] >= 2
    assert w1.done.wait(5) and w2.done.wait(5)
    # kill a container behind the API's back: the kubelet reports it; restartPolicy Never -> Failed
    k.wait(PODS + "/fault-1", lambda o: o["status"]["phase"] == "Running", what="Running")
    assert k.hook("kill", {"namespace": "default", "name": "fault-1"})["killed"] == 1
    p = k.wait(PODS + "/fault-1", lambda o: o["status"]["phase"] == "Failed", what="Failed")
    t = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert t["exitCode"] == 137 and t["reason"] == "Error"
    k.delete(PODS + "/fault-1")
    log = requests.get(k.sim.url + "/_sim/requests", timeout=5).json()["requests"]
    assert any(x["method"] == "PATCH" and x["contentType"] == "application/merge-patch+json" for x in log)
    assert {"apiGroup": "", "resource": "pods", "verb": "watch", "namespaced": True}.items() <= next(
        x for x in log if x.get("verb") == "watch").items()
    assert any(x.get("verb") == "list" and x["status"] == 429 for x in log)


def test_restart_policy_always_restarts(k):
    k.post(PODS, pod("crash-1", command=[PY, "-c", "raise SystemExit(2)"], restartPolicy="Always"))
    p = k.wait(PODS + "/crash-1", lambda o: (o["status"].get("containerStatuses") or [{}])[0]
               .get("restartCount", 0) >= 2, what="restarts")
    cs = p["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 2
    assert p["status"]["phase"] in ("Running", "Pending")
    k.delete(PODS + "/crash-1", params={"gracePeriodSeconds": "0"})


def test_no_leftovers_when_the_simulator_stops():
    with Simulator(nodes="solo:cpu=1,memory=1Gi") as s:
        h = s.headers
        body = pod("bg", command=["/bin/sh", "-c", "sleep 60 & echo $! > /dev/termination-log; wait"])
        assert requests.post(s.url + PODS, json=body, headers=h, timeout=5).status_code == 201
        deadline = time.monotonic() + 10
        pids = None
        while time.monotonic() < deadline:
            st = requests.get(s.url + "/_sim/state", timeout=5).json()["pods"].get("default/bg")
            if st and st["containers"]["main"]:
                pids = [st["containers"]["main"]]
                break
            time.sleep(0.05)
        assert pids
        # the background child, in the container's process group
        deadline = time.monotonic() + 5
        children = []
        while time.monotonic() < deadline and not children:
            children = [int(d) for d in os.listdir("/proc") if d.isdigit() and _pgid(int(d)) == pids[0]
                        and int(d) != pids[0]]
            time.sleep(0.05)
        assert children
    for pid in pids + children:
        assert not _alive(pid), pid


def _pgid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().split(")")[-1].split()[3])
    except (OSError, ValueError, IndexError):
        return None


SIDECAR_LIKE = r'''
import http.server, os, sys
bind, port = sys.argv[1].rsplit(":", 1)
seen = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        seen[0] += 1
        code = 200 if self.path == "/health" and seen[0] > 2 else 503
        self.send_response(code); self.send_header("Content-Length", "0"); self.end_headers()
if os.environ.get("FAIL_INIT"):
    open(os.environ["OW_SIDECAR_TERMINATION_LOG"], "w").write("init: " + os.environ["FAIL_INIT"])
    sys.exit(2)
http.server.HTTPServer((bind, int(port)), H).serve_forever()
'''


def backend_pod(name, fail=None):
    """A pod shaped as the pool-manager's backend makes them (one container, sidecar entrypoint)."""
    env = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
           {"name": "OW_SIDECAR_TERMINATION_LOG", "value": "/dev/termination-log"}]
    if fail:
        env.append({"name": "FAIL_INIT", "value": fail})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name,
                         "labels": {"app.kubernetes.io/name": "owx-action",
                                    "app.kubernetes.io/managed-by": "owx-pool-manager",
                                    "owx.dev/container": name[4:]},
                         "annotations": {"owx.dev/action": "guest/hello", "owx.dev/kind": "python:3",
                                         "owx.dev/memory": "256"}},
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 2,
                     "containers": [{"name": "action", "image": "owx/runtime-python:1",
                                     "command": [PY, "-c", SIDECAR_LIKE], "args": ["$(POD_IP):8080"],
                                     "env": env, "ports": [{"name": "http", "containerPort": 8080}],
                                     "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                                                   "limits": {"memory": "256Mi"}},
                                     "readinessProbe": {"httpGet": {"path": "/health", "port": "http"},
                                                        "periodSeconds": 1, "timeoutSeconds": 1}}]}}


def test_backend_shaped_pod_readiness_and_init_failure(k):
    r = k.post(PODS, backend_pod("owx-0a1b-2c3d"))
    assert r.status_code == 201, r.text
    assert r.json()["status"]["qosClass"] == "Burstable"
    lst = k.get(PODS, params={"labelSelector": "app.kubernetes.io/name=owx-action,"
                                               "app.kubernetes.io/managed-by=owx-pool-manager"}).json()
    assert [p["metadata"]["name"] for p in lst["items"]] == ["owx-0a1b-2c3d"]
    p = k.wait(PODS + "/owx-0a1b-2c3d", lambda o: cond(o, "Ready") == "True", timeout=15, what="Ready")
    # Ready only once the probe got a 200: the first two requests were answered 503
    log = k.get(PODS + "/owx-0a1b-2c3d/log").text
    assert log.count('"GET /health HTTP/1.1" 503') == 2 and '"GET /health HTTP/1.1" 200' in log, log
    assert log.index(" 503 ") < log.index(" 200 ")
    assert requests.get("http://%s:8080/health" % p["status"]["podIP"], timeout=5).status_code == 200
    k.delete(PODS + "/owx-0a1b-2c3d", params={"gracePeriodSeconds": "1"})
    # the termination log path in an env value is the container's file too
    k.post(PODS, backend_pod("owx-dead-beef", fail="SyntaxError: bad action"))
    p = k.wait(PODS + "/owx-dead-beef", lambda o: o["status"]["phase"] == "Failed", what="Failed")
    t = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert t["exitCode"] == 2 and t["message"] == "init: SyntaxError: bad action"
    k.delete(PODS + "/owx-dead-beef")
    k.wait(PODS + "/owx-0a1b-2c3d", lambda o: o is None, what="removed")
    bad = backend_pod("owx-bad")
    bad["spec"]["containers"][0]["resources"]["requests"]["memory"] = "512Mi"
    bad["spec"]["containers"][0]["volumeMounts"] = [{"name": "logs", "mountPath": "/logs"}]
    st = assert_status(k.post(PODS, bad), 422, "Invalid")
    fields = sorted(c["field"] for c in st["details"]["causes"])
    assert fields == ["spec.containers[0].resources.requests", "spec.containers[0].volumeMounts[0].name"]


def test_tls_kubeconfig_and_serviceaccount_files(tmp_path):
    import subprocess
    import yaml
    cert, key = str(tmp_path / "tls.crt"), str(tmp_path / "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=owx-apisim", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    kc, sa = str(tmp_path / "kubeconfig"), str(tmp_path / "sa")
    with Simulator(nodes="t1:cpu=1,memory=1Gi", token="tok-1",
                   extra=["--tls-cert", cert, "--tls-key", key, "--kubeconfig", kc,
                          "--serviceaccount-dir", sa]) as s:
        assert s.url.startswith("https://127.0.0.1:")
        cfg = yaml.safe_load(open(kc))
        assert cfg["clusters"][0]["cluster"]["server"] == s.url
        assert cfg["users"][0]["user"]["token"] == "tok-1"
        assert open(sa + "/token").read() == "tok-1" and open(sa + "/namespace").read() == "default"
        r = requests.get(s.url + "/api/v1/nodes/t1", verify=sa + "/ca.crt",
                         headers={"Authorization": "Bearer " + open(sa + "/token").read()}, timeout=5)
        assert r.status_code == 200 and r.json()["metadata"]["name"] == "t1"
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(s.url + "/version", timeout=5)  # not trusted without the CA


def test_status_subresource_and_not_ready_node(k):
    ready_false = {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]},
                   "spec": {"unschedulable": True}}
    r = k.patch("/api/v1/nodes/n1/status", ready_false, "application/strategic-merge-patch+json")
    assert r.status_code == 200, r.text
    n1 = r.json()
    assert cond(n1, "Ready") == "False" and "unschedulable" not in n1["spec"]  # only status changes
    # a PUT/PATCH of the node itself leaves the status alone
    r = k.patch("/api/v1/nodes/n1", {"status": {"conditions": []}, "metadata": {"labels": {"x": "1"}}})
    assert cond(r.json(), "Ready") == "False" and r.json()["metadata"]["labels"]["x"] == "1"
    k.post(PODS, pod("nr-1"))
    p = k.wait(PODS + "/nr-1", lambda o: o["spec"].get("nodeName"), what="scheduled")
    assert p["spec"]["nodeName"] == "n2"  # n1 not ready, n3 tainted
    k.patch("/api/v1/nodes/n1/status", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            "application/strategic-merge-patch+json")
    k.patch("/api/v1/nodes/n1", {"metadata": {"labels": {"x": None}}})
    assert_status(k.delete(PODS + "/nr-1", json={"propagationPolicy": "Sideways"}), 422, "Invalid")
    k.delete(PODS + "/nr-1", params={"gracePeriodSeconds": "0"})


def test_liveness_probe_and_empty_dir(k):
    # a container failing its liveness probe is stopped by the kubelet (SIGTERM), then restartPolicy
    live = pod("live-1", command=["/bin/sleep", "60"],
               container={"livenessProbe": {"tcpSocket": {"port": 9}, "periodSeconds": 1, "failureThreshold": 1}})
    k.post(PODS, live)
    p = k.wait(PODS + "/live-1", lambda o: o["status"]["phase"] == "Failed", what="killed by liveness")
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 143
    k.delete(PODS + "/live-1")
    # an emptyDir mount is a per-pod directory the mountPath maps to
    vol = pod("vol-1", command=["/bin/sh", "-c", "echo hi > /data/sub/f && cat /data/sub/f > /dev/termination-log"],
              volumes=[{"name": "scratch", "emptyDir": {}}],
              container={"volumeMounts": [{"name": "scratch", "mountPath": "/data/sub"}]})
    k.post(PODS, vol)
    p = k.wait(PODS + "/vol-1", lambda o: o["status"]["phase"] in ("Succeeded", "Failed"), what="done")
    t = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert p["status"]["phase"] == "Succeeded" and t["reason"] == "Completed" and t["message"] == "hi\n", t
    k.delete(PODS + "/vol-1")


def test_secrets_and_secret_volumes(k):
    secrets = "/api/v1/namespaces/default/secrets"
    # stringData is merged into data (base64) and not kept; bad base64 is 422
    r = k.post(secrets, {"metadata": {"name": "creds"}, "data": {"a": "aGVsbG8="},
                         "stringData": {"token": "t0k3n\n"}})
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["kind"] == "Secret" and s["type"] == "Opaque" and "stringData" not in s
    assert s["data"] == {"a": "aGVsbG8=", "token": "dDBrM24K"}
    assert_status(k.post(secrets, {"metadata": {"name": "bad"}, "data": {"a": "!!"}}), 422, "Invalid")
    assert k.get(secrets + "/creds").json()["data"]["token"] == "dDBrM24K"
    assert "creds" in [i["metadata"]["name"] for i in k.get(secrets).json()["items"]]
    # a secret volume: the keys as files (defaultMode) where the mountPath maps to
    vol = pod("sec-1", command=["/bin/sh", "-c", "stat -c %a /s/token > /dev/termination-log && "
                                                 "cat /s/a /s/token >> /dev/termination-log"],
              volumes=[{"name": "s", "secret": {"secretName": "creds", "defaultMode": 0o440}}],
              container={"volumeMounts": [{"name": "s", "mountPath": "/s", "readOnly": True}]})
    k.post(PODS, vol)
    p = k.wait(PODS + "/sec-1", lambda o: o["status"]["phase"] in ("Succeeded", "Failed"), what="done")
    t = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert p["status"]["phase"] == "Succeeded" and t["message"] == "440\nhellot0k3n\n", t
    k.delete(PODS + "/sec-1")
    # a missing Secret: the container waits (ContainerCreating), the pod stays Pending
    vol = pod("sec-2", command=["/bin/true"],
              volumes=[{"name": "s", "secret": {"secretName": "nothere"}}],
              container={"volumeMounts": [{"name": "s", "mountPath": "/s"}]})
    k.post(PODS, vol)
    p = k.wait(PODS + "/sec-2", lambda o: (o["status"].get("containerStatuses") or [{}])[0]
               .get("state", {}).get("waiting", {}).get("message", "").startswith("MountVolume"),
               what="mount failure")
    assert p["status"]["phase"] == "Pending", p["status"]
    assert 'secret "nothere" not found' in p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    k.delete(PODS + "/sec-2", params={"gracePeriodSeconds": "0"})
    assert k.delete(secrets + "/creds").status_code == 200
    assert k.get(secrets + "/creds").status_code == 404
