"""test_collector.py: mark-and-sweep garbage collection, black-box, through the real
processes: nginx (router: skips marked containers, uses the last one and asks for an
unmark) → ow-pool-manager (garbage collector) → ow-sidecar → Node.js runtime.

The stack runs with short collection options (below); what a test waits for it waits
for with a deadline (warm-table events, /v1/containers), never a fixed sleep."""

import json
import threading
import time

import pytest
import requests

from owx.stack import wait_until

IDLE, GRACE = 2.0, 3.0
STACK_OPTIONS = {"pool_args": ["--idle-timeout", "2s", "--gc-grace", "3s",
                               "--gc-interval", "200ms", "--health-interval", "200ms",
                               "--gc-min-warm", "0", "--stop-grace", "30s"]}

PID = "function main(p) { return {pid: process.pid} }"
SLOW = ("function main(p) { return new Promise(r => setTimeout(() => r({pid: process.pid}),"
        " p.ms)) }")


def put(api, name, code):
    r = api.put("_/actions/%s?overwrite=true" % name, {"exec": {"kind": "nodejs:default",
                                                                "code": code}})
    assert r.status_code == 200, r.text


def invoke(api, name, params=None):
    r = api.post("_/actions/%s?blocking=true&result=true" % name, params or {}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def containers(stack, name):
    cs = requests.get("http://%s/v1/containers" % stack.pool_addr, timeout=5,
                      headers=stack.internal_headers).json()
    return [c for c in cs["containers"] if c["action"] == "guest/" + name]


class Events:
    """owx:warm:events, subscribed before the step under test."""

    def __init__(self, stack):
        self.r = stack.redis()
        self.p = self.r.pubsub()
        self.p.subscribe("owx:warm:events")
        assert self.p.get_message(timeout=10)["type"] == "subscribe"

    def next_for(self, cid, timeout):
        """The next mark/unmark/del event about container cid (and when it arrived), or
        None. Its "add" (published when it became ready) may arrive after the capacity
        answer: skipped."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.p.get_message(timeout=end - time.monotonic())
            if m and m["type"] == "message":
                e = json.loads(m["data"])
                if e["id"] == cid and e["op"] != "add":
                    return e, time.monotonic()
        return None, time.monotonic()

    def close(self):
        self.p.close()
        self.r.close()


@pytest.fixture
def events(stack):
    ev = Events(stack)
    yield ev
    ev.close()


def only_container(stack, name):
    cs = containers(stack, name)
    assert len(cs) == 1, cs
    return cs[0]


def test_steady_traffic_is_not_collected(api, stack, events):
    put(api, "gc_steady", PID)
    pid = invoke(api, "gc_steady")["pid"]
    cid = only_container(stack, "gc_steady")["id"]
    # a request every IDLE/4 for three idle timeouts: never idle long enough
    end = time.monotonic() + 3 * IDLE
    while time.monotonic() < end:
        assert invoke(api, "gc_steady")["pid"] == pid
        e, _ = events.next_for(cid, timeout=IDLE / 4)
        assert e is None, "a container in use was %sed" % e["op"]
    c = only_container(stack, "gc_steady")
    assert c["id"] == cid and c["state"] == "warm"


def test_idle_container_is_marked_then_swept_after_grace(api, stack, events):
    put(api, "gc_idle", PID)
    invoke(api, "gc_idle")
    c = only_container(stack, "gc_idle")
    e, marked_at = events.next_for(c["id"], timeout=IDLE + 5)
    assert e is not None and e["op"] == "mark", e
    assert e["marked"] is True and e["action"] == "guest/gc_idle" and e["addr"] == c["addr"]
    entry = json.loads(events.r.hget("owx:{warm}", c["id"]))
    assert entry["marked"] is True
    assert only_container(stack, "gc_idle")["state"] == "marked"

    e, swept_at = events.next_for(c["id"], timeout=GRACE + 5)
    assert e is not None and e["op"] == "del", e
    assert swept_at - marked_at >= GRACE - 0.3, "swept before the grace period"
    assert not events.r.hexists("owx:{warm}", c["id"])
    # drained (SIGTERM), then gone
    wait_until(lambda: not containers(stack, "gc_idle"), 10, "the swept container to be gone",
               detail=lambda: containers(stack, "gc_idle"))
    # the next request is a cold start on a new container, and it works
    assert "pid" in invoke(api, "gc_idle")
    assert only_container(stack, "gc_idle")["id"] != c["id"]


def test_request_while_marked_unmarks_and_uses_the_same_container(api, stack, events):
    put(api, "gc_unmark", PID)
    pid = invoke(api, "gc_unmark")["pid"]
    c = only_container(stack, "gc_unmark")
    e, _ = events.next_for(c["id"], timeout=IDLE + 5)
    assert e is not None and e["op"] == "mark", e

    # the only (marked) container serves the request: no cold start
    assert invoke(api, "gc_unmark")["pid"] == pid
    # unmarked: at once when the gateway had seen the mark (it asks for the unmark),
    # else at the end of the grace, when the collector sees the use the sidecar
    # reports (a gateway behind on the events routes to it as a warm container);
    # never swept
    # In the second case the last use is a grace old by then, longer than the idle
    # timeout, so the same pass may mark it again: the table is not read here, the
    # unmark event carries the entry as written.
    e, _ = events.next_for(c["id"], timeout=GRACE + 5)
    assert e is not None and e["op"] == "unmark", e
    assert "marked" not in e, e
    after = only_container(stack, "gc_unmark")
    assert after["id"] == c["id"] and after["state"] in ("warm", "marked"), after
    assert events.r.hlen("owx:{warm}:unmark") == 0, "the gateway's request was consumed"
    # still the same container: never swept while it was being used
    assert invoke(api, "gc_unmark")["pid"] == pid


def test_long_invocation_is_not_swept_while_in_flight(api, stack, events):
    put(api, "gc_long", SLOW)
    pid = invoke(api, "gc_long", {"ms": 1})["pid"]
    c = only_container(stack, "gc_long")
    result = {}

    def run():  # in flight for longer than idle timeout + grace
        result["r"] = invoke(api, "gc_long", {"ms": int((IDLE + GRACE + 1.5) * 1000)})

    t = threading.Thread(target=run)
    t.start()
    try:
        e, _ = events.next_for(c["id"], timeout=IDLE + GRACE + 1)
        assert e is None, "a container with work in flight was %sed" % e["op"]
    finally:
        t.join(timeout=30)
    assert result["r"] == {"pid": pid}
    assert only_container(stack, "gc_long")["id"] == c["id"]
    # once its work is done it goes like any idle one: marked, then swept
    e, _ = events.next_for(c["id"], timeout=IDLE + 5)
    assert e is not None and e["op"] == "mark", e
    e, _ = events.next_for(c["id"], timeout=GRACE + 5)
    assert e is not None and e["op"] == "del", e
