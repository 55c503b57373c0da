"""test_rules.py: /namespaces/{ns}/rules (openwhisk-api.md §3, §4, §10) and the rule status
kept in the trigger's rules map.

Actions and packages are written straight into Redis (another part of the API makes them), in
the shape of docs/redis-schema.md; triggers go through the API."""

import json
import time

import pytest

from conftest import assert_error, NODE_KIND

MALFORMED = "The request content was malformed:\n"
BAD_FQN = (MALFORMED + "requirement failed: The fully qualified name of the entity must contain "
           "at least the namespace and the name of the entity.")
NEEDS_BOTH = "rule requires a valid trigger and a valid action"
NO_TRIGGER = "Only rules with existing triggers can be activated"
RULE_KEYS = {"namespace", "name", "version", "publish", "annotations", "updated", "status",
             "trigger", "action"}


@pytest.fixture(scope="module")
def rdb(stack):
    return stack.redis()


def put_entity(rdb, ns, path, coll, doc):
    now = int(time.time() * 1000)
    rdb.hset("owx:{%s}:e:%s" % (ns, path),
             mapping={"coll": coll, "rev": 1, "doc": json.dumps(doc)})
    rdb.zadd("owx:{%s}:i:%s" % (ns, coll), {path: now})


def make_action(rdb, ns, path):
    pkg, _, name = path.rpartition("/")
    put_entity(rdb, ns, path, "actions", {
        "namespace": ns + ("/" + pkg if pkg else ""), "name": name, "version": "0.0.1",
        "publish": False, "exec": {"kind": NODE_KIND, "code": "function main(){}",
                                   "binary": False},
        "parameters": [], "limits": {"timeout": 60000, "memory": 256, "logs": 10,
                                     "concurrency": 1},
        "annotations": [{"key": "exec", "value": NODE_KIND}], "updated": 1})


def make_package(rdb, ns, name, publish=False, binding=None):
    put_entity(rdb, ns, name, "packages", {
        "namespace": ns, "name": name, "version": "0.0.1", "publish": publish,
        "annotations": [], "parameters": [], "binding": binding or {}, "updated": 1})


def make_trigger(api, name):
    r = api.put("_/triggers/" + name, {"name": name})
    assert r.status_code == 200, r.text


def wsk_rule(name, trigger, action):
    """The body `wsk rule create` sends."""
    return {"name": name, "status": "", "trigger": "/_/" + trigger, "action": "/_/" + action}


def enable(api, rule, status):
    return api.post("_/rules/" + rule, {"status": status, "trigger": None, "action": None})


@pytest.fixture(scope="module")
def basic(api, rdb):
    """trigger t + action a (guest)."""
    make_trigger(api, "t")
    make_action(rdb, "guest", "a")


def test_create_returns_an_active_rule_and_links_the_trigger(api, basic):
    r = api.put("_/rules/r?overwrite=false", wsk_rule("r", "t", "a"))
    assert r.status_code == 200, r.text
    rule = r.json()
    assert set(rule) == RULE_KEYS
    assert rule["namespace"] == "guest" and rule["name"] == "r"
    assert rule["version"] == "0.0.1" and rule["publish"] is False
    assert rule["annotations"] == []
    assert rule["status"] == "active"
    assert rule["trigger"] == {"path": "guest", "name": "t"}
    assert rule["action"] == {"path": "guest", "name": "a"}
    assert abs(rule["updated"] - time.time() * 1000) < 60000

    t = api.get("_/triggers/t").json()
    assert t["rules"] == {"guest/r": {"action": {"path": "guest", "name": "a"},
                                      "status": "active"}}

    got = api.get("_/rules/r")
    assert got.status_code == 200
    assert got.json() == rule


def test_enable_disable_flips_the_trigger_link(api, basic):
    api.put("_/rules/flip", wsk_rule("flip", "t", "a"))

    r = enable(api, "flip", "inactive")
    assert r.status_code == 200 and r.text == "OK"
    assert api.get("_/rules/flip").json()["status"] == "inactive"
    assert api.get("_/triggers/t").json()["rules"]["guest/flip"] == {
        "action": {"path": "guest", "name": "a"}, "status": "inactive"}

    # same state again: still 200 OK, nothing changes
    r = enable(api, "flip", "inactive")
    assert r.status_code == 200 and r.text == "OK"
    assert api.get("_/rules/flip").json()["status"] == "inactive"

    r = enable(api, "flip", "active")
    assert r.status_code == 200 and r.text == "OK"
    assert api.get("_/rules/flip").json()["status"] == "active"
    assert api.get("_/triggers/t").json()["rules"]["guest/flip"]["status"] == "active"
    r = api.post("_/rules/flip", {"status": " active "})     # trimmed, as OpenWhisk does
    assert r.status_code == 200 and r.text == "OK"


def test_enable_rejects_other_states(api, basic):
    api.put("_/rules/st", wsk_rule("st", "t", "a"))
    assert_error(enable(api, "st", "xxx"), 400,
                 MALFORMED + "requirement failed: xxx is not a recognized rule state")
    assert_error(enable(api, "st", "ACTIVE"), 400,
                 MALFORMED + "requirement failed: ACTIVE is not a recognized rule state")
    assert_error(enable(api, "st", ""), 400, MALFORMED + "requirement failed: argument undefined")
    assert_error(api.post("_/rules/st", {"trigger": None}), 400,
                 MALFORMED + "key not found: status")
    assert_error(api.post("_/rules/st", {"status": 1}), 400)
    assert_error(api.post("_/rules/st"), 400)
    assert_error(api.post("_/rules/st", data="{", headers={"Content-Type": "application/json"}),
                 400)
    # the bad state is reported before the rule is looked up
    assert_error(enable(api, "nope", "xxx"), 400)
    assert api.get("_/rules/st").json()["status"] == "active"


def test_enable_of_a_missing_rule_is_404(api, basic):
    assert_error(enable(api, "nope", "active"), 404, "The requested resource does not exist.")


def test_rule_whose_trigger_is_gone(api, rdb, basic):
    make_trigger(api, "gone")
    api.put("_/rules/orphan", wsk_rule("orphan", "gone", "a"))
    assert api.delete("_/triggers/gone").status_code == 200

    rule = api.get("_/rules/orphan").json()
    assert rule["status"] == "inactive"
    assert rule["trigger"] == {"path": "guest", "name": "gone"}
    assert_error(enable(api, "orphan", "active"), 404, NO_TRIGGER)
    r = enable(api, "orphan", "inactive")
    assert r.status_code == 200 and r.text == "OK"

    # a trigger made again under the name knows nothing of the rule
    make_trigger(api, "gone")
    assert "rules" not in api.get("_/triggers/gone").json()
    assert api.get("_/rules/orphan").json()["status"] == "inactive"
    r = enable(api, "orphan", "active")
    assert r.status_code == 200 and r.text == "OK"
    assert api.get("_/triggers/gone").json()["rules"]["guest/orphan"]["status"] == "active"

    deleted = api.delete("_/rules/orphan").json()
    assert deleted["status"] == "inactive"
    assert "rules" not in api.get("_/triggers/gone").json()


def test_create_needs_an_existing_trigger_and_action(api, basic):
    assert_error(api.put("_/rules/x", wsk_rule("x", "nosuch", "a")), 400,
                 "trigger /guest/nosuch does not exist")
    assert_error(api.put("_/rules/x", wsk_rule("x", "t", "nosuch")), 400,
                 "action /guest/nosuch does not exist")
    # both missing: the trigger is reported
    assert_error(api.put("_/rules/x", wsk_rule("x", "nosuch", "nosuch")), 400,
                 "trigger /guest/nosuch does not exist")
    # a trigger name is not an action, an action name is not a trigger
    assert_error(api.put("_/rules/x", wsk_rule("x", "t", "t")), 400,
                 "action /guest/t does not exist")
    assert_error(api.put("_/rules/x", wsk_rule("x", "a", "a")), 400,
                 "trigger /guest/a does not exist")
    assert_error(api.put("_/rules/x", {"trigger": "/_/t"}), 400, NEEDS_BOTH)
    assert_error(api.put("_/rules/x", {"action": "/_/a"}), 400, NEEDS_BOTH)
    assert_error(api.put("_/rules/x", {}), 400, NEEDS_BOTH)
    assert_error(api.get("_/rules/x"), 404)
    assert "guest/x" not in api.get("_/triggers/t").json().get("rules", {})


def test_reference_forms(api, basic):
    # "ns/name" without the slash and the explicit namespace work
    r = api.put("_/rules/forms1", {"trigger": "guest/t", "action": "/guest/a"})
    assert r.status_code == 200, r.text
    assert r.json()["trigger"] == {"path": "guest", "name": "t"}
    # {"path","name"} objects are fully qualified names too
    r = api.put("_/rules/forms2", {"trigger": {"path": "_", "name": "t"},
                                   "action": {"path": "guest", "name": "a"}})
    assert r.status_code == 200, r.text
    assert r.json()["action"] == {"path": "guest", "name": "a"}
    # a bare name is not fully qualified (as in OpenWhisk)
    assert_error(api.put("_/rules/forms3", {"trigger": "t", "action": "/_/a"}), 400, BAD_FQN)
    assert_error(api.put("_/rules/forms3", {"trigger": "/_/t", "action": "a"}), 400, BAD_FQN)
    for bad in ("/_/t!", "//t", "/_/a/b/c/d", "/_/t/", 7, ["t"], {"path": "_"}):
        r = api.put("_/rules/forms3", {"trigger": bad, "action": "/_/a"})
        body = assert_error(r, 400)
        assert body["error"].startswith(MALFORMED), (bad, body)
    assert_error(api.get("_/rules/forms3"), 404)


def test_action_in_a_package(api, rdb, basic):
    make_package(rdb, "guest", "pkg")
    make_action(rdb, "guest", "pkg/pa")
    r = api.put("_/rules/inpkg", {"trigger": "/_/t", "action": "/_/pkg/pa"})
    assert r.status_code == 200, r.text
    assert r.json()["action"] == {"path": "guest/pkg", "name": "pa"}
    assert api.get("_/triggers/t").json()["rules"]["guest/inpkg"] == {
        "action": {"path": "guest/pkg", "name": "pa"}, "status": "active"}

    assert_error(api.put("_/rules/inpkg2", {"trigger": "/_/t", "action": "/_/pkg/nope"}), 400,
                 "action /guest/pkg/nope does not exist")
    # an own package that does not exist
    assert_error(api.put("_/rules/inpkg2", {"trigger": "/_/t", "action": "/_/nopkg/pa"}), 404,
                 "The requested resource does not exist.")


def test_action_through_a_binding(api, rdb, make_user, basic):
    make_user("carol")
    make_package(rdb, "carol", "shared", publish=True)
    make_action(rdb, "carol", "shared/sa")
    make_package(rdb, "guest", "bnd", binding={"namespace": "carol", "name": "shared"})
    r = api.put("_/rules/viabinding", {"trigger": "/_/t", "action": "/_/bnd/sa"})
    assert r.status_code == 200, r.text
    assert r.json()["action"] == {"path": "guest/bnd", "name": "sa"}
    assert_error(api.put("_/rules/viabinding2", {"trigger": "/_/t", "action": "/_/bnd/nope"}),
                 400, "action /guest/bnd/nope does not exist")


def test_action_in_another_namespace(api, rdb, make_user, basic):
    make_user("bob")
    make_package(rdb, "bob", "pub", publish=True)
    make_action(rdb, "bob", "pub/x")
    make_package(rdb, "bob", "priv")
    make_action(rdb, "bob", "priv/x")
    make_action(rdb, "bob", "rootx")

    r = api.put("_/rules/foreign", {"trigger": "/_/t", "action": "/bob/pub/x"})
    assert r.status_code == 200, r.text
    assert r.json()["action"] == {"path": "bob/pub", "name": "x"}
    assert api.get("_/triggers/t").json()["rules"]["guest/foreign"]["action"] == {
        "path": "bob/pub", "name": "x"}

    assert_error(api.put("_/rules/foreign2", {"trigger": "/_/t", "action": "/bob/pub/nope"}),
                 400, "action /bob/pub/nope does not exist")
    denied = "The supplied authentication is not authorized to access '%s'."
    assert_error(api.put("_/rules/foreign2", {"trigger": "/_/t", "action": "/bob/priv/x"}),
                 403, denied % "bob/priv/x")
    assert_error(api.put("_/rules/foreign2", {"trigger": "/_/t", "action": "/bob/nopkg/x"}),
                 403, denied % "bob/nopkg/x")
    assert_error(api.put("_/rules/foreign2", {"trigger": "/_/t", "action": "/bob/rootx"}),
                 403, denied % "bob/rootx")
    # triggers are private to their namespace
    bob_t = api.put("_/rules/foreign2", {"trigger": "/bob/t", "action": "/_/a"})
    assert_error(bob_t, 403, denied % "bob/t")
    assert_error(api.get("_/rules/foreign2"), 404)


def test_create_twice_is_409_and_overwrite_updates(api, basic):
    make_trigger(api, "t2")
    make_trigger(api, "t3")
    first = api.put("_/rules/up", wsk_rule("up", "t2", "a")).json()
    assert_error(api.put("_/rules/up?overwrite=false", wsk_rule("up", "t2", "a")), 409,
                 "resource already exists")

    # disable, then update: the status is kept, the version bumped
    assert enable(api, "up", "inactive").status_code == 200
    r = api.put("_/rules/up?overwrite=true",
                {"annotations": [{"key": "k", "value": 1}], "publish": True})
    assert r.status_code == 200, r.text
    up = r.json()
    assert up["version"] == "0.0.2" and up["status"] == "inactive"
    assert up["publish"] is True and up["annotations"] == [{"key": "k", "value": 1}]
    assert up["trigger"] == first["trigger"] and up["action"] == first["action"]
    assert up["updated"] >= first["updated"]

    # move to another trigger: the old trigger loses the link, the status moves along
    assert enable(api, "up", "active").status_code == 200
    r = api.put("_/rules/up?overwrite=true", {"trigger": "/_/t3", "action": "/_/a"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active" and r.json()["version"] == "0.0.3"
    assert r.json()["trigger"] == {"path": "guest", "name": "t3"}
    assert r.json()["annotations"] == [{"key": "k", "value": 1}]
    assert "guest/up" not in api.get("_/triggers/t2").json().get("rules", {})
    assert api.get("_/triggers/t3").json()["rules"]["guest/up"]["status"] == "active"

    # an explicit version wins
    r = api.put("_/rules/up?overwrite=true", {"version": "1.2.3"})
    assert r.json()["version"] == "1.2.3"

    # an update naming a missing trigger or action changes nothing
    assert_error(api.put("_/rules/up?overwrite=true", {"trigger": "/_/nosuch"}), 400,
                 "trigger /guest/nosuch does not exist")
    assert_error(api.put("_/rules/up?overwrite=true", {"action": "/_/nosuch"}), 400,
                 "action /guest/nosuch does not exist")
    assert api.get("_/rules/up").json()["version"] == "1.2.3"

    # overwrite=true on a new name creates an active rule
    r = api.put("_/rules/fresh?overwrite=true", wsk_rule("fresh", "t3", "a"))
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert r.json()["version"] == "0.0.1"


def test_update_of_a_rule_whose_trigger_is_gone_is_inactive(api, basic):
    make_trigger(api, "lost")
    api.put("_/rules/relink", wsk_rule("relink", "lost", "a"))
    api.delete("_/triggers/lost")
    r = api.put("_/rules/relink?overwrite=true", {"trigger": "/_/t", "action": "/_/a"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "inactive"
    assert api.get("_/triggers/t").json()["rules"]["guest/relink"]["status"] == "inactive"
    r = api.put("_/rules/relink?overwrite=true", {})
    assert r.status_code == 200 and r.json()["status"] == "inactive"


def test_delete_removes_rule_and_link(api, basic):
    make_trigger(api, "td")
    created = api.put("_/rules/del", wsk_rule("del", "td", "a")).json()
    assert api.get("_/triggers/td").json()["rules"]["guest/del"]["status"] == "active"

    r = api.delete("_/rules/del")
    assert r.status_code == 200
    gone = r.json()
    assert gone == dict(created, status="inactive")
    assert "rules" not in api.get("_/triggers/td").json()
    assert_error(api.get("_/rules/del"), 404, "The requested resource does not exist.")
    assert_error(api.delete("_/rules/del"), 404, "The requested resource does not exist.")
    assert "del" not in [x["name"] for x in api.get("_/rules?limit=0").json()]
    # the name is free again
    assert api.put("_/rules/del", wsk_rule("del", "td", "a")).status_code == 200


def test_underscore_is_the_callers_namespace(make_user, rdb, basic):
    user = make_user("lister")
    assert user.put("_/triggers/lt", {}).status_code == 200
    assert_error(user.put("_/rules/r", {"trigger": "/_/lt", "action": "/_/a"}), 400,
                 "action /lister/a does not exist")
    make_action(rdb, "lister", "a")
    r = user.put("_/rules/r", {"trigger": "/_/lt", "action": "/_/a"})
    assert r.status_code == 200, r.text
    assert r.json()["namespace"] == "lister"
    assert r.json()["action"] == {"path": "lister", "name": "a"}
    assert user.get("_/triggers/lt").json()["rules"] == {
        "lister/r": {"action": {"path": "lister", "name": "a"}, "status": "active"}}


def test_list(api, basic):
    # made in reverse name order, so only "updated" can put them newest first
    for name in ("lc", "lb", "la"):
        assert api.put("_/rules/" + name, wsk_rule(name, "t", "a")).status_code == 200
        time.sleep(0.002)     # distinct "updated" stamps (ms)
    rules = api.get("_/rules?limit=0").json()
    names = [x["name"] for x in rules]
    assert names[:3] == ["la", "lb", "lc"]
    for x in rules:
        assert set(x) == RULE_KEYS - {"status"}, x
    la = rules[0]
    assert la["trigger"] == {"path": "guest", "name": "t"}
    assert la["action"] == {"path": "guest", "name": "a"}

    count = api.get("_/rules?count=true").json()
    assert count == {"rules": len(rules)}
    assert [x["name"] for x in api.get("_/rules?limit=2").json()] == names[:2]
    assert [x["name"] for x in api.get("_/rules?limit=1&skip=1").json()] == names[1:2]
    assert_error(api.get("_/rules?limit=201"), 400,
                 "The value '201' is not in the range of 0 to 200 for rules.")
    assert_error(api.get("_/rules?skip=-1"), 400)


def test_names_collections_and_methods(api, basic):
    assert_error(api.put("_/rules/bad!name", wsk_rule("x", "t", "a")), 400,
                 "The name of the entity contains illegal characters.")
    assert_error(api.get("_/rules/bad!name"), 400,
                 "The name of the entity contains illegal characters.")
    assert_error(enable(api, "bad!name", "active"), 400,
                 "The name of the entity contains illegal characters.")
    assert_error(api.delete("_/rules/bad!name"), 400,
                 "The name of the entity contains illegal characters.")
    assert_error(api.get("_/rules/a/b"), 404)

    wrong = "Resource by this name exists but is not in this collection."
    assert_error(api.get("_/rules/t"), 409, wrong)
    assert_error(api.delete("_/rules/t"), 409, wrong)
    assert_error(enable(api, "t", "active"), 409, wrong)
    assert_error(api.put("_/rules/t", wsk_rule("t", "t", "a")), 409, wrong)
    assert_error(api.put("_/rules/t?overwrite=true", wsk_rule("t", "t", "a")), 409, wrong)
    assert api.get("_/triggers/t").status_code == 200
    # and a rule name is not a trigger
    api.put("_/rules/rr", wsk_rule("rr", "t", "a"))
    assert_error(api.get("_/triggers/rr"), 409, wrong)

    assert_error(api.put("_/rules/m", data="{", headers={"Content-Type": "application/json"}),
                 400)
    assert_error(api.put("_/rules/m", json=[1]), 400)
    assert_error(api.put("_/rules/m", {"trigger": "/_/t", "action": "/_/a",
                                       "annotations": "x"}), 400)
    assert_error(api.put("_/rules/m", {"trigger": "/_/t", "action": "/_/a",
                                       "publish": "yes"}), 400)
    assert api.request("PATCH", "_/rules/m").status_code >= 400


def test_other_namespaces_rules_are_forbidden(api, make_user, basic):
    user = make_user("dave")
    user.put("_/triggers/dt", {})
    denied = "The supplied authentication is not authorized to access '%s'."
    assert_error(api.get("dave/rules"), 403)
    assert_error(api.get("dave/rules/x"), 403, denied % "dave/x")
    assert_error(api.put("dave/rules/x", {"trigger": "/dave/dt", "action": "/guest/a"}), 403)
    assert_error(api.delete("dave/rules/x"), 403)
    assert_error(api.post("dave/rules/x", {"status": "active"}), 403)
