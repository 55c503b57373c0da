"""test_eviction.py: a namespace at its container cap makes room (issue 14). A cold start that
meets the cap retires the namespace's least recently used idle container, as OpenWhisk's
container pool removes a free container, instead of answering 429 until the idle timeout;
only when every container is busy is the cold start refused (test_eviction_busy.py)."""

import concurrent.futures
import re

from conftest import NODE_KIND

CAP = 30
ACTIONS = 200
GUEST_LIMITS = {"invocationsPerMinute": 10000}
STACK_OPTIONS = {"pool_args": ["--max-containers-per-namespace", str(CAP),
                               "--health-interval", "250ms"]}


def code(i):
    return "function main() { return {i: %d}; }" % i


def test_two_hundred_actions_round_robin_under_a_cap_of_thirty(stack, api):
    for i in range(ACTIONS):
        r = api.put("_/actions/ev%d?overwrite=true" % i,
                    {"exec": {"kind": NODE_KIND, "code": code(i)}})
        assert r.status_code == 200, r.text

    def invoke(i):
        r = api.post("_/actions/ev%d?blocking=true&result=true" % i, {}, timeout=60)
        return i, r.status_code, r.text

    # four clients, each action once, round-robin over all 200: every one is a cold start
    # past the first 30, each of which must make room
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(invoke, range(ACTIONS)))
    wrong = [(i, status, text[:200]) for i, status, text in answers
             if status != 200 or text.strip() != '{"i":%d}' % i]
    assert wrong == [], wrong

    log = open(stack.path("pool-manager", "pool-manager.log")).read()
    evicted = re.findall(r'"container_evicted".*?"id":"(\w+)"', log)
    assert len(evicted) >= ACTIONS - CAP - 4, "only %d evictions" % len(evicted)
    # an evicted container had nothing in flight: its sidecar drained nothing and exited 0
    assert "namespace_cap" not in log
    # and the namespace never held more containers than its cap
    assert len(stack.sidecars()) <= CAP + 4  # + the ones still draining out
