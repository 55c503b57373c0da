"""gateway_bench.py: what authentication costs on the owx gateway.

One run starts one owx stack (Redis + the packaged nginx with the owx modules,
tools/owx/stack.py) on free ports, with two extra locations, and measures with
wrk, keepalive, the same Authorization header on every request:

  plain    GET /_bench/plain                   nginx "return 200" (the ceiling)
  auth     GET /api/v1/namespaces/_/actions/x  ow_auth with the verdict cache
                                               (warm) + the API engine
  nocache  GET /_bench/nocache/api/v1/...      the same, but ow_auth without a
                                               zone: every request asks the
                                               auth location (Redis HMGET)
  authonly GET /_bench/authonly                diagnostic: ow_auth with the
                                               warm cache in front of
                                               empty_gif, no API engine

The variants run interleaved (plain, auth, nocache, plain, auth, ...) so a
drift of the machine hits all of them alike. The entity read is the action x
when PUT /actions/x works, else the trigger x (said in the output).

Prints a table (req/s, p50/p99 latency, non-2xx) with the ratios auth/plain
and nocache/plain, writes JSON (default build/bench/results.json) and exits 1
when a variant saw a non-2xx response or a socket error.

Environment: BENCH_DURATION (seconds per run, 8), BENCH_ROUNDS (3),
BENCH_THREADS (2), BENCH_CONNECTIONS (50), BENCH_WORKERS (nginx workers, 2),
BENCH_OUT (JSON path), OWX_BUILD (where the modules were built).
"""

import base64
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from owx import admin  # noqa: E402
from owx.stack import Stack  # noqa: E402

WRK = "/usr/bin/wrk"
TARGET = 0.5          # auth must reach this share of plain's req/s
VARIANTS = ("plain", "auth", "nocache", "authonly")

# Added inside the API server block at "# @OWX_EXTRA@". The nocache location
# authenticates without zone=, so the verdict cache is never consulted;
# "rewrite ... break" strips the prefix before the access phase, and ow_api
# serves r->uri, i.e. the rewritten /api/v1/... path.
EXTRA_CONF = """
        location = /_bench/plain {
            return 200 'ok';
        }

        location /_bench/nocache/ {
            ow_auth /_owauth;
            rewrite ^/_bench/nocache(/.*)$ $1 break;
            ow_api;
        }

        location = /_bench/authonly {
            ow_auth /_owauth zone=owx_auth;
            empty_gif;
        }
"""

# The done() hook prints wrk's own counters as one JSON line; a response()
# hook would count every status exactly but costs a Lua call per response,
# which would slow the load generator sharing the CPUs with nginx.
WRK_LUA = """
wrk.headers["Authorization"] = "%(auth)s"

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


class Client:
    """Tiny urllib client authenticated with the guest key."""

    def __init__(self, base, auth):
        self.base = base
        self.auth = auth

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", self.auth)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def redis_calls(rds):
    """Calls per command Redis has served so far (scripts' calls included)."""
    stats = rds.info("commandstats")
    return {k[len("cmdstat_"):]: v.get("calls", 0) for k, v in stats.items()
            if k.startswith("cmdstat_")}


def per_request(before, after, requests):
    """Redis calls per HTTP request during one run, by command."""
    if not requests:
        return {}
    out = {}
    for cmd, n in after.items():
        d = (n - before.get(cmd, 0)) / requests
        if d >= 0.005 and cmd not in ("info",):
            out[cmd] = round(d, 3)
    return out


def setup_entity(client):
    """Create x: an action if actions work, else a trigger. Returns its path."""
    action = {"exec": {"kind": "nodejs:default",
                       "code": "function main(){return {}}"}}
    status, body = client.request(
        "PUT", "/api/v1/namespaces/_/actions/x?overwrite=true", action)
    if status == 200:
        return "actions", "/api/v1/namespaces/_/actions/x", None
    why = "PUT /actions/x answered %d: %s" % (status, body[:200].decode("utf-8", "replace"))
    status, body = client.request(
        "PUT", "/api/v1/namespaces/_/triggers/x?overwrite=true", {})
    if status != 200:
        raise RuntimeError("PUT /triggers/x answered %d: %s" % (status, body[:200]))
    return "triggers", "/api/v1/namespaces/_/triggers/x", why


def check_endpoints(client, paths):
    """Each variant's URL must answer 200 (and nocache the same entity)."""
    bodies = {}
    for name, path in paths.items():
        status, body = client.request("GET", path)
        if status != 200:
            raise RuntimeError("%s: GET %s answered %d: %s" % (name, path, status, body[:200]))
        bodies[name] = body
    if bodies["plain"] != b"ok":
        raise RuntimeError("plain answered %r" % bodies["plain"][:100])
    if not bodies["authonly"].startswith(b"GIF"):
        raise RuntimeError("authonly answered %r" % bodies["authonly"][:100])
    doc, via = json.loads(bodies["auth"]), json.loads(bodies["nocache"])
    if doc.get("name") != "x" or via.get("name") != "x" \
            or doc.get("namespace") != via.get("namespace"):
        raise RuntimeError("nocache did not serve the rewritten URI: %r vs %r"
                           % (bodies["auth"][:200], bodies["nocache"][:200]))


def run_wrk(url, lua, threads, conns, duration):
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


def ms(us):
    return "%.2f ms" % (us / 1000.0)


def summarize(rounds):
    """Per variant: medians over rounds, sums of errors."""
    summary = {}
    for v in VARIANTS:
        runs = [r[v] for r in rounds]
        summary[v] = {
            "rps": statistics.median(r["rps"] for r in runs),
            "p50_us": statistics.median(r["p50_us"] for r in runs),
            "p99_us": statistics.median(r["p99_us"] for r in runs),
            "requests": sum(r["requests"] for r in runs),
            "non2xx": sum(r["non2xx"] for r in runs),
            "socket_errors": sum(r["socket_errors"] for r in runs),
            "hmget_per_request": statistics.median(r["hmget_per_request"] for r in runs),
        }
    plain = summary["plain"]["rps"] or 1.0
    ratios = {v + "_over_plain": summary[v]["rps"] / plain for v in VARIANTS[1:]}
    ratios["per_round"] = [
        {v + "_over_plain": r[v]["rps"] / (r["plain"]["rps"] or 1.0) for v in VARIANTS[1:]}
        for r in rounds]
    return summary, ratios


def print_table(rounds, summary, ratios, entity):
    head = "%-6s %-8s %12s %10s %10s %8s %7s %9s" % (
        "round", "variant", "req/s", "p50", "p99", "non-2xx", "sockerr", "HMGET/req")
    print(head)
    print("-" * len(head))
    for i, r in enumerate(rounds, 1):
        for v in VARIANTS:
            x = r[v]
            print("%-6s %-8s %12.0f %10s %10s %8d %7d %9.2f" % (
                i, v, x["rps"], ms(x["p50_us"]), ms(x["p99_us"]), x["non2xx"],
                x["socket_errors"], x["hmget_per_request"]))
    print("-" * len(head))
    for v in VARIANTS:
        x = summary[v]
        print("%-6s %-8s %12.0f %10s %10s %8d %7d %9.2f" % (
            "median", v, x["rps"], ms(x["p50_us"]), ms(x["p99_us"]), x["non2xx"],
            x["socket_errors"], x["hmget_per_request"]))
    print()
    per = ", ".join("%.2f" % p["auth_over_plain"] for p in ratios["per_round"])
    print("auth/plain     = %.2f  (per round: %s; target >= %.2f: %s)" % (
        ratios["auth_over_plain"], per, TARGET,
        "met" if ratios["auth_over_plain"] >= TARGET else "NOT MET"))
    for v in ("nocache", "authonly"):
        per = ", ".join("%.2f" % p[v + "_over_plain"] for p in ratios["per_round"])
        print("%-14s = %.2f  (per round: %s)" % (v + "/plain", ratios[v + "_over_plain"], per))
    print("entity read: %s x" % entity)
    print("HMGET/req: Redis HMGET calls per request during the run (the get script does "
          "one; each auth check that misses the cache one more)")
    print("Redis commands per request (last round):")
    for v in VARIANTS:
        calls = rounds[-1][v]["redis_per_request"]
        print("  %-8s %s" % (v, ", ".join("%s %.2f" % kv for kv in sorted(calls.items()))
                              or "none"))


def main():
    duration = env_int("BENCH_DURATION", 8)
    nrounds = max(env_int("BENCH_ROUNDS", 3), 2)
    threads = env_int("BENCH_THREADS", 2)
    conns = env_int("BENCH_CONNECTIONS", 50)
    workers = env_int("BENCH_WORKERS", 2)
    out_path = os.environ.get("BENCH_OUT", os.path.join(ROOT, "build", "bench", "results.json"))

    auth = "Basic " + base64.b64encode(admin.GUEST_KEY.encode()).decode()
    home = tempfile.mkdtemp(prefix="owx-bench-")
    stack = Stack(home, port=0, redis_port=0, pool_port=0, extra_conf=EXTRA_CONF,
                  workers=workers)
    failed = []
    load_before = os.getloadavg()
    started = time.monotonic()
    try:
        stack.start()
        client = Client(stack.url, auth)
        entity, api_path, fallback_why = setup_entity(client)
        if fallback_why:
            print("actions not available (%s); reading trigger x instead" % fallback_why)
        paths = {
            "plain": "/_bench/plain",
            "auth": api_path,
            "nocache": "/_bench/nocache" + api_path,
            "authonly": "/_bench/authonly",
        }
        check_endpoints(client, paths)

        lua = os.path.join(home, "auth.lua")
        with open(lua, "w") as f:
            f.write(WRK_LUA % {"auth": auth})

        rds = stack.redis(decode_responses=False)
        print("owx gateway bench: wrk -t%d -c%d -d%ds, %d rounds, nginx %d workers, "
              "%d CPUs, reading %s x" % (threads, conns, duration, nrounds, workers,
                                         os.cpu_count(), entity))

        # warm up: every worker's Redis connection and the auth verdict
        for v in VARIANTS:
            run_wrk(stack.url + paths[v], lua, threads, conns, 1)

        rounds = []
        for i in range(nrounds):
            rnd = {}
            for v in VARIANTS:
                before = redis_calls(rds)
                res = run_wrk(stack.url + paths[v], lua, threads, conns, duration)
                res["redis_per_request"] = per_request(before, redis_calls(rds),
                                                       res["requests"])
                res["hmget_per_request"] = res["redis_per_request"].get("hmget", 0.0)
                rnd[v] = res
                print("  round %d %-8s %10.0f req/s" % (i + 1, v, res["rps"]), flush=True)
                if res["non2xx"] or res["socket_errors"]:
                    failed.append("round %d %s: %d non-2xx, %d socket errors"
                                  % (i + 1, v, res["non2xx"], res["socket_errors"]))
            rounds.append(rnd)

        problems = stack.error_log_problems()
    except BaseException:
        print("bench failed; stack state (nginx error log) kept in %s" % home, file=sys.stderr)
        raise
    finally:
        stack.stop()

    summary, ratios = summarize(rounds)
    print()
    print_table(rounds, summary, ratios, entity)

    # the nocache variant must really check on every request
    extra = summary["nocache"]["hmget_per_request"] - summary["auth"]["hmget_per_request"]
    if extra < 0.95:
        failed.append("nocache made only %.2f extra auth lookups per request" % extra)
    # and the cached variants must (almost) never ask
    if summary["authonly"]["hmget_per_request"] > 0.01:
        failed.append("authonly asked Redis on %.2f of its requests"
                      % summary["authonly"]["hmget_per_request"])
    if problems:
        failed.append("nginx error log: %s" % "".join(problems[:5]).strip())

    result = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"cpus": os.cpu_count(), "machine": platform.machine(),
                 "kernel": platform.release()},
        "wrk": {"threads": threads, "connections": conns, "duration_s": duration,
                "keepalive": True},
        "nginx_workers": workers,
        "entity": entity,
        "entity_fallback_reason": fallback_why,
        "urls": paths,
        "target_auth_over_plain": TARGET,
        "target_met": ratios["auth_over_plain"] >= TARGET,
        "summary": summary,
        "ratios": ratios,
        "rounds": rounds,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "elapsed_s": round(time.monotonic() - started, 1),
        "failures": failed,
        "note": "non2xx is wrk's count of responses with status > 399",
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print("results: %s (%.0f s, load average %.1f before, %.1f after; wrk, nginx and "
          "Redis share %d CPUs: compare ratios, not absolute figures)"
          % (out_path, time.monotonic() - started, load_before[0], os.getloadavg()[0],
             os.cpu_count()))

    shutil.rmtree(home, ignore_errors=True)
    if failed:
        for f in failed:
            print("FAIL: " + f, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
