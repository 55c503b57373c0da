"""test_wsk_requests.py: replay exactly the requests the real `wsk` CLI
(openwhisk-cli -> openwhisk-client-go) sends (openwhisk-api.md §10) and check
the response shapes the Go client decodes: the fields it reads on success,
and "error" + "code" on every error (without both, wsk prints "The
connection failed, or timed out")."""

import base64
import io
import json
import zipfile

import pytest
import requests

from conftest import GUEST, SYSTEM, assert_error, basic

UA = "OpenWhisk-CLI/1.0 (2021-01-01T00:00:00.000+00:00) linux amd64"
NOT_FOUND = "The requested resource does not exist."
CODE = "function main(params) { return {payload: 'hi ' + params.name} }"


class Wsk:
    """Requests shaped like the Go client's: Basic auth, the CLI's User-Agent,
    compact JSON bodies with Content-Type only when a body exists, `_` as the
    namespace in every path, names path-escaped."""

    def __init__(self, stack, key=GUEST):
        self.stack = stack
        self.key = key
        self.session = requests.Session()
        self.log = []

    def send(self, method, path, body=None, auth=True):
        headers = {"User-Agent": UA, "Accept-Encoding": "gzip"}
        if auth:
            headers["Authorization"] = basic(self.key)
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"))
            headers["Content-Type"] = "application/json"
        url = self.stack.url + path
        r = self.session.request(method, url, data=data, headers=headers, timeout=10)
        self.log.append((method, path, r.status_code))
        return r

    def ns(self, method, rest, body=None):
        return self.send(method, "/api/v1/namespaces/_/" + rest, body)


def ok(r, status=200):
    """A success the Go client decodes: the status and a JSON body."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    return r.json()


def kv(arr):
    return {e["key"]: e["value"] for e in arr}


def check_entity(e, name, ns="guest"):
    """Fields every entity struct of the Go client reads."""
    assert e["name"] == name, e
    assert e["namespace"] == ns, e
    assert isinstance(e["version"], str) and e["version"].count(".") == 2, e
    assert isinstance(e["publish"], bool), e
    assert isinstance(e["annotations"], list), e
    assert all(set(a) >= {"key", "value"} for a in e["annotations"]), e
    assert isinstance(e["updated"], int), e


@pytest.fixture(scope="module")
def wsk(stack):
    return Wsk(stack)


@pytest.fixture(scope="module")
def kinds(stack):
    """The concrete default kind of each family, from GET /."""
    rt = requests.get(stack.url + "/", timeout=10).json()["runtimes"]
    return {fam: next(k["kind"] for k in lst if k.get("default")) for fam, lst in rt.items()}


@pytest.fixture(scope="module")
def samples(stack):
    """/whisk.system/samples, public, with one action (for `wsk package bind`)."""
    sys_wsk = Wsk(stack, SYSTEM)
    r = sys_wsk.ns("PUT", "packages/samples?overwrite=false",
                   {"namespace": "_", "name": "samples", "publish": True,
                    "parameters": [{"key": "from", "value": "samples"}]})
    ok(r)
    r = sys_wsk.ns("PUT", "actions/samples/greet?overwrite=false",
                   {"namespace": "_", "name": "samples/greet",
                    "exec": {"kind": "nodejs:default", "code": CODE}})
    ok(r)
    return "samples"


def create_action(wsk, name, kind="nodejs:default", code=CODE, extra=None):
    body = {"namespace": "_", "name": name, "exec": {"kind": kind, "code": code}}
    body.update(extra or {})
    return wsk.ns("PUT", "actions/%s?overwrite=false" % name, body)


# ---- wsk property get / namespace list / namespace get

def test_property_get(wsk):
    v1 = ok(wsk.send("GET", "/api/v1", auth=False))
    assert isinstance(v1["build"], str) and isinstance(v1["buildno"], str), v1
    assert v1["api_version"] == "1.0.0" and v1["api_version_path"] == "v1"
    assert ok(wsk.send("GET", "/api/v1/namespaces")) == ["guest"]


def test_namespace_list(wsk):
    assert ok(wsk.send("GET", "/api/v1/namespaces")) == ["guest"]


# ---- actions

def test_action_create_get_list_delete(wsk, kinds):
    a = ok(create_action(wsk, "hello"))
    check_entity(a, "hello")
    assert a["version"] == "0.0.1"
    assert a["exec"]["kind"] == kinds["nodejs"]          # nodejs:default stored concrete
    assert a["exec"]["code"] == CODE and a["exec"]["binary"] is False
    ann = kv(a["annotations"])
    assert ann["exec"] == kinds["nodejs"] and ann["provide-api-key"] is False
    assert set(a["limits"]) >= {"timeout", "memory", "logs", "concurrency"}
    assert isinstance(a["parameters"], list)

    # a second create is a server error wsk can print
    assert_error(create_action(wsk, "hello"), 409, "resource already exists")

    g = ok(wsk.ns("GET", "actions/hello?code=false"))
    check_entity(g, "hello")
    assert "code" not in g["exec"] and g["exec"]["kind"] == kinds["nodejs"]
    assert ok(wsk.ns("GET", "actions/hello?code=true"))["exec"]["code"] == CODE

    listed = ok(wsk.ns("GET", "actions?limit=30&skip=0"))
    entry = next(e for e in listed if e["name"] == "hello")
    check_entity(entry, "hello")
    assert "code" not in entry["exec"]

    d = ok(wsk.ns("DELETE", "actions/hello"))
    check_entity(d, "hello")
    assert_error(wsk.ns("GET", "actions/hello?code=false"), 404, NOT_FOUND)
    assert_error(wsk.ns("DELETE", "actions/hello"), 404, NOT_FOUND)


def test_python_default_kind(wsk, kinds):
    a = ok(create_action(wsk, "py", "python:default", "def main(args):\n    return args\n"))
    assert a["exec"]["kind"] == kinds["python"] != "python:default"
    ok(wsk.ns("DELETE", "actions/py"))


def test_action_update_is_get_then_put_overwrite(wsk):
    ok(create_action(wsk, "upd", extra={"parameters": [{"key": "name", "value": "a"}]}))
    # wsk action update upd --web true -p name b
    old = ok(wsk.ns("GET", "actions/upd?code=false"))
    assert "code" not in old["exec"]
    body = {"namespace": "_", "name": "upd",
            "parameters": [{"key": "name", "value": "b"}],
            "annotations": [{"key": "web-export", "value": True},
                            {"key": "raw-http", "value": False},
                            {"key": "final", "value": True}]}
    a = ok(wsk.ns("PUT", "actions/upd?overwrite=true", body))
    assert a["version"] == "0.0.2"
    assert a["exec"]["code"] == CODE                          # exec kept
    assert kv(a["parameters"]) == {"name": "b"}
    ann = kv(a["annotations"])
    assert ann["web-export"] is True and ann["final"] is True and "exec" in ann
    # wsk action update upd --web false: delAnnotations
    body = {"namespace": "_", "name": "upd",
            "annotations": [{"key": "web-export", "value": False}],
            "delAnnotations": ["final", "raw-http"]}
    a = ok(wsk.ns("PUT", "actions/upd?overwrite=true", body))
    ann = kv(a["annotations"])
    assert a["version"] == "0.0.3"
    assert ann["web-export"] is False and "final" not in ann and "raw-http" not in ann
    ok(wsk.ns("DELETE", "actions/upd"))


def test_update_of_a_missing_action_creates_it(wsk):
    assert_error(wsk.ns("GET", "actions/fresh?code=false"), 404, NOT_FOUND)
    a = ok(wsk.ns("PUT", "actions/fresh?overwrite=true",
                  {"namespace": "_", "name": "fresh",
                   "exec": {"kind": "nodejs:default", "code": CODE}}))
    assert a["version"] == "0.0.1"
    ok(wsk.ns("DELETE", "actions/fresh"))


def test_zip_action_is_sent_base64_with_kind(wsk, kinds):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("package.json", '{"main":"index.js"}')
        z.writestr("index.js", "exports.main = () => ({ok: true})")
    code = base64.b64encode(buf.getvalue()).decode()
    a = ok(create_action(wsk, "zipped", "nodejs:default", code, {"exec": {
        "kind": "nodejs:default", "code": code, "main": "main"}}))
    assert a["exec"]["binary"] is True and a["exec"]["kind"] == kinds["nodejs"]
    g = ok(wsk.ns("GET", "actions/zipped?code=true"))
    assert g["exec"]["code"] == code and g["exec"]["binary"] is True
    assert ok(wsk.ns("GET", "actions/zipped?code=false"))["exec"]["binary"] is True
    ok(wsk.ns("DELETE", "actions/zipped"))


def test_sequence(wsk):
    ok(create_action(wsk, "sa"))
    ok(create_action(wsk, "sb"))
    s = ok(wsk.ns("PUT", "actions/seq?overwrite=false",
                  {"namespace": "_", "name": "seq",
                   "exec": {"kind": "sequence", "components": ["/_/sa", "/_/sb"]}}))
    assert s["exec"]["kind"] == "sequence"
    assert s["exec"]["components"] == ["/guest/sa", "/guest/sb"]
    g = ok(wsk.ns("GET", "actions/seq?code=false"))
    assert g["exec"]["components"] == ["/guest/sa", "/guest/sb"]
    # component validation at PUT (exists, readable, no cycle, <= 50; §8) comes with
    # sequence execution (the composition issue)
    for n in ("seq", "sa", "sb"):
        ok(wsk.ns("DELETE", "actions/" + n))


def test_action_errors_carry_error_and_code(wsk):
    assert_error(wsk.ns("PUT", "actions/noexec?overwrite=false",
                        {"namespace": "_", "name": "noexec"}), 400, "exec undefined")
    r = create_action(wsk, "badkind", "cobol:default")
    body = assert_error(r, 400)
    assert body["error"].startswith("The specified runtime 'cobol:default' is not supported"), body
    assert_error(create_action(wsk, "mem", extra={"limits": {"memory": 1024}}), 400,
                 "memory 1024 MB exceeds allowed threshold of 512 MB")
    assert_error(wsk.ns("GET", "actions?limit=300&skip=0"), 400,
                 "The value '300' is not in the range of 0 to 200 for actions.")


# ---- packages

def test_package_create_bind_list_get_delete(wsk, samples):
    p = ok(wsk.ns("PUT", "packages/mypkg?overwrite=false",
                  {"namespace": "_", "name": "mypkg",
                   "parameters": [{"key": "k", "value": "v"}]}))
    check_entity(p, "mypkg")
    assert p["binding"] == {} and kv(p["parameters"]) == {"k": "v"}

    # wsk package bind /whisk.system/samples mybind -p x 1
    b = ok(wsk.ns("PUT", "packages/mybind?overwrite=false",
                  {"namespace": "_", "name": "mybind",
                   "binding": {"namespace": "whisk.system", "name": samples},
                   "parameters": [{"key": "x", "value": 1}]}))
    check_entity(b, "mybind")
    assert b["binding"] == {"namespace": "whisk.system", "name": samples}

    g = ok(wsk.ns("GET", "packages/mybind"))
    assert g["binding"] == {"namespace": "whisk.system", "name": samples}
    assert [a["name"] for a in g["actions"]] == ["greet"]
    assert all(set(a) >= {"name", "version", "annotations"} for a in g["actions"])

    listed = ok(wsk.ns("GET", "packages?limit=30&skip=0"))
    by_name = {e["name"]: e for e in listed}
    assert by_name["mypkg"]["binding"] is False
    assert by_name["mybind"]["binding"] == {"namespace": "whisk.system", "name": samples}
    for e in listed:
        check_entity(e, e["name"])

    # wsk package list /whisk.system
    pub = ok(wsk.send("GET", "/api/v1/namespaces/whisk.system/packages?limit=30&skip=0"))
    assert [e["name"] for e in pub] == [samples]
    # wsk action list mybind (a binding lists the bound package)
    acts = ok(wsk.ns("GET", "actions/mybind/?limit=30&skip=0"))
    assert [a["name"] for a in acts] == ["greet"]
    # wsk action get /whisk.system/samples/greet
    a = ok(wsk.send("GET", "/api/v1/namespaces/whisk.system/actions/samples/greet?code=false"))
    check_entity(a, "greet", "whisk.system/samples")

    assert_error(wsk.ns("PUT", "packages/badbind?overwrite=false",
                        {"namespace": "_", "name": "badbind",
                         "binding": {"namespace": "guest", "name": "nope"}}),
                 400, "Binding references a package that does not exist.")
    assert_error(wsk.ns("PUT", "packages/default?overwrite=false",
                        {"namespace": "_", "name": "default"}),
                 400, "Package name 'default' is reserved.")

    ok(wsk.ns("DELETE", "packages/mybind"))
    ok(wsk.ns("DELETE", "packages/mypkg"))
    assert_error(wsk.ns("GET", "packages/mypkg"), 404, NOT_FOUND)


def test_packaged_action(wsk):
    ok(wsk.ns("PUT", "packages/pk?overwrite=false", {"namespace": "_", "name": "pk"}))
    a = ok(wsk.ns("PUT", "actions/pk/inner?overwrite=false",
                  {"namespace": "_", "name": "pk/inner",
                   "exec": {"kind": "nodejs:default", "code": CODE}}))
    check_entity(a, "inner", "guest/pk")
    acts = ok(wsk.ns("GET", "actions/pk/?limit=30&skip=0"))
    assert [(x["namespace"], x["name"]) for x in acts] == [("guest/pk", "inner")]
    assert_error(wsk.ns("DELETE", "packages/pk"), 409,
                 "Package not empty (contains 1 entity). Set force param or delete "
                 "package contents.")
    ok(wsk.ns("DELETE", "actions/pk/inner"))
    ok(wsk.ns("DELETE", "packages/pk"))


# ---- triggers and rules

def test_trigger_create_get_list_update_delete(wsk):
    t = ok(wsk.ns("PUT", "triggers/tw?overwrite=false",
                  {"name": "tw", "parameters": [{"key": "k", "value": "v"}]}))
    check_entity(t, "tw")
    assert kv(t["parameters"]) == {"k": "v"} and t["annotations"] == [] and t["limits"] == {}
    assert_error(wsk.ns("PUT", "triggers/tw?overwrite=false", {"name": "tw"}), 409,
                 "resource already exists")
    g = ok(wsk.ns("GET", "triggers/tw"))
    check_entity(g, "tw")
    u = ok(wsk.ns("PUT", "triggers/tw?overwrite=true",
                  {"name": "tw", "annotations": [{"key": "a", "value": 1}]}))
    assert u["version"] == "0.0.2" and kv(u["parameters"]) == {"k": "v"}
    listed = ok(wsk.ns("GET", "triggers?limit=30&skip=0"))
    assert [e["name"] for e in listed] == ["tw"]
    check_entity(listed[0], "tw")
    ok(wsk.ns("DELETE", "triggers/tw"))
    assert_error(wsk.ns("GET", "triggers/tw"), 404, NOT_FOUND)


def test_rule_create_enable_disable_get_list_delete(wsk):
    ok(wsk.ns("PUT", "triggers/rt?overwrite=false", {"name": "rt"}))
    ok(create_action(wsk, "ra"))
    r = ok(wsk.ns("PUT", "rules/rr?overwrite=false",
                  {"name": "rr", "status": "", "trigger": "/_/rt", "action": "/_/ra"}))
    check_entity(r, "rr")
    assert r["status"] == "active"
    assert r["trigger"] == {"path": "guest", "name": "rt"}
    assert r["action"] == {"path": "guest", "name": "ra"}

    # wsk rule disable rr / enable rr
    d = wsk.ns("POST", "rules/rr", {"status": "inactive", "trigger": None, "action": None})
    assert d.status_code == 200, d.text
    assert ok(wsk.ns("GET", "rules/rr"))["status"] == "inactive"
    d = wsk.ns("POST", "rules/rr", {"status": "inactive", "trigger": None, "action": None})
    assert d.status_code == 200, d.text
    e = wsk.ns("POST", "rules/rr", {"status": "active", "trigger": None, "action": None})
    assert e.status_code == 200, e.text
    g = ok(wsk.ns("GET", "rules/rr"))
    assert g["status"] == "active" and g["trigger"] == {"path": "guest", "name": "rt"}
    assert_error(wsk.ns("POST", "rules/rr", {"status": "paused", "trigger": None,
                                             "action": None}), 400)

    t = ok(wsk.ns("GET", "triggers/rt"))
    assert t["rules"] == {"guest/rr": {"action": {"path": "guest", "name": "ra"},
                                       "status": "active"}}

    listed = ok(wsk.ns("GET", "rules?limit=30&skip=0"))
    assert [x["name"] for x in listed] == ["rr"]
    check_entity(listed[0], "rr")

    assert_error(wsk.ns("PUT", "rules/bad?overwrite=false",
                        {"name": "bad", "status": "", "trigger": "/_/nope",
                         "action": "/_/ra"}), 400)
    assert_error(wsk.ns("PUT", "rules/rr?overwrite=false",
                        {"name": "rr", "status": "", "trigger": "/_/rt", "action": "/_/ra"}),
                 409, "resource already exists")

    dl = ok(wsk.ns("DELETE", "rules/rr"))
    assert dl["status"] == "inactive" and dl["name"] == "rr"
    assert_error(wsk.ns("GET", "rules/rr"), 404, NOT_FOUND)
    ok(wsk.ns("DELETE", "triggers/rt"))
    ok(wsk.ns("DELETE", "actions/ra"))


def test_namespace_get(stack, make_user):
    """`wsk namespace get`: the four lists with limit=0&skip=0, then each rule
    (in a namespace of its own, so the other tests' entities don't count)."""
    wsk = Wsk(stack, make_user("nsget").key)
    ok(wsk.ns("PUT", "triggers/nt?overwrite=false", {"name": "nt"}))
    ok(create_action(wsk, "na"))
    ok(wsk.ns("PUT", "packages/np?overwrite=false", {"namespace": "_", "name": "np"}))
    ok(wsk.ns("PUT", "rules/nr?overwrite=false",
              {"name": "nr", "status": "", "trigger": "/_/nt", "action": "/_/na"}))
    lists = {c: ok(wsk.ns("GET", "%s?limit=0&skip=0" % c))
             for c in ("actions", "packages", "triggers", "rules")}
    assert {c: [e["name"] for e in v] for c, v in lists.items()} == {
        "actions": ["na"], "packages": ["np"], "triggers": ["nt"], "rules": ["nr"]}
    for rule in lists["rules"]:
        g = ok(wsk.ns("GET", "rules/" + rule["name"]))
        assert g["status"] == "active"
    ok(wsk.ns("DELETE", "rules/nr"))
    ok(wsk.ns("DELETE", "packages/np"))
    ok(wsk.ns("DELETE", "actions/na"))
    ok(wsk.ns("DELETE", "triggers/nt"))


# ---- activations

def test_activation_list(wsk):
    assert ok(wsk.ns("GET", "activations?limit=30&skip=0")) == []
    assert ok(wsk.ns("GET", "activations?limit=1&skip=0&docs=true")) == []
    assert ok(wsk.ns("GET", "activations?limit=30&skip=0&name=hello")) == []
    assert_error(wsk.ns("GET", "activations/0123456789abcdef0123456789abcdef"), 404, NOT_FOUND)
    assert_error(wsk.ns("GET", "activations?count=true&docs=true"), 400,
                 "The parameter 'docs' is not permitted with 'count'.")


# ---- errors the CLI must be able to print

def test_auth_errors_carry_error_and_code(wsk, stack):
    bad = Wsk(stack, GUEST.split(":")[0] + ":" + "x" * 64)
    assert_error(bad.ns("GET", "actions?limit=30&skip=0"), 401,
                 "The supplied authentication is invalid")
    anon = Wsk(stack)
    assert_error(anon.send("GET", "/api/v1/namespaces/_/triggers?limit=30&skip=0", auth=False),
                 401, "The resource requires authentication, which was not supplied with "
                      "the request")
    assert_error(wsk.send("GET", "/api/v1/namespaces/whisk.system/triggers?limit=30&skip=0"),
                 403)


def test_bad_names_are_400_with_code(wsk):
    assert_error(wsk.ns("PUT", "triggers/-bad?overwrite=false", {"name": "-bad"}), 400,
                 "The name of the entity contains illegal characters.")
    assert_error(wsk.ns("GET", "triggers/x%24"), 400,
                 "The name of the entity contains illegal characters.")
