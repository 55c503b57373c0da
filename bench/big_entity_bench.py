"""big_entity_bench.py: what a 48 MiB action PUT costs everyone else (issue 13, item 4).

One owx stack (Redis, nginx with the owx modules, the pool-manager), two tenants:
  guest  the other tenants: a warm no-op Node.js action (limits.concurrency 8), probed with
         small requests: GET /api/v1/namespaces/_/actions/noop (the entity API, one Redis
         read) and POST .../noop?blocking=true&result=true (a warm blocking invoke);
  big    PUTs a 48 MiB action (base64 code in JSON, the documented maximum) with
         ?overwrite=true, again and again, one at a time.
A third probe, "redis", PINGs Redis directly at the same rate: not a target, it tells a
stall of Redis from one of the gateway. Two phases of the same length, in one run: "quiet" (the probes alone), then "busy" (the
probes while big's PUTs run back to back). The probes are paced, not closed-loop: each of
BENCH_BIG_CONNS keepalive connections per probe sends on a fixed schedule (BENCH_BIG_RATE
requests/s per probe in all), and a request's latency counts from the moment it was due,
so a stall of the gateway or of Redis is charged to every request that fell due during it
(no coordinated omission). Figures: p50/p99/max per probe and phase, and each PUT's status
and time. Target: the busy p99 of both probes under 50 ms, every PUT answered 200.

Prints a table, writes JSON (default build/bench/big_entity.json), exits 1 when a probe saw
a non-2xx answer or an error, or a PUT was not answered 200.

Environment: BENCH_BIG_DURATION (seconds per phase, 30), BENCH_BIG_RATE (requests/s per
probe, 100), BENCH_BIG_CONNS (connections per probe, 4), BENCH_BIG_MIB (the PUT's code in
MiB, 48), BENCH_WORKERS (2), BENCH_BIG_OUT, OWX_BUILD.
"""

import base64
import http.client
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

import invoke_bench as ib  # noqa: E402
from invoke_bench import ROOT, request  # noqa: E402
from owx import admin  # noqa: E402
from owx.stack import Stack  # noqa: E402

BIG_AUTH = "5e1f3a5c-0b0d-4b8e-9d3c-2f6a7b8c9d0e:" + "b" * 64
TARGET_P99_MS = 50.0
PUT_TIMEOUT = 120.0
PROBES = {
    "get": ("GET", "/api/v1/namespaces/_/actions/noop", None),
    "invoke": ("POST", "/api/v1/namespaces/_/actions/noop?blocking=true&result=true", b"{}"),
}


def basic(auth):
    return "Basic " + base64.b64encode(auth.encode()).decode()


# ------------------------------------------------------------------ probes

def probe_conn(port, auth, method, path, body, interval, offset, t0, t_end, out):
    """One keepalive connection: a request every interval s from t0 + offset until t_end;
    appends (latency from the due time, s; status or an error name)."""
    headers = {"Authorization": auth}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn = None
    due = t0 + offset
    while due < t_end:
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PUT_TIMEOUT)
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            status = r.status
        except (OSError, http.client.HTTPException) as e:
            status = type(e).__name__
            if conn is not None:
                conn.close()
            conn = None
        out.append((time.monotonic() - due, status))
        due += interval
    if conn is not None:
        conn.close()


def redis_probe(client, interval, t0, t_end, out):
    """PING Redis itself on the same schedule: tells a stall of Redis (every probe's) from
    one of the gateway."""
    due = t0
    while due < t_end:
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        try:
            client.ping()
            status = 200
        except Exception as e:  # noqa: BLE001 (any failure is a sample)
            status = type(e).__name__
        out.append((time.monotonic() - due, status))
        due += interval


def probe_process(port, auth, rate, conns, duration, queue, redis_client=None):
    """Every probe, all connections, in threads of this process; puts {probe: [(lat, st)]}."""
    # and the probes for other tenants' machines: a probe kept off the CPU by the PUTs'
    # client would charge owx with its own scheduling delay (root may raise priority)
    try:
        os.nice(-10)
    except OSError:
        pass
    t0 = time.monotonic() + 0.2
    t_end = t0 + duration
    interval = conns / float(rate)
    results, threads = {}, []
    if redis_client is not None:
        results["redis"] = []
        t = threading.Thread(target=redis_probe, args=(
            redis_client, 1.0 / rate, t0, t_end, results["redis"]))
        t.start()
        threads.append(t)
    for name, (method, path, body) in PROBES.items():
        results[name] = []
        for i in range(conns):
            t = threading.Thread(target=probe_conn, args=(
                port, auth, method, path, body, interval, interval * i / conns,
                t0, t_end, results[name]))
            t.start()
            threads.append(t)
    for t in threads:
        t.join()
    queue.put(results)


def run_probes(port, auth, rate, conns, duration, redis_client=None):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=probe_process,
                    args=(port, auth, rate, conns, duration, q, redis_client))
    p.start()
    return p, q


def pct(sorted_values, p):
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values))) - 1))
    return sorted_values[i]


def summarize(samples):
    lat = sorted(s[0] * 1000.0 for s in samples)
    errors = [s[1] for s in samples if not (isinstance(s[1], int) and 200 <= s[1] < 300)]
    return {"n": len(samples), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
            "max_ms": lat[-1] if lat else 0.0, "errors": len(errors),
            "error_kinds": sorted(set(map(str, errors)))}


# ------------------------------------------------------------------ the big PUTs

def big_code(mib):
    """Base64 of random bytes, mib MiB less 4 bytes: code within the 48 MiB exec limit."""
    n = (mib * 1024 * 1024 // 4) * 3 - 3
    return base64.b64encode(os.urandom(n)).decode()


def put_loop(port, auth, body, stop, puts):
    """PUT body again and again, one at a time, until stop is set; appends (s, status)."""
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    path = "/api/v1/namespaces/_/actions/big?overwrite=true"
    while not stop.is_set():
        t = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PUT_TIMEOUT)
        try:
            conn.request("PUT", path, body=body, headers=headers)
            r = conn.getresponse()
            raw = r.read()
            status = r.status
            if status != 200:
                print("  PUT answered %d: %s" % (status, raw[:200]), flush=True)
        except (OSError, http.client.HTTPException) as e:
            status = type(e).__name__
        finally:
            conn.close()
        puts.append((time.monotonic() - t, status))


def put_process(port, auth, body, duration, queue):
    # the PUTs' client stands in for another machine: on 2 shared cores it must not take
    # the CPU the platform needs (its 100 MiB of Python I/O per PUT is not owx's cost)
    os.nice(10)
    stop = threading.Event()
    puts = []
    t = threading.Thread(target=put_loop, args=(port, auth, body, stop, puts))
    t.start()
    time.sleep(duration)
    stop.set()
    t.join()
    queue.put(puts)


# ------------------------------------------------------------------ main

def setup(stack, guest):
    ib.warm_noop(stack, guest)
    rc = admin.main(stack.admin_args() + ["user", "create", "big", "--auth", BIG_AUTH])
    if rc != 0:
        raise RuntimeError("ow-admin user create big failed")
    addr = "127.0.0.1:%d" % stack.port
    for name, (method, path, body) in PROBES.items():
        status, resp = request(addr, method, path, None if body is None else {},
                               {"Authorization": guest})
        if status != 200:
            raise RuntimeError("probe %s answered %d: %r" % (name, status, resp))


def phase(stack, guest, rate, conns, duration, body):
    pp, pq = run_probes(stack.port, guest, rate, conns, duration, stack.redis())
    wp = wq = None
    if body is not None:
        ctx = multiprocessing.get_context("fork")
        wq = ctx.Queue()
        wp = ctx.Process(target=put_process,
                         args=(stack.port, basic(BIG_AUTH), body, duration, wq))
        wp.start()
    samples = pq.get()
    pp.join()
    puts = None
    if wp is not None:
        puts = wq.get()
        wp.join()
    return {name: summarize(s) for name, s in samples.items()}, puts


def main():
    duration = ib.env_int("BENCH_BIG_DURATION", 30)
    rate = ib.env_int("BENCH_BIG_RATE", 100)
    conns = ib.env_int("BENCH_BIG_CONNS", 4)
    mib = ib.env_int("BENCH_BIG_MIB", 48)
    workers = ib.env_int("BENCH_WORKERS", 2)
    out_path = os.environ.get("BENCH_BIG_OUT",
                              os.path.join(ROOT, "build", "bench", "big_entity.json"))
    guest = basic(admin.GUEST_KEY)
    home = tempfile.mkdtemp(prefix="owx-big-bench-")
    stack = Stack(home, port=0, redis_port=0, pool_port=0, workers=workers)
    failed = []
    redis_stalls = {}
    try:
        stack.start()
        setup(stack, guest)
        kind, _ = ib.node_command(stack)
        code = big_code(mib)
        body = json.dumps({"exec": {"kind": kind, "code": code}}).encode()
        del code
        print("owx big entity bench: other tenants' small requests (GET of an action, warm "
              "blocking invoke; %d req/s each over %d connections, latency from the due time) "
              "without and with back-to-back %d MiB action PUTs (%.1f MiB body), %ds per phase, "
              "nginx %d workers, %d CPUs"
              % (rate, conns, mib, len(body) / 1048576.0, duration, workers, os.cpu_count()),
              flush=True)
        db = stack.redis()
        db.config_set("latency-monitor-threshold", 20)
        quiet, _ = phase(stack, guest, rate, conns, duration, None)
        db.execute_command("LATENCY", "RESET")
        busy, puts = phase(stack, guest, rate, conns, duration, body)
        # what held Redis (its latency monitor: event, worst ms) during the PUTs
        redis_stalls = {e[0]: e[3] for e in db.execute_command("LATENCY", "LATEST")}
    finally:
        stack.stop()

    print("%-8s %-6s %7s %9s %9s %9s %7s" % ("probe", "phase", "n", "p50 ms", "p99 ms",
                                             "max ms", "errors"))
    # "redis": PING straight to Redis, no gateway: where a stall comes from (not a target)
    for name in list(PROBES) + ["redis"]:
        for label, res in (("quiet", quiet[name]), ("busy", busy[name])):
            print("%-8s %-6s %7d %9.2f %9.2f %9.2f %7d %s"
                  % (name, label, res["n"], res["p50_ms"], res["p99_ms"], res["max_ms"],
                     res["errors"], " ".join(res["error_kinds"])))
            if res["errors"]:
                failed.append("%s %s: %d errors (%s)" % (name, label, res["errors"],
                                                         ", ".join(res["error_kinds"])))
    times = [t for t, _ in puts]
    statuses = [s for _, s in puts]
    put = {"n": len(puts), "statuses": statuses, "seconds": times,
           "min_s": min(times) if times else None,
           "median_s": statistics.median(times) if times else None,
           "max_s": max(times) if times else None}
    print("Redis latency monitor, worst ms by event during the PUTs: %s"
          % (", ".join("%s %d" % kv for kv in sorted(redis_stalls.items())) or "none over 20"))
    print("PUT %d MiB: %d done, statuses %s, time min %.2f s, median %.2f s, max %.2f s"
          % (mib, put["n"], sorted(set(map(str, statuses))), put["min_s"] or 0,
             put["median_s"] or 0, put["max_s"] or 0))
    if not puts or any(s != 200 for s in statuses):
        failed.append("PUT: statuses %s" % statuses)
    met = all(busy[n]["p99_ms"] < TARGET_P99_MS for n in PROBES)
    print("target: busy p99 < %.0f ms for every probe: %s"
          % (TARGET_P99_MS, "met" if met else "NOT met"))
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump({"quiet": quiet, "busy": busy, "put": put, "target_p99_ms": TARGET_P99_MS,
                   "target_met": met, "duration_s": duration, "rate": rate, "conns": conns,
                   "mib": mib, "workers": workers, "cpus": os.cpu_count(),
                   "loadavg": os.getloadavg(), "redis_stalls_ms": redis_stalls,
                   "failed": failed}, f, indent=2)
    print("JSON: %s" % out_path)
    for fmsg in failed:
        print("FAILED: " + fmsg)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
