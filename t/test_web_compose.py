"""test_web_compose.py: web actions (openwhisk-api.md §7) that are sequences or conductor
actions. They have no container of their own, so the gateway's compose driver runs them; the
request is shaped into arguments, and the result into the HTTP answer, by the same code the
sidecar shapes a plain web action with (libow/ow_web.h). They run as their owner whoever calls:
the components are invoked as the owner (X-OW-Run-As on the trusted listener), never with the
anonymous client's credentials."""

import requests

from conftest import assert_error, basic, wait_activation
from owx import admin
from test_metrics import scrape, settle, value
from test_web_gateway import node, put, web

NOT_FOUND = "The requested resource does not exist."
EXPORT = [{"key": "web-export", "value": True}]

# the arguments the action saw, less what varies
ECHO = "function main(p) { delete p.__ow_headers; return p }"
# the same as the body of an .http answer (whose path is not a projection)
ECHO_HTTP = "function main(p) { delete p.__ow_headers; return {body: p} }"
HEADERS = "function main(p) { return {headers: p.__ow_headers, user: p.__ow_user || null} }"
UPPER = "function main(p) { return Object.assign({}, p, {who: (p.who || '').toUpperCase()}) }"
# an .http answer built from its input
PAGE = ("function main(p) { return {statusCode: p.code ? Number(p.code) : 200, "
        "headers: {'X-Greeting': 'hi ' + p.who}, body: '<p>' + p.who + '</p>'} }")
KEY = "function main(p) { return {key: process.env.__OW_API_KEY || null} }"
FAIL = "function main(p) { return {error: {why: 'no ' + p.who}} }"
CONDUCTOR = ("function main(p) { if (p.$step === 1) "
             "return {params: {who: p.who + (p.mark || '!')}}; "
             "return {action: 'upper', params: {who: p.who}, state: {$step: 1}} }")

GUEST_LIMITS = {"invocationsPerMinute": 1000}


def sequence(components, annotations=EXPORT, **extra):
    body = {"exec": {"kind": "sequence", "components": components},
            "annotations": list(annotations)}
    body.update(extra)
    return body


def test_sequence_answers_each_extension(stack, api):
    put(api, "upper", node(UPPER))
    put(api, "page", node(PAGE))
    put(api, "seq_json", sequence(["/guest/upper"]))
    put(api, "seq_page", sequence(["/guest/upper", "/guest/page"]))

    r = web(stack, "guest/default/seq_json.json?who=ann")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["who"] == "ANN"
    assert body["__ow_method"] == "get" and body["__ow_path"] == ""
    # the web answer names the sequence's activation, recorded in the owner's namespace
    rec = wait_activation(api, r.headers["x-openwhisk-activation-id"])
    assert rec["namespace"] == "guest" and rec["name"] == "seq_json"
    assert rec["response"]["result"]["who"] == "ANN"
    assert len(rec["logs"]) == 1
    comp = wait_activation(api, rec["logs"][0])
    assert comp["name"] == "upper" and comp["cause"] == rec["activationId"]
    assert comp["namespace"] == "guest" and comp["subject"] == "guest"

    # .http (no extension): the last component's statusCode, headers and body
    for path in ("guest/default/seq_page?who=bo", "guest/default/seq_page.http?who=bo"):
        r = web(stack, path)
        assert r.status_code == 200, r.text
        assert r.headers["X-Greeting"] == "hi BO"
        assert r.headers["Content-Type"].startswith("text/html")
        assert r.text == "<p>BO</p>"
    r = web(stack, "guest/default/seq_page.http?who=bo&code=201")
    assert r.status_code == 201 and r.text == "<p>BO</p>"

    # a nested sequence (not exported itself) runs as the owner too
    put(api, "inner", sequence(["/guest/upper"], annotations=()))
    put(api, "seq_outer", sequence(["/guest/inner", "/guest/page"]))
    r = web(stack, "guest/default/seq_outer?who=jo", headers={"Authorization": basic("x:y")})
    assert r.status_code == 200 and r.text == "<p>JO</p>", r.text
    rec = wait_activation(api, r.headers["x-openwhisk-activation-id"])
    inner = wait_activation(api, rec["logs"][0])
    assert inner["name"] == "inner" and inner["namespace"] == "guest"
    assert wait_activation(api, inner["logs"][0])["subject"] == "guest"

    # .text and .html project a property; the rest of the path projects first
    r = web(stack, "guest/default/seq_page.text/body?who=cy")
    assert r.status_code == 200 and r.text == "<p>CY</p>", r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    r = web(stack, "guest/default/seq_page.html?who=cy")
    assert r.status_code == 200 and r.text == "<p>CY</p>", r.text
    r = web(stack, "guest/default/seq_json.json/who?who=dee")
    # a string is not valid application/json
    assert_error(r, 400, "Response is not valid 'application/json'.")
    r = web(stack, "guest/default/seq_json.text/who?who=dee")
    assert r.status_code == 200 and r.text == "DEE"
    r = web(stack, "guest/default/seq_json.text/nothing?who=dee")
    assert_error(r, 404, "Response does not include requested property.")


def test_post_body_form_and_path_reach_the_first_component(stack, api):
    put(api, "echo", node(ECHO))
    put(api, "echo_http", node(ECHO_HTTP))
    put(api, "seq_echo", sequence(["/guest/echo"]))
    put(api, "seq_echo_http", sequence(["/guest/echo_http"]))
    r = web(stack, "guest/default/seq_echo_http.http/a/b?q=1", "POST", json={"x": [1, 2]})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"q": "1", "x": [1, 2], "__ow_method": "post", "__ow_path": "/a/b"}
    r = web(stack, "guest/default/seq_echo.json", "PUT", data={"f": "v"})
    assert r.status_code == 200, r.text
    assert r.json() == {"f": "v", "__ow_method": "put", "__ow_path": ""}
    # a text body the action gets as __ow_body
    r = web(stack, "guest/default/seq_echo.json", "POST", data="plain words",
            headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    assert r.json()["__ow_body"] == "plain words"
    # overriding a reserved argument, or a malformed JSON body: 400, nothing runs
    r = web(stack, "guest/default/seq_echo.json?__ow_method=x")
    assert_error(r, 400)
    assert "x-openwhisk-activation-id" not in r.headers
    r = web(stack, "guest/default/seq_echo.json", "POST", data="{nope",
            headers={"Content-Type": "application/json"})
    assert_error(r, 400)


def test_a_nul_in_the_arguments_reaches_the_component(stack, api):
    """%00 in a query or "\u0000" in a JSON body is a character like any other: the
    sequence's first component gets it, as a plain web action would."""
    put(api, "echo", node(ECHO))
    put(api, "seq_echo", sequence(["/guest/echo"]))
    r = web(stack, "guest/default/seq_echo.json?q=a%00b")
    assert r.status_code == 200, r.text
    assert r.json()["q"] == "a\u0000b"
    r = web(stack, "guest/default/seq_echo.json", "POST", json={"x": "c\u0000d"})
    assert r.status_code == 200, r.text
    assert r.json()["x"] == "c\u0000d"
    # and through the API
    r = api.post("_/actions/seq_echo?blocking=true&result=true", {"y": "e\u0000f"})
    assert r.status_code == 200, r.text
    assert r.json()["y"] == "e\u0000f"


def test_same_answer_as_the_plain_web_action(stack, api):
    """A one-component sequence answers a web request exactly as its component does when
    it is the web action itself (one shaping code: libow/ow_web.h)."""
    put(api, "page_web", node(PAGE, EXPORT))
    put(api, "fail_web", node(FAIL, EXPORT))
    put(api, "fail", node(FAIL))
    put(api, "page", node(PAGE))
    put(api, "seq_page1", sequence(["/guest/page"]))
    put(api, "seq_fail1", sequence(["/guest/fail"]))
    def answer(r):
        # an error body's "code" is the request's own id
        try:
            body = r.json()
            if isinstance(body, dict) and set(body) == {"error", "code"}:
                body = body["error"]
        except ValueError:
            body = r.content
        return (r.status_code, r.headers.get("Content-Type"), r.headers.get("X-Greeting"),
                r.headers.get("Access-Control-Allow-Origin"), body)

    for plain, seq in (("page_web", "seq_page1"), ("fail_web", "seq_fail1")):
        for rest in (".json?who=x", ".http?who=x&code=404", ".text/body?who=x",
                     ".json/error?who=x", ".html?who=x", ".svg/headers?who=x", "?who=x"):
            a = web(stack, "guest/default/" + plain + rest)
            b = web(stack, "guest/default/" + seq + rest)
            assert answer(a) == answer(b), rest
            assert answer(b)[3] == "*"


def test_runs_as_the_owner_whoever_calls(stack, api, make_user):
    other = make_user("webcaller")
    put(api, "who", node(HEADERS))
    put(api, "seq_who", sequence(["/guest/who"]))
    # the component is guest's private action: the other namespace cannot invoke it
    r = other.post("guest/actions/who?blocking=true", {})
    assert r.status_code in (403, 404), r.text

    # anonymous
    r = web(stack, "guest/default/seq_who.json")
    assert r.status_code == 200, r.text
    assert r.json()["user"] is None
    # another namespace's valid key: __ow_user names it, yet the sequence and its
    # components run as (and are recorded for) the owner, and the key does not reach them
    r = web(stack, "guest/default/seq_who.json", headers={"Authorization": basic(other.key)})
    assert r.status_code == 200, r.text
    assert r.json()["user"] == "webcaller"
    rec = wait_activation(api, r.headers["x-openwhisk-activation-id"])
    assert rec["namespace"] == "guest"
    comp = wait_activation(api, rec["logs"][0])
    assert comp["namespace"] == "guest" and comp["subject"] == "guest"
    assert other.get("_/activations/" + rec["activationId"]).status_code == 404
    # an action that asks for the API key does not get the caller's: it is not the owner's
    put(api, "key", node(KEY, [{"key": "provide-api-key", "value": True}]))
    put(api, "seq_key", sequence(["/guest/key"]))
    r = web(stack, "guest/default/seq_key.json", headers={"Authorization": basic(other.key)})
    assert r.status_code == 200 and r.json() == {"key": None}, r.text
    # (through the API, the caller's key is the one it gets)
    r = api.post("_/actions/seq_key?blocking=true&result=true", {})
    assert r.status_code == 200 and r.json()["key"] == api.key, r.text
    # a bad key is anonymous, as for any web action
    r = web(stack, "guest/default/seq_who.json", headers={"Authorization": basic("x:y")})
    assert r.status_code == 200 and r.json()["user"] is None, r.text


def test_not_exported_and_annotations(stack, api):
    put(api, "echo", node(ECHO))
    put(api, "seq_hidden", sequence(["/guest/echo"], annotations=()))
    for _ in range(2):
        r = web(stack, "guest/default/seq_hidden.json")
        assert_error(r, 404, NOT_FOUND)
        assert "x-openwhisk-activation-id" not in r.headers
    # invoked through the API it runs, and the router remembers it as a sequence; the web
    # path still asks (and is still refused)
    r = api.post("_/actions/seq_hidden?blocking=true&result=true", {"n": 4})
    assert r.status_code == 200 and r.json() == {"n": 4}, r.text
    assert_error(web(stack, "guest/default/seq_hidden.json"), 404, NOT_FOUND)

    # require-whisk-auth with a secret
    put(api, "seq_secret", sequence(["/guest/echo"], annotations=EXPORT + [
        {"key": "require-whisk-auth", "value": "s3cret"}]))
    r = web(stack, "guest/default/seq_secret.json")
    assert_error(r, 401)
    r = web(stack, "guest/default/seq_secret.json", headers={"X-Require-Whisk-Auth": "nope"})
    assert_error(r, 401)
    r = web(stack, "guest/default/seq_secret.json?a=1",
            headers={"X-Require-Whisk-Auth": "s3cret"})
    assert r.status_code == 200 and r.json()["a"] == "1", r.text

    # OPTIONS: answered with the CORS headers, nothing runs
    r = web(stack, "guest/default/seq_secret.json", "OPTIONS",
            headers={"Access-Control-Request-Headers": "X-Mine"})
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Headers"] == "X-Mine"
    assert "x-openwhisk-activation-id" not in r.headers
    # web-custom-options: the sequence answers OPTIONS itself, without platform CORS headers
    put(api, "seq_custom", sequence(["/guest/echo"], annotations=EXPORT + [
        {"key": "web-custom-options", "value": True}]))
    r = web(stack, "guest/default/seq_custom.json", "OPTIONS")
    assert r.status_code == 200, r.text
    assert r.json()["__ow_method"] == "options"
    assert "Access-Control-Allow-Origin" not in r.headers


def test_failing_component_stops_the_sequence(stack, api):
    put(api, "fail", node(FAIL))
    put(api, "upper", node(UPPER))
    put(api, "seq_stops", sequence(["/guest/fail", "/guest/upper"]))
    # an application error answers its "error" value
    r = web(stack, "guest/default/seq_stops.json?who=x")
    assert r.status_code == 200, r.text
    assert r.json() == {"why": "no x"}
    rec = wait_activation(api, r.headers["x-openwhisk-activation-id"])
    assert rec["response"]["status"] == "application error"
    assert len(rec["logs"]) == 1
    # a missing component: the sequence's own failure, shaped like any failed web action
    put(api, "gone", node(UPPER))
    put(api, "seq_gone", sequence(["/guest/gone"]))
    assert api.delete("_/actions/gone").status_code == 200
    r = web(stack, "guest/default/seq_gone.json")
    assert r.status_code >= 400, r.text
    assert "x-openwhisk-activation-id" in r.headers


def test_catalog_sequence_on_the_web(stack, api):
    """split -> sort -> head -> cat from whisk.system/utils, exposed on the web."""
    assert admin.main(stack.admin_args() + ["catalog", "install",
                       "--apihost", stack.url]) == 0
    utils = ["/whisk.system/utils/split", "/whisk.system/utils/sort",
             "/whisk.system/utils/head", "/whisk.system/utils/cat"]
    put(api, "lines", sequence(utils))
    r = web(stack, "guest/default/lines.json", "POST",
            json={"payload": "pear\napple\nfig\nbanana"})
    assert r.status_code == 200, r.text
    # head keeps one line (num does not travel through split and sort)
    assert r.json() == {"lines": ["apple"], "payload": "apple"}


def test_conductor_web_action(stack, api):
    put(api, "upper", node(UPPER))
    put(api, "cond", node(CONDUCTOR, EXPORT + [{"key": "conductor", "value": True}]))
    put(api, "cond_hidden", node(CONDUCTOR, [{"key": "conductor", "value": True}]))
    for _ in range(2):   # cold, then warm (the router remembers the conductor)
        r = web(stack, "guest/default/cond.json?who=eve")
        assert r.status_code == 200, r.text
        assert r.json() == {"who": "EVE!"}
        rec = wait_activation(api, r.headers["x-openwhisk-activation-id"])
        assert rec["namespace"] == "guest" and rec["name"] == "cond"
        # conductor, component, conductor
        assert len(rec["logs"]) == 3
    # final: the conductor's parameters cannot be overridden by the request
    put(api, "cond_final", node(CONDUCTOR, EXPORT + [
        {"key": "conductor", "value": True}, {"key": "final", "value": True}],
        parameters=[{"key": "mark", "value": "?"}]))
    r = web(stack, "guest/default/cond_final.json?who=fay")
    assert r.status_code == 200 and r.json() == {"who": "FAY?"}, r.text
    r = web(stack, "guest/default/cond_final.json?who=fay&mark=mine")
    assert_error(r, 400)
    assert "x-openwhisk-activation-id" not in r.headers
    # not exported: 404 whether its container is warm or not, and nothing runs
    r = api.post("_/actions/cond_hidden?blocking=true&result=true", {"who": "x"})
    assert r.status_code == 200 and r.json() == {"who": "X!"}, r.text
    for _ in range(2):
        r = web(stack, "guest/default/cond_hidden.json?who=eve")
        assert_error(r, 404, NOT_FOUND)
        assert "x-openwhisk-activation-id" not in r.headers


def test_api_route_to_a_web_sequence(stack, api):
    """`wsk api create /shop /hello get seq --response-type json`, then curl the route."""
    put(api, "upper", node(UPPER))
    put(api, "seq_route", sequence(["/guest/upper"]))
    doc = {"apidoc": {
        "namespace": "_", "gatewayBasePath": "/shop", "gatewayPath": "/hello",
        "gatewayMethod": "GET", "id": "API:_:/shop",
        "action": {"name": "seq_route", "namespace": "guest", "backendMethod": "GET",
                   "backendUrl": "%s/api/v1/web/guest/default/seq_route.http" % stack.url,
                   "authkey": api.key}}}
    r = api.post("/api/v1/web/whisk.system/apimgmt/createApi.http", json=doc,
                 params={"accesstoken": "DUMMY TOKEN", "spaceguid": api.key.split(":")[0],
                         "responsetype": "json"})
    assert r.status_code == 200, r.text
    r = requests.get(stack.url + "/api/guest/shop/hello?who=ivy", timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["who"] == "IVY"
    assert r.json()["__ow_method"] == "get"


def test_remembered_web_sequence_makes_no_capacity_request(stack, api):
    """The router keeps a web answer's facts with what it remembers of the sequence: later web
    requests go straight to the compose driver, until the sequence changes."""
    put(api, "upper", node(UPPER))
    put(api, "seq_mem", sequence(["/guest/upper"]))
    # the component warm first: its own capacity requests are not the point here
    assert api.post("_/actions/upper?blocking=true&result=true", {}).status_code == 200

    def asked(f):
        # (a sequence's answer, which names no container, is "ok" too)
        return value(f, "owx_capacity_requests_total", result="ok")

    start = asked(scrape(stack))
    r = web(stack, "guest/default/seq_mem.json?who=a")
    assert r.status_code == 200 and r.json()["who"] == "A", r.text
    first = asked(settle(stack, lambda f: asked(f) >= start + 1,
                         "the first web request's capacity request counted"))
    for who in ("b", "c", "d"):
        r = web(stack, "guest/default/seq_mem.json?who=" + who)
        assert r.status_code == 200 and r.json()["who"] == who.upper(), r.text
    assert asked(scrape(stack)) == first
    # no longer exported: the update makes the gateway forget, and the web request is 404
    # (`wsk action update --web false`: annotations merge on update)
    put(api, "seq_mem", sequence(["/guest/upper"], annotations=[
        {"key": "web-export", "value": False}]))
    assert_error(web(stack, "guest/default/seq_mem.json"), 404, NOT_FOUND)
