"""eviction_bench.py: the cold start that first evicts vs a plain cold start (issue 14).

One owx stack (Redis, nginx, ow-pool-manager without stemcells, health polled every 100 ms),
two namespaces:
  full   maxContainers CAP (ow-admin limits): CAP actions invoked once, so the namespace sits
         at its cap with every container idle; each cold start of a new action must first
         retire the least recently used one (capacity.h, Capacity::evict_for)
  roomy  the default cap (30): each cold start of a new action just starts
Each round, interleaved (a drift of the machine hits both alike), a fresh Node.js hello
action of each namespace is invoked blocking with result=true and timed at the client
(request -> result). Before each "full" round the bench waits until the pool-manager has seen
every container of "full" idle (GET /v1/containers: health known, nothing in flight), so
that the start evicts rather than being refused; before every start, until the pool's
Node.js stemcell is ready again, so that both kinds specialize one (the default set-up's
cold start; stemcell_bench.py compares that with a start from nothing).

Prints p50 of each and the difference (target: at most +20 ms), writes JSON (default
build/bench/eviction.json), exits 1 when an invoke failed or the "full" namespace ever held
more than CAP containers, or a "full" start did not evict.

Environment: BENCH_COLD (rounds, 10), BENCH_EVICT_CAP (3), BENCH_EVICT_OUT, OWX_BUILD.
"""

import base64
import json
import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import invoke_bench as ib  # noqa: E402
from invoke_bench import ROOT, HELLO  # noqa: E402
from stemcell_bench import ready_stemcell  # noqa: E402
from owx import admin  # noqa: E402
from owx.stack import Stack  # noqa: E402

TARGET_MS = 20.0
FULL_AUTH = "7a1e6c2e-9c7f-4b8e-8f5d-3b2a1c0d9e8f:" + "f" * 64


def basic(key):
    return "Basic " + base64.b64encode(key.encode()).decode()


def of_namespace(stack, ns):
    return [c for c in stack.pool_containers() if c.get("action", "").startswith(ns + "/")
            and c.get("state") in ("starting", "warm", "marked")]


def all_idle(stack, ns, deadline=10.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        cs = of_namespace(stack, ns)
        if cs and all(c.get("health", {}).get("inflight", 1) == 0 for c in cs):
            return
        time.sleep(0.02)
    raise RuntimeError("the containers of %s were not seen idle within %.0f s" % (ns, deadline))


def cold(stack, auth, failed):
    name = "ev_%s" % uuid.uuid4().hex[:8]
    ib.put_action(stack, auth, name, HELLO)
    ready_stemcell(stack)
    return ib.timed_hello(stack, auth, name, failed)


def evictions(stack):
    with open(stack.path("pool-manager", "pool-manager.log")) as f:
        return f.read().count('"container_evicted"')


def main():
    n = max(int(os.environ.get("BENCH_COLD", "10")), 1)
    cap = max(int(os.environ.get("BENCH_EVICT_CAP", "3")), 1)
    out_path = os.environ.get("BENCH_EVICT_OUT",
                              os.path.join(ROOT, "build", "bench", "eviction.json"))
    home = tempfile.mkdtemp(prefix="owx-eviction-bench-")
    stack = Stack(home, port=0, redis_port=0, pool_port=0,
                  pool_args=["--health-interval", "100ms"])
    failed, times = [], {"evicting": [], "plain": []}
    try:
        stack.start()
        roomy = basic(admin.GUEST_KEY)
        if admin.main(stack.admin_args() + ["user", "create", "full", "--auth", FULL_AUTH]):
            raise RuntimeError("ow-admin user create full failed")
        for ns in ("guest", "full"):
            argv = ["limits", "set", ns, "--invocationsPerMinute", "100000"]
            if ns == "full":
                argv += ["--maxContainers", str(cap)]
            if admin.main(stack.admin_args() + argv):
                raise RuntimeError("ow-admin limits set %s failed" % ns)
        full = basic(FULL_AUTH)
        for _ in range(cap):
            if cold(stack, full, failed) is None:
                raise RuntimeError("filling the full namespace failed: %s" % failed)
        print("owx eviction bench: a cold start that first evicts an idle container (namespace "
              "at maxContainers %d) vs a plain cold start, %d rounds interleaved" % (cap, n),
              flush=True)
        before = evictions(stack)
        for _ in range(n):
            all_idle(stack, "full")
            t = cold(stack, full, failed)
            if t is not None:
                times["evicting"].append(t)
            t = cold(stack, roomy, failed)
            if t is not None:
                times["plain"].append(t)
            held = len(of_namespace(stack, "full"))
            if held > cap:
                failed.append("full held %d containers (cap %d)" % (held, cap))
        evicted = evictions(stack) - before
        if evicted < n:
            failed.append("%d evictions for %d cold starts at the cap" % (evicted, n))
    finally:
        stack.stop()

    p50 = {k: statistics.median(v) if v else None for k, v in times.items()}
    print("%-9s %5s %9s" % ("start", "n", "p50 ms"))
    for k in ("plain", "evicting"):
        print("%-9s %5d %9.1f" % (k, len(times[k]), p50[k] or 0))
    diff = (p50["evicting"] - p50["plain"]) if None not in p50.values() else None
    met = diff is not None and diff <= TARGET_MS
    print("evicting - plain: %s ms (target <= %.0f ms): %s"
          % ("%.1f" % diff if diff is not None else "n/a", TARGET_MS, "met" if met else "NOT met"))
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump({"p50_ms": p50, "times_ms": times, "diff_ms": diff, "target_ms": TARGET_MS,
                   "target_met": met, "cap": cap, "rounds": n, "failed": failed}, f, indent=2)
    print("JSON: %s" % out_path)
    for msg in failed:
        print("FAILED: " + msg)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
