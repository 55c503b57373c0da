"""test_web_actions.py: web actions at /api/v1/web/{ns}/{pkg}/{action}[.ext][/rest] end to end
(openwhisk-api.md §7): nginx (optional auth, the owner's limits, the router's web hook) →
pool-manager → ow-sidecar (sidecar/web_action.cc shapes arguments and responses) → runtime."""

import base64

import pytest
import requests

from conftest import GUEST, PY_KIND, assert_error, wait_activation
from owx import admin
from owx.stack import wait_until

ECHO = "function main(p) { return p }"

PAGES = """
function main(p) {
  return {html: '<b>hi</b>', text: 'plain', svg: '<svg/>',
          nested: {msg: 'deep', list: [1, 2]}, n: 5};
}"""

HTTP = """
function main(p) {
  switch (p.what) {
  case 'json':
    return {statusCode: 201, headers: {'X-Custom': 'v', 'Set-Cookie': ['a=1', 'b=2']},
            body: {k: 'v'}};
  case 'png':
    return {headers: {'Content-Type': 'image/png'},
            body: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 255]).toString('base64')};
  case 'redirect':
    return {statusCode: '302', headers: {location: '/elsewhere'}};
  case 'empty':
    return {};
  case 'text':
    return {headers: {'content-type': 'text/plain'}, body: 'just text'};
  case 'bad':
    return {statusCode: 'abc'};
  case 'teapot':
    return {statusCode: 418, body: 'short and stout'};
  case 'crash':
    process.exit(1);
  case 'path':
    return {body: {path: p.__ow_path}};
  case 'accel':
    // nginx obeys these from an upstream unless told not to
    return {headers: {'X-Accel-Redirect': '/_owx/forbidden', 'X-Accel-Limit-Rate': '1',
                      'X-Accel-Expires': '60', 'X-Accel-Charset': 'koi8-r'},
            body: 'mine'};
  case 'apperror':
    return {error: {statusCode: 409, body: {why: 'conflict'}}};
  }
  return {body: '<h1>' + p.__ow_method + '</h1>'};
}"""

OPTIONS = """
function main(p) {
  if (p.__ow_method === 'options')
    return {statusCode: 200, headers: {'Access-Control-Allow-Origin': 'example.com',
                                       'X-Options': 'mine'}};
  return {body: 'not options'};
}"""

PY_WEB = """
def main(args):
    return {"body": "<p>py %s %s</p>" % (args["__ow_method"], args.get("name", "-")),
            "headers": {"X-Py": "yes"}}
"""

EXPORT = [{"key": "web-export", "value": True}]

# this module calls guest's web actions more than the default 60 times a minute
GUEST_LIMITS = {"invocationsPerMinute": 1000}


def put(api, name, code, annotations=EXPORT, kind="nodejs:default", **extra):
    body = {"exec": {"kind": kind, "code": code}, "annotations": annotations}
    body.update(extra)
    r = api.put("_/actions/%s?overwrite=true" % name, body)
    assert r.status_code == 200, r.text


def web(stack, path, method="GET", auth=None, **kw):
    kw.setdefault("timeout", 60)
    return requests.request(method, stack.url + "/api/v1/web/" + path, auth=auth, **kw)


def guest_auth():
    return tuple(GUEST.split(":", 1))


@pytest.fixture(scope="module")
def actions(api):
    put(api, "echo", ECHO, parameters=[{"key": "p", "value": "param"}])
    put(api, "pages", PAGES)
    put(api, "http", HTTP)
    put(api, "raw", ECHO, annotations=EXPORT + [{"key": "raw-http", "value": True}])
    put(api, "secure", ECHO, annotations=EXPORT + [{"key": "require-whisk-auth", "value": True}])
    put(api, "secret", ECHO, annotations=EXPORT + [{"key": "require-whisk-auth", "value": "s3cr3t"}])
    put(api, "final", ECHO, annotations=EXPORT + [{"key": "final", "value": True}],
        parameters=[{"key": "fixed", "value": "yes"}])
    put(api, "private", ECHO, annotations=[])
    put(api, "options", OPTIONS, annotations=EXPORT + [{"key": "web-custom-options", "value": True}])
    put(api, "py", PY_WEB, kind=PY_KIND)
    assert api.put("_/packages/webpkg", {}).status_code == 200
    put(api, "webpkg/inpkg", ECHO)
    return True


def test_json_extension_gets_the_http_context(stack, actions):
    r = web(stack, "guest/default/echo.json?a=1&b=two", headers={"X-Things": "yes"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert len(r.headers["x-openwhisk-activation-id"]) == 32
    args = r.json()
    assert args["a"] == "1" and args["b"] == "two"       # query parameters, as strings
    assert args["p"] == "param"                            # the action's parameter
    assert args["__ow_method"] == "get"
    assert args["__ow_path"] == ""
    assert args["__ow_headers"]["x-things"] == "yes"
    assert not any(h.startswith("x-ow-") for h in args["__ow_headers"])
    assert "__ow_user" not in args                         # anonymous
    assert "__ow_body" not in args


def test_ow_user_is_the_authenticated_caller(stack, actions, make_user):
    r = web(stack, "guest/default/echo.json", auth=guest_auth())
    assert r.json()["__ow_user"] == "guest"
    other = make_user("webcaller")
    r = web(stack, "guest/default/echo.json", auth=tuple(other.key.split(":", 1)))
    assert r.status_code == 200
    assert r.json()["__ow_user"] == "webcaller"
    # a bad key is no key: anonymous, not 401
    r = web(stack, "guest/default/echo.json", auth=("nobody", "x" * 64))
    assert r.status_code == 200 and "__ow_user" not in r.json()


def test_the_record_is_the_owners(stack, api, actions, make_user):
    other = make_user("webcaller2")
    r = web(stack, "guest/default/echo.json", auth=tuple(other.key.split(":", 1)))
    aid = r.headers["x-openwhisk-activation-id"]
    rec = wait_activation(api, aid)
    assert rec["namespace"] == "guest" and rec["name"] == "echo"
    assert rec["response"]["result"]["__ow_user"] == "webcaller2"
    assert other.get("_/activations/" + aid).status_code == 404


def test_json_body_and_form_body_merge(stack, actions):
    r = web(stack, "guest/default/echo.json?a=query&q=1", method="POST",
            json={"a": "body", "n": {"x": 1}})
    assert r.status_code == 200
    args = r.json()
    assert args["a"] == "body" and args["n"] == {"x": 1} and args["q"] == "1"
    assert args["__ow_method"] == "post"
    assert args["__ow_headers"]["content-type"] == "application/json"

    r = web(stack, "guest/default/echo.json", method="PUT",
            data={"name": "J\u00fcrgen X", "e": ""})
    args = r.json()
    assert args["name"] == "J\u00fcrgen X" and args["e"] == ""
    assert args["__ow_method"] == "put"
    assert "__ow_body" not in args


def test_text_and_binary_bodies(stack, actions):
    r = web(stack, "guest/default/echo.json", method="POST", data="hello there",
            headers={"Content-Type": "text/plain"})
    assert r.json()["__ow_body"] == "hello there"

    blob = bytes([0, 1, 2, 255, 254])
    r = web(stack, "guest/default/echo.json", method="POST", data=blob,
            headers={"Content-Type": "application/octet-stream"})
    assert base64.b64decode(r.json()["__ow_body"]) == blob

    r = web(stack, "guest/default/echo.json", method="POST", data="[1,2,3]",
            headers={"Content-Type": "application/json"})
    assert r.json()["__ow_body"] == [1, 2, 3]

    r = web(stack, "guest/default/echo.json", method="POST", data="{broken",
            headers={"Content-Type": "application/json"})
    assert_error(r, 400)


def test_raw_http(stack, actions):
    r = web(stack, "guest/default/raw.json?a=1&b=2", method="POST", json={"k": "v"})
    assert r.status_code == 200
    args = r.json()
    assert args["__ow_query"] == "a=1&b=2"
    assert base64.b64decode(args["__ow_body"]) == b'{"k": "v"}'
    assert "a" not in args and "k" not in args
    assert args["__ow_path"] == ""
    r = web(stack, "guest/default/raw.json")
    assert r.json()["__ow_body"] == "" and r.json()["__ow_query"] == ""
    # raw-http takes __ow_* keys as they come: they end in __ow_query
    r = web(stack, "guest/default/raw.json?__ow_method=x")
    assert r.status_code == 200 and r.json()["__ow_method"] == "get"


def test_html_svg_text_and_projection(stack, actions):
    r = web(stack, "guest/default/pages.html")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert r.text == "<b>hi</b>"

    r = web(stack, "guest/default/pages.svg")
    assert r.headers["Content-Type"] == "image/svg+xml" and r.text == "<svg/>"

    r = web(stack, "guest/default/pages.text")
    assert r.headers["Content-Type"] == "text/plain; charset=UTF-8" and r.text == "plain"

    r = web(stack, "guest/default/pages.json/nested")
    assert r.json() == {"msg": "deep", "list": [1, 2]}
    r = web(stack, "guest/default/pages.json/nested/list")
    assert r.json() == [1, 2]
    r = web(stack, "guest/default/pages.text/nested/msg")
    assert r.text == "deep"
    r = web(stack, "guest/default/pages.text/n")
    assert r.text == "5"

    assert_error(web(stack, "guest/default/pages.json/nope"), 404,
                 "Response does not include requested property.")
    assert_error(web(stack, "guest/default/pages.json/n"), 400,
                 "Response is not valid 'application/json'.")
    assert_error(web(stack, "guest/default/echo.html"), 400, "Response is not valid 'text/html'.")


def test_http_results(stack, actions):
    r = web(stack, "guest/default/http?what=json")
    assert r.status_code == 201
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"k": "v"}
    assert r.headers["X-Custom"] == "v"
    assert r.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]

    r = web(stack, "guest/default/http.http?what=png")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert r.content == bytes([0x89, 0x50, 0x4e, 0x47, 0, 255])

    r = web(stack, "guest/default/http?what=redirect", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/elsewhere"

    # the rest of the path is __ow_path (.http does not project)
    r = web(stack, "guest/default/http/some/p%20ath?what=path")
    assert r.json() == {"path": "/some/p%20ath"}

    r = web(stack, "guest/default/http?what=empty")
    assert r.status_code == 204 and r.content == b""

    r = web(stack, "guest/default/http?what=text")
    assert r.headers["Content-Type"] == "text/plain; charset=UTF-8" and r.text == "just text"

    r = web(stack, "guest/default/http?what=teapot")
    assert r.status_code == 418 and r.text == "short and stout"
    assert r.headers["Content-Type"] == "text/html; charset=UTF-8"

    r = web(stack, "guest/default/http", method="DELETE")
    assert r.status_code == 200 and r.text == "<h1>delete</h1>"

    r = web(stack, "guest/default/http", method="HEAD")
    assert r.status_code == 200 and r.content == b""

    assert_error(web(stack, "guest/default/http?what=bad"), 400,
                 "Response is not valid 'message/http'.")


def test_an_action_cannot_steer_nginx(stack, actions):
    """X-Accel-* headers of a web action's answer are the action's data, not orders to the
    gateway: no internal redirect (into /_owx/, /_owinvoke/, /_owpool...), no rate limit;
    and they do not reach the client."""
    r = web(stack, "guest/default/http?what=accel")
    assert r.status_code == 200, r.text
    assert r.text == "mine"
    assert not [h for h in r.headers if h.lower().startswith("x-accel-")], r.headers


def test_errors_of_the_action(stack, actions):
    # an application error: its "error" value is the response
    r = web(stack, "guest/default/http?what=apperror")
    assert r.status_code == 409 and r.json() == {"why": "conflict"}
    # a developer error: no detail leaks
    r = web(stack, "guest/default/http.json?what=crash")
    assert_error(r, 400, "There was an error processing your request.")
    assert len(r.headers["x-openwhisk-activation-id"]) == 32


def test_require_whisk_auth_true(stack, actions):
    r = web(stack, "guest/default/secure.json")
    assert_error(r, 401)
    assert_error(web(stack, "guest/default/secure.json", auth=("nobody", "x" * 64)), 401)
    r = web(stack, "guest/default/secure.json", auth=guest_auth())
    assert r.status_code == 200 and r.json()["__ow_user"] == "guest"


def test_require_whisk_auth_secret(stack, actions):
    assert_error(web(stack, "guest/default/secret.json"), 401)
    assert_error(web(stack, "guest/default/secret.json",
                     headers={"X-Require-Whisk-Auth": "s3cr3"}), 401)
    # valid credentials are not the secret
    assert_error(web(stack, "guest/default/secret.json", auth=guest_auth()), 401)
    r = web(stack, "guest/default/secret.json", headers={"X-Require-Whisk-Auth": "s3cr3t"})
    assert r.status_code == 200
    assert r.json()["__ow_headers"]["x-require-whisk-auth"] == "s3cr3t"


def test_final_and_reserved_parameters(stack, actions):
    msg = "Request defines parameters that are not allowed (e.g., reserved properties)."
    assert_error(web(stack, "guest/default/final.json?fixed=no"), 400, msg)
    assert_error(web(stack, "guest/default/final.json", method="POST", json={"fixed": "no"}),
                 400, msg)
    r = web(stack, "guest/default/final.json?other=1")
    assert r.status_code == 200 and r.json()["fixed"] == "yes" and r.json()["other"] == "1"
    assert_error(web(stack, "guest/default/echo.json?__ow_method=post"), 400, msg)
    assert_error(web(stack, "guest/default/echo.json", method="POST", json={"__ow_user": "root"}),
                 400, msg)


def test_options_and_cors(stack, actions):
    r = web(stack, "guest/default/echo.json", method="OPTIONS")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Methods"] == \
        "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH"
    assert r.headers["Access-Control-Allow-Headers"] == \
        "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent"
    assert "x-openwhisk-activation-id" not in r.headers        # nothing ran

    r = web(stack, "guest/default/echo.json", method="OPTIONS",
            headers={"Access-Control-Request-Headers": "X-Mine, Content-Type"})
    assert r.headers["Access-Control-Allow-Headers"] == "X-Mine, Content-Type"

    # every answer carries them, once
    r = web(stack, "guest/default/echo.json")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.raw.headers.getlist("Access-Control-Allow-Methods") == \
        ["OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH"]

    # web-custom-options: the action answers OPTIONS, and no CORS is added
    r = web(stack, "guest/default/options", method="OPTIONS")
    assert r.status_code == 200
    assert r.headers["X-Options"] == "mine"
    assert r.headers["Access-Control-Allow-Origin"] == "example.com"
    assert "Access-Control-Allow-Methods" not in r.headers
    r = web(stack, "guest/default/options")
    assert r.text == "not options" and "Access-Control-Allow-Origin" not in r.headers


def test_not_exported_and_unknown(stack, actions):
    msg = "The requested resource does not exist."
    r = web(stack, "guest/default/private.json")
    assert_error(r, 404, msg)
    assert "Access-Control-Allow-Origin" not in r.headers
    assert_error(web(stack, "guest/default/private.json", auth=guest_auth()), 404, msg)
    assert_error(web(stack, "guest/default/nosuch.json"), 404, msg)
    assert_error(web(stack, "nosuchns/default/echo.json"), 404, msg)
    assert_error(web(stack, "guest/nopkg/echo.json"), 404, msg)
    assert_error(web(stack, "guest/default"), 404, msg)
    assert_error(web(stack, "guest/default/echo.json", method="TRACE"), 405)


def test_packaged_web_action(stack, actions):
    r = web(stack, "guest/webpkg/inpkg.json?x=1")
    assert r.status_code == 200 and r.json()["x"] == "1"


def test_python_web_action(stack, actions):
    r = web(stack, "guest/default/py?name=snake")
    assert r.status_code == 200, r.text
    assert r.text == "<p>py get snake</p>"
    assert r.headers["X-Py"] == "yes"
    r = web(stack, "guest/default/py.html", method="POST", data={"name": "form"})
    assert r.text == "<p>py post form</p>"


def test_payload_limit(stack, actions):
    r = web(stack, "guest/default/echo.json", method="POST", data="x" * (1048576 + 10),
            headers={"Content-Type": "text/plain"})
    assert_error(r, 413)


def test_the_owners_limits_apply_to_anonymous_callers(stack, make_user):
    owner = make_user("webowner")
    put(owner, "w", ECHO)
    assert admin.main(stack.admin_args() + ["limits", "set", "webowner",
                       "--invocationsPerMinute", "2"]) == 0
    # counts are per minute: the whole of a fresh one ahead
    stack.fresh_minute()
    assert web(stack, "webowner/default/w.json").status_code == 200
    # the gateway learns the namespace's limits at its next sync (once a second)
    db = stack.redis(decode_responses=False)
    db.delete("owx:{webowner}:inflight")
    wait_until(lambda: db.exists("owx:{webowner}:inflight"), 5, "a limits sync")
    statuses = [web(stack, "webowner/default/w.json").status_code for _ in range(3)]
    assert statuses[-1] == 429, statuses
    r = web(stack, "webowner/default/w.json", auth=guest_auth())
    body = assert_error(r, 429)
    assert body["error"].startswith("Too many requests in the last minute (count: ")
    assert body["error"].endswith(", allowed: 2).")
