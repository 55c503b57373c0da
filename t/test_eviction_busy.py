"""test_eviction_busy.py: what a namespace at its container cap still refuses (issue 14): a
cold start when every container is busy is OpenWhisk's 429 with a Retry-After derived from the
run times the sidecars observed, and the pool-manager's metrics say which limit refused it."""

import threading
import time

from conftest import NODE_KIND, assert_error

CAP = 2
# the namespace's own cap (ow-admin limits set guest --maxContainers 2), not the
# pool-manager's default (30)
GUEST_LIMITS = {"invocationsPerMinute": 10000, "maxContainers": CAP}
STACK_OPTIONS = {"pool_args": ["--health-interval", "100ms"]}
SLOW = "function main() { return new Promise(r => setTimeout(() => r({done: true}), %d)); }"


def test_every_container_busy_is_429_with_retry_after(stack, api):
    # two actions that each ran for 2.5 s before: the sidecars have seen their run times
    for name in ("busy1", "busy2"):
        assert api.put("_/actions/%s" % name,
                       {"exec": {"kind": NODE_KIND, "code": SLOW % 2500}}).status_code == 200
        r = api.post("_/actions/%s?blocking=true&result=true" % name, {}, timeout=30)
        assert r.status_code == 200 and r.json() == {"done": True}, r.text
    assert api.put("_/actions/third",
                   {"exec": {"kind": NODE_KIND, "code": SLOW % 1}}).status_code == 200

    # both containers busy again, for 2.5 s
    answers = []
    threads = [threading.Thread(target=lambda n=name: answers.append(
        api.post("_/actions/%s?blocking=true&result=true" % n, {}, timeout=30).status_code))
        for name in ("busy1", "busy2")]
    for t in threads:
        t.start()

    def all_busy():
        return sum(1 for c in stack.pool_containers()
                   if c.get("health", {}).get("inflight", 0) > 0) == CAP

    deadline = time.monotonic() + 2.5
    while not all_busy() and time.monotonic() < deadline:
        time.sleep(0.05)
    r = api.post("_/actions/third?blocking=true&result=true", {}, timeout=30)
    for t in threads:
        t.join()

    assert_error(r, 429, "Too many containers for namespace 'guest' (limit 2).")
    # 2.5 s runs on containers of concurrency 1: come back in 3 s, not the default 1
    assert r.headers["Retry-After"] == "3", r.headers
    assert answers == [200, 200]
    metrics = stack.pool_metrics()
    assert 'owx_pool_manager_refused_total{limit="namespace"} 1' in metrics, metrics

    # and once one is idle again (as its sidecar tells the pool-manager), the same cold
    # start evicts it and runs
    deadline = time.monotonic() + 5
    while (any(c.get("health", {}).get("inflight", 1) for c in stack.pool_containers())
           and time.monotonic() < deadline):
        time.sleep(0.05)
    r = api.post("_/actions/third?blocking=true&result=true", {}, timeout=30)
    assert r.status_code == 200 and r.json() == {"done": True}, r.text
