"""test_sequence_put.py: validation of a sequence at PUT (openwhisk-api.md §8; OpenWhisk's
Actions.scala checkSequenceActionLimits): components must exist and be readable by the
caller (own namespace, another namespace's public package, or through a binding), at
most 50 atomic actions after inlining nested sequences, and no cycle."""

import pytest

from conftest import assert_error

CODE = {"kind": "nodejs:default", "code": "function main(p) { return p }"}
MISSING = "Sequence component does not exist."
CYCLE = "Sequence may not refer to itself."
TOO_LONG = "Too many actions in the sequence."
FORBIDDEN = "The supplied authentication is not authorized to access '%s'."


def seq(*comps):
    return {"exec": {"kind": "sequence", "components": list(comps)}}


def put(api, path, body):
    return api.put("_/actions/%s?overwrite=true" % path, body)


def ok(r):
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def world(api, system_api):
    for name in ("a", "b"):
        ok(put(api, name, {"exec": CODE}))
    ok(system_api.put("_/packages/pub?overwrite=true", {"publish": True}))
    ok(system_api.put("_/packages/priv?overwrite=true", {}))
    for path in ("pub/x", "priv/y", "root"):
        ok(put(system_api, path, {"exec": CODE}))
    ok(api.put("_/packages/bpub?overwrite=true",
               {"binding": {"namespace": "whisk.system", "name": "pub"}}))
    return api


def test_components_that_exist_and_are_readable(world, api):
    doc = ok(put(api, "s_ok", seq("/guest/a", "/_/b", "/whisk.system/pub/x",
                                  "/guest/bpub/x")))
    assert doc["exec"]["components"] == ["/guest/a", "/guest/b", "/whisk.system/pub/x",
                                         "/guest/bpub/x"]


def test_missing_component_is_400(world, api):
    assert_error(put(api, "s_missing", seq("/guest/a", "/guest/nope")), 400, MISSING)
    assert_error(put(api, "s_missing2", seq("/whisk.system/pub/nope")), 400, MISSING)
    assert_error(put(api, "s_missing3", seq("/guest/bpub/nope")), 400, MISSING)
    # the caller's own missing package: 404, as OpenWhisk's entitlement check answers
    assert_error(put(api, "s_missing4", seq("/guest/nopkg/a")), 404,
                 "The requested resource does not exist.")
    assert api.get("_/actions/s_missing").status_code == 404


def test_unreadable_components_are_403(world, api):
    assert_error(put(api, "s_f1", seq("/whisk.system/root")), 403,
                 FORBIDDEN % "whisk.system/root")
    assert_error(put(api, "s_f2", seq("/guest/a", "/whisk.system/priv/y")), 403,
                 FORBIDDEN % "whisk.system/priv/y")
    assert_error(put(api, "s_f3", seq("/whisk.system/gone/y")), 403,
                 FORBIDDEN % "whisk.system/gone/y")
    # rights come before existence and limits, as in OpenWhisk
    assert_error(put(api, "s_f4", seq("/guest/nope", "/whisk.system/root")), 403,
                 FORBIDDEN % "whisk.system/root")


def test_self_reference_and_cycles(world, api):
    # on create too (OpenWhisk compares names before reading the component)
    assert_error(put(api, "s_new", seq("/guest/a", "/guest/s_new")), 400, CYCLE)
    ok(put(api, "s_self", seq("/guest/a")))
    assert_error(put(api, "s_self", seq("/guest/a", "/guest/s_self")), 400, CYCLE)
    # an action turned into a sequence of itself
    ok(put(api, "atom", {"exec": CODE}))
    assert_error(put(api, "atom", seq("/guest/atom")), 400, CYCLE)
    # through a nested sequence: s1 -> s2 -> s1
    ok(put(api, "s1", seq("/guest/a")))
    ok(put(api, "s2", seq("/guest/s1", "/guest/b")))
    assert_error(put(api, "s1", seq("/guest/s2")), 400, CYCLE)
    # the stored sequence is unchanged
    assert api.get("_/actions/s1").json()["exec"]["components"] == ["/guest/a"]


def test_at_most_50_atomic_actions_after_inlining(world, api):
    ok(put(api, "s50", seq(*["/guest/a"] * 50)))
    assert_error(put(api, "s51", seq(*["/guest/a"] * 51)), 400, TOO_LONG)
    ok(put(api, "s25", seq(*["/guest/b"] * 25)))
    ok(put(api, "s25x2", seq("/guest/s25", "/guest/s25")))
    assert_error(put(api, "s51n", seq("/guest/s25", "/guest/s25", "/guest/a")), 400, TOO_LONG)
    assert_error(put(api, "s51n", seq("/guest/s25x2", "/guest/a")), 400, TOO_LONG)


def test_empty_sequence_is_400(world, api):
    assert_error(put(api, "s_empty", seq()), 400, "No component specified for the sequence.")
