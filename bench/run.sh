#!/usr/bin/env bash
# run.sh: the owx benchmarks (make bench). One gateway run: plain nginx vs
# authenticated API (warm auth cache) vs authenticated API with a cache miss
# on every request; see bench/gateway_bench.py for the knobs (BENCH_*).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
exec /usr/bin/python3 bench/gateway_bench.py "$@"
