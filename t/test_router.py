"""test_router.py: the gateway's router (ngx_http_ow_router_module): the warm table in shared
memory kept by the pool-manager's events, picking a container, 429 → next container, misses
without a pool-manager, and what reaches the sidecar. The containers here are small HTTP
servers standing in for sidecars (the sidecar has its own tests); the point is nginx."""

import json
import time

import pytest

from conftest import GUEST, Api, assert_error
from owx.standin import BackgroundServer, QuietHandler
from owx.stack import wait_until


# nginx's router alone: no pool-manager (it would repair the warm table these tests write),
# and room for the polling below within guest's per-minute limit
STACK_OPTIONS = {"pool_manager": False}
GUEST_LIMITS = {"invocationsPerMinute": 100000, "concurrentInvocations": 1000}


class FakeSidecar(BackgroundServer):
    """Answers POST /invoke with what it received; or 429 with Retry-After when busy."""

    def __init__(self, busy=False, gate=None):
        self.busy = busy
        self.gate = gate          # a threading.Event to wait on before answering
        self.calls = 0
        outer = self

        class Handler(QuietHandler):
            def do_POST(self):
                outer.calls += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.gate is not None:
                    outer.gate.wait(10)
                if outer.busy:
                    out, status = b'{"error":"busy","code":"x"}', 429
                else:
                    out = json.dumps({"port": outer.port, "path": self.path,
                                      "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body.decode()}).encode()
                    status = 200
                self.send_json(status, out,
                               [("Retry-After", "5")] if status == 429 else [])

        super().__init__(Handler)


@pytest.fixture(scope="module")
def db(stack):
    return stack.redis()


def publish(db, op, cid, action="guest/hello", port=None, concurrency=1, gap=0, silent=False):
    """What the pool-manager does: change owx:{warm}, bump the version, publish the event."""
    entry = {"id": cid, "action": action, "addr": "127.0.0.1:%d" % (port or 1),
             "concurrency": concurrency}
    if op == "add":
        db.hset("owx:{warm}", cid, json.dumps(entry))
    else:
        db.hdel("owx:{warm}", cid)
    v = db.incr("owx:{warm}:ver", 1 + gap)
    if not silent:
        db.publish("owx:warm:events", json.dumps(dict(entry, v=v, op=op)))
    return v


def invoke(api, name="hello", **kw):
    return api.post("_/actions/" + name + "?blocking=true&result=true", {"p": 1}, **kw)


def test_warm_invoke_reaches_the_sidecar_with_the_context(api, db, stack):
    sc = FakeSidecar()
    try:
        publish(db, "add", "c-warm", port=sc.port)
        r = wait_until(lambda: (lambda r: r if r.status_code == 200 else None)(invoke(api)),
                       5, "the add event to reach the gateway")
        seen = r.json()
        assert seen["path"] == "/invoke?blocking=true&result=true"
        assert json.loads(seen["body"]) == {"p": 1}
        h = seen["headers"]
        assert h["x-ow-activation-id"] == r.headers["X-Request-ID"]
        assert len(h["x-ow-activation-id"]) == 32
        assert h["x-ow-namespace"] == "guest" and h["x-ow-subject"] == "guest"
        assert h["x-ow-path"] == "guest/hello"
        assert abs(int(h["x-ow-accept-time"]) - time.time() * 1000) < 60000
        assert h["authorization"].startswith("Basic ")
        # the internal token: sidecars answer 401 without it
        assert h["x-ow-token"] == stack.internal_token
    finally:
        publish(db, "del", "c-warm")
        sc.close()


def test_removed_container_is_not_used(api, db):
    sc = FakeSidecar()
    try:
        publish(db, "add", "c-gone", action="guest/gone", port=sc.port)
        wait_until(lambda: invoke(api, "gone").status_code == 200, 5, "add event")
        publish(db, "del", "c-gone", action="guest/gone")
        # no container, no pool-manager in this stack: 503 with Retry-After
        r = wait_until(lambda: (lambda r: r if r.status_code == 503 else None)(invoke(api, "gone")),
                       5, "the del event to reach the gateway")
        assert_error(r, 503)
        assert r.headers["Retry-After"] == "1"
    finally:
        sc.close()


def test_a_version_gap_resyncs_the_whole_table(api, db):
    hidden, other = FakeSidecar(), FakeSidecar()
    try:
        # a change whose event the gateway never sees...
        publish(db, "add", "c-hidden", action="guest/hidden", port=hidden.port, silent=True)
        # ...then an event whose version shows the gap
        publish(db, "add", "c-other", action="guest/other", port=other.port)
        r = wait_until(lambda: (lambda r: r if r.status_code == 200 else None)(invoke(api, "hidden")),
                       5, "the resync after the gap")
        assert r.json()["port"] == hidden.port
    finally:
        publish(db, "del", "c-hidden")
        publish(db, "del", "c-other")
        hidden.close()
        other.close()


def test_429_moves_to_the_next_container(api, db):
    busy, free = FakeSidecar(busy=True), FakeSidecar()
    try:
        publish(db, "add", "c-busy", action="guest/pair", port=busy.port, concurrency=4)
        wait_until(lambda: invoke(api, "pair").status_code == 503 or busy.calls > 0, 5, "add busy")
        publish(db, "add", "c-free", action="guest/pair", port=free.port, concurrency=1)
        # whichever is tried first, the answer comes from the free one
        for _ in range(5):
            r = wait_until(lambda: (lambda r: r if r.status_code == 200 else None)(invoke(api, "pair")),
                           5, "a 200 from the free container")
            assert r.json()["port"] == free.port
        # after its 429 the busy one is left alone for its Retry-After (5 s)
        calls = busy.calls
        for _ in range(5):
            assert invoke(api, "pair").status_code == 200
        assert busy.calls == calls
    finally:
        publish(db, "del", "c-busy")
        publish(db, "del", "c-free")
        busy.close()
        free.close()


def test_every_container_busy_and_no_pool_manager_is_503(api, db):
    busy = FakeSidecar(busy=True)
    try:
        publish(db, "add", "c-only", action="guest/only", port=busy.port)
        r = wait_until(lambda: (lambda r: r if busy.calls else None)(invoke(api, "only")),
                       5, "the add event")
        assert_error(r, 503)
        assert r.headers["Retry-After"] == "1"
    finally:
        publish(db, "del", "c-only")
        busy.close()


def test_bad_requests(stack, api):
    assert_error(Api(stack, None).post("_/actions/hello", {}), 401)
    assert_error(api.post("_/actions/bad%20", {}), 400)
    assert_error(api.post("whisk.system/actions/hello", {}), 403)
    r = api.post("_/actions/hello", data=b'{"a":"' + b"x" * (1024 * 1024 + 10) + b'"}',
                 headers={"Content-Type": "application/json"})
    assert_error(r, 413)
    assert "1048576" in r.json()["error"]


def test_the_table_survives_a_reload(stack, api, db):
    sc = FakeSidecar()
    try:
        publish(db, "add", "c-reload", action="guest/reload", port=sc.port)
        wait_until(lambda: invoke(api, "reload").status_code == 200, 5, "add event")
        stack.reload_nginx()
        # new connections: the old workers close their idle keepalive ones
        for _ in range(10):
            assert invoke(Api(stack, GUEST), "reload", timeout=5).status_code == 200
    finally:
        publish(db, "del", "c-reload")
        sc.close()
