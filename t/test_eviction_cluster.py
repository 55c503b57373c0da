"""test_eviction_cluster.py: a full cluster makes room (issue 14). When no node has room for a
cold start, the least recently used idle container of any namespace is retired, and the start
waits for its exit instead of answering 503; a busy container is never the one to go."""

from conftest import NODE_KIND
from owx.stack import wait_until

# one node with room for two 256 MB containers, no stemcell holding any of it
GUEST_LIMITS = {"invocationsPerMinute": 10000}
STACK_OPTIONS = {"pool_args": ["--nodes", "n1:cpu=8000,mem=512,gpu=0,max=50",
                               "--stemcells", "", "--health-interval", "100ms"]}
HELLO = "function main() { return {from: '%s'}; }"


def idle_seen(stack, n, deadline=10.0):
    """The pool-manager has seen n warm containers, all idle (its eviction needs that)."""
    def seen():
        warm = [c for c in stack.pool_containers() if c["state"] == "warm"]
        return len(warm) == n and all(c.get("health", {}).get("inflight", 1) == 0
                                      for c in warm)
    wait_until(seen, deadline, "%d idle containers" % n, detail=stack.pool_containers)


def test_a_full_cluster_evicts_the_least_recently_used_idle_container(stack, api, make_user):
    other = make_user("other")
    for user, name in ((api, "a"), (api, "b"), (other, "c")):
        r = user.put("_/actions/%s" % name, {"exec": {"kind": NODE_KIND, "code": HELLO % name}})
        assert r.status_code == 200, r.text
    # guest's a, then b: the node is full
    for name in ("a", "b"):
        r = api.post("_/actions/%s?blocking=true&result=true" % name, {}, timeout=30)
        assert r.json() == {"from": name}, r.text
    idle_seen(stack, 2)
    # another namespace's cold start: a (least recently used) makes room
    r = other.post("_/actions/c?blocking=true&result=true", {}, timeout=30)
    assert r.status_code == 200 and r.json() == {"from": "c"}, r.text
    actions = sorted(c["action"] for c in stack.pool_containers() if c["state"] == "warm")
    assert actions == ["guest/b", "other/c"], actions
    log = open(stack.path("pool-manager", "pool-manager.log")).read()
    assert '"reason":"no node has room"' in log
    # and a is served again, by evicting the least recently used idle one (b)
    idle_seen(stack, 2)
    r = api.post("_/actions/a?blocking=true&result=true", {}, timeout=30)
    assert r.status_code == 200 and r.json() == {"from": "a"}, r.text
    actions = sorted(c["action"] for c in stack.pool_containers() if c["state"] == "warm")
    assert actions == ["guest/a", "other/c"], actions
