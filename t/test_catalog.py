"""test_catalog.py: whisk.system/utils (catalog/, installed by tools/owx/catalog.py) and
invoking through package bindings and other namespaces' public packages
(openwhisk-api.md §1, §3, §5): parameters merge package <- binding <- action <- request,
the record is the invoker's with annotations path (the action run) and binding,
private packages of other namespaces are 403 with OpenWhisk's message, and containers
are never shared between invoking namespaces."""

import datetime

import pytest
import requests

from conftest import assert_error, wait_activation
from owx import admin, catalog

UTILS = ("echo", "cat", "split", "sort", "head", "date")


@pytest.fixture(scope="module")
def installed(stack):
    assert admin.main(stack.admin_args() + ["catalog", "install",
                       "--apihost", stack.url]) == 0
    return stack


def invoke(api, path, params=None):
    r = api.post(path + "?blocking=true", params or {}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def ann(rec, key):
    return next((a["value"] for a in rec["annotations"] if a["key"] == key), None)


def test_utils_is_public_with_its_actions(installed, api):
    r = api.get("whisk.system/packages/utils")
    assert r.status_code == 200, r.text
    pkg = r.json()
    assert pkg["publish"] is True
    assert sorted(a["name"] for a in pkg["actions"]) == sorted(UTILS)
    public = api.get("whisk.system/packages").json()
    assert [p["name"] for p in public] == ["utils"]


def test_each_util_through_the_public_package(installed, api):
    base = "whisk.system/actions/utils/"
    act = invoke(api, base + "echo", {"payload": "Five fuzzy felines"})
    assert act["response"]["result"] == {"payload": "Five fuzzy felines"}
    assert act["namespace"] == "guest"
    assert act["name"] == "echo"
    assert ann(act, "path") == "whisk.system/utils/echo"
    assert ann(act, "binding") is None

    res = invoke(api, base + "split", {"payload": "one,two,three", "separator": ","})
    assert res["response"]["result"] == {"lines": ["one", "two", "three"],
                                         "payload": "one,two,three"}
    res = invoke(api, base + "split", {"payload": "a\nb\r\nc"})
    assert res["response"]["result"]["lines"] == ["a", "b", "c"]
    res = invoke(api, base + "sort", {"lines": ["b", "c", "a"]})
    assert res["response"]["result"] == {"lines": ["a", "b", "c"], "length": 3}
    res = invoke(api, base + "head", {"lines": [4, 2, 3], "num": 2})
    assert res["response"]["result"] == {"lines": [4, 2], "num": 2}
    res = invoke(api, base + "head", {"lines": [4, 2, 3]})
    assert res["response"]["result"] == {"lines": [4], "num": 1}
    res = invoke(api, base + "cat", {"lines": ["x", 1], "dropped": True})
    assert res["response"]["result"] == {"lines": ["x", 1], "payload": "x\n1"}
    res = invoke(api, base + "date")
    stamp = datetime.datetime.strptime(res["response"]["result"]["date"],
                                       "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs((datetime.datetime.utcnow() - stamp).total_seconds()) < 60

    # the record is stored in the invoker's namespace, not whisk.system's
    rec = wait_activation(api, act["activationId"])
    assert rec["namespace"] == "guest"
    assert ann(rec, "path") == "whisk.system/utils/echo"
    listed = api.get("_/activations?name=utils/echo").json()
    assert act["activationId"] in [a["activationId"] for a in listed]


def test_through_a_binding_params_merge_package_binding_action_request(installed, api,
                                                                      system_api):
    # package params (p, b, a, r), binding overrides b, a, r; the action a, r; request r
    r = system_api.put("_/packages/merge?overwrite=true", {
        "publish": True,
        "parameters": [{"key": k, "value": "package"} for k in ("p", "b", "a", "r")]})
    assert r.status_code == 200, r.text
    r = system_api.put("_/actions/merge/show?overwrite=true", {
        "exec": {"kind": "nodejs:default", "code": "function main(p) { return p }"},
        "parameters": [{"key": k, "value": "action"} for k in ("a", "r")]})
    assert r.status_code == 200, r.text
    r = api.put("_/packages/mb?overwrite=true", {
        "binding": {"namespace": "whisk.system", "name": "merge"},
        "parameters": [{"key": k, "value": "binding"} for k in ("b", "a", "r")]})
    assert r.status_code == 200, r.text

    act = invoke(api, "_/actions/mb/show", {"r": "request"})
    assert act["response"]["result"] == {"p": "package", "b": "binding", "a": "action",
                                         "r": "request"}
    assert act["namespace"] == "guest"
    assert act["name"] == "show"
    assert ann(act, "path") == "whisk.system/merge/show"
    assert ann(act, "binding") == "guest/mb"
    rec = wait_activation(api, act["activationId"])
    assert ann(rec, "binding") == "guest/mb"
    # OpenWhisk's activations view keys records run through a binding on the binding
    listed = api.get("_/activations?name=mb/show").json()
    assert act["activationId"] in [a["activationId"] for a in listed]

    # straight through the public package: no binding parameters
    act = invoke(api, "whisk.system/actions/merge/show", {"r": "request"})
    assert act["response"]["result"] == {"p": "package", "b": "package", "a": "action",
                                         "r": "request"}


def test_utils_through_a_binding(installed, api):
    r = api.put("_/packages/myutils?overwrite=true",
                {"binding": {"namespace": "whisk.system", "name": "utils"}})
    assert r.status_code == 200, r.text
    for name, params, want in (
            ("echo", {"x": 1}, {"x": 1}),
            ("sort", {"lines": [3, 1, 2]}, {"lines": [1, 2, 3], "length": 3}),
            ("cat", {"lines": ["a", "b"]}, {"lines": ["a", "b"], "payload": "a\nb"})):
        act = invoke(api, "_/actions/myutils/" + name, params)
        assert act["response"]["result"] == want
        assert ann(act, "binding") == "guest/myutils"
        assert ann(act, "path") == "whisk.system/utils/" + name


def test_private_and_missing_foreign_packages_are_403(installed, api, system_api):
    r = system_api.put("_/packages/secret?overwrite=true", {})
    assert r.status_code == 200, r.text
    r = system_api.put("_/actions/secret/x?overwrite=true",
                       {"exec": {"kind": "nodejs:default", "code": "function main() {}"}})
    assert r.status_code == 200, r.text
    r = system_api.put("_/actions/rootact?overwrite=true",
                       {"exec": {"kind": "nodejs:default", "code": "function main() {}"}})
    assert r.status_code == 200, r.text
    msg = "The supplied authentication is not authorized to access '%s'."
    for path in ("whisk.system/secret/x", "whisk.system/nothere/x", "whisk.system/rootact"):
        for blocking in ("true", "false"):
            r = api.post("whisk.system/actions/%s?blocking=%s" % (path.split("/", 1)[1],
                                                                  blocking), {})
            assert_error(r, 403, msg % path)
    # a binding of one's own to a private package is refused the same way
    r = api.put("_/packages/tosecret?overwrite=true",
                {"binding": {"namespace": "whisk.system", "name": "secret"}})
    if r.status_code == 200:
        r = api.post("_/actions/tosecret/x?blocking=true", {})
        assert_error(r, 403, msg % "guest/tosecret/x")
    # a missing action of a public package is 404
    r = api.post("whisk.system/actions/utils/nope?blocking=true", {})
    assert_error(r, 404, "The requested resource does not exist.")
    # the owner still runs its private action
    r = system_api.post("_/actions/secret/x?blocking=true", {})
    assert r.status_code == 200, r.text


def test_containers_are_not_shared_between_invoking_namespaces(installed, api, make_user,
                                                               system_api, stack):
    alice = make_user("alice-catalog")
    a1 = invoke(api, "whisk.system/actions/utils/echo", {"who": "guest"})
    a2 = invoke(alice, "whisk.system/actions/utils/echo", {"who": "alice"})
    a3 = invoke(system_api, "_/actions/utils/echo", {"who": "system"})
    assert a2["namespace"] == "alice-catalog"
    assert a3["namespace"] == "whisk.system"
    pool = requests.get("http://%s/v1/containers" % stack.pool_addr, timeout=5,
                        headers=stack.internal_headers).json()
    entries = pool["containers"] if isinstance(pool, dict) else pool
    keys = {c["action"] for c in entries}
    assert {"guest/whisk.system/utils/echo", "alice-catalog/whisk.system/utils/echo",
            "whisk.system/utils/echo"} <= keys
    assert a1["activationId"] not in [a["activationId"] for a in
                                      alice.get("_/activations").json()]


def test_catalog_install_is_versioned_and_keeps_user_changes(installed, api, system_api):
    r = installed
    red = admin.connect(r.redis_addr, r.secret("redis-admin"))
    manifest = catalog.load()
    # the same version: nothing happens
    assert catalog.install(red, r.url, admin.SYSTEM_KEY, log=lambda *a: None) == \
        [("", "current")]
    # a user changes utils/date; a new catalog version re-installs the rest only
    r2 = system_api.put("_/actions/utils/date?overwrite=true",
                        {"exec": {"kind": "nodejs:default",
                                  "code": "function main() { return {mine: true} }"}})
    assert r2.status_code == 200, r2.text
    echo_before = system_api.get("_/actions/utils/echo").json()
    manifest["version"] = manifest["version"] + "-next"
    done = dict(catalog.install(red, r.url, admin.SYSTEM_KEY, manifest=manifest,
                                log=lambda *a: None))
    assert done["utils/date"] == "kept"
    assert done["utils/echo"] == "installed"
    echo_after = system_api.get("_/actions/utils/echo").json()
    assert echo_after["updated"] >= echo_before["updated"]
    assert "mine" in system_api.get("_/actions/utils/date").json()["exec"]["code"]
    assert red.hget("owx:{whisk.system}:catalog", "version") == manifest["version"]


# the example: a sequence of another namespace's public actions
def test_split_sort_head_cat_sequence(installed, api):
    comps = ["/whisk.system/utils/" + n for n in ("split", "sort", "head", "cat")]
    r = api.put("_/actions/firstline?overwrite=true",
                {"exec": {"kind": "sequence", "components": comps}})
    assert r.status_code == 200, r.text
    r = api.post("_/actions/firstline?blocking=true&result=true",
                 {"payload": "pear\napple\nfig"}, timeout=60)
    assert r.status_code == 200, r.text
    # each component gets only its predecessor's result: head keeps its default 1
    assert r.json() == {"lines": ["apple"], "payload": "apple"}
