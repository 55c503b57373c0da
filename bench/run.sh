#!/usr/bin/env bash
# run.sh: the owx benchmarks (make bench), one run on this machine:
# 1. the gateway: plain nginx vs authenticated API (warm auth cache) vs
#    authenticated API with a cache miss on every request
#    (bench/gateway_bench.py, knobs BENCH_*);
# 2. the invoke path: runtime /run vs sidecar vs nginx proxy_pass vs the full
#    owx path, and nginx proxy_pass straight to the runtime (what any proxy
#    hop costs here), cold starts, sidecar RSS, warm-table shared memory
#    (bench/invoke_bench.py, knobs BENCH_INVOKE_*, BENCH_COLD);
# 3. placement + garbage collection on a simulated 100-node cluster: the
#    real allocator, collector and compactor, nodes in use vs
#    first-fit-decreasing (mean and p95 per row, over 8 seeded traces),
#    and allocation / collection-pass times with 10,000 containers, then
#    eviction churn on a 10-node cluster at 100 % memory (the real
#    Capacity's evictions for room: refusals, refusals while idle
#    containers existed (0), evictions, a cold start's wait for room)
#    (ow-pool-sim, pool-manager/sim/pool_sim.cc; JSON in bench/results/);
# 4. cold starts from a stemcell (prewarmed sidecar + runtime) vs from
#    nothing, p50 (bench/stemcell_bench.py, knob BENCH_COLD).
# 5. the gateway's metrics on vs off on the warm path, one stack, the
#    same nginx reloaded between alternating runs; cost = 1 - on/off req/s,
#    target < 3 % (bench/metrics_bench.py, knobs BENCH_METRICS_*).
# 6. a one-component sequence vs its action, through the API and as a web
#    action (the compose driver), req/s ratios (bench/compose_bench.py,
#    knobs BENCH_COMPOSE_*).
# 7. tenant isolation and the activation journal on the warm path: a
#    sidecar with the token check, the runtime's own uid and network
#    namespace and the journal vs one without the namespace vs one without
#    the journal vs one with none of them, same action, alternating runs;
#    costs = 1 - secured/open, 1 - secured/unjournalled and
#    1 - secured/hostnet req/s, target <= 2 % each; and the namespace's
#    cold-start cost, sidecars with and without it timed to ready
#    (bench/isolation_bench.py, knobs BENCH_ISOLATION_*).
# 8. big entities: other tenants' p50/p99/max latency of small requests (GET
#    of an action, a warm blocking invoke; paced, counted from when each was
#    due) without and with back-to-back 48 MiB action PUTs, and the PUTs'
#    own times; target busy p99 < 50 ms (bench/big_entity_bench.py, knobs
#    BENCH_BIG_*).
# 9. ow_client_deadline on vs off on the cheapest request with a body
#    (bench/deadline_bench.py, knobs BENCH_DEADLINE_*).
# 10. the cold start that first evicts an idle container (a namespace at its
#    maxContainers) vs a plain cold start, p50, target at most +20 ms
#    (bench/eviction_bench.py, knobs BENCH_COLD, BENCH_EVICT_*).
# 11. a response-cache hit vs nginx `return 200` vs a warm miss, req/s and
#    p50, and each path's CPU per request in nginx, Redis and wrk; target hit
#    >= 0.8x return 200, p50 within 0.1 ms of it (bench/cache_bench.py,
#    knobs BENCH_CACHE_*).
# 12. a streaming web action (docs/streams.md) through owx vs nginx
#    proxy_pass straight to the same runtime, upload and download, MiB/s
#    and the RSS of nginx, sidecar and runtime meanwhile; target owx >= 0.8x
#    each way (bench/stream_bench.py, knobs BENCH_STREAM_*).
# 13. WebSockets (docs/websockets.md): a message's round trip vs a warm
#    blocking invoke of the same action, p50, target at most +0.2 ms; and
#    10,000 idle connections: the memory per connection of the gateway's
#    workers and the sidecar (bench/websocket_bench.py, knobs BENCH_WS_*).
# All always run; the exit status is non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
rc=0
/usr/bin/python3 bench/gateway_bench.py "$@" || rc=1
echo
/usr/bin/python3 bench/invoke_bench.py || rc=1
echo
mkdir -p bench/results
"${OWX_BUILD:-build}/cmake/pool-manager/ow-pool-sim" --out bench/results/pool_sim.json || rc=1
echo
/usr/bin/python3 bench/stemcell_bench.py || rc=1
echo
/usr/bin/python3 bench/metrics_bench.py || rc=1
echo
/usr/bin/python3 bench/compose_bench.py || rc=1
echo
/usr/bin/python3 bench/isolation_bench.py || rc=1
echo
/usr/bin/python3 bench/big_entity_bench.py || rc=1
echo
/usr/bin/python3 bench/deadline_bench.py || rc=1
echo
/usr/bin/python3 bench/eviction_bench.py || rc=1
echo
/usr/bin/python3 bench/cache_bench.py || rc=1
echo
/usr/bin/python3 bench/stream_bench.py || rc=1
echo
/usr/bin/python3 bench/websocket_bench.py || rc=1
exit $rc
