"""test_eviction_stemcells.py: stemcells hold room on their node, and are the first to go when a
real action needs it (issue 14). One node with room for two 256 MB containers; one prewarmed
Python stemcell holds half of it. A Node.js action's container takes the other half; the next
action's cold start finds the node full and stops the stemcell, not the idle container of a
real action, and starts once the stemcell has exited."""

import json

from conftest import NODE_KIND
from owx.stack import wait_until

GUEST_LIMITS = {"invocationsPerMinute": 10000}
STACK_OPTIONS = {"pool_args": ["--nodes", "n1:cpu=8000,mem=512,gpu=0,max=50",
                               "--stemcells", "python:default:256=1",
                               "--health-interval", "100ms"]}
HELLO = "function main() { return {from: '%s', pid: process.pid}; }"


def pool(stack):
    return json.loads(stack.pool_get("/v1/containers"))


def test_a_stemcell_holds_room_and_is_the_first_to_go(stack, api):
    cell = wait_until(lambda: [s for s in pool(stack)["stemcells"] if s["state"] == "ready"],
                      20, "the Python stemcell")[0]
    assert cell["node"] == "n1" and cell["memory"] == 256, cell
    for name in ("a", "b"):
        r = api.put("_/actions/%s" % name, {"exec": {"kind": NODE_KIND, "code": HELLO % name}})
        assert r.status_code == 200, r.text
    r = api.post("_/actions/a?blocking=true&result=true", {}, timeout=30)
    assert r.status_code == 200 and r.json()["from"] == "a", r.text
    a_pid = r.json()["pid"]
    # the node: a's container and the stemcell (the allocator's gauge says it is full)
    assert 'owx_pool_manager_node_memory_mb{node="n1",which="used"} 512' in stack.pool_metrics()
    # b's cold start: no room; the stemcell goes, a's container (idle) stays
    r = api.post("_/actions/b?blocking=true&result=true", {}, timeout=30)
    assert r.status_code == 200 and r.json()["from"] == "b", r.text
    now = pool(stack)
    assert sorted(c["action"] for c in now["containers"] if c["state"] == "warm") == \
        ["guest/a", "guest/b"], now
    assert cell["id"] not in {s["id"] for s in now["stemcells"]}, now["stemcells"]
    r = api.post("_/actions/a?blocking=true&result=true", {}, timeout=30)
    assert r.status_code == 200 and r.json()["pid"] == a_pid, "a's container was kept"
    log = open(stack.path("pool-manager", "pool-manager.log")).read()
    stopped = [json.loads(line) for line in log.splitlines()
               if '"event":"stemcell_stopping"' in line]
    assert any(e["id"] == cell["id"] and e["reason"] == "room" for e in stopped), stopped
    assert '"event":"container_evicted"' not in log
    # the stemcell is tried again, and finds no room while real work fills the node
    wait_until(lambda: '"event":"stemcell_no_room"' in
               open(stack.path("pool-manager", "pool-manager.log")).read(), 10,
               "a refill refused for lack of room")
    assert pool(stack)["stemcells"] == []
