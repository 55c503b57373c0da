"""test_web_gateway.py: web actions (openwhisk-api.md §7) where the gateway and the
pool-manager decide rather than the sidecar: an action that is not web-exported is 404 without a
container being started for it (the capacity request says "web":true and the pool-manager reads
the annotation), and the 202 "Response not yet ready." after the blocking wait (60 s, as
OpenWhisk's controller). Web actions that are sequences or conductor actions:
test_web_compose.py."""

from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import assert_error, wait_activation

ECHO = "function main(p) { return {n: p.n || 0} }"
NOT_FOUND = "The requested resource does not exist."
EXPORT = [{"key": "web-export", "value": True}]

# longer than the web blocking wait (60 s), shorter than its own time limit
SLOW = "function main(p) { return new Promise(r => setTimeout(() => r({done: true}), 63000)) }"

GUEST_LIMITS = {"invocationsPerMinute": 1000}


def put(api, name, body):
    r = api.put("_/actions/%s?overwrite=true" % name, body)
    assert r.status_code == 200, r.text


def node(code, annotations=(), **extra):
    body = {"exec": {"kind": "nodejs:default", "code": code}, "annotations": list(annotations)}
    body.update(extra)
    return body


def web(stack, path, method="GET", **kw):
    kw.setdefault("timeout", 60)
    return requests.request(method, stack.url + "/api/v1/web/" + path, **kw)


def actions_in_pool(stack):
    """The actions of the pool-manager's containers (stemcells have none)."""
    r = requests.get("http://%s/v1/containers" % stack.pool_addr, timeout=5,
                     headers=stack.internal_headers)
    assert r.status_code == 200
    return [c.get("action") for c in r.json()["containers"]]


def test_not_exported_is_404_without_a_cold_start(stack, api):
    put(api, "hidden", node(ECHO, [{"key": "web-export", "value": False}]))
    put(api, "plain", node(ECHO))
    # "web-export" must be true itself (OpenWhisk reads a boolean): a string is not
    put(api, "stringy", node(ECHO, [{"key": "web-export", "value": "true"}]))
    for name in ("hidden", "plain", "stringy"):
        for ext in ("", ".json", ".http/some/path"):
            r = web(stack, "guest/default/%s%s" % (name, ext))
            assert_error(r, 404, NOT_FOUND)
            assert "x-openwhisk-activation-id" not in r.headers
    pool = actions_in_pool(stack)
    for name in ("hidden", "plain", "stringy"):
        assert "guest/" + name not in pool, pool
    # the same action invoked through the API runs (it exists; only the web path hides it)
    r = api.post("_/actions/plain?blocking=true&result=true", {"n": 3})
    assert r.status_code == 200 and r.json() == {"n": 3}, r.text
    assert actions_in_pool(stack).count("guest/plain") == 1
    # warm now: the web request reaches its container, whose sidecar says 404; nothing starts
    assert_error(web(stack, "guest/default/plain.json"), 404, NOT_FOUND)
    assert actions_in_pool(stack).count("guest/plain") == 1


def test_exported_action_still_cold_starts_on_the_web_path(stack, api):
    put(api, "shown", node(ECHO, EXPORT))
    r = web(stack, "guest/default/shown.json?n=5")
    assert r.status_code == 200, r.text
    assert r.json() == {"n": "5"}
    assert "guest/shown" in actions_in_pool(stack)


def test_blocking_wait_over_is_202_response_not_yet_ready(stack, api):
    """The plain action (its sidecar answers) and a sequence of another like it (the gateway's
    compose driver answers), waited for side by side."""
    put(api, "slow", node(SLOW, EXPORT, limits={"timeout": 120000}))
    put(api, "slow2", node(SLOW, limits={"timeout": 120000}))
    put(api, "slow_seq", {"exec": {"kind": "sequence", "components": ["/guest/slow2"]},
                          "annotations": EXPORT})
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda name: web(stack, "guest/default/%s.json" % name,
                                                 timeout=90), ("slow", "slow_seq")))
    records = []
    for r in answers:
        body = assert_error(r, 202, "Response not yet ready.")
        assert set(body) == {"error", "code"}
        # CORS headers as on every answer of an exported action
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        records.append(wait_activation(api, r.headers["x-openwhisk-activation-id"], deadline=30))
    # the action went on and finished: its record has the result; so did the sequence,
    # which waited for its component past the client's 60 s (as OpenWhisk waits for one)
    for rec, name in zip(records, ("slow", "slow_seq")):
        assert rec["name"] == name
        assert rec["response"]["success"] is True, rec
        assert rec["response"]["result"] == {"done": True}
    comp = wait_activation(api, records[1]["logs"][0])
    assert comp["name"] == "slow2" and comp["cause"] == records[1]["activationId"]
