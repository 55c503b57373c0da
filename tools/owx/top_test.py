"""top_test.py: ow-admin top's frame from known sources (no processes: the sources are
given as a snapshot), its metrics reader, that missing sources show as unknown, and that
the control API is asked with the internal token and /metrics with the metrics token (a
stand-in pool-manager in a thread)."""

import argparse
import io
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from owx import top  # noqa: E402
from owx.standin import BackgroundServer, QuietHandler  # noqa: E402

PM = """# HELP owx_pool_manager_leader x
# TYPE owx_pool_manager_leader gauge
owx_pool_manager_leader 1
# TYPE owx_pool_manager_containers gauge
owx_pool_manager_containers{state="starting"} 1
owx_pool_manager_containers{state="warm"} 2
owx_pool_manager_containers{state="marked"} 1
owx_pool_manager_containers{state="stopping"} 0
owx_pool_manager_stemcells{state="ready"} 1
owx_pool_manager_node_memory_mb{node="n1",which="used"} 768
owx_pool_manager_node_memory_mb{node="n1",which="capacity"} 1024
owx_pool_manager_node_containers{node="n1"} 4
owx_pool_manager_node_memory_mb{node="n\\"2",which="used"} 0
owx_pool_manager_node_memory_mb{node="n\\"2",which="capacity"} 2048
owx_pool_manager_node_containers{node="n\\"2"} 0
"""
GW = "owx_parked_requests 3\nowx_container_429_total 7\nowx_warm_event_lag 0\n"


def snapshot():
    return {
        "warm": [{"id": "a", "action": "guest/hello", "concurrency": 2},
                 {"id": "b", "action": "guest/hello", "concurrency": 2, "marked": True},
                 {"id": "c", "action": "guest/idle", "concurrency": 1}],
        "containers": {"containers": [
            {"id": "a", "action": "guest/hello", "state": "ready",
             "health": {"inflight": 2, "queued": 1}},
            {"id": "b", "action": "guest/hello", "state": "ready", "health": {"inflight": 0}},
            {"id": "c", "action": "guest/idle", "state": "ready"},
            {"id": "d", "action": "guest/new", "state": "starting", "concurrency": 1}]},
        "pool_metrics": top.parse_metrics(PM),
        "gateway_metrics": top.parse_metrics(GW),
    }


def test_parse_metrics_reads_labels_and_escapes():
    m = top.parse_metrics(PM)
    assert top.value(m, "owx_pool_manager_containers", state="warm") == 2
    assert top.value(m, "owx_pool_manager_node_containers", node='n"2') == 0
    assert top.value(m, "owx_pool_manager_leader") == 1
    assert top.value(m, "missing") is None and top.value(None, "x") is None


def test_frame_per_action_and_node():
    out = top.render(snapshot(), now=0)
    lines = out.splitlines()
    assert "parked 3, 429 retries 7, warm-table lag 0" in lines[0]
    assert lines[1] == ("pool-manager: leader 1, starting 1 warm 2 marked 1 stopping 0, "
                        "stemcells ready 1")
    rows = {l.split()[0]: l.split()[1:] for l in lines if l.startswith("guest/")}
    # warm, marked, starting, inflight, queued, concurrency; busiest first
    assert rows["guest/hello"] == ["1", "1", "0", "2", "1", "2"]
    assert rows["guest/idle"] == ["1", "0", "0", "0", "0", "1"]
    assert rows["guest/new"] == ["0", "0", "1", "0", "0", "1"]
    assert [l.split()[0] for l in lines if l.startswith("guest/")][0] == "guest/hello"
    n1 = next(l for l in lines if l.startswith("n1 "))
    assert n1.split() == ["n1", "4", "768/1024", "75.0%"]


def test_unreachable_sources_show_as_unknown():
    out = top.render({"warm": None, "containers": None, "pool_metrics": None,
                      "gateway_metrics": None}, now=0)
    assert "parked -, 429 retries -" in out
    assert "leader -" in out
    assert "(warm table: Redis unreachable)" in out
    assert "(no containers)" in out and "(pool-manager metrics unreachable or refused" in out
    assert "(containers: pool-manager control API unreachable" in out


def test_frame_with_containers_has_no_unreachable_note():
    assert "control API unreachable" not in top.render(snapshot(), now=0)


class FakeRedis:
    def hvals(self, key):
        return [json.dumps({"id": "a", "action": "guest/hello", "concurrency": 1})]


@pytest.fixture
def pool():
    """A stand-in pool-manager: /v1/containers wants X-OW-Token: secret, /metrics
    Authorization: Bearer scrape (401 otherwise); records the credential each request
    carried."""
    seen = []

    class Handler(QuietHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("X-OW-Token")
                         or self.headers.get("Authorization")))
            if self.path == "/metrics" and self.headers.get("Authorization") != "Bearer scrape":
                code, body = 401, '{"error":"unauthorized"}'
            elif self.path == "/metrics":
                code, body = 200, PM
            elif self.path != "/v1/containers":
                code, body = 404, "{}"
            elif self.headers.get("X-OW-Token") != "secret":
                code, body = 401, '{"error":"unauthorized"}'
            else:
                code, body = 200, json.dumps({"containers": [
                    {"id": "a", "action": "guest/hello", "state": "ready",
                     "health": {"inflight": 1, "queued": 0}}]})
            self.send_json(code, body.encode())

    srv = BackgroundServer(Handler)
    yield "http://127.0.0.1:%d" % srv.port, seen
    srv.close()


def test_control_api_is_asked_with_the_token(pool, tmp_path):
    url, seen = pool
    snap = top.gather(FakeRedis(), url, None, token="secret", metrics_token="scrape")
    assert snap["containers"]["containers"][0]["id"] == "a"
    assert snap["pool_metrics"] is not None
    assert ("/v1/containers", "secret") in seen
    assert ("/metrics", "Bearer scrape") in seen
    # the internal token goes to the control API alone, the metrics token to /metrics alone
    assert ("/metrics", "secret") not in seen and ("/v1/containers", "Bearer scrape") not in seen
    # without them: 401, shown as unknown (the rest still is)
    snap = top.gather(FakeRedis(), url, None, metrics_token="scrape")
    assert snap["containers"] is None and snap["pool_metrics"] is not None
    snap = top.gather(FakeRedis(), url, None, token="secret")
    assert snap["containers"] is not None and snap["pool_metrics"] is None
    assert "see --metrics-token-file" in top.render(snap, now=0)
    # through the command's --token-file and --metrics-token-file
    token = tmp_path / "internal-token"
    token.write_text("secret\n")
    metrics_token = tmp_path / "metrics-token"
    metrics_token.write_text("scrape\n")
    out = io.StringIO()
    args = argparse.Namespace(pool=url, gateway=None, interval=1.0, once=True,
                              token_file=str(token), metrics_token_file=str(metrics_token))
    from owx import admin
    admin.top_frames(FakeRedis(), args, out=out)
    rows = {l.split()[0]: l.split()[1:] for l in out.getvalue().splitlines()
            if l.startswith("guest/")}
    assert rows["guest/hello"] == ["1", "0", "0", "1", "0", "1"]
    assert "control API unreachable" not in out.getvalue()


def test_unreadable_token_file_is_an_error(tmp_path, capsys):
    from owx import admin
    rc = admin.main(["--redis", "127.0.0.1:1", "top", "--once", "--pool", "http://127.0.0.1:1",
                     "--token-file", str(tmp_path / "missing")])
    assert rc == 1
    assert "cannot read --token-file" in capsys.readouterr().err


def test_unreadable_metrics_token_file_is_an_error(tmp_path, capsys):
    from owx import admin
    rc = admin.main(["--redis", "127.0.0.1:1", "top", "--once", "--pool", "http://127.0.0.1:1",
                     "--metrics-token-file", str(tmp_path / "missing")])
    assert rc == 1
    assert "cannot read --metrics-token-file" in capsys.readouterr().err
