"""test_instances.py: limits.instances is enforced, not stored and ignored. An action with
`instances: 1` never gets a second container, however many callers wait: they queue on the
one it has (the gateway parks them, the sidecar buffers them) and are all answered."""

import concurrent.futures

import requests

from conftest import NODE_KIND

GUEST_LIMITS = {"invocationsPerMinute": 10000, "concurrentInvocations": 100}
SLOW = "function main(p) { return new Promise(r => setTimeout(() => r({n: p.n}), 300)) }"


def call_many(api, name, n):
    """n blocking invocations of name at once; their answers, in order."""
    def call(i):
        return api.post("_/actions/%s?blocking=true&result=true" % name, {"n": i}, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        return list(ex.map(call, range(n)))


def containers_of(stack, name):
    r = requests.get("http://%s/v1/containers" % stack.pool_addrs[0],
                     headers=stack.internal_headers, timeout=5)
    return [c for c in r.json()["containers"] if c["action"] == "guest/" + name]


def test_an_action_at_its_instances_queues_instead_of_scaling(stack, api):
    r = api.put("_/actions/one-instance?overwrite=true",
                {"exec": {"kind": NODE_KIND, "code": SLOW}, "limits": {"instances": 1}})
    assert r.status_code == 200, r.text
    assert r.json()["limits"]["instances"] == 1

    # one running and two in the sidecar's buffer (concurrency 1): all answered
    answers = call_many(api, "one-instance", 3)
    assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
    assert sorted(a.json()["n"] for a in answers) == [0, 1, 2]
    assert len(containers_of(stack, "one-instance")) == 1
    # more than the one container can hold: the rest are refused, retryable, and still
    # no second container
    answers = call_many(api, "one-instance", 6)
    ok = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(ok) >= 3
    for a in refused:
        assert a.status_code in (429, 503), a.text
        assert set(a.json()) == {"error", "code"} and int(a.headers["Retry-After"]) >= 1
    assert len(containers_of(stack, "one-instance")) == 1


def test_without_instances_the_same_load_scales(stack, api):
    r = api.put("_/actions/many-instances?overwrite=true",
                {"exec": {"kind": NODE_KIND, "code": SLOW}})
    assert r.status_code == 200, r.text

    answers = call_many(api, "many-instances", 4)
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert len(containers_of(stack, "many-instances")) > 1
