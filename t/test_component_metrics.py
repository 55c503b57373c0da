"""test_component_metrics.py: the sidecar's and the pool-manager's /metrics (libow/metrics.h)
after known traffic (cold and warm runs, an application error, a 429 from a full gate), W3C
trace context from the client to the action and the record, and the structured log lines of
one invocation (JSON, carrying its ids)."""

import json
import re
import threading
import time

import requests

from conftest import wait_activation as activation
from test_invoke import containers, put
from test_metrics import parse
from owx.stack import wait_until

OK = "function main(p) { console.log('line for', p.n); return {n: p.n} }"
FAIL = "function main(p) { return {error: 'nope'} }"
SLOW = ("function main(p) { return new Promise(r => setTimeout(() => r({slept: true}), "
        "p.ms || 0)) }")
ENV = "function main(p) { return {tp: process.env.__OW_TRACEPARENT} }"


def sample(fams, family, name=None, **labels):
    """The value of one sample (0 when the family has no such sample)."""
    want = tuple(sorted(labels.items()))
    return fams[family]["samples"].get((name or family, want), 0)


def scrape(stack, url):
    """GET url/metrics as the stack's scraper (its metrics token; without it, 401)."""
    r = requests.get(url + "/metrics", timeout=5, headers=stack.metrics_headers)
    assert r.status_code == 200, r.text
    assert requests.get(url + "/metrics", timeout=5).status_code == 401
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(r.text)


def container_of(stack, action):
    # (a PUT of the action, as each test does, retires the container of the version
    # before: it may still be listed while it stops)
    cs = [c for c in containers(stack)["containers"]
          if c["action"] == "guest/" + action and c["state"] != "stopping"]
    assert len(cs) == 1, cs
    return cs[0]


def invoke(api, name, params=None, **headers):
    r = api.post("_/actions/%s?blocking=true" % name, params or {}, timeout=60,
                 headers=headers)
    assert r.status_code in (200, 502), r.text
    return r


def test_sidecar_counts_runs_inits_and_statuses(stack, api):
    put(api, "ok", OK)
    put(api, "fail", FAIL)
    for n in range(3):
        assert invoke(api, "ok", {"n": n}).json()["response"]["success"] is True
    r = invoke(api, "fail")
    assert r.status_code == 502 and r.json()["response"]["status"] == "application error"

    ok = "http://" + container_of(stack, "ok")["addr"]
    fams = scrape(stack, ok)
    assert sample(fams, "owx_sidecar_activations_total", status="success") == 3
    assert sample(fams, "owx_sidecar_activations_total", status="application_error") == 0
    assert sample(fams, "owx_sidecar_run_seconds", "owx_sidecar_run_seconds_count") == 3
    assert sample(fams, "owx_sidecar_init_seconds", "owx_sidecar_init_seconds_count") == 1
    assert sample(fams, "owx_sidecar_init_failures_total") == 0
    assert sample(fams, "owx_sidecar_throttled_total") == 0
    assert sample(fams, "owx_sidecar_inflight") == 0
    assert sample(fams, "owx_sidecar_queued") == 0
    assert sample(fams, "owx_sidecar_concurrency") == 1
    # "line for 0" .. "line for 2": 10 bytes each, as limits.logs counts them
    assert sample(fams, "owx_sidecar_log_bytes_total") == 30
    assert sample(fams, "owx_sidecar_log_truncations_total") == 0

    fail = scrape(stack, "http://" + container_of(stack, "fail")["addr"])
    assert sample(fail, "owx_sidecar_activations_total", status="application_error") == 1
    assert sample(fail, "owx_sidecar_activations_total", status="success") == 0

    pm = scrape(stack, "http://" + stack.pool_addr)
    assert sample(pm, "owx_pool_manager_leader") == 1
    assert sample(pm, "owx_pool_manager_containers", state="warm") == 2
    assert sample(pm, "owx_pool_manager_containers", state="starting") == 0
    starts = sample(pm, "owx_pool_manager_container_starts_total", result="ok")
    assert starts == 2
    assert sample(pm, "owx_pool_manager_container_start_seconds",
                  "owx_pool_manager_container_start_seconds_count") == 2
    hits = sample(pm, "owx_pool_manager_stemcell_starts_total", result="hit")
    misses = sample(pm, "owx_pool_manager_stemcell_starts_total", result="miss")
    assert hits + misses == 2
    placed = {dict(k[1])["node"]: v for k, v in
              pm["owx_pool_manager_placements_total"]["samples"].items()
              if dict(k[1])["outcome"] == "placed"}
    assert sum(placed.values()) == 2
    # one cold start per action, each answered 200 (the gateway asked once for each)
    assert sample(pm, "owx_pool_manager_capacity_requests_total", result="ok") == 2
    assert sample(pm, "owx_pool_manager_capacity_seconds",
                  "owx_pool_manager_capacity_seconds_count") == 2
    used = sum(v for k, v in pm["owx_pool_manager_node_memory_mb"]["samples"].items()
               if dict(k[1])["which"] == "used")
    # the two containers, and the room the stemcells hold (refilled right after a take)
    held = sum(c["memory"] for c in containers(stack)["stemcells"])
    assert held > 0
    assert used == 2 * 256 + held


def test_full_gate_gives_429_with_retry_after_and_counts_it(stack, api):
    put(api, "slow", SLOW)
    invoke(api, "slow", {"ms": 0})           # cold start: the container exists
    c = container_of(stack, "slow")
    url = "http://" + c["addr"]
    # concurrency 1 + a buffer of 2 (gate.h): three slow requests fill it
    results = []

    def run():
        results.append(requests.post(url + "/invoke?blocking=true", json={"ms": 3000},
                                     headers=stack.internal_headers, timeout=30).status_code)
    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: (lambda f: sample(f, "owx_sidecar_inflight") == 1 and
                        sample(f, "owx_sidecar_queued") == 2)(scrape(stack, url)), 5, "gate full")
    r = requests.post(url + "/invoke?blocking=true", json={"ms": 0},
                      headers=stack.internal_headers, timeout=10)
    assert r.status_code == 429
    retry = int(r.headers["Retry-After"])
    assert retry >= 1
    fams = scrape(stack, url)
    assert sample(fams, "owx_sidecar_throttled_total") == 1
    assert sample(fams, "owx_sidecar_retry_after_seconds",
                  "owx_sidecar_retry_after_seconds_count") == 1
    assert sample(fams, "owx_sidecar_retry_after_seconds",
                  "owx_sidecar_retry_after_seconds_sum") == retry
    for t in threads:
        t.join()
    assert results == [200, 200, 200]
    fams = scrape(stack, url)
    assert sample(fams, "owx_sidecar_activations_total", status="success") == 4
    assert sample(fams, "owx_sidecar_inflight") == 0


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
HEADER = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$")


def annotations(rec):
    return {a["key"]: a["value"] for a in rec["annotations"]}


def test_traceparent_reaches_the_action_the_record_and_the_response(api):
    put(api, "env", ENV)
    r = invoke(api, "env", traceparent="00-%s-%s-01" % (TRACE, PARENT))
    rec = r.json()
    m = HEADER.match(rec["response"]["result"]["tp"])
    assert m and m.group(1) == TRACE and m.group(3) == "01"
    span = m.group(2)
    assert span != PARENT and span != "0" * 16         # the sidecar's own span
    assert r.headers["traceparent"] == "00-%s-%s-01" % (TRACE, span)
    assert annotations(activation(api, rec["activationId"]))["traceId"] == TRACE


def test_invalid_or_missing_traceparent_starts_a_trace_from_the_activation(api):
    put(api, "env", ENV)
    for tp in ("00-%s-%s-01" % ("0" * 32, PARENT), "garbage", None):
        r = invoke(api, "env", **({"traceparent": tp} if tp else {}))
        rec = r.json()
        aid = rec["activationId"]
        m = HEADER.match(rec["response"]["result"]["tp"])
        assert m and m.group(1) == aid and m.group(3) == "00", (tp, rec)
        assert r.headers["traceparent"] == rec["response"]["result"]["tp"]
        assert annotations(activation(api, aid))["traceId"] == aid


def test_log_lines_of_an_invocation_are_json_with_its_ids(stack, api):
    put(api, "ok", OK)
    rec = invoke(api, "ok", {"n": 42}).json()
    aid = rec["activationId"]
    activation(api, aid)                      # the record (and its "run" line) is written
    cid = container_of(stack, "ok")["id"]
    log = stack.path("pool-manager", "pool-manager.log")

    def lines():
        found = []
        with open(log, errors="replace") as f:
            for line in f:
                if aid in line:
                    found.append(json.loads(line))   # every such line is one JSON object
        kinds = {("event" if "event" in j else "stream") for j in found}
        return found if kinds == {"event", "stream"} else None
    found = wait_until(lines, 5, "log lines of " + aid)
    for j in found:
        assert j["activationId"] == aid
        assert j["namespace"] == "guest" and j["action"] == "guest/ok", j
        assert j["container"] == cid, j
    user = [j for j in found if "stream" in j]
    assert [j["message"] for j in user] == ["line for 42"]
    assert user[0]["stream"] == "stdout"
    run = [j for j in found if j.get("event") == "run"]
    assert len(run) == 1 and run[0]["status"] == "success" and run[0]["traceId"] == aid


def test_admin_top_once_shows_the_pool(stack, api, capsys):
    import sys, os
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "tools"))
    from owx import admin
    put(api, "ok", OK)
    invoke(api, "ok", {"n": 1})

    def top():
        assert admin.main(stack.admin_args() + [
            "top", "--once", "--pool", "http://" + stack.pool_addr, "--gateway", stack.url,
            "--token-file", stack.secret("internal-token"),
            "--metrics-token-file", stack.secret("metrics-token")]) == 0
        out = capsys.readouterr().out.splitlines()
        rows = {l.split()[0]: l.split()[1:] for l in out if l.startswith("guest/")}
        # the pool-manager's last health poll may have caught the activation in flight
        # (it leaves the sidecar's count just after its answer): wait for the next one
        return (out, rows) if rows.get("guest/ok", [""] * 4)[3] == "0" else None

    # (the pool-manager polls each sidecar's health every 2 s)
    out, rows = wait_until(top, 10.0, "guest/ok idle in top")
    # the metrics token was taken: both /metrics answered
    assert out[0].split("gateway: ")[1].startswith("parked 0, ")
    assert out[1].startswith("pool-manager: leader 1, starting 0 warm ")
    # the control API answered (the token was taken): the in-flight count above is its
    assert not [l for l in out if "control API unreachable" in l], out
    # warm, marked, starting, inflight, queued, concurrency
    assert rows["guest/ok"] == ["1", "0", "0", "0", "0", "1"]
    node = [l.split() for l in out if l.startswith("local ")]
    assert len(node) == 1 and int(node[0][1]) >= 1
