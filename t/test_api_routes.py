"""test_api_routes.py: `wsk api create / list / get / delete` (openwhisk-api.md §10) replayed
request by request as the Go CLI sends them to the whisk.system/apimgmt web actions, the answers it
decodes (createApi: {namespace, gwApiUrl, gwApiActivated, tenantId, apidoc}; getApi: {"apis":
[{id, key, value}]}; errors: 502 {"error"} from the action), and the routes themselves served by
nginx at /api/{ns}{basepath}{relpath} (ngx_http_ow_routes_module): an internal redirect to the
route's web action /api/v1/web/{ns}/{pkg}/{action}.{type}.

The redirect target is observed through a probe location (STACK_OPTIONS extra_conf) standing in
for the web action of namespace "routeprobe"; the end-to-end tests through a real web action
need /api/v1/web/ served (helper C's web actions)."""

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import GUEST, NODE_KIND, assert_error

PROBE_NS = "routeprobe"

STACK_OPTIONS = {"extra_conf": """
        # test probe: stands in for the web actions of namespace routeprobe
        location ^~ /api/v1/web/%s/ {
            default_type text/plain;
            return 200 "$request_method $uri?$args";
        }
""" % PROBE_NS}

MGMT = "/api/v1/web/whisk.system/apimgmt/"
CLI_QS = {"accesstoken": "DUMMY TOKEN", "spaceguid": GUEST.split(":")[0]}


def apidoc(stack, ns, base, rel, verb, action, pkg="default", name=None, path_params=None):
    """The body `wsk api create BASE REL VERB ACTION` posts (commands/api.go parseApi)."""
    doc = {
        "namespace": "_",
        "gatewayBasePath": base,
        "gatewayPath": rel,
        "gatewayMethod": verb.upper(),
        "id": "API:_:%s" % base,
        "action": {
            "name": action,
            "namespace": ns,
            "backendMethod": verb.upper(),
            "backendUrl": "%s/api/v1/web/%s/%s/%s.http" % (stack.url, ns, pkg, action),
            "authkey": GUEST,
        },
    }
    if name:
        doc["apiName"] = name
    if path_params:
        doc["pathParameters"] = [{"name": p, "in": "path", "description": "Default description for '%s'" % p,
                                  "required": True, "type": "string"} for p in path_params]
    return {"apidoc": doc}


def create(api, body, rtype="json"):
    return api.post(MGMT + "createApi.http", json=body, params=dict(CLI_QS, responsetype=rtype))


def get_apis(api, **qs):
    return api.get(MGMT + "getApi.http", params=dict(CLI_QS, **qs))


def delete(api, **qs):
    return api.delete(MGMT + "deleteApi.http", params=dict(CLI_QS, **qs))


@pytest.fixture(scope="module")
def probe(make_user):
    return make_user("routeprobe-subject", PROBE_NS)


def test_create_answers_what_the_cli_prints(api, stack):
    r = create(api, apidoc(stack, "_", "/hello", "/world", "get", "hello"))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["namespace"] == "guest"
    assert body["gwApiActivated"] is True
    # the CLI prints gwApiUrl + relpath: the URL this gateway serves the route at
    assert body["gwApiUrl"] == stack.url + "/api/guest/hello"
    doc = body["apidoc"]
    assert doc["swagger"] == "2.0"
    assert doc["basePath"] == "/hello"
    assert doc["info"] == {"title": "/hello", "version": "1.0.0"}
    op = doc["paths"]["/world"]["get"]
    assert op["operationId"] == "getWorld"
    # '_' resolved to the caller's namespace, response type json by default
    assert op["x-openwhisk"] == {"namespace": "guest", "package": "", "action": "hello",
                                 "url": stack.url + "/api/v1/web/guest/default/hello.json"}
    assert op["responses"] == {"default": {"description": "Default response"}}


def test_second_endpoint_joins_the_api_and_list_shows_it(api, stack):
    r = create(api, apidoc(stack, "_", "/hello", "/there", "post", "pkg/hi"), rtype="http")
    assert r.status_code == 200, r.text
    paths = r.json()["apidoc"]["paths"]
    assert set(paths) == {"/world", "/there"}
    assert paths["/there"]["post"]["x-openwhisk"]["package"] == "pkg"
    assert paths["/there"]["post"]["x-openwhisk"]["url"].endswith("/api/v1/web/guest/pkg/hi.http")

    r = get_apis(api, limit=30, skip=0)
    assert r.status_code == 200, r.text
    apis = r.json()["apis"]
    hello = [a for a in apis if a["value"]["apidoc"]["basePath"] == "/hello"]
    assert len(hello) == 1
    assert hello[0]["id"] == "API:guest:/hello"
    assert hello[0]["value"]["gwApiUrl"] == stack.url + "/api/guest/hello"
    assert set(hello[0]["value"]["apidoc"]["paths"]) == {"/world", "/there"}


def test_get_by_basepath_and_by_api_name(api, stack):
    r = create(api, apidoc(stack, "_", "/named", "/x", "get", "a", name="My API"))
    assert r.status_code == 200, r.text
    assert r.json()["apidoc"]["info"]["title"] == "My API"

    by_path = get_apis(api, basepath="/named").json()["apis"]
    by_name = get_apis(api, basepath="My API").json()["apis"]
    assert [a["id"] for a in by_path] == ["API:guest:/named"]
    assert by_name == by_path
    # unknown: an empty list (the CLI then says "API does not exist for basepath ...")
    r = get_apis(api, basepath="/nope")
    assert r.status_code == 200 and r.json() == {"apis": []}


def test_namespaces_only_see_their_own_apis(api, stack, make_user):
    other = make_user("routes-other")
    r = create(other, apidoc(stack, "_", "/mine", "/x", "get", "a"))
    assert r.status_code == 200, r.text
    theirs = [a["id"] for a in get_apis(other).json()["apis"]]
    ours = [a["id"] for a in get_apis(api).json()["apis"]]
    assert theirs == ["API:routes-other:/mine"]
    assert "API:routes-other:/mine" not in ours
    # deleting it as guest: it does not exist for guest
    r = delete(api, basepath="/mine")
    assert r.status_code == 502
    assert r.json() == {"error": "API deletion failure: API '/mine' does not exist."}
    assert len(get_apis(other).json()["apis"]) == 1


def test_delete_operation_path_and_api(api, stack):
    for rel, verb in (("/a", "get"), ("/a", "post"), ("/b", "get")):
        assert create(api, apidoc(stack, "_", "/del", rel, verb, "x")).status_code == 200

    r = delete(api, basepath="/del", relpath="/a", operation="POST")
    assert r.status_code == 200 and r.json() == {}
    paths = get_apis(api, basepath="/del").json()["apis"][0]["value"]["apidoc"]["paths"]
    assert set(paths) == {"/a", "/b"} and set(paths["/a"]) == {"get"}

    r = delete(api, basepath="/del", relpath="/a", operation="POST")
    assert r.status_code == 502
    assert r.json() == {"error": "API deletion failure: path '/a' with operation 'post' "
                                 "does not exist in the API"}

    assert delete(api, basepath="/del", relpath="/a").status_code == 200
    r = delete(api, basepath="/del", relpath="/a")
    assert r.json() == {"error": "API deletion failure: path '/a' does not exist in the API"}

    # the last path goes: so does the API
    assert delete(api, basepath="/del", relpath="/b", operation="get").status_code == 200
    assert get_apis(api, basepath="/del").json() == {"apis": []}


def test_delete_errors_the_cli_shows(api):
    r = delete(api, basepath="/never")
    assert r.status_code == 502
    assert r.json() == {"error": "API deletion failure: API '/never' does not exist."}
    r = delete(api)
    assert r.status_code == 502 and r.json() == {"error": "basepath is required."}
    r = delete(api, basepath="/x", operation="get")
    assert r.json() == {"error": "When specifying an operation, the path is required."}


def test_create_validation_errors(api, stack):
    r = create(api, {})
    assert r.status_code == 502 and r.json() == {"error": "apidoc is required."}
    body = apidoc(stack, "_", "/v", "/x", "get", "a")
    del body["apidoc"]["gatewayPath"]
    assert create(api, body).json() == {"error": "apidoc is missing the gatewayPath field"}
    body = apidoc(stack, "_", "/v", "/x", "get", "a")
    del body["apidoc"]["action"]["authkey"]
    assert create(api, body).json() == {"error": "action is missing the authkey field."}
    r = create(api, apidoc(stack, "_", "/v", "/x", "get", "a"), rtype="xml")
    assert r.status_code == 502
    assert "response type" in r.json()["error"]
    r = api.post(MGMT + "createApi.http", data="{", headers={"Content-Type": "application/json"})
    assert_error(r, 400)


def test_management_needs_a_valid_key(stack, api):
    r = api.as_key(None).get(MGMT + "getApi.http")
    assert_error(r, 401)
    r = api.as_key("%s:%s" % (uuid.uuid4(), "x" * 64)).get(MGMT + "getApi.http")
    assert_error(r, 401)
    assert_error(api.get(MGMT + "nosuchAction.http"), 404)


def test_swagger_create_replaces_the_api(api, stack):
    swagger = {"swagger": "2.0", "basePath": "/sw", "info": {"title": "sw", "version": "1.0"},
               "paths": {"/items/{id}": {"get": {
                   "operationId": "getItemsId", "responses": {},
                   "x-openwhisk": {"namespace": "_", "package": "", "action": "item",
                                   "url": stack.url + "/api/v1/web/_/default/item.http"}}}}}
    r = create(api, {"apidoc": {"namespace": "_", "swagger": json.dumps(swagger)}})
    assert r.status_code == 200, r.text
    assert r.json()["apidoc"]["paths"] == swagger["paths"]
    assert r.json()["gwApiUrl"] == stack.url + "/api/guest/sw"
    r = create(api, {"apidoc": {"namespace": "_", "swagger": {"basePath": "/sw"}}})
    assert r.json() == {"error": "swagger is missing the paths field."}


def test_npm_client_style_requests(api, stack):
    """The openwhisk npm client: no extension, no accesstoken, backendUrl with '_'."""
    body = apidoc(stack, "_", "/npm", "/r", "get", "a")
    body["apidoc"]["action"]["namespace"] = "_"
    body["apidoc"]["action"]["backendUrl"] = stack.url + "/api/v1/web/_/default/a.http"
    r = api.post(MGMT + "createApi", json=body, params={"responsetype": "json"})
    assert r.status_code == 200, r.text
    assert r.json()["apidoc"]["paths"]["/r"]["get"]["x-openwhisk"]["url"] == \
        stack.url + "/api/v1/web/guest/default/a.json"
    r = api.get(MGMT + "getApi", params={"basepath": "/npm"})
    assert [a["id"] for a in r.json()["apis"]] == ["API:guest:/npm"]
    r = api.delete(MGMT + "deleteApi", params={"basepath": "/npm", "force": "true"})
    assert r.status_code == 200, r.text


# ---- serving the routes ----

def route(stack, path, method="GET", **kw):
    import requests
    kw.setdefault("timeout", 10)
    return requests.request(method, stack.url + path, **kw)


def test_route_redirects_to_the_web_action(stack, probe):
    assert create(probe, apidoc(stack, "_", "/books", "/list", "get", "lister"),
                  rtype="json").status_code == 200
    r = route(stack, "/api/%s/books/list?x=1" % PROBE_NS)
    assert r.status_code == 200, r.text
    # json: no path after the extension (it would project the result)
    assert r.text == "GET /api/v1/web/%s/default/lister.json?x=1" % PROBE_NS


def test_route_path_parameters_and_http_type(stack, probe):
    assert create(probe, apidoc(stack, "_", "/books", "/{id}/pages/{page}", "post", "lib/page",
                                path_params=["id", "page"]), rtype="http").status_code == 200
    assert create(probe, apidoc(stack, "_", "/books", "/new/pages/{page}", "post", "lib/fresh"),
                  rtype="http").status_code == 200
    r = route(stack, "/api/%s/books/42/pages/7?q=a" % PROBE_NS, "POST", json={"k": 1})
    assert r.status_code == 200, r.text
    method, target = r.text.split(" ", 1)
    uri, args = target.split("?", 1)
    assert method == "POST"
    # http: the path relative to the basepath follows the extension (__ow_path)
    assert uri == "/api/v1/web/%s/lib/page.http/42/pages/7" % PROBE_NS
    assert sorted(args.split("&")) == ["id=42", "page=7", "q=a"]
    # a literal segment beats a parameter
    r = route(stack, "/api/%s/books/new/pages/1" % PROBE_NS, "POST")
    assert r.text.split("?")[0] == "POST /api/v1/web/%s/lib/fresh.http/new/pages/1" % PROBE_NS


def test_unknown_route_verb_or_namespace_is_404(stack, probe):
    assert create(probe, apidoc(stack, "_", "/only", "/get", "get", "a")).status_code == 200
    for method, path in (("GET", "/api/%s/only/other" % PROBE_NS),
                         ("DELETE", "/api/%s/only/get" % PROBE_NS),
                         ("GET", "/api/nobody-here/only/get"),
                         ("GET", "/api/%s" % PROBE_NS)):
        r = route(stack, path, method)
        assert_error(r, 404, "The requested resource does not exist.")


def test_route_changes_are_seen_at_once(stack, probe):
    """The workers' copies are dropped by the event of the change: a deleted route is gone and
    a new one served on the next request, whichever worker answers."""
    path = "/api/%s/live/x" % PROBE_NS
    assert create(probe, apidoc(stack, "_", "/live", "/x", "get", "one")).status_code == 200
    for _ in range(6):  # warm both workers' copies
        assert route(stack, path).text.startswith("GET /api/v1/web/%s/default/one.json" % PROBE_NS)
    assert create(probe, apidoc(stack, "_", "/live", "/x", "get", "two")).status_code == 200
    for _ in range(6):
        assert route(stack, path).text.startswith("GET /api/v1/web/%s/default/two.json" % PROBE_NS)
    assert delete(probe, basepath="/live").status_code == 200
    for _ in range(6):
        assert route(stack, path).status_code == 404


def test_routes_in_redis_are_namespace_tagged(stack, probe):
    r = stack.redis(decode_responses=False)
    assert create(probe, apidoc(stack, "_", "/tag", "/x", "get", "a")).status_code == 200
    routes = r.hgetall("owx:{%s}:routes" % PROBE_NS)
    assert routes[b"/tag GET /x"] == ("%s/default/a.json" % PROBE_NS).encode()
    assert r.hexists("owx:{%s}:apis" % PROBE_NS, "/tag")


def test_options_is_the_cors_preflight_and_runs_no_action(stack, probe):
    """OPTIONS on a path a route serves (whatever the route's verb) is answered by the gateway
    as OpenWhisk's API gateway does for `wsk api create` APIs (CORS on): 200, empty, the
    origin asked for (or *), its default methods, the requested headers echoed; the web
    action (the probe) is not reached."""
    assert create(probe, apidoc(stack, "_", "/cors", "/items/{id}", "put", "store",
                                path_params=["id"]), rtype="http").status_code == 200
    path = "/api/%s/cors/items/9" % PROBE_NS
    r = route(stack, path, "OPTIONS", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "Content-Type, X-Token"})
    assert r.status_code == 200, r.text
    assert r.text == ""                      # the probe answers "<method> <uri>": not reached
    # each once (requests joins repeated headers with ", ")
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert r.headers["Access-Control-Allow-Methods"] == \
        "GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS"
    assert r.headers["Access-Control-Allow-Headers"] == "Content-Type, X-Token"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert len(r.headers["X-Request-ID"]) == 32

    r = route(stack, path, "OPTIONS")
    assert r.status_code == 200 and r.text == ""
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Headers" not in r.headers

    # a path no route serves stays 404; the route's own verb still reaches the action
    assert_error(route(stack, "/api/%s/cors/other" % PROBE_NS, "OPTIONS"), 404,
                 "The requested resource does not exist.")
    r = route(stack, path, "PUT")
    assert r.text.split("?")[0] == "PUT /api/v1/web/%s/default/store.http/items/9" % PROBE_NS


# ---- end to end: needs the web actions (/api/v1/web/...) ----

def web_actions_served():
    conf = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf",
                        "nginx.conf")
    with open(conf) as f:
        text = f.read()
    return "_owweb" in text or "ow_invoke_web" in text


@pytest.mark.skipif(not web_actions_served(), reason="web actions (/api/v1/web/) are not in "
                    "conf/nginx.conf yet (helper C's work)")
def test_route_reaches_the_action(api, stack):
    code = "function main(a) { return {payload: 'Hello ' + a.name, id: a.id} }"
    r = api.put("_/actions/greet?overwrite=true", json={
        "exec": {"kind": NODE_KIND, "code": code},
        "annotations": [{"key": "web-export", "value": True}]})
    assert r.status_code == 200, r.text
    assert create(api, apidoc(stack, "_", "/greet", "/hi", "get", "greet")).status_code == 200
    r = route(stack, "/api/guest/greet/hi?name=World", timeout=60)
    assert r.status_code == 200, r.text
    assert r.json() == {"payload": "Hello World"}


# ---- the openwhisk npm client's routes (t/npm) ----

NPM_ROUTES_JS = r"""
const ow = require('openwhisk')({apihost: process.env.OWX_URL, api_key: process.env.OWX_KEY});
(async () => {
  const out = {};
  const c = await ow.routes.create({basepath: '/npmr', relpath: '/items/{id}', operation: 'GET',
                                    action: 'lister', responsetype: 'http'});
  out.created = c.gwApiUrl;
  out.op = c.apidoc.paths['/items/{id}'].get['x-openwhisk'];
  out.listed = (await ow.routes.list()).apis.map(a => a.id);
  out.got = (await ow.routes.get({basepath: '/npmr'})).apis.map(a => a.value.apidoc.basePath);
  await ow.routes.delete({basepath: '/npmr'});
  out.after = (await ow.routes.get({basepath: '/npmr'})).apis.length;
  try { await ow.routes.delete({basepath: '/npmr'}); out.missing = 'no error' }
  catch (e) { out.missing = {status: e.statusCode, message: e.message} }
  console.log(JSON.stringify(out));
})().catch(e => { console.log(JSON.stringify({failed: String(e)})); process.exit(1) });
"""


def test_npm_client_routes(stack):
    npm = os.path.join(os.path.dirname(os.path.abspath(__file__)), "npm")
    exe = shutil.which("node") or shutil.which("nodejs")
    assert exe and os.path.isdir(os.path.join(npm, "node_modules", "openwhisk"))
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and not k.startswith("__OW_")}
    env.update({"OWX_URL": stack.url, "OWX_KEY": GUEST})
    p = subprocess.run([exe, "-e", NPM_ROUTES_JS], cwd=npm, env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["created"] == stack.url + "/api/guest/npmr"
    assert out["op"] == {"namespace": "guest", "package": "", "action": "lister",
                         "url": stack.url + "/api/v1/web/guest/default/lister.http"}
    assert "API:guest:/npmr" in out["listed"]
    assert out["got"] == ["/npmr"]
    assert out["after"] == 0
    assert out["missing"]["status"] == 502
    assert "API deletion failure: API '/npmr' does not exist." in out["missing"]["message"]


@pytest.mark.skipif(not web_actions_served(), reason="web actions (/api/v1/web/) are not in "
                    "conf/nginx.conf yet (helper C's work)")
def test_route_path_parameter_reaches_the_action_as_http(api, stack):
    code = ("function main(a) { return {statusCode: 201, headers: {'X-Book': a.id},"
            " body: {id: a.id, path: a.__ow_path, method: a.__ow_method, k: a.k}} }")
    r = api.put("_/actions/book?overwrite=true", json={
        "exec": {"kind": NODE_KIND, "code": code},
        "annotations": [{"key": "web-export", "value": True}]})
    assert r.status_code == 200, r.text
    assert create(api, apidoc(stack, "_", "/shelf", "/books/{id}", "put", "book",
                              path_params=["id"]), rtype="http").status_code == 200
    r = route(stack, "/api/guest/shelf/books/42", "PUT", json={"k": "v"}, timeout=60)
    assert r.status_code == 201, r.text
    assert r.headers["X-Book"] == "42"
    assert r.json() == {"id": "42", "path": "/books/42", "method": "put", "k": "v"}
