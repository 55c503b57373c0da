"""t/kube: a Kubernetes API server simulator with simulated kubelets (apisim.py, kubelet.py).

`Simulator` starts it as a child process (`/usr/bin/python3 -m t.kube.apisim`) for black-box tests:

    with Simulator(nodes="n1:cpu=4,memory=8Gi", token="secret") as sim:
        requests.get(sim.url + "/api/v1/nodes", headers=sim.headers)

Stopping it (SIGTERM) stops every process its kubelets started.

`ControlPlane` starts the real one instead (../shared/k8s: etcd, kube-apiserver, controller-manager,
scheduler v1.21), and `Standin` the kubelet stand-in (standin.py) that registers nodes with it and
runs the pods its scheduler binds, with the simulator's pod workers.
"""

import os
import select
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def _load_prctl():
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # resolved here: nothing is loaded between fork and exec


def _term_with_parent():
    """PR_SET_PDEATHSIG(SIGTERM): a child whose test process dies (killed, no teardown) stops
    too, cleaning up after itself, instead of running on alone."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM, 0, 0, 0)


class _Child:
    """A child process that prints "listening on <url>" once ready; SIGTERM stops it, and so
    does the end of the process that started it."""
    argv = ()
    env = None
    start_timeout = 15.0
    what = "a child"

    def __init__(self):
        self.proc = None
        self.url = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=None,
                                     stdin=subprocess.DEVNULL, env=self.env,
                                     preexec_fn=_term_with_parent)
        deadline = time.monotonic() + self.start_timeout
        line = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            line = self.proc.stdout.readline()
            if not line or line.startswith(b"listening on "):
                break
        if not line.startswith(b"listening on "):
            self.stop()
            raise RuntimeError("%s did not start: %r" % (self.what, line))
        self.url = line.split()[-1].decode()
        return self

    def stop(self, timeout=15.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Simulator(_Child):
    what = "the API simulator"

    def __init__(self, nodes="node-1:cpu=4,memory=8Gi", token=None, extra=(), start_timeout=15.0, env=None):
        super().__init__()
        self.argv = [PYTHON, "-m", "t.kube.apisim", "--port", "0", "--nodes", nodes] + list(extra)
        if token is not None:
            self.argv += ["--token", token]
        self.token = token
        self.start_timeout = start_timeout
        self.env = env  # the simulator's environment (None: ours), e.g. podman's configuration

    @property
    def headers(self):
        return {"Authorization": "Bearer " + (self.token or "any")}


class Standin(_Child):
    """The kubelet stand-in (standin.py) for a real API server: registers `nodes`, runs the pods
    bound to them. Its url serves the simulator's /_sim/kill and /_sim/state hooks."""
    what = "the kubelet stand-in"

    def __init__(self, kubeconfig, nodes, workdir=None, start_timeout=60.0):
        super().__init__()
        self.argv = [PYTHON, "-m", "t.kube.standin", "--kubeconfig", kubeconfig, "--nodes", nodes]
        if workdir:
            self.argv += ["--workdir", workdir]
        self.start_timeout = start_timeout


SHARED_K8S = os.path.join(os.path.dirname(ROOT), "shared", "k8s")


class ControlPlane:
    """A real Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler
    v1.21) from ../shared/k8s/control-plane, on loopback ports from a free base, under `dir`.
    `unavailable()` says why it cannot run here (a user's clone has no ../shared)."""

    def __init__(self, dir):
        self.dir = dir
        self.script = os.path.join(SHARED_K8S, "control-plane")
        self.base = None
        self.kubeconfig = os.path.join(dir, "admin.kubeconfig")

    @staticmethod
    def unavailable():
        if not os.access(os.path.join(SHARED_K8S, "control-plane"), os.X_OK):
            return "no real control plane here (%s/control-plane is missing)" % SHARED_K8S
        if shutil.which("etcd") is None:
            return "etcd is not installed (./configure.sh installs etcd-server)"
        if shutil.which("kubectl") is None:
            return "kubectl is not installed (./configure.sh installs kubernetes-client)"
        return None

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.base

    def up(self):
        if self.base is None:
            self.base = _free_port_base(6)
        p = subprocess.run([self.script, "up", self.dir, str(self.base)], capture_output=True,
                           text=True, timeout=180)
        if p.returncode != 0:
            raise RuntimeError("control-plane up: %s%s" % (p.stdout, p.stderr))
        # Ready for pods once the controller-manager has made the namespace's "default"
        # ServiceAccount: until then the API server's admission refuses every pod (403)
        # (a minute on a quiet machine is plenty; two minutes when it is loaded)
        end = time.monotonic() + 120
        while self.kubectl("get", "serviceaccount", "default", "-n", "default",
                           check=False).returncode != 0:
            if time.monotonic() > end:
                raise RuntimeError("control-plane up: no default ServiceAccount after 120 s")
            time.sleep(0.2)
        return self

    def down(self):
        subprocess.run([self.script, "down", self.dir], capture_output=True, timeout=60)

    def pid(self, component):
        try:
            with open(os.path.join(self.dir, "run", component + ".pid")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def stop_component(self, component):
        """Stop one component (kube-apiserver: an outage); `up()` starts it again."""
        pid = self.pid(component)
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)

    def kubectl(self, *args, input=None, check=True):
        p = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig] + list(args), input=input,
                           capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError("kubectl %s: %s%s" % (" ".join(args), p.stdout, p.stderr))
        return p


def _free_port_base(n):
    """A base port with base..base+n-1 free on 127.0.0.1 (control-plane's fixed offsets)."""
    import random
    import socket
    for _ in range(200):
        base = random.randrange(20000, 30000)
        socks = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no %d free ports in a row" % n)
