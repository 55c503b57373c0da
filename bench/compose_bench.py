"""compose_bench.py: what a sequence costs over its one component, through the API and as a
web action (the gateway's compose driver; libow/ow_web.h shaping for the web one).

One stack (Redis, nginx with the owx modules, the pool-manager, one warm ow-sidecar + Node.js
container of a no-op action, limits.concurrency 8, web-exported), measured with wrk (keepalive
POST "{}", the guest's key) on four paths, alternating within each round so a drift of the
machine hits all alike:
  api_action  POST /api/v1/namespaces/_/actions/noop?blocking=true&result=true
  api_seq     the same for seq1, a sequence of that one action
  web_action  POST /api/v1/web/guest/default/noop.json   (the sidecar shapes it)
  web_seq     POST /api/v1/web/guest/default/seq1.json   (the compose driver shapes it)
Figures: median req/s and p50 per path and concurrency, and the ratios api_seq/api_action,
web_seq/web_action (what the composition costs: one more request through the internal listener,
the sequence's record) and web_seq/api_seq (the web shaping in the gateway); and the CPU time per
request of the nginx workers, Redis and the action's sidecar with its runtime (from /proc, over
each run), with the same ratios of their sums (action CPU / sequence CPU: what req/s would be on
a machine of its own, steadier than req/s when other work shares the cores). Writes JSON
(default build/bench/compose.json); exits 1 on a non-2xx response or a socket error.

Environment: BENCH_COMPOSE_DURATION (s per run, 5), BENCH_COMPOSE_ROUNDS (3), BENCH_WORKERS (2),
BENCH_COMPOSE_OUT, OWX_BUILD.
"""

import base64
import json
import os
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

import invoke_bench as ib  # noqa: E402
from invoke_bench import ROOT, containers, request  # noqa: E402
from owx import admin  # noqa: E402
from owx.stack import Stack, let_workers_in  # noqa: E402

CONCURRENCY = (1, 8)
PATHS = {
    "api_action": "/api/v1/namespaces/_/actions/noop?blocking=true&result=true",
    "api_seq": "/api/v1/namespaces/_/actions/seq1?blocking=true&result=true",
    "web_action": "/api/v1/web/guest/default/noop.json",
    "web_seq": "/api/v1/web/guest/default/seq1.json",
}
RATIOS = (("api_seq", "api_action"), ("web_seq", "web_action"), ("web_seq", "api_seq"))


def setup(stack, auth):
    exported = [{"key": "web-export", "value": True}]
    ib.warm_noop(stack, auth, exported)
    addr = "127.0.0.1:%d" % stack.port
    status, resp = request(addr, "PUT", "/api/v1/namespaces/_/actions/seq1?overwrite=true",
                           {"exec": {"kind": "sequence", "components": ["/guest/noop"]},
                            "annotations": exported}, {"Authorization": auth})
    if status != 200:
        raise RuntimeError("PUT seq1 answered %d: %r" % (status, resp))
    for path in PATHS.values():
        status, body = request(addr, "POST", path, {}, {"Authorization": auth})
        if status != 200 or body != {}:
            raise RuntimeError("POST %s answered %d: %r" % (path, status, body))
    if len(containers(stack, "guest/noop")) != 1:
        raise RuntimeError("expected one noop container")


def main():
    duration = ib.env_int("BENCH_COMPOSE_DURATION", 5)
    nrounds = max(ib.env_int("BENCH_COMPOSE_ROUNDS", 3), 1)
    workers = ib.env_int("BENCH_WORKERS", 2)
    out_path = os.environ.get("BENCH_COMPOSE_OUT",
                              os.path.join(ROOT, "build", "bench", "compose.json"))
    auth = "Basic " + base64.b64encode(admin.GUEST_KEY.encode()).decode()
    os.environ.setdefault("OW_SIDECAR_RETENTION", "300s")
    home = tempfile.mkdtemp(prefix="owx-compose-bench-")
    # the workers reach the internal listener's socket in there
    let_workers_in(home)
    stack = Stack(home, port=0, redis_port=0, pool_port=0, workers=workers)
    failed, runs = [], {}
    try:
        stack.start()
        setup(stack, auth)
        lua = os.path.join(home, "post.lua")
        with open(lua, "w") as f:
            f.write(ib.wrk_lua("{}", auth))
        print("owx compose bench: a one-component sequence vs its action, API and web, wrk "
              "keepalive POST, c=%s, %ds per run, %d rounds, nginx %d workers, %d CPUs"
              % ("/".join(map(str, CONCURRENCY)), duration, nrounds, workers, os.cpu_count()),
              flush=True)
        with open(stack.path("redis", "redis.pid")) as f:
            redis_pid = int(f.read())
        sidecar_pid = ib.sidecar_pid(containers(stack, "guest/noop")[0]["addr"])
        groups = {"nginx": lambda: [int(p) for p in stack.nginx_workers()],
                  "redis": lambda: [redis_pid],
                  "sidecar": lambda: ib.process_tree(sidecar_pid) if sidecar_pid else []}
        runs = ib.interleaved_rounds(stack.url, PATHS, lua, CONCURRENCY, nrounds, duration,
                                     failed, groups)
    finally:
        stack.stop()

    summary = {}
    print("\nmedian over %d rounds" % nrounds)
    for conc in CONCURRENCY:
        k = "c%d" % conc
        med = ib.round_medians(runs, conc)
        summary[k] = dict(med)
        for n in PATHS:
            cpu = med[n]["cpu_us"]
            print("c=%d %-10s %8.0f req/s  p50 %s ms  CPU/req %s, total %.0f us"
                  % (conc, n, med[n]["rps"], ib.ms(med[n]["p50_us"]),
                     ", ".join("%s %.0f" % kv for kv in cpu.items()), sum(cpu.values())))
        for a, b in RATIOS:
            ratio = med[a]["rps"] / med[b]["rps"] if med[b]["rps"] else None
            cpu_a, cpu_b = sum(med[a]["cpu_us"].values()), sum(med[b]["cpu_us"].values())
            cpu_ratio = cpu_b / cpu_a if cpu_a else None
            summary[k]["%s/%s" % (a, b)] = ratio
            summary[k]["%s/%s cpu" % (a, b)] = cpu_ratio
            print("c=%d %s / %s = %.2f  (CPU per request: %.2f)"
                  % (conc, a, b, ratio or 0.0, cpu_ratio or 0.0))
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump({"summary": summary, "runs": runs, "duration_s": duration,
                   "rounds": nrounds, "workers": workers, "cpus": os.cpu_count(),
                   "loadavg": os.getloadavg(), "failed": failed}, f, indent=2)
    print("JSON: %s" % out_path)
    for fmsg in failed:
        print("FAILED: " + fmsg)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
