"""stemcell_bench.py: cold starts from a stemcell vs from nothing (issue 5, item 8).

One owx stack (Redis, nginx, ow-pool-manager with `--stemcells nodejs:default:256=1`),
one run. Each round, interleaved (so a drift of the machine hits both alike):

  stemcell  a fresh Node.js hello action of 256 MB, invoked blocking with
            result=true once the pool's stemcell is ready (polled on GET
            /v1/containers, with a deadline): the pool-manager specializes the
            prestarted sidecar + runtime (POST /specialize → /init → /run)
  nothing   a fresh Node.js hello action of 257 MB, invoked the same way: no
            pool has that size, so the pool-manager starts ow-sidecar + runtime
            from nothing (fork/exec, runtime start, /init, /run). The 1 MB
            differs only in RLIMIT_DATA and --max-old-space-size.

Both are timed end to end at the client (request → result). Prints p50 of each
and the difference, writes JSON (default build/bench/stemcell.json), exits 1 when
an invoke failed or a cold start did not go the way it was meant to (checked on
/v1/containers: the stemcell one must reuse the stemcell's id, the other not).

Environment: BENCH_COLD (rounds, 10), BENCH_STEMCELL_OUT (JSON path), OWX_BUILD.
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
from owx import admin  # noqa: E402
from owx.stack import Stack  # noqa: E402


def pool(stack):
    status, body = ib.request(stack.pool_addr, "GET", "/v1/containers",
                              headers=stack.internal_headers)
    if status != 200:
        raise RuntimeError("GET /v1/containers answered %d" % status)
    return body


def ready_stemcell(stack, deadline=30.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        cells = [c for c in pool(stack)["stemcells"] if c["state"] == "ready"]
        if cells:
            return cells[0]["id"]
        time.sleep(0.02)
    raise RuntimeError("no stemcell became ready within %.0f s" % deadline)


def cold(stack, auth, memory, cell_id, failed):
    name = "sc%d_%s" % (memory, uuid.uuid4().hex[:8])
    ib.put_action(stack, auth, name, HELLO, {"memory": memory})
    ms = ib.timed_hello(stack, auth, name, failed)
    if ms is None:
        return None
    got = [c["id"] for c in pool(stack)["containers"] if c["action"] == "guest/" + name]
    if (cell_id in got) != (cell_id is not None and memory == 256):
        failed.append("%s (%d MB) ran in %r, stemcell %r" % (name, memory, got, cell_id))
    return ms


def main():
    n = max(int(os.environ.get("BENCH_COLD", "10")), 1)
    out_path = os.environ.get("BENCH_STEMCELL_OUT",
                              os.path.join(ROOT, "build", "bench", "stemcell.json"))
    auth = "Basic " + base64.b64encode(admin.GUEST_KEY.encode()).decode()
    home = tempfile.mkdtemp(prefix="owx-stemcell-bench-")
    stack = Stack(home, port=0, redis_port=0, pool_port=0,
                  pool_args=["--stemcells", "nodejs:default:256=1"])
    failed, from_cell, from_nothing = [], [], []
    try:
        stack.start()
        if stack.binary("pool-manager") is None:
            raise RuntimeError("ow-pool-manager / ow-sidecar not built (make build)")
        print("cold starts: %d x (Node.js hello from a stemcell; from nothing)" % n, flush=True)
        for _ in range(n):
            cell = ready_stemcell(stack)
            ms = cold(stack, auth, 256, cell, failed)
            if ms is not None:
                from_cell.append(ms)
            ms = cold(stack, auth, 257, None, failed)
            if ms is not None:
                from_nothing.append(ms)
    except Exception as e:  # report, then stop the stack
        failed.append("%s: %s" % (type(e).__name__, e))
    finally:
        stack.stop()
    res = {"n": n, "from_stemcell_ms": from_cell, "from_nothing_ms": from_nothing,
           "from_stemcell_p50_ms": statistics.median(from_cell) if from_cell else None,
           "from_nothing_p50_ms": statistics.median(from_nothing) if from_nothing else None,
           "failed": failed}
    if from_cell and from_nothing:
        print("cold start p50: from a stemcell %.1f ms, from nothing %.1f ms (saves %.1f ms, "
              "n=%d each)" % (res["from_stemcell_p50_ms"], res["from_nothing_p50_ms"],
                              res["from_nothing_p50_ms"] - res["from_stemcell_p50_ms"],
                              len(from_cell)))
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(res, f, indent=2)
    for msg in failed:
        print("FAILED: " + msg, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
