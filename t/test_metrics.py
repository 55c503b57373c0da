"""test_metrics.py: the gateway's /metrics (ngx_http_ow_metrics_module): Prometheus text that
parses, and counts that match the traffic sent: warm and cold activations, a 401, a limit 429,
auth cache hits, the capacity wait; the counters survive an nginx reload; a scrape without the
metrics token (ow_metrics_token_file) is 401."""

import math
import os
import re
import subprocess

import pytest
import requests

from conftest import GUEST, Api, assert_error, basic
from test_limits import set_limits, synced
from owx.stack import nginx_env, wait_until
from owx.stack import NGINX

HELLO = "function main(p) { return {greeting: 'hi ' + (p.name || 'you')} }"

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s)(?:,%s)*)\})? (\S+)$" % (NAME, LABEL, LABEL))


def parse(text):
    """A strict reader of the text exposition format 0.0.4: every sample belongs to a family
    announced by # HELP and # TYPE before it; returns {family: {"type", "samples": {(name,
    labels): value}}} with labels a sorted tuple of pairs."""
    families, current = {}, None
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert re.fullmatch(NAME, name), line
            assert name not in families, "family twice: " + name
            families[name] = {"type": None, "samples": {}}
            current = name
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name == current and typ in ("counter", "gauge", "histogram"), line
            families[name]["type"] = typ
            continue
        assert not line.startswith("#") and line, repr(line)
        m = SAMPLE.match(line)
        assert m, "not a sample line: " + repr(line)
        name, value = m.group(1), float(m.group(m.lastindex))
        labels = tuple(sorted(re.findall(LABEL, m.group(2) or "")))
        assert current and families[current]["type"], line
        suffixes = ("_bucket", "_sum", "_count") if families[current]["type"] == "histogram" \
            else ("",)
        assert any(name == current + s for s in suffixes), "%s outside %s" % (name, current)
        key = (name, labels)
        assert key not in families[current]["samples"], "duplicate " + line
        families[current]["samples"][key] = value
    for name, f in families.items():
        if f["type"] == "histogram":
            check_histogram(name, f["samples"])
    return families


def check_histogram(name, samples):
    """Buckets ascend, are cumulative, end with +Inf equal to _count."""
    series = {}
    for (n, labels), v in samples.items():
        if n == name + "_bucket":
            le = dict(labels)["le"]
            rest = tuple(p for p in labels if p[0] != "le")
            series.setdefault(rest, []).append((math.inf if le == "+Inf" else float(le), v))
    for rest, buckets in series.items():
        buckets.sort()
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), (name, rest, buckets)
        assert buckets[-1][0] == math.inf
        assert samples[(name + "_count", rest)] == buckets[-1][1]
        assert (name + "_sum", rest) in samples


def scrape(stack):
    r = requests.get(stack.url + "/metrics", timeout=5, headers=stack.metrics_headers)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


def value(families, family, name=None, **labels):
    """A sample's value, 0 when absent (counters not yet incremented print nothing)."""
    samples = families[family]["samples"]
    return samples.get((name or family, tuple(sorted(labels.items()))), 0.0)


def action_labels(action, ns="guest", initiator="guest"):
    return {"namespace": ns, "initiator": initiator, "action": action}


def put(api, name, code=HELLO):
    r = api.put("_/actions/%s?overwrite=true" % name, {"exec": {"kind": "nodejs:default",
                                                                 "code": code}})
    assert r.status_code == 200, r.text


def invoke(api, name):
    return api.post("_/actions/%s?blocking=true&result=true" % name, {}, timeout=60)


def settle(stack, check, what):
    """The log phase counts a request right after its response: wait for it (readiness),
    then return a fresh scrape."""
    return wait_until(lambda: (lambda f: f if check(f) else None)(scrape(stack)), 5, what)


@pytest.fixture(scope="module")
def db(stack):
    return stack.redis()


def test_the_exposition_parses_and_has_every_family(stack):
    f = scrape(stack)
    for family, typ in [("openwhisk_action_activations_total", "counter"),
                        ("openwhisk_action_coldStarts_total", "counter"),
                        ("openwhisk_action_status", "counter"),
                        ("openwhisk_action_limit_concurrent_total", "counter"),
                        ("openwhisk_action_limit_timed_total", "counter"),
                        ("owx_action_latency_seconds", "histogram"),
                        ("owx_http_responses_total", "counter"),
                        ("owx_auth_total", "counter"),
                        ("owx_parked_requests", "gauge"),
                        ("owx_park_seconds", "histogram"),
                        ("owx_container_429_total", "counter"),
                        ("owx_capacity_requests_total", "counter"),
                        ("owx_warm_containers", "gauge"),
                        ("owx_warm_event_lag", "gauge"),
                        ("owx_redis_connected", "gauge"),
                        ("owx_metrics_label_sets_dropped_total", "counter")]:
        assert f[family]["type"] == typ, family
    # both workers' Redis connections are up
    wait_until(lambda: [value(scrape(stack), "owx_redis_connected", worker=w) for w in "01"]
               == [1, 1] or None, 5, "both workers connected")


def test_metrics_are_not_for_everyone(stack):
    assert requests.post(stack.url + "/metrics", timeout=5,
                         headers=stack.metrics_headers).status_code == 405
    token = stack.metrics_token
    # namespaces and action names are in there: the installation's metrics token as Prometheus
    # sends it, nothing else (an OpenWhisk key, the internal token, a prefix, no header)
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer " + token[:-1]},
                    {"Authorization": "Bearer " + token + "0"},
                    {"Authorization": "Bearer " + stack.internal_token},
                    {"Authorization": "Basic " + token}, {"X-OW-Token": token},
                    {"Authorization": basic(GUEST)}):
        r = requests.get(stack.url + "/metrics", headers=headers, timeout=5)
        assert_error(r, 401, "The supplied authentication is invalid.")
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="owx metrics"'
        r = requests.head(stack.url + "/metrics", headers=headers, timeout=5)
        assert r.status_code == 401, headers
    # the scheme in any case (RFC 6750), one or more spaces
    for auth in ("bearer " + token, "BEARER   " + token):
        r = requests.get(stack.url + "/metrics", headers={"Authorization": auth}, timeout=5)
        assert r.status_code == 200 and "openwhisk_action_activations_total" in r.text


def test_a_bad_metrics_token_file_stops_the_configuration(stack, tmp_path):
    """ow_metrics_token_file is read when nginx reads its configuration: a missing or
    malformed file is an [emerg] that names the file and never its text."""
    with open(stack.path("nginx", "nginx.conf")) as f:
        conf = f.read()
    real = stack.secret("metrics-token")
    assert conf.count(real) == 1
    bad = tmp_path / "bad-token"
    bad.write_text("s3cret-first-line\nsecond-line\n")
    for path, why in ((str(tmp_path / "missing"), "failed"), (str(bad), "is malformed")):
        # beside nginx.conf: the files it includes are found there
        test = stack.path("nginx", "bad-token-test.conf")
        with open(test, "w") as f:
            f.write(conf.replace(real, path))
        try:
            # nginx_env: under make test-asan the module needs the ASan runtime preloaded
            p = subprocess.run([NGINX, "-p", stack.path("nginx"), "-c", test, "-t"],
                               capture_output=True, text=True, timeout=30, env=nginx_env())
        finally:
            os.unlink(test)
        assert p.returncode != 0
        assert path in p.stderr and why in p.stderr, p.stderr
        if why == "is malformed":
            assert "ow_metrics_token_file" in p.stderr, p.stderr
        assert "s3cret" not in p.stderr and "second-line" not in p.stderr


def test_cold_start_once_then_warm_activations_exactly(stack, api):
    put(api, "mcount")
    before = scrape(stack)
    lab = action_labels("mcount")
    assert value(before, "openwhisk_action_activations_total", **lab) == 0

    r = invoke(api, "mcount")
    assert r.status_code == 200, r.text
    f = settle(stack, lambda f: value(f, "openwhisk_action_activations_total", **lab) == 1,
               "the cold activation")
    assert value(f, "openwhisk_action_coldStarts_total", **lab) == 1
    assert value(f, "owx_parked_requests_total") >= value(before, "owx_parked_requests_total") + 1
    assert value(f, "owx_park_seconds", "owx_park_seconds_count") >= 1
    assert value(f, "owx_parked_requests") == 0
    assert value(f, "owx_capacity_requests_total", result="ok") >= \
        value(before, "owx_capacity_requests_total", result="ok") + 1
    assert value(f, "owx_warm_containers") >= 1

    n = 7
    for _ in range(n):
        r = invoke(api, "mcount")
        assert r.status_code == 200, r.text
        assert r.json() == {"greeting": "hi you"}
    f = settle(stack, lambda f: value(f, "openwhisk_action_activations_total", **lab) >= 1 + n,
               "the warm activations")
    assert value(f, "openwhisk_action_activations_total", **lab) == 1 + n
    assert value(f, "openwhisk_action_coldStarts_total", **lab) == 1
    assert value(f, "openwhisk_action_status", **dict(lab, status="success")) == 1 + n
    lat = dict(lab)
    assert value(f, "owx_action_latency_seconds", "owx_action_latency_seconds_count",
                 **lat) == 1 + n
    assert value(f, "owx_action_latency_seconds", "owx_action_latency_seconds_bucket",
                 **dict(lat, le="+Inf")) == 1 + n


def test_a_401_is_counted_and_is_no_activation(stack, api):
    before = scrape(stack)
    assert_error(Api(stack, "nobody:wrong").post("_/actions/mcount", {}), 401)
    f = settle(stack, lambda f: value(f, "owx_auth_total", result="rejected")
               == value(before, "owx_auth_total", result="rejected") + 1, "the rejection")
    assert value(f, "owx_http_responses_total", code="4xx") >= \
        value(before, "owx_http_responses_total", code="4xx") + 1
    lab = action_labels("mcount")
    assert value(f, "openwhisk_action_activations_total", **lab) == \
        value(before, "openwhisk_action_activations_total", **lab)


def test_repeated_requests_hit_the_auth_cache(stack, make_user):
    user = make_user("metricsauth")
    before = scrape(stack)
    for _ in range(6):
        assert user.get("_/actions").status_code == 200
    assert user.get("/api/v1/namespaces").status_code == 200
    f = settle(stack, lambda f: value(f, "owx_auth_total", result="hit")
               >= value(before, "owx_auth_total", result="hit") + 6, "6 cache hits")
    # management API calls are no activations
    assert f["openwhisk_action_activations_total"] == before["openwhisk_action_activations_total"]
    # one key, one miss (two if both workers raced on the first request)
    misses = value(f, "owx_auth_total", result="miss") - \
        value(before, "owx_auth_total", result="miss")
    assert 1 <= misses <= 2


def test_limit_refusals_are_counted_per_namespace(stack, make_user, db):
    user = make_user("metricslim")
    set_limits(stack, "metricslim", invocationsPerMinute=1)
    stack.fresh_minute()               # counts are per minute: a whole one ahead
    invoke(user, "nothing")            # admitted (then 404): the namespace is active
    synced(db, "metricslim")
    before = scrape(stack)
    refused = 0
    for _ in range(3):
        r = invoke(user, "nothing")
        if r.status_code == 429:
            assert_error(r, 429, "Too many requests in the last minute (count: 1, allowed: 1).")
            refused += 1
    assert refused >= 1
    f = settle(stack, lambda f: value(f, "openwhisk_action_limit_timed_total",
                                      namespace="metricslim") >= refused, "the refusals")
    assert value(f, "openwhisk_action_limit_timed_total", namespace="metricslim") == refused
    assert value(f, "openwhisk_action_limit_concurrent_total", namespace="metricslim") == 0
    # a refusal is no activation
    assert value(f, "openwhisk_action_activations_total",
                 **action_labels("nothing", "metricslim", "metricslim")) == 0


def test_counters_survive_a_reload(stack, api):
    lab = action_labels("mcount")
    before = scrape(stack)
    count = value(before, "openwhisk_action_activations_total", **lab)
    assert count >= 1
    old = stack.nginx_workers()
    stack.reload_nginx()
    wait_until(lambda: not (stack.nginx_workers() & old) or None, 10, "new workers")
    f = scrape(stack)
    assert value(f, "openwhisk_action_activations_total", **lab) == count
    assert value(f, "openwhisk_action_coldStarts_total", **lab) == 1
    # a new connection: the old workers close their idle keepalive ones
    assert invoke(Api(stack, api.key), "mcount").status_code == 200
    settle(stack, lambda f: value(f, "openwhisk_action_activations_total", **lab) == count + 1,
           "one more activation after the reload")
