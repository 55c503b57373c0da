"""test_limits.py: namespace limits on invocations (ngx_http_ow_limit_module): per-minute and
concurrent counts with the messages of openwhisk-api.md §5, overrides from ow-admin taking
effect after the next sync, and release of the concurrent count when a request ends."""

import threading

import pytest

from conftest import assert_error
from owx import admin
from owx.stack import wait_until
from test_router import FakeSidecar, invoke, publish

STACK_OPTIONS = {"pool_manager": False}


@pytest.fixture(scope="module")
def db(stack):
    return stack.redis()


def set_limits(stack, ns, **limits):
    argv = stack.admin_args() + ["limits", "set", ns]
    for k, v in limits.items():
        argv += ["--" + k, str(v)]
    assert admin.main(argv) == 0


def synced(db, ns):
    """Wait for the gateway's next sync of ns (it records its in-flight count)."""
    db.delete("owx:{%s}:inflight" % ns)
    wait_until(lambda: db.exists("owx:{%s}:inflight" % ns) or None, 5, "a limits sync")


def test_invocations_per_minute(stack, api, make_user, db):
    user = make_user("minuteuser")
    sc = FakeSidecar()
    try:
        publish(db, "add", "c-min", action="minuteuser/a", port=sc.port)
        set_limits(stack, "minuteuser", invocationsPerMinute=3)
        # counts are per minute: the whole of a fresh one ahead
        minute = stack.fresh_minute()
        wait_until(lambda: invoke(user, "a").status_code == 200 or None, 5, "the container")
        synced(db, "minuteuser")
        # what the gateways reported for this minute (the tries before the container was
        # routable count too)
        counted = int(db.get("owx:{minuteuser}:rate:%d" % minute) or 0)
        assert 1 <= counted <= 3
        statuses = [invoke(user, "a").status_code for _ in range(4)]
        assert statuses == [200] * (3 - counted) + [429] * (1 + counted), statuses
        assert_error(invoke(user, "a"), 429,
                     "Too many requests in the last minute (count: 3, allowed: 3).")
        # the next minute admits again
        stack.fresh_minute()
        assert invoke(user, "a").status_code == 200
    finally:
        publish(db, "del", "c-min")
        sc.close()


def test_concurrent_invocations(stack, make_user, db):
    user = make_user("concuser")
    gate = threading.Event()
    sc = FakeSidecar(gate=gate)
    try:
        publish(db, "add", "c-conc", action="concuser/a", port=sc.port, concurrency=10)
        set_limits(stack, "concuser", concurrentInvocations=1)
        gate.set()
        wait_until(lambda: invoke(user, "a").status_code == 200 or None, 5, "the container")
        synced(db, "concuser")
        gate.clear()
        first = threading.Thread(target=invoke, args=(user, "a"))
        first.start()
        wait_until(lambda: sc.calls >= 2 or None, 5, "the first request to reach the container")
        assert_error(invoke(user, "a"), 429,
                     "Too many concurrent requests in flight (count: 1, allowed: 1).")
        gate.set()
        first.join(10)
        # the count is released when a request ends
        assert invoke(user, "a").status_code == 200
    finally:
        gate.set()
        publish(db, "del", "c-conc")
        sc.close()
