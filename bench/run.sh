#!/usr/bin/env bash
# run.sh: the owx benchmarks (make bench), one run on this machine:
# 1. the gateway: plain nginx vs authenticated API (warm auth cache) vs
#    authenticated API with a cache miss on every request
#    (bench/gateway_bench.py, knobs BENCH_*);
# 2. the invoke path: runtime /run vs sidecar vs nginx proxy_pass vs the full
#    owx path, cold starts, sidecar RSS, warm-table shared memory
#    (bench/invoke_bench.py, knobs BENCH_INVOKE_*, BENCH_COLD).
# Both always run; the exit status is non-zero when either failed.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
rc=0
/usr/bin/python3 bench/gateway_bench.py "$@" || rc=1
echo
/usr/bin/python3 bench/invoke_bench.py || rc=1
exit $rc
