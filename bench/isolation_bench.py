"""isolation_bench.py: what tenant isolation and the activation journal cost on the
warm path.

The checks a warm invocation meets since the isolation work sit in the sidecar:
the internal token (X-OW-Token, compared in constant time on every /invoke)
and the runtime's confinement (its own uid, limits, a private Unix socket).
The gateway's share is one proxy_set_header of a variable it holds in memory.

One owx stack; the no-op Node.js action (limits.concurrency 8) made warm as
invoke_bench.py does; then two more sidecars of the same action started here
exactly as the pool-manager starts them, side by side:
  secured   --token-file, --runtime-uid-base, --journal-dir and the runtime's own
            network namespace (--runtime-netns auto: where the kernel allows it,
            with its API relay and slirp4netns) (what owx runs)
  hostnet   the same with --runtime-netns off: the runtime on the host's loopback
  unjournalled  the same as secured without --journal-dir: no line written before
            the answer (libow/activation_journal.h)
  open      none: no token check, the runtime with the sidecar's uid, no journal,
            no namespace
All talk to their runtime over the Unix socket (there is no other way now).
wrk POSTs /invoke?blocking=true&result=true straight to each, with the
headers the gateway sends (the token included, for both), c=1 and c=8,
alternating secured/open in every round so a drift of the machine hits both
alike. Costs = 1 - secured/open, 1 - secured/unjournalled and 1 - secured/hostnet
req/s (median over rounds); target <= 2 % each.

Cold start of the namespace: BENCH_ISOLATION_COLD (10) sidecars each of secured
and hostnet started one after the other, alternating, timed from spawn to their
ready line (runtime started, /init done; what the pool-manager waits for): the
medians and their difference (unshare, lo, the relay's listener, slirp4netns
configuring the namespace).

Prints a table, writes JSON (default build/bench/isolation.json), exits 1 when
a run saw a non-2xx answer or a socket error.

Environment: BENCH_ISOLATION_DURATION (seconds per run, 5),
BENCH_ISOLATION_ROUNDS (3), BENCH_ISOLATION_OUT, OWX_BUILD.
"""

import base64
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import invoke_bench as ib  # noqa: E402
from owx import admin  # noqa: E402
from owx.stack import Stack  # noqa: E402

CONCURRENCY = (1, 8)
TARGET_COST = 0.02
READY_DEADLINE = 20.0


VARIANTS = ("secured", "hostnet", "unjournalled", "open")


def start_sidecar(stack, command, name, home, cid=None):
    """An ow-sidecar of guest/noop as the local backend starts one; returns
    (Popen, addr) once it reported ready."""
    r, w = os.pipe()
    secured = name != "open"
    args = [stack.binary("sidecar"), "--listen", "127.0.0.1:0",
            "--redis", stack.redis_addr, "--redis-credentials", stack.secret("redis-sidecar"),
            "--action", "guest/noop", "--container-id", "bench-" + (cid or name),
            "--ready-fd", str(w), "--retention", "300s", "--api-host", stack.url]
    if secured:
        args += ["--token-file", stack.secret("internal-token"),
                 "--runtime-uid-base", "1000000000" if os.geteuid() == 0 else "0"]
    if name in ("secured", "hostnet"):
        args += ["--journal-dir", os.path.join(home, "journal-" + (cid or name))]
    if name in ("hostnet", "open"):
        args += ["--runtime-netns", "off"]
    log = open(os.path.join(home, "sidecar-%s.log" % (cid or name)), "wb")
    p = subprocess.Popen(args + ["--"] + command, pass_fds=(w,), stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True)
    os.close(w)
    log.close()
    line = b""
    end = time.monotonic() + READY_DEADLINE
    while not line.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([r], [], [], left)[0]:
            raise RuntimeError("the %s sidecar was not ready in time" % name)
        chunk = os.read(r, 256)
        if not chunk:
            break
        line += chunk
    os.close(r)
    word, _, addr = line.decode().strip().partition(" ")
    if word != "ready":
        raise RuntimeError("the %s sidecar failed: %s" % (name, line.decode()))
    return p, addr


def sidecar_has_netns(home, name):
    """What the sidecar's start line says (its log is the bench's file)."""
    with open(os.path.join(home, "sidecar-%s.log" % name)) as f:
        for line in f:
            if '"event":"start"' in line:
                return json.loads(line).get("runtimeNetns")
    return None


def start_line(home, cid):
    with open(os.path.join(home, "sidecar-%s.log" % cid)) as f:
        for line in f:
            if '"event":"start"' in line:
                return json.loads(line)
    return {}


def cold_starts(stack, command, home, n):
    """n sidecars each with and without the namespace, alternating, timed from
    spawn to ready; each stopped before the next starts. Also what each
    sidecar's start line says it spent before the runtime booted alone
    (spawnUs: fork, with the namespace unshare + lo + the relay's listener;
    networkUs: slirp4netns configuring the namespace, overlapping the
    runtime's own start)."""
    times = {"secured": [], "hostnet": []}
    parts = {"secured": {"spawnUs": [], "networkUs": []},
             "hostnet": {"spawnUs": [], "networkUs": []}}
    for i in range(n):
        for v in (("secured", "hostnet") if i % 2 == 0 else ("hostnet", "secured")):
            t0 = time.monotonic()
            cid = "cold-%s-%d" % (v, i)
            p, _ = start_sidecar(stack, command, v, home, cid=cid)
            times[v].append((time.monotonic() - t0) * 1000.0)
            line = start_line(home, cid)
            for k in parts[v]:
                parts[v][k].append(line.get(k, 0) / 1000.0)
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    if not n:
        return {}
    return {"n": n, "netns_ms": statistics.median(times["secured"]),
            "hostnet_ms": statistics.median(times["hostnet"]),
            "netns_all_ms": times["secured"], "hostnet_all_ms": times["hostnet"],
            "netns_spawn_ms": statistics.median(parts["secured"]["spawnUs"]),
            "netns_network_ms": statistics.median(parts["secured"]["networkUs"]),
            "hostnet_spawn_ms": statistics.median(parts["hostnet"]["spawnUs"])}


def wrk_lua(home, name, stack, auth):
    extra = "\n".join('wrk.headers["%s"] = "%s"' % kv for kv in (
        ("X-OW-Token", stack.internal_token), ("X-OW-Namespace", "guest"),
        ("X-OW-Subject", "guest"), ("X-OW-Path", "guest/noop")))
    path = os.path.join(home, "%s.lua" % name)
    with open(path, "w") as f:
        f.write(ib.WRK_LUA % {"method": ib.lua_string("POST"), "body": ib.lua_string("{}"),
                              "auth": ib.lua_auth(auth), "extra": extra})
    return path


def main():
    duration = ib.env_int("BENCH_ISOLATION_DURATION", 5)
    nrounds = max(ib.env_int("BENCH_ISOLATION_ROUNDS", 3), 1)
    out_path = os.environ.get("BENCH_ISOLATION_OUT",
                              os.path.join(ROOT, "build", "bench", "isolation.json"))
    auth = "Basic " + base64.b64encode(admin.GUEST_KEY.encode()).decode()
    os.environ.setdefault("OW_SIDECAR_RETENTION", "300s")
    home = tempfile.mkdtemp(prefix="owx-isolation-bench-")
    stack = Stack(home, port=0, redis_port=0, pool_port=0)
    procs, failed = [], []
    cold, netns = {}, None
    rounds = {c: {v: [] for v in VARIANTS} for c in CONCURRENCY}
    try:
        stack.start()
        if stack.binary("pool-manager") is None or stack.binary("sidecar") is None:
            raise RuntimeError("ow-pool-manager / ow-sidecar not built (make build)")
        _, command = ib.node_command(stack)
        ib.warm_noop(stack, auth)
        addrs = {}
        for v in VARIANTS:
            p, addr = start_sidecar(stack, command, v, home)
            procs.append(p)
            addrs[v] = addr
        # the token is refused when missing on the secured one only
        status, _ = ib.request(addrs["secured"], "POST", "/invoke?blocking=true", {})
        if status != 401:
            raise RuntimeError("the secured sidecar answered %d without the token" % status)
        netns = sidecar_has_netns(home, "secured")
        print("secured sidecar's runtime in a network namespace of its own: %s" % netns)
        luas = {v: wrk_lua(home, v, stack, auth) for v in addrs}
        url = {v: "http://%s/invoke?blocking=true&result=true" % a for v, a in addrs.items()}
        print("owx isolation bench: wrk keepalive POST /invoke, c=%s, %ds per run, %d rounds"
              % (",".join(map(str, CONCURRENCY)), duration, nrounds))
        for v in addrs:   # warm both (JIT, connection pools)
            ib.run_wrk(url[v], luas[v], 8, 1)
        for i in range(nrounds):
            for conc in CONCURRENCY:
                order = VARIANTS if i % 2 == 0 else VARIANTS[::-1]
                for v in order:
                    res = ib.run_wrk(url[v], luas[v], conc, duration)
                    rounds[conc][v].append(res)
                    if res["non2xx"] or res["socket_errors"]:
                        failed.append("%s c=%d: %d non-2xx, %d socket errors"
                                      % (v, conc, res["non2xx"], res["socket_errors"]))
        cold = cold_starts(stack, command, home, ib.env_int("BENCH_ISOLATION_COLD", 10))
    except Exception as e:  # noqa: BLE001 (reported, exit 1)
        failed.append("%s: %s" % (type(e).__name__, e))
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        stack.stop()

    summary = {}
    if not failed:
        print("%-4s %-13s %12s %10s %10s" % ("c", "sidecar", "req/s", "p50 ms", "p99 ms"))
        for conc in CONCURRENCY:
            row = {}
            for v in VARIANTS:
                runs = rounds[conc][v]
                row[v] = {"rps": statistics.median(r["rps"] for r in runs),
                          "p50_ms": statistics.median(r["p50_us"] for r in runs) / 1000.0,
                          "p99_ms": statistics.median(r["p99_us"] for r in runs) / 1000.0}
                print("%-4d %-13s %12.0f %10.3f %10.3f" % (conc, v, row[v]["rps"],
                                                         row[v]["p50_ms"], row[v]["p99_ms"]))
            for base in ("open", "unjournalled", "hostnet"):
                ratios = [s["rps"] / o["rps"] for s, o in zip(rounds[conc]["secured"],
                                                               rounds[conc][base]) if o["rps"]]
                ratio = statistics.median(ratios) if ratios else 0.0
                row["secured_over_" + base] = ratio
                row["per_round_" + base] = ratios
                print("c=%d: secured/%s %.3f, cost %.1f %% (target <= %.0f %%): %s"
                      % (conc, base, ratio, 100 * (1 - ratio), 100 * TARGET_COST,
                         "ok" if 1 - ratio <= TARGET_COST else "OVER"))
            summary["c%d" % conc] = row
        summary["netns"] = netns
        if cold:
            summary["cold"] = cold
            print("cold start to ready, median of %d: netns %.1f ms, hostnet %.1f ms, "
                  "difference %+.1f ms (ratio %.3f)"
                  % (cold["n"], cold["netns_ms"], cold["hostnet_ms"],
                     cold["netns_ms"] - cold["hostnet_ms"], cold["netns_ms"] / cold["hostnet_ms"]))
            print("  of which in the sidecar, median: fork %.2f ms with the namespace "
                  "(%.2f ms without), slirp4netns ready %.1f ms (overlaps the runtime's start)"
                  % (cold["netns_spawn_ms"], cold["hostnet_spawn_ms"], cold["netns_network_ms"]))
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump({"summary": summary, "failed": failed, "duration_s": duration,
                   "rounds": nrounds, "load_after": os.getloadavg()}, f, indent=2)
    for f_ in failed:
        print("FAIL " + f_)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
