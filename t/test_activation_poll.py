"""test_activation_poll.py: `wsk activation poll` (openwhisk-cli commands/activation.go,
openwhisk-client-go ActivationListOptions) replayed request by request. The CLI first
asks for the newest record (`docs=true&limit=1&skip=0`) and polls from its start + 1;
then, every 2 s, `docs=true&limit=0[&name=N]&since=<ms>&skip=0` (limit 0 = the maximum),
prints each record it has not reported yet (name, id, logs) and moves `since` to the
newest start + 1. With --since-seconds etc. the first since is now minus that.
Records are written with the reference writer, as the sidecar writes them."""

import itertools

import pytest

from conftest import assert_error
from owx import activation, admin

_users = itertools.count()


@pytest.fixture(scope="module")
def r(stack):
    return admin.connect(stack.redis_addr, stack.secret("redis-admin"))


@pytest.fixture
def user(make_user):
    ns = "poll-user-%d" % next(_users)
    return make_user(ns), ns


def write(r, ns, name, **kw):
    rec = activation.make_record(ns, name, **kw)
    assert activation.write_activation(r, rec) is True
    return rec


class Poller:
    """The CLI's poll loop, one iteration per step() (no sleeping)."""

    def __init__(self, api, name=None, since=None):
        self.api, self.name, self.reported = api, name, []
        if since is None:
            got = api.get("_/activations?docs=true&limit=1&skip=0")
            assert got.status_code == 200, got.text
            body = got.json()
            self.since = body[0]["start"] + 1 if body else 0
        else:
            self.since = since

    def step(self):
        q = "docs=true&limit=0"
        if self.name:
            q += "&name=" + self.name
        q += "&since=%d&skip=0" % self.since
        got = self.api.get("_/activations?" + q)
        assert got.status_code == 200, got.text
        new = []
        for a in got.json():
            # what the CLI reads of each record
            assert {"activationId", "name", "start", "logs"} <= set(a), a
            if a["activationId"] not in self.reported:
                self.reported.append(a["activationId"])
                new.append((a["name"], a["activationId"], a["logs"]))
            if a["start"] > self.since:
                self.since = a["start"] + 1
        return new


def test_poll_starts_after_the_newest_record_and_reports_each_once(r, user):
    api, ns = user
    now = activation.now_ms()
    old = write(r, ns, "hello", start=now - 5000, logs=["before the poll"])
    p = Poller(api)
    assert p.since == old["start"] + 1
    assert p.step() == []

    a = write(r, ns, "hello", start=now - 3000, logs=["one"])
    b = write(r, ns, "other", start=now - 2000, logs=[("stderr", "two")])
    new = p.step()
    # newest first, full records with their logs
    assert [n[1] for n in new] == [b["activationId"], a["activationId"]]
    assert new[0][0] == "other" and new[0][2] == b["logs"]
    assert new[1][2] == a["logs"] and new[1][2][0].endswith(" stdout: one")
    assert p.since == b["start"] + 1
    # nothing new: nothing printed again
    assert p.step() == []
    c = write(r, ns, "hello", start=now - 1000)
    assert [n[1] for n in p.step()] == [c["activationId"]]


def test_poll_of_an_empty_namespace_then_a_first_record(r, user):
    api, ns = user
    p = Poller(api)
    assert p.since == 0
    assert p.step() == []
    a = write(r, ns, "first")
    assert [n[1] for n in p.step()] == [a["activationId"]]


def test_poll_by_name_and_since_seconds(r, user):
    api, ns = user
    now = activation.now_ms()
    write(r, ns, "hello", start=now - 120000)           # before --since-seconds 60
    a = write(r, ns, "hello", start=now - 30000)
    write(r, ns, "other", start=now - 20000)
    b = write(r, ns, "hello", pkg="pkg", start=now - 10000)
    p = Poller(api, name="hello", since=now - 60000)
    assert [n[1] for n in p.step()] == [a["activationId"]]
    p = Poller(api, name="pkg/hello", since=now - 60000)
    assert [n[1] for n in p.step()] == [b["activationId"]]


def test_since_is_inclusive_and_upto_bounds_the_window(r, user):
    api, ns = user
    now = activation.now_ms()
    recs = [write(r, ns, "w", start=now - 1000 * i) for i in (4, 3, 2, 1)]
    got = api.get("_/activations?docs=true&limit=0&since=%d&upto=%d&skip=0"
                  % (recs[1]["start"], recs[2]["start"]))
    assert got.status_code == 200, got.text
    assert [a["activationId"] for a in got.json()] == \
        [recs[2]["activationId"], recs[1]["activationId"]]
    assert all("logs" in a and "response" in a for a in got.json())


def test_limit_zero_means_the_maximum_of_200(r, user):
    api, ns = user
    now = activation.now_ms()
    pipe_recs = [activation.make_record(ns, "many", start=now - 10 * i) for i in range(205)]
    for rec in pipe_recs:
        assert activation.write_activation(r, rec) is True
    got = api.get("_/activations?docs=true&limit=0&since=%d&skip=0" % (now - 100000))
    assert got.status_code == 200, got.text
    assert len(got.json()) == 200
    assert_error(api.get("_/activations?limit=201"), 400,
                 "The value '201' is not in the range of 0 to 200 for activations.")
