"""test_leadership.py: two ow-pool-manager replicas on one Redis, black-box.

One leads (the Redis lease), the other forwards the control API to it; killing the leader
during a cold-start storm loses no request and leaks no container; a leader whose term was
ended behind its back (a newer fencing token) has its writes refused and steps down.

Lease 2 s, renewed every 250 ms. Waits are readiness waits with deadlines."""

import concurrent.futures
import json
import os
import signal
import time

import requests

from conftest import NODE_KIND
from owx.stack import wait_until

STACK_OPTIONS = {"pool_replicas": 2,
                 "pool_args": ["--lease", "2s", "--lease-renew", "250ms",
                               "--stemcells", "%s:256=1" % NODE_KIND,
                               "--health-interval", "200ms"]}

# slow enough to init that a kill lands while starts are under way
SLOW_INIT = """
const until = Date.now() + 300; while (Date.now() < until) {}
function main(p) { return {name: p.name, pid: process.pid} }
"""


def wait_for(what, fn, timeout=20):
    return wait_until(fn, timeout, what)


def health(addr):
    try:
        return requests.get("http://%s/health" % addr, timeout=2).json()
    except requests.RequestException:
        return None


def containers(stack, addr):
    return requests.get("http://%s/v1/containers" % addr, headers=stack.internal_headers,
                        timeout=10).json()


def sidecars(stack):
    """Container ids of this stack's live ow-sidecar processes."""
    return {argv[argv.index("--container-id") + 1]
            for argv in stack.sidecars().values() if "--container-id" in argv}


def known_ids(stack, addr):
    cs = containers(stack, addr)
    return {c["id"] for c in cs["containers"]} | {c["id"] for c in cs["stemcells"]}


def leader_index(stack):
    for i, addr in enumerate(stack.pool_addrs):
        h = health(addr)
        if h and h.get("leader"):
            return i
    return None


def put(api, name, code=SLOW_INIT):
    r = api.put("_/actions/%s?overwrite=true" % name,
                {"exec": {"kind": "nodejs:default", "code": code}})
    assert r.status_code == 200, r.text


def test_one_replica_leads_and_the_standby_forwards(stack, api):
    assert health(stack.pool_addrs[0])["leader"] is True
    assert health(stack.pool_addrs[1])["leader"] is False
    put(api, "fwd")
    # a capacity request sent to the standby is answered by the leader
    r = requests.post("http://%s/v1/capacity" % stack.pool_addrs[1],
                      json={"action": "guest/fwd"}, headers=stack.internal_headers, timeout=40)
    assert r.status_code == 200, r.text
    cid = r.json()["containers"][0]["id"]
    assert cid in {c["id"] for c in containers(stack, stack.pool_addrs[0])["containers"]}
    # the standby's view is the leader's
    assert cid in {c["id"] for c in containers(stack, stack.pool_addrs[1])["containers"]}
    # errors come through unchanged
    r = requests.post("http://%s/v1/capacity" % stack.pool_addrs[1],
                      json={"action": "guest/nothere"}, headers=stack.internal_headers,
                      timeout=40)
    assert r.status_code == 404, r.text
    assert set(r.json()) == {"error", "code"}
    r = api.post("_/actions/fwd?blocking=true&result=true", {"name": "a"}, timeout=60)
    assert r.status_code == 200 and r.json()["name"] == "a", r.text
    # one hop only: a request already forwarded is not forwarded again by a standby
    r = requests.post("http://%s/v1/capacity" % stack.pool_addrs[1],
                      json={"action": "guest/fwd"},
                      headers=dict(stack.internal_headers, **{"X-OW-Forwarded": "1"}), timeout=10)
    assert r.status_code == 503 and r.headers["X-OW-Not-Leader"] == "1", r.text
    assert r.json()["error"] == "This pool-manager replica is not the leader."


def test_killing_the_leader_during_a_cold_start_storm_loses_nothing(stack, api):
    n = 12
    for i in range(n):
        put(api, "storm%d" % i)
    leader = leader_index(stack)
    assert leader == 0
    standby = stack.pool_addrs[1]
    with open(stack.pool_pidfile(leader)) as f:
        leader_pid = int(f.read())

    def invoke(i):
        r = api.post("_/actions/storm%d?blocking=true&result=true" % i, {"name": str(i)},
                     timeout=90)
        return i, r.status_code, r.text

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(invoke, i) for i in range(n)]
        # kill once starts are under way (some containers starting, none answered yet)
        wait_for("starts under way", lambda: any(
            c["state"] == "starting"
            for c in containers(stack, stack.pool_addrs[0])["containers"]))
        os.kill(leader_pid, signal.SIGKILL)
        killed_ms = time.time() * 1000
        results = [f.result() for f in futures]
    for i, status, text in results:
        assert status == 200, (i, status, text)
        assert '"name":"%d"' % i in text.replace(" ", ""), text
    # the standby took the lease within the lease time + one renew period (its own log
    # says when: the requests above may take longer on a loaded machine)
    wait_for("the standby to lead", lambda: (health(standby) or {}).get("leader"), timeout=10)
    with open(stack.path("pool-manager", "pool-manager-1.log")) as f:
        events = [json.loads(line) for line in f if line.startswith("{")]
    took = next(e["ts"] for e in events if e.get("event") == "leading")
    assert took - killed_ms < 2000 + 250 + 500, took - killed_ms
    # no container leaked: every live sidecar of this stack is one the new leader knows
    # (adopted, started by it, or its stemcell); the dead leader's half-started ones and
    # its stemcell are gone
    def settled():
        live, known = sidecars(stack), known_ids(stack, standby)
        return live == known and live
    wait_for("live sidecars == the leader's pool", settled, timeout=20)
    # no action got a second container: one request each, one container each
    cs = containers(stack, standby)["containers"]
    for i in range(n):
        mine = [c for c in cs if c["action"] == "guest/storm%d" % i]
        assert len(mine) == 1, (i, mine)
    r = stack.redis()
    table = r.hgetall("owx:{warm}")
    assert set(table) == {c["id"] for c in cs}


def test_a_fenced_leader_steps_down_and_its_start_is_not_leaked(stack, api):
    # (after the previous test the leader is replica 1; replica 0 is dead)
    leader = stack.pool_addrs[1]
    assert health(leader)["leader"] is True
    # restart replica 0: it follows
    stack.start_pool_replica(0)
    wait_for("replica 0 to follow", lambda: health(stack.pool_addrs[0]) is not None)
    assert health(stack.pool_addrs[0])["leader"] is False
    put(api, "fenced")
    r = stack.redis()
    # end the leader's term behind its back: its next warm-table write is refused
    r.incr("owx:{warm}:leader:token")
    t = api.post("_/actions/fenced?blocking=true&result=true", {"name": "f"}, timeout=90)
    assert t.status_code == 200, t.text
    assert t.json()["name"] == "f"
    wait_for("the fenced leader to exit", lambda: health(leader) is None, timeout=10)
    new = stack.pool_addrs[0]
    wait_for("replica 0 to lead", lambda: (health(new) or {}).get("leader"), timeout=10)
    wait_for("live sidecars == the leader's pool",
             lambda: sidecars(stack) == known_ids(stack, new), timeout=20)
    # (the fenced leader may have answered with its container before exiting, which then
    # served the request and was removed as an orphan: the next request starts one)
    t = api.post("_/actions/fenced?blocking=true&result=true", {"name": "g"}, timeout=90)
    assert t.status_code == 200 and t.json()["name"] == "g", t.text
    cs = [c for c in containers(stack, new)["containers"] if c["action"] == "guest/fenced"]
    assert len(cs) == 1, cs
    assert sidecars(stack) == known_ids(stack, new)
