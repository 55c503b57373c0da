"""metrics_bench.py: what the gateway's metrics cost on the warm invoke path.

One stack (Redis, nginx with the owx modules, the pool-manager, one warm ow-sidecar + Node.js
container of a no-op action with limits.concurrency 8), measured with wrk (keepalive, POST
/api/v1/namespaces/_/actions/noop?blocking=true&result=true, the guest's key) with the gateway's
metrics ON (conf/nginx.conf as shipped: `ow_metrics_zone owx_metrics 1m;`) and OFF (the same
conf without the zone: modules/README.md, every metrics hook of the other modules then returns
at once; the /metrics location answers 404 instead). The same nginx is reloaded (SIGHUP)
between the two; the variants alternate on, off, on, off... for --rounds rounds at c=1 and c=8
so a drift of the machine hits both alike. After each reload the bench waits until /metrics
answers as the new configuration says (200 on, 404 off; asked with the metrics token, as
Prometheus would) and warms the workers up for 1 s.

Figures: median req/s and p50 per variant and concurrency; the cost = 1 - on/off req/s
(target < 3 %). Writes JSON (default build/bench/metrics.json); exits 1 on a non-2xx response,
a socket error, or when the cost is over the target at c=8 (the saturated case).

Environment: BENCH_METRICS_DURATION (s per run, 5), BENCH_METRICS_ROUNDS (3), BENCH_WORKERS (2),
BENCH_METRICS_OUT, OWX_BUILD.
"""

import base64
import json
import os
import statistics
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

import invoke_bench as ib  # noqa: E402
from invoke_bench import ROOT, request, run_wrk  # noqa: E402
from owx import admin  # noqa: E402
from owx.stack import Stack, wait_until  # noqa: E402

TARGET_COST = 0.03
CONCURRENCY = (1, 8)
ZONE = "    ow_metrics_zone owx_metrics 1m;\n"


def render(stack, on):
    """nginx.conf with or without the gateway's metrics; nginx -t checks it."""
    conf = stack.render_nginx_conf(daemon=False)
    with open(conf) as f:
        text = f.read()
    if ZONE not in text or "            ow_metrics;\n" not in text:
        raise RuntimeError("conf/nginx.conf no longer has the metrics lines this bench edits")
    if not on:
        text = text.replace(ZONE, "").replace("            ow_metrics;\n",
                                              "            return 404;\n")
    with open(conf, "w") as f:
        f.write(text)
    ib.subprocess.run(["/usr/sbin/nginx", "-p", stack.path("nginx"), "-c", conf, "-t", "-q"],
                      check=True)


def switch(stack, on):
    render(stack, on)
    stack.reload_nginx()
    want = 200 if on else 404
    wait_until(lambda: request("127.0.0.1:%d" % stack.port, "GET", "/metrics",
                               headers=stack.metrics_headers)[0] == want,
               20, "nginx reloaded with metrics %s" % ("on" if on else "off"))


def main():
    duration = ib.env_int("BENCH_METRICS_DURATION", 5)
    nrounds = max(ib.env_int("BENCH_METRICS_ROUNDS", 3), 1)
    workers = ib.env_int("BENCH_WORKERS", 2)
    out_path = os.environ.get("BENCH_METRICS_OUT",
                              os.path.join(ROOT, "build", "bench", "metrics.json"))
    auth = "Basic " + base64.b64encode(admin.GUEST_KEY.encode()).decode()
    os.environ.setdefault("OW_SIDECAR_RETENTION", "300s")
    home = tempfile.mkdtemp(prefix="owx-metrics-bench-")
    stack = Stack(home, port=0, redis_port=0, pool_port=0, workers=workers)
    failed, runs = [], {"on": {}, "off": {}}
    try:
        stack.start()
        ib.warm_noop(stack, auth)
        url = stack.url + "/api/v1/namespaces/_/actions/noop?blocking=true&result=true"
        lua = os.path.join(home, "noop.lua")
        with open(lua, "w") as f:
            f.write(ib.wrk_lua("{}", auth))
        print("owx metrics bench: gateway metrics on vs off, wrk keepalive POST, c=%s, %ds per "
              "run, %d rounds, nginx %d workers, %d CPUs"
              % ("/".join(map(str, CONCURRENCY)), duration, nrounds, workers, os.cpu_count()),
              flush=True)
        for i in range(nrounds):
            # alternate which goes first, so neither always follows a reload of the other
            order = ("on", "off") if i % 2 == 0 else ("off", "on")
            for v in order:
                switch(stack, v == "on")
                for conc in CONCURRENCY:
                    run_wrk(url, lua, conc, 1)   # new workers: connections, caches
                    res = run_wrk(url, lua, conc, duration)
                    runs[v].setdefault("c%d" % conc, []).append(res)
                    print("  round %d metrics %-3s c=%d %8.0f req/s  p50 %s ms  p99 %s ms"
                          % (i + 1, v, conc, res["rps"], ib.ms(res["p50_us"]),
                             ib.ms(res["p99_us"])), flush=True)
                    if res["non2xx"] or res["socket_errors"]:
                        failed.append("round %d %s c=%d: %d non-2xx, %d socket errors"
                                      % (i + 1, v, conc, res["non2xx"], res["socket_errors"]))
        switch(stack, True)
    finally:
        stack.stop()

    summary = {}
    print("\nmedian over %d rounds" % nrounds)
    print("%-5s %12s %12s %10s %10s %8s" % ("c", "on req/s", "off req/s", "on p50", "off p50",
                                             "cost"))
    for conc in CONCURRENCY:
        k = "c%d" % conc
        on = statistics.median(r["rps"] for r in runs["on"][k])
        off = statistics.median(r["rps"] for r in runs["off"][k])
        on50 = statistics.median(r["p50_us"] for r in runs["on"][k])
        off50 = statistics.median(r["p50_us"] for r in runs["off"][k])
        cost = 1 - on / off if off else 0.0
        summary[k] = {"on_rps": on, "off_rps": off, "ratio": on / off if off else None,
                      "cost": cost, "on_p50_us": on50, "off_p50_us": off50}
        print("%-5d %12.0f %12.0f %10s %10s %7.2f%%" % (conc, on, off, ib.ms(on50), ib.ms(off50),
                                                       100 * cost))
    if summary["c8"]["cost"] > TARGET_COST:
        failed.append("metrics cost %.2f %% at c=8 (target < %.0f %%)"
                      % (100 * summary["c8"]["cost"], 100 * TARGET_COST))
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump({"summary": summary, "runs": runs, "target_cost": TARGET_COST,
                   "duration_s": duration, "rounds": nrounds, "workers": workers,
                   "cpus": os.cpu_count(), "loadavg": os.getloadavg(), "failed": failed},
                  f, indent=2)
    print("JSON: %s" % out_path)
    for fmsg in failed:
        print("FAILED: " + fmsg)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
