"""test_sequences.py: sequences and conductor actions run by the gateway
(ngx_http_ow_compose_module.c, openwhisk-api.md §4 "Sequences" and §5):
chaining, the sequence's own activation record and its components' (cause,
causedBy), blocking / result / non-blocking answers, error propagation with
the failing component's status, nested sequences, array results, a
component missing at run time, the conductor loop, and one limit check per
sequence."""

import pytest

from conftest import assert_error, wait_activation
from owx import admin
from owx.stack import wait_until

INC = "function main(p) { return {n: (p.n || 0) + 1} }"
DOUBLE = "function main(p) { return {n: p.n * 2} }"
FAIL = "function main(p) { return {error: 'boom at ' + p.n} }"
THROW = "function main(p) { throw new Error('thrown') }"
PAIR = "function main(p) { return [p.n, p.n] }"
# a conductor: inc, then double, then done with the last params
CONDUCTOR = """
function main(p) {
  const step = p.$step || 0;
  if (step === 0) return {action: 'inc', params: {n: p.n}, state: {$step: 1}};
  if (step === 1) return {action: '/_/double', params: {n: p.n}, state: {$step: 2}};
  return {params: {n: p.n, steps: step}};
}
"""


def put_action(api, name, code, **extra):
    body = {"exec": {"kind": "nodejs:default", "code": code}}
    body.update(extra)
    r = api.put("_/actions/%s?overwrite=true" % name, body)
    assert r.status_code == 200, r.text


def put_sequence(api, name, components):
    r = api.put("_/actions/%s?overwrite=true" % name,
                {"exec": {"kind": "sequence", "components": components}})
    assert r.status_code == 200, r.text
    return r.json()


def ann(record):
    return {a["key"]: a["value"] for a in record["annotations"]}


@pytest.fixture(scope="module")
def components(api):
    put_action(api, "inc", INC)
    put_action(api, "double", DOUBLE)
    put_action(api, "fail", FAIL)
    put_action(api, "throw", THROW)
    put_action(api, "pair", PAIR)
    put_sequence(api, "incdouble", ["/guest/inc", "/_/double"])
    return api


def test_blocking_result_chains_the_components(components):
    api = components
    r = api.post("_/actions/incdouble?blocking=true&result=true", {"n": 1},
                 timeout=90)
    assert r.status_code == 200, r.text
    assert r.json() == {"n": 4}
    assert len(r.headers["x-openwhisk-activation-id"]) == 32


def test_sequence_record_and_component_records(components):
    api = components
    r = api.post("_/actions/incdouble?blocking=true", {"n": 5}, timeout=90)
    assert r.status_code == 200, r.text
    rec = r.json()
    sid = rec["activationId"]
    assert r.headers["x-openwhisk-activation-id"] == sid
    assert rec["namespace"] == "guest" and rec["name"] == "incdouble"
    # the last component's response, its size included
    assert rec["response"] == {"status": "success", "success": True,
                               "result": {"n": 12},
                               "size": rec["response"]["size"]}
    assert "cause" not in rec
    a = ann(rec)
    assert a["topmost"] is True and a["kind"] == "sequence"
    assert a["path"] == "guest/incdouble"
    assert a["limits"]["memory"] == 256 and "causedBy" not in a
    assert len(rec["logs"]) == 2

    # the stored record is the answer
    assert wait_activation(api, sid) == rec

    comps = [wait_activation(api, cid) for cid in rec["logs"]]
    assert [c["name"] for c in comps] == ["inc", "double"]
    assert [c["response"]["result"] for c in comps] == [{"n": 6}, {"n": 12}]
    for c in comps:
        assert c["cause"] == sid
        assert ann(c)["causedBy"] == "sequence"
    assert rec["duration"] == sum(c["duration"] for c in comps)
    assert rec["start"] <= comps[0]["start"] and rec["end"] >= comps[1]["end"]


def test_non_blocking_answers_at_once_and_runs_on(components):
    api = components
    r = api.post("_/actions/incdouble", {"n": 2}, timeout=30)
    assert r.status_code == 202, r.text
    sid = r.json()["activationId"]
    assert r.json() == {"activationId": sid}
    assert r.headers["x-openwhisk-activation-id"] == sid
    rec = wait_activation(api, sid, deadline=60)
    assert rec["response"]["result"] == {"n": 6}
    assert len(rec["logs"]) == 2


def test_stops_at_the_first_error_with_its_status(components):
    api = components
    put_sequence(api, "failing", ["/_/inc", "/_/fail", "/_/double"])
    r = api.post("_/actions/failing?blocking=true&result=true", {"n": 1},
                 timeout=90)
    assert r.status_code == 502, r.text
    assert r.json() == {"error": "boom at 2"}

    rec = api.post("_/actions/failing?blocking=true", {"n": 1},
                   timeout=90).json()
    assert rec["response"]["status"] == "application error"
    assert rec["response"]["success"] is False
    assert len(rec["logs"]) == 2, "double never ran"
    assert wait_activation(api, rec["logs"][1])["name"] == "fail"

    # a developer error (the action threw) stops it with that status
    put_sequence(api, "throwing", ["/_/throw", "/_/inc"])
    rec = api.post("_/actions/throwing?blocking=true", {}, timeout=90).json()
    assert rec["response"]["status"] == "action developer error"
    assert len(rec["logs"]) == 1


def test_nested_sequence(components):
    api = components
    put_sequence(api, "outer", ["/_/inc", "/_/incdouble", "/_/inc"])
    r = api.post("_/actions/outer?blocking=true", {"n": 0}, timeout=120)
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["response"]["result"] == {"n": 5}      # ((0+1)+1)*2+1
    assert len(rec["logs"]) == 3
    inner = wait_activation(api, rec["logs"][1])
    assert inner["name"] == "incdouble" and inner["cause"] == rec["activationId"]
    a = ann(inner)
    assert a["topmost"] is False and a["causedBy"] == "sequence"
    assert a["kind"] == "sequence"
    assert len(inner["logs"]) == 2
    for cid in inner["logs"]:
        assert wait_activation(api, cid)["cause"] == inner["activationId"]
    assert ann(rec)["topmost"] is True
    assert rec["duration"] == sum(wait_activation(api, c)["duration"]
                                  for c in rec["logs"])


def test_array_result_is_the_body(components):
    api = components
    put_sequence(api, "pairs", ["/_/inc", "/_/pair"])
    for q in ("blocking=true", "blocking=true&result=true"):
        r = api.post("_/actions/pairs?" + q, {"n": 1}, timeout=90)
        assert r.status_code == 200, r.text
        assert r.json() == [2, 2]
    sid = r.headers["x-openwhisk-activation-id"]
    assert wait_activation(api, sid)["response"]["result"] == [2, 2]


def test_a_result_near_the_limit_passes_whole(components):
    """A component's answer of almost 1 MB (its record, the result inside) reaches the
    next component and the client whole, however the gateway's proxy cuts it into
    pieces."""
    api = components
    put_action(api, "big", "function main(p) { return {s: 'x'.repeat(p.size)} }")
    put_action(api, "size", "function main(p) { return {size: p.s.length, "
                            "same: p.s === 'x'.repeat(p.s.length)} }")
    put_sequence(api, "bigsize", ["/_/big", "/_/size"])
    r = api.post("_/actions/bigsize?blocking=true&result=true", {"size": 1000 * 1000 - 64},
                 timeout=90)
    assert r.status_code == 200, r.text
    assert r.json() == {"size": 1000 * 1000 - 64, "same": True}
    put_sequence(api, "bigone", ["/_/big"])
    r = api.post("_/actions/bigone?blocking=true&result=true", {"size": 900 * 1000},
                 timeout=90)
    assert r.status_code == 200, r.text
    assert r.json() == {"s": "x" * (900 * 1000)}


def test_component_missing_at_run_time(components):
    api = components
    put_action(api, "gone", INC)
    put_sequence(api, "broken", ["/_/inc", "/_/gone"])
    assert api.delete("_/actions/gone").status_code == 200
    r = api.post("_/actions/broken?blocking=true", {}, timeout=90)
    assert r.status_code == 502, r.text
    rec = r.json()
    assert rec["response"] == {"status": "application error", "success": False,
                               "result": {"error": "Sequence component does not exist."}}
    assert len(rec["logs"]) == 1


def test_sequence_changed_is_run_as_changed(components):
    """The router remembers a sequence; an update makes it forget."""
    api = components
    put_sequence(api, "mutable", ["/_/inc"])
    r = api.post("_/actions/mutable?blocking=true&result=true", {"n": 1},
                 timeout=90)
    assert r.json() == {"n": 2}
    put_sequence(api, "mutable", ["/_/inc", "/_/inc", "/_/inc"])

    def the_new_one_runs():
        r = api.post("_/actions/mutable?blocking=true&result=true", {"n": 1},
                     timeout=90)
        if r.json() == {"n": 4}:
            return True
        assert r.json() == {"n": 2}
        return False
    wait_until(the_new_one_runs, 10, "the new sequence (the old one is still run)")


def test_bad_timeout_and_body(components):
    api = components
    assert_error(api.post("_/actions/incdouble?blocking=true&timeout=0", {}),
                 400, "Timeout must be number of milliseconds up to 60000.")
    r = api.request("POST", "_/actions/incdouble?blocking=true", data="[1]",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text


def test_client_cannot_set_the_cause(components):
    api = components
    fake = "ab" * 16
    r = api.post("_/actions/inc?blocking=true", {"n": 1}, timeout=60,
                 headers={"X-OW-Cause": fake})
    assert r.status_code == 200, r.text
    rec = wait_activation(api, r.json()["activationId"])
    assert "cause" not in rec and "causedBy" not in ann(rec)


def test_conductor_action(components):
    api = components
    put_action(api, "conductor", CONDUCTOR,
               annotations=[{"key": "conductor", "value": True}])
    r = api.post("_/actions/conductor?blocking=true", {"n": 3}, timeout=120)
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["response"]["result"] == {"n": 8, "steps": 2}
    a = ann(rec)
    assert a["conductor"] is True and a["kind"] == "sequence"
    assert a["topmost"] is True and a["path"] == "guest/conductor"
    # conductor, inc, conductor, double, conductor
    names = [wait_activation(api, i)["name"] for i in rec["logs"]]
    assert names == ["conductor", "inc", "conductor", "double", "conductor"]
    for i in rec["logs"]:
        assert wait_activation(api, i)["cause"] == rec["activationId"]

    # warm now, and result only
    r = api.post("_/actions/conductor?blocking=true&result=true", {"n": 0},
                 timeout=60)
    assert r.json() == {"n": 2, "steps": 2}


def test_conductor_unknown_component_goes_back_to_it(components):
    api = components
    code = """
function main(p) {
  if (p.error) return {params: {got: p.error}};
  return {action: 'nosuchaction'};
}
"""
    put_action(api, "cond2", code,
               annotations=[{"key": "conductor", "value": True}])
    r = api.post("_/actions/cond2?blocking=true&result=true", {}, timeout=90)
    assert r.status_code == 200, r.text
    assert r.json() == {"got": "Failed to resolve action with name "
                               "'guest/nosuchaction' during composition."}


def set_limits(stack, ns, **limits):
    argv = stack.admin_args() + ["limits", "set", ns]
    for k, v in limits.items():
        argv += ["--" + k, str(v)]
    assert admin.main(argv) == 0


def test_the_limit_counts_a_sequence_once(stack, make_user):
    user = make_user("seqlimited")
    set_limits(stack, "seqlimited", invocationsPerMinute=2)
    put_action(user, "inc", INC)
    put_sequence(user, "three", ["/seqlimited/inc"] * 3)
    # counts are per minute: the whole of a fresh one ahead
    stack.fresh_minute()
    db = stack.redis(decode_responses=False)
    for i in range(2):
        r = user.post("_/actions/three?blocking=true&result=true", {"n": 0},
                      timeout=90)
        assert r.status_code == 200, r.text
        assert r.json() == {"n": 3}
        if i == 0:
            # a gateway learns a namespace's own limits at its next sync
            # (ow_limit_sync); wait for it, as t/test_limits.py does
            db.delete("owx:{seqlimited}:inflight")
            wait_until(lambda: db.exists("owx:{seqlimited}:inflight"), 5, "a limits sync")
    assert_error(user.post("_/actions/three?blocking=true", {}), 429,
                 "Too many requests in the last minute (count: 2, allowed: 2).")


def test_conductor_after_an_update_is_still_composed(components):
    """An update makes the gateways forget what they knew of the action (and its warm
    container, which runs the old code): the next request asks again and is still
    driven as a conductor, never sent to a container as a plain invocation."""
    api = components
    put_action(api, "cond3", CONDUCTOR, annotations=[{"key": "conductor", "value": True}])
    r = api.post("_/actions/cond3?blocking=true&result=true", {"n": 3}, timeout=120)
    assert r.json() == {"n": 8, "steps": 2}, r.text
    put_action(api, "cond3", CONDUCTOR, annotations=[{"key": "conductor", "value": True}])
    r = api.post("_/actions/cond3?blocking=true&result=true", {"n": 3}, timeout=120)
    assert r.json() == {"n": 8, "steps": 2}, r.text


def test_conductor_is_still_composed_once_the_gateway_forgets_it(components, stack):
    """What the gateway remembers of a conductor action goes stale (after 60 s, or at
    once when its entity-event subscription is lost: changes meanwhile are unknown).
    With the conductor's container still warm in its table, the next request asks the
    pool-manager again rather than running the conductor as a plain action on it."""
    api = components
    put_action(api, "cond4", CONDUCTOR, annotations=[{"key": "conductor", "value": True}])
    r = api.post("_/actions/cond4?blocking=true&result=true", {"n": 3}, timeout=120)
    assert r.json() == {"n": 8, "steps": 2}, r.text
    # drop the gateways' subscriptions; they forget, then subscribe again
    db = stack.redis(decode_responses=False)
    subscribed = db.pubsub_numsub("owx:events")[0][1]
    assert subscribed > 0
    db.client_kill_filter(_type="pubsub")
    wait_until(lambda: db.pubsub_numsub("owx:events")[0][1] == subscribed, 10,
               "the gateway to subscribe again")
    r = api.post("_/actions/cond4?blocking=true&result=true", {"n": 3}, timeout=120)
    assert r.json() == {"n": 8, "steps": 2}, r.text
