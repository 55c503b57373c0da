"""apisim.py: a Kubernetes API server simulator for owx's tests (no API server runs on our machines).

Run:  /usr/bin/python3 -m t.kube.apisim --port 0 --nodes "n1:cpu=4,memory=8Gi;n2:cpu=4,memory=8Gi,nvidia.com/gpu=1"
      (from /work/main; prints "listening on http://127.0.0.1:<port>" once ready; SIGTERM/SIGINT stop it
      and every process its kubelets started). In tests: `kube.Simulator` (t/kube/__init__.py).

What it implements, following the Kubernetes API reference (v1.30-era semantics):
- resources: core/v1 pods (namespaced, /api/v1/namespaces/{ns}/pods[/{name}], all namespaces at
  /api/v1/pods), core/v1 nodes (cluster-scoped, /api/v1/nodes[/{name}]), core/v1 secrets (namespaced;
  data values base64, stringData merged into data on write; a pod's secret volume is materialized by
  its kubelet), coordination.k8s.io/v1 leases
  (/apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/{name}]); pod logs (GET .../pods/{name}/log
  ?container=); the status subresource of pods and nodes (GET/PUT/PATCH .../status: only .status
  changes; e.g. a test marks a node NotReady or changes its allocatable); discovery (/api, /api/v1,
  /apis, /version, /healthz, /readyz, /livez). Every namespace exists (Namespace is not modelled).
- --nodes "name:cpu=4,memory=8Gi,nvidia.com/gpu=1,pods=110,taint=k=v:NoSchedule,label=k=v;name2:..."
  (or a JSON list of {"name","allocatable","taints","labels"}): Node objects (Ready, InternalIP
  127.0.0.1, capacity = allocatable) created at start, each with a simulated kubelet.
- verbs: create (POST), get, list, watch (?watch=1|true), update (PUT), patch (PATCH), delete (DELETE),
  deletecollection. JSON (and YAML) bodies; responses are application/json.
- one global resourceVersion counter (decimal strings, like etcd's revision); metadata.uid,
  creationTimestamp, generation (pods: 1 on create, +1 on spec change and on graceful deletion, as
  since 1.33), generateName (5 random chars from the apiserver's alphabet).
- update: metadata.resourceVersion is an optimistic-concurrency precondition (mismatch: 409 Conflict
  "the object has been modified..."); pods and nodes allow an unconditional update (no
  resourceVersion), leases do not (422); PUT creates a missing lease (AllowCreateOnUpdate) but not a
  pod or node (404). An update that changes nothing keeps the resourceVersion and sends no event.
  Pod spec is immutable except containers[*].image, activeDeadlineSeconds, tolerations (422 otherwise);
  the pod status is ignored on PUT/PATCH of the pod (it is the status subresource's, kubelet-owned).
- patch: application/merge-patch+json (RFC 7386), application/strategic-merge-patch+json (merge patch
  plus merge keys for the lists that have them in the Pod/Node types: containers, env, ports,
  volumes, volumeMounts, conditions, ...; `$patch: replace|delete`), application/json-patch+json
  (RFC 6902); anything else 415. metadata.resourceVersion in a patch is a precondition (409).
- delete: gracePeriodSeconds (query or DeleteOptions body), preconditions (uid, resourceVersion: 409).
  A scheduled, non-terminated pod is deleted gracefully: it gets metadata.deletionTimestamp and
  deletionGracePeriodSeconds (MODIFIED) and stays until its kubelet has stopped the containers
  (SIGTERM, SIGKILL at the deadline) and removed it (DELETED); gracePeriodSeconds=0, an unscheduled
  or terminated pod go at once. DELETE answers the pod (pods return the object), a Status for nodes
  and leases (as the real registry does).
- watch: newline-delimited JSON events {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":..}
  over chunked HTTP; resourceVersion unset/"0": synthetic ADDED events for the current state first;
  resourceVersion=N: every event after N, or, when N is older than the kept event window
  (--event-window events, or /_sim/compact), one ERROR event with a 410 Status (reason Expired,
  "too old resource version: N (M)") on a 200 response, as the watch cache does; allowWatchBookmarks
  (BOOKMARK every --bookmark-interval seconds, object = kind + metadata.resourceVersion);
  timeoutSeconds (the stream ends cleanly); label/field selectors, with an object leaving the
  selection seen as DELETED and one entering as ADDED (as the watch cache filters).
- list: kind XList, apiVersion, metadata.resourceVersion; limit + continue (the token holds the last
  key; later pages read the current state, not a snapshot; a token older than the event window: 410).
- label selectors (=, ==, !=, in, notin, exists, !key) and field selectors (=, ==, != on
  metadata.name, metadata.namespace and, for pods, spec.nodeName, status.phase, status.podIP,
  spec.restartPolicy, spec.schedulerName; nodes spec.unschedulable); others: 400.
- errors: metav1.Status JSON (kind Status, status Failure, message, reason, details, code) for
  400/401/404/405/409/410/415/422/429/500/503 with the real messages.
- auth: any `Authorization: Bearer <token>`; with --token T only `Bearer T` (else 401 Unauthorized).
- a trivial scheduler (kube-scheduler's filters: node Ready, not unschedulable, NoSchedule/NoExecute
  taints tolerated, nodeSelector, room for the pods' requests of cpu/memory/nvidia.com/gpu/pods;
  scores least-allocated) binds pods without spec.nodeName; PodScheduled=False/Unschedulable otherwise.
- simulated kubelets, one per node given with --nodes: see kubelet.py (processes, pod IPs 127.0.0.x,
  downward API, $(VAR) expansion, terminationMessagePath, probes, status, graceful stop); with
  --container-runtime podman they run each container from its image (`podman run --network host`).

Test hooks (not Kubernetes; /_sim/...; JSON bodies):
- POST /_sim/faults {"verb":"list|watch|get|create|update|patch|delete|deletecollection|*",
  "resource":"pods|nodes|leases|*","code":429|500|503|504|410,"count":N,"retryAfter":S,"name"?}:
  the next N matching requests answer that Status (429 with Retry-After; a watch given 410 gets the
  ERROR event); DELETE /_sim/faults clears them.
- POST /_sim/end-watches: every open watch ends now (as on an apiserver restart); answers {"closed":n}.
- POST /_sim/compact: forget the event history (a watch from an older resourceVersion gets 410).
- POST /_sim/kill {"namespace","name","container"?,"signal"?}: kill a pod's processes behind the API's
  back; its kubelet reports the container terminated (137 for SIGKILL) and, restartPolicy Never,
  the pod Failed.
- GET /_sim/requests: the last 10000 API requests served (method, path, query, contentType, status and,
  once routed, apiGroup, resource, verb, namespaced: RBAC's terms, to compare with
  pool-manager/backends/kube/kube_api_calls.json); DELETE clears it. Hooks need no token.
- GET /_sim/state: resourceVersion, open watches, pods' IPs and process ids.

Not implemented: namespaces, other resources, server-side apply, protobuf, dry-run, finalizers and
ownerReferences (garbage collection), field managers (managedFields), the binding/eviction
subresources (the scheduler and kubelets write in-process), admission (service
accounts, default tolerations, LimitRanges), NoExecute eviction, startup probes, init
containers, volumes other than emptyDir/hostPath/secret (see kubelet.py), images (the image is recorded;
containers must carry a command; unless --container-runtime podman).
Compared with the real kube-apiserver v1.21 (../shared/k8s, the same backend tests run against both):
the real one refuses every pod (403 "error looking up service account") until the
controller-manager has made the namespace's "default" ServiceAccount, a few seconds after start
(here every namespace has it at once); it taints a new Node node.kubernetes.io/not-ready until the
node lifecycle controller lifts it (here nodes are created Ready, untainted); it keeps only the
pod status fields it knows (hostIPs is newer than v1.21). Apart from that first window, no answer to
the pool-manager backend's own calls differed.
sendInitialEvents/resourceVersionMatch are ignored. Environment: a container gets only what its spec
says (POD_IP only through the downward API, as on Kubernetes) plus PATH, HOME and HOSTNAME; no
KUBERNETES_SERVICE_* variables (point the client at the simulator yourself).

Clients: --tls-cert/--tls-key serve HTTPS (handshake per connection); --kubeconfig FILE writes a
kubeconfig (server, certificate-authority-data, token, namespace default); --serviceaccount-dir DIR
writes token, namespace and ca.crt as a pod's /var/run/secrets/kubernetes.io/serviceaccount holds
them (token = --token, or "owx-sim-token" when any token is accepted).
"""

import argparse
import base64
import copy
import datetime
import json
import os
import random
import re
import signal
import ssl
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

try:
    import yaml
except ImportError:  # pragma: no cover - python3-yaml is installed by configure.sh
    yaml = None

# --------------------------------------------------------------------------------------------
# resource types


class ResType:
    def __init__(self, resource, kind, group, version, namespaced, fields):
        self.resource = resource
        self.kind = kind
        self.group = group
        self.version = version
        self.namespaced = namespaced
        self.fields = fields  # field selector label -> getter(obj) -> str

    @property
    def api_version(self):
        return self.version if not self.group else self.group + "/" + self.version

    @property
    def qualified(self):
        """The resource name errors use ("pods", "leases.coordination.k8s.io")."""
        return self.resource if not self.group else self.resource + "." + self.group


def _get(obj, *path, default=""):
    for p in path:
        if not isinstance(obj, dict) or p not in obj:
            return default
        obj = obj[p]
    return obj


def _meta_fields(extra):
    f = {"metadata.name": lambda o: _get(o, "metadata", "name"),
         "metadata.namespace": lambda o: _get(o, "metadata", "namespace")}
    f.update(extra)
    return f


PODS = ResType("pods", "Pod", "", "v1", True, _meta_fields({
    "spec.nodeName": lambda o: _get(o, "spec", "nodeName"),
    "spec.restartPolicy": lambda o: _get(o, "spec", "restartPolicy"),
    "spec.schedulerName": lambda o: _get(o, "spec", "schedulerName"),
    "spec.serviceAccountName": lambda o: _get(o, "spec", "serviceAccountName"),
    "status.phase": lambda o: _get(o, "status", "phase"),
    "status.podIP": lambda o: _get(o, "status", "podIP"),
    "status.nominatedNodeName": lambda o: _get(o, "status", "nominatedNodeName"),
}))
NODES = ResType("nodes", "Node", "", "v1", False, _meta_fields({
    "spec.unschedulable": lambda o: "true" if _get(o, "spec", "unschedulable", default=False) else "false",
}))
LEASES = ResType("leases", "Lease", "coordination.k8s.io", "v1", True, _meta_fields({}))
SECRETS = ResType("secrets", "Secret", "", "v1", True, _meta_fields({
    "type": lambda o: _get(o, "type"),
}))
TYPES = {"pods": PODS, "nodes": NODES, "leases": LEASES, "secrets": SECRETS}


# --------------------------------------------------------------------------------------------
# errors as metav1.Status


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self):
        s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
             "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            s["details"] = self.details
        return s


def _details(rt, name):
    d = {"name": name, "kind": rt.resource}
    if rt.group:
        d["group"] = rt.group
    return d


def not_found(rt, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (rt.qualified, name), _details(rt, name))


def already_exists(rt, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (rt.qualified, name),
                    _details(rt, name))


def conflict(rt, name, why=None):
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s' % (rt.qualified, name, why),
                    _details(rt, name))


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def gone(message):
    return ApiError(410, "Expired", message)


def invalid(rt, name, causes):
    """causes: [(field, reason, message)]; message as field.ErrorList.ToAggregate() prints it."""
    msgs = ["%s: %s" % (f, m) for f, _, m in causes]
    text = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
    d = {"name": name, "kind": rt.kind,
         "causes": [{"reason": r, "message": m, "field": f} for f, r, m in causes]}
    if rt.group:
        d["group"] = rt.group
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (rt.kind, name, text), d)


FAULT_REASONS = {
    400: ("BadRequest", "injected by the simulator"),
    409: ("Conflict", "injected by the simulator"),
    410: ("Expired", "too old resource version (injected by the simulator)"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected by the simulator"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted, but may still be "
                     "processing the request"),
}

# --------------------------------------------------------------------------------------------
# time, names, quantities


def now_time():
    """metav1.Time: RFC 3339, seconds."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_after(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


# metav1.MicroTime is parsed with Go's layout "2006-01-02T15:04:05.000000Z07:00": exactly 6 digits
MICROTIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")
# metav1.Time is parsed with time.RFC3339 (fractional seconds accepted)
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_SUFFIX = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
           "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "P": 1e15, "E": 1e18}
QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")


def parse_quantity(q):
    """resource.Quantity -> float (cpu in cores, memory in bytes). ValueError when malformed."""
    if isinstance(q, (int, float)) and not isinstance(q, bool):
        return float(q)
    if not isinstance(q, str):
        raise ValueError("quantity must be a string")
    m = QUANTITY_RE.match(q.strip())
    if not m or m.group(1) in (".", "+", "-", ""):
        raise ValueError("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    num = float(m.group(1))
    suf = m.group(2) or ""
    if suf[:1] in ("e", "E"):
        return num * 10 ** int(suf[1:])
    return num * _SUFFIX[suf]


def _label_errors(path, labels):
    out = []
    if labels is None:
        return out
    if not isinstance(labels, dict):
        return [(path, "FieldValueInvalid", "Invalid value: must be a map")]
    for k, v in labels.items():
        name = k.split("/", 1)[-1]
        prefix = k.split("/", 1)[0] if "/" in k else None
        if not LABEL_NAME.match(name) or len(name) > 63 or (prefix is not None and (
                not DNS1123_SUBDOMAIN.match(prefix) or len(prefix) > 253)):
            out.append((path, "FieldValueInvalid",
                        'Invalid value: "%s": name part must consist of alphanumeric characters, \'-\', '
                        '\'_\' or \'.\', and must start and end with an alphanumeric character' % k))
        if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
            out.append(("%s" % path, "FieldValueInvalid",
                        'Invalid value: "%s": a valid label must be an empty string or consist of '
                        'alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an '
                        'alphanumeric character' % (v,)))
    return out


# --------------------------------------------------------------------------------------------
# selectors

_SEL_TOKEN = re.compile(r"\s*(!=|==|=|\(|\)|,|!|[^\s!=(),]+)")


def parse_label_selector(text):
    """-> list of (key, op, values); op in = != in notin exists !exists. BadRequest if malformed."""
    reqs = []
    if not text:
        return reqs
    toks = _SEL_TOKEN.findall(text)
    if "".join(toks).replace(" ", "") != re.sub(r"\s+", "", text):
        raise bad_request("unable to parse requirement: invalid label selector: %s" % text)
    i = 0

    def need(cond):
        if not cond:
            raise bad_request("unable to parse requirement: found '%s', expected: identifier" % text)

    while i < len(toks):
        if toks[i] == "!":
            need(i + 1 < len(toks) and toks[i + 1] not in ("=", "==", "!=", "(", ")", ",", "!"))
            reqs.append((toks[i + 1], "!exists", []))
            i += 2
        else:
            key = toks[i]
            need(key not in ("=", "==", "!=", "(", ")", ","))
            i += 1
            if i >= len(toks) or toks[i] == ",":
                reqs.append((key, "exists", []))
            elif toks[i] in ("=", "==", "!="):
                op = "!=" if toks[i] == "!=" else "="
                i += 1
                val = ""
                if i < len(toks) and toks[i] not in (",", "(", ")", "=", "==", "!=", "!"):
                    val = toks[i]
                    i += 1
                reqs.append((key, op, [val]))
            elif toks[i] in ("in", "notin"):
                op = toks[i]
                i += 1
                need(i < len(toks) and toks[i] == "(")
                i += 1
                vals = []
                while i < len(toks) and toks[i] != ")":
                    if toks[i] != ",":
                        vals.append(toks[i])
                    i += 1
                need(i < len(toks))
                i += 1
                reqs.append((key, op, vals))
            else:
                need(False)
        if i < len(toks):
            need(toks[i] == ",")
            i += 1
    for key, _, vals in reqs:
        if _label_errors("selector", {key: ""}) or any(_label_errors("selector", {"a": v}) for v in vals):
            raise bad_request("unable to parse requirement: invalid label key or value: %s" % key)
    return reqs


def label_match(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        if op == "exists" and not has:
            return False
        if op == "!exists" and has:
            return False
        if op == "=" and (not has or labels[key] != vals[0]):
            return False
        if op == "!=" and has and labels[key] == vals[0]:
            return False
        if op == "in" and (not has or labels[key] not in vals):
            return False
        if op == "notin" and has and labels[key] in vals:
            return False
    return True


def parse_field_selector(rt, text):
    reqs = []
    if not text:
        return reqs
    for part in text.split(","):
        m = re.match(r"^\s*([^=!\s]+)\s*(==|!=|=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (text, part))
        key, op, val = m.groups()
        if key not in rt.fields:
            raise bad_request('field label not supported: %s' % key)
        reqs.append((key, "!=" if op == "!=" else "=", val))
    return reqs


def field_match(rt, reqs, obj):
    for key, op, val in reqs:
        got = rt.fields[key](obj)
        if (got == val) != (op == "="):
            return False
    return True


# --------------------------------------------------------------------------------------------
# patches

# merge keys of the lists strategic merge patch merges (k8s.io/api core/v1 patchMergeKey tags)
MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name",
              "env": "name", "ports": "containerPort", "volumes": "name", "volumeMounts": "mountPath",
              "volumeDevices": "devicePath", "conditions": "type", "imagePullSecrets": "name",
              "hostAliases": "ip", "addresses": "type", "ownerReferences": "uid",
              "topologySpreadConstraints": "topologyKey", "resourceClaims": "name"}


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge_patch(target, patch, key=None):
    if not isinstance(patch, dict):
        if isinstance(patch, list) and isinstance(target, list) and key in MERGE_KEYS:
            return _smp_list(target, patch, MERGE_KEYS[key])
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: v for k, v in copy.deepcopy(patch).items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if k.startswith("$") or k.startswith("$setElementOrder/"):
            continue
        if v is None:
            out.pop(k, None)
        else:
            r = strategic_merge_patch(out.get(k), v, k)
            if r is None:
                out.pop(k, None)
            else:
                out[k] = r
    return out


def _smp_list(target, patch, mk):
    out = [copy.deepcopy(x) for x in target]
    for item in patch:
        if not isinstance(item, dict) or mk not in item:
            if isinstance(item, dict) and item.get("$patch") == "replace":
                return [x for x in patch if not (isinstance(x, dict) and "$patch" in x)]
            raise bad_request("map: %s does not contain declared merge key: %s" % (item, mk))
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(mk) == item[mk]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append({k: v for k, v in item.items() if not k.startswith("$")})
        else:
            out[idx] = strategic_merge_patch(out[idx], item)
    return out


def _ptr(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request("invalid JSON pointer: %s" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, ops):
    """RFC 6902."""
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)

    def walk(parts):
        cur = doc
        for p in parts[:-1]:
            if isinstance(cur, list):
                cur = cur[int(p)]
            else:
                cur = cur[p]
        return cur

    def get(path):
        cur = doc
        for p in _ptr(path):
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def remove(path):
        parts = _ptr(path)
        parent = walk(parts)
        if isinstance(parent, list):
            return parent.pop(int(parts[-1]))
        return parent.pop(parts[-1])

    def add(path, value):
        nonlocal doc
        parts = _ptr(path)
        if not parts:
            doc = value
            return
        parent = walk(parts)
        if isinstance(parent, list):
            if parts[-1] == "-":
                parent.append(value)
            else:
                i = int(parts[-1])
                if i > len(parent):
                    raise IndexError(i)
                parent.insert(i, value)
        else:
            parent[parts[-1]] = value

    for op in ops:
        try:
            kind = op["op"]
            path = op["path"]
            if kind == "add":
                add(path, copy.deepcopy(op["value"]))
            elif kind == "remove":
                remove(path)
            elif kind == "replace":
                get(path)
                remove(path)
                add(path, copy.deepcopy(op["value"]))
            elif kind == "move":
                v = remove(op["from"])
                add(path, v)
            elif kind == "copy":
                add(path, copy.deepcopy(get(op["from"])))
            elif kind == "test":
                if get(path) != op["value"]:
                    raise ApiError(422, "Invalid", "the server rejected our request due to an error in "
                                   "our request: testing value %s failed" % path)
            else:
                raise bad_request("Unexpected kind: %s" % kind)
        except ApiError:
            raise
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "Invalid", "the server rejected our request due to an error in our "
                           "request: %s: %s" % (op.get("path") if isinstance(op, dict) else op, e))
    return doc


PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json")

# --------------------------------------------------------------------------------------------
# defaulting and validation


def _qos(spec):
    reqs, lims, guaranteed = False, False, True
    for c in spec.get("containers", []):
        r = (c.get("resources") or {}).get("requests") or {}
        lim = (c.get("resources") or {}).get("limits") or {}
        reqs = reqs or bool(r)
        lims = lims or bool(lim)
        for res in ("cpu", "memory"):
            if res not in lim or r.get(res, lim.get(res)) != lim.get(res):
                guaranteed = False
    if not reqs and not lims:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def default_pod(pod):
    spec = pod.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    for c in spec.get("containers") or []:
        if not isinstance(c, dict):
            continue
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        image = c.get("image", "")
        tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
        latest = not tagged or image.endswith(":latest")
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        res = c.setdefault("resources", {})
        if isinstance(res, dict) and isinstance(res.get("limits"), dict):
            req = res.setdefault("requests", {})
            for k, v in res["limits"].items():
                req.setdefault(k, v)
        for p in c.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")
        for probe in (c.get("readinessProbe"), c.get("livenessProbe")):
            if not isinstance(probe, dict):
                continue
            probe.setdefault("timeoutSeconds", 1)
            probe.setdefault("periodSeconds", 10)
            probe.setdefault("successThreshold", 1)
            probe.setdefault("failureThreshold", 3)
            if isinstance(probe.get("httpGet"), dict):
                probe["httpGet"].setdefault("path", "/")
                probe["httpGet"].setdefault("scheme", "HTTP")
    status = pod.setdefault("status", {})
    status.clear()
    status["phase"] = "Pending"
    status["qosClass"] = _qos(spec)


def validate_meta(rt, obj, path_name):
    md = obj.get("metadata")
    name = md.get("name", "")
    causes = []
    if not name and not md.get("generateName"):
        causes.append(("metadata.name", "FieldValueRequired", "Required value: name or generateName is required"))
    if name and (not DNS1123_SUBDOMAIN.match(name) or len(name) > 253):
        causes.append(("metadata.name", "FieldValueInvalid",
                       'Invalid value: "%s": a lowercase RFC 1123 subdomain must consist of lower case '
                       'alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric '
                       'character (e.g. \'example.com\', regex used for validation is '
                       '\'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\')' % name))
    causes += _label_errors("metadata.labels", md.get("labels"))
    ann = md.get("annotations")
    if ann is not None and (not isinstance(ann, dict) or not all(isinstance(v, str) for v in ann.values())):
        causes.append(("metadata.annotations", "FieldValueInvalid", "Invalid value: values must be strings"))
    return causes


def validate_pod(pod):
    spec = pod.get("spec")
    causes = []
    if not isinstance(spec, dict):
        return [("spec", "FieldValueRequired", "Required value")]
    cs = spec.get("containers")
    if not cs:
        causes.append(("spec.containers", "FieldValueRequired", "Required value"))
    elif not isinstance(cs, list):
        causes.append(("spec.containers", "FieldValueInvalid", "Invalid value: must be a list"))
    else:
        names = set()
        volumes = set()
        for i, v in enumerate(spec.get("volumes") or []):
            n = v.get("name") if isinstance(v, dict) else None
            if not n or not DNS1123_LABEL.match(str(n)):
                causes.append(("spec.volumes[%d].name" % i, "FieldValueRequired" if not n else "FieldValueInvalid",
                               "Required value" if not n else 'Invalid value: "%s": a lowercase RFC 1123 label' % n))
            elif n in volumes:
                causes.append(("spec.volumes[%d].name" % i, "FieldValueDuplicate", 'Duplicate value: "%s"' % n))
            volumes.add(n)
        for i, c in enumerate(cs):
            p = "spec.containers[%d]" % i
            if not isinstance(c, dict):
                causes.append((p, "FieldValueInvalid", "Invalid value: must be an object"))
                continue
            n = c.get("name", "")
            if not n:
                causes.append((p + ".name", "FieldValueRequired", "Required value"))
            elif not isinstance(n, str) or not DNS1123_LABEL.match(n) or len(n) > 63:
                causes.append((p + ".name", "FieldValueInvalid",
                               'Invalid value: "%s": a lowercase RFC 1123 label must consist of lower case '
                               'alphanumeric characters or \'-\', and must start and end with an '
                               'alphanumeric character' % (n,)))
            elif n in names:
                causes.append((p + ".name", "FieldValueDuplicate", 'Duplicate value: "%s"' % n))
            names.add(n)
            if not c.get("image"):
                causes.append((p + ".image", "FieldValueRequired", "Required value"))
            for key in ("command", "args"):
                v = c.get(key)
                if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
                    causes.append((p + "." + key, "FieldValueInvalid", "Invalid value: must be a list of strings"))
            for j, e in enumerate(c.get("env") or []):
                if not isinstance(e, dict) or not e.get("name"):
                    causes.append(("%s.env[%d].name" % (p, j), "FieldValueRequired", "Required value"))
                elif "value" in e and "valueFrom" in e and e["value"]:
                    causes.append(("%s.env[%d].valueFrom" % (p, j), "FieldValueInvalid",
                                   "Invalid value: \"\": may not be specified when `value` is not empty"))
            parsed = {}
            for which in ("requests", "limits"):
                for k, v in ((c.get("resources") or {}).get(which) or {}).items():
                    try:
                        parsed[which, k] = parse_quantity(v)
                    except ValueError as e:
                        causes.append(("%s.resources.%s[%s]" % (p, which, k), "FieldValueInvalid",
                                       "Invalid value: \"%s\": %s" % (v, e)))
            for (which, k), v in parsed.items():
                if which == "requests" and ("limits", k) in parsed and v > parsed["limits", k]:
                    causes.append(("%s.resources.requests" % p, "FieldValueInvalid",
                                   'Invalid value: "%s": must be less than or equal to %s limit of %s'
                                   % (c["resources"]["requests"][k], k, c["resources"]["limits"][k])))
            for j, e in enumerate(c.get("env") or []):
                if isinstance(e, dict) and e.get("name") and not ENV_NAME.match(str(e["name"])):
                    causes.append(("%s.env[%d].name" % (p, j), "FieldValueInvalid",
                                   'Invalid value: "%s": a valid environment variable name must consist of '
                                   'alphabetic characters, digits, \'_\', \'-\', or \'.\', and must not start '
                                   'with a digit' % e["name"]))
            for j, port in enumerate(c.get("ports") or []):
                cp = port.get("containerPort") if isinstance(port, dict) else None
                if not isinstance(cp, int) or not 0 < cp < 65536:
                    causes.append(("%s.ports[%d].containerPort" % (p, j), "FieldValueInvalid" if cp else
                                   "FieldValueRequired", "Invalid value: %s: must be between 1 and 65535, "
                                   "inclusive" % json.dumps(cp) if cp else "Required value"))
            for j, m in enumerate(c.get("volumeMounts") or []):
                if not isinstance(m, dict) or m.get("name") not in volumes:
                    causes.append(("%s.volumeMounts[%d].name" % (p, j), "FieldValueNotFound",
                                   'Not found: "%s"' % (m.get("name") if isinstance(m, dict) else m)))
                elif not m.get("mountPath"):
                    causes.append(("%s.volumeMounts[%d].mountPath" % (p, j), "FieldValueRequired",
                                   "Required value"))
            for pname in ("readinessProbe", "livenessProbe"):
                probe = c.get(pname)
                if not isinstance(probe, dict):
                    continue
                handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if h in probe]
                if len(handlers) != 1:
                    causes.append(("%s.%s" % (p, pname), "FieldValueRequired" if not handlers else
                                   "FieldValueForbidden", "Required value: must specify a handler type"
                                   if not handlers else "Forbidden: may not specify more than 1 handler type"))
                for h in ("httpGet", "tcpSocket"):
                    if h in probe and (not isinstance(probe[h], dict) or probe[h].get("port") in (None, "", 0)):
                        causes.append(("%s.%s.%s.port" % (p, pname, h), "FieldValueRequired",
                                       "Required value"))
    rp = spec.get("restartPolicy")
    if rp not in ("Always", "OnFailure", "Never"):
        causes.append(("spec.restartPolicy", "FieldValueNotSupported",
                       'Unsupported value: "%s": supported values: "Always", "OnFailure", "Never"' % rp))
    g = spec.get("terminationGracePeriodSeconds")
    if not isinstance(g, int) or isinstance(g, bool) or g < 0:
        causes.append(("spec.terminationGracePeriodSeconds", "FieldValueInvalid",
                       "Invalid value: %s: must be greater than or equal to 0" % json.dumps(g)))
    return causes


def validate_node(node):
    causes = []
    for i, t in enumerate(_get(node, "spec", "taints", default=[]) or []):
        if not isinstance(t, dict) or not t.get("key"):
            causes.append(("spec.taints[%d].key" % i, "FieldValueRequired", "Required value"))
        elif t.get("effect") not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            causes.append(("spec.taints[%d].effect" % i, "FieldValueNotSupported",
                           'Unsupported value: "%s": supported values: "NoSchedule", "PreferNoSchedule", '
                           '"NoExecute"' % t.get("effect")))
    return causes


def secret_string_data(secret):
    """stringData is write-only: merged into data (base64, stringData winning), as the apiserver's
    conversion does; type defaults to Opaque."""
    sd = secret.pop("stringData", None)
    if isinstance(sd, dict):
        data = secret.get("data")
        if not isinstance(data, dict):
            data = secret["data"] = {}
        for k, v in sd.items():
            if isinstance(v, str):
                data[k] = base64.b64encode(v.encode()).decode()
    secret.setdefault("type", "Opaque")


def validate_secret(secret):
    causes = []
    data = secret.get("data")
    if data is not None and not isinstance(data, dict):
        causes.append(("data", "FieldValueInvalid", "Invalid value: must be an object"))
        return causes
    for k, v in (data or {}).items():
        if not re.match(r"^[-._a-zA-Z0-9]+$", k) or len(k) > 253:
            causes.append(("data[%s]" % k, "FieldValueInvalid",
                           "Invalid value: %s: a valid config key must consist of alphanumeric "
                           "characters, '-', '_' or '.'" % json.dumps(k)))
        try:
            if not isinstance(v, str):
                raise ValueError
            base64.b64decode(v, validate=True)
        except (ValueError, TypeError):
            causes.append(("data[%s]" % k, "FieldValueInvalid", "Invalid value: illegal base64 data"))
    return causes


def secret_data(secret):
    """{key: bytes} of a stored Secret."""
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def validate_lease(lease):
    causes = []
    spec = lease.get("spec") or {}
    d = spec.get("leaseDurationSeconds")
    if d is not None and (not isinstance(d, int) or d <= 0):
        causes.append(("spec.leaseDurationSeconds", "FieldValueInvalid",
                       "Invalid value: %s: must be greater than 0" % json.dumps(d)))
    t = spec.get("leaseTransitions")
    if t is not None and (not isinstance(t, int) or t < 0):
        causes.append(("spec.leaseTransitions", "FieldValueInvalid",
                       "Invalid value: %s: must be greater than or equal to 0" % json.dumps(t)))
    h = spec.get("holderIdentity")
    if h is not None and not isinstance(h, str):
        causes.append(("spec.holderIdentity", "FieldValueInvalid", "Invalid value: must be a string"))
    return causes


def decode_checks(rt, obj):
    """What the apiserver's JSON decoder rejects (400 BadRequest), before validation."""
    what = "%s in version \"%s\" cannot be handled as a %s" % (rt.kind, rt.version, rt.kind)
    if not isinstance(obj, dict):
        raise bad_request("%s: json: cannot unmarshal into Go value of type struct" % what)
    if obj.get("kind") not in (None, "", rt.kind) or obj.get("apiVersion") not in (None, "", rt.api_version):
        raise bad_request("%s: the object provided is unrecognized (kind %s, apiVersion %s)"
                          % (what, obj.get("kind"), obj.get("apiVersion")))
    md = obj.get("metadata", {})
    if not isinstance(md, dict):
        raise bad_request("%s: json: cannot unmarshal into Go struct field Object.metadata" % what)
    for k in ("name", "generateName", "namespace", "resourceVersion", "uid"):
        if k in md and md[k] is not None and not isinstance(md[k], str):
            raise bad_request("%s: json: cannot unmarshal into Go struct field ObjectMeta.metadata.%s of "
                              "type string" % (what, k))
    if rt is LEASES:
        for k in ("acquireTime", "renewTime"):
            v = _get(obj, "spec", k, default=None)
            if v is not None and (not isinstance(v, str) or not MICROTIME_RE.match(v)):
                raise bad_request('%s: parsing time "%s" as "2006-01-02T15:04:05.000000Z07:00": cannot parse'
                                  % (what, v))
    for k in ("creationTimestamp", "deletionTimestamp"):
        v = md.get(k)
        if v is not None and (not isinstance(v, str) or not TIME_RE.match(v)):
            raise bad_request('%s: parsing time "%s" as "2006-01-02T15:04:05Z07:00": cannot parse' % (what, v))


POD_MUTABLE_SPEC = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def pod_spec_update_errors(new, old):
    a = copy.deepcopy(new.get("spec") or {})
    b = copy.deepcopy(old.get("spec") or {})
    for s in (a, b):
        for k in POD_MUTABLE_SPEC:
            s.pop(k, None)
        for c in s.get("containers") or []:
            if isinstance(c, dict):
                c.pop("image", None)
    if a != b:
        return [("spec", "FieldValueForbidden",
                 "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
                 "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
                 "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
                 "set to 1 if it was previously negative)")]
    return []


# --------------------------------------------------------------------------------------------
# the store


def typed(rt, obj):
    """kind and apiVersion first, as the apiserver serializes them."""
    out = {"kind": rt.kind, "apiVersion": rt.api_version}
    out.update((k, v) for k, v in obj.items() if k not in ("kind", "apiVersion"))
    return out


class Event:
    __slots__ = ("rv", "type", "rt", "obj", "prev")

    def __init__(self, rv, type_, rt, obj, prev):
        self.rv = rv
        self.type = type_
        self.rt = rt
        self.obj = obj
        self.prev = prev


def edited(old, fn, uid=None):
    """fn applied to a copy of old; None when old is gone or is another object (its uid is not
    uid). What a writer of status (the kubelets, the scheduler) does before it writes."""
    if old is None or (uid is not None and old["metadata"]["uid"] != uid):
        return None
    new = copy.deepcopy(old)
    fn(new)
    return new


class Store:
    """All objects and the event history under one lock; a condition wakes watchers and kubelets."""

    def __init__(self, event_window=1000):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = 1
        self.objects = {rt.resource: {} for rt in TYPES.values()}  # resource -> {(ns, name): obj}
        self.events = deque(maxlen=max(1, event_window))
        self.oldest = 1  # a watch from rv >= oldest can be served from the history
        self.watch_epoch = 0
        self.open_watches = 0
        self.listeners = []  # callables(event) run under the lock (kubelets' and scheduler's wakeups)

    # ---- internals (lock held)
    def _next_rv(self):
        self.rv += 1
        return self.rv

    def _emit(self, type_, rt, obj, prev):
        ev = Event(int(obj["metadata"]["resourceVersion"]), type_, rt, copy.deepcopy(obj),
                   copy.deepcopy(prev) if prev is not None else None)
        if len(self.events) == self.events.maxlen:
            self.oldest = self.events[0].rv
        self.events.append(ev)
        for f in self.listeners:
            f(ev)
        self.cond.notify_all()

    def compact(self):
        with self.lock:
            self.events.clear()
            self.oldest = self.rv
            self.cond.notify_all()

    def end_watches(self):
        with self.lock:
            n = self.open_watches
            self.watch_epoch += 1
            self.cond.notify_all()
            return n

    # ---- reads
    def get(self, rt, ns, name):
        with self.lock:
            o = self.objects[rt.resource].get((ns, name))
            if o is None:
                raise not_found(rt, name)
            return copy.deepcopy(o)

    def peek(self, rt, ns, name):
        """The stored object itself (lock held by the caller) or None."""
        return self.objects[rt.resource].get((ns, name))

    def list(self, rt, ns, lsel, fsel):
        with self.lock:
            items = [copy.deepcopy(o) for (ons, _), o in sorted(self.objects[rt.resource].items())
                     if (ns is None or ons == ns) and label_match(lsel, _get(o, "metadata", "labels", default={}))
                     and field_match(rt, fsel, o)]
            return items, str(self.rv)

    # ---- writes
    def create(self, rt, ns, obj):
        with self.lock:
            md = obj["metadata"]
            if not md.get("name"):
                for _ in range(8):
                    cand = md["generateName"] + "".join(random.choice(GENERATE_ALPHABET) for _ in range(5))
                    if (ns, cand) not in self.objects[rt.resource]:
                        break
                md["name"] = cand
            key = (ns, md["name"])
            if key in self.objects[rt.resource]:
                raise already_exists(rt, md["name"])
            if rt.namespaced:
                md["namespace"] = ns
            else:
                md.pop("namespace", None)
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now_time()
            for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"):
                md.pop(k, None)
            if rt is PODS:
                md["generation"] = 1
            else:
                md.pop("generation", None)
            md["resourceVersion"] = str(self._next_rv())
            obj = typed(rt, obj)
            self.objects[rt.resource][key] = obj
            self._emit("ADDED", rt, obj, None)
            return copy.deepcopy(obj)

    def replace(self, rt, ns, name, new, old):
        """Commit `new` over `old` (lock held by the caller); no-op updates keep the version."""
        md = new["metadata"]
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace"):
            if k in old["metadata"]:
                md[k] = old["metadata"][k]
            else:
                md.pop(k, None)
        md["name"] = name
        if "generation" in old["metadata"]:
            md["generation"] = old["metadata"]["generation"]
            if new.get("spec") != old.get("spec"):
                md["generation"] += 1
        else:
            md.pop("generation", None)
        md["resourceVersion"] = old["metadata"]["resourceVersion"]
        new = typed(rt, new)
        if new == old:
            return copy.deepcopy(old)
        md["resourceVersion"] = str(self._next_rv())
        self.objects[rt.resource][(ns, name)] = new
        self._emit("MODIFIED", rt, new, old)
        return copy.deepcopy(new)

    def mutate(self, rt, ns, name, fn, uid=None):
        """Internal writers (kubelet, scheduler): fn(copy) edits the object; returns the new object,
        or None when the object is gone (or was replaced by another with a different uid)."""
        with self.lock:
            old = self.objects[rt.resource].get((ns, name))
            new = edited(old, fn, uid)
            if new is None:
                return None
            if new == old:
                return old
            new["metadata"]["resourceVersion"] = str(self._next_rv())
            self.objects[rt.resource][(ns, name)] = new
            self._emit("MODIFIED", rt, new, old)
            return new

    def remove(self, rt, ns, name, uid=None):
        """Remove an object now (DELETED); returns the removed object or None."""
        with self.lock:
            old = self.objects[rt.resource].get((ns, name))
            if old is None or (uid is not None and old["metadata"]["uid"] != uid):
                return None
            del self.objects[rt.resource][(ns, name)]
            gone_obj = copy.deepcopy(old)
            gone_obj["metadata"]["resourceVersion"] = str(self._next_rv())
            self._emit("DELETED", rt, gone_obj, old)
            return gone_obj


# --------------------------------------------------------------------------------------------
# the API (verbs), independent of HTTP


class Api:
    def __init__(self, store, bookmark_interval=60.0, default_watch_timeout=1800):
        self.store = store
        self.bookmark_interval = bookmark_interval
        self.default_watch_timeout = default_watch_timeout

    def create(self, rt, ns, obj):
        decode_checks(rt, obj)
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        if rt.namespaced and md.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the namespace sent on "
                              "the request")
        md.pop("resourceVersion", None)
        if rt is PODS:
            default_pod(obj)
        if rt is NODES:
            obj.setdefault("spec", {})
            obj.setdefault("status", {})
        if rt is SECRETS:
            secret_string_data(obj)
        causes = validate_meta(rt, obj, None) + self._validate(rt, obj)
        if causes:
            raise invalid(rt, md.get("name") or md.get("generateName", ""), causes)
        return self.store.create(rt, ns, obj)

    def _validate(self, rt, obj):
        if rt is PODS:
            return validate_pod(obj)
        if rt is NODES:
            return validate_node(obj)
        if rt is SECRETS:
            return validate_secret(obj)
        return validate_lease(obj)

    def update(self, rt, ns, name, obj, status=False):
        decode_checks(rt, obj)
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        if md.get("name") != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (md.get("name", ""), name))
        if rt.namespaced and md.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the namespace sent on "
                              "the request")
        with self.store.lock:
            old = self.store.peek(rt, ns, name)
            if old is None:
                if rt is LEASES:  # leaseStrategy.AllowCreateOnUpdate
                    return self.create(rt, ns, obj), True
                raise not_found(rt, name)
            rv = md.get("resourceVersion", "")
            if not rv and rt is LEASES:  # leaseStrategy.AllowUnconditionalUpdate is false
                raise invalid(rt, name, [("metadata.resourceVersion", "FieldValueInvalid",
                                          "Invalid value: 0x0: must be specified for an update")])
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            if md.get("uid") and md["uid"] != old["metadata"]["uid"]:
                raise conflict(rt, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                               % (md["uid"], old["metadata"]["uid"]))
            return self._commit_update(rt, ns, name, obj, old, status), False

    def _commit_update(self, rt, ns, name, obj, old, status=False):
        if status:
            # the status subresource: only .status changes (spec and metadata are the object's)
            new = copy.deepcopy(old)
            new["status"] = obj.get("status") or {}
            if not isinstance(new["status"], dict):
                raise bad_request("status must be an object")
            return self.store.replace(rt, ns, name, new, old)
        if rt is PODS:
            obj["status"] = copy.deepcopy(old.get("status", {}))  # the status subresource's
            spec = obj.setdefault("spec", {})
            for k, v in (old.get("spec") or {}).items():  # defaulted fields the client left out
                spec.setdefault(k, v)
            causes = validate_meta(rt, obj, name) + validate_pod(obj) + pod_spec_update_errors(obj, old)
        elif rt is NODES:
            obj["status"] = copy.deepcopy(old.get("status", {}))
            obj.setdefault("spec", {})
            causes = validate_meta(rt, obj, name) + validate_node(obj)
        elif rt is SECRETS:
            secret_string_data(obj)
            causes = validate_meta(rt, obj, name) + validate_secret(obj)
        else:
            causes = validate_meta(rt, obj, name) + validate_lease(obj)
        if causes:
            raise invalid(rt, name, causes)
        return self.store.replace(rt, ns, name, obj, old)

    def patch(self, rt, ns, name, ctype, body, status=False):
        if ctype not in PATCH_TYPES:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, "
                           "application/apply-patch+yaml, application/strategic-merge-patch+json")
        with self.store.lock:
            old = self.store.peek(rt, ns, name)
            if old is None:
                raise not_found(rt, name)
            cur = copy.deepcopy(old)
            if ctype == "application/json-patch+json":
                new = json_patch(cur, body)
            elif not isinstance(body, dict):
                raise bad_request("json: cannot unmarshal %s into Go value of type map[string]interface {}"
                                  % type(body).__name__)
            elif ctype == "application/merge-patch+json":
                new = merge_patch(cur, body)
            else:
                new = strategic_merge_patch(cur, body)
            decode_checks(rt, new)
            md = new.setdefault("metadata", {})
            if md.get("name") != name:
                raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                  % (md.get("name", ""), name))
            rv = md.get("resourceVersion", "")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            if md.get("uid") and md["uid"] != old["metadata"]["uid"]:
                raise conflict(rt, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                               % (md["uid"], old["metadata"]["uid"]))
            return self._commit_update(rt, ns, name, new, old, status)

    def delete(self, rt, ns, name, options):
        grace = options.get("gracePeriodSeconds")
        pre = options.get("preconditions") or {}
        with self.store.lock:
            old = self.store.peek(rt, ns, name)
            if old is None:
                raise not_found(rt, name)
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise conflict(rt, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                               % (pre["uid"], old["metadata"]["uid"]))
            if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name, "Precondition failed: ResourceVersion in precondition: %s, "
                               "ResourceVersion in object meta: %s"
                               % (pre["resourceVersion"], old["metadata"]["resourceVersion"]))
            if rt is PODS:
                # podStrategy.CheckGracefulDelete
                period = grace if grace is not None else old["spec"].get("terminationGracePeriodSeconds", 30)
                if not old["spec"].get("nodeName") or old["status"].get("phase") in ("Failed", "Succeeded"):
                    period = 0
                if period > 0:
                    cur = old["metadata"].get("deletionGracePeriodSeconds")
                    if cur is not None and cur <= period:
                        return copy.deepcopy(old)  # already deleting, no sooner
                    def mark(o):
                        o["metadata"]["deletionTimestamp"] = time_after(period)
                        o["metadata"]["deletionGracePeriodSeconds"] = period
                        o["metadata"]["generation"] = o["metadata"].get("generation", 0) + 1
                    return copy.deepcopy(self.store.mutate(rt, ns, name, mark))
                gone_obj = self.store.remove(rt, ns, name)
                return gone_obj
            gone_obj = self.store.remove(rt, ns, name)
            d = _details(rt, name)
            d["uid"] = gone_obj["metadata"]["uid"]
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d}


# --------------------------------------------------------------------------------------------
# HTTP

MAX_BODY = 3 * 1024 * 1024  # the apiserver's default request body limit


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    def add(self, rule):
        with self.lock:
            self.rules.append(dict(rule))

    def clear(self):
        with self.lock:
            self.rules = []

    def take(self, verb, resource, name):
        with self.lock:
            for r in self.rules:
                if r.get("verb", "*") not in ("*", verb) or r.get("resource", "*") not in ("*", resource):
                    continue
                if r.get("name") and r["name"] != name:
                    continue
                r["count"] = r.get("count", 1) - 1
                if r["count"] <= 0:
                    self.rules.remove(r)
                return r
        return None


def _path_route(path):
    """-> (rt, namespace or None, name or None, sub) or None."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        rest = parts[2:]
        group_ok = {"pods", "nodes", "secrets"}
    elif parts[:3] == ["apis", "coordination.k8s.io", "v1"]:
        rest = parts[3:]
        group_ok = {"leases"}
    else:
        return None
    ns = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        ns = rest[1]
        rest = rest[2:]
    if not rest or rest[0] not in group_ok:
        return None
    rt = TYPES[rest[0]]
    if ns is not None and not rt.namespaced:
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if len(rest) > 3:
        return None
    return rt, ns, name, sub


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "owx-kube-apisim/1"
    sim = None  # set on the subclass made by Simulator

    def log_message(self, fmt, *args):  # quiet; /_sim/requests has the log
        pass

    # ---- plumbing
    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
                if len(data) > MAX_BODY:
                    raise ApiError(413, "RequestEntityTooLarge", "the request body is too large")
            return data
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ApiError(413, "RequestEntityTooLarge", "the request body is too large")
        return self.rfile.read(n) if n else b""

    def _send_json(self, code, obj, headers=None):
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self._status = code

    def _error(self, e):
        self._send_json(e.code, e.status(), e.headers)

    def _decode(self, raw, ctype):
        if ctype in ("application/yaml",) and yaml is not None:
            try:
                return yaml.safe_load(raw.decode())
            except (yaml.YAMLError, UnicodeDecodeError) as e:
                raise bad_request("error converting YAML to JSON: %s" % e)
        try:
            return json.loads(raw.decode() if raw else "null")
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_request("Object 'Kind' is missing in '%s': %s" % (raw[:200].decode(errors="replace"), e))

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_PUT(self):
        self._handle()

    def do_PATCH(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def _handle(self):
        self._status = 0
        self._call = None  # (group, resource, verb, namespaced) once routed
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            # read the body first: an error answered before it would desync the keep-alive connection
            self._raw = self._read_body()
            if url.path.startswith("/_sim/"):
                self._sim_hook(url.path, self._raw)
                return
            self._auth()
            self._route(url.path, query, ctype)
        except ApiError as e:
            self._error(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a simulator bug or a malformed request: answer as the apiserver would
            traceback.print_exc()
            self.close_connection = True
            if not self._status:
                self._error(ApiError(500, "InternalError", "Internal error occurred: %r" % (e,)))
        finally:
            if not url.path.startswith("/_sim/"):
                self.sim.log_request(self.command, url.path, url.query, ctype, self._status, self._call)

    def _auth(self):
        h = self.headers.get("Authorization", "")
        tok = self.sim.token
        ok = h.startswith("Bearer ") and len(h) > 7 if tok is None else h == "Bearer " + tok
        if tok is not None and not ok:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if tok is None and h and not (h.startswith("Bearer ") or h.startswith("Basic ")):
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _route(self, path, query, ctype):
        m = self.command
        info = self._discovery(path)
        if info is not None:
            if m != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                               "requested resource")
            self._send_json(200, info)
            return
        r = _path_route(path)
        if r is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        rt, ns, name, sub = r
        if rt.namespaced and ns is None and (name is not None or m not in ("GET",)):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if sub is not None:
            if rt is PODS and sub == "log" and m == "GET":
                self._pod_log(ns, name, query)
                return
            if sub == "status" and rt in (PODS, NODES) and m in ("GET", "PUT", "PATCH"):
                self._status_sub(rt, ns, name, ctype)
                return
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        watch = query.get("watch", "") in ("1", "true", "True")
        if m == "GET":
            verb = "get" if name else ("watch" if watch else "list")
        else:
            verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                    "DELETE": "delete" if name else "deletecollection"}[m]
        if (verb == "create" and name) or (verb in ("update", "patch") and not name):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                           "requested resource")
        self._call = (rt.group, rt.resource, verb, ns is not None)
        fault = self.sim.faults.take(verb, rt.resource, name)
        if fault is not None:
            code = int(fault.get("code", 500))
            if verb == "watch" and code == 410:
                self._stream_error(gone("too old resource version: %s (%s)"
                                        % (query.get("resourceVersion", "0"), self.sim.store.rv)))
                return
            reason, msg = FAULT_REASONS.get(code, ("InternalError", "injected by the simulator"))
            headers = {}
            details = None
            if code in (429, 503, 504) and fault.get("retryAfter") is not None:
                headers["Retry-After"] = str(int(fault["retryAfter"]))
                details = {"retryAfterSeconds": int(fault["retryAfter"])}
            elif code == 429:
                headers["Retry-After"] = "1"
                details = {"retryAfterSeconds": 1}
            raise ApiError(code, reason, msg, details, headers)
        api = self.sim.api
        body_verbs = ("create", "update", "patch")
        raw = self._raw
        if verb in body_verbs:
            if verb != "patch" and ctype not in ("", "application/json", "application/yaml"):
                raise ApiError(415, "UnsupportedMediaType",
                               'the body of the request was in an unknown format - accepted media types '
                               'include: application/json, application/yaml, '
                               'application/vnd.kubernetes.protobuf, application/cbor')
            body = self._decode(raw, ctype if verb != "patch" else "application/json")
        if verb == "get":
            self._send_json(200, self.sim.store.get(rt, ns, name))
        elif verb == "list":
            self._list(rt, ns, query)
        elif verb == "watch":
            self._watch(rt, ns, query)
        elif verb == "create":
            self._send_json(201, api.create(rt, ns, body))
        elif verb == "update":
            obj, created = api.update(rt, ns, name, body)
            self._send_json(201 if created else 200, obj)
        elif verb == "patch":
            self._send_json(200, api.patch(rt, ns, name, ctype, body))
        elif verb in ("delete", "deletecollection"):
            opts = {}
            if raw.strip():
                opts = self._decode(raw, "application/json")
                if not isinstance(opts, dict) or opts.get("kind") not in (None, "DeleteOptions"):
                    raise bad_request("DeleteOptions in version \"v1\" cannot be handled as a DeleteOptions")
            if "gracePeriodSeconds" in query:
                try:
                    opts["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
                except ValueError:
                    raise bad_request("gracePeriodSeconds: invalid value %r" % query["gracePeriodSeconds"])
            pp = opts.get("propagationPolicy")
            if pp is not None and pp not in ("Orphan", "Background", "Foreground"):
                raise ApiError(422, "Invalid", 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: '
                               'Unsupported value: "%s": supported values: "Foreground", "Background", '
                               '"Orphan", "nil"' % pp)
            g = opts.get("gracePeriodSeconds")
            if g is not None and (not isinstance(g, int) or isinstance(g, bool)):
                raise bad_request("DeleteOptions: gracePeriodSeconds must be an integer")
            if g is not None and g < 0:
                opts["gracePeriodSeconds"] = 1  # the apiserver treats a negative grace period as 1
            if verb == "delete":
                # 200 also while a pod's graceful deletion is pending (the apiserver answers 202 only
                # for orphanDependents=false)
                self._send_json(200, api.delete(rt, ns, name, opts))
            else:
                lsel = parse_label_selector(query.get("labelSelector", ""))
                fsel = parse_field_selector(rt, query.get("fieldSelector", ""))
                items, _ = self.sim.store.list(rt, ns, lsel, fsel)
                for it in items:
                    try:
                        api.delete(rt, it["metadata"].get("namespace"), it["metadata"]["name"], opts)
                    except ApiError:
                        pass
                self._send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})

    def _status_sub(self, rt, ns, name, ctype):
        """pods/status, nodes/status (what kubelets write; tests use it to change a node's conditions or
        allocatable). Faults match the verb with resource "pods/status" / "nodes/status"."""
        verb = {"GET": "get", "PUT": "update", "PATCH": "patch"}[self.command]
        self._call = (rt.group, rt.resource + "/status", verb, ns is not None)
        fault = self.sim.faults.take(verb, rt.resource + "/status", name)
        if fault is not None:
            code = int(fault.get("code", 500))
            reason, msg = FAULT_REASONS.get(code, ("InternalError", "injected by the simulator"))
            raise ApiError(code, reason, msg)
        api = self.sim.api
        if verb == "get":
            self._send_json(200, self.sim.store.get(rt, ns, name))
        elif verb == "update":
            if ctype not in ("", "application/json", "application/yaml"):
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
            obj, _ = api.update(rt, ns, name, self._decode(self._raw, ctype), status=True)
            self._send_json(200, obj)
        else:
            self._send_json(200, api.patch(rt, ns, name, ctype, self._decode(self._raw, "application/json"),
                                           status=True))

    def _discovery(self, path):
        p = path.rstrip("/")
        if p == "/version":
            return {"major": "1", "minor": "30", "gitVersion": "v1.30.0-owx-apisim", "platform": "linux/amd64"}
        if p in ("/healthz", "/readyz", "/livez"):
            return {"status": "ok"}
        if p == "/api":
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.sim.addr}]}
        if p == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": "coordination.k8s.io", "versions": [{"groupVersion": "coordination.k8s.io/v1",
                                                              "version": "v1"}],
                 "preferredVersion": {"groupVersion": "coordination.k8s.io/v1", "version": "v1"}}]}

        def res(rt, sub=""):
            return {"name": rt.resource + sub, "singularName": "" if sub else rt.kind.lower(),
                    "namespaced": rt.namespaced, "kind": rt.kind,
                    "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
                    if not sub else ["get"]}
        if p == "/api/v1":
            return {"kind": "APIResourceList", "groupVersion": "v1",
                    "resources": [res(PODS), res(PODS, "/log"), res(NODES), res(SECRETS)]}
        if p == "/apis/coordination.k8s.io/v1":
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "coordination.k8s.io/v1",
                    "resources": [res(LEASES)]}
        return None

    def _list(self, rt, ns, query):
        store = self.sim.store
        lsel = parse_label_selector(query.get("labelSelector", ""))
        fsel = parse_field_selector(rt, query.get("fieldSelector", ""))
        rv = query.get("resourceVersion", "")
        if rv not in ("", "0"):
            try:
                int(rv)
            except ValueError:
                raise bad_request('invalid resource version "%s"' % rv)
        items, list_rv = store.list(rt, ns, lsel, fsel)
        start = None
        cont = query.get("continue", "")
        if cont:
            try:
                tok = json.loads(base64.urlsafe_b64decode(cont + "=" * (-len(cont) % 4)))
                start, token_rv = tok["start"], int(tok["rv"])
            except (ValueError, KeyError, TypeError):
                raise bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                  "(version meta.k8s.io/v1)")
            if token_rv < store.oldest:
                raise gone("The provided continue parameter is too old to display a consistent list result. "
                           "You can start a new list without the continue parameter, or use the continue "
                           "token in this response to retrieve the remainder of the results. Continuing "
                           "with the provided token results in an inconsistent list - objects that were "
                           "created, modified, or deleted between the time the first chunk was returned and "
                           "now may show up in the list.")
            list_rv = str(token_rv)
            items = [it for it in items if self._key(it) > start]
        meta = {"resourceVersion": list_rv}
        limit = int(query.get("limit") or 0) if (query.get("limit") or "0").isdigit() else 0
        if limit > 0 and len(items) > limit:
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
            tok = {"v": "meta.k8s.io/v1", "rv": int(list_rv), "start": self._key(items[-1])}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(tok).encode()).decode().rstrip("=")
        for it in items:  # list items carry no kind/apiVersion (the list has them)
            it.pop("kind", None)
            it.pop("apiVersion", None)
        self._send_json(200, {"kind": rt.kind + "List", "apiVersion": rt.api_version, "metadata": meta,
                              "items": items})

    @staticmethod
    def _key(obj):
        return "%s/%s" % (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    # ---- watch
    def _start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self._status = 200

    def _chunk(self, obj):
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _stream_error(self, err):
        self._start_stream()
        self._chunk({"type": "ERROR", "object": err.status()})
        self._end_stream()

    def _watch(self, rt, ns, query):
        store = self.sim.store
        lsel = parse_label_selector(query.get("labelSelector", ""))
        fsel = parse_field_selector(rt, query.get("fieldSelector", ""))
        bookmarks = query.get("allowWatchBookmarks", "") in ("1", "true", "True")
        rv = query.get("resourceVersion", "")
        try:
            ts = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        except ValueError:
            raise bad_request("timeoutSeconds: invalid value")
        if ts is None:
            base = self.sim.api.default_watch_timeout
            ts = base * (1 + random.random())  # the apiserver's minRequestTimeout jitter
        deadline = time.monotonic() + ts

        def selected(o):
            return (o is not None and (ns is None or o["metadata"].get("namespace") == ns)
                    and label_match(lsel, _get(o, "metadata", "labels", default={})) and field_match(rt, fsel, o))

        initial = []
        with store.lock:
            if rv in ("", "0"):
                cursor = store.rv
                initial = [copy.deepcopy(o) for _, o in sorted(store.objects[rt.resource].items()) if selected(o)]
            else:
                try:
                    cursor = int(rv)
                except ValueError:
                    raise bad_request('invalid resource version "%s"' % rv)
                if cursor < store.oldest:
                    err = gone("too old resource version: %d (%d)" % (cursor, store.oldest))
                    self._stream_error(err)
                    return
            epoch = store.watch_epoch
            store.open_watches += 1
        self._start_stream()
        try:
            for o in initial:
                self._chunk({"type": "ADDED", "object": o})
            next_bookmark = time.monotonic() + self.sim.api.bookmark_interval
            while True:
                out = []
                expired = False
                with store.lock:
                    while True:
                        now = time.monotonic()
                        if store.watch_epoch != epoch or now >= deadline:
                            break
                        if store.events and store.events[-1].rv > cursor:
                            break
                        if cursor < store.oldest:
                            expired = True
                            break
                        if bookmarks and now >= next_bookmark:
                            break
                        wait_until = min(deadline, next_bookmark) if bookmarks else deadline
                        store.cond.wait(min(1.0, max(0.01, wait_until - now)))
                    if store.watch_epoch != epoch or time.monotonic() >= deadline:
                        break
                    if store.events and store.events[0].rv > cursor + 1 and store.oldest > cursor:
                        expired = True
                    if not expired:
                        for ev in store.events:
                            if ev.rv <= cursor:
                                continue
                            cursor = ev.rv
                            if ev.rt.resource != rt.resource:
                                continue
                            was, now_in = selected(ev.prev), selected(ev.obj)
                            if ev.type == "ADDED" and now_in:
                                out.append(("ADDED", ev.obj))
                            elif ev.type == "DELETED" and was:
                                out.append(("DELETED", ev.obj))
                            elif ev.type == "MODIFIED":
                                if was and now_in:
                                    out.append(("MODIFIED", ev.obj))
                                elif now_in:
                                    out.append(("ADDED", ev.obj))
                                elif was:
                                    out.append(("DELETED", ev.obj))
                        cursor = max(cursor, store.events[-1].rv if store.events else cursor)
                if expired:
                    self._chunk({"type": "ERROR", "object": gone(
                        "too old resource version: %d (%d)" % (cursor, store.oldest)).status()})
                    break
                for t, o in out:
                    self._chunk({"type": t, "object": o})
                if bookmarks and time.monotonic() >= next_bookmark:
                    self._chunk({"type": "BOOKMARK", "object": {
                        "kind": rt.kind, "apiVersion": rt.api_version,
                        "metadata": {"resourceVersion": str(cursor)}}})
                    next_bookmark = time.monotonic() + self.sim.api.bookmark_interval
            self._end_stream()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            with store.lock:
                store.open_watches -= 1

    def _pod_log(self, ns, name, query):
        self.sim.store.get(PODS, ns, name)
        text = self.sim.kubelets.log(ns, name, query.get("container")) if self.sim.kubelets else ""
        if text is None:
            raise bad_request('container "%s" in pod "%s" is not available' % (query.get("container"), name))
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self._status = 200

    # ---- test hooks
    def _sim_hook(self, path, raw):
        sim = self.sim
        try:
            body = json.loads(raw.decode()) if raw.strip() else {}
        except ValueError:
            raise bad_request("bad JSON")
        m = self.command
        if path == "/_sim/faults" and m == "POST":
            if not isinstance(body, dict) or not isinstance(body.get("code", 500), int):
                raise bad_request("faults: {verb, resource, code, count, retryAfter?, name?}")
            sim.faults.add(body)
            self._send_json(200, {"ok": True})
        elif path == "/_sim/faults" and m == "DELETE":
            sim.faults.clear()
            self._send_json(200, {"ok": True})
        elif path == "/_sim/end-watches" and m == "POST":
            self._send_json(200, {"closed": sim.store.end_watches()})
        elif path == "/_sim/compact" and m == "POST":
            sim.store.compact()
            self._send_json(200, {"resourceVersion": str(sim.store.rv)})
        elif path == "/_sim/kill" and m == "POST":
            if sim.kubelets is None:
                raise bad_request("no kubelets")
            n = sim.kubelets.kill(body.get("namespace", "default"), body.get("name", ""),
                                  body.get("container"), body.get("signal", "KILL"))
            if n is None:
                raise ApiError(404, "NotFound", "no running pod %s/%s" % (body.get("namespace"), body.get("name")))
            self._send_json(200, {"killed": n})
        elif path == "/_sim/requests" and m == "GET":
            with sim.req_lock:
                self._send_json(200, {"requests": list(sim.requests)})
        elif path == "/_sim/requests" and m == "DELETE":
            with sim.req_lock:
                sim.requests.clear()
            self._send_json(200, {"ok": True})
        elif path == "/_sim/state" and m == "GET":
            st = {"resourceVersion": str(sim.store.rv), "oldest": str(sim.store.oldest),
                  "openWatches": sim.store.open_watches,
                  "pods": sim.kubelets.state() if sim.kubelets else {}}
            self._send_json(200, st)
        else:
            raise ApiError(404, "NotFound", "no such simulator hook")


# --------------------------------------------------------------------------------------------
# the simulator


def parse_nodes(text):
    """"n1:cpu=4,memory=8Gi,nvidia.com/gpu=1,pods=110,taint=k=v:NoSchedule,label=k=v;n2:..." or a JSON list
    of {"name","allocatable":{...},"taints":[...],"labels":{...}}."""
    text = (text or "").strip()
    if not text:
        return []
    if text.startswith("["):
        return json.loads(text)
    nodes = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, _, rest = part.partition(":")
        n = {"name": name.strip(), "allocatable": {}, "taints": [], "labels": {}}
        for item in [x for x in rest.split(",") if x.strip()]:
            k, _, v = item.strip().partition("=")
            if k == "taint":
                kv, _, effect = v.rpartition(":")
                tk, _, tv = kv.partition("=")
                t = {"key": tk, "effect": effect}
                if tv:
                    t["value"] = tv
                n["taints"].append(t)
            elif k == "label":
                lk, _, lv = v.partition("=")
                n["labels"][lk] = lv
            else:
                n["allocatable"][k] = v
        nodes.append(n)
    return nodes


def node_object(spec):
    alloc = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    alloc.update({k: str(v) for k, v in (spec.get("allocatable") or {}).items()})
    labels = {"kubernetes.io/hostname": spec["name"], "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    labels.update(spec.get("labels") or {})
    obj = {"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": spec["name"], "labels": labels},
           "spec": {},
           "status": {"capacity": dict(alloc), "allocatable": dict(alloc),
                      "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                    {"type": "Hostname", "address": spec["name"]}],
                      "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                      "message": "kubelet is posting ready status",
                                      "lastHeartbeatTime": now_time(), "lastTransitionTime": now_time()}],
                      "nodeInfo": {"kubeletVersion": "v1.30.0-owx-sim", "operatingSystem": "linux",
                                   "architecture": "amd64", "containerRuntimeVersion": "owx-sim://1"}}}
    if spec.get("taints"):
        obj["spec"]["taints"] = spec["taints"]
    if spec.get("unschedulable"):
        obj["spec"]["unschedulable"] = True
    return obj


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    ssl_context = None

    def finish_request(self, request, client_address):
        # TLS handshake on the connection's own thread: one slow client must not stall accept()
        if self.ssl_context is not None:
            request.settimeout(10)
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
            request.settimeout(None)
        super().finish_request(request, client_address)


def write_client_files(sim, token, kubeconfig=None, sa_dir=None, namespace="default"):
    """A kubeconfig (running outside the cluster) and/or a service-account directory (token, namespace,
    ca.crt: what /var/run/secrets/kubernetes.io/serviceaccount holds in a pod) for this simulator."""
    ca = None
    if sim.tls_cert:
        with open(sim.tls_cert, "rb") as f:
            ca = f.read()
    if kubeconfig:
        cluster = {"server": sim.url}
        if ca:
            cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
        cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "owx-sim",
               "clusters": [{"name": "owx-sim", "cluster": cluster}],
               "users": [{"name": "owx-sim", "user": {"token": token}}],
               "contexts": [{"name": "owx-sim", "context": {"cluster": "owx-sim", "user": "owx-sim",
                                                            "namespace": namespace}}],
               "preferences": {}}
        with open(kubeconfig, "w") as f:
            if yaml is not None:
                yaml.safe_dump(cfg, f, default_flow_style=False, sort_keys=False)
            else:
                json.dump(cfg, f, indent=2)
    if sa_dir:
        os.makedirs(sa_dir, exist_ok=True)
        with open(os.path.join(sa_dir, "token"), "w") as f:
            f.write(token)
        with open(os.path.join(sa_dir, "namespace"), "w") as f:
            f.write(namespace)
        if ca:
            with open(os.path.join(sa_dir, "ca.crt"), "wb") as f:
                f.write(ca)


class Simulator:
    """The API server + scheduler + kubelets in this process."""

    def __init__(self, host="127.0.0.1", port=0, nodes=(), token=None, event_window=1000,
                 bookmark_interval=60.0, restart_backoff=10.0, workdir=None, watch_timeout=1800,
                 tls_cert=None, tls_key=None, container_runtime="process"):
        from . import kubelet  # noqa: avoid a cycle at import time
        self.store = Store(event_window)
        self.api = Api(self.store, bookmark_interval, watch_timeout)
        self.faults = Faults()
        self.token = token
        self.req_lock = threading.Lock()
        self.requests = deque(maxlen=10000)
        handler = type("BoundHandler", (Handler,), {"sim": self})
        self.httpd = _Server((host, port), handler)
        if tls_cert:
            self.httpd.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.httpd.ssl_context.load_cert_chain(tls_cert, tls_key)
        self.tls_cert = tls_cert
        self.addr = "%s:%d" % self.httpd.server_address[:2]
        self.url = ("https://" if tls_cert else "http://") + self.addr
        for n in nodes:
            self.store.create(NODES, None, node_object(n))
        self.kubelets = kubelet.Cluster(self.store, [n["name"] for n in nodes], workdir=workdir,
                                        restart_backoff=restart_backoff, container_runtime=container_runtime)
        self._thread = None

    def log_request(self, method, path, query, ctype, status, call):
        e = {"method": method, "path": path, "query": query, "contentType": ctype, "status": status}
        if call is not None:  # RBAC terms: compare with pool-manager/backends/kube/kube_api_calls.json
            e.update({"apiGroup": call[0], "resource": call[1], "verb": call[2], "namespaced": call[3]})
        with self.req_lock:
            self.requests.append(e)

    def start(self):
        self.kubelets.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="apisim-http", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.store.end_watches()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.kubelets.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m t.kube.apisim", description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--nodes", default="node-1:cpu=4,memory=8Gi",
                    help='"name:cpu=4,memory=8Gi,nvidia.com/gpu=1,taint=k=v:NoSchedule,label=k=v;..." or JSON')
    ap.add_argument("--token", default=None, help="require Authorization: Bearer <token>")
    ap.add_argument("--event-window", type=int, default=1000, help="events kept for watches (older: 410)")
    ap.add_argument("--bookmark-interval", type=float, default=60.0, help="seconds between BOOKMARK events")
    ap.add_argument("--watch-timeout", type=float, default=1800,
                    help="a watch without timeoutSeconds ends after this to twice this (seconds)")
    ap.add_argument("--restart-backoff", type=float, default=10.0,
                    help="first restart delay (restartPolicy Always/OnFailure), doubling to 300 s")
    ap.add_argument("--container-runtime", choices=("process", "podman"), default="process",
                    help="how kubelets run a container: its command as a local process, or its image with "
                         "`podman run --network host` (podman's configuration from the environment)")
    ap.add_argument("--workdir", default=None, help="termination-message and log files (default: a temp dir)")
    ap.add_argument("--tls-cert", default=None, help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", default=None, help="its private key (PEM)")
    ap.add_argument("--kubeconfig", default=None, help="write a kubeconfig for this simulator here")
    ap.add_argument("--serviceaccount-dir", default=None,
                    help="write token, namespace, ca.crt here (as a pod's service-account volume)")
    a = ap.parse_args(argv)
    sim = Simulator(a.host, a.port, parse_nodes(a.nodes), a.token, a.event_window, a.bookmark_interval,
                    a.restart_backoff, a.workdir, a.watch_timeout, a.tls_cert, a.tls_key, a.container_runtime)
    if a.kubeconfig or a.serviceaccount_dir:
        write_client_files(sim, a.token or "owx-sim-token", a.kubeconfig, a.serviceaccount_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sim.start()
    print("listening on %s" % sim.url, flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    # run the package's module, not __main__: kubelet.py imports t.kube.apisim, and both must share
    # one set of module globals (the resource types)
    from t.kube import apisim as _apisim
    sys.exit(_apisim.main())
