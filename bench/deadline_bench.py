"""deadline_bench.py: what ow_client_deadline costs a request with a body.

The module arms a timer when a request with a body has its header read and again
when its answer's header goes out (modules/gateway/ngx_http_ow_deadline_module.c). Its
cost is largest, relative to the request, on the cheapest request nginx can
serve, so this measures that ceiling: POST of a small JSON body to a location
that answers "return 200", on two stacks (Redis + nginx, no pool-manager), one
with the shipped ow_client_deadline (10s 256k), one with it off, alternating wrk
runs; cost = 1 - on/off median req/s. A warm invoke through the gateway takes
10-20 times longer per request, so its share there is that much smaller.

Environment: BENCH_DEADLINE_DURATION (seconds per run, 5), BENCH_DEADLINE_ROUNDS
(4), OWX_BUILD (where the modules were built). Exits 1 when a run failed.
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from owx.stack import Stack  # noqa: E402

LUA = 'wrk.method = "POST"\nwrk.body = \'{"name":"x","n":1}\'\n' \
      'wrk.headers["Content-Type"] = "application/json"\n'


def main():
    duration = int(os.environ.get("BENCH_DEADLINE_DURATION", "5"))
    rounds = int(os.environ.get("BENCH_DEADLINE_ROUNDS", "4"))
    tmp = tempfile.mkdtemp(prefix="owx-deadline-bench-")
    script = os.path.join(tmp, "post.lua")
    with open(script, "w") as f:
        f.write(LUA)
    stacks = {}
    rps = {"on": [], "off": []}
    try:
        for mode in ("on", "off"):
            extra = "location = /_bench/post { return 200; }\n"
            if mode == "off":
                extra += "ow_client_deadline off;\n"
            s = Stack(os.path.join(tmp, mode), port=0, redis_port=0, pool_port=0,
                      extra_conf=extra, pool_manager=False)
            stacks[mode] = s
            s.start_redis()
            s.provision()
            s.start_nginx()
        for rnd in range(rounds):
            for mode in ("on", "off"):
                out = subprocess.run(["wrk", "-t2", "-c50", "-d%ds" % duration, "-s", script,
                                      stacks[mode].url + "/_bench/post"],
                                     capture_output=True, text=True).stdout
                m = re.search(r"Requests/sec:\s+([\d.]+)", out)
                if not m or "Non-2xx" in out:
                    print("FAILED: wrk run %s/%d: %s" % (mode, rnd, out))
                    return 1
                rps[mode].append(float(m.group(1)))
                print("round %d %-3s %8.0f req/s" % (rnd, mode, rps[mode][-1]), flush=True)
    finally:
        for s in stacks.values():
            s.stop()
    on, off = statistics.median(rps["on"]), statistics.median(rps["off"])
    print("ow_client_deadline on/off: %.0f / %.0f req/s = %.3f (%.2f us a request)"
          % (on, off, on / off, (1 / on - 1 / off) * 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
