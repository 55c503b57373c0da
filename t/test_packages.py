"""test_packages.py: /namespaces/{ns}/packages (openwhisk-api.md §3, §4, §10):
packages, bindings, public packages of other namespaces, lists, force delete."""

import itertools
import json
import time

import pytest

from conftest import assert_error, NODE_KIND
from owx import admin

PKG_FIELDS = {"namespace", "name", "version", "publish", "annotations", "parameters",
              "binding", "updated"}
SUMMARY_FIELDS = {"namespace", "name", "version", "publish", "annotations", "updated",
                  "binding"}

_clock = itertools.count(int(time.time() * 1000))


@pytest.fixture(scope="module")
def rds(stack):
    return admin.connect(stack.redis_addr, stack.secret("redis-admin"))


def put_packaged_action(rds, ns, pkg, name, annotations=None, version="0.0.1"):
    """Write an action into package ns/pkg straight into Redis (the schema of
    docs/redis-schema.md), so these tests do not depend on the actions API."""
    ms = next(_clock)
    doc = {"namespace": "%s/%s" % (ns, pkg), "name": name, "version": version,
           "publish": False,
           "exec": {"kind": NODE_KIND, "code": "function main(a) { return a }",
                    "binary": False},
           "parameters": [],
           "limits": {"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1},
           "annotations": annotations if annotations is not None
           else [{"key": "exec", "value": NODE_KIND}],
           "updated": ms}
    rds.hset("owx:{%s}:e:%s/%s" % (ns, pkg, name),
             mapping={"coll": "actions", "rev": 1, "doc": json.dumps(doc)})
    rds.zadd("owx:{%s}:i:actions" % ns, {"%s/%s" % (pkg, name): ms})
    rds.zadd("owx:{%s}:p:%s" % (ns, pkg), {name: ms})
    return doc


def entry(action):
    return {"name": action["name"], "version": action["version"],
            "annotations": action["annotations"]}


def put_ok(api, path, body=None, **params):
    r = api.put(path, json={} if body is None else body, params=params or None)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def forbidden(what):
    return "The supplied authentication is not authorized to access '%s'." % what


# ---------------------------------------------------------------- packages


def test_create_returns_the_package_document(api):
    before = int(time.time() * 1000)
    p = put_ok(api, "_/packages/p1", {"parameters": [{"key": "a", "value": 1}]},
               overwrite="false")
    assert set(p) == PKG_FIELDS
    assert p["namespace"] == "guest" and p["name"] == "p1"
    assert p["version"] == "0.0.1" and p["publish"] is False
    assert p["annotations"] == [] and p["binding"] == {}
    assert p["parameters"] == [{"key": "a", "value": 1}]
    assert p["updated"] >= before

    g = api.get("_/packages/p1").json()
    assert g == dict(p, actions=[], feeds=[])


def test_create_twice_without_overwrite_is_409(api):
    put_ok(api, "_/packages/p2")
    assert_error(api.put("_/packages/p2", json={}), 409, "resource already exists")
    assert_error(api.put("_/packages/p2", json={}, params={"overwrite": "false"}), 409,
                 "resource already exists")


def test_update_bumps_version_and_keeps_unset_fields(api):
    put_ok(api, "_/packages/p3", {"publish": True,
                                  "parameters": [{"key": "x", "value": "y"}],
                                  "annotations": [{"key": "k", "value": 1}]})
    u = put_ok(api, "_/packages/p3", {"annotations": [{"key": "j", "value": 2}]},
               overwrite="true")
    assert u["version"] == "0.0.2"
    assert u["publish"] is True
    assert u["parameters"] == [{"key": "x", "value": "y"}]
    # package annotations are replaced, not merged, and none are added
    assert u["annotations"] == [{"key": "j", "value": 2}]
    assert u["binding"] == {}
    u = put_ok(api, "_/packages/p3", {"version": "1.2.3", "publish": False},
               overwrite="true")
    assert u["version"] == "1.2.3" and u["publish"] is False
    assert api.get("_/packages/p3").json()["version"] == "1.2.3"


def test_overwrite_creates_when_missing(api):
    p = put_ok(api, "_/packages/p4", overwrite="true")
    assert p["version"] == "0.0.1"


def test_reserved_and_illegal_names_are_400(api):
    assert_error(api.put("_/packages/default", json={}), 400,
                 "Package name 'default' is reserved.")
    for bad in ("a%20", "-x", "x!", "%20a", "x" * 257):
        for r in (api.put("_/packages/" + bad, json={}), api.get("_/packages/" + bad),
                  api.delete("_/packages/" + bad)):
            assert_error(r, 400, "The name of the entity contains illegal characters.")


def test_malformed_bodies_are_400(api):
    r = api.put("_/packages/bad1", data="{nope", headers={"Content-Type": "application/json"})
    assert_error(r, 400)
    assert r.json()["error"].startswith("The request content was malformed:\n")
    assert_error(api.put("_/packages/bad1", json={"parameters": "x"}), 400)
    assert_error(api.put("_/packages/bad1", json={"publish": "yes"}), 400)
    r = api.put("_/packages/bad1", json={"binding": "whisk.system/samples"})
    assert_error(r, 400)
    assert r.json()["error"].startswith("The request content was malformed:\n")
    assert api.get("_/packages/bad1").status_code == 404


def test_missing_package_is_404(api):
    assert_error(api.get("_/packages/nothing"), 404, "The requested resource does not exist.")
    assert_error(api.delete("_/packages/nothing"), 404, "The requested resource does not exist.")


def test_a_trigger_name_is_not_a_package(api):
    assert api.put("_/triggers/tp", json={}).status_code == 200
    msg = "Resource by this name exists but is not in this collection."
    assert_error(api.get("_/packages/tp"), 409, msg)
    assert_error(api.put("_/packages/tp", json={}), 409, msg)
    assert_error(api.put("_/packages/tp", json={}, params={"overwrite": "true"}), 409, msg)
    assert_error(api.delete("_/packages/tp"), 409, msg)
    assert api.get("_/triggers/tp").status_code == 200


def test_get_lists_actions_and_feeds_newest_first(api, rds):
    put_ok(api, "_/packages/withacts")
    a1 = put_packaged_action(rds, "guest", "withacts", "one")
    f1 = put_packaged_action(rds, "guest", "withacts", "feed1",
                             annotations=[{"key": "feed", "value": True}])
    a2 = put_packaged_action(rds, "guest", "withacts", "two", version="0.0.7")
    g = api.get("_/packages/withacts").json()
    assert g["actions"] == [entry(a2), entry(a1)]
    assert g["feeds"] == [entry(f1)]
    assert set(g) == PKG_FIELDS | {"actions", "feeds"}


def test_unsupported_method_is_405(api):
    assert api.post("_/packages/p1", json={}).status_code == 405
    assert api.put("_/packages", json={}).status_code == 405
    assert_error(api.get("_/packages/p1/extra"), 404)


# ---------------------------------------------------------------- bindings


@pytest.fixture(scope="module")
def samples(system_api, rds):
    """whisk.system/samples (public, with actions and a feed) and
    whisk.system/secret (private)."""
    put_ok(system_api, "_/packages/samples",
           {"publish": True, "parameters": [{"key": "a", "value": "sys"},
                                            {"key": "b", "value": "sys"}]},
           overwrite="true")
    put_ok(system_api, "_/packages/secret", overwrite="true")
    acts = [put_packaged_action(rds, "whisk.system", "samples", "hello"),
            put_packaged_action(rds, "whisk.system", "samples", "changes",
                                annotations=[{"key": "feed", "value": "true"}]),
            put_packaged_action(rds, "whisk.system", "samples", "echo")]
    put_packaged_action(rds, "whisk.system", "secret", "hidden")
    return acts


def test_bind_to_a_public_system_package(api, samples):
    hello, changes, echo = samples
    target = {"namespace": "whisk.system", "name": "samples"}
    b = put_ok(api, "_/packages/mysamples",
               {"binding": target, "parameters": [{"key": "b", "value": "mine"},
                                                  {"key": "c", "value": "mine"}],
                "annotations": [{"key": "binding", "value": "forged"},
                                {"key": "note", "value": 1}]},
               overwrite="false")
    assert set(b) == PKG_FIELDS
    assert b["namespace"] == "guest" and b["name"] == "mysamples"
    assert b["binding"] == target
    # the controller owns the "binding" annotation
    assert b["annotations"] == [{"key": "note", "value": 1},
                                {"key": "binding", "value": target}]
    assert b["parameters"] == [{"key": "b", "value": "mine"}, {"key": "c", "value": "mine"}]

    g = api.get("_/packages/mysamples").json()
    assert g["namespace"] == "guest" and g["name"] == "mysamples"
    assert g["binding"] == target and g["version"] == b["version"]
    # bound package's parameters, then the binding's (they win)
    assert sorted(g["parameters"], key=lambda p: p["key"]) == [
        {"key": "a", "value": "sys"}, {"key": "b", "value": "mine"},
        {"key": "c", "value": "mine"}]
    assert g["actions"] == [entry(echo), entry(hello)]
    assert g["feeds"] == [entry(changes)]


def test_binding_namespace_underscore_is_the_callers(api):
    put_ok(api, "_/packages/mine", {"parameters": [{"key": "p", "value": 1}]})
    b = put_ok(api, "_/packages/mybind", {"binding": {"namespace": "_", "name": "mine"}})
    assert b["binding"] == {"namespace": "guest", "name": "mine"}
    assert api.get("_/packages/mybind").json()["parameters"] == [{"key": "p", "value": 1}]


def test_binding_target_must_exist(api):
    assert_error(api.put("_/packages/b1", json={"binding": {"namespace": "guest",
                                                            "name": "nope"}}),
                 400, "Binding references a package that does not exist.")
    # in another namespace a missing package is not disclosed
    assert_error(api.put("_/packages/b1", json={"binding": {"namespace": "whisk.system",
                                                            "name": "nope"}}),
                 403, forbidden("whisk.system/nope"))
    assert api.get("_/packages/b1").status_code == 404


def test_binding_to_a_private_foreign_package_is_403(api, samples):
    r = api.put("_/packages/b2", json={"binding": {"namespace": "whisk.system",
                                                   "name": "secret"}})
    assert_error(r, 403, forbidden("whisk.system/secret"))


def test_cannot_bind_to_a_binding(api, samples):
    put_ok(api, "_/packages/bb1", {"binding": {"namespace": "whisk.system", "name": "samples"}})
    assert_error(api.put("_/packages/bb2", json={"binding": {"namespace": "guest",
                                                             "name": "bb1"}}),
                 400, "Cannot bind to another package binding.")


def test_cannot_bind_to_a_foreign_binding(api, system_api, samples):
    put_ok(system_api, "_/packages/sysbind",
           {"publish": True, "binding": {"namespace": "whisk.system", "name": "samples"}},
           overwrite="true")
    assert_error(api.put("_/packages/bb3", json={"binding": {"namespace": "whisk.system",
                                                             "name": "sysbind"}}),
                 403, forbidden("whisk.system/sysbind"))


def test_cannot_bind_to_a_trigger(api):
    assert api.put("_/triggers/trig4bind", json={}).status_code == 200
    assert_error(api.put("_/packages/bb4", json={"binding": {"namespace": "guest",
                                                             "name": "trig4bind"}}),
                 409, "Cannot bind to a resource that is not a package.")


def test_package_cannot_become_a_binding(api, samples):
    put_ok(api, "_/packages/real")
    r = api.put("_/packages/real", params={"overwrite": "true"},
                json={"binding": {"namespace": "whisk.system", "name": "samples"}})
    assert_error(r, 409, "Resource is a package and cannot be converted into a binding.")
    assert api.get("_/packages/real").json()["binding"] == {}


def test_binding_stays_a_binding_and_can_be_rebound(api, samples):
    target = {"namespace": "whisk.system", "name": "samples"}
    put_ok(api, "_/packages/sticky", {"binding": target})
    # an update without a binding (or with {}) keeps the binding
    for body in ({"parameters": [{"key": "z", "value": 0}]}, {"binding": {}}):
        u = put_ok(api, "_/packages/sticky", body, overwrite="true")
        assert u["binding"] == target
        assert {"key": "binding", "value": target} in u["annotations"]
    assert u["version"] == "0.0.3"
    assert u["parameters"] == [{"key": "z", "value": 0}]
    # a binding may be pointed at another package
    put_ok(api, "_/packages/other")
    u = put_ok(api, "_/packages/sticky", {"binding": {"namespace": "_", "name": "other"}},
               overwrite="true")
    assert u["binding"] == {"namespace": "guest", "name": "other"}
    assert u["annotations"] == [{"key": "binding",
                                 "value": {"namespace": "guest", "name": "other"}}]
    g = api.get("_/packages/sticky").json()
    assert g["actions"] == [] and g["binding"] == {"namespace": "guest", "name": "other"}


def test_binding_to_a_deleted_package(api, system_api):
    put_ok(api, "_/packages/gone")
    put_ok(api, "_/packages/togone", {"binding": {"namespace": "guest", "name": "gone"}})
    assert api.delete("_/packages/gone").status_code == 200
    assert_error(api.get("_/packages/togone"), 404)
    # a foreign bound package that is no longer public hides its content
    put_ok(system_api, "_/packages/flip", {"publish": True})
    put_ok(api, "_/packages/toflip", {"binding": {"namespace": "whisk.system",
                                                  "name": "flip"}})
    assert api.get("_/packages/toflip").status_code == 200
    put_ok(system_api, "_/packages/flip", {"publish": False}, overwrite="true")
    assert_error(api.get("_/packages/toflip"), 403, forbidden("guest/toflip"))


# ---------------------------------------------------------------- other namespaces


def test_foreign_public_package_is_readable(api, samples):
    hello, changes, echo = samples
    g = api.get("whisk.system/packages/samples")
    assert g.status_code == 200, g.text
    g = g.json()
    assert g["namespace"] == "whisk.system" and g["publish"] is True
    assert g["actions"] == [entry(echo), entry(hello)]
    assert g["feeds"] == [entry(changes)]


def test_foreign_private_missing_or_bound_packages_are_403(api, samples):
    assert_error(api.get("whisk.system/packages/secret"), 403,
                 forbidden("whisk.system/secret"))
    assert_error(api.get("whisk.system/packages/missing"), 403,
                 forbidden("whisk.system/missing"))
    # a binding is never shared, even when published
    assert_error(api.get("whisk.system/packages/sysbind"), 403,
                 forbidden("whisk.system/sysbind"))


def test_foreign_writes_are_403(api, samples):
    assert_error(api.put("whisk.system/packages/samples", json={},
                         params={"overwrite": "true"}), 403)
    assert_error(api.delete("whisk.system/packages/samples"), 403)


# ---------------------------------------------------------------- lists


def test_list_own_newest_first_with_binding_field(make_user, samples):
    alice = make_user("alice")
    put_ok(alice, "_/packages/first", {"publish": True})
    put_ok(alice, "_/packages/second")
    put_ok(alice, "_/packages/third",
           {"binding": {"namespace": "whisk.system", "name": "samples"}})
    lst = alice.get("_/packages").json()
    assert [p["name"] for p in lst] == ["third", "second", "first"]
    for p in lst:
        assert set(p) == SUMMARY_FIELDS
        assert p["namespace"] == "alice"
    assert lst[0]["binding"] == {"namespace": "whisk.system", "name": "samples"}
    assert lst[1]["binding"] is False and lst[2]["binding"] is False
    assert lst[2]["publish"] is True

    assert alice.get("_/packages", params={"count": "true"}).json() == {"packages": 3}
    assert [p["name"] for p in alice.get("_/packages", params={"limit": 1, "skip": 1}).json()] \
        == ["second"]
    # "public" is ignored, as by OpenWhisk's controller
    assert alice.get("_/packages", params={"public": "true"}).json() == lst
    assert_error(alice.get("_/packages", params={"limit": 201}), 400,
                 "The value '201' is not in the range of 0 to 200 for packages.")

    # an update moves a package to the front
    put_ok(alice, "_/packages/first", overwrite="true")
    assert [p["name"] for p in alice.get("_/packages").json()] == ["first", "third", "second"]


def test_list_foreign_shows_only_public_packages(make_user, api, samples):
    bob = make_user("bob")
    put_ok(bob, "_/packages/pub1", {"publish": True})
    put_ok(bob, "_/packages/priv")
    put_ok(bob, "_/packages/pub2", {"publish": True})
    put_ok(bob, "_/packages/pubbind",
           {"publish": True, "binding": {"namespace": "bob", "name": "pub1"}})
    lst = api.get("bob/packages").json()
    assert [p["name"] for p in lst] == ["pub2", "pub1"]
    assert all(set(p) == SUMMARY_FIELDS and p["binding"] is False for p in lst)
    assert api.get("bob/packages", params={"public": "true"}).json() == lst
    assert api.get("bob/packages", params={"count": "true"}).json() == {"packages": 2}
    assert [p["name"] for p in api.get("bob/packages", params={"skip": 1}).json()] == ["pub1"]
    assert [p["name"] for p in api.get("bob/packages", params={"limit": 1}).json()] == ["pub2"]
    assert_error(api.get("bob/packages", params={"limit": "x"}), 400)
    # the owner sees everything
    assert len(bob.get("_/packages").json()) == 4
    # a namespace nobody owns lists nothing
    assert api.get("nobody/packages").json() == []


# ---------------------------------------------------------------- delete


def test_delete_returns_the_package(api):
    p = put_ok(api, "_/packages/del1", {"parameters": [{"key": "q", "value": 1}]})
    d = api.delete("_/packages/del1")
    assert d.status_code == 200 and d.json() == p
    assert_error(api.get("_/packages/del1"), 404)
    assert "del1" not in [x["name"] for x in api.get("_/packages", params={"limit": 0}).json()]


def test_delete_non_empty_needs_force(api, rds):
    put_ok(api, "_/packages/full")
    put_packaged_action(rds, "guest", "full", "a")
    assert_error(api.delete("_/packages/full"), 409,
                 "Package not empty (contains 1 entity). Set force param or delete "
                 "package contents.")
    put_packaged_action(rds, "guest", "full", "b")
    assert_error(api.delete("_/packages/full", params={"force": "false"}), 409,
                 "Package not empty (contains 2 entities). Set force param or delete "
                 "package contents.")
    assert api.get("_/packages/full").status_code == 200


def test_force_delete_removes_the_actions_atomically_with_events(api, rds):
    p = put_ok(api, "_/packages/forced")
    put_packaged_action(rds, "guest", "forced", "a")
    put_packaged_action(rds, "guest", "forced", "b")
    put_packaged_action(rds, "guest", "keep", "c")
    ver = int(rds.get("owx:{guest}:ver") or 0)
    pubsub = rds.pubsub()
    pubsub.subscribe("owx:events")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"

    d = api.delete("_/packages/forced", params={"force": "true"})
    assert d.status_code == 200 and d.json() == p

    assert_error(api.get("_/packages/forced"), 404)
    assert not rds.exists("owx:{guest}:e:forced/a", "owx:{guest}:e:forced/b",
                          "owx:{guest}:p:forced")
    members = rds.zrange("owx:{guest}:i:actions", 0, -1)
    assert "forced/a" not in members and "forced/b" not in members
    assert "keep/c" in members
    assert int(rds.get("owx:{guest}:ver")) == ver + 3
    events = []
    while len(events) < 3:
        m = pubsub.get_message(timeout=5)
        assert m is not None, events
        if m["type"] == "message":
            events.append(json.loads(m["data"]))
    pubsub.close()
    assert [(e["coll"], e["path"], e["op"]) for e in events] == [
        ("actions", "forced/a", "del"), ("actions", "forced/b", "del"),
        ("packages", "forced", "del")]
    assert [e["v"] for e in events] == [ver + 1, ver + 2, ver + 3]


def test_delete_binding_leaves_the_bound_package(api, samples):
    put_ok(api, "_/packages/delbind", {"binding": {"namespace": "whisk.system",
                                                   "name": "samples"}})
    d = api.delete("_/packages/delbind")
    assert d.status_code == 200
    assert d.json()["binding"] == {"namespace": "whisk.system", "name": "samples"}
    assert api.get("whisk.system/packages/samples").status_code == 200


def test_put_publishes_an_event(api, rds):
    pubsub = rds.pubsub()
    pubsub.subscribe("owx:events")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    put_ok(api, "_/packages/evt")
    m = None
    while m is None or m["type"] != "message":
        m = pubsub.get_message(timeout=5)
        assert m is not None
    pubsub.close()
    e = json.loads(m["data"])
    assert (e["ns"], e["coll"], e["path"], e["op"]) == ("guest", "packages", "evt", "put")
