"""The Helm chart (helm/owx) rendered by tools/helm-render (Helm's template
semantics; Helm itself cannot be installed here) with representative values,
checked as `kubectl apply` and an operator would see it.

No stack is started: these tests only render. The renderer is built into
$OWX_BUILD (make helm-render) when missing.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from owx import admin

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
CHART = os.path.join(ROOT, "helm", "owx")
BUILD = os.environ.get("OWX_BUILD", os.path.join(ROOT, "build"))
RENDER = os.path.join(BUILD, "helm-render")
STANDARD_LABELS = ("helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance",
                   "app.kubernetes.io/version", "app.kubernetes.io/component",
                   "app.kubernetes.io/managed-by")
GUEST_KEY = ("23bc46b1-71f6-4ed5-8c54-816aa4f8c502:"
             "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP")

VARIANTS = {
    "default": [],
    "external-redis": ["--set", "redis.external.address=10.1.2.3:6379"],
    "hpa": ["--set", "gateway.autoscaling.enabled=true"],
    "ingress": ["--set", "ingress.enabled=true,ingress.host=owx.test,ingress.className=nginx"],
    "servicemonitor": ["--set", "metrics.serviceMonitor.enabled=true",
                       "--api-versions", "monitoring.coreos.com/v1"],
    "fluentd": ["--set", "logging.fluentd.enabled=true"],
}


@pytest.fixture(scope="module", autouse=True)
def renderer():
    if not os.access(RENDER, os.X_OK):
        subprocess.run(["make", "-s", "-C", ROOT, "B=" + BUILD, "helm-render"], check=True,
                       timeout=300)
    return RENDER


_rendered = {}


def render(*args, chart=CHART, check=True):
    # rendering is a pure function of the arguments and files: reuse answers
    # (value files get fresh names; a temporary chart changes: never reused)
    key = (args, chart)
    if key not in _rendered or chart != CHART:
        _rendered[key] = subprocess.run(
            [RENDER, "--name", "owx", "--namespace", "serverless"] + list(args) + [chart],
            capture_output=True, text=True, timeout=30)
    p = _rendered[key]
    if check:
        assert p.returncode == 0, p.stderr
    return p


def docs(*args, chart=CHART):
    out = render(*args, chart=chart).stdout
    assert out.startswith("---\n# Source: owx/templates/")
    found = []
    for text in out.split("---\n")[1:]:
        source = text.splitlines()[0]
        assert source.startswith("# Source: owx/templates/"), source
        doc = yaml.safe_load(text)
        assert isinstance(doc, dict), text[:200]
        doc["_source"] = source[len("# Source: owx/"):]
        found.append(doc)
    return found


def by_kind(documents, kind):
    return [d for d in documents if d["kind"] == kind]


def one(documents, kind, name):
    hits = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, "%s/%s: %d found" % (kind, name, len(hits))
    return hits[0]


def pod_templates(documents):
    return [d for d in documents if d["kind"] in ("Deployment", "StatefulSet", "Job")]


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request):
    return request.param, docs(*VARIANTS[request.param])


def test_every_document_is_an_object_with_standard_labels(variant):
    name, documents = variant
    assert len(documents) >= 10
    for d in documents:
        assert d["apiVersion"] and d["kind"], d["_source"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", d["metadata"]["name"])
        assert len(d["metadata"]["name"]) <= 63
        labels = d["metadata"]["labels"]
        for label in STANDARD_LABELS:
            assert labels.get(label), "%s %s lacks %s" % (d["kind"], d["metadata"]["name"], label)
        assert labels["helm.sh/chart"] == "owx-0.1.0"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/instance"] == "owx"
    # names are unique per kind (kubectl apply would merge duplicates)
    keys = [(d["kind"], d["metadata"]["name"]) for d in documents]
    assert len(keys) == len(set(keys))


def test_workloads_have_probes_resources_and_select_their_pods(variant):
    name, documents = variant
    for d in pod_templates(documents):
        spec = d["spec"]["template"]["spec"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        for label in STANDARD_LABELS:
            assert labels.get(label), (d["metadata"]["name"], label)
        if d["kind"] != "Job":
            assert d["spec"]["selector"]["matchLabels"].items() <= labels.items()
        for c in spec["containers"]:
            where = "%s/%s" % (d["metadata"]["name"], c["name"])
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], where
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, where
            if d["kind"] != "Job":
                assert c["livenessProbe"] and c["readinessProbe"], where
                ports = {p["name"] for p in c["ports"]}
                for probe in (c["livenessProbe"], c["readinessProbe"]):
                    for how in ("httpGet", "tcpSocket"):
                        if how in probe:
                            assert probe[how]["port"] in ports, where
        assert d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_services_reach_named_ports(variant):
    name, documents = variant
    workloads = pod_templates(documents)
    for svc in by_kind(documents, "Service"):
        sel = svc["spec"]["selector"]
        targets = [w for w in workloads if sel.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert len(targets) == 1, svc["metadata"]["name"]
        names = {p["name"] for c in targets[0]["spec"]["template"]["spec"]["containers"]
                 for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in names


def test_checksum_annotations_follow_the_configmaps():
    def annotations(*args):
        d = docs(*args)
        return (one(d, "Deployment", "owx-gateway")["spec"]["template"]["metadata"]["annotations"],
                one(d, "Deployment", "owx-pool-manager")["spec"]["template"]["metadata"]["annotations"])

    gw, pm = annotations()
    assert re.fullmatch(r"[0-9a-f]{64}", gw["checksum/conf"])
    assert gw["checksum/runtimes"] == pm["checksum/runtimes"]
    # one more kind: the runtimes ConfigMap changes, so both roll; conf stays
    gw2, pm2 = annotations("-f", _values_file(
        {"runtimes": {"kinds": [{"kind": "nodejs:18", "family": "nodejs",
                                 "image": "owx/runtime-nodejs", "default": True}]}}))
    assert gw2["checksum/runtimes"] != gw["checksum/runtimes"]
    assert pm2["checksum/runtimes"] == gw2["checksum/runtimes"]
    assert gw2["checksum/conf"] == gw["checksum/conf"]


_tmp_values = []


def _values_file(values):
    path = os.path.join(BUILD, "helm-test-values-%d-%d.yaml" % (os.getpid(), len(_tmp_values)))
    with open(path, "w") as f:
        yaml.safe_dump(values, f)
    _tmp_values.append(path)
    return path


@pytest.fixture(scope="module", autouse=True)
def _remove_values_files():
    yield
    for p in _tmp_values:
        os.unlink(p)


def test_rbac_grants_exactly_the_calls_the_backend_makes():
    with open(os.path.join(ROOT, "pool-manager", "backends", "kube", "kube_api_calls.json")) as f:
        calls = json.load(f)

    def expected(entries):
        return sorted((e["apiGroup"], e["resource"], tuple(sorted(e["verbs"]))) for e in entries)

    def granted(rules):
        out = []
        for r in rules:
            assert set(r) == {"apiGroups", "resources", "verbs"}, r  # no resourceNames etc.
            for g in r["apiGroups"]:
                for res in r["resources"]:
                    assert "*" not in (g, res) and "*" not in r["verbs"]
                    out.append((g, res, tuple(sorted(r["verbs"]))))
        return sorted(out)

    d = docs()
    roles, cluster_roles = by_kind(d, "Role"), by_kind(d, "ClusterRole")
    assert len(roles) == 1 and len(cluster_roles) == 1
    assert granted(roles[0]["rules"]) == expected(calls["namespaced"])
    assert granted(cluster_roles[0]["rules"]) == expected(calls["cluster"])
    # both bound to the service account the pool-manager runs as, in its namespace
    pm = one(d, "Deployment", "owx-pool-manager")["spec"]["template"]["spec"]
    sa = pm["serviceAccountName"]
    assert one(d, "ServiceAccount", sa)
    for kind, role in (("RoleBinding", roles[0]), ("ClusterRoleBinding", cluster_roles[0])):
        b = one(d, kind, role["metadata"]["name"])
        assert b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role["kind"],
                                "name": role["metadata"]["name"]}
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": "serverless"}]
    # nothing else in the chart grants anything
    assert not by_kind(d, "ClusterRoleBinding")[1:] and not by_kind(d, "RoleBinding")[1:]


def _pool_manager_options():
    binary = os.path.join(BUILD, "cmake", "pool-manager", "ow-pool-manager")
    if not os.access(binary, os.X_OK):
        pytest.fail("%s is not built (make B=%s build)" % (binary, BUILD))
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10).stdout
    return set(re.findall(r"^\s*--([a-z0-9-]+)", out, re.M))


def test_pool_manager_args_are_options_the_binary_accepts():
    known = _pool_manager_options()
    assert {"listen", "redis", "runtimes"} <= known
    for variant_args in VARIANTS.values():
        pm = one(docs(*variant_args), "Deployment", "owx-pool-manager")
        c = pm["spec"]["template"]["spec"]["containers"][0]
        assert pm["spec"]["replicas"] == 2
        used = []
        for arg in c["args"]:
            m = re.fullmatch(r"--([a-z0-9-]+)=(.*)", arg)
            assert m, "arg %r is not --name=value" % arg
            used.append(m.group(1))
            assert m.group(1) in known, "ow-pool-manager has no --%s" % m.group(1)
        assert len(used) == len(set(used))
        assert "--backend=kubernetes" in c["args"]


def test_runtimes_configmap_and_stemcells():
    d = docs("-f", _values_file({"runtimes": {"stemcells": [
        {"kind": "nodejs:default", "memory": 256, "count": 2},
        {"kind": "python:3.11", "memory": 512, "count": 1}]}}), "--set", "image.tag=1.2.3")
    cm = one(d, "ConfigMap", "owx-runtimes")["data"]
    info, exe = json.loads(cm["runtimes.json"]), json.loads(cm["runtimes-exec.json"])
    assert [k["kind"] for k in info["nodejs"]] == ["nodejs:18"]
    assert info["python"][0]["image"] == "owx/runtime-python:1.2.3"
    assert info["nodejs"][0]["default"] is True
    assert exe["nodejs:default"]["kind"] == "nodejs:18"
    assert exe["python:3.11"]["command"] == ["/opt/owx/bin/runtime", "--port", "{port}"]
    kube = json.loads(cm["kube-images.json"])
    # owx's runtime images: no command (the pool-manager runs runtimes-exec.json's on 8080)
    assert kube["nodejs:18"] == kube["nodejs:default"] == {"image": "owx/runtime-nodejs:1.2.3"}
    assert kube["python:3.11"] == {"image": "owx/runtime-python:1.2.3"}
    args = one(d, "Deployment", "owx-pool-manager")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--stemcells=nodejs:default:256=2,python:3.11:512=1" in args
    # no stemcells: the option is given empty (the daemon's default would start one)
    args = one(docs("--set", "runtimes.stemcells=null"), "Deployment",
               "owx-pool-manager")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--stemcells=" in args
    gw = one(d, "Deployment", "owx-gateway")["spec"]["template"]["spec"]["containers"][0]
    assert gw["image"] == "owx/gateway:1.2.3"


def test_action_pods_get_a_sidecar_image_and_runtime_images_with_their_entrypoints():
    """The chart renders no action pod: the pool-manager makes them (kube_backend.cc, its pod
    spec tested in pool-manager/backends/kube/kube_backend_test.cc) from what the chart gives it: the sidecar's
    image, the runtimes' uid, and per kind the runtime image and, for an image that is not owx's
    (an unmodified OpenWhisk runtime image), its entrypoint."""
    kinds = [{"kind": "nodejs:18", "family": "nodejs", "image": "openwhisk/action-nodejs-v18",
              "tag": "1.21.0", "command": ["node", "--expose-gc", "app.js"], "default": True},
             {"kind": "python:3.11", "family": "python", "image": "owx/runtime-python"}]
    d = docs("-f", _values_file({"runtimes": {"kinds": kinds, "uid": 20000}}),
             "--set", "image.tag=1.2.3,image.registry=reg.example/")
    cm = one(d, "ConfigMap", "owx-runtimes")["data"]
    kube = json.loads(cm["kube-images.json"])
    assert kube["nodejs:18"] == kube["nodejs:default"] == {
        "image": "reg.example/openwhisk/action-nodejs-v18:1.21.0",
        "command": ["node", "--expose-gc", "app.js"]}
    assert kube["python:3.11"] == {"image": "reg.example/owx/runtime-python:1.2.3"}
    info = json.loads(cm["runtimes.json"])
    assert info["nodejs"][0]["image"] == "reg.example/openwhisk/action-nodejs-v18:1.21.0"
    pm = one(d, "Deployment", "owx-pool-manager")["spec"]["template"]["spec"]
    args = pm["containers"][0]["args"]
    assert "--kube-sidecar-image=reg.example/owx/sidecar:1.2.3" in args
    assert "--kube-runtime-uid=20000" in args
    assert "--kube-images=/etc/owx/runtimes/kube-images.json" in args
    # what reaches the action pods' sidecar containers only: the Secret's name, not its content
    assert "--kube-sidecar-secret=owx-sidecar" in args
    # the defaults: owx's sidecar image, runtimes as uid 10002 (not the sidecar's 10001)
    args = one(docs(), "Deployment", "owx-pool-manager")["spec"]["template"]["spec"][
        "containers"][0]["args"]
    assert "--kube-runtime-uid=10002" in args
    assert any(a.startswith("--kube-sidecar-image=owx/sidecar:") for a in args), args
    # never the sidecar's uid
    p = render("--set", "runtimes.uid=10001", check=False)
    assert p.returncode == 1 and "must not run as the sidecar's uid 10001" in p.stderr, p.stderr
    # the sidecar's port, which the NetworkPolicy admits, is the pool-manager's
    with open(os.path.join(ROOT, "pool-manager", "backends", "kube", "kube_backend.h")) as f:
        assert "constexpr int kSidecarPort = 8081;" in f.read()


def test_gateway_conf_is_conf_dir_verbatim():
    """helm/owx/files/conf is a checked-in copy of conf/ (so `helm install
    ./helm/owx` works from a checkout); `make chart-conf` refreshes it. The
    ConfigMap has it verbatim but @OWX_SECRETS@: where the gateway's entries
    of the Secret are mounted, each file it names one of them."""
    conf = os.path.join(ROOT, "conf")
    names, todo = set(), ["nginx.conf"]
    while todo:  # nginx.conf and what it includes (conf/ holds other tools' files too)
        name = todo.pop()
        names.add(name)
        with open(os.path.join(conf, name)) as f:
            todo += [n for n in re.findall(r"^\s*include\s+(\S+);", f.read(), re.M)
                     if n not in names]
    names = sorted(names)
    assert len(names) >= 4
    copy = os.path.join(CHART, "files", "conf")
    # and fluentd.conf, the Fluentd ConfigMap's (not nginx's)
    assert sorted(os.listdir(copy)) == sorted(names + ["fluentd.conf"]), "run make chart-conf"
    d = docs()
    cm = one(d, "ConfigMap", "owx-gateway-conf")["data"]
    assert sorted(cm) == names
    spec = one(d, "Deployment", "owx-gateway")["spec"]["template"]["spec"]
    secrets_dir = _mount_of(spec, spec["containers"][0], "secrets")
    mounted = set(_secret_items(spec))
    for n in names:
        with open(os.path.join(conf, n)) as f:
            text = f.read()
        with open(os.path.join(copy, n)) as f:
            assert f.read() == text, "helm/owx/files/conf/%s differs from conf/: make chart-conf" % n
        assert cm[n] == text.replace("@OWX_SECRETS@", secrets_dir)
        for name in re.findall(r"@OWX_SECRETS@/([\w.-]+)", text):
            assert name in mounted, (n, name, mounted)


def test_gateway_env_and_scrape_annotations():
    d = docs("-f", _values_file({"gateway": {"metricsAllow": ["10.0.0.0/8", "192.168.1.7"]}}))
    gw = one(d, "Deployment", "owx-gateway")
    ann = gw["spec"]["template"]["metadata"]["annotations"]
    c = gw["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/path"] == "/metrics"
    assert ann["prometheus.io/port"] == str(c["ports"][0]["containerPort"]) == env["OWX_PORT"]
    assert env["OWX_REDIS"] == "owx-redis.serverless.svc:6379"
    assert env["OWX_POOL"] == "owx-pool-manager.serverless.svc:3235"
    assert env["OWX_METRICS_ALLOW"] == "10.0.0.0/8 192.168.1.7"
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert env["OWX_CONF_DIR"] in mounts
    assert os.path.dirname(env["OWX_RUNTIMES"]) in mounts
    assert gw["spec"]["replicas"] == 2
    assert not by_kind(d, "HorizontalPodAutoscaler")
    off = one(docs("--set", "metrics.annotations=false"), "Deployment", "owx-gateway")
    assert "prometheus.io/scrape" not in off["spec"]["template"]["metadata"]["annotations"]


def test_redis_statefulset_with_aof_on_a_volume():
    d = docs()
    sts = one(d, "StatefulSet", "owx-redis")
    c = sts["spec"]["template"]["spec"]["containers"][0]
    args = c["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--appendfsync") + 1] == "everysec"
    assert args[args.index("--dir") + 1] == "/data"
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    assert {"name": "data", "mountPath": "/data"} in c["volumeMounts"]
    eph = one(docs("--set", "redis.persistence.enabled=false"), "StatefulSet", "owx-redis")
    assert "volumeClaimTemplates" not in eph["spec"]
    assert {"name": "data", "emptyDir": {}} in eph["spec"]["template"]["spec"]["volumes"]
    assert not [v for v in sts["spec"]["template"]["spec"]["volumes"] if v["name"] == "data"]


def test_external_redis_replaces_the_statefulset():
    d = docs(*VARIANTS["external-redis"])
    assert not by_kind(d, "StatefulSet")
    assert all(s["metadata"]["name"] != "owx-redis" for s in by_kind(d, "Service"))
    gw = one(d, "Deployment", "owx-gateway")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "OWX_REDIS", "value": "10.1.2.3:6379"} in gw["env"]
    pm = one(d, "Deployment", "owx-pool-manager")["spec"]["template"]["spec"]["containers"][0]
    assert "--redis=10.1.2.3:6379" in pm["args"]
    notes = render("--set", "redis.external.address=10.1.2.3:6379", "--notes").stdout
    assert "statefulset/" not in notes


def test_hpa_replaces_fixed_replicas():
    d = docs(*VARIANTS["hpa"])
    hpa = one(d, "HorizontalPodAutoscaler", "owx-gateway")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "owx-gateway"}
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization",
                                                               "averageUtilization": 70}
    assert "replicas" not in one(d, "Deployment", "owx-gateway")["spec"]


def test_ingress_points_at_the_gateway_service():
    d = docs(*VARIANTS["ingress"])
    ing = one(d, "Ingress", "owx")
    assert ing["apiVersion"] == "networking.k8s.io/v1"
    assert ing["spec"]["ingressClassName"] == "nginx"
    rule = ing["spec"]["rules"][0]
    assert rule["host"] == "owx.test"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    svc = one(d, "Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in svc["spec"]["ports"]}
    notes = render(*VARIANTS["ingress"], "--notes").stdout
    assert "wsk property set --apihost http://owx.test --auth %s" % GUEST_KEY in notes


def test_servicemonitor_scrapes_the_gateway_service():
    assert not by_kind(docs(), "ServiceMonitor")
    d = docs(*VARIANTS["servicemonitor"])
    sm = one(d, "ServiceMonitor", "owx-gateway")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    svc = one(d, "Service", "owx-gateway")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    ep = sm["spec"]["endpoints"][0]
    assert ep["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert ep["path"] == "/metrics"
    # /metrics answers 401 without the metrics token: the operator sends it from the Secret
    # (the gateway mounts the same entry as ow_metrics_token_file)
    assert ep["bearerTokenSecret"] == {"name": "owx-secrets", "key": "metrics-token"}
    assert "metrics-token" in _secret_items(
        one(d, "Deployment", "owx-gateway")["spec"]["template"]["spec"])


def test_grafana_dashboard_configmap_follows_the_file(tmp_path):
    chart = str(tmp_path / "owx")
    shutil.copytree(CHART, chart)
    dash = os.path.join(chart, "files", "grafana-dashboard.json")
    if os.path.exists(dash):
        os.unlink(dash)
    assert not [d for d in docs(chart=chart) if "grafana" in d["metadata"]["name"]]
    board = {"title": "owx", "panels": [{"type": "timeseries", "title": "invocations"}]}
    with open(dash, "w") as f:
        json.dump(board, f)
    cm = one(docs(chart=chart), "ConfigMap", "owx-grafana-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["owx.json"]) == board
    off = docs("--set", "metrics.grafanaDashboard.enabled=false", chart=chart)
    assert not [d for d in off if "grafana" in d["metadata"]["name"]]


def test_notes_tell_how_to_point_wsk_at_it():
    notes = render("--notes").stdout
    assert "kubectl --namespace serverless port-forward service/owx-gateway 3233:80" in notes
    assert "wsk property set --apihost http://127.0.0.1:3233 --auth %s" % GUEST_KEY in notes
    # as Redis's admin user, the password read inside the pod
    assert ("read -r u p </etc/owx/secrets/redis-admin; REDISCLI_AUTH=\"$p\" redis-cli "
            "--no-auth-warning --user \"$u\" HGETALL \"owx:{warm}\"'" in notes)
    assert "<no value>" not in notes


def test_provision_job_applies_namespace_limits_and_installs_the_catalog():
    d = docs("-f", _values_file({"namespaceLimits": {"alice": {"invocationsPerMinute": 600,
                                                               "concurrentInvocations": 50}}}))
    job = one(d, "Job", "owx-provision")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    c = job["spec"]["template"]["spec"]["containers"][0]
    script = c["command"][2]
    # as Redis's admin user, from the file the Job mounts (a path, not a value)
    admin = 'ow-admin --redis-credentials "$CRED" '
    assert "CRED=/etc/owx/secrets/redis-admin\n" in script
    assert admin + 'init --guest-key "$GUEST_KEY"' in script
    assert (admin + 'limits set "alice" --concurrentInvocations 50 --invocationsPerMinute 600'
            in script)
    # the catalog (whisk.system/utils) through the gateway's Service, as whisk.system
    assert (admin + 'catalog install --auth "$SYSTEM_KEY" --apihost http://owx-gateway:80'
            in script)
    assert script.index("ow-admin --redis-credentials \"$CRED\" init") < script.index("catalog install")
    secret = one(d, "Secret", "owx-auth")
    assert secret["stringData"]["guest"] == GUEST_KEY
    # the subjects' keys are files too, not the environment
    spec = job["spec"]["template"]["spec"]
    assert "GUEST_KEY=$(cat %s/guest)" % _mount_of(spec, c, "auth") in script
    assert [e["name"] for e in c["env"]] == ["OWX_REDIS"]
    assert _secret_items(spec) == ["redis-admin"]


def test_namespace_limits_are_the_limits_ow_admin_sets():
    """Every integer limit `ow-admin limits set` takes, and only those, may be
    set per namespace at install (a name the schema lacked was refused)."""
    with open(os.path.join(CHART, "values.schema.json")) as f:
        schema = json.load(f)
    limits = schema["properties"]["namespaceLimits"]["additionalProperties"]["properties"]
    assert sorted(limits) == sorted(admin.INT_LIMITS)
    d = docs("-f", _values_file({"namespaceLimits": {"alice": {
        "maxContainers": 5, "maxConnections": 10, "maxMessageBytes": 4096,
        "connectionIdleSeconds": 60}}}))
    script = one(d, "Job", "owx-provision")["spec"]["template"]["spec"]["containers"][0][
        "command"][2]
    assert ('limits set "alice" --connectionIdleSeconds 60 --maxConnections 10 '
            '--maxContainers 5 --maxMessageBytes 4096') in script


def test_schema_rejects_bad_values():
    cases = [
        (["--set", "gateway.port=http"], "gateway.port: Invalid type. Expected: integer, given: string"),
        (["--set", "redis.appendfsync=sometimes"], "redis.appendfsync: redis.appendfsync must be one of"),
        (["--set", "gateway.replicass=3"], "Additional property replicass is not allowed"),
        (["--set", "redis.external.address=redis"], "Does not match pattern"),
        (["-f", _values_file(
            {"runtimes": {"stemcells": [{"kind": "nodejs:default", "memory": 256}]}})],
         "count is required"),
        (["--set", "poolManager.logLevel=verbose"], "must be one of"),
        # nginx runs as uid 10001 with no capability: no privileged port
        (["--set", "gateway.port=80"], "gateway.port: Must be greater than or equal to 1024"),
        (["-f", _values_file({"networkPolicy": {"clusterCIDRs": ["10.0.0.0"]}})],
         "Does not match pattern"),
        (["--set", "secrets.existing=x"], "Additional property existing is not allowed"),
        (["--set", "runtimes.uid=0"], "runtimes.uid: Must be greater than or equal to 1"),
        (["-f", _values_file({"runtimes": {"kinds": [
            {"kind": "nodejs:18", "family": "nodejs", "image": "x", "command": []}]}})],
         "Array must have at least 1 items"),
    ]
    for args, message in cases:
        p = render(*args, check=False)
        assert p.returncode == 1, args
        assert "values don't meet the specifications of the schema(s)" in p.stderr
        assert message in p.stderr, (args, p.stderr)
        assert p.stdout == ""


def test_renderer_follows_helm_value_semantics():
    """-f files merge over values.yaml in order, a null deletes, --set wins and
    types integers and booleans; toYaml output is Helm's (sorted keys, lists
    not indented under their key)."""
    first = _values_file({"gateway": {"nodeSelector": {"disk": "ssd", "zone": "a"}}})
    second = _values_file({"gateway": {"nodeSelector": {"zone": None}}})
    d = docs("-f", first, "-f", second, "--set", "gateway.replicas=5")
    gw = one(d, "Deployment", "owx-gateway")
    assert gw["spec"]["template"]["spec"]["nodeSelector"] == {"disk": "ssd"}
    assert gw["spec"]["replicas"] == 5
    out = render("--set", "gateway.autoscaling.enabled=true", "--show-only",
                 "templates/gateway-hpa.yaml").stdout
    assert out.count("---\n") == 1 and "kind: HorizontalPodAutoscaler" in out
    p = render("--set", "nosuch[0]=1", check=False)
    assert p.returncode == 1 and "list indexes are not supported" in p.stderr


def test_rendering_is_deterministic():
    """But for the generated credentials (randAlphaNum, as with `helm template`:
    only an upgrade finds the Secret in the cluster) and the checksum of them
    that rolls the pods."""
    def masked(out):
        out = re.sub(r"(?m)^(  (redis-[a-z-]+|internal-token|(sidecar-)?metrics-token): ).*$",
                     r"\1X", out)
        return re.sub(r"(?m)^( *checksum/secrets: ).*$", r"\1X", out)

    a = render().stdout
    b = subprocess.run([RENDER, "--name", "owx", "--namespace", "serverless", CHART],
                       capture_output=True, text=True, timeout=30).stdout
    assert a != b
    assert hashlib.sha256(masked(a).encode()).digest() == hashlib.sha256(masked(b).encode()).digest()


def test_fluentd_is_off_by_default():
    assert not [d for d in docs() if "fluentd" in d["metadata"]["name"]]


def test_fluentd_daemonset_ships_the_conf_file_verbatim():
    d = docs("-f", _values_file({"logging": {"fluentd": {
        "enabled": True, "elasticsearch": {"host": "es.logging.svc", "port": 9201},
        "tolerations": [{"key": "owx.dev/actions", "operator": "Exists",
                         "effect": "NoSchedule"}]}}}))
    with open(os.path.join(ROOT, "conf", "fluentd.conf")) as f:
        conf = f.read()
    with open(os.path.join(CHART, "files", "conf", "fluentd.conf")) as f:
        assert f.read() == conf, "helm/owx/files/conf/fluentd.conf differs: make chart-conf"
    cm = one(d, "ConfigMap", "owx-fluentd")["data"]
    assert cm["fluentd.conf"] == conf
    kube = cm["kubernetes.conf"]
    # the release namespace's container logs, unwrapped before the <match>
    assert "path /var/log/containers/*_serverless_*.log" in kube
    assert kube.index("<filter owx.kube.**>") < kube.index("@include fluentd.conf")
    assert "<match owx.**>" in conf and "tag owx.kube.*" in kube

    ds = one(d, "DaemonSet", "owx-fluentd")
    spec = ds["spec"]["template"]["spec"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= \
        ds["spec"]["template"]["metadata"]["labels"].items()
    sa = one(d, "ServiceAccount", "owx-fluentd")
    assert spec["serviceAccountName"] == "owx-fluentd"
    assert sa["automountServiceAccountToken"] is False
    assert spec["tolerations"] == [{"key": "owx.dev/actions", "operator": "Exists",
                                    "effect": "NoSchedule"}]
    c, = spec["containers"]
    assert c["image"] == "docker.io/fluent/fluentd-kubernetes-daemonset:v1.16-debian-elasticsearch8-1"
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["OWX_ES_HOST"] == "es.logging.svc" and env["OWX_ES_PORT"] == "9201"
    assert env["FLUENTD_CONF"] == "owx/kubernetes.conf"
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["livenessProbe"]["httpGet"]["port"] in {p["name"] for p in c["ports"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for path in ("/var/log/containers", "/var/log/pods"):
        assert mounts[path]["readOnly"] is True
        assert volumes[mounts[path]["name"]]["hostPath"]["path"] == path
    assert volumes[mounts["/fluentd/etc/owx"]["name"]]["configMap"]["name"] == "owx-fluentd"
    # the positions and buffer (under $OWX_HOME) survive a pod restart
    assert volumes[mounts[env["OWX_HOME"]]["name"]]["hostPath"]["type"] == "DirectoryOrCreate"
    # a changed configuration rolls the pods
    other = docs("--set", "logging.fluentd.enabled=true,logging.fluentd.monitorPort=24221")
    assert one(other, "DaemonSet", "owx-fluentd")["spec"]["template"]["metadata"]["annotations"][
        "checksum/config"] != ds["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


def test_fluentd_values_are_checked():
    p = render("--set", "logging.fluentd.enabled=true,logging.fluentd.elasticsearch.port=http",
               check=False)
    assert p.returncode == 1 and "Invalid type. Expected: integer" in p.stderr
    p = render("--set", "logging.fluentd.enable=true", check=False)
    assert p.returncode == 1 and "Additional property enable is not allowed" in p.stderr


# ---- credentials, network policies, security contexts (tenant isolation)

SECRET_ENTRIES = {"redis-admin": "admin", "redis-gateway": "gateway",
                  "redis-pool-manager": "pool-manager", "redis-sidecar": "sidecar",
                  "internal-token": None, "metrics-token": None, "sidecar-metrics-token": None}
# the entries of the action pods' Secret: never metrics-token (action code can read its pod's
# Secret, and that token shows every tenant's action names at the gateway)
SIDECAR_ENTRIES = ("redis-sidecar", "internal-token", "sidecar-metrics-token")
# the entries each workload's containers may see, and no others
NEEDS = {"owx-gateway": {"redis-gateway", "internal-token", "metrics-token"},
         "owx-pool-manager": {"redis-pool-manager", "internal-token", "metrics-token"},
         "owx-provision": {"redis-admin"},
         "owx-redis": {"redis-admin", "redis-gateway", "redis-pool-manager", "redis-sidecar"},
         "owx-fluentd": set()}
ACTION_LABELS = {"app.kubernetes.io/name": "owx-action",
                 "app.kubernetes.io/managed-by": "owx-pool-manager"}


def _mount_of(spec, container, volume):
    paths = [m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] == volume]
    assert len(paths) == 1, (container["name"], volume)
    return paths[0]


def _secret_items(spec, name="owx-secrets"):
    """The keys of the chart's Secret a pod mounts (every volume of it lists its items)."""
    keys = []
    for v in spec.get("volumes", []):
        if v.get("secret", {}).get("secretName") == name:
            assert "items" in v["secret"], v  # never the whole Secret
            keys += [i["key"] for i in v["secret"]["items"]]
    return keys


def _secret_values(documents):
    """Every credential of the rendered Secrets: each entry, its password alone and the base64
    forms (what must appear nowhere else)."""
    out = set()
    for s in by_kind(documents, "Secret"):
        for v in s.get("data", {}).values():
            text = base64.b64decode(v).decode()
            out |= {v, text, text.strip(), text.strip().split(" ")[-1]}
    return {v for v in out if len(v) >= 16}


def _workloads(documents):
    return [d for d in documents if d["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet")]


def test_secret_is_generated_with_every_entry(variant):
    name, d = variant
    secret = one(d, "Secret", "owx-secrets")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert set(data) == set(SECRET_ENTRIES)
    passwords = set()
    for key, user in SECRET_ENTRIES.items():
        assert data[key].endswith("\n") and data[key].count("\n") == 1, key  # one line
        line = data[key].strip()
        if user is None:
            assert re.fullmatch(r"[A-Za-z0-9]{32,256}", line), key
        else:
            u, password = line.split(" ")
            assert u == user and re.fullmatch(r"[A-Za-z0-9]{32,}", password), key
            passwords.add(password)
    assert len(passwords) == 4
    # the action pods' Secret: the sidecar's entries, the same values, nothing more
    sidecar = one(d, "Secret", "owx-sidecar")
    assert sidecar["data"] == {k: secret["data"][k] for k in SIDECAR_ENTRIES}
    # three tokens, three values: none opens what another does
    tokens = [data[k] for k in ("internal-token", "metrics-token", "sidecar-metrics-token")]
    assert len(set(tokens)) == 3
    # a fresh render (no cluster to look the Secret up in) draws new values
    again = one(docs(*VARIANTS[name], "--set", "nameOverride=owx"), "Secret", "owx-secrets")
    assert again["data"]["redis-admin"] != secret["data"]["redis-admin"]


def test_the_secret_is_kept_on_upgrade(tmp_path):
    """An upgrade (the Secret found in the cluster by lookup: --cluster) keeps every entry
    there and makes the ones missing; the action pods' Secret follows."""
    first = one(docs(), "Secret", "owx-secrets")
    kept = dict(first, data={k: v for k, v in first["data"].items() if k != "redis-admin"})
    kept["metadata"] = dict(first["metadata"], namespace="serverless")
    other = dict(kept, metadata=dict(kept["metadata"], namespace="elsewhere"),
                 data={"redis-admin": first["data"]["redis-gateway"]})
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(yaml.safe_dump_all([other, kept]))
    d = docs("--cluster", str(cluster))
    again = one(d, "Secret", "owx-secrets")["data"]
    assert set(again) == set(SECRET_ENTRIES)
    assert {k: again[k] for k in kept["data"]} == kept["data"]
    admin = base64.b64decode(again["redis-admin"]).decode()
    assert admin.startswith("admin ") and again["redis-admin"] != first["data"]["redis-admin"]
    sidecar = one(d, "Secret", "owx-sidecar")["data"]
    assert sidecar == {k: first["data"][k] for k in SIDECAR_ENTRIES}
    # so an upgrade that finds every entry does not roll the pods
    full = tmp_path / "full.yaml"
    full.write_text(yaml.safe_dump(dict(kept, data=first["data"])))

    def checksum(*args):
        return one(docs("--cluster", str(full), *args), "Deployment", "owx-gateway")[
            "spec"]["template"]["metadata"]["annotations"]["checksum/secrets"]
    assert checksum() == checksum("--set", "nameOverride=owx")


def test_no_credential_outside_the_secrets(variant):
    name, d = variant
    values = _secret_values(d)
    assert len(values) >= 5 * 2
    for doc in d:
        if doc["kind"] == "Secret":
            continue
        text = json.dumps(doc)
        for v in values:
            assert v not in text, "%s %s holds a credential" % (doc["kind"], doc["metadata"]["name"])
    # and no container takes a Secret through its environment: files only
    for w in _workloads(d):
        for c in w["spec"]["template"]["spec"]["containers"]:
            for e in c.get("env", []):
                assert "secretKeyRef" not in json.dumps(e), (w["metadata"]["name"], e)
            assert "envFrom" not in c


def test_each_container_mounts_only_the_entries_it_needs(variant):
    name, d = variant
    for w in _workloads(d):
        wname = w["metadata"]["name"]
        spec = w["spec"]["template"]["spec"]
        assert sorted(_secret_items(spec)) == sorted(NEEDS[wname]), wname
        assert "owx-sidecar" not in json.dumps(spec["volumes"] if "volumes" in spec else [])
        for v in spec.get("volumes", []):
            if "secret" in v:
                assert v["secret"]["defaultMode"] == 0o440, (wname, v)
        for c in spec["containers"]:
            for m in c.get("volumeMounts", []):
                if m["name"] == "secrets":
                    assert m["readOnly"] is True and m["mountPath"] == "/etc/owx/secrets"
    pm = one(d, "Deployment", "owx-pool-manager")["spec"]["template"]["spec"]["containers"][0]
    assert "--redis-credentials=/etc/owx/secrets/redis-pool-manager" in pm["args"]
    assert "--token-file=/etc/owx/secrets/internal-token" in pm["args"]
    assert "--metrics-token-file=/etc/owx/secrets/metrics-token" in pm["args"]
    # the action pods' Secret, by name: the pool-manager mounts it into each pod it creates
    assert "--kube-sidecar-secret=owx-sidecar" in pm["args"]
    assert one(d, "Secret", "owx-sidecar")
    # pods roll when their credentials change
    for wname in ("owx-gateway", "owx-pool-manager"):
        ann = one(d, "Deployment", wname)["spec"]["template"]["metadata"]["annotations"]
        assert re.fullmatch(r"[0-9a-f]{64}", ann["checksum/secrets"])


def test_existing_secret_replaces_the_generated_ones():
    p = render("--set", "secrets.existingSecret=mine", check=False)
    assert p.returncode == 1 and "secrets.existingSidecarSecret is required" in p.stderr
    d = docs("--set", "secrets.existingSecret=mine,secrets.existingSidecarSecret=mine-sidecar")
    assert [s["metadata"]["name"] for s in by_kind(d, "Secret")] == ["owx-auth"]
    gw = one(d, "Deployment", "owx-gateway")["spec"]["template"]["spec"]
    assert sorted(_secret_items(gw, "mine")) == ["internal-token", "metrics-token",
                                                 "redis-gateway"]
    pm = one(d, "Deployment", "owx-pool-manager")["spec"]["template"]["spec"]["containers"][0]
    assert "--kube-sidecar-secret=mine-sidecar" in pm["args"]
    # Prometheus reads the token from the user's Secret too
    sm = one(docs("--set", "secrets.existingSecret=mine,secrets.existingSidecarSecret=mine-sidecar",
                  *VARIANTS["servicemonitor"]), "ServiceMonitor", "owx-gateway")
    assert sm["spec"]["endpoints"][0]["bearerTokenSecret"] == {"name": "mine",
                                                               "key": "metrics-token"}


def test_redis_runs_with_acl_users_and_the_default_user_off():
    d = docs()
    sts = one(d, "StatefulSet", "owx-redis")
    spec = sts["spec"]["template"]["spec"]
    c = spec["containers"][0]
    script = c["command"][2]
    assert c["command"][:2] == ["/bin/sh", "-ec"] and c["command"][3:] == ["redis"]
    assert c["args"][0] == "redis-server"
    assert 'exec "$@" --aclfile "$acl"' in script
    assert "echo \"user default off" in script
    assert "for role in admin gateway pool-manager sidecar; do" in script
    # hashed: the password never reaches a file in clear
    assert "sha256sum" in script and 'on #$hash' in script
    assert _mount_of(spec, c, "run") == "/run/redis"
    assert {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}} in spec["volumes"]
    rules = one(d, "ConfigMap", "owx-redis-acl")["data"]
    assert set(rules) == {"admin", "gateway", "pool-manager", "sidecar"}
    assert _mount_of(spec, c, "acl") == "/etc/owx/redis"
    assert rules["admin"] == "~* &* +@all"
    for user in ("gateway", "pool-manager"):
        assert rules[user].split() == ["~owx:*", "&owx:*", "+@all", "-@dangerous"]
    # the sidecar: what ow-sidecar sends, on the keys it needs, no channel
    side = rules["sidecar"].split()
    assert side[:2] == ["resetchannels", "-@all"]
    commands = {r[1:] for r in side if r.startswith("+")}
    assert commands == {"hmget", "hget", "get", "eval", "evalsha", "script|load", "time",
                        "zremrangebyscore", "set", "zadd", "pttl", "pexpireat", "zcard", "zrem",
                        "del", "incrby", "expire"}
    keys = [r for r in side if "~" in r]
    assert keys == ["%R~owx:{*}:e:*", "%R~owx:{*}:code:*", "%R~owx:{*}:limits", "~owx:{*}:a:*",
                    "~owx:{*}:ai", "~owx:{*}:ai:*", "~owx:{*}:connections", "~owx:{*}:conn:*",
                    "~owx:{*}:rate:*"]
    assert not [r for r in side if r.startswith("&") or r.startswith("+@")]
    # the readiness probe authenticates from the file, with nothing on its command line
    probe = " ".join(c["readinessProbe"]["exec"]["command"])
    assert "/etc/owx/secrets/redis-admin" in probe and "REDISCLI_AUTH=" in probe
    ann = sts["spec"]["template"]["metadata"]["annotations"]
    assert ann["checksum/acl"] != ann["checksum/config"]


def _peers_select(peers, labels):
    """Does any NetworkPolicyPeer (no namespaceSelector: this namespace) select pods with labels?"""
    for p in peers:
        if "namespaceSelector" in p or "ipBlock" in p:
            continue
        if p["podSelector"].get("matchLabels", {}).items() <= labels.items():
            return True
    return False


def _pod_labels(d, kind, name):
    return one(d, kind, name)["spec"]["template"]["metadata"]["labels"]


def test_network_policies(variant):
    name, d = variant
    pols = {p["metadata"]["name"]: p["spec"] for p in by_kind(d, "NetworkPolicy")}
    external = name == "external-redis"
    assert set(pols) == {"owx-actions", "owx-pool-manager", "owx-gateway"} | (
        set() if external else {"owx-redis"})
    gw = _pod_labels(d, "Deployment", "owx-gateway")
    pm = _pod_labels(d, "Deployment", "owx-pool-manager")
    job = _pod_labels(d, "Job", "owx-provision")

    # the action pods, by the labels the pool-manager gives them
    with open(os.path.join(ROOT, "pool-manager", "backends", "kube", "kube_backend.cc")) as f:
        backend = f.read()
    for k, v in ACTION_LABELS.items():
        assert '{"%s", "%s"}' % (k, v) in backend
    act = pols["owx-actions"]
    assert act["podSelector"] == {"matchLabels": ACTION_LABELS}
    assert sorted(act["policyTypes"]) == ["Egress", "Ingress"]
    # ingress: the gateways and pool-managers, on the sidecar's port only (kube_backend.h
    # kSidecarPort), not the runtime container's 8080
    ing, = act["ingress"]
    assert ing["ports"] == [{"port": 8081, "protocol": "TCP"}]
    assert _peers_select(ing["from"], gw) and _peers_select(ing["from"], pm)
    assert not _peers_select(ing["from"], ACTION_LABELS) and not _peers_select(ing["from"], job)
    assert all("ipBlock" not in p and "namespaceSelector" not in p for p in ing["from"])
    # egress: DNS, the gateway's port, Redis's port; never the pool-manager or another action pod
    cluster = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"]
    reached = []
    for rule in act["egress"]:
        ports = {(p["port"], p["protocol"]) for p in rule.get("ports", [])}
        for peer in rule["to"]:
            if "ipBlock" in peer:
                block = peer["ipBlock"]
                if block["cidr"] == "0.0.0.0/0":
                    assert block["except"] == cluster and not ports
                    reached.append("world")
                else:
                    assert external and block["cidr"] == "10.1.2.3/32"
                    assert ports == {(6379, "TCP")}
                    reached.append("redis")
            elif "namespaceSelector" in peer:
                assert peer["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
                assert ports == {(53, "UDP"), (53, "TCP")}
                reached.append("dns")
            else:
                labels = peer["podSelector"]["matchLabels"]
                assert not labels.items() <= pm.items(), "action pods reach the pool-manager"
                assert not labels.items() <= ACTION_LABELS.items()
                if labels.items() <= gw.items():
                    assert ports == {(8080, "TCP")}
                    reached.append("gateway")
                else:
                    assert labels["app.kubernetes.io/component"] == "redis"
                    assert ports == {(6379, "TCP")}
                    reached.append("redis")
    assert sorted(reached) == ["dns", "gateway", "redis", "world"]

    # the pool-manager's control API: gateways and its own replicas
    pmp = pols["owx-pool-manager"]
    assert pmp["podSelector"]["matchLabels"].items() <= pm.items()
    assert pmp["policyTypes"] == ["Ingress"]
    ing, = pmp["ingress"]
    assert ing["ports"] == [{"port": 3235, "protocol": "TCP"}]
    assert _peers_select(ing["from"], gw) and _peers_select(ing["from"], pm)
    assert not _peers_select(ing["from"], ACTION_LABELS) and len(ing["from"]) == 2
    # Redis: the gateways, pool-managers, the Job and the action pods' sidecars
    if not external:
        rp = pols["owx-redis"]
        assert rp["podSelector"]["matchLabels"].items() <= _pod_labels(d, "StatefulSet", "owx-redis").items()
        ing, = rp["ingress"]
        assert ing["ports"] == [{"port": 6379, "protocol": "TCP"}]
        for labels in (gw, pm, job, ACTION_LABELS):
            assert _peers_select(ing["from"], labels)
        assert len(ing["from"]) == 4
    # the gateway: its one port, from anywhere
    assert pols["owx-gateway"]["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]


def test_network_policy_values():
    assert not by_kind(docs("--set", "networkPolicy.enabled=false"), "NetworkPolicy")
    d = docs("-f", _values_file({"networkPolicy": {
        "actionEgressCIDRs": ["0.0.0.0/0", "::/0"], "clusterCIDRs": ["10.0.0.0/8", "fd00::/8"]}}))
    world = one(d, "NetworkPolicy", "owx-actions")["spec"]["egress"][-1]["to"]
    assert world == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}},
                     {"ipBlock": {"cidr": "::/0", "except": ["fd00::/8"]}}]
    # no world at all
    d = docs("-f", _values_file({"networkPolicy": {"actionEgressCIDRs": []}}))
    egress = one(d, "NetworkPolicy", "owx-actions")["spec"]["egress"]
    assert not [p for r in egress for p in r["to"] if "ipBlock" in p]


def test_security_contexts_of_every_pod_and_container(variant):
    name, d = variant
    for w in _workloads(d):
        wname = w["metadata"]["name"]
        spec = w["spec"]["template"]["spec"]
        psc = spec["securityContext"]
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, wname
        # only the pool-manager calls the API server
        if wname == "owx-pool-manager":
            assert spec.get("automountServiceAccountToken", True) is True
        else:
            assert spec["automountServiceAccountToken"] is False, wname
        root = wname == "owx-fluentd"  # reads the kubelet's root-owned container logs
        if root:
            assert psc["runAsUser"] == 0 and psc["runAsNonRoot"] is False
        else:
            assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 0, wname
            assert psc["fsGroup"] == psc["runAsGroup"] == psc["runAsUser"], wname
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            where = "%s/%s" % (wname, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert "privileged" not in sc or sc["privileged"] is False
            assert sc["readOnlyRootFilesystem"] is (not root), where
            if not root:
                assert sc["runAsNonRoot"] is True, where


# every optional part of the chart switched on (the Redis StatefulSet and external Redis are
# one or the other; secrets.existingSecret replaces the generated Secrets)
EVERYTHING = ["--set", "gateway.autoscaling.enabled=true,ingress.enabled=true,"
              "ingress.host=owx.test,ingress.className=nginx,"
              "metrics.serviceMonitor.enabled=true,logging.fluentd.enabled=true",
              "--api-versions", "monitoring.coreos.com/v1"]
SERVER_VARIANTS = {
    "everything": EVERYTHING,
    "everything-external-redis": EVERYTHING + ["--set", "redis.external.address=10.1.2.3:6379"],
    "existing-secret": ["--set", "secrets.existingSecret=owx-own,"
                        "secrets.existingSidecarSecret=owx-own-sidecar"],
}
@pytest.fixture(scope="module")
def real_cluster(control_plane):
    """The real API server (v1.21), with the release's namespace."""
    cp = control_plane
    p = cp.kubectl("create", "namespace", "serverless", check=False)
    assert p.returncode == 0 or "AlreadyExists" in p.stderr, p.stderr
    version = json.loads(cp.kubectl("version", "-o", "json").stdout)["serverVersion"]
    return cp, version["gitVersion"]


@pytest.mark.parametrize("name", sorted(SERVER_VARIANTS))
def test_a_real_api_server_accepts_every_object(real_cluster, name):
    """`kubectl apply --dry-run=server` against a real kube-apiserver v1.21 (admission, the
    OpenAPI schema of every field, API versions that exist there): every object is accepted,
    with the chart rendered for that server's version, as `helm install` would."""
    cp, version = real_cluster
    out = render(*(SERVER_VARIANTS[name] + ["--kube-version", version])).stdout
    # Not the ServiceMonitor: a custom resource, which this build of kube-apiserver (v1.21
    # built with Go 1.19) cannot encode: it crashes (reflect2 v1.0.1's map iteration, as on
    # ?pretty=true). test_servicemonitor_scrapes_the_gateway_service checks its fields.
    texts = [t for t in out.split("---\n")[1:] if "\nkind: ServiceMonitor\n" not in t]
    out = "".join("---\n" + t for t in texts)
    objects = [d for d in yaml.safe_load_all(out) if d]
    p = cp.kubectl("apply", "--dry-run=server", "-n", "serverless", "-f", "-", input=out,
                   check=False)
    assert p.returncode == 0, p.stderr
    accepted = [line for line in p.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(accepted) == len(objects), (p.stdout, [(d["kind"], d["metadata"]["name"])
                                                      for d in objects])
    if name == "everything":
        kinds = {d["kind"]: d["apiVersion"] for d in objects}
        assert kinds["HorizontalPodAutoscaler"] == "autoscaling/v2beta2"  # 1.21 has no v2
        assert {"Ingress", "DaemonSet", "NetworkPolicy", "StatefulSet", "Job"} <= set(kinds), \
            sorted(kinds)


def test_the_hpa_api_follows_the_kubernetes_version():
    def hpa(version):
        (d,) = by_kind(docs("--set", "gateway.autoscaling.enabled=true",
                            "--kube-version", version), "HorizontalPodAutoscaler")
        return d["apiVersion"]
    assert hpa("v1.21.2") == "autoscaling/v2beta2"
    assert hpa("v1.22.17") == "autoscaling/v2beta2"
    assert hpa("v1.23.0") == "autoscaling/v2"
    assert hpa("v1.29.0") == "autoscaling/v2"
    p = render("--kube-version", "v1.20.15", check=False)
    assert p.returncode != 0 and "requires kubeVersion: >=1.21.0-0" in p.stderr, p.stderr
