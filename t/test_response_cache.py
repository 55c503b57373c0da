"""test_response_cache.py: the gateway's response cache, directed by the action
(modules/README.md, "The response cache"): the reserved result field "__ow_cache" on the
API path, a web action's Cache-Control, Vary and ETag; keys per namespace, subject and
action version; invalidation on every gateway; purge; a full zone; oversize answers.

Every answer of the actions here carries a random "n": the same n twice is a hit."""

import time

import pytest

from conftest import Api, GUEST, NODE_KIND, wait_activation
from owx import admin
from owx.stack import Stack, gateway_replica, wait_until

GUEST_LIMITS = {"invocationsPerMinute": 5000, "concurrentInvocations": 500}

# a token is "name.exp" (exp: epoch seconds): valid, and cacheable, until exp
OAUTH = """
function main(p) {
  const [user, exp] = String(p.token || '').split('.');
  const left = Math.floor(Number(exp) - Date.now() / 1000);
  const r = {user: user, n: Math.random(), version: VERSION};
  if (left > 0) r.__ow_cache = {maxAge: left, key: ['token']};
  return r;
}"""

# the whole input is the key (no "key")
WHOLE = """
function main(p) {
  return {n: Math.random(), pad: 'x'.repeat(p.pad || 0), __ow_cache: {maxAge: 60}};
}"""

WEB = """
function main(p) {
  const n = String(Math.random());
  const h = {'Content-Type': 'text/plain'};
  switch (p.mode) {
  case 'etag': h['Cache-Control'] = 'public, max-age=60'; h['ETag'] = '"v1"'; break;
  case 'vary': h['Cache-Control'] = 'max-age=60'; h['Vary'] = 'Accept-Language'; break;
  case 'nostore': h['Cache-Control'] = 'no-store, max-age=60'; break;
  case 'private': h['Cache-Control'] = 'private, max-age=60'; break;
  case 'short': h['Cache-Control'] = 'max-age=1'; break;
  case 'big': h['Cache-Control'] = 'max-age=60'; return {headers: h, body: n + 'x'.repeat(40000)};
  }
  return {headers: h, body: n};
}"""

# slow, cacheable per "k"; fails (502) when asked to, p.fail not being part of the key
SLOW = """
function main(p) {
  if (p.fail) return {error: 'failed as asked'};
  return new Promise(done => setTimeout(() => done({
    k: p.k, n: Math.random(),
    __ow_cache: {maxAge: p.maxAge || 60, key: ['k'], staleWhileRevalidate: 30,
                 staleIfError: 30}}), p.ms || 0));
}"""

EXPORT = [{"key": "web-export", "value": True}]

# the second gateway's zone: small, to fill it (8 pages at least)
SMALL_ZONE = "ow_response_cache_zone owx_cache 64k max_object=16k;"


def put(api, name, code, annotations=(), **extra):
    body = {"exec": {"kind": NODE_KIND, "code": code}, "annotations": list(annotations)}
    body.update(extra)
    r = api.put("_/actions/%s?overwrite=true" % name, body)
    assert r.status_code == 200, r.text


def settled(api, name, ns="_"):
    """For a moment after a change nothing of the action is stored (the containers learn
    of it by the same event): wait until a probe's answer is (another token than the
    tests use)."""
    probe = {"token": "probe.%d" % (time.time() + 60)}
    wait_until(lambda: (invoke(api, name, probe, ns=ns).json()
                        == invoke(api, name, probe, ns=ns).json()),
               10, "%s is cached again after its change" % name)


def invoke(api, name, params, result=True, ns="_"):
    r = api.post("%s/actions/%s?blocking=true&result=%s" % (ns, name, str(result).lower()),
                 params, timeout=30)
    assert r.status_code == 200, r.text
    return r


def web(stack, path, headers=None, auth=None):
    import requests
    r = requests.get(stack.url + "/api/v1/web/guest/default/" + path, headers=headers or {},
                     auth=auth, timeout=30)
    assert r.status_code in (200, 304), (r.status_code, r.text)
    return r


def metrics(stack):
    import requests
    r = requests.get(stack.url + "/metrics", headers=stack.metrics_headers, timeout=10)
    assert r.status_code == 200
    values = {}
    for line in r.text.splitlines():
        if line.startswith("owx_response_cache"):
            name, v = line.rsplit(" ", 1)
            values[name] = float(v)
    return values


class SmallZoneStack(Stack):
    def render_nginx_conf(self, daemon):
        target = super().render_nginx_conf(daemon)
        with open(target) as f:
            conf = f.read()
        conf = conf.replace("ow_response_cache_zone owx_cache 64m max_object=1m;", SMALL_ZONE)
        with open(target, "w") as f:
            f.write(conf)
        return target


@pytest.fixture(scope="module")
def gw2(stack, tmp_path_factory):
    """A second gateway on the same Redis and pool-manager, with a small zone."""
    with gateway_replica(stack, str(tmp_path_factory.mktemp("owx-gw2")),
                         stack_class=SmallZoneStack) as s:
        yield s


@pytest.fixture(scope="module")
def actions(api):
    put(api, "oauth", OAUTH.replace("VERSION", "1"))
    put(api, "whole", WHOLE)
    put(api, "webc", WEB, EXPORT)
    put(api, "slow", SLOW)
    settled(api, "oauth")
    settled(api, "whole")
    return api


def token(name, seconds):
    return "%s.%d" % (name, int(time.time()) + seconds)


def test_oauth_same_token_hits_other_token_misses_expires_at_exp(actions, stack):
    api = actions
    t1 = token("ann", 4)
    first = invoke(api, "oauth", {"token": t1, "other": 1}).json()
    assert "__ow_cache" not in first and first["user"] == "ann"
    # only the token is the key: another parameter does not matter
    assert invoke(api, "oauth", {"other": 2, "token": t1}).json() == first
    assert invoke(api, "oauth", {"token": token("bob", 4)}).json()["n"] != first["n"]
    # past the token's exp the answer is the action's again
    exp = int(t1.split(".")[1])
    time.sleep(max(0.0, exp - time.time()) + 0.05)
    assert invoke(api, "oauth", {"token": t1}).json()["n"] != first["n"]


def test_api_hit_is_a_fresh_activation(actions):
    api = actions
    t = token("cy", 60)
    miss = invoke(api, "oauth", {"token": t}, result=False)
    hit = invoke(api, "oauth", {"token": t}, result=False)
    m, h = miss.json(), hit.json()
    assert "__ow_cache" not in m["response"]["result"]
    assert h["response"]["result"] == m["response"]["result"]
    assert h["activationId"] != m["activationId"]
    assert hit.headers["x-openwhisk-activation-id"] == h["activationId"]
    assert h["duration"] == 0 and h["start"] == h["end"] >= m["end"]
    assert {"key": "cacheHit", "value": True} in h["annotations"]
    assert {"key": "cacheHit", "value": True} not in m["annotations"]
    assert h["subject"] == m["subject"] and h["namespace"] == m["namespace"]
    # its record is written (off the response path, batched): what was answered
    # (the API prints numbers with 15 digits, whoever wrote the record)
    stored = wait_activation(api, h["activationId"])
    n = stored["response"]["result"].pop("n")
    assert abs(n - h["response"]["result"].pop("n")) < 1e-12
    assert stored == h
    # a result=true hit is an activation too (result=true is another key)
    first = invoke(api, "oauth", {"token": t}, result=True).json()
    r = invoke(api, "oauth", {"token": t}, result=True)
    aid = r.headers["x-openwhisk-activation-id"]
    assert aid not in (h["activationId"], m["activationId"])
    rec = wait_activation(api, aid)
    assert r.json() == first
    assert rec["response"]["result"]["user"] == "cy"
    assert rec["duration"] == 0 and rec["response"]["success"] is True
    assert rec["name"] == "oauth" and rec["namespace"] == "guest"
    assert {"key": "cacheHit", "value": True} in rec["annotations"]
    assert {"key": "path", "value": "guest/oauth"} in rec["annotations"]
    # both are listed under the action's name, like its misses
    listed = api.get("_/activations?name=oauth&limit=200", timeout=10).json()
    ids = {a["activationId"] for a in listed}
    assert {h["activationId"], aid, m["activationId"]} <= ids


def test_hit_records_survive_a_redis_that_forgot_the_script(actions, stack):
    """A hit's record is sent by the script's SHA; a Redis whose script cache is empty (as
    after a restart) answers NOSCRIPT, and the record is sent again whole."""
    api = actions
    t = token("dee", 60)
    miss = invoke(api, "oauth", {"token": t}, result=False).json()
    # (the sidecar loads the same script when it writes the miss's record)
    wait_activation(api, miss["activationId"])
    stack.redis().script_flush()
    hit = invoke(api, "oauth", {"token": t}, result=False).json()
    assert {"key": "cacheHit", "value": True} in hit["annotations"]
    assert wait_activation(api, hit["activationId"])["activationId"] == hit["activationId"]


def test_api_hits_count_per_minute_but_take_no_concurrency_slot(stack, make_user):
    """A hit on the API path is an activation: it counts against invocationsPerMinute; but
    it occupies no container, so a namespace at its concurrentInvocations still gets it."""
    import threading

    import requests

    api = make_user("hitlimits")
    db = stack.redis()
    put(api, "cached", WHOLE)
    put(api, "slow", SLOW)
    settled(api, "cached")

    def limits(per_minute, concurrent):
        assert admin.main(stack.admin_args() + [
            "limits", "set", "hitlimits", "--invocationsPerMinute", str(per_minute),
            "--concurrentInvocations", str(concurrent)]) == 0

    def synced():
        """The gateway's next sync of the namespace: its counts in Redis, limits read."""
        db.delete("owx:{hitlimits}:inflight")
        wait_until(lambda: db.exists("owx:{hitlimits}:inflight") or None, 5, "a limits sync")

    # a warm container of slow, whose sidecar says when a run is in flight
    invoke(api, "slow", {"k": "warm"})
    limits(1000, 1)
    synced()
    minute = stack.fresh_minute()

    def stored():
        a = invoke(api, "cached", {"a": 1}).json()
        return a if invoke(api, "cached", {"a": 1}).json() == a else None
    # (a reload starts the cache afresh: the answer is stored again)
    first = wait_until(stored, 10, "the answer stored")
    # the only slot taken, for 5 s: probed only once its run is in flight (a probe sent
    # before it would take the slot itself)
    [addr] = [c["addr"] for c in stack.pool_containers() if c["action"] == "hitlimits/slow"]
    slow = threading.Thread(target=invoke, args=(api, "slow", {"k": "x", "ms": 5000}))
    slow.start()
    try:
        wait_until(lambda: requests.get("http://%s/health" % addr, timeout=1).json()[
            "inflight"] > 0 or None, 10, "slow's run in flight")
        def refused_for_concurrency():
            r = api.post("_/actions/slow?blocking=true&result=true", {"k": "y"}, timeout=30)
            return r.status_code == 429 and "concurrent" in r.json()["error"] or None
        wait_until(refused_for_concurrency, 10, "the namespace at its concurrency limit")
        synced()
        before = int(db.get("owx:{hitlimits}:rate:%d" % minute))
        # hits are answered all the same, and each is counted (a refusal is not)
        for _ in range(5):
            assert invoke(api, "cached", {"a": 1}).json() == first
        synced()
        counted = int(db.get("owx:{hitlimits}:rate:%d" % minute))
        assert counted - before == 5
        # and refused past the minute's allowance
        limits(counted, 1)
        synced()
        r = api.post("_/actions/cached?blocking=true&result=true", {"a": 1}, timeout=30)
        assert r.status_code == 429, r.text
        assert r.json()["error"] == ("Too many requests in the last minute (count: %d, "
                                     "allowed: %d)." % (counted, counted))
    finally:
        slow.join(30)
        limits(5000, 500)


def test_api_hits_are_counted_as_activations_web_hits_are_not(actions, stack):
    """/metrics counts an API hit as an activation of its action (it is one: a record, an
    id), and a web hit not (no record)."""
    import requests

    def activations(name):
        r = requests.get(stack.url + "/metrics", timeout=5, headers=stack.metrics_headers)
        assert r.status_code == 200, r.text
        for line in r.text.splitlines():
            if (line.startswith("openwhisk_action_activations_total{")
                    and 'action="%s"' % name in line and 'namespace="guest"' in line):
                return float(line.split()[-1])
        return 0.0

    api = actions
    t = token("eve", 60)
    invoke(api, "oauth", {"token": t}, result=False)
    before = activations("oauth")
    for _ in range(3):
        assert {"key": "cacheHit", "value": True} in invoke(
            api, "oauth", {"token": t}, result=False).json()["annotations"]
    assert activations("oauth") == before + 3
    web(stack, "webc?mode=etag")
    before = activations("webc")
    assert web(stack, "webc?mode=etag").headers.get("Age") is not None
    assert activations("webc") == before


def test_a_clients_no_cache_runs_the_action_and_no_store_bypasses(actions, stack):
    """The request's own Cache-Control (RFC 9111): no-cache (or max-age=0, or Pragma:
    no-cache) runs the action and its answer replaces the stored one; no-store runs it and
    stores nothing."""
    api = actions

    def call(headers=None):
        r = api.post("_/actions/whole?blocking=true&result=true", {"nc": 1}, timeout=30,
                     headers=headers or {})
        assert r.status_code == 200, r.text
        return r.json()["n"]

    stored = call()
    assert call() == stored
    fresh = call({"Cache-Control": "no-cache"})
    assert fresh != stored
    assert call() == fresh  # it replaced the stored answer
    again = call({"Cache-Control": "max-age=0, must-revalidate"})
    assert again != fresh and call() == again
    pragma = call({"Pragma": "no-cache"})
    assert pragma != again and call() == pragma
    bypass = call({"Cache-Control": "no-store"})
    assert bypass != pragma
    assert call() == pragma  # nothing stored
    # a web request too
    a = web(stack, "webc?mode=etag").text
    assert web(stack, "webc?mode=etag").text == a
    b = web(stack, "webc?mode=etag", headers={"Cache-Control": "no-cache"}).text
    assert b != a and web(stack, "webc?mode=etag").text == b


def test_whole_input_is_canonical(actions):
    api = actions
    a = invoke(api, "whole", {"a": 1, "b": {"y": 2, "x": 1}}).json()
    assert invoke(api, "whole", {"b": {"x": 1, "y": 2}, "a": 1}).json() == a
    assert invoke(api, "whole", {"a": 2, "b": {"y": 2, "x": 1}}).json() != a


def test_no_hit_across_namespaces_or_subjects(actions, make_user, system_api):
    api = actions
    # a public package: another namespace runs the same action
    assert api.put("_/packages/shared?overwrite=true", {"publish": True}).status_code == 200
    put(api, "shared/oauth", OAUTH.replace("VERSION", "1"))
    settled(api, "shared/oauth")
    t = token("dee", 60)
    mine = invoke(api, "shared/oauth", {"token": t}).json()
    assert invoke(api, "shared/oauth", {"token": t}).json() == mine
    other_ns = make_user("cache-alice")
    theirs = invoke(other_ns, "shared/oauth", {"token": t}, ns="guest").json()
    assert theirs["n"] != mine["n"]


def test_web_cache_control_etag_304(actions, stack):
    a = web(stack, "webc.http?mode=etag&q=1")
    b = web(stack, "webc.http?q=1&mode=etag")        # arguments in another order: a hit
    assert b.text == a.text
    assert "Age" in b.headers and "Age" not in a.headers
    assert b.headers["ETag"] == '"v1"'
    assert b.headers["x-openwhisk-activation-id"] != a.headers["x-openwhisk-activation-id"]
    assert b.headers["Cache-Control"] == "public, max-age=60"
    c = web(stack, "webc.http?mode=etag&q=1", {"If-None-Match": '"v0", "v1"'})
    assert c.status_code == 304 and c.text == "" and c.headers["ETag"] == '"v1"'
    assert web(stack, "webc.http?mode=etag&q=2").text != a.text


def test_web_vary(actions, stack):
    en = web(stack, "webc.http?mode=vary", {"Accept-Language": "en"}).text
    assert web(stack, "webc.http?mode=vary", {"Accept-Language": "en"}).text == en
    assert web(stack, "webc.http?mode=vary", {"Accept-Language": "fr"}).text != en


def test_web_no_store_and_private(actions, stack, make_user):
    assert web(stack, "webc.http?mode=nostore").text != web(stack, "webc.http?mode=nostore").text
    # private: never for anonymous requests; per subject for authenticated ones
    assert web(stack, "webc.http?mode=private").text != web(stack, "webc.http?mode=private").text
    guest = tuple(GUEST.split(":", 1))
    mine = web(stack, "webc.http?mode=private", auth=guest).text
    assert web(stack, "webc.http?mode=private", auth=guest).text == mine
    assert web(stack, "webc.http?mode=private").text != mine
    # another subject (one namespace has one subject: another namespace's)
    other = tuple(make_user("cache-carl").key.split(":", 1))
    theirs = web(stack, "webc.http?mode=private", auth=other).text
    assert theirs != mine
    assert web(stack, "webc.http?mode=private", auth=other).text == theirs


def test_web_expiry(actions, stack):
    a = web(stack, "webc.http?mode=short").text
    assert web(stack, "webc.http?mode=short").text == a
    time.sleep(1.1)
    assert web(stack, "webc.http?mode=short").text != a


def test_concurrent_misses_run_the_action_once(actions):
    from concurrent.futures import ThreadPoolExecutor
    api = actions
    # an action known to cache (its first answer said so): misses take the lock
    invoke(api, "slow", {"k": "first"})

    def one(i):
        return Api(api.stack).post("_/actions/slow?blocking=true&result=true",
                                   {"k": "burst", "i": i, "ms": 500}, timeout=30)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert len({r.json()["n"] for r in answers}) == 1, [r.text for r in answers]


def test_stale_while_revalidate_and_stale_if_error(actions):
    import threading
    api = actions
    a = invoke(api, "slow", {"k": "swr", "maxAge": 1}).json()
    time.sleep(1.1)                      # max-age passed: stale for 30 s more
    refresher = {}
    t = threading.Thread(target=lambda: refresher.update(
        r=invoke(api, "slow", {"k": "swr", "maxAge": 1, "ms": 1500}).json()))
    t.start()
    time.sleep(0.3)                      # the refresher holds the lock by now
    start = time.monotonic()
    assert invoke(api, "slow", {"k": "swr"}).json() == a     # stale, at once
    assert time.monotonic() - start < 1.0
    t.join()
    assert refresher["r"]["n"] != a["n"]                       # one activation refreshed it
    assert invoke(api, "slow", {"k": "swr"}).json() == refresher["r"]

    b = invoke(api, "slow", {"k": "sie", "maxAge": 1}).json()
    time.sleep(1.1)
    # the action fails: the stale answer instead of its 502
    assert invoke(api, "slow", {"k": "sie", "fail": True}).json() == b


def test_update_and_delete_invalidate_on_every_gateway(actions, stack, gw2):
    api = actions
    api2 = Api(gw2)
    t = token("eve", 60)
    put(api, "inval", OAUTH.replace("VERSION", "1"))
    settled(api, "inval")
    one = invoke(api, "inval", {"token": t}).json()
    two = invoke(api2, "inval", {"token": t}).json()
    assert invoke(api, "inval", {"token": t}).json() == one
    assert invoke(api2, "inval", {"token": t}).json() == two
    put(api, "inval", OAUTH.replace("VERSION", "2"))
    # this gateway forgets before the PUT is answered; the other one on the event
    assert invoke(api, "inval", {"token": t}).json()["version"] == 2
    settled(api, "inval")
    wait_until(lambda: invoke(api2, "inval", {"token": t}).json()["version"] == 2, 10,
               "the second gateway serves the new version")
    assert invoke(api2, "inval", {"token": t}).json()["version"] == 2
    cached1 = invoke(api, "inval", {"token": t}).json()
    cached2 = invoke(api2, "inval", {"token": t}).json()
    assert invoke(api2, "inval", {"token": t}).json() == cached2
    assert api.delete("_/actions/inval").status_code == 200

    def not_cached(a, cached):
        # 404, or (while its warm containers still run it: the router's
        # business, not the cache's) a fresh answer: never the cached one
        r = a.post("_/actions/inval?blocking=true&result=true", {"token": t})
        return r.status_code == 404 or (r.status_code == 200 and r.json() != cached)
    assert not_cached(api, cached1)
    wait_until(lambda: not_cached(api2, cached2), 10,
               "the second gateway forgets the deleted action")


def test_purge_on_every_gateway(actions, stack, gw2):
    api, api2 = actions, Api(gw2)
    t = token("fay", 60)
    one = invoke(api, "oauth", {"token": t}).json()
    two = invoke(api2, "oauth", {"token": t}).json()
    assert invoke(api, "oauth", {"token": t}).json() == one
    assert admin.main(stack.admin_args() + ["cache", "purge", "guest/oauth"]) == 0
    wait_until(lambda: invoke(api, "oauth", {"token": t}).json()["n"] != one["n"], 10,
               "purged here")
    wait_until(lambda: invoke(api2, "oauth", {"token": t}).json()["n"] != two["n"], 10,
               "purged there")
    # a namespace (a purge is a change: a moment before it is stored again)
    settled(api, "oauth")
    again = invoke(api, "oauth", {"token": t}).json()
    assert invoke(api, "oauth", {"token": t}).json() == again
    assert admin.main(stack.admin_args() + ["cache", "purge", "guest"]) == 0
    wait_until(lambda: invoke(api, "oauth", {"token": t}).json()["n"] != again["n"], 10,
               "ns purged")


def test_zone_full_evicts_and_oversize_is_not_stored(actions, gw2):
    api2 = Api(gw2)
    settled(api2, "whole")
    before = metrics(gw2)
    # 40 answers of 4 KB into a 64 KB zone: the oldest go, every request answers
    first = invoke(api2, "whole", {"i": 0, "pad": 4000}).json()
    for i in range(1, 40):
        invoke(api2, "whole", {"i": i, "pad": 4000})
    after = metrics(gw2)
    assert after["owx_response_cache_evictions_total"] > \
        before.get("owx_response_cache_evictions_total", 0)
    assert after["owx_response_cache_bytes"] < 64 * 1024
    assert invoke(api2, "whole", {"i": 0, "pad": 4000}).json()["n"] != first["n"]
    last = invoke(api2, "whole", {"i": 39, "pad": 4000}).json()
    assert invoke(api2, "whole", {"i": 39, "pad": 4000}).json() == last
    # over max_object (16k there): answered, never stored
    big = invoke(api2, "whole", {"pad": 20000}).json()
    assert len(big["pad"]) == 20000 and "__ow_cache" not in big
    assert invoke(api2, "whole", {"pad": 20000}).json()["n"] != big["n"]
    assert metrics(gw2)["owx_response_cache_too_big_total"] >= 2
    # a web answer too
    page = web(gw2, "webc.http?mode=big").text
    assert len(page) > 40000 and web(gw2, "webc.http?mode=big").text != page


def test_metrics_count_hits(actions, stack):
    before = metrics(stack)
    t = token("gus", 60)
    invoke(actions, "oauth", {"token": t})
    invoke(actions, "oauth", {"token": t})
    after = metrics(stack)
    assert after['owx_response_cache_lookups_total{result="hit"}'] >= \
        before['owx_response_cache_lookups_total{result="hit"}'] + 1
    assert after["owx_response_cache_entries"] >= 1
