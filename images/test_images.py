"""Smoke test of the built container images (`make test-images`, outside
`make test`: images/build.sh must have run for $OWX_BUILD).

Everything runs with --network host on loopback (../shared/docs/containers.md):
a real Redis started here, the gateway image serving the API, and the Node.js
and Python runtime images (ow-sidecar as entrypoint, the runtime its child)
running an action the gateway image stored; and the Kubernetes path end to
end: the pool-manager image (--backend kubernetes) creating an action pod
through the API simulator (t/kube), whose kubelets run its two containers
with podman (the sidecar image, and the runtime image or an OpenWhisk-style
image of a runtime of ours built here), and invokes through the gateway
image.

$OWX_IMAGE_STATE names another podman state directory than
$OWX_BUILD/images/state (images built for another build directory).
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from owx import activation, admin  # noqa: E402
from owx.stack import free_port, wait_until  # noqa: E402

BUILD = os.path.realpath(os.environ.get("OWX_BUILD", os.path.join(ROOT, "build")))
STATE = os.environ.get("OWX_IMAGE_STATE") or os.path.join(BUILD, "images", "state")
PODMAN_ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(STATE, "containers.conf"),
                  CONTAINERS_STORAGE_CONF=os.path.join(STATE, "storage.conf"))
TAG = os.environ.get("OWX_IMAGE_TAG", "dev")
IMAGES = ("base", "gateway", "pool-manager", "sidecar", "runtime-nodejs", "runtime-python")
GUEST = admin.GUEST_KEY
AUTH = "Basic " + base64.b64encode(GUEST.encode()).decode()


def podman(*args, check=True, timeout=60):
    p = subprocess.run(["podman", *args], capture_output=True, text=True, env=PODMAN_ENV,
                       timeout=timeout)
    if check:
        assert p.returncode == 0, "podman %s: %s" % (" ".join(args), p.stderr)
    return p


@pytest.fixture(scope="module", autouse=True)
def built():
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (../shared/docs/containers.md)")
    if not os.path.exists(os.path.join(STATE, "containers.conf")):
        pytest.fail("no images in %s: make B=%s images" % (STATE, BUILD))
    for name in IMAGES:
        podman("image", "exists", "owx/%s:%s" % (name, TAG))


@pytest.fixture(scope="module")
def containers():
    """Runs containers; removes every one it started (podman rm -f -t 0)."""
    started = []

    def run(image, *args, env=None, opts=()):
        name = "owx-test-%d-%d" % (os.getpid(), len(started))
        cmd = ["run", "-d", "--name", name, "--network", "host", *opts]
        for k, v in (env or {}).items():
            cmd += ["-e", "%s=%s" % (k, v)]
        podman(*cmd, "owx/%s:%s" % (image, TAG), *args)
        started.append(name)
        return name

    yield run
    for name in started:
        podman("rm", "-f", "-t", "0", name, check=False)


@pytest.fixture(scope="module")
def redis_port():
    port = free_port()
    d = tempfile.mkdtemp(prefix="owx-images-redis-")
    p = subprocess.Popen(["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--dir", d], stdout=subprocess.DEVNULL)

    def ready():
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    wait_until(ready, 10, "redis")
    assert admin.main(["--redis", "127.0.0.1:%d" % port, "init"]) == 0
    yield port
    p.terminate()
    p.wait(10)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def gateway_secrets(tmp_path_factory):
    """The gateway image's credentials (its entrypoint wants OWX_SECRETS, as the chart mounts
    them): this Redis has only its default user, which takes any password; readable by the
    image's uid 10001."""
    d = tmp_path_factory.mktemp("gateway-secrets")
    os.chmod(str(d), 0o755)
    for name, text in (("redis-gateway", "default unused"),
                       ("internal-token", os.urandom(32).hex()),
                       ("metrics-token", os.urandom(32).hex())):
        path = d / name
        path.write_text(text + "\n")
        os.chmod(str(path), 0o644)
    return ("-v", "%s:/etc/owx/secrets:ro" % d)


def logs(name):
    p = podman("logs", name, check=False)
    return p.stdout + p.stderr


def test_images_are_non_root_with_healthchecks():
    for name in IMAGES:
        cfg = json.loads(podman("image", "inspect", "owx/%s:%s" % (name, TAG)).stdout)[0]
        assert cfg["Config"]["User"] == "10001:10001", name
        if name != "base":
            assert cfg["Healthcheck"]["Test"][0] in ("CMD", "CMD-SHELL"), name


def test_binaries_find_their_shared_libraries():
    for image, path in (("gateway", "/usr/lib/owx/modules/ngx_http_ow_module.so"),
                        ("pool-manager", "/usr/bin/ow-pool-manager"),
                        ("sidecar", "/usr/bin/ow-sidecar")):
        p = podman("run", "--rm", "--network", "host", "--entrypoint", "/usr/bin/ldd",
                   "owx/%s:%s" % (image, TAG), path)
        assert "not found" not in p.stdout, (image, p.stdout)
    p = podman("run", "--rm", "--network", "host", "owx/pool-manager:%s" % TAG, "--help")
    assert "--redis" in p.stdout
    p = podman("run", "--rm", "--network", "host", "--entrypoint", "/usr/bin/ow-admin",
               "owx/pool-manager:%s" % TAG, "--help")
    assert "init" in p.stdout


@pytest.fixture(scope="module")
def gateway(containers, redis_port, gateway_secrets):
    port = free_port()
    name = containers("gateway", env={"OWX_PORT": port, "OWX_LISTEN": "127.0.0.1",
                                      "OWX_REDIS": "localhost:%d" % redis_port,
                                      "OWX_POOL": "127.0.0.1:1", "OWX_HOME": "/tmp/owx"},
                      # as in the chart's pod: a read-only root, state on a
                      # writable volume (podman's /tmp tmpfs here: its --tmpfs
                      # ignores mode=, a Kubernetes emptyDir is world-writable)
                      opts=("--read-only",) + gateway_secrets)
    url = "http://127.0.0.1:%d" % port

    def up():
        return requests.get(url + "/api/v1", timeout=1).status_code == 200

    try:
        wait_until(up, 20, "the gateway image on " + url)
    except RuntimeError:
        pytest.fail("gateway did not answer:\n" + logs(name))
    return url, name


def test_gateway_image_serves_the_api(gateway):
    url, name = gateway
    info = requests.get(url + "/api/v1", timeout=5).json()
    assert info["api_version_path"] == "v1" and info["build"] == "owx"
    kinds = [k["kind"] for fam in requests.get(url + "/", timeout=5).json()["runtimes"].values()
             for k in fam]
    assert "nodejs:18" in kinds and "python:3.11" in kinds
    # the key provisioned on the host's Redis is accepted: the container reached Redis
    r = requests.get(url + "/api/v1/namespaces", headers={"Authorization": AUTH}, timeout=5)
    assert r.status_code == 200 and r.json() == ["guest"]
    r = requests.get(url + "/api/v1/namespaces", timeout=5)
    assert r.status_code == 401
    # the image's HEALTHCHECK passes
    assert podman("healthcheck", "run", name, check=False).returncode == 0, logs(name)


RUNTIMES = {
    "runtime-nodejs": ("nodejs:18", "function main(p) { return {hello: p.name, via: 'nodejs'}; }"),
    "runtime-python": ("python:3.11", "def main(p):\n    return {'hello': p['name'], 'via': 'python'}\n"),
}


@pytest.mark.parametrize("image", sorted(RUNTIMES))
def test_runtime_image_runs_an_action_stored_through_the_gateway(image, gateway, containers,
                                                                 redis_port):
    url, _ = gateway
    kind, code = RUNTIMES[image]
    action = "hello-" + image
    r = requests.put(url + "/api/v1/namespaces/guest/actions/%s" % action,
                     headers={"Authorization": AUTH},
                     json={"exec": {"kind": kind, "code": code}}, timeout=5)
    assert r.status_code == 200, r.text
    port = free_port()
    addr = "127.0.0.1:%d" % port
    name = containers(image, "--listen", addr, "--redis", "127.0.0.1:%d" % redis_port,
                      "--action", "guest/" + action, "--container-id", "c-" + image,
                      "--api-host", url, "--", "/opt/owx/bin/runtime", "--port", "{port}",
                      env={"OWX_HEALTH_ADDR": addr})

    def healthy():
        # what the pod's readinessProbe asks: 503 until /init is done
        r = requests.get("http://%s/health?probe=readiness" % addr, timeout=1)
        return r.status_code == 200 and r.json()["ready"] is True

    try:
        wait_until(healthy, 30, "the sidecar of " + image)
    except RuntimeError:
        pytest.fail("sidecar not healthy:\n" + logs(name))
    assert podman("healthcheck", "run", name, check=False).returncode == 0
    aid = activation.new_activation_id()
    r = requests.post("http://%s/invoke?blocking=true&result=true" % addr,
                      data=json.dumps({"name": "owx"}), timeout=30,
                      headers={"X-OW-Activation-Id": aid, "X-OW-Namespace": "guest",
                               "X-OW-Subject": "guest", "X-OW-Path": "guest/" + action,
                               "X-OW-Accept-Time": str(activation.now_ms()),
                               "Authorization": AUTH})
    assert r.status_code == 200, (r.text, logs(name))
    assert r.json() == {"hello": "owx", "via": kind.split(":")[0]}
    # the record the sidecar wrote is served by the gateway image
    rec = None
    end = time.monotonic() + 10
    while time.monotonic() < end:
        g = requests.get(url + "/api/v1/namespaces/guest/activations/" + aid,
                         headers={"Authorization": AUTH}, timeout=5)
        if g.status_code == 200:
            rec = g.json()
            break
        time.sleep(0.1)
    assert rec and rec["response"]["success"] is True and rec["name"] == action


# A runtime image of the OpenWhisk kind, not owx's: no ow-sidecar in it, root (as OpenWhisk's
# images run), its own WORKDIR and entrypoint, which the pool-manager is told (kube-images.json
# "command", as the chart's runtimes.kinds[].command); runtimes/nodejs stands in for OpenWhisk's
# app.js (no registry is reachable to pull openwhisk/action-nodejs-v18).
OW_STYLE_DOCKERFILE = """\
FROM debian:bookworm-slim
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs \\
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY proxy.js /nodejsAction/app.js
WORKDIR /nodejsAction
EXPOSE 8080
CMD ["node", "app.js", "--port", "8080", "--host", "0.0.0.0"]
"""
OW_STYLE_IMAGE = "owx-test/runtime-ow-style:%s" % TAG


@pytest.fixture(scope="module")
def ow_style_image(tmp_path_factory):
    """Builds OW_STYLE_IMAGE (debian:bookworm-slim is there: images/build.sh made it); removed
    after the module (disk)."""
    ctx = tmp_path_factory.mktemp("ow-style")
    (ctx / "Dockerfile").write_text(OW_STYLE_DOCKERFILE)
    shutil.copy(os.path.join(ROOT, "runtimes", "nodejs", "proxy.js"), str(ctx / "proxy.js"))
    podman("build", "--quiet", "--pull=never", "-t", OW_STYLE_IMAGE, str(ctx), timeout=600)
    yield OW_STYLE_IMAGE
    podman("rmi", "-f", OW_STYLE_IMAGE, check=False)


@pytest.mark.parametrize("runtime_kind", ["owx", "openwhisk-style"])
def test_kube_e2e_invoke_through_simulated_kubelets(containers, redis_port, gateway_secrets,
                                                    request, tmp_path, runtime_kind):
    """The pool-manager image with --backend kubernetes asks the API simulator for an action pod;
    the simulated kubelet runs its two containers with podman, the sidecar from owx/sidecar and
    the runtime from owx/runtime-nodejs or from an OpenWhisk-style image (--network host, on the
    pod's own 127.0.0.x address, readiness = the sidecar's /health probe); the gateway image
    routes blocking invokes to it, the runtime's output comes back as the activation's logs."""
    sys.path.insert(0, os.path.join(ROOT, "t"))
    from kube import Simulator

    pool_port, gw_port = free_port(), free_port()
    gw_url = "http://127.0.0.1:%d" % gw_port
    conf = tmp_path / "kube"  # mounted read-only into the pool-manager container (uid 10001)
    conf.mkdir()
    os.chmod(str(conf), 0o755)
    node_image = "owx/runtime-nodejs:%s" % TAG
    node = {"kind": "nodejs:18", "family": "nodejs", "default": True, "image": node_image,
            "command": ["/opt/owx/bin/runtime", "--port", "{port}"]}
    # as the chart's runtimes-exec.json and kube-images.json (helm/owx/templates/_helpers.tpl),
    # but the pods share the host's loopback (--network host): the runtime listens on the pod's
    # own address (--kube-runtime-address below), which its command must say
    if runtime_kind == "owx":
        image = node_image
        runtime = {"image": image,
                   "command": ["/opt/owx/bin/runtime", "--port", "8080", "--host", "$(POD_IP)"]}
    else:
        image = request.getfixturevalue("ow_style_image")
        # relative to the image's WORKDIR, as OpenWhisk's ["node", "--expose-gc", "app.js"]
        runtime = {"image": image,
                   "command": ["node", "app.js", "--port", "8080", "--host", "$(POD_IP)"]}
    files = {
        "runtimes-exec.json": {"nodejs:18": node, "nodejs:default": node},
        "kube-images.json": {"nodejs:18": runtime, "nodejs:default": runtime},
    }
    for name, doc in files.items():
        with open(str(conf / name), "w") as f:
            json.dump(doc, f)
    sim = Simulator(nodes="node-1:cpu=4,memory=8Gi", token="images-e2e",
                    extra=["--container-runtime", "podman", "--kubeconfig", str(conf / "kubeconfig")],
                    env=PODMAN_ENV)
    sim.start()
    mine = []  # this test's pool-manager and gateway: stopped before the simulator
    try:
        for name in os.listdir(str(conf)):
            os.chmod(str(conf / name), 0o644)
        pool = containers("pool-manager",
                          "--listen", "127.0.0.1:%d" % pool_port,
                          "--redis", "127.0.0.1:%d" % redis_port,
                          "--runtimes", "/etc/owx/kube/runtimes-exec.json",
                          "--api-host", gw_url, "--stemcells", "",
                          "--backend", "kubernetes", "--kubeconfig", "/etc/owx/kube/kubeconfig",
                          "--kube-images", "/etc/owx/kube/kube-images.json",
                          "--kube-sidecar-image", "owx/sidecar:%s" % TAG,
                          "--kube-runtime-address", "$(POD_IP):8080",
                          # a podman start on a loaded machine takes seconds, not milliseconds
                          "--capacity-timeout", "120s", "--start-timeout", "120s",
                          opts=("-v", "%s:/etc/owx/kube:ro" % conf))
        mine.append(pool)

        def leads():
            r = requests.get("http://127.0.0.1:%d/health" % pool_port, timeout=1)
            return r.status_code == 200 and r.json().get("leader") is True

        try:
            wait_until(leads, 60, "the pool-manager image leading")
        except RuntimeError:
            pytest.fail("pool-manager did not lead:\n" + logs(pool))
        gw = containers("gateway", env={"OWX_PORT": gw_port, "OWX_LISTEN": "127.0.0.1",
                                        "OWX_REDIS": "localhost:%d" % redis_port,
                                        "OWX_POOL": "127.0.0.1:%d" % pool_port,
                                        "OWX_HOME": "/tmp/owx"},
                        opts=("--read-only",) + gateway_secrets)
        mine.append(gw)
        try:
            wait_until(lambda: requests.get(gw_url + "/api/v1", timeout=1).status_code == 200, 30,
                       "the gateway image on " + gw_url)
        except RuntimeError:
            pytest.fail("gateway did not answer:\n" + logs(gw))

        action = "kube-e2e-" + runtime_kind  # one Redis for the module: a name each
        r = requests.put(gw_url + "/api/v1/namespaces/guest/actions/" + action,
                         headers={"Authorization": AUTH}, timeout=5,
                         json={"exec": {"kind": "nodejs:18",
                                        "code": "function main(p) { console.log('hi ' + p.name); "
                                                "return {hello: p.name, "
                                                "pod: process.env.HOSTNAME}; }"}})
        assert r.status_code == 200, r.text
        r = requests.post(gw_url + "/api/v1/namespaces/guest/actions/%s?blocking=true"
                          % action, headers={"Authorization": AUTH}, json={"name": "kube"},
                          timeout=180)
        assert r.status_code == 200, (r.text, logs(pool), logs(gw))
        record = r.json()
        result = record["response"]["result"]
        assert result["hello"] == "kube", record
        # the runtime container's output, through the sidecar's FIFOs in the pod's emptyDir
        assert [line.split(" ", 1)[1] for line in record["logs"]] == ["stdout: hi kube"], record
        # the pod the pool-manager created, and the container its kubelet ran from the image
        pods = requests.get(sim.url + "/api/v1/namespaces/default/pods", headers=sim.headers,
                            params={"labelSelector": "app.kubernetes.io/managed-by=owx-pool-manager"},
                            timeout=5).json()["items"]
        assert [p["metadata"]["name"] for p in pods] == [result["pod"]]
        pod = pods[0]
        assert [(c["name"], c["image"]) for c in pod["spec"]["containers"]] == [
            ("sidecar", "owx/sidecar:%s" % TAG), ("runtime", image)]
        assert pod["metadata"]["annotations"]["owx.dev/action"] == "guest/" + action
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"].startswith("127.0.0.")
        running = podman("ps", "--format", "{{.Names}} {{.Image}}").stdout.split("\n")
        assert "%s-runtime localhost/%s" % (result["pod"], image) in running, running
        assert "%s-sidecar localhost/owx/sidecar:%s" % (result["pod"], TAG) in running, running
        # warm: the same pod answers again, no second pod
        r = requests.post(gw_url + "/api/v1/namespaces/guest/actions/%s?blocking=true&result=true"
                          % action, headers={"Authorization": AUTH}, json={"name": "again"},
                          timeout=60)
        assert r.status_code == 200 and r.json() == {"hello": "again", "pod": result["pod"]}
    finally:
        if mine:
            podman("rm", "-f", "-t", "0", *mine, check=False)
        sim.stop(60)
        # the kubelets remove their containers when the simulator stops; check, then sweep
        left = [n for n in _names() if n.startswith("owx-") and
                (n.endswith("-sidecar") or n.endswith("-runtime"))]
        if left:
            podman("rm", "-f", "-t", "0", *left, check=False)
        assert not left, "containers left by the simulated kubelets: %s" % left


def _names():
    return [n for n in podman("ps", "-a", "--format", "{{.Names}}").stdout.split() if n]
