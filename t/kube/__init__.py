"""t/kube: a Kubernetes API server simulator with simulated kubelets (apisim.py, kubelet.py).

`Simulator` starts it as a child process (`/usr/bin/python3 -m t.kube.apisim`) for black-box tests:

    with Simulator(nodes="n1:cpu=4,memory=8Gi", token="secret") as sim:
        requests.get(sim.url + "/api/v1/nodes", headers=sim.headers)

Stopping it (SIGTERM) stops every process its kubelets started.
"""

import os
import select
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class Simulator:
    def __init__(self, nodes="node-1:cpu=4,memory=8Gi", token=None, extra=(), start_timeout=15.0, env=None):
        self.argv = [PYTHON, "-m", "t.kube.apisim", "--port", "0", "--nodes", nodes] + list(extra)
        if token is not None:
            self.argv += ["--token", token]
        self.token = token
        self.start_timeout = start_timeout
        self.env = env  # the simulator's environment (None: ours), e.g. podman's configuration
        self.proc = None
        self.url = None

    @property
    def headers(self):
        return {"Authorization": "Bearer " + (self.token or "any")}

    def start(self):
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=None,
                                     stdin=subprocess.DEVNULL, env=self.env)
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
            raise RuntimeError("the API simulator did not start: %r" % line)
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
