"""test_actions.py: /namespaces/{ns}/actions management (openwhisk-api.md §3, §4, §6, §10):
create/update/get/delete/list, exec kinds, sequences, limits, packages and bindings."""

import base64
import io
import json
import time
import zipfile

import pytest

from conftest import assert_error, NODE_KIND, PY_KIND, KINDS_LIST

NODE = "function main(params) { return {payload: 'hi ' + params.name}; }"
DEFAULT_LIMITS = {"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1}
BAD_NAME = "The name of the entity contains illegal characters."
NOT_FOUND = "The requested resource does not exist."
WRONG_COLL = "Resource by this name exists but is not in this collection."
ON_BINDING = "Operation not permitted on package binding."


@pytest.fixture(scope="module")
def db(stack):
    return stack.redis()


def make_package(db, ns, name, publish=False, binding=None, parameters=None):
    """Store a package entity directly (the packages API is another issue's)."""
    now = int(time.time() * 1000)
    doc = {"namespace": ns, "name": name, "version": "0.0.1", "publish": publish,
           "annotations": [], "parameters": parameters or [], "binding": binding or {},
           "updated": now}
    db.hset("owx:{%s}:e:%s" % (ns, name),
            mapping={"coll": "packages", "rev": 1, "doc": json.dumps(doc)})
    db.zadd("owx:{%s}:i:packages" % ns, {name: now})


def node(code=NODE, **extra):
    return dict({"exec": {"kind": "nodejs:default", "code": code}}, **extra)


def put_ok(api, path, body, overwrite=False):
    r = api.put("_/actions/" + path, body, params={"overwrite": str(overwrite).lower()})
    assert r.status_code == 200, r.text
    return r.json()


# ---- create / get ----

def test_create_javascript_action_then_get_it(api):
    a = put_ok(api, "hello", node(parameters=[{"key": "name", "value": "x"}]))
    assert isinstance(a.pop("updated"), int)
    assert a == {
        "namespace": "guest", "name": "hello", "version": "0.0.1", "publish": False,
        "exec": {"kind": NODE_KIND, "code": NODE, "binary": False},
        "parameters": [{"key": "name", "value": "x"}],
        "limits": DEFAULT_LIMITS,
        "annotations": [{"key": "provide-api-key", "value": False},
                        {"key": "exec", "value": NODE_KIND}],
    }
    got = api.get("_/actions/hello")
    assert got.status_code == 200
    got = got.json()
    del got["updated"]
    assert got == a
    # the fully spelled namespace reads the same document
    assert api.get("guest/actions/hello").json()["exec"]["code"] == NODE


def test_python_action_keeps_main_and_concrete_kind(api):
    a = put_ok(api, "py", {"exec": {"kind": "python:default", "code": "def run(a): return a",
                                    "main": "run"}})
    assert a["exec"] == {"kind": PY_KIND, "code": "def run(a): return a",
                         "binary": False, "main": "run"}
    assert {"key": "exec", "value": PY_KIND} in a["annotations"]


def test_zip_upload_is_binary_and_code_false_hides_it(api):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.js", NODE)
    code = base64.b64encode(buf.getvalue()).decode()
    a = put_ok(api, "zipped", {"exec": {"kind": NODE_KIND, "code": code, "main": "main"}})
    assert a["exec"] == {"kind": NODE_KIND, "code": code, "binary": True, "main": "main"}
    meta = api.get("_/actions/zipped", params={"code": "false"}).json()
    assert meta["exec"] == {"kind": NODE_KIND, "binary": True, "main": "main"}
    # the client's "binary" is ignored: the server decides
    a = put_ok(api, "notzip", {"exec": {"kind": NODE_KIND, "code": NODE, "binary": True}})
    assert a["exec"]["binary"] is False


def test_blackbox_needs_an_image(api):
    a = put_ok(api, "bb", {"exec": {"kind": "blackbox", "image": "openwhisk/example"}})
    assert a["exec"] == {"kind": "blackbox", "image": "openwhisk/example", "binary": False}
    assert a["annotations"][-1] == {"key": "exec", "value": "blackbox"}
    a = put_ok(api, "bb2", {"exec": {"kind": "blackbox", "image": "me/img", "code": "UEsDBA==",
                                     "main": "go"}})
    assert a["exec"] == {"kind": "blackbox", "image": "me/img", "code": "UEsDBA==",
                         "binary": True, "main": "go"}
    assert api.get("_/actions/bb2?code=false").json()["exec"] == {
        "kind": "blackbox", "image": "me/img", "binary": True, "main": "go"}
    assert_error(api.put("_/actions/bb3", {"exec": {"kind": "blackbox"}}), 400,
                 "The request content was malformed:\n'image' must be a string defined in "
                 "'exec' for 'blackbox' actions")


def test_bad_execs_are_400(api):
    assert_error(api.put("_/actions/k1", {"exec": {"kind": "cobol:1", "code": "x"}}), 400,
                 "The specified runtime 'cobol:1' is not supported by this platform. Valid "
                 "values are: " + KINDS_LIST + ".")
    assert_error(api.put("_/actions/k1", {"exec": {"kind": "ruby:default", "code": "x"}}), 400,
                 "The specified runtime 'ruby:default' is not supported by this platform. "
                 "Valid values are: " + KINDS_LIST + ".")
    assert_error(api.put("_/actions/k1", {"exec": {"code": "x"}}), 400,
                 "The request content was malformed:\n'kind' must be a string defined in 'exec'")
    assert_error(api.put("_/actions/k1", {"exec": {"kind": NODE_KIND}}), 400,
                 "The request content was malformed:\n'code' must be a string defined in "
                 "'exec' for '" + NODE_KIND + "' actions")
    assert_error(api.put("_/actions/k1", {"exec": "x"}), 400,
                 "The request content was malformed:\nJSON object expected")
    assert_error(api.put("_/actions/k1", {}), 400, "exec undefined")
    assert_error(api.put("_/actions/k1?overwrite=true", {"publish": True}), 400,
                 "exec undefined")
    assert_error(api.put("_/actions/k1", data="{", headers={"Content-Type": "application/json"}),
                 400)
    assert_error(api.get("_/actions/k1"), 404, NOT_FOUND)


def test_bad_names_are_400(api):
    for path in ("_/actions/a%7Bb", "_/actions/%20a", "_/actions/p%7B/a"):
        assert_error(api.put(path, node()), 400, BAD_NAME)
        assert_error(api.get(path), 400, BAD_NAME)
        assert_error(api.delete(path), 400, BAD_NAME)
    assert_error(api.get("_/actions/p%7B/"), 400, BAD_NAME)


# ---- update ----

def test_overwrite_false_on_existing_is_409(api):
    put_ok(api, "once", node())
    assert_error(api.put("_/actions/once", node(), params={"overwrite": "false"}), 409,
                 "resource already exists")
    assert_error(api.put("_/actions/once", node()), 409, "resource already exists")


def test_update_bumps_version_merges_annotations_and_keeps_exec(api):
    put_ok(api, "upd", node(annotations=[{"key": "a", "value": 1}, {"key": "b", "value": 2}],
                            parameters=[{"key": "p", "value": 1}],
                            limits={"memory": 512}))
    a = put_ok(api, "upd", {"annotations": [{"key": "b", "value": 3}, {"key": "c", "value": 4}],
                            "delAnnotations": ["a", "provide-api-key"], "publish": True,
                            "limits": {"timeout": 1000}}, overwrite=True)
    assert a["version"] == "0.0.2"
    assert a["publish"] is True
    assert a["exec"] == {"kind": NODE_KIND, "code": NODE, "binary": False}
    assert a["parameters"] == [{"key": "p", "value": 1}]
    assert a["limits"] == {"timeout": 1000, "memory": 512, "logs": 10, "concurrency": 1}
    assert a["annotations"] == [{"key": "b", "value": 3}, {"key": "c", "value": 4},
                                {"key": "exec", "value": NODE_KIND}]
    # a new exec changes the kind annotation; an explicit version is kept
    a = put_ok(api, "upd", {"exec": {"kind": PY_KIND, "code": "x"}, "version": "1.2.3"},
               overwrite=True)
    assert a["version"] == "1.2.3"
    assert a["annotations"][-1] == {"key": "exec", "value": PY_KIND}
    assert [x["key"] for x in a["annotations"]].count("exec") == 1
    assert api.get("_/actions/upd").json()["version"] == "1.2.3"
    assert put_ok(api, "upd", {}, overwrite=True)["version"] == "1.2.4"


def test_limits_out_of_range_are_400(api):
    cases = [
        ({"memory": 1024}, "memory 1024 MB exceeds allowed threshold of 512 MB"),
        ({"memory": 64}, "memory 64 MB below allowed threshold of 128 MB"),
        ({"timeout": 400000},
         "duration 400000 milliseconds exceeds allowed threshold of 300000 milliseconds"),
        ({"timeout": 10}, "duration 10 milliseconds below allowed threshold of 100 milliseconds"),
        ({"logs": 11}, "log size 11 MB exceeds allowed threshold of 10 MB"),
        ({"concurrency": 10}, "concurrency 10 exceeds allowed threshold of 1"),
    ]
    for limits, msg in cases:
        assert_error(api.put("_/actions/lim", node(limits=limits)), 400, msg)
    assert_error(api.get("_/actions/lim"), 404)
    a = put_ok(api, "lim", node(limits={"timeout": 300000, "memory": 128, "logs": 0}))
    assert a["limits"] == {"timeout": 300000, "memory": 128, "logs": 0, "concurrency": 1}
    assert_error(api.put("_/actions/lim?overwrite=true", {"limits": {"memory": 513}}), 400,
                 "memory 513 MB exceeds allowed threshold of 512 MB")
    assert api.get("_/actions/lim").json()["limits"]["memory"] == 128


def test_too_large_exec_and_parameters_are_413(api):
    code = "a" * (50331648 + 1)
    assert_error(api.put("_/actions/big", {"exec": {"kind": NODE_KIND, "code": code}},
                         timeout=60),
                 413, "exec larger than allowed: 50331649 > 50331648 bytes.")
    params = [{"key": "p", "value": "x" * (1024 * 1024)}]
    size = len(json.dumps(params, separators=(",", ":")))
    assert_error(api.put("_/actions/big", node(parameters=params)), 413,
                 "parameters larger than allowed: %d > 1048576 bytes." % size)
    assert_error(api.get("_/actions/big"), 404)


def test_wrong_collection_is_409(api):
    assert api.put("_/triggers/twin", {}).status_code == 200
    assert_error(api.put("_/actions/twin", node()), 409, WRONG_COLL)
    assert_error(api.put("_/actions/twin?overwrite=true", node()), 409, WRONG_COLL)
    assert_error(api.get("_/actions/twin"), 409, WRONG_COLL)
    assert_error(api.delete("_/actions/twin"), 409, WRONG_COLL)
    assert api.get("_/triggers/twin").status_code == 200


# ---- sequences ----

def test_sequence_resolves_default_namespace(api, system_packages):
    # components must exist and be readable at PUT (t/test_sequence_put.py):
    # system_packages makes the public whisk.system/utils/echo
    put_ok(api, "s1", node())
    put_ok(api, "s2", node())
    a = put_ok(api, "seq", {"exec": {"kind": "sequence",
                                     "components": ["/_/s1", "/guest/s2", "whisk.system/utils/echo"]},
                            "parameters": [{"key": "dropped", "value": 1}]})
    comps = ["/guest/s1", "/guest/s2", "/whisk.system/utils/echo"]
    assert a["exec"] == {"kind": "sequence", "components": comps}
    assert a["parameters"] == [{"key": "_actions", "value": comps}]
    assert a["annotations"][-1] == {"key": "exec", "value": "sequence"}
    assert api.get("_/actions/seq?code=false").json()["exec"] == a["exec"]
    # an update without exec keeps the sequence and its parameters
    a = put_ok(api, "seq", {"parameters": [{"key": "x", "value": 1}]}, overwrite=True)
    assert a["parameters"] == [{"key": "_actions", "value": comps}]
    # replacing it by code drops the sequence parameter
    a = put_ok(api, "seq", node(), overwrite=True)
    assert a["parameters"] == []
    assert a["exec"]["kind"] == NODE_KIND


def test_bad_sequences_are_400(api):
    def seq(components):
        return {"exec": {"kind": "sequence", "components": components}}
    assert_error(api.put("_/actions/badseq", seq([])), 400,
                 "No component specified for the sequence.")
    assert_error(api.put("_/actions/badseq", seq(["s1"])), 400,
                 "The request content was malformed:\nrequirement failed: fully qualified "
                 "entity name must contain at least the namespace and the name of the entity")
    assert_error(api.put("_/actions/badseq", seq(["/_/a{b"])), 400, BAD_NAME)
    assert_error(api.put("_/actions/badseq", {"exec": {"kind": "sequence"}}), 400,
                 "The request content was malformed:\n'components' must be defined for "
                 "sequence kind")
    assert_error(api.get("_/actions/badseq"), 404)


# ---- delete ----

def test_delete_returns_the_document(api):
    created = put_ok(api, "gone", node())
    r = api.delete("_/actions/gone")
    assert r.status_code == 200
    assert r.json() == created
    assert_error(api.get("_/actions/gone"), 404, NOT_FOUND)
    assert_error(api.delete("_/actions/gone"), 404, NOT_FOUND)


# ---- packages ----

def test_packaged_actions_in_own_package(api, db):
    make_package(db, "guest", "pk", parameters=[{"key": "p", "value": 1},
                                                {"key": "name", "value": "pkg"}])
    a = put_ok(api, "pk/a", node(parameters=[{"key": "name", "value": "act"}]))
    assert a["namespace"] == "guest/pk" and a["name"] == "a"
    assert a["parameters"] == [{"key": "name", "value": "act"}]
    got = api.get("_/actions/pk/a").json()
    assert got["namespace"] == "guest/pk"
    # package parameters are inherited, the action's win
    assert got["parameters"] == [{"key": "p", "value": 1}, {"key": "name", "value": "act"}]
    assert put_ok(api, "pk/a", {"publish": True}, overwrite=True)["version"] == "0.0.2"
    assert_error(api.put("_/actions/nopkg/a", node()), 404, NOT_FOUND)
    assert_error(api.get("_/actions/nopkg/a"), 404, NOT_FOUND)
    assert_error(api.get("_/actions/nopkg/"), 404, NOT_FOUND)
    assert_error(api.delete("_/actions/nopkg/a"), 404, NOT_FOUND)
    assert_error(api.get("_/actions/pk/nothing"), 404, NOT_FOUND)
    # a trigger is not a package
    assert api.put("_/triggers/trg", {}).status_code == 200
    assert_error(api.put("_/actions/trg/a", node()), 409, WRONG_COLL)


def test_no_writes_through_a_binding(api, db):
    make_package(db, "guest", "bindw", binding={"namespace": "guest", "name": "pk"})
    assert_error(api.put("_/actions/bindw/x", node()), 400, ON_BINDING)
    assert_error(api.delete("_/actions/bindw/x"), 400, ON_BINDING)


def test_package_listing_and_delete(make_user, db):
    u = make_user("pkglister")
    make_package(db, "pkglister", "lp")
    put_ok(u, "lp/one", node())
    put_ok(u, "lp/two", node())
    put_ok(u, "root", node())
    names = [x["name"] for x in u.get("_/actions/lp/").json()]
    assert sorted(names) == ["one", "two"]
    entry = u.get("_/actions/lp/").json()[0]
    assert set(entry) == {"namespace", "name", "version", "publish", "annotations", "limits",
                          "exec", "updated"}
    assert entry["namespace"] == "pkglister/lp" and entry["exec"] == {"binary": False}
    assert u.get("_/actions/lp/?count=true").json() == {"actions": 2}
    assert len(u.get("_/actions/lp/?limit=1").json()) == 1
    assert_error(u.get("_/actions/lp/?limit=201"), 400,
                 "The value '201' is not in the range of 0 to 200 for actions.")
    r = u.delete("_/actions/lp/one")
    assert r.status_code == 200 and r.json()["namespace"] == "pkglister/lp"
    assert [x["name"] for x in u.get("_/actions/lp/").json()] == ["two"]
    assert u.get("_/actions?count=true").json() == {"actions": 2}


# ---- foreign namespaces, public packages, bindings ----

@pytest.fixture(scope="module")
def system_packages(system_api, db):
    make_package(db, "whisk.system", "utils", publish=True,
                 parameters=[{"key": "p", "value": 1}, {"key": "b", "value": 1}])
    make_package(db, "whisk.system", "secret", publish=False)
    put_ok(system_api, "utils/echo", node(parameters=[{"key": "own", "value": 0}]))
    put_ok(system_api, "secret/hidden", node())
    put_ok(system_api, "rootact", node())


def test_foreign_public_package_is_readable_private_is_403(api, system_packages):
    r = api.get("whisk.system/actions/utils/echo")
    assert r.status_code == 200
    assert r.json()["namespace"] == "whisk.system/utils"
    assert r.json()["exec"]["code"] == NODE
    assert "code" not in api.get("whisk.system/actions/utils/echo?code=false").json()["exec"]
    assert [x["name"] for x in api.get("whisk.system/actions/utils/").json()] == ["echo"]
    assert_error(api.get("whisk.system/actions/secret/hidden"), 403,
                 "The supplied authentication is not authorized to access "
                 "'whisk.system/secret/hidden'.")
    assert_error(api.get("whisk.system/actions/secret/"), 403)
    # a foreign package that does not exist is not disclosed
    assert_error(api.get("whisk.system/actions/nothere/x"), 403)
    # root actions, lists and writes of a foreign namespace are never allowed
    assert_error(api.get("whisk.system/actions/rootact"), 403)
    assert_error(api.get("whisk.system/actions"), 403)
    assert_error(api.put("whisk.system/actions/utils/x", node()), 403)
    assert_error(api.delete("whisk.system/actions/utils/echo"), 403)


def test_owner_reads_private_package(system_api, system_packages):
    assert system_api.get("_/actions/secret/hidden").status_code == 200
    assert system_api.get("whisk.system/actions/secret/").json()[0]["name"] == "hidden"


def test_binding_resolves_to_the_bound_package(api, db, system_packages):
    make_package(db, "guest", "mybind", binding={"namespace": "whisk.system", "name": "utils"},
                 parameters=[{"key": "b", "value": 2}])
    r = api.get("_/actions/mybind/echo")
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["namespace"] == "whisk.system/utils"
    assert a["parameters"] == [{"key": "p", "value": 1}, {"key": "b", "value": 2},
                               {"key": "own", "value": 0}]
    listed = api.get("_/actions/mybind/").json()
    assert [(x["namespace"], x["name"]) for x in listed] == [("whisk.system/utils", "echo")]
    assert_error(api.get("_/actions/mybind/nothing"), 404, NOT_FOUND)
    # bound to a private foreign package, or to nothing
    make_package(db, "guest", "badbind", binding={"namespace": "whisk.system", "name": "secret"})
    assert_error(api.get("_/actions/badbind/hidden"), 403)
    assert_error(api.get("_/actions/badbind/"), 403)
    make_package(db, "guest", "lostbind", binding={"namespace": "guest", "name": "missing"})
    assert_error(api.get("_/actions/lostbind/x"), 404, NOT_FOUND)


def test_foreign_binding_is_403_even_if_published(make_user, db, system_packages):
    # only the binding's owner may read through it
    make_package(db, "guest", "pubbind", publish=True,
                 binding={"namespace": "whisk.system", "name": "utils"})
    other = make_user("bindreader")
    assert other.get("whisk.system/actions/utils/echo").status_code == 200
    assert_error(other.get("guest/actions/pubbind/echo"), 403)


# ---- list ----

def test_list_root_and_packaged_newest_first(make_user, db):
    u = make_user("lister")
    make_package(db, "lister", "zp")
    put_ok(u, "a1", node())
    put_ok(u, "a2", node())
    put_ok(u, "zp/b3", node())
    lst = u.get("_/actions")
    assert lst.status_code == 200
    lst = lst.json()
    assert [(x["namespace"], x["name"]) for x in lst] == [
        ("lister/zp", "b3"), ("lister", "a2"), ("lister", "a1")]
    for x in lst:
        assert set(x) == {"namespace", "name", "version", "publish", "annotations", "limits",
                          "exec", "updated"}
        assert x["exec"] == {"binary": False}
        assert x["limits"] == DEFAULT_LIMITS
    assert u.get("_/actions?count=true").json() == {"actions": 3}
    assert [x["name"] for x in u.get("_/actions?limit=1&skip=1").json()] == ["a2"]
    assert len(u.get("_/actions?limit=0").json()) == 3
    assert_error(u.get("_/actions?limit=201"), 400,
                 "The value '201' is not in the range of 0 to 200 for actions.")
    assert u.get("_/actions?skip=5").json() == []
