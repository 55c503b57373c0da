"""test_activations.py: GET /namespaces/{ns}/activations[/{id}[/result|/logs]]
(openwhisk-api.md sections 3 and 4). Records are written into the stack's Redis with
the reference writer tools/owx/activation.py, as the sidecar will write them."""

import itertools
import json

import pytest

from conftest import assert_error
from owx import activation, admin, schema

_users = itertools.count()


@pytest.fixture(scope="module")
def r(stack):
    return admin.connect(stack.redis_addr, stack.secret("redis-admin"))


@pytest.fixture
def user(make_user):
    """A fresh namespace per test, so records of other tests never show up."""
    ns = "act-user-%d" % next(_users)
    return make_user(ns), ns


def write(r, ns, name, **kw):
    rec = activation.make_record(ns, name, **kw)
    assert activation.write_activation(r, rec) is True
    return rec


def summary(rec):
    """The list entry OpenWhisk's activations view makes of a record."""
    s = {k: rec[k] for k in ("namespace", "name", "version", "publish", "annotations",
                             "activationId", "start")}
    if rec.get("end"):
        s["end"] = rec["end"]
        s["duration"] = rec["duration"]
        s["statusCode"] = {"success": 0, "application error": 1, "action developer error": 2,
                           "whisk internal error": 3}[rec["response"]["status"]]
    if "cause" in rec:
        s["cause"] = rec["cause"]
    return s


def ids(body):
    return [a["activationId"] for a in body]


# ---------------------------------------------------------------- the writer

def test_writer_stores_record_indexes_and_ttl_from_start(r):
    now = activation.now_ms()
    rec = activation.make_record("writer-ns", "a", pkg="p", start=now - 60000, duration=5,
                                 logs=["hi", ("stderr", "oops")], init_time=12)
    assert activation.write_activation(r, rec, retention_s=3600) is True
    aid = rec["activationId"]
    assert json.loads(r.get(schema.activation_key("writer-ns", aid))) == rec
    assert r.zscore(schema.act_index_key("writer-ns"), aid) == rec["start"]
    assert r.zscore(schema.act_name_index_key("writer-ns", "p/a"), aid) == rec["start"]
    # the record expires retention after its start, not after the write
    ttl = r.pttl(schema.activation_key("writer-ns", aid))
    assert 3600000 - 60000 - 10000 < ttl <= 3600000 - 60000
    assert 0 < r.pttl(schema.act_index_key("writer-ns")) <= 3600000 - 60000
    # log lines: "%-30s %s: %s", an RFC 3339 timestamp with nanoseconds
    assert rec["logs"][0][30:] == " stdout: hi" and rec["logs"][0][29] == "Z"
    assert rec["logs"][1].endswith(" stderr: oops")
    assert len(aid) == 32 and int(aid, 16) >= 0 and aid == aid.lower()


def test_writer_skips_expired_records_and_trims_the_indexes(r):
    now = activation.now_ms()
    old = activation.make_record("trim-ns", "a", start=now - 100000)
    assert activation.write_activation(r, old, retention_s=3600) is True
    ancient = activation.make_record("trim-ns", "a", start=now - 7200000)
    assert activation.write_activation(r, ancient, retention_s=3600) is False
    assert not r.exists(schema.activation_key("trim-ns", ancient["activationId"]))
    new = activation.make_record("trim-ns", "a", start=now)
    assert activation.write_activation(r, new, retention_s=50) is True
    # a write trims the indexes to its retention window
    assert r.zrange(schema.act_index_key("trim-ns"), 0, -1) == [new["activationId"]]
    assert r.zrange(schema.act_name_index_key("trim-ns", "a"), 0, -1) == [new["activationId"]]


def test_index_name_follows_binding_then_path():
    rec = activation.make_record("ns", "echo", pkg="utils", action_ns="whisk.system")
    assert activation.index_name(rec) == "utils/echo"
    rec = activation.make_record("ns", "echo", pkg="utils", action_ns="whisk.system",
                                 binding="ns/mybind")
    assert activation.index_name(rec) == "mybind/echo"
    assert activation.index_name(activation.make_record("ns", "x")) == "x"


# ---------------------------------------------------------------- list

def test_list_is_newest_first_summaries(r, user):
    api, ns = user
    t = activation.now_ms() - 10000
    a = write(r, ns, "hello", start=t, duration=10, init_time=50)
    b = write(r, ns, "hello", start=t + 1000, status_code=1, result={"error": "bad"},
              cause=activation.new_activation_id())
    c = write(r, ns, "fire", start=t + 2000, duration=None)   # a trigger: no end
    d = write(r, ns, "hello", start=t + 3000, status_code=2)
    e = write(r, ns, "hello", start=t + 4000, status_code=3)

    resp = api.get("_/activations")
    assert resp.status_code == 200
    assert resp.json() == [summary(x) for x in (e, d, c, b, a)]
    got = resp.json()
    assert [x.get("statusCode") for x in got] == [3, 2, None, 1, 0]
    assert "end" not in got[2] and "duration" not in got[2]
    assert got[3]["cause"] == b["cause"]
    # the explicit namespace is the same list
    assert api.get(ns + "/activations").json() == got


def test_docs_true_returns_the_full_records(r, user):
    api, ns = user
    t = activation.now_ms() - 10000
    recs = [write(r, ns, "hello", start=t + i, logs=["line %d" % i], size=7) for i in range(3)]
    resp = api.get("_/activations", params={"docs": "true"})
    assert resp.status_code == 200
    assert resp.json() == recs[::-1]
    assert api.get("_/activations", params={"docs": "false"}).json() == [
        summary(x) for x in recs[::-1]]


def test_empty_namespace_lists_nothing(user):
    api, _ = user
    assert api.get("_/activations").json() == []
    assert api.get("_/activations", params={"count": "true"}).json() == {"activations": 0}


def test_name_filter_action_and_package_action(r, user):
    api, ns = user
    t = activation.now_ms() - 10000
    root = write(r, ns, "xyz", start=t)
    packaged = write(r, ns, "xyz", pkg="pkg", start=t + 1)
    other = write(r, ns, "abc", start=t + 2)
    bound = write(r, ns, "echo", pkg="utils", action_ns="whisk.system",
                  binding=ns + "/mybind", start=t + 3)

    def listed(name):
        resp = api.get("_/activations", params={"name": name})
        assert resp.status_code == 200, resp.text
        return ids(resp.json())

    assert listed("xyz") == [root["activationId"]]
    assert listed("pkg/xyz") == [packaged["activationId"]]
    assert listed("/pkg//xyz/") == [packaged["activationId"]]   # empty segments ignored
    assert listed("abc") == [other["activationId"]]
    assert listed("mybind/echo") == [bound["activationId"]]
    assert listed("utils/echo") == []
    assert listed("nothing") == []
    # an empty or blank filter is no filter
    assert len(listed("")) == 4 and len(listed("  ")) == 4
    assert api.get("_/activations", params={"name": "pkg/xyz", "count": "true"}).json() == {
        "activations": 1}

    for bad in ("a/b/c", "$x", "/", "bad name!"):
        assert_error(api.get("_/activations", params={"name": bad}), 400,
                     "The query parameter 'name' was malformed:\nParameter may be a 'simple' "
                     "name or 'package-name/simple' name: " + bad)


def test_since_and_upto_are_inclusive(r, user):
    api, ns = user
    t = activation.now_ms() - 100000
    recs = {off: write(r, ns, "a", start=t + off) for off in (9, 10, 20, 30, 31)}

    def listed(**q):
        resp = api.get("_/activations", params=q)
        assert resp.status_code == 200, resp.text
        return ids(resp.json())

    def expect(*offs):
        return [recs[o]["activationId"] for o in sorted(offs, reverse=True)]

    assert listed(since=t + 10, upto=t + 30) == expect(10, 20, 30)
    assert listed(since=t + 10) == expect(10, 20, 30, 31)
    assert listed(upto=t + 30) == expect(9, 10, 20, 30)
    assert listed(since=t + 31, upto=t + 9) == []
    assert listed(since="-5", upto="+%d" % (t + 9)) == expect(9)
    assert listed(since=t + 10, upto=t + 30, docs="true") == expect(10, 20, 30)
    assert api.get("_/activations", params={"since": t + 10, "upto": t + 30,
                                            "count": "true"}).json() == {"activations": 3}
    assert api.get("_/activations", params={"upto": t + 20, "name": "a",
                                            "count": "true"}).json() == {"activations": 3}

    for param, bad in (("since", "abc"), ("upto", "1.5"), ("since", ""), ("upto", " 5"),
                       ("since", "99999999999999999999")):
        assert_error(api.get("_/activations", params={param: bad}), 400,
                     "The query parameter '%s' was malformed:\nParameter is not a valid "
                     "value for epoch seconds: %s" % (param, bad))


def test_skip_and_limit(r, user):
    api, ns = user
    t = activation.now_ms() - 100000
    recs = [write(r, ns, "a", start=t + i) for i in range(35)]
    newest = [x["activationId"] for x in recs[::-1]]

    def listed(**q):
        resp = api.get("_/activations", params=q)
        assert resp.status_code == 200, resp.text
        return ids(resp.json())

    assert listed() == newest[:30]                       # default limit 30
    assert listed(limit=0) == newest                     # 0 means the maximum (200)
    assert listed(limit=200) == newest
    assert listed(limit=2) == newest[:2]
    assert listed(limit=3, skip=2) == newest[2:5]
    assert listed(limit=3, skip=2, name="a") == newest[2:5]
    assert listed(skip=34) == newest[34:]
    assert listed(skip=35) == []
    assert api.get("_/activations", params={"count": "true", "limit": 1}).json() == {
        "activations": 35}

    assert_error(api.get("_/activations", params={"limit": 201}), 400,
                 "The value '201' is not in the range of 0 to 200 for activations.")
    assert_error(api.get("_/activations", params={"limit": -1}), 400,
                 "The value '-1' is not in the range of 0 to 200 for activations.")
    assert_error(api.get("_/activations", params={"skip": -1}), 400)


def test_count_and_docs_together_is_400(r, user):
    api, ns = user
    write(r, ns, "a")
    assert api.get("_/activations", params={"count": "true"}).json() == {"activations": 1}
    assert_error(api.get("_/activations", params={"count": "true", "docs": "true"}), 400,
                 "The parameter 'docs' is not permitted with 'count'.")


def expire_up_to(r, ns, recs, floor):
    """What time does to records written with a retention that ends at `floor`: the
    records started at or before it are gone, the others expire retention after their
    start; their index entries stay (no write has trimmed them yet)."""
    now = activation.now_ms()
    for rec in recs:
        key = schema.activation_key(ns, rec["activationId"])
        if rec["start"] <= floor:
            r.delete(key)
        else:
            r.pexpireat(key, rec["start"] + (now - floor))


def test_expired_records_are_skipped(r, user):
    api, ns = user
    t = activation.now_ms() - 600000
    recs = [write(r, ns, "a", start=t + i * 60000) for i in range(6)]   # a minute apart
    newest = [x["activationId"] for x in recs[::-1]]

    # the two oldest expire: lists and counts no longer see them
    expire_up_to(r, ns, recs, t + 90000)
    assert ids(api.get("_/activations").json()) == newest[:4]
    assert ids(api.get("_/activations", params={"docs": "true"}).json()) == newest[:4]
    assert ids(api.get("_/activations", params={"since": t, "name": "a"}).json()) == newest[:4]
    assert ids(api.get("_/activations", params={"skip": 3}).json()) == newest[3:4]
    assert api.get("_/activations", params={"count": "true"}).json() == {"activations": 4}
    assert api.get("_/activations", params={"count": "true", "name": "a"}).json() == {
        "activations": 4}
    assert api.get("_/activations", params={"count": "true", "upto": t + 60000}).json() == {
        "activations": 0}
    assert_error(api.get("_/activations/" + recs[0]["activationId"]), 404,
                 "The requested resource does not exist.")

    # a record vanishes out of order (deleted by hand): pages are still filled
    r.delete(schema.activation_key(ns, recs[4]["activationId"]))
    assert ids(api.get("_/activations", params={"limit": 1}).json()) == newest[:1]
    assert ids(api.get("_/activations", params={"limit": 2}).json()) == [newest[0], newest[2]]
    assert ids(api.get("_/activations", params={"limit": 3}).json()) == [
        newest[0], newest[2], newest[3]]

    # everything expired
    expire_up_to(r, ns, recs, t + 400000)
    assert api.get("_/activations").json() == []
    assert api.get("_/activations", params={"name": "a", "docs": "true"}).json() == []
    assert api.get("_/activations", params={"count": "true"}).json() == {"activations": 0}

    # the next write (same retention: 200 s) trims the dead entries from the indexes
    fresh = activation.make_record(ns, "a")
    assert activation.write_activation(r, fresh, retention_s=200) is True
    assert r.zrange(schema.act_index_key(ns), 0, -1) == [fresh["activationId"]]
    assert r.zrange(schema.act_name_index_key(ns, "a"), 0, -1) == [fresh["activationId"]]
    assert ids(api.get("_/activations").json()) == [fresh["activationId"]]


def test_other_namespaces_activations_are_invisible(r, api, user):
    other_api, other_ns = user
    mine = write(r, "guest", "hello")
    theirs = write(r, other_ns, "hello")
    assert theirs["activationId"] in ids(other_api.get("_/activations").json())
    assert mine["activationId"] not in ids(other_api.get("_/activations").json())
    assert theirs["activationId"] not in ids(api.get("_/activations?limit=0").json())
    assert_error(api.get("_/activations/" + theirs["activationId"]), 404)
    assert_error(other_api.get("_/activations/%s/result" % mine["activationId"]), 404)
    assert_error(api.get(other_ns + "/activations"), 403)
    assert_error(api.get("%s/activations/%s" % (other_ns, theirs["activationId"])), 403)
    assert api.get("_/activations/" + mine["activationId"]).json() == mine


# ---------------------------------------------------------------- one activation

def test_get_result_and_logs(r, user):
    api, ns = user
    rec = write(r, ns, "hello", pkg="p", result={"payload": "hi"}, size=16,
                logs=["hello", ("stderr", "warn")], init_time=50)
    aid = rec["activationId"]

    resp = api.get("_/activations/" + aid)
    assert resp.status_code == 200
    assert resp.json() == rec
    assert api.get("_/activations/%s/" % aid).json() == rec

    resp = api.get("_/activations/%s/result" % aid)
    assert resp.status_code == 200
    assert resp.json() == {"result": {"payload": "hi"}, "success": True,
                           "status": "success", "size": 16}

    resp = api.get("_/activations/%s/logs" % aid)
    assert resp.status_code == 200
    assert resp.json() == {"logs": rec["logs"]}

    failed = write(r, ns, "hello", status_code=2, result="The action exceeded its time limits "
                   "of 100 milliseconds.", timeout=True)
    assert api.get("_/activations/%s/result" % failed["activationId"]).json() == {
        "result": {"error": "The action exceeded its time limits of 100 milliseconds."},
        "success": False, "status": "action developer error"}
    assert api.get("_/activations/%s/logs" % failed["activationId"]).json() == {"logs": []}


def test_unknown_and_bad_activation_ids(api):
    missing = activation.new_activation_id()
    for suffix in ("", "/result", "/logs"):
        assert_error(api.get("_/activations/" + missing + suffix), 404,
                     "The requested resource does not exist.")
        assert_error(api.get("_/activations/abc" + suffix), 400,
                     "Activation id length is 3 B but must be 32 B.")
    assert_error(api.get("_/activations/" + missing + "0"), 400,
                 "Activation id length is 33 B but must be 32 B.")
    # the length is checked before the characters
    assert_error(api.get("_/activations/xyz"), 400, "Activation id length is 3 B but must be 32 B.")
    for bad in (missing.upper(), "g" * 32, "-" * 32, missing[:31] + "%20"):
        assert_error(api.get("_/activations/" + bad), 400, "The activation id is not valid.")
    assert_error(api.get("_/activations/%s/other" % missing), 404)
    assert_error(api.get("_/activations/%s/result/x" % missing), 404)


def test_records_with_huge_integers_are_still_served(r, user):
    api, ns = user
    rec = activation.make_record(ns, "big")
    aid = rec["activationId"]
    raw = json.dumps(rec).replace('"result": {}', '"result": {"n": 123456789012345678901234567890}')
    assert "123456789012345678901234567890" in raw
    r.set(schema.activation_key(ns, aid), raw)
    r.zadd(schema.act_index_key(ns), {aid: rec["start"]})
    got = api.get("_/activations/" + aid)
    assert got.status_code == 200
    body = got.json()
    assert body["start"] == rec["start"] and isinstance(body["start"], int)
    assert body["annotations"] == rec["annotations"]
    assert body["response"]["result"]["n"] == pytest.approx(1.2345678901234568e29)
    assert ids(api.get("_/activations").json()) == [aid]


def test_only_get_is_allowed(r, user):
    api, ns = user
    rec = write(r, ns, "hello")
    for path in ("_/activations", "_/activations/" + rec["activationId"],
                 "_/activations/%s/result" % rec["activationId"]):
        for method in ("PUT", "POST", "DELETE"):
            assert_error(api.request(method, path, json={}), 405,
                         "HTTP method not allowed, supported methods: GET")
    assert api.get("_/activations/" + rec["activationId"]).json() == rec
