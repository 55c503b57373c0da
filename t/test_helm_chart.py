"""The Helm chart (helm/owx) rendered by tools/helm-render (Helm's template
semantics; Helm itself cannot be installed here) with representative values,
checked as `kubectl apply` and an operator would see it.

No stack is started: these tests only render. The renderer is built into
$OWX_BUILD (make helm-render) when missing.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

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
    with open(os.path.join(ROOT, "pool-manager", "kube_api_calls.json")) as f:
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


def test_gateway_conf_is_conf_dir_verbatim():
    """helm/owx/files/conf is a checked-in copy of conf/ (so `helm install
    ./helm/owx` works from a checkout); `make chart-conf` refreshes it."""
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
    cm = one(docs(), "ConfigMap", "owx-gateway-conf")["data"]
    assert sorted(cm) == names
    for n in names:
        with open(os.path.join(conf, n)) as f:
            text = f.read()
        with open(os.path.join(copy, n)) as f:
            assert f.read() == text, "helm/owx/files/conf/%s differs from conf/: make chart-conf" % n
        assert cm[n] == text


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
    assert eph["spec"]["template"]["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]


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
    assert "redis-cli HGETALL 'owx:{warm}'" in notes
    assert "<no value>" not in notes


def test_provision_job_applies_namespace_limits_and_installs_the_catalog():
    d = docs("-f", _values_file({"namespaceLimits": {"alice": {"invocationsPerMinute": 600,
                                                               "concurrentInvocations": 50}}}))
    job = one(d, "Job", "owx-provision")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert 'ow-admin init --guest-key "$GUEST_KEY"' in script
    assert 'ow-admin limits set "alice" --concurrentInvocations 50 --invocationsPerMinute 600' in script
    # the catalog (whisk.system/utils) through the gateway's Service, as whisk.system
    assert ('ow-admin catalog install --auth "$SYSTEM_KEY" --apihost http://owx-gateway:80'
            in script)
    assert script.index("ow-admin init") < script.index("ow-admin catalog install")
    secret = one(d, "Secret", "owx-auth")
    assert secret["stringData"]["guest"] == GUEST_KEY


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
    a = render().stdout
    b = subprocess.run([RENDER, "--name", "owx", "--namespace", "serverless", CHART],
                       capture_output=True, text=True, timeout=30).stdout
    assert hashlib.sha256(a.encode()).digest() == hashlib.sha256(b.encode()).digest()


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
