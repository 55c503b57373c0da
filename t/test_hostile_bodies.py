"""test_hostile_bodies.py: "nothing lost, nothing crashes" for JSON nested absurdly deep.

A 200 KB body of `{"a":` and 100,000 `[` used to kill every warm sidecar of the action it
was sent to (the sidecar overflowed its stack copying the parsed value; nginx retried on
the next container), and a Python action died on a 990-deep argument (json.loads's
RecursionError). Now the client gets an OpenWhisk error (400, {"error", "code"}) from
whichever component reads the body first: the sidecar and the pool-manager
(libow/json_limits.h: 2048 levels, as the gateway) or the gateway's jansson (its own 2048);
a runtime's trouble with a deep argument or result is the action's error. Every sidecar
that was alive before is alive after, and the action still answers."""


import requests

from conftest import NODE_KIND, PY_KIND, assert_error
from owx.stack import wait_until

GUEST_LIMITS = {"invocationsPerMinute": 1000, "firesPerMinute": 1000}

EXPORT = [{"key": "web-export", "value": True}]
ECHO = "function main(p) { return {keys: Object.keys(p).sort()} }"
PY_ECHO = "def main(p):\n    return {'keys': sorted(p)}\n"
# a result nested deeper than the runtime can serialise (JSON.stringify / json.dumps recurse)
NODE_DEEP = ("function main(p) { if (!p.deep) return {ok: true}; "
             "let x = []; for (let i = 0; i < 100000; i++) x = [x]; return {x} }")
PY_DEEP = ("def main(p):\n    if not p.get('deep'):\n        return {'ok': True}\n"
           "    x = []\n    for _ in range(100000):\n        x = [x]\n    return {'x': x}\n")

# the body from the report: 200 KB, 100,000 levels
DEEP = '{"a":' + "[" * 100000 + "]" * 100000 + "}"
# 2 KB: within every size limit and within the platform's 2048 levels, but past what
# Python's json module decodes (its recursion limit is 1000)
ARG990 = '{"a":' + "[" * 990 + "]" * 990 + "}"
JSON_CT = {"Content-Type": "application/json"}


def put(api, name, code, kind=NODE_KIND, **extra):
    body = {"exec": {"kind": kind, "code": code}}
    body.update(extra)
    r = api.put("_/actions/%s?overwrite=true" % name, body)
    assert r.status_code == 200, r.text


def invoke(api, name, data=None, query="blocking=true&result=true"):
    if data is None:
        return api.post("_/actions/%s?%s" % (name, query), {}, timeout=60)
    return api.post("_/actions/%s?%s" % (name, query), data=data, headers=JSON_CT, timeout=60)


def web(stack, path, **kw):
    kw.setdefault("timeout", 60)
    return requests.post(stack.url + "/api/v1/web/" + path, **kw)


def assert_alive(stack, before):
    """Every sidecar alive before is alive now (stemcells may come and go on their own)."""
    after = stack.sidecars()
    gone = {pid: argv for pid, argv in before.items() if pid not in after}
    assert gone == {}, "sidecars died: %r" % gone


def assert_deep_refused(r, statuses=(400,)):
    """An OpenWhisk error for a body nobody may parse: JSON with "error" and "code"."""
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error", "code"}, body
    assert body["code"], body
    return body


def warm(api, name, n=1):
    for _ in range(n):
        r = invoke(api, name)
        assert r.status_code == 200, r.text


def test_api_invoke_blocking(stack, api):
    put(api, "hecho", ECHO)
    warm(api, "hecho")
    before = stack.sidecars()
    assert before
    r = invoke(api, "hecho", DEEP, query="blocking=true")
    body = assert_error(r, 400)
    assert "nested deeper than 2048 levels" in body["error"], body
    r = invoke(api, "hecho", DEEP, query="blocking=true&result=true")
    assert_error(r, 400)
    assert_alive(stack, before)
    r = invoke(api, "hecho", '{"x": 1}')
    assert r.status_code == 200 and r.json() == {"keys": ["x"]}, r.text


def test_api_invoke_non_blocking(stack, api):
    put(api, "hecho_nb", ECHO)
    # cold: the pool-manager's queue reads the body first; warm: the sidecar
    r = invoke(api, "hecho_nb", DEEP, query="")
    assert_deep_refused(r)
    warm(api, "hecho_nb")
    before = stack.sidecars()
    r = invoke(api, "hecho_nb", DEEP, query="")
    assert_error(r, 400)
    assert_alive(stack, before)
    r = invoke(api, "hecho_nb", '{"y": 2}', query="")
    assert r.status_code == 202, r.text


def test_anonymous_web_action(stack, api):
    put(api, "wecho", ECHO, annotations=EXPORT)
    r = web(stack, "guest/default/wecho.json", json={"x": 1})
    assert r.status_code == 200, r.text
    before = stack.sidecars()
    r = web(stack, "guest/default/wecho.json", data=DEEP, headers=JSON_CT)
    body = assert_error(r, 400)
    assert "nested deeper than 2048 levels" in body["error"], body
    assert_alive(stack, before)
    r = web(stack, "guest/default/wecho.json", json={"x": 1})
    assert r.status_code == 200, r.text
    assert "x" in r.json()["keys"]


def test_web_sequence_in_the_gateway(stack, api):
    """A web sequence's arguments are built in the nginx worker (libow/ow_web.h)."""
    put(api, "wseq_echo", ECHO)
    r = api.put("_/actions/wseq?overwrite=true",
                {"exec": {"kind": "sequence", "components": ["/guest/wseq_echo"]},
                 "annotations": EXPORT})
    assert r.status_code == 200, r.text
    r = web(stack, "guest/default/wseq.json", data=DEEP, headers=JSON_CT)
    assert_error(r, 400)
    r = web(stack, "guest/default/wseq.json", json={"x": 1})
    assert r.status_code == 200, r.text
    # and a sequence invoked through the API: the gateway's jansson reads the body
    r = invoke(api, "wseq", DEEP, query="blocking=true")
    body = assert_deep_refused(r)
    # in the words a plain action's sidecar uses
    assert "nested deeper than 2048 levels" in body["error"], body
    r = invoke(api, "wseq", '{"x": 1}')
    assert r.status_code == 200, r.text


def test_action_put(stack, api):
    before = stack.sidecars()
    body = ('{"exec":{"kind":"%s","code":"function main(p) { return p }"},'
            '"parameters":[{"key":"a","value":%s}]}' % (NODE_KIND, DEEP))
    r = api.put("_/actions/deepput?overwrite=true", data=body, headers=JSON_CT)
    body = assert_error(r, 400)
    assert "maximum parsing depth" in body["error"], body
    assert api.get("_/actions/deepput").status_code == 404
    assert_alive(stack, before)


def test_trigger_fire(stack, api):
    put(api, "fecho", ECHO)
    assert api.put("_/triggers/deeptrig?overwrite=true", {"name": "deeptrig"}).status_code == 200
    r = api.put("_/rules/deeprule?overwrite=true",
                {"name": "deeprule", "status": "", "trigger": "/_/deeptrig",
                 "action": "/_/fecho"})
    assert r.status_code == 200, r.text
    before = stack.sidecars()
    r = api.post("_/triggers/deeptrig", data=DEEP, headers=JSON_CT)
    body = assert_error(r, 400)
    assert "maximum parsing depth" in body["error"], body
    assert_alive(stack, before)
    # the trigger still fires, and its action runs
    r = api.post("_/triggers/deeptrig", {"z": 1})
    assert r.status_code == 202, r.text
    recs = wait_until(lambda: api.get("_/activations?docs=true&name=fecho").json(), 60,
                      "the fired action's record")
    assert recs[0]["response"]["result"] == {"keys": ["z"]}


def test_python_action_deep_argument_and_result(stack, api):
    put(api, "pydeep", PY_DEEP, kind=PY_KIND)
    warm(api, "pydeep")
    # json.loads cannot decode it: the action's developer error, not a dead runtime
    r = invoke(api, "pydeep", ARG990, query="blocking=true")
    assert r.status_code == 502, r.text
    rec = r.json()
    assert rec["response"]["status"] == "action developer error", rec
    assert "nested too deeply" in rec["response"]["result"]["error"], rec
    assert "exited unexpectedly" not in rec["response"]["result"]["error"], rec
    warm(api, "pydeep")
    # json.dumps cannot encode what it returns: the same
    r = invoke(api, "pydeep", '{"deep": true}', query="blocking=true")
    assert r.status_code == 502, r.text
    assert r.json()["response"]["status"] == "action developer error", r.text
    assert r.json()["response"]["result"] == {
        "error": "The action did not return a dictionary or array."}
    warm(api, "pydeep")


def test_python_echo_of_a_deep_argument(stack, api):
    put(api, "pyecho", PY_ECHO, kind=PY_KIND)
    r = invoke(api, "pyecho", ARG990, query="blocking=true&result=true")
    assert r.status_code == 502, r.text
    assert "nested too deeply" in r.json()["error"], r.text
    r = invoke(api, "pyecho", '{"b": 1}')
    assert r.status_code == 200 and r.json() == {"keys": ["b"]}, r.text


def test_nodejs_action_deep_argument_and_result(stack, api):
    put(api, "nodedeep", NODE_DEEP)
    warm(api, "nodedeep")
    before = stack.sidecars()
    # V8 parses a 990-deep argument without recursion: the action just runs
    r = invoke(api, "nodedeep", ARG990)
    assert r.status_code == 200 and r.json() == {"ok": True}, r.text
    assert_alive(stack, before)
    # JSON.stringify throws RangeError on the result it builds: the action's error
    r = invoke(api, "nodedeep", '{"deep": true}', query="blocking=true")
    assert r.status_code == 502, r.text
    rec = r.json()
    assert rec["response"]["status"] == "action developer error", rec
    assert rec["response"]["result"] == {"error": "The action did not return a dictionary."}
    assert any("RangeError" in line for line in rec["logs"]), rec["logs"]
    warm(api, "nodedeep")


def test_pool_manager_control_api(stack):
    """The gateway hands the pool-manager a non-blocking invoke's body (/v1/invoke) when it
    cannot place it at once; not reachable on demand through the public API, so asked
    directly, as the gateway asks."""
    pm = "http://%s" % stack.pool_addr
    aid = "0123456789abcdef0123456789abcdef"
    h = dict(stack.internal_headers, **JSON_CT)
    h.update({"X-OW-Activation-Id": aid, "X-OW-Namespace": "guest", "X-OW-Path": "guest/hecho"})
    r = requests.post(pm + "/v1/invoke", data=DEEP, headers=h, timeout=10)
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "The request content was malformed:\n"
                                 "JSON nested deeper than 2048 levels.", "code": aid}
    # /v1/capacity takes 64 KB: 50,000 levels fit
    r = requests.post(pm + "/v1/capacity", headers=h, timeout=10,
                      data='{"action":"guest/hecho","x":' + "[" * 50000 + "}")
    assert r.status_code == 400, r.text
    assert requests.get(pm + "/health", headers=stack.internal_headers,
                        timeout=10).status_code == 200


def test_largest_action_put_gets_its_true_answer(stack, api):
    """A 48 MiB action (the documented maximum) is stored and answered 200 within the
    client's timeout, not 503 after the Redis command deadline while it was being written
    (ow_redis_timeout grows with what the connection still has to send)."""
    code = "//" + "x" * (48 * 1024 * 1024 - 200) + "\nfunction main() { return {ok: true} }"
    r = api.put("_/actions/biggest?overwrite=true",
                {"exec": {"kind": NODE_KIND, "code": code}}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    r = api.get("_/actions/biggest?code=false", timeout=60)
    assert r.status_code == 200
    assert r.json()["exec"]["kind"] == NODE_KIND
    # and read back whole: the 64 MiB reply keeps arriving past ow_redis_timeout
    r = api.get("_/actions/biggest", timeout=60)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["exec"]["code"] == code
