#!/usr/bin/python3
"""fake_sidecar.py: a stand-in for ow-sidecar in the pool-manager's tests.

Obeys the sidecar's command line (docs: /work/brief/invoke.md, "Sidecar"):
  fake_sidecar.py --listen 127.0.0.1:0 --redis H:P --action ns/path
                  --container-id ID --ready-fd N [--api-host U] [--overflow N]
                  [--retention S] -- <runtime command with {port}>
serves GET /health and POST /invoke, writes "ready <ip>:<port>" on the ready fd,
drains on SIGTERM (exit 0). Behaviour for tests, chosen by the action's name:
  ...initfail   writes `failed {"error": ...}` on the ready fd and exits 3
  ...slowstart  waits 1 s before it is ready (a window for coalescing)
POST /invoke body {"sleep": s} holds the request s seconds (in flight).
When FAKE_SIDECAR_DIR is set, writes <dir>/<container id>.json with its argv,
pid, RLIMIT_DATA and NODE_OPTIONS, so tests can check how it was started.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse(argv):
    opts, rest = {}, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest = argv[i + 1:]
            break
        if not a.startswith("--") or i + 1 >= len(argv):
            sys.exit("fake_sidecar: bad argument %r" % a)
        opts[a[2:]] = argv[i + 1]
        i += 2
    return opts, rest


def main():
    opts, runtime = parse(sys.argv[1:])
    for required in ("listen", "redis", "action", "container-id", "ready-fd"):
        if required not in opts:
            sys.exit("fake_sidecar: --%s is required" % required)
    if not any("{port}" in a for a in runtime):
        sys.exit("fake_sidecar: runtime command has no {port}")
    action = opts["action"]
    ready_fd = int(opts["ready-fd"])
    state = {"inflight": 0, "lastUsed": 0, "activations": 0, "draining": False}
    lock = threading.Lock()

    # a stand-in runtime in a process group of its own, as the real sidecar
    # starts it: the pool-manager must not leave it behind
    runtime_proc = subprocess.Popen(["/bin/sleep", "600"], process_group=0,
                                    stdin=subprocess.DEVNULL, pass_fds=())
    d = os.environ.get("FAKE_SIDECAR_DIR")
    if d:
        info = {"argv": sys.argv[1:], "pid": os.getpid(), "pgid": os.getpgid(0),
                "runtime_pid": runtime_proc.pid,
                "sid": os.getsid(0),
                "rlimit_data": resource.getrlimit(resource.RLIMIT_DATA)[0],
                "node_options": os.environ.get("NODE_OPTIONS", ""),
                "open_fds": sorted(int(f) for f in os.listdir("/proc/self/fd"))}
        with open(os.path.join(d, opts["container-id"] + ".json"), "w") as f:
            json.dump(info, f)

    if action.endswith("initfail"):
        os.write(ready_fd, b'failed {"error":"Initialization has failed due to: boom"}\n')
        os.close(ready_fd)
        runtime_proc.kill()
        sys.exit(3)
    if action.endswith("slowstart"):
        time.sleep(1.0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send_json(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path != "/health":
                return self.send_json(404, {"error": "not found"})
            with lock:
                body = {"ready": True, "inflight": state["inflight"], "queued": 0,
                        "lastUsed": state["lastUsed"], "activations": state["activations"]}
            self.send_json(200, body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            if not self.path.startswith("/invoke"):
                return self.send_json(404, {"error": "not found"})
            with lock:
                if state["draining"]:
                    return self.send_json(503, {"error": "draining"})
                state["inflight"] += 1
            try:
                params = json.loads(raw or b"{}")
                time.sleep(float(params.get("sleep", 0)))
            finally:
                with lock:
                    state["inflight"] -= 1
                    state["activations"] += 1
                    state["lastUsed"] = int(time.time() * 1000)
            self.send_json(200, {"container": opts["container-id"], "action": action})

    host, port = opts["listen"].rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True

    def drain(signum, frame):
        state["draining"] = True
        # finish in-flight work (bounded), then stop serving
        def stop():
            end = time.monotonic() + 10
            while state["inflight"] and time.monotonic() < end:
                time.sleep(0.02)
            server.shutdown()
            runtime_proc.kill()
        threading.Thread(target=stop, daemon=True).start()

    signal.signal(signal.SIGTERM, drain)
    os.write(ready_fd, ("ready %s:%d\n" % server.server_address).encode())
    os.close(ready_fd)
    server.serve_forever(poll_interval=0.05)
    sys.exit(0)


if __name__ == "__main__":
    main()
