"""test_metrics_router.py: the router's metrics (ngx_http_ow_metrics_module) against stand-in
sidecars and no pool-manager, as in test_router.py: 429s of containers, the warm table's size
and event versions, failed capacity requests, and activations counted once per answer."""

from conftest import assert_error
from test_metrics import action_labels, scrape, settle, value
from owx.stack import wait_until
from test_router import FakeSidecar, db, invoke, publish  # noqa: F401 (db: fixture)

STACK_OPTIONS = {"pool_manager": False}
GUEST_LIMITS = {"invocationsPerMinute": 100000, "concurrentInvocations": 1000}


def test_a_429_is_counted_and_the_activation_once(stack, api, db):
    busy, free = FakeSidecar(busy=True), FakeSidecar()
    lab = action_labels("mpair")
    try:
        publish(db, "add", "m-busy", action="guest/mpair", port=busy.port, concurrency=4)
        publish(db, "add", "m-free", action="guest/mpair", port=free.port, concurrency=4)
        wait_until(lambda: invoke(api, "mpair").status_code == 200, 5, "the add events")
        # until the busy one has been tried once (its 429 keeps it aside for 5 s)
        for _ in range(50):
            if busy.calls:
                break
            assert invoke(api, "mpair").status_code == 200
        assert busy.calls > 0
        f = settle(stack, lambda f: value(f, "owx_container_429_total") >= busy.calls,
                   "the 429s")
        assert value(f, "owx_container_429_total") == busy.calls
        # every 200 is one activation, whatever the 429s before it
        answered = free.calls
        f = settle(stack, lambda f: value(f, "openwhisk_action_activations_total", **lab)
                   >= answered, "the activations")
        assert value(f, "openwhisk_action_activations_total", **lab) == answered
        assert value(f, "openwhisk_action_status", **dict(lab, status="success")) == answered
        assert value(f, "openwhisk_action_coldStarts_total", **lab) == 0
    finally:
        publish(db, "del", "m-busy")
        publish(db, "del", "m-free")
        busy.close()
        free.close()


def test_warm_table_size_and_versions(stack, api, db):
    sc = FakeSidecar()
    try:
        v = publish(db, "add", "m-warm", action="guest/mwarm", port=sc.port)
        f = settle(stack, lambda f: value(f, "owx_warm_version", which="applied") >= v,
                   "the event")
        assert value(f, "owx_warm_version", which="seen") == v
        assert value(f, "owx_warm_event_lag") == 0
        assert value(f, "owx_warm_containers") == 1
        # a gap: the event is seen; the resync brings "applied" back to it
        v = publish(db, "add", "m-warm2", action="guest/mwarm", port=sc.port, gap=1)
        f = settle(stack, lambda f: value(f, "owx_warm_version", which="applied") >= v
                   and value(f, "owx_warm_containers") == 2, "the resync")
        assert value(f, "owx_warm_event_lag") == 0
    finally:
        publish(db, "del", "m-warm")
        publish(db, "del", "m-warm2")
        sc.close()


def test_no_capacity_is_a_failed_capacity_request_and_no_activation(stack, api):
    before = scrape(stack)
    assert_error(invoke(api, "mnothing"), 503)
    # the response is counted in the log phase, after the client has it: a
    # scrape on the other worker may come first
    f = settle(stack, lambda f: value(f, "owx_capacity_requests_total", result="failed")
               >= value(before, "owx_capacity_requests_total", result="failed") + 1
               and value(f, "owx_http_responses_total", code="5xx")
               >= value(before, "owx_http_responses_total", code="5xx") + 1,
               "the failed capacity request and its 503")
    assert value(f, "owx_parked_requests") == 0
    assert value(f, "owx_parked_requests_total") == \
        value(before, "owx_parked_requests_total") + 1
    assert value(f, "openwhisk_action_activations_total", **action_labels("mnothing")) == 0
