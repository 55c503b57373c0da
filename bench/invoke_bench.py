"""invoke_bench.py: what the owx invoke path costs, layer by layer.

One run starts one owx stack (Redis, nginx with the owx modules, the
pool-manager, which starts ow-sidecar + Node.js runtime containers) on free
ports and measures with wrk (keepalive, POST with a JSON body and the guest's
Authorization header on every request, also where nobody checks it):

  a runtime   POST /run straight to a Node.js runtime (runtimes/nodejs/proxy.js)
              started here and /init-ed with the same no-op action
  b sidecar   POST /invoke?blocking=true&result=true straight to the warm
              sidecar of the no-op action (its address from the pool-manager's
              GET /v1/containers after one invoke), with the internal token
              (X-OW-Token, from the stack's secrets/internal-token) as the
              gateway sends it
  c proxy     the same through a plain nginx proxy_pass (same nginx, same
              server block, an upstream with keepalive to that sidecar's
              address, the X-OW-* headers set as invoke_proxy.conf does, the
              token from $ow_internal_token as invoke_context.conf sends it)
  d owx       POST /api/v1/namespaces/_/actions/noop?blocking=true&result=true:
              the full owx path (auth with the verdict cache, namespace
              limits, the router's warm table, proxy to the same sidecar)
  e nginx     POST /run through a plain nginx proxy_pass (same nginx, same
              server block, keepalive upstream) to the runtime of (a): what
              a proxy hop with no logic at all costs on this machine, the
              ceiling of (b)/(a) for any proxy, the sidecar included

(c) and (e) need static upstreams with the sidecar's and the runtime's
addresses, known only once they run: the bench renders nginx.conf again with the location and an
upstream block added, checks it (nginx -t) and reloads the same nginx (SIGHUP);
so (c) and (d) are served by the same workers, the same server block (the same
add_header lines) and differ only by auth + limits + router.

Containers: the no-op action gets limits.concurrency 8 (the namespace's
maxActionConcurrency raised for it) so that c=8 runs on ONE container without
429s; (b), (c) and (d) therefore all use that one container and the runtime of
(a) is started with __OW_ALLOW_CONCURRENT=true like the sidecar starts it. The
guest namespace gets high invocation limits first (else (d) hits 429s). The
variants run interleaved (a b c d at c=1, a b c d at c=8, then the next round)
so a drift of the machine hits all of them alike; medians over the rounds.

Cold start: ~10 times, a fresh Node.js hello action invoked blocking with
result=true through the full path (request → pool-manager → sidecar → runtime
spawn → /init → /run → result), next to the runtime alone: spawn proxy.js,
poll its port every 1 ms, /init the same code (and /run once), interleaved.
Platform overhead = cold p50 - runtime (spawn + /init + first /run) p50; the
difference to spawn + /init alone is printed too.

Memory: the no-op sidecar's RSS (ps -o rss) idle (after its first invoke) and
after the load; gateway shared memory per warm-table entry derived from the
router module's source: the container node struct is compiled (gcc, nginx's
headers) to get its sizeof, then rounded to the nginx slab slot (the next
power of two >= the size for sizes up to half a page, 8 minimum).

Prints a table, writes JSON (default build/bench/invoke.json) and exits 1 when
a variant saw a non-2xx response or a socket error.

Environment: BENCH_INVOKE_DURATION (seconds per run, 5), BENCH_INVOKE_ROUNDS
(2), BENCH_COLD (cold starts, 10), BENCH_WORKERS (nginx workers, 2),
BENCH_INVOKE_OUT (JSON path), OWX_BUILD (where everything was built).
"""

import base64
import http.client
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from owx import admin  # noqa: E402
from owx.stack import Stack, free_port, wait_until  # noqa: E402

WRK = "/usr/bin/wrk"
VARIANTS = ("a_runtime", "b_sidecar", "c_proxy", "d_owx", "e_nginx")
CONCURRENCY = (1, 8)
ACTION_CONCURRENCY = 8
NOOP = "function main(params) { return {} }"
HELLO = "function main(p) { return {greeting: 'hello ' + (p.name || 'world')} }"
TARGET_RPS_RATIO = 0.85     # (d)/(c) req/s
TARGET_P50_ADD_MS = 0.5     # (d) p50 - (a) p50
TARGET_COLD_MS = 20.0       # platform overhead on a cold start, p50
TARGET_RSS_KB = 8 * 1024
TARGET_SHM_BYTES = 256

# (c): added to the server block where "# @OWX_EXTRA@" is; the upstream goes
# into the http block (render_proxy_conf). Headers as invoke_proxy.conf sets
# them, with the values (d) resolves (the accept time is left to the sidecar:
# nginx has no epoch-ms variable without the owx module).
PROXY_LOCATION = """
        location = /_bench/sidecar {
            proxy_pass http://owx_bench_sidecar/invoke$is_args$args;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-OW-Activation-Id $request_id;
            proxy_set_header X-OW-Namespace guest;
            proxy_set_header X-OW-Subject guest;
            proxy_set_header X-OW-Path guest/noop;
            proxy_set_header X-OW-Token $ow_internal_token;
            proxy_read_timeout 75s;
            proxy_buffering off;
        }
"""
PROXY_UPSTREAM = """
    upstream owx_bench_sidecar {
        server %s;
        keepalive 256;
    }
"""
# (e): nginx's own proxy to the runtime of (a), nothing else
RUNTIME_PROXY_LOCATION = """
        location = /_bench/runtime {
            proxy_pass http://owx_bench_runtime/run;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 75s;
            proxy_buffering off;
        }
"""
RUNTIME_PROXY_UPSTREAM = """
    upstream owx_bench_runtime {
        server %s;
        keepalive 256;
    }
"""

WRK_LUA = """
wrk.method = %(method)s
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/json"
%(auth)s
%(extra)s
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'OWXBENCH {"requests":%%d,"duration_us":%%d,"bytes":%%d,' ..
        '"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,' ..
        '"mean_us":%%.1f,"status_errors":%%d,"connect_errors":%%d,' ..
        '"read_errors":%%d,"write_errors":%%d,"timeouts":%%d}\\n',
        summary.requests, summary.duration, summary.bytes,
        latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max, latency.mean,
        e.status, e.connect, e.read, e.write, e.timeout))
end
"""


def env_int(name, default):
    return int(os.environ.get(name, default))


def lua_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lua_auth(auth):
    """WRK_LUA's Authorization line (none for None)."""
    return 'wrk.headers["Authorization"] = %s' % lua_string(auth) if auth is not None else ""


def wrk_lua(body, auth, headers=None, method="POST"):
    """wrk's script: POST body (or method with no body) with Authorization auth (None: none)
    and the extra headers."""
    return WRK_LUA % {"method": lua_string(method),
                      "body": lua_string(body) if body is not None else "nil",
                      "auth": lua_auth(auth), "extra": "".join(
        "wrk.headers[%s] = %s\n" % (lua_string(k), lua_string(v))
        for k, v in (headers or {}).items())}


def request(addr, method, path, body=None, headers=None, timeout=60):
    """One HTTP request on a fresh connection: (status, parsed or raw body)."""
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, raw
    finally:
        conn.close()


def run_wrk(url, lua, conns, duration):
    threads = min(conns, 2)
    out = subprocess.run(
        [WRK, "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration,
         "--timeout", "5s", "-s", lua, url],
        capture_output=True, text=True, timeout=duration + 60)
    for line in out.stdout.splitlines():
        if line.startswith("OWXBENCH "):
            res = json.loads(line[len("OWXBENCH "):])
            break
    else:
        raise RuntimeError("wrk failed (rc %d): %s %s" % (out.returncode, out.stdout, out.stderr))
    res["rps"] = res["requests"] * 1e6 / res["duration_us"] if res["duration_us"] else 0.0
    res["non2xx"] = res["status_errors"]
    res["socket_errors"] = (res["connect_errors"] + res["read_errors"]
                            + res["write_errors"] + res["timeouts"])
    return res


# ------------------------------------------------------------ runtime alone

def process_cpu_s(pid):
    """CPU seconds of process pid and of the children it has reaped (Redis's AOF rewrites)."""
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime stime cutime cstime, in clock ticks
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def children_cpu_s():
    """CPU seconds of this process's reaped children (wrk)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def process_tree(pid):
    """pid and all its descendants."""
    out = [pid]
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                for c in f.read().split():
                    out += process_tree(int(c))
    except OSError:
        pass
    return out


def interleaved_rounds(base_url, paths, lua, concurrency, nrounds, duration, failed,
                       cpu=None, settle=None):
    """wrk on every path of paths ({name: path}) at every concurrency, nrounds times, each run
    after a 1 s warm-up (connections, caches); each round in another order, so no path always
    follows the same other one. lua: wrk's script, or {name: script} for every path.
    cpu: {label: function returning pids}: each run's CPU per request of those processes (and
    of wrk) in its result as "cpu_us" {label: us}. settle: called after each run, before its
    CPU is read: waits for work the run left behind (Redis writing what a path queued), so
    that it is billed to that path, not to the next one.
    Returns {name: {"c<N>": [result of each round]}}; what saw a non-2xx answer or a socket
    error is appended to failed."""
    runs = {name: {} for name in paths}
    names = list(paths)
    for i in range(nrounds):
        order = names[i % len(names):] + names[:i % len(names)]
        for conc in concurrency:
            for name in order:
                url = base_url + paths[name]
                script = lua[name] if isinstance(lua, dict) else lua
                run_wrk(url, script, conc, 1)
                pids = {k: f() for k, f in (cpu or {}).items()}
                before = {k: sum(process_cpu_s(p) for p in v) for k, v in pids.items()}
                before_wrk = children_cpu_s()
                res = run_wrk(url, script, conc, duration)
                after_wrk = children_cpu_s()
                if settle:
                    settle()
                if cpu:
                    n = max(res["requests"], 1)
                    res["cpu_us"] = {k: (sum(process_cpu_s(p) for p in v) - before[k]) * 1e6 / n
                                     for k, v in pids.items()}
                    res["cpu_us"]["wrk"] = (after_wrk - before_wrk) * 1e6 / n
                runs[name].setdefault("c%d" % conc, []).append(res)
                print("  round %d %-10s c=%d %8.0f req/s  p50 %s ms  p99 %s ms%s"
                      % (i + 1, name, conc, res["rps"], ms(res["p50_us"]),
                         ms(res["p99_us"]), cpu_text(res.get("cpu_us"))), flush=True)
                if res["non2xx"] or res["socket_errors"]:
                    failed.append("round %d %s c=%d: %d non-2xx, %d socket errors"
                                  % (i + 1, name, conc, res["non2xx"], res["socket_errors"]))
    return runs


def cpu_text(cpu_us):
    """'  CPU us/req a 1.0 b 2.0 sum 3.0' for {label: us}, '' for None."""
    if not cpu_us:
        return ""
    return "  CPU us/req " + " ".join("%s %.1f" % kv for kv in cpu_us.items()) + \
        " sum %.1f" % sum(cpu_us.values())


def round_medians(runs, conc):
    """{name: {"rps", "p50_us"[, "cpu_us"]}}: the medians over the rounds of
    interleaved_rounds at conc."""
    k = "c%d" % conc
    out = {}
    for n in runs:
        rs = runs[n][k]
        out[n] = {"rps": statistics.median(r["rps"] for r in rs),
                  "p50_us": statistics.median(r["p50_us"] for r in rs)}
        if all("cpu_us" in r for r in rs):
            out[n]["cpu_us"] = {label: statistics.median(r["cpu_us"][label] for r in rs)
                                for label in rs[0]["cpu_us"]}
    return out


def node_command(stack):
    with open(stack.runtimes_exec) as f:
        kinds = json.load(f)
    for kind, spec in kinds.items():
        if spec.get("family") == "nodejs" and spec.get("default"):
            return kind, spec["command"]
    raise RuntimeError("no default nodejs kind in %s" % stack.runtimes_exec)


def runtime_env(concurrent):
    env = dict(os.environ)
    # as the pool-manager starts it (memory 256 MB)
    env["NODE_OPTIONS"] = (env.get("NODE_OPTIONS", "") + " --max-old-space-size=256").strip()
    if concurrent:
        env["__OW_ALLOW_CONCURRENT"] = "true"
    else:
        env.pop("__OW_ALLOW_CONCURRENT", None)
    return env


def run_body(name):
    return {"value": {}, "namespace": "guest", "action_name": "/guest/" + name,
            "action_version": "0.0.1", "activation_id": uuid.uuid4().hex,
            "transaction_id": uuid.uuid4().hex,
            "deadline": str(int(time.time() * 1000) + 3600 * 1000)}


def init_body(name, code):
    return {"value": {"name": name, "main": "main", "code": code, "binary": False,
                      "env": {}}}


class Runtime:
    """A Node.js runtime started by the bench (variant a, cold baseline)."""

    def __init__(self, command, concurrent):
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        argv = [a.replace("{port}", str(self.port)) for a in command]
        self.proc = subprocess.Popen(argv, env=runtime_env(concurrent),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)

    def listening(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True

    def wait_listening(self, deadline=10.0):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                if self.listening():
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("the runtime exited with %s" % self.proc.returncode)
            time.sleep(0.001)
        raise RuntimeError("the runtime did not open its port")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def runtime_cold(command):
    """ms from spawn to /init answered, and to the first /run answered."""
    t0 = time.monotonic()
    rt = Runtime(command, concurrent=False)
    try:
        rt.wait_listening()
        status, body = request(rt.addr, "POST", "/init", init_body("hello", HELLO))
        t_init = time.monotonic()
        if status != 200:
            raise RuntimeError("/init answered %d: %r" % (status, body))
        status, body = request(rt.addr, "POST", "/run", run_body("hello"))
        t_run = time.monotonic()
        if status != 200 or body != {"greeting": "hello world"}:
            raise RuntimeError("/run answered %d: %r" % (status, body))
        return (t_init - t0) * 1000, (t_run - t0) * 1000
    finally:
        rt.stop()


# ------------------------------------------------------------ platform

def put_action(stack, auth, name, code, limits=None, annotations=None, deadline=10.0):
    """PUT an action; retries while the raised limits are not visible yet."""
    body = {"exec": {"kind": "nodejs:default", "code": code}}
    if limits:
        body["limits"] = limits
    if annotations:
        body["annotations"] = annotations
    end = time.monotonic() + deadline
    while True:
        status, resp = request("127.0.0.1:%d" % stack.port, "PUT",
                               "/api/v1/namespaces/_/actions/%s?overwrite=true" % name,
                               body, {"Authorization": auth})
        if status == 200:
            return
        if time.monotonic() > end:
            raise RuntimeError("PUT %s answered %d: %r" % (name, status, resp))
        time.sleep(0.1)


def invoke(stack, auth, name, params=None):
    return request("127.0.0.1:%d" % stack.port, "POST",
                   "/api/v1/namespaces/_/actions/%s?blocking=true&result=true" % name,
                   params or {}, {"Authorization": auth})


def timed_hello(stack, auth, name, failed):
    """ms of one blocking invoke of the HELLO action name, measured at the client; None (and
    the reason in failed) when it did not answer its greeting."""
    t0 = time.monotonic()
    status, body = invoke(stack, auth, name, {"name": "bench"})
    ms = (time.monotonic() - t0) * 1000
    if status != 200 or body != {"greeting": "hello bench"}:
        failed.append("%s answered %d: %r" % (name, status, body))
        return None
    return ms


def warm_noop(stack, auth, annotations=None):
    """The guest's limits raised out of the way, and the no-op action (limits.concurrency
    ACTION_CONCURRENCY) warm in exactly one container, as the warm-path benches need it."""
    rc = admin.main(stack.admin_args() + ["limits", "set", "guest",
                     "--invocationsPerMinute", "10000000",
                     "--concurrentInvocations", "100000",
                     "--maxActionConcurrency", str(ACTION_CONCURRENCY)])
    if rc != 0:
        raise RuntimeError("ow-admin limits set failed")
    put_action(stack, auth, "noop", NOOP, {"concurrency": ACTION_CONCURRENCY}, annotations)
    status, body = invoke(stack, auth, "noop")
    if status != 200 or body != {}:
        raise RuntimeError("first invoke of noop answered %d: %r" % (status, body))
    warm = containers(stack, "guest/noop")
    if len(warm) != 1:
        raise RuntimeError("expected one noop container, got %r" % warm)
    return warm[0]


def containers(stack, action):
    status, body = request(stack.pool_addr, "GET", "/v1/containers",
                           headers=stack.internal_headers)
    if status != 200:
        raise RuntimeError("GET /v1/containers answered %d" % status)
    return [c for c in body["containers"] if c.get("action") == action]


def sidecar_pid(addr):
    """The ow-sidecar process listening on addr (its port, from /proc/net/tcp)."""
    port = int(addr.rsplit(":", 1)[1])
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].split(":")[1], 16) == port:
                inodes.add(parts[9])
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if b"ow-sidecar" not in f.read().split(b"\0")[0]:
                    continue
            for fd in os.listdir("/proc/%s/fd" % pid):
                link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def rss_kb(pid):
    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True)
    return int(out.stdout.strip()) if out.stdout.strip() else None


def report(out_path, result, failed):
    """Writes result (with "failed") as JSON to out_path, prints a FAIL line for each
    failure; the bench's exit status."""
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    result["failed"] = failed
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
    for why in failed:
        print("FAIL " + why)
    return 1 if failed else 0


def render_proxy_conf(stack, addr, location=PROXY_LOCATION, upstream=PROXY_UPSTREAM):
    """Render nginx.conf again with a bench location (in the server block) and its upstream
    (upstream % addr, in the http block; addr a tuple for several); check it. Default:
    (c)'s."""
    stack.extra_conf = location
    conf = stack.render_nginx_conf(daemon=False)
    with open(conf) as f:
        text = f.read()
    marker = "\n    server {"
    if marker not in text or location.strip() not in text:
        raise RuntimeError("cannot place the bench upstream in %s" % conf)
    text = text.replace(marker, upstream % addr + marker, 1)
    with open(conf, "w") as f:
        f.write(text)
    subprocess.run(["/usr/sbin/nginx", "-p", stack.path("nginx"), "-c", conf, "-t", "-q"],
                   check=True)


# ------------------------------------------------------------ shared memory

def slab_slot(size, page=4096):
    """nginx's ngx_slab_alloc: sizes up to page/2 take the next power of two
    (minimum 8); larger ones whole pages."""
    if size > page // 2:
        return -(-size // page) * page
    slot = 8
    while slot < size:
        slot <<= 1
    return slot


def shm_per_entry():
    """sizeof the router's container node (and action node) from the source."""
    src_path = os.path.join(ROOT, "modules", "gateway", "ngx_http_ow_router.h")
    with open(src_path) as f:
        src = f.read()
    structs = []
    for name in ("ngx_http_ow_router_action_t", "ngx_http_ow_router_container_t"):
        # from the last "typedef struct {" before "} name;" (comments in a
        # struct may hold braces)
        end = src.find("} %s;" % name)
        start = src.rfind("typedef struct {", 0, end)
        if end < 0 or start < 0:
            return {"error": "%s not found in %s" % (name, src_path)}
        structs.append(src[start:end + len("} %s;" % name)])
    build = os.environ.get("OWX_BUILD", os.path.join(ROOT, "build"))
    ngx = "/usr/share/nginx/src/src"
    prog = ("#include <ngx_config.h>\n#include <ngx_core.h>\n#include <stdio.h>\n"
            "#include \"ow_warm.h\"\n%s\n%s\n"
            "int main(void) { printf(\"%%zu %%zu\\n\", "
            "sizeof(ngx_http_ow_router_container_t), "
            "offsetof(ngx_http_ow_router_action_t, action)); return 0; }\n"
            % tuple(structs))
    tmp = tempfile.mkdtemp(prefix="owx-shm-")
    try:
        c, exe = os.path.join(tmp, "shm.c"), os.path.join(tmp, "shm")
        with open(c, "w") as f:
            f.write(prog)
        cc = subprocess.run(["gcc", "-o", exe, c, "-I" + os.path.join(build, "ngx"),
                             "-I%s/core" % ngx, "-I%s/event" % ngx,
                             "-I%s/os/unix" % ngx, "-I" + os.path.join(ROOT, "modules", "engine")],
                            capture_output=True, text=True)
        if cc.returncode != 0:
            return {"error": "gcc: " + cc.stderr[:300]}
        out = subprocess.run([exe], capture_output=True, text=True).stdout.split()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    container, action_head = int(out[0]), int(out[1])
    action = action_head + len("guest/noop")
    return {"container_sizeof": container, "container_slab_bytes": slab_slot(container),
            "action_sizeof_guest_noop": action, "action_slab_bytes": slab_slot(action),
            "per_entry_bytes": slab_slot(container)}


# ------------------------------------------------------------ main

def ms(us):
    return "%.2f" % (us / 1000.0)


def summarize(rounds):
    summary = {}
    for conc in CONCURRENCY:
        for v in VARIANTS:
            runs = [r["c%d" % conc][v] for r in rounds]
            summary["c%d" % conc + "/" + v] = {
                "rps": statistics.median(x["rps"] for x in runs),
                "p50_us": statistics.median(x["p50_us"] for x in runs),
                "p99_us": statistics.median(x["p99_us"] for x in runs),
                "requests": sum(x["requests"] for x in runs),
                "non2xx": sum(x["non2xx"] for x in runs),
                "socket_errors": sum(x["socket_errors"] for x in runs),
            }
    ratios = {}
    for conc in CONCURRENCY:
        k = "c%d/" % conc
        s = lambda v: summary[k + v]  # noqa: E731
        ratios["c%d" % conc] = {
            "d_over_c_rps": s("d_owx")["rps"] / (s("c_proxy")["rps"] or 1.0),
            "d_minus_a_p50_ms": (s("d_owx")["p50_us"] - s("a_runtime")["p50_us"]) / 1000.0,
            "b_minus_a_p50_ms": (s("b_sidecar")["p50_us"] - s("a_runtime")["p50_us"]) / 1000.0,
            "c_minus_b_p50_ms": (s("c_proxy")["p50_us"] - s("b_sidecar")["p50_us"]) / 1000.0,
            "d_minus_c_p50_ms": (s("d_owx")["p50_us"] - s("c_proxy")["p50_us"]) / 1000.0,
            "b_over_a_rps": s("b_sidecar")["rps"] / (s("a_runtime")["rps"] or 1.0),
            "d_over_a_rps": s("d_owx")["rps"] / (s("a_runtime")["rps"] or 1.0),
            "e_over_a_rps": s("e_nginx")["rps"] / (s("a_runtime")["rps"] or 1.0),
            "b_over_e_rps": s("b_sidecar")["rps"] / (s("e_nginx")["rps"] or 1.0),
            "per_round_d_over_c": [r["c%d" % conc]["d_owx"]["rps"]
                                   / (r["c%d" % conc]["c_proxy"]["rps"] or 1.0)
                                   for r in rounds],
        }
    return summary, ratios


def main():
    duration = env_int("BENCH_INVOKE_DURATION", 5)
    nrounds = max(env_int("BENCH_INVOKE_ROUNDS", 2), 1)
    ncold = max(env_int("BENCH_COLD", 10), 1)
    workers = env_int("BENCH_WORKERS", 2)
    out_path = os.environ.get("BENCH_INVOKE_OUT",
                              os.path.join(ROOT, "build", "bench", "invoke.json"))
    auth = "Basic " + base64.b64encode(admin.GUEST_KEY.encode()).decode()
    hdr = {"Authorization": auth}

    # tens of thousands of activation records: let Redis drop them soon
    os.environ.setdefault("OW_SIDECAR_RETENTION", "300s")
    home = tempfile.mkdtemp(prefix="owx-invoke-bench-")
    stack = Stack(home, port=0, redis_port=0, pool_port=0, workers=workers)
    failed, rounds, runtime, health = [], [], None, {}
    load_before = os.getloadavg()
    started = time.monotonic()
    try:
        stack.start()
        if stack.binary("pool-manager") is None or stack.binary("sidecar") is None:
            raise RuntimeError("ow-pool-manager / ow-sidecar not built (make build)")
        kind, command = node_command(stack)
        sc_addr = warm_noop(stack, auth)["addr"]
        sc_pid = sidecar_pid(sc_addr)
        rss_idle = rss_kb(sc_pid) if sc_pid else None

        # (a): a runtime of our own, /init-ed with the same code
        runtime = Runtime(command, concurrent=True)
        runtime.wait_listening()
        status, body = request(runtime.addr, "POST", "/init", init_body("noop", NOOP))
        if status != 200:
            raise RuntimeError("/init of the bench runtime answered %d: %r" % (status, body))

        # (c) and (e): the same nginx, reloaded with static upstreams to that
        # sidecar and that runtime
        render_proxy_conf(stack, (sc_addr, runtime.addr),
                          PROXY_LOCATION + RUNTIME_PROXY_LOCATION,
                          PROXY_UPSTREAM + RUNTIME_PROXY_UPSTREAM)
        stack.reload_nginx()
        wait_until(lambda: request("127.0.0.1:%d" % stack.port, "POST",
                                   "/_bench/sidecar?blocking=true&result=true", {})[0] == 200,
                   20, "the reloaded nginx to proxy /_bench/sidecar")

        targets = {
            "a_runtime": ("http://%s/run" % runtime.addr, json.dumps(run_body("noop"))),
            "b_sidecar": ("http://%s/invoke?blocking=true&result=true" % sc_addr, "{}"),
            "c_proxy": (stack.url + "/_bench/sidecar?blocking=true&result=true", "{}"),
            "d_owx": (stack.url + "/api/v1/namespaces/_/actions/noop?blocking=true&result=true",
                      "{}"),
            "e_nginx": (stack.url + "/_bench/runtime", json.dumps(run_body("noop"))),
        }
        # (b) is a sidecar asked directly: it answers 401 without the internal token
        # (the gateway and (c)'s proxy send theirs); only (b) is given it
        extra_headers = {v: {} for v in targets}
        extra_headers["b_sidecar"] = stack.internal_headers
        luas = {}
        for v, (url, body) in targets.items():
            luas[v] = os.path.join(home, v + ".lua")
            fd = os.open(luas[v], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(wrk_lua(body, auth, extra_headers[v]))
            host = url.split("/")[2]
            path = "/" + url.split("/", 3)[3]
            status, resp = request(host, "POST", path, json.loads(body),
                                   dict(hdr, **extra_headers[v]))
            if status != 200 or resp != {}:
                raise RuntimeError("%s: POST %s answered %d: %r" % (v, url, status, resp))

        print("owx invoke bench: wrk keepalive POST, c=%s, %ds per run, %d rounds, nginx %d "
              "workers, %d CPUs, action noop (%s, limits.concurrency %d, one container %s)"
              % ("/".join(map(str, CONCURRENCY)), duration, nrounds, workers, os.cpu_count(),
                 kind, ACTION_CONCURRENCY, sc_addr), flush=True)
        for conc in CONCURRENCY:   # warm up every connection pool and JIT
            for v in VARIANTS:
                run_wrk(targets[v][0], luas[v], conc, 1)
        for i in range(nrounds):
            rnd = {}
            for conc in CONCURRENCY:
                rnd["c%d" % conc] = {}
                for v in VARIANTS:
                    res = run_wrk(targets[v][0], luas[v], conc, duration)
                    rnd["c%d" % conc][v] = res
                    print("  round %d c=%d %-10s %8.0f req/s  p50 %s ms  p99 %s ms"
                          % (i + 1, conc, v, res["rps"], ms(res["p50_us"]), ms(res["p99_us"])),
                          flush=True)
                    if res["non2xx"] or res["socket_errors"]:
                        failed.append("round %d c=%d %s: %d non-2xx, %d socket errors"
                                      % (i + 1, conc, v, res["non2xx"], res["socket_errors"]))
            rounds.append(rnd)
        rss_load = rss_kb(sc_pid) if sc_pid else None
        # every activation's record must have been written (off the response
        # path, pipelined under load): give the writer a moment to catch up
        health = {}
        end = time.monotonic() + 10
        while time.monotonic() < end:
            status, health = request(sc_addr, "GET", "/health")
            if status == 200 and health.get("recordsWritten", 0) + health.get(
                    "recordsDropped", 0) >= health.get("activations", 0):
                break
            time.sleep(0.1)
        if health.get("recordsDropped") or \
                health.get("recordsWritten", 0) < health.get("activations", 0):
            failed.append("activation records not all written: %r" % health)
        after = containers(stack, "guest/noop")
        if len(after) != 1:
            failed.append("the load changed the noop containers: %r" % after)

        # cold starts, interleaved with the runtime alone
        print("cold starts: %d x (fresh Node.js hello through owx; proxy.js spawn + /init + "
              "/run alone)" % ncold, flush=True)
        cold, rt_init, rt_run = [], [], []
        for i in range(ncold):
            name = "cold%d_%s" % (i, uuid.uuid4().hex[:8])
            put_action(stack, auth, name, HELLO)
            t0 = time.monotonic()
            status, body = invoke(stack, auth, name)
            t1 = time.monotonic()
            if status != 200 or body != {"greeting": "hello world"}:
                failed.append("cold start %s answered %d: %r" % (name, status, body))
                continue
            cold.append((t1 - t0) * 1000)
            a, b = runtime_cold(command)
            rt_init.append(a)
            rt_run.append(b)
        problems = stack.error_log_problems()
        if problems:
            failed.append("nginx error log: %s" % "".join(problems[:5]).strip())
    except BaseException:
        print("bench failed; stack state kept in %s" % home, file=sys.stderr)
        raise
    finally:
        if runtime:
            runtime.stop()
        stack.stop()

    summary, ratios = summarize(rounds)
    shm = shm_per_entry()
    cold_p50 = statistics.median(cold) if cold else None
    init_p50 = statistics.median(rt_init) if rt_init else None
    run_p50 = statistics.median(rt_run) if rt_run else None
    coldres = {
        "n": len(cold), "platform_ms": cold, "runtime_init_ms": rt_init,
        "runtime_init_run_ms": rt_run, "platform_p50_ms": cold_p50,
        "runtime_start_init_p50_ms": init_p50, "runtime_start_init_run_p50_ms": run_p50,
        "overhead_p50_ms": (cold_p50 - run_p50) if cold else None,
        "overhead_vs_init_only_p50_ms": (cold_p50 - init_p50) if cold else None,
    }
    memory = {"sidecar_pid": sc_pid, "sidecar_health_after_load": health, "sidecar_rss_idle_kb": rss_idle,
              "sidecar_rss_after_load_kb": rss_load, "gateway_shm": shm}

    print()
    head = "%-5s %-10s %10s %9s %9s %8s %7s" % ("conc", "variant", "req/s", "p50 ms",
                                                 "p99 ms", "non-2xx", "sockerr")
    print(head)
    print("-" * len(head))
    for conc in CONCURRENCY:
        for v in VARIANTS:
            x = summary["c%d/%s" % (conc, v)]
            print("%-5s %-10s %10.0f %9s %9s %8d %7d" % (
                "c=%d" % conc, v, x["rps"], ms(x["p50_us"]), ms(x["p99_us"]), x["non2xx"],
                x["socket_errors"]))
    print("-" * len(head))
    for conc in CONCURRENCY:
        r = ratios["c%d" % conc]
        print("c=%d: (d)/(c) req/s = %.2f (per round %s; target >= %.2f: %s); "
              "(d) p50 - (a) p50 = %.2f ms (target <= %.1f: %s)" % (
                  conc, r["d_over_c_rps"],
                  ", ".join("%.2f" % x for x in r["per_round_d_over_c"]), TARGET_RPS_RATIO,
                  "met" if r["d_over_c_rps"] >= TARGET_RPS_RATIO else "NOT MET",
                  r["d_minus_a_p50_ms"], TARGET_P50_ADD_MS,
                  "met" if r["d_minus_a_p50_ms"] <= TARGET_P50_ADD_MS else "NOT MET"))
        print("      p50 added: sidecar (b-a) %.2f ms, proxy (c-b) %.2f ms, owx (d-c) %.2f ms; "
              "req/s (b)/(a) = %.2f, (d)/(a) = %.2f" % (
                  r["b_minus_a_p50_ms"], r["c_minus_b_p50_ms"], r["d_minus_c_p50_ms"],
                  r["b_over_a_rps"], r["d_over_a_rps"]))
        print("      a proxy hop alone: (e)/(a) req/s = %.2f (nginx proxy_pass to the runtime: "
              "the ceiling of (b)/(a)); the sidecar against it, (b)/(e) = %.2f" % (
                  r["e_over_a_rps"], r["b_over_e_rps"]))
    if cold:
        print("cold start p50 %.1f ms (n=%d) vs runtime alone: spawn + /init %.1f ms, "
              "+ first /run %.1f ms -> platform overhead %.1f ms (target <= %.0f: %s; "
              "%.1f ms vs spawn + /init only)" % (
                  cold_p50, len(cold), init_p50, run_p50, coldres["overhead_p50_ms"],
                  TARGET_COLD_MS,
                  "met" if coldres["overhead_p50_ms"] <= TARGET_COLD_MS else "NOT MET",
                  coldres["overhead_vs_init_only_p50_ms"]))
    print("sidecar RSS: idle %s kB, after load %s kB (target < %d kB); %s activations, "
          "%s records written, %s dropped" % (
              rss_idle, rss_load, TARGET_RSS_KB, health.get("activations"),
              health.get("recordsWritten"), health.get("recordsDropped")))
    if "error" in shm:
        print("gateway shm per warm-table entry: unknown (%s)" % shm["error"])
    else:
        print("gateway shm per warm-table entry: sizeof(container node) %d B -> slab slot %d B "
              "(target <= %d); plus one action node per action: %d B -> %d B for guest/noop" % (
                  shm["container_sizeof"], shm["container_slab_bytes"], TARGET_SHM_BYTES,
                  shm["action_sizeof_guest_noop"], shm["action_slab_bytes"]))

    result = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"cpus": os.cpu_count(), "machine": platform.machine(),
                 "kernel": platform.release()},
        "wrk": {"connections": list(CONCURRENCY), "threads": "min(c, 2)",
                "duration_s": duration, "keepalive": True, "method": "POST"},
        "nginx_workers": workers,
        "action": {"name": "noop", "kind": kind, "concurrency": ACTION_CONCURRENCY,
                   "containers": 1},
        "urls": {v: t[0] for v, t in targets.items()},
        "summary": summary,
        "ratios": ratios,
        "targets": {"d_over_c_rps": TARGET_RPS_RATIO, "d_minus_a_p50_ms": TARGET_P50_ADD_MS,
                    "cold_overhead_ms": TARGET_COLD_MS, "sidecar_rss_kb": TARGET_RSS_KB,
                    "shm_per_entry_bytes": TARGET_SHM_BYTES},
        "cold_start": coldres,
        "memory": memory,
        "rounds": rounds,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "elapsed_s": round(time.monotonic() - started, 1),
        "failures": failed,
        "note": "non2xx is wrk's count of responses with status > 399; all processes "
                "share the machine's CPUs: compare ratios, not absolute figures",
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print("results: %s (%.0f s, load average %.1f before, %.1f after)" % (
        out_path, time.monotonic() - started, load_before[0], os.getloadavg()[0]))
    shutil.rmtree(home, ignore_errors=True)
    if failed:
        for f in failed:
            print("FAIL: " + f, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
