"""test_stemcells.py: prewarm ("stemcell") pools, black-box, through the real processes:
nginx → ow-pool-manager (stemcell_pool.h) → ow-sidecar --stemcell → Node.js runtime.

The stack keeps two Node.js 256 MB stemcells with a short TTL. What a test waits for it
waits for with a deadline (polling GET /v1/containers), never a fixed sleep."""

import os
import time

import requests

from owx.stack import wait_until

TTL = 6.0
STACK_OPTIONS = {"pool_args": ["--stemcells", "nodejs:default:256=2",
                               "--stemcell-ttl", "%ds" % TTL]}

PID = "function main(p) { return {pid: process.pid} }"


def pool(stack):
    return requests.get("http://%s/v1/containers" % stack.pool_addr, timeout=5,
                        headers=stack.internal_headers).json()


def ready_stemcells(stack, want=2, deadline=30.0, exclude=()):
    """Polls until `want` stemcells are ready (none of them in exclude); returns them."""
    def ready():
        cells = [c for c in pool(stack)["stemcells"]
                 if c["state"] == "ready" and c["id"] not in exclude]
        return cells if len(cells) >= want else None
    return wait_until(ready, deadline, "%d ready stemcells" % want,
                      detail=lambda: pool(stack)["stemcells"])


def children(pid):
    out = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.add(int(p))
    return out


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().split(b"\0")


def put(api, name, code=PID, memory=256):
    r = api.put("_/actions/%s?overwrite=true" % name,
                {"exec": {"kind": "nodejs:default", "code": code}, "limits": {"memory": memory}})
    assert r.status_code == 200, r.text


def containers_of(stack, name):
    return [c for c in pool(stack)["containers"] if c["action"] == "guest/" + name]


def test_cold_start_is_served_by_a_prestarted_stemcell_and_the_pool_refills(api, stack):
    cells = ready_stemcells(stack)
    ids = {c["id"] for c in cells}
    runtimes = {}
    for c in cells:
        argv = cmdline(c["pid"])
        assert b"--stemcell" in argv and b"--action" not in argv, argv
        runtimes[c["id"]] = children(c["pid"])
        assert runtimes[c["id"]], "the stemcell's runtime runs before any action exists"
    before = {c["id"]: c["started"] for c in cells}
    put(api, "hot")
    t0 = time.time() * 1000
    r = api.post("_/actions/hot?blocking=true&result=true", {}, timeout=60)
    assert r.status_code == 200, r.text
    [c] = containers_of(stack, "hot")
    assert c["id"] in ids, (c, ids)
    assert c["pid"] == next(s["pid"] for s in cells if s["id"] == c["id"])
    # the action ran in the runtime process started before the invoke
    assert r.json()["pid"] in runtimes[c["id"]]
    assert before[c["id"]] < t0
    assert c["kind"].startswith("nodejs:") and c["memory"] == 256
    # it is no stemcell any more, and the pool is back to two (a fresh one)
    left = pool(stack)["stemcells"]
    assert c["id"] not in {s["id"] for s in left}
    fresh = ready_stemcells(stack, want=2, exclude={c["id"]})
    assert len(ids | {s["id"] for s in fresh}) == 3
    # warm from now on: the same container
    r = api.post("_/actions/hot?blocking=true&result=true", {}, timeout=60)
    assert r.status_code == 200 and containers_of(stack, "hot")[0]["id"] == c["id"]


def test_other_memory_starts_from_nothing(api, stack):
    cells = ready_stemcells(stack)
    put(api, "big", memory=512)
    r = api.post("_/actions/big?blocking=true&result=true", {}, timeout=60)
    assert r.status_code == 200, r.text
    [c] = containers_of(stack, "big")
    assert c["id"] not in {s["id"] for s in cells}
    assert c["memory"] == 512
    assert {s["id"] for s in ready_stemcells(stack)} >= {s["id"] for s in cells}, \
        "no stemcell was used"


def test_init_failure_answers_as_a_start_from_nothing_does(api, stack):
    bad = "function main( { syntax error"
    put(api, "badcell", code=bad)             # 256 MB: through a stemcell
    put(api, "badfresh", code=bad, memory=512)  # from nothing
    ready_stemcells(stack)
    a = api.post("_/actions/badcell?blocking=true", {}, timeout=60)
    b = api.post("_/actions/badfresh?blocking=true", {}, timeout=60)
    assert a.status_code == b.status_code, (a.text, b.text)
    ja, jb = a.json(), b.json()
    # the same message (the "code" is each request's own id)
    ea, eb = ja.get("response", ja).get("result", ja), jb.get("response", jb).get("result", jb)
    assert ea["error"] == eb["error"], (ja, jb)
    assert containers_of(stack, "badcell") == []
    ready_stemcells(stack)  # the spent stemcell was replaced


def test_unused_stemcells_are_replaced_after_the_ttl(stack):
    old = {c["id"] for c in ready_stemcells(stack)}

    def ready_ids():
        return {c["id"] for c in pool(stack)["stemcells"] if c["state"] == "ready"}
    wait_until(lambda: (lambda now: len(now) == 2 and not (now & old))(ready_ids()), TTL + 30,
               "two new ready stemcells", detail=lambda: (old, ready_ids()))
