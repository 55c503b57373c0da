"""kubelet.py: the simulator's scheduler and kubelets (see apisim.py for the API server).

A `Cluster` watches the store in-process (a listener on every event) and:
- schedules pods without spec.nodeName and with schedulerName default-scheduler (kube-scheduler's
  filters: node Ready, not unschedulable, NoSchedule/NoExecute taints tolerated, nodeSelector, room for
  the requests of cpu, memory, nvidia.com/gpu and the pod count; score: least allocated), or sets
  PodScheduled=False reason Unschedulable ("0/N nodes are available: ...") and retries on any change;
- runs one `PodWorker` thread per pod bound to one of its nodes (a pod bound to an unknown node stays
  Pending, as without a kubelet). Admission: a pod whose requests exceed the node's free allocatable is
  rejected (phase Failed, reason OutOf<resource>), as the kubelet does.

A pod worker, as the kubelet with a container runtime:
- gives the pod its own address 127.0.0.N (distinct among live pods; addresses rotate before reuse)
  in status.podIP/podIPs; status.hostIP is 127.0.0.1;
- runs each container's `command` + `args` as a local process in a session (process group) of its
  own, stdout+stderr to a log file (GET .../pods/<name>/log), env = PATH, HOME, HOSTNAME=<pod name>
  plus the container's `env`: `value` (with $(VAR) expansion of earlier entries) and `valueFrom`
  fieldRef (metadata.name, metadata.namespace, metadata.uid, metadata.labels['k'],
  metadata.annotations['k'], spec.nodeName, spec.serviceAccountName, status.podIP, status.podIPs,
  status.hostIP, status.hostIPs) or resourceFieldRef (requests/limits cpu, memory, with divisor);
  configMap/secret references are not supported (CreateContainerConfigError). `command`/`args` get
  Kubernetes' $(VAR) expansion ($$ escapes, unknown references stay verbatim). A container without
  `command` cannot use an image entrypoint here: it fails with StartError (exit 128), as does a
  command that cannot be executed. `workingDir` is used when it exists on this machine.
- terminationMessagePath: the path (default /dev/termination-log) is mapped to a per-container file
  (<workdir>/<ns>_<pod>_<uid8>/<container>.termination-log, created empty); every occurrence of the
  path in the container's command, args and env values is replaced by that file's path, so a process
  writing "its" terminationMessagePath writes the file. On exit its content (up to 4096 bytes) is the
  terminated state's `message`; with terminationMessagePolicy FallbackToLogsOnError an empty file and a
  non-zero exit give the log's last 80 lines (up to 2048 bytes).
- volumes, the same way: an emptyDir mount's mountPath is replaced (in command, args and env values) by
  a per-pod directory (<workdir>/<pod dir>/volumes/<volume>, shared by the pod's containers, subPath
  honoured), a hostPath mount's by the host path, a secret volume's by a per-pod directory holding the
  Secret's keys as files (written when the container starts: `items` key/path/mode, `defaultMode`,
  default 0644; a missing Secret not `optional` leaves the container waiting, reason
  ContainerCreating, message "MountVolume.SetUp failed ...", and is not retried); other volume types
  are ignored. All of these in one
  pass, where the path ends a path component: a mount at /tmp maps "/tmp" and "/tmp/x", and leaves the
  local paths it and the termination message file were mapped to alone. securityContext is recorded,
  not applied (the processes run as the simulator's user).
- status: phase Pending (containers waiting ContainerCreating) -> Running (all started); containerStatuses
  (name, image, imageID, containerID owx-sim://..., ready, started, restartCount, state
  waiting/running/terminated with exitCode, reason Completed/Error/StartError, message, startedAt,
  finishedAt, lastState); conditions PodScheduled, PodReadyToStartContainers, Initialized,
  ContainersReady, Ready (reason ContainersNotReady / PodCompleted); readinessProbe httpGet (path,
  port number or name, host default the pod IP, httpHeaders; 200-399 succeeds), tcpSocket, exec;
  initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold, failureThreshold. Without a
  readiness probe a running container is ready.
- restartPolicy Never: a container that exits stays terminated; when all have, phase Succeeded (all
  exit 0) or Failed. Always / OnFailure (non-zero): restart after a back-off (CrashLoopBackOff,
  `--restart-backoff` doubling to 300 s), restartCount, lastState.
- a process killed behind the API's back (/_sim/kill, or anything else) is seen as the container
  terminating (exit 128+signal, reason Error).
- deletion: once metadata.deletionTimestamp is set, SIGTERM to every container's main process (as a
  container runtime signals the container's init process only: what it started keeps running until it
  acts on it, so a container's init can drain its children before it passes the signal on), SIGKILL
  to every container's process group
  at the deadline (re-read: a second DELETE can shorten it), final status (terminated 143/137), then the
  object is removed (DELETED) with a uid precondition, as the kubelet's status manager does. A pod
  removed at once (gracePeriodSeconds=0) has its processes stopped the same way (its spec's grace).
- no leftovers: `Cluster.stop()` stops every process group it started (SIGTERM, then SIGKILL after 2 s);
  when a container's main process exits, what is left in its process group is killed (the runtime tears
  the container down); each main process has PR_SET_PDEATHSIG(SIGKILL), so even a SIGKILLed simulator
  leaves no main processes behind (their own children, if any, would survive that case only).
livenessProbe (same handlers): failureThreshold consecutive failures -> SIGTERM, SIGKILL after the
  grace period (the probe's terminationGracePeriodSeconds or the pod's), then restartPolicy applies.
Not simulated: startup probes, init/ephemeral containers, lifecycle hooks, other volumes, node
heartbeats/NotReady, NoExecute evictions, image pulls (the image is only recorded), resource limits.

Container runtime `podman` (opt-in: `Cluster(container_runtime="podman")`, apisim's
`--container-runtime podman`; the podman configuration comes from the environment, e.g.
images/podman-env.sh's CONTAINERS_CONF / CONTAINERS_STORAGE_CONF): each container runs from its
image as `podman run --rm --replace --network host --name <pod>-<container> [--entrypoint <command>]
<image> <args>`, the podman client being the process above (its output is the container's log; it
exits with the container's code). So: no command = the image's entrypoint; env and $(VAR)
expansion as above, plus HOSTNAME; paths are not rewritten but mounted: the termination message
file at terminationMessagePath, emptyDir / hostPath volumes at their mountPath (`-v`, readOnly
honoured); workingDir is `-w`; imagePullPolicy Always/Never/IfNotPresent is `--pull
always/never/missing`. Signals: SIGTERM reaches the container through podman's signal proxy, SIGKILL
is `podman kill --signal KILL`, and a container still there when its pod worker gives up is removed
(`podman rm -f -t 0`). A SIGKILLed simulator leaves the containers running (the PDEATHSIG above
kills only the podman clients): remove them by name.
"""

import copy
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from . import apisim

MAX_MESSAGE = 4096
BACKOFF_MAX = 300.0
RUNTIMES = ("process", "podman")
PODMAN_PULL = {"Always": "always", "Never": "never", "IfNotPresent": "missing"}
PODMAN_TIMEOUT = 60.0  # one podman kill / rm (slow on a loaded machine, but bounded)


def _now():
    return apisim.now_time()


def expand(text, mapping):
    """Kubernetes third_party/forked/golang/expansion: $(VAR) -> value when defined, `$$` -> `$`,
    anything else verbatim."""
    out = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                j = text.find(")", i + 2)
                if j >= 0:
                    name = text[i + 2:j]
                    if name in mapping:
                        out.append(mapping[name])
                    else:
                        out.append(text[i:j + 1])
                    i = j + 1
                    continue
                out.append(text[i:])
                break
            out.append(c + nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def pod_requests(pod):
    total = {"pods": 1.0}
    for c in apisim._get(pod, "spec", "containers", default=[]) or []:
        for k, v in ((c.get("resources") or {}).get("requests") or {}).items():
            try:
                total[k] = total.get(k, 0.0) + apisim.parse_quantity(v)
            except ValueError:
                pass
    return total


def _terminal(pod):
    return apisim._get(pod, "status", "phase") in ("Succeeded", "Failed")


def _tolerates(tolerations, taint):
    for t in tolerations or []:
        op = t.get("operator", "Equal")
        if t.get("key", "") and t.get("key") != taint.get("key"):
            continue
        if not t.get("key") and op != "Exists":
            continue
        if op == "Equal" and t.get("value", "") != taint.get("value", ""):
            continue
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        return True
    return False


def _ready_node(node):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in apisim._get(node, "status", "conditions", default=[]) or [])


class IpPool:
    def __init__(self):
        self.used = set()
        self.next = 2
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            for _ in range(65023):
                n = self.next
                self.next = 2 if self.next >= 65023 else self.next + 1
                a, b = divmod(n, 256)
                if b in (0, 255) or (a == 0 and b == 1) or n in self.used:
                    continue
                self.used.add(n)
                return "127.0.%d.%d" % (a, b)
        raise RuntimeError("no pod address left")

    def give(self, ip):
        a, b = [int(x) for x in ip.split(".")[2:]]
        with self.lock:
            self.used.discard(a * 256 + b)


class Cluster:
    def __init__(self, store, node_names, workdir=None, restart_backoff=10.0, container_runtime="process",
                 schedule=True):
        if container_runtime not in RUNTIMES:
            raise ValueError("container runtime %r: not one of %s" % (container_runtime, ", ".join(RUNTIMES)))
        self.podman = container_runtime == "podman"
        self.store = store
        self.nodes = set(node_names)
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="owx-kubesim-")
        os.makedirs(self.workdir, exist_ok=True)
        self.restart_backoff = restart_backoff
        # False: a real kube-scheduler binds the pods (standin.py, the kubelet stand-in)
        self.schedule = schedule
        self.ips = IpPool()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.workers = {}  # uid -> PodWorker
        self.by_key = {}  # (ns, name) -> PodWorker
        self.thread = None
        store.listeners.append(self._on_event)

    def _on_event(self, ev):  # under the store lock: only wake threads
        if ev.rt is apisim.PODS:
            w = self.by_key.get((ev.obj["metadata"].get("namespace"), ev.obj["metadata"]["name"]))
            if w is not None:
                w.wake.set()
        self.wake.set()

    def start(self):
        self.thread = threading.Thread(target=self._loop, name="kubesim-cluster", daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.wake.set()
        if self.thread:
            self.thread.join(10)
        with self.lock:
            workers = list(self.workers.values())
        for w in workers:
            w.shutdown()
        for w in workers:
            w.thread.join(10)
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- the dispatcher and scheduler
    def _loop(self):
        while not self.stopping.is_set():
            self.wake.wait(1.0)
            self.wake.clear()
            if self.stopping.is_set():
                break
            try:
                self._sync()
            except Exception as e:  # keep the cluster alive; a test will see the symptom
                print("kubesim: sync failed: %r" % (e,), flush=True)

    def _sync(self):
        with self.store.lock:
            pods = [p for p in self.store.objects["pods"].values()]
            nodes = {n["metadata"]["name"]: n for n in self.store.objects["nodes"].values()}
            pods = [apisim.copy.deepcopy(p) for p in pods]
            nodes = apisim.copy.deepcopy(nodes)
        used = {}
        for p in pods:
            nn = p["spec"].get("nodeName")
            if nn and not _terminal(p):
                u = used.setdefault(nn, {})
                for k, v in pod_requests(p).items():
                    u[k] = u.get(k, 0.0) + v
        for p in sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"]):
            md = p["metadata"]
            if (self.schedule and not p["spec"].get("nodeName") and not md.get("deletionTimestamp")
                    and p["spec"].get("schedulerName") == "default-scheduler" and not _terminal(p)):
                self._schedule(p, nodes, used)
        live = set()
        for p in pods:
            md = p["metadata"]
            live.add(md["uid"])
            if p["spec"].get("nodeName") in self.nodes:
                with self.lock:
                    known = md["uid"] in self.workers
                if not known and not _terminal(p):
                    self._admit_and_run(p, nodes, used)
        with self.lock:
            gone = [w for uid, w in self.workers.items() if uid not in live]
        for w in gone:
            w.wake.set()  # the worker sees the object gone and stops its processes

    def _schedule(self, pod, nodes, used):
        req = pod_requests(pod)
        reasons = {}
        best = None
        for name in sorted(nodes):
            node = nodes[name]
            alloc = {k: apisim.parse_quantity(v)
                     for k, v in (apisim._get(node, "status", "allocatable", default={}) or {}).items()}
            u = used.get(name, {})
            why = None
            if not _ready_node(node):
                why = "node(s) were not ready"
            elif node["spec"].get("unschedulable") and not _tolerates(
                    pod["spec"].get("tolerations"),
                    {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}):
                why = "node(s) were unschedulable"
            else:
                for t in node["spec"].get("taints") or []:
                    if t.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(
                            pod["spec"].get("tolerations"), t):
                        why = "node(s) had untolerated taint {%s: %s}" % (t.get("key"), t.get("value", ""))
                        break
            if why is None:
                labels = node["metadata"].get("labels") or {}
                if any(labels.get(k) != v for k, v in (pod["spec"].get("nodeSelector") or {}).items()):
                    why = "node(s) didn't match Pod's node affinity/selector"
            if why is None:
                for k, v in req.items():
                    if v > 0 and u.get(k, 0.0) + v > alloc.get(k, 0.0) + 1e-9:
                        why = "Too many pods" if k == "pods" else "Insufficient %s" % k
                        break
            if why is not None:
                reasons[why] = reasons.get(why, 0) + 1
                continue
            score = 0.0
            for k in ("cpu", "memory"):
                if alloc.get(k):
                    score += (alloc[k] - u.get(k, 0.0) - req.get(k, 0.0)) / alloc[k]
            if best is None or score > best[0]:
                best = (score, name)
        md = pod["metadata"]
        if best is None:
            msg = "0/%d nodes are available: %s." % (len(nodes), ", ".join(
                "%d %s" % (n, r) for r, n in sorted(reasons.items())))
            if len(nodes) == 0:
                msg = "no nodes available to schedule pods"

            def unsched(o):
                _set_condition(o, "PodScheduled", "False", "Unschedulable", msg)
            self.store.mutate(apisim.PODS, md["namespace"], md["name"], unsched, uid=md["uid"])
            return
        name = best[1]

        def bind(o):
            if o["spec"].get("nodeName"):
                return
            o["spec"]["nodeName"] = name
            _set_condition(o, "PodScheduled", "True", None, None)
        if self.store.mutate(apisim.PODS, md["namespace"], md["name"], bind, uid=md["uid"]) is not None:
            u = used.setdefault(name, {})
            for k, v in req.items():
                u[k] = u.get(k, 0.0) + v
            pod["spec"]["nodeName"] = name

    def _admit_and_run(self, pod, nodes, used):
        md = pod["metadata"]
        node = nodes.get(pod["spec"]["nodeName"])
        if node is not None and not apisim._get(pod, "status", "startTime", default=None):
            alloc = {k: apisim.parse_quantity(v)
                     for k, v in (apisim._get(node, "status", "allocatable", default={}) or {}).items()}
            u = used.get(node["metadata"]["name"], {})  # includes this pod
            for k, v in pod_requests(pod).items():
                if v > 0 and u.get(k, 0.0) > alloc.get(k, 0.0) + 1e-9:
                    msg = ("Pod was rejected: Node didn't have enough resource: %s, requested: %g, used: %g, "
                           "capacity: %g" % (k, v, u[k] - v, alloc.get(k, 0.0)))

                    def reject(o, k=k, msg=msg):
                        o["status"]["phase"] = "Failed"
                        o["status"]["reason"] = "OutOf" + k
                        o["status"]["message"] = msg
                    self.store.mutate(apisim.PODS, md["namespace"], md["name"], reject, uid=md["uid"])
                    for kk, vv in pod_requests(pod).items():
                        u[kk] = u.get(kk, 0.0) - vv
                    return
        w = PodWorker(self, pod)
        with self.lock:
            self.workers[md["uid"]] = w
            self.by_key[(md["namespace"], md["name"])] = w
        w.thread.start()

    def _forget(self, w):
        with self.lock:
            self.workers.pop(w.uid, None)
            if self.by_key.get(w.key) is w:
                del self.by_key[w.key]

    # ---- test hooks
    def _worker(self, ns, name):
        with self.lock:
            return self.by_key.get((ns, name))

    def kill(self, ns, name, container, sig):
        w = self._worker(ns, name)
        if w is None:
            return None
        signum = getattr(signal, "SIG" + str(sig).upper().replace("SIG", ""), None) if not str(sig).isdigit() \
            else int(sig)
        if signum is None:
            raise apisim.bad_request("unknown signal %s" % sig)
        return w.signal_all(signum, container)

    def log(self, ns, name, container):
        w = self._worker(ns, name)
        if w is None:
            return ""
        names = [c.name for c in w.containers]
        if container is None:
            if len(names) != 1:
                raise apisim.bad_request("a container name must be specified for pod %s, choose one of: [%s]"
                                         % (name, " ".join(names)))
            container = names[0]
        c = next((c for c in w.containers if c.name == container), None)
        if c is None:
            raise apisim.bad_request('container %s is not valid for pod %s' % (container, name))
        try:
            with open(c.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def state(self):
        with self.lock:
            ws = list(self.by_key.values())
        return {"%s/%s" % w.key: {"uid": w.uid, "ip": w.ip, "node": w.node,
                                  "containers": {c.name: c.proc.pid if c.proc else None for c in w.containers}}
                for w in ws}


class MountError(Exception):
    """A volume that cannot be set up (a missing Secret): the container waits."""


def _remapper(paths):
    """text -> text with each (container path, local path) replaced, in one pass (a replacement is not
    looked at again: a mount at /tmp leaves a local path under /tmp alone) and only where the container
    path is a whole path's start ("/tmp" in "/tmp/x", "/tmp" or "X=/tmp", not in "/tmpx" or "/a/tmp");
    longest paths first."""
    paths = sorted(paths, key=lambda p: -len(p[0]))
    if not paths:
        return lambda text: text
    local = dict(paths)
    rx = re.compile("(?<![^\\s:=,;\"'])(%s)(?![^/\\s:=,;\"'])" % "|".join(re.escape(src) for src, _ in paths))
    return lambda text: rx.sub(lambda m: local[m.group(1)], text)


def _set_condition(pod, type_, status, reason, message):
    conds = pod["status"].setdefault("conditions", [])
    c = next((c for c in conds if c["type"] == type_), None)
    if c is None:
        c = {"type": type_}
        conds.append(c)
    if c.get("status") != status:
        c["lastTransitionTime"] = _now()
    c["status"] = status
    c["lastProbeTime"] = None
    for k, v in (("reason", reason), ("message", message)):
        if v:
            c[k] = v
        else:
            c.pop(k, None)


class Container:
    def __init__(self, spec, dirpath, index):
        self.spec = spec
        self.name = spec["name"]
        self.image = spec.get("image", "")
        self.proc = None
        self.exit_code = None
        self.started_at = None
        self.finished_at = None
        self.state = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state = {}
        self.restarts = 0
        self.ready = False
        self.successes = 0
        self.failures = 0
        self.next_probe = 0.0
        self.next_live = 0.0
        self.live_failures = 0
        self.kill_at = None
        self.restart_at = None
        self.backoff = None
        self.container_id = None
        self.term_path = os.path.join(dirpath, "%s.termination-log" % self.name)
        self.log_path = os.path.join(dirpath, "%s.log" % self.name)
        self.waiter = None


class PodWorker:
    def __init__(self, cluster, pod):
        self.cluster = cluster
        self.store = cluster.store
        md = pod["metadata"]
        self.uid = md["uid"]
        self.key = (md["namespace"], md["name"])
        self.node = pod["spec"]["nodeName"]
        self.pod = pod
        self.ip = None
        self.wake = threading.Event()
        self.stop_now = threading.Event()
        self.dir = os.path.join(cluster.workdir, "%s_%s_%s" % (md["namespace"], md["name"], self.uid[:8]))
        os.makedirs(self.dir, exist_ok=True)
        self.containers = [Container(c, self.dir, i) for i, c in enumerate(pod["spec"]["containers"])]
        self.thread = threading.Thread(target=self._run, name="kubesim-pod-%s" % md["name"], daemon=True)

    # ---- API writes
    def _mutate(self, fn):
        return self.store.mutate(apisim.PODS, self.key[0], self.key[1], fn, uid=self.uid)

    def _current(self):
        with self.store.lock:
            o = self.store.peek(apisim.PODS, *self.key)
            if o is None or o["metadata"]["uid"] != self.uid:
                return None
            return apisim.copy.deepcopy(o)

    def _write_status(self, phase=None):
        def fn(o):
            st = o["status"]
            st["hostIP"] = "127.0.0.1"
            st["hostIPs"] = [{"ip": "127.0.0.1"}]
            if self.ip:
                st["podIP"] = self.ip
                st["podIPs"] = [{"ip": self.ip}]
            st.setdefault("startTime", _now())
            if phase:
                st["phase"] = phase
            st["containerStatuses"] = [self._cstatus(c) for c in self.containers]
            all_ready = st["phase"] == "Running" and all(c.ready for c in self.containers)
            unready = [c.name for c in self.containers if not c.ready]
            terminal = st["phase"] in ("Succeeded", "Failed")
            _set_condition(o, "PodReadyToStartContainers", "False" if terminal else "True", None, None)
            _set_condition(o, "Initialized", "True", None, None)
            if all_ready:
                _set_condition(o, "ContainersReady", "True", None, None)
                _set_condition(o, "Ready", "True", None, None)
            else:
                reason = "PodCompleted" if terminal else "ContainersNotReady"
                msg = None if terminal else "containers with unready status: [%s]" % " ".join(unready)
                _set_condition(o, "ContainersReady", "False", reason, msg)
                _set_condition(o, "Ready", "False", reason, msg)
            _set_condition(o, "PodScheduled", "True", None, None)
            order = {"PodReadyToStartContainers": 0, "Initialized": 1, "Ready": 2, "ContainersReady": 3,
                     "PodScheduled": 4}
            st["conditions"].sort(key=lambda c: order.get(c["type"], 9))
        return self._mutate(fn)

    def _cstatus(self, c):
        s = {"name": c.name, "image": c.image, "imageID": "", "ready": c.ready,
             "restartCount": c.restarts, "started": "running" in c.state, "state": c.state}
        if c.container_id:
            s["containerID"] = c.container_id
        s["lastState"] = c.last_state
        return s

    # ---- processes
    def _env(self, c, pod):
        env = {}
        spec = c.spec
        for e in spec.get("env") or []:
            name = e["name"]
            if "valueFrom" in e and e["valueFrom"]:
                v = self._value_from(e["valueFrom"], pod, spec)
                if v is None:
                    return None, "couldn't find key or field for env %s" % name
            else:
                v = expand(e.get("value", ""), env)
            env[name] = v
        return env, None

    def _value_from(self, vf, pod, cspec):
        fr = vf.get("fieldRef")
        if fr:
            path = fr.get("fieldPath", "")
            m = re.match(r"^metadata\.(labels|annotations)\['(.+)'\]$", path)
            if m:
                return (pod["metadata"].get(m.group(1)) or {}).get(m.group(2), "")
            table = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": pod["metadata"]["namespace"],
                     "metadata.uid": pod["metadata"]["uid"], "spec.nodeName": self.node,
                     "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
                     "status.podIP": self.ip, "status.podIPs": self.ip, "status.hostIP": "127.0.0.1",
                     "status.hostIPs": "127.0.0.1"}
            return table.get(path)
        rf = vf.get("resourceFieldRef")
        if rf:
            which, _, res = rf.get("resource", "").partition(".")
            q = ((cspec.get("resources") or {}).get(which) or {}).get(res)
            if q is None:
                with self.store.lock:
                    node = self.store.peek(apisim.NODES, None, self.node)
                    q = apisim._get(node, "status", "allocatable", res, default="0") if node else "0"
            try:
                val = apisim.parse_quantity(q)
                div = apisim.parse_quantity(rf.get("divisor", "1"))
            except ValueError:
                return None
            import math
            return str(int(math.ceil(val / div)))
        return None  # configMapKeyRef / secretKeyRef: no such objects here

    def _start(self, c, pod):
        spec = c.spec
        env, err = self._env(c, pod)
        c.container_id = "owx-sim://%s-%s-%d" % (self.uid[:8], c.name, c.restarts)
        if env is None:
            c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": err}}
            return False
        tpath = spec.get("terminationMessagePath", "/dev/termination-log")
        argv = [expand(a, env) for a in (spec.get("command") or [])] + \
               [expand(a, env) for a in (spec.get("args") or [])]
        try:
            mounts = self._mounts(c, pod)
        except MountError as e:
            c.state = {"waiting": {"reason": "ContainerCreating", "message": str(e)}}
            return False
        if self.cluster.podman:
            return self._start_podman(c, pod, env, tpath)
        remap = _remapper([(tpath, c.term_path)] + mounts)
        argv = [remap(a) for a in argv]
        env = {k: remap(v) for k, v in env.items()}
        full = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
                "HOME": os.environ.get("HOME", "/root"), "HOSTNAME": pod["metadata"]["name"]}
        full.update(env)
        open(c.term_path, "wb").close()
        c.started_at = _now()
        if not spec.get("command"):
            return self._start_error(c, "the simulator cannot run an image's entrypoint: the container has no "
                                        "command")
        cwd = spec.get("workingDir") if spec.get("workingDir") and os.path.isdir(spec["workingDir"]) else None
        try:
            log = open(c.log_path, "ab")
            try:
                c.proc = subprocess.Popen(argv, env=full, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                          preexec_fn=_die_with_parent)
            finally:
                log.close()
        except OSError as e:
            return self._start_error(c, "failed to create containerd task: failed to create shim task: OCI "
                                        "runtime create failed: exec: %r: %s" % (argv[0], e.strerror))
        return self._started(c)

    def _started(self, c):
        spec = c.spec
        c.exit_code = None
        c.state = {"running": {"startedAt": c.started_at}}
        c.ready = "readinessProbe" not in spec
        c.successes = c.failures = 0
        probe = spec.get("readinessProbe") or {}
        c.next_probe = time.monotonic() + float(probe.get("initialDelaySeconds", 0))
        live = spec.get("livenessProbe") or {}
        c.next_live = time.monotonic() + float(live.get("initialDelaySeconds", 0))
        c.live_failures = 0
        c.kill_at = None
        c.waiter = threading.Thread(target=self._wait_proc, args=(c, c.proc), daemon=True)
        c.waiter.start()
        return True

    def _podman_name(self, c):
        return "%s-%s" % (self.key[1], c.name)

    def _start_podman(self, c, pod, env, tpath):
        """The container from its image: `podman run` in the foreground is the container's process."""
        spec = c.spec
        argv = ["podman", "run", "--rm", "--replace", "--network", "host", "--name", self._podman_name(c),
                "--pull", PODMAN_PULL.get(spec.get("imagePullPolicy"), "missing"),
                "-e", "HOSTNAME=%s" % pod["metadata"]["name"]]
        for k, v in env.items():
            argv += ["-e", "%s=%s" % (k, v)]
        open(c.term_path, "wb").close()
        # the image's user (not ours) writes it, as the kubelet's file is writable by the container
        os.chmod(c.term_path, 0o666)
        argv += ["-v", "%s:%s" % (c.term_path, tpath)]
        ro = {m.get("mountPath", "").rstrip("/") or "/" for m in spec.get("volumeMounts") or []
              if m.get("readOnly")}
        for path, local in self._mounts(c, pod):
            if local.startswith(self.dir):
                os.chmod(local, 0o777)  # an emptyDir is world-writable
            argv += ["-v", "%s:%s%s" % (local, path, ":ro" if path in ro else "")]
        if spec.get("workingDir"):
            argv += ["-w", spec["workingDir"]]
        command = [expand(a, env) for a in (spec.get("command") or [])]
        if command:
            argv += ["--entrypoint", json.dumps(command)]
        argv += [c.image] + [expand(a, env) for a in (spec.get("args") or [])]
        c.started_at = _now()
        try:
            log = open(c.log_path, "ab")
            try:
                c.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True, close_fds=True, preexec_fn=_die_with_parent)
            finally:
                log.close()
        except OSError as e:
            return self._start_error(c, "failed to start podman: %s" % e.strerror)
        return self._started(c)

    def _mounts(self, c, pod):
        """(mountPath, local directory) for the container's emptyDir and hostPath mounts, longest first:
        an emptyDir is a per-pod directory (shared by its containers), a hostPath is the path itself."""
        vols = {v.get("name"): v for v in pod["spec"].get("volumes") or [] if isinstance(v, dict)}
        out = []
        for m in c.spec.get("volumeMounts") or []:
            v = vols.get(m.get("name"))
            if v is None or not m.get("mountPath"):
                continue
            if "hostPath" in v:
                local = v["hostPath"].get("path", "")
            elif "emptyDir" in v:
                local = os.path.join(self.dir, "volumes", v["name"])
                os.makedirs(local, exist_ok=True)
            elif "secret" in v:
                local = self._secret_volume(v, pod)
            else:
                continue  # configMap, secret, projected...: not simulated
            if m.get("subPath"):
                local = os.path.join(local, m["subPath"])
                os.makedirs(local, exist_ok=True)
            out.append((m["mountPath"].rstrip("/") or "/", local))
        return sorted(out, key=lambda x: -len(x[0]))

    def _secret_volume(self, v, pod):
        """A secret volume's directory: the Secret's keys (or its `items`) as files, as the
        kubelet's secret volume plugin writes them. Raises MountError when the Secret is missing
        and the volume is not optional."""
        sv = v["secret"] or {}
        name = sv.get("secretName", "")
        local = os.path.join(self.dir, "volumes", v["name"])
        os.makedirs(local, mode=0o755, exist_ok=True)
        with self.store.lock:
            secret = self.store.peek(apisim.SECRETS, pod["metadata"]["namespace"], name)
            secret = copy.deepcopy(secret) if secret else None
        if secret is None:
            if sv.get("optional"):
                return local
            raise MountError('MountVolume.SetUp failed for volume "%s" : secret "%s" not found'
                             % (v["name"], name))
        data = apisim.secret_data(secret)
        mode = sv.get("defaultMode", 0o644)
        items = sv.get("items")
        files = ([(i.get("key"), i.get("path") or i.get("key"), i.get("mode", mode)) for i in items]
                 if items else [(k, k, mode) for k in data])
        for key, path, m in files:
            if key not in data:
                if sv.get("optional"):
                    continue
                raise MountError('MountVolume.SetUp failed for volume "%s" : references '
                                 'non-existent secret key: %s' % (v["name"], key))
            target = os.path.join(local, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = target + ".tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data[key])
            os.chmod(tmp, m)
            os.replace(tmp, target)
        return local

    def _start_error(self, c, msg):
        c.proc = None
        c.exit_code = 128
        c.finished_at = _now()
        c.state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": msg,
                                  "startedAt": "1970-01-01T00:00:00Z", "finishedAt": c.finished_at,
                                  "containerID": c.container_id}}
        return False

    def _wait_proc(self, c, proc):
        proc.wait()
        self.wake.set()

    def _reap(self, c):
        """A process that has exited -> the terminated state. Returns True on change."""
        if c.proc is None or c.exit_code is not None or c.proc.poll() is None:
            return False
        rc = c.proc.returncode
        code = 128 - rc if rc < 0 else rc
        # the process group may hold children the main process left behind: the runtime kills them
        _killpg(c.proc.pid, signal.SIGKILL)
        c.exit_code = code
        c.finished_at = _now()
        msg = _read_message(c.term_path)
        if not msg and code != 0 and c.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            msg = _tail(c.log_path)
        t = {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "startedAt": c.started_at,
             "finishedAt": c.finished_at, "containerID": c.container_id}
        if code > 128:
            t["signal"] = code - 128
        if msg:
            t["message"] = msg
        c.state = {"terminated": t}
        c.ready = False
        return True

    def signal_all(self, signum, container=None, main_only=False):
        """signum to each (or the named) container's process group; main_only: to its main process
        alone, as the kubelet's stop signal reaches only the container's init process."""
        n = 0
        for c in self.containers:
            if (container is None or c.name == container) and c.proc is not None and c.exit_code is None:
                if main_only:
                    try:
                        os.kill(c.proc.pid, signum)
                        n += 1
                    except (ProcessLookupError, PermissionError):
                        pass
                    continue
                if signum == signal.SIGKILL and self.cluster.podman:
                    # podman's signal proxy cannot forward SIGKILL: kill the container itself (the
                    # client then exits with 137); the client alone while no container exists yet
                    if self._podman("kill", "--signal", "KILL", self._podman_name(c)):
                        n += 1
                        continue
                if _killpg(c.proc.pid, signum):
                    n += 1
        return n

    def _podman(self, *args):
        try:
            return subprocess.run(["podman", *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=PODMAN_TIMEOUT).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def _kill_hard(self, c):
        """The last resort: the container (podman) and the process group are gone afterwards. Even
        when the client has exited: a client killed before its container existed leaves it behind."""
        if self.cluster.podman:
            self._podman("rm", "--force", "--time", "0", "--ignore", self._podman_name(c))
        _killpg(c.proc.pid, signal.SIGKILL)

    # ---- probes
    def _probe(self, c, probe):
        timeout = float(probe.get("timeoutSeconds", 1))
        try:
            if "httpGet" in probe:
                h = probe["httpGet"]
                port = self._port(c, h.get("port"))
                host = h.get("host") or self.ip
                if h.get("scheme", "HTTP").upper() == "HTTPS":
                    import ssl
                    conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                                       context=ssl._create_unverified_context())
                else:
                    conn = http.client.HTTPConnection(host, port, timeout=timeout)
                try:
                    headers = {"User-Agent": "kube-probe/1.30", "Accept": "*/*"}
                    for hh in h.get("httpHeaders") or []:
                        headers[hh["name"]] = hh.get("value", "")
                    conn.request("GET", h.get("path", "/"), headers=headers)
                    return 200 <= conn.getresponse().status < 400
                finally:
                    conn.close()
            if "tcpSocket" in probe:
                t = probe["tcpSocket"]
                with socket.create_connection((t.get("host") or self.ip, self._port(c, t.get("port"))),
                                              timeout=timeout):
                    return True
            if "exec" in probe:
                r = subprocess.run(probe["exec"].get("command") or ["false"], timeout=timeout,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return r.returncode == 0
        except (OSError, http.client.HTTPException, subprocess.TimeoutExpired, ValueError):
            return False
        return False

    @staticmethod
    def _port(c, port):
        if isinstance(port, int):
            return port
        for p in c.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        return int(port)

    def _run_probes(self):
        changed = False
        now = time.monotonic()
        for c in self.containers:
            probe = c.spec.get("readinessProbe")
            if not probe or c.exit_code is not None or c.proc is None or now < c.next_probe:
                continue
            ok = self._probe(c, probe)
            c.next_probe = time.monotonic() + max(1.0, float(probe.get("periodSeconds", 10)))
            if ok:
                c.successes += 1
                c.failures = 0
                if not c.ready and c.successes >= int(probe.get("successThreshold", 1)):
                    c.ready = True
                    changed = True
            else:
                c.failures += 1
                c.successes = 0
                if c.ready and c.failures >= int(probe.get("failureThreshold", 3)):
                    c.ready = False
                    changed = True
        for c in self.containers:
            live = c.spec.get("livenessProbe")
            if (not live or c.exit_code is not None or c.proc is None or c.kill_at is not None
                    or time.monotonic() < c.next_live):
                continue
            ok = self._probe(c, live)
            c.next_live = time.monotonic() + max(1.0, float(live.get("periodSeconds", 10)))
            c.live_failures = 0 if ok else c.live_failures + 1
            if c.live_failures >= int(live.get("failureThreshold", 3)):
                # as the kubelet: "Container x failed liveness probe, will be restarted": SIGTERM, SIGKILL
                # after the grace period; the container's exit then goes through restartPolicy
                grace = live.get("terminationGracePeriodSeconds",
                                 self.pod["spec"].get("terminationGracePeriodSeconds", 30))
                self.signal_all(signal.SIGTERM, c.name, main_only=True)
                c.kill_at = time.monotonic() + float(grace)
        for c in self.containers:
            if c.kill_at is not None and time.monotonic() >= c.kill_at and c.exit_code is None and c.proc:
                self.signal_all(signal.SIGKILL, c.name)
        return changed

    def _next_wait(self):
        now = time.monotonic()
        t = 1.0
        for c in self.containers:
            if c.spec.get("readinessProbe") and c.exit_code is None and c.proc is not None:
                t = min(t, max(0.0, c.next_probe - now))
            if c.spec.get("livenessProbe") and c.exit_code is None and c.proc is not None:
                t = min(t, max(0.0, (c.kill_at if c.kill_at is not None else c.next_live) - now))
            if c.restart_at is not None:
                t = min(t, max(0.0, c.restart_at - now))
        return t

    # ---- lifecycle
    def _run(self):
        try:
            self._lifecycle()
        except Exception as e:
            print("kubesim: pod %s/%s worker failed: %r" % (self.key + (e,)), flush=True)
            self._stop_processes(0)
        finally:
            if self.ip:
                self.cluster.ips.give(self.ip)
            self.cluster._forget(self)

    def _lifecycle(self):
        pod = self._current()
        if pod is None:
            return
        self.ip = self.cluster.ips.take()
        self.pod = pod
        self._write_status("Pending")
        if pod["metadata"].get("deletionTimestamp"):
            return self._terminate(pod)
        for c in self.containers:
            self._start(c, pod)
        running = any(c.exit_code is None and c.proc is not None for c in self.containers)
        self._write_status("Running" if running else None)
        restart = pod["spec"].get("restartPolicy", "Always")
        while True:
            if self.stop_now.is_set():
                self._stop_processes(0)
                return
            self.wake.wait(self._next_wait())
            self.wake.clear()
            pod = self._current()
            if pod is None:  # removed at once (gracePeriodSeconds=0): stop the processes
                self._stop_processes(self.pod["spec"].get("terminationGracePeriodSeconds", 30))
                return
            self.pod = pod
            if pod["metadata"].get("deletionTimestamp"):
                return self._terminate(pod)
            changed = False
            for c in self.containers:
                if self._reap(c):
                    changed = True
                    if restart == "Always" or (restart == "OnFailure" and c.exit_code != 0):
                        c.backoff = self.cluster.restart_backoff if c.backoff is None else min(BACKOFF_MAX,
                                                                                               c.backoff * 2)
                        c.restart_at = time.monotonic() + c.backoff
                        c.last_state = c.state
                        c.state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off %ds restarting "
                                               "failed container=%s pod=%s_%s(%s)" % (c.backoff, c.name,
                                                                                     self.key[1], self.key[0],
                                                                                     self.uid)}}
                if c.restart_at is not None and time.monotonic() >= c.restart_at:
                    c.restart_at = None
                    c.restarts += 1
                    self._start(c, pod)
                    changed = True
            if self._run_probes():
                changed = True
            phase = None
            if all(c.exit_code is not None and c.restart_at is None for c in self.containers):
                phase = "Succeeded" if all(c.exit_code == 0 for c in self.containers) else "Failed"
            elif all("running" in c.state for c in self.containers):
                phase = "Running"
            if changed or phase:
                self._write_status(phase)
            if phase in ("Succeeded", "Failed"):
                return self._wait_deletion()

    def _wait_deletion(self):
        """A terminated pod stays until deleted (its address too: status.podIP still shows it)."""
        while not self.stop_now.is_set():
            self.wake.wait(5.0)
            self.wake.clear()
            pod = self._current()
            if pod is None:
                return
            if pod["metadata"].get("deletionTimestamp"):
                self.store.remove(apisim.PODS, self.key[0], self.key[1], uid=self.uid)
                return

    def _terminate(self, pod):
        for c in self.containers:
            c.restart_at = None
        self.signal_all(signal.SIGTERM, main_only=True)
        # as the kubelet: the grace period (deletionGracePeriodSeconds, re-read: a second DELETE can
        # shorten it) counts from when the kill starts; deletionTimestamp has only second precision
        began = time.monotonic()
        while True:
            alive = [c for c in self.containers if c.proc is not None and c.exit_code is None
                     and c.proc.poll() is None]
            if not alive:
                break
            pod = self._current() or pod
            grace = pod["metadata"].get("deletionGracePeriodSeconds", 0) or 0
            left = began + grace - time.monotonic()
            if left <= 0 or self.stop_now.is_set():
                self.signal_all(signal.SIGKILL)
                for c in alive:
                    try:
                        c.proc.wait(5)
                    except subprocess.TimeoutExpired:
                        pass
                break
            self.wake.wait(min(left, 0.5))
            self.wake.clear()
        for c in self.containers:
            self._reap(c)
        phase = "Succeeded" if all(c.exit_code == 0 for c in self.containers) else "Failed"
        self._write_status(phase)
        self.store.remove(apisim.PODS, self.key[0], self.key[1], uid=self.uid)

    def _stop_processes(self, grace):
        self.signal_all(signal.SIGTERM, main_only=True)
        deadline = time.monotonic() + min(float(grace), 30.0)
        for c in self.containers:
            if c.proc is None:
                continue
            try:
                c.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        self.signal_all(signal.SIGKILL)
        for c in self.containers:
            if c.proc is not None:
                self._kill_hard(c)
                try:
                    c.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass

    def shutdown(self):
        """Simulator stopping: SIGTERM now, SIGKILL after 2 s (no leftovers)."""
        self.stop_now.set()
        self.wake.set()
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + 2.0
        for c in self.containers:
            if c.proc is not None:
                try:
                    c.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                self._kill_hard(c)


def _load_prctl():
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # resolved here: the child between fork and exec must not import or load


def _die_with_parent():
    """PR_SET_PDEATHSIG(SIGKILL): should the simulator itself be SIGKILLed (no cleanup), a container's
    main process dies with the thread that started it (its pod worker) instead of leaking."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL, 0, 0, 0)


def _killpg(pgid, signum):
    try:
        os.killpg(pgid, signum)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _read_message(path):
    try:
        with open(path, "rb") as f:
            return f.read(MAX_MESSAGE).decode(errors="replace")
    except OSError:
        return ""


def _tail(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    lines = data.splitlines()[-80:]
    return b"\n".join(lines)[-2048:].decode(errors="replace")
