"""cache_bench.py: what a response-cache hit costs, against nginx's cheapest answer and against
a warm miss (modules/README.md, "The response cache").

One stack (Redis, nginx with the owx modules, the pool-manager, one warm ow-sidecar + Node.js
container per action), measured with wrk (keepalive POST "{}", the guest's key) on three paths,
alternating within each round so a drift of the machine hits all alike:
  return200   POST /_bench/ok: nginx `return 200 '{}'` (no auth, nothing else)
  cache_hit   POST /api/v1/namespaces/_/actions/cached?blocking=true&result=true: the action
              answered {"ok":1,"__ow_cache":{"maxAge":86400}} once; every request after is a
              hit (auth from its verdict cache, limits, the zone; no Redis, no upstream)
  web_hit     GET /api/v1/web/guest/default/cachedweb: a web action answered with
              Cache-Control public, max-age=86400 once; every request after is a hit, and a
              web hit writes no record (modules/README.md): what a hit costs without the
              Redis write an API hit's record is
  warm_miss   the same for noop, which never asks to be cached: the warm path to its sidecar
Figures: median req/s and p50 per path and concurrency, and hit/return200, web_hit/return200,
hit/warm_miss; and where the CPU goes: each run's CPU time per request of the nginx workers, of
redis-server (with the AOF rewrites it forks) and of wrk, all on the same cores (c=8 saturates
them: a path's req/s follows its CPU per request). After each run the bench waits until Redis
has written what the run queued and no AOF rewrite is left, so that work is billed to the run
that made it, not to the next path's.
Target (issue): hit req/s at least 0.8x return200, hit p50 within 0.1 ms of it. Writes JSON
(default build/bench/cache.json); exits 1 on a non-2xx response or a socket error.

Environment: BENCH_CACHE_DURATION (s per run, 5), BENCH_CACHE_ROUNDS (3), BENCH_WORKERS (2),
BENCH_CACHE_OUT, OWX_BUILD.
"""

import base64
import json
import os
import sys
import tempfile
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

import invoke_bench as ib  # noqa: E402
from invoke_bench import ROOT, request  # noqa: E402
from owx import admin  # noqa: E402
from owx.stack import Stack, let_workers_in  # noqa: E402

CONCURRENCY = (1, 8)
PATHS = {
    "return200": "/_bench/ok",
    "cache_hit": "/api/v1/namespaces/_/actions/cached?blocking=true&result=true",
    "web_hit": "/api/v1/web/guest/default/cachedweb",
    "warm_miss": "/api/v1/namespaces/_/actions/noop?blocking=true&result=true",
}
EXTRA = """
        location = /_bench/ok {
            default_type application/json;
            return 200 '{}';
        }
"""
CACHED = "function main(p) { return {ok: 1, __ow_cache: {maxAge: 86400}} }"
CACHED_WEB = ("function main(p) { return {headers: {'Cache-Control': 'public, max-age=86400',"
              " 'Content-Type': 'application/json'}, body: {ok: 1}} }")


def setup(stack, auth):
    ib.warm_noop(stack, auth)
    ib.put_action(stack, auth, "cached", CACHED)
    addr = "127.0.0.1:%d" % stack.port
    # the first answers of a changed action are not stored (a second): until one is
    for _ in range(100):
        status, body = request(addr, "POST", PATHS["cache_hit"], {}, {"Authorization": auth})
        if status != 200 or body != {"ok": 1}:
            raise RuntimeError("POST cached answered %d: %r" % (status, body))
        if cache_hits(stack) > 0:
            break
        time.sleep(0.05)
    else:
        raise RuntimeError("the cached action's answer was never stored")
    ib.put_action(stack, auth, "cachedweb", CACHED_WEB,
                  annotations=[{"key": "web-export", "value": True}])
    before = cache_hits(stack)
    for _ in range(100):
        status, body = request(addr, "GET", PATHS["web_hit"])
        if status != 200 or body != {"ok": 1}:
            raise RuntimeError("GET cachedweb answered %d: %r" % (status, body))
        if cache_hits(stack) > before:
            break
        time.sleep(0.05)
    else:
        raise RuntimeError("the web action's answer was never stored")


def redis_pid(stack):
    with open(stack.path("redis", "redis.pid")) as f:
        return f.read().strip()


def redis_settled(stack):
    """Waits (at most 60 s) until Redis has nothing left of a run: the records the workers
    queued (sent within 50 ms) and an AOF rewrite their writes started."""
    r = stack.redis()
    time.sleep(0.2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = r.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
            return
        time.sleep(0.1)


def cache_hits(stack):
    req = urllib.request.Request(stack.url + "/metrics", headers=stack.metrics_headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith('owx_response_cache_lookups_total{result="hit"}'):
                return float(line.split()[-1])
    return 0.0


def main():
    duration = ib.env_int("BENCH_CACHE_DURATION", 5)
    nrounds = max(ib.env_int("BENCH_CACHE_ROUNDS", 3), 1)
    workers = ib.env_int("BENCH_WORKERS", 2)
    out_path = os.environ.get("BENCH_CACHE_OUT",
                              os.path.join(ROOT, "build", "bench", "cache.json"))
    auth = "Basic " + base64.b64encode(admin.GUEST_KEY.encode()).decode()
    os.environ.setdefault("OW_SIDECAR_RETENTION", "300s")
    home = tempfile.mkdtemp(prefix="owx-cache-bench-")
    let_workers_in(home)
    stack = Stack(home, port=0, redis_port=0, pool_port=0, workers=workers, extra_conf=EXTRA)
    failed, runs = [], {}
    try:
        stack.start()
        setup(stack, auth)
        lua = os.path.join(home, "post.lua")
        with open(lua, "w") as f:
            f.write(ib.wrk_lua("{}", auth))
        get_lua = os.path.join(home, "get.lua")
        with open(get_lua, "w") as f:
            f.write(ib.wrk_lua(None, None, method="GET"))
        lua = {name: get_lua if name == "web_hit" else lua for name in PATHS}
        print("owx cache bench: a response-cache hit vs nginx return 200 vs a warm miss, wrk "
              "keepalive POST, c=%s, %ds per run, %d rounds, nginx %d workers, %d CPUs"
              % ("/".join(map(str, CONCURRENCY)), duration, nrounds, workers, os.cpu_count()),
              flush=True)
        cpu = {"nginx": stack.nginx_workers, "redis": lambda: [redis_pid(stack)]}
        runs = ib.interleaved_rounds(stack.url, PATHS, lua, CONCURRENCY, nrounds, duration,
                                     failed, cpu=cpu, settle=lambda: redis_settled(stack))
    finally:
        stack.stop()

    summary = {}
    print("\nmedian over %d rounds" % nrounds)
    for conc in CONCURRENCY:
        k = "c%d" % conc
        med = ib.round_medians(runs, conc)
        summary[k] = dict(med)
        for n in PATHS:
            print("c=%d %-10s %8.0f req/s  p50 %s ms%s"
                  % (conc, n, med[n]["rps"], ib.ms(med[n]["p50_us"]),
                     ib.cpu_text(med[n].get("cpu_us"))))
        hit, ret, miss = med["cache_hit"], med["return200"], med["warm_miss"]
        summary[k]["hit/return200"] = hit["rps"] / ret["rps"] if ret["rps"] else None
        summary[k]["web_hit/return200"] = (med["web_hit"]["rps"] / ret["rps"]
                                           if ret["rps"] else None)
        summary[k]["hit/warm_miss"] = hit["rps"] / miss["rps"] if miss["rps"] else None
        summary[k]["hit_p50_minus_return200_us"] = hit["p50_us"] - ret["p50_us"]
        print("c=%d hit / return200 = %.2f req/s (target >= 0.80), p50 +%.3f ms (target <= "
              "0.1); hit / warm_miss = %.2f"
              % (conc, summary[k]["hit/return200"] or 0.0,
                 summary[k]["hit_p50_minus_return200_us"] / 1000.0,
                 summary[k]["hit/warm_miss"] or 0.0))
        print("c=%d web_hit / return200 = %.2f req/s (a hit with no record to write)"
              % (conc, summary[k]["web_hit/return200"] or 0.0))
        cpu_ret, cpu_hit = ret.get("cpu_us"), hit.get("cpu_us")
        if cpu_ret and cpu_hit:
            # on saturated cores req/s goes as 1 / CPU per request: the ratio the CPU allows
            summary[k]["cpu_return200/cpu_hit"] = (sum(cpu_ret.values())
                                                   / sum(cpu_hit.values()))
            print("c=%d CPU per request: return200 / hit = %.2f; a hit costs Redis %+.1f us "
                  "(its record), nginx %+.1f us against return200"
                  % (conc, summary[k]["cpu_return200/cpu_hit"],
                     cpu_hit["redis"] - cpu_ret["redis"], cpu_hit["nginx"] - cpu_ret["nginx"]))

    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump({"duration_s": duration, "rounds": nrounds, "workers": workers,
                   "summary": summary, "runs": runs}, f, indent=1)
    print("wrote %s" % out_path)
    for line in failed:
        print("FAILED: %s" % line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
