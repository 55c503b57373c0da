"""test_invoke.py: invocations end to end through the real processes: nginx (auth, limits,
router) → pool-manager (cold start) → ow-sidecar → Node.js / Python runtime, and the
activation records they leave (openwhisk-api.md §5)."""

import json
import os
import shutil
import subprocess
import tempfile
import threading

import pytest
import requests

from conftest import NODE_KIND, PY_KIND, assert_error, wait_activation
from owx.stack import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HELLO = "function main(p) { console.log('hello', p.name); return {greeting: 'hi ' + p.name} }"


def put(api, name, code, kind="nodejs:default", **extra):
    body = {"exec": {"kind": kind, "code": code}}
    body.update(extra)
    r = api.put("_/actions/%s?overwrite=true" % name, body)
    assert r.status_code == 200, r.text


def containers(stack):
    return requests.get("http://%s/v1/containers" % stack.pool_addr, timeout=5,
                        headers=stack.internal_headers).json()


def test_cold_then_warm_blocking_invoke(api):
    put(api, "hello", HELLO, parameters=[{"key": "name", "value": "default"}])
    r = api.post("_/actions/hello?blocking=true&result=true", {"name": "owx"}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json() == {"greeting": "hi owx"}
    cold = r.headers["x-openwhisk-activation-id"]
    assert len(cold) == 32

    r = api.post("_/actions/hello?blocking=true", {}, timeout=60)
    assert r.status_code == 200
    rec = r.json()
    assert rec["response"] == {"status": "success", "success": True,
                               "result": {"greeting": "hi default"}, "size": rec["response"]["size"]}
    ann = {a["key"]: a["value"] for a in rec["annotations"]}
    assert ann["path"] == "guest/hello" and ann["kind"] == NODE_KIND
    assert "initTime" not in ann                 # warm
    assert ann["timeout"] is False and ann["waitTime"] >= 0

    first = wait_activation(api, cold)
    assert "initTime" in {a["key"] for a in first["annotations"]}   # cold
    assert any(line.endswith("stdout: hello owx") for line in first["logs"])
    assert api.get("_/activations/%s/result" % cold).json()["result"] == {"greeting": "hi owx"}
    wait_activation(api, rec["activationId"])   # written off the response path
    listed = api.get("_/activations?name=hello&limit=5").json()
    assert {a["activationId"] for a in listed} >= {cold, rec["activationId"]}


def test_python_action(api):
    put(api, "py", "def main(a):\n    return {'sum': a.get('x', 0) + 1}", kind="python:default")
    r = api.post("_/actions/py?blocking=true&result=true", {"x": 41}, timeout=60)
    assert r.status_code == 200 and r.json() == {"sum": 42}
    rec = api.post("_/actions/py?blocking=true", {}, timeout=60).json()
    assert {"key": "kind", "value": PY_KIND} in rec["annotations"]


def test_non_blocking_returns_the_id_and_the_record_follows(api):
    put(api, "nb", HELLO)
    r = api.post("_/actions/nb", {"name": "later"}, timeout=60)
    assert r.status_code == 202
    aid = r.json()["activationId"]
    assert r.headers["x-openwhisk-activation-id"] == aid
    assert wait_activation(api, aid)["response"]["result"] == {"greeting": "hi later"}


def test_application_and_developer_errors(api):
    put(api, "apperr", "function main() { return {error: 'nope'} }")
    r = api.post("_/actions/apperr?blocking=true&result=true", {}, timeout=60)
    assert r.status_code == 502 and r.json() == {"error": "nope"}

    put(api, "boom", "function main() { throw new Error('boom') }")
    r = api.post("_/actions/boom?blocking=true", {}, timeout=60)
    assert r.status_code == 502
    assert r.json()["response"]["status"] == "action developer error"
    assert r.json()["response"]["result"] == {"error": "An error has occurred: Error: boom"}
    # the container was recycled: the next call gets a fresh one and the same answer
    r = api.post("_/actions/boom?blocking=true&result=true", {}, timeout=60)
    assert r.status_code == 502
    assert r.json() == {"error": "An error has occurred: Error: boom"}


def test_unknown_action_is_404(api):
    assert_error(api.post("_/actions/missing?blocking=true", {}, timeout=60), 404,
                 "The requested resource does not exist.")


def test_concurrent_cold_requests_start_one_container(stack, api):
    put(api, "many", HELLO)
    results = []

    def call():
        results.append(api.as_key(api.key).post("_/actions/many?blocking=true&result=true",
                                                {"name": "x"}, timeout=60).status_code)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results.count(200) == 6, results
    mine = [c for c in containers(stack)["containers"] if c["action"] == "guest/many"]
    # concurrency 1: the six may queue and scale, but never one container per request
    assert 1 <= len(mine) < 6, mine


def test_npm_client_invokes_and_reads_the_activation(stack, api):
    put(api, "npm", HELLO)
    script = """
      const ow = require('openwhisk')({apihost: process.env.H, api_key: process.env.K});
      (async () => {
        const res = await ow.actions.invoke({name: 'npm', blocking: true, result: true,
                                             params: {name: 'js'}});
        const act = await ow.actions.invoke({name: 'npm', blocking: true, params: {name: 'j2'}});
        // the record is written off the response path: a reader may have to wait for it
        let again;
        for (let i = 0; i < 100 && !again; i++) {
          again = await ow.activations.get({name: act.activationId}).catch(
            e => new Promise(r => setTimeout(r, 50)));
        }
        console.log(JSON.stringify({res, id: again.activationId === act.activationId}));
      })().catch(e => { console.error(e.message); process.exit(1); });
    """
    out = subprocess.run(["node", "-e", script], cwd=os.path.join(ROOT, "t", "npm"),
                         env=dict(os.environ, H=stack.url, K=api.key),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"res": {"greeting": "hi js"}, "id": True}


def runtime_pids(sidecar_pid):
    """The runtime processes a sidecar started (its children)."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/stat" % pid) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == sidecar_pid:
                        out.append(int(pid))
            except (OSError, ValueError, IndexError):
                pass
    return out


def test_time_limit_is_a_developer_error(api):
    put(api, "slow", "function main() { return new Promise(r => setTimeout(() => r({}), 5000)) }",
        limits={"timeout": 300})
    r = api.post("_/actions/slow?blocking=true", {}, timeout=60)
    assert r.status_code == 502, r.text
    rec = r.json()
    assert rec["response"]["result"] == {
        "error": "The action exceeded its time limits of 300 milliseconds."}
    assert {"key": "timeout", "value": True} in rec["annotations"]


@pytest.fixture
def shared_dir():
    """A directory an action's runtime may write to: it runs as a uid of its own (not ours),
    which cannot enter pytest's 0700 temporary directories."""
    d = tempfile.mkdtemp(prefix="owx-test-")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_runtime_killed_mid_run(stack, api, shared_dir):
    # with p.flag the action marks that it runs (a file), then takes 3 s
    put(api, "victim", "function main(p) { if (!p.flag) return {ok: true};"
                       " require('fs').writeFileSync(p.flag, 'x');"
                       " return new Promise(r => setTimeout(() => r({done: true}), 3000)) }")
    flag = os.path.join(shared_dir, "running")
    assert api.post("_/actions/victim?blocking=true", {}, timeout=60).status_code == 200
    c = [c for c in containers(stack)["containers"] if c["action"] == "guest/victim"][0]
    result = {}
    t = threading.Thread(target=lambda: result.update(
        r=api.as_key(api.key).post("_/actions/victim?blocking=true", {"flag": flag}, timeout=60)))
    t.start()
    wait_until(lambda: os.path.exists(flag), 10, "the action to start")
    pids = runtime_pids(c["pid"])
    assert pids
    for pid in pids:
        os.kill(pid, 9)
    t.join(60)
    r = result["r"]
    assert r.status_code == 502, r.text
    assert r.json()["response"]["status"] == "action developer error"
    assert wait_activation(api, r.json()["activationId"])["response"]["success"] is False
    # the next invocation gets a fresh container
    r = api.post("_/actions/victim?blocking=true&result=true", {}, timeout=60)
    assert r.status_code == 200 and r.json() == {"ok": True}


def test_warm_invokes_survive_the_pool_manager(stack, api):
    put(api, "survivor", HELLO)
    assert api.post("_/actions/survivor?blocking=true", {"name": "a"}, timeout=60).status_code == 200
    with open(stack.path("pool-manager", "pool-manager.pid")) as f:
        os.kill(int(f.read()), 9)
    try:
        for _ in range(5):
            r = api.post("_/actions/survivor?blocking=true&result=true", {"name": "b"}, timeout=30)
            assert r.status_code == 200 and r.json() == {"greeting": "hi b"}
    finally:
        for p in stack.procs:
            if p.poll() is not None:
                stack.procs.remove(p)
        stack.start_pool_manager()
    # the new pool-manager adopted the container: still warm, still served
    assert api.post("_/actions/survivor?blocking=true", {"name": "c"}, timeout=30).status_code == 200


def test_an_update_takes_effect_at_the_next_invoke(stack, api):
    """wsk action update: the next invocation runs the new code (its warm container
    runs the old one: the gateway forgets it, the pool-manager retires it and starts
    one of the new version), and the old container goes away."""
    put(api, "updated", "function main() { return {v: 1, pid: process.pid} }")
    r = api.post("_/actions/updated?blocking=true&result=true", {}, timeout=60)
    assert r.json()["v"] == 1, r.text
    old_pid = r.json()["pid"]
    (old,) = [c for c in containers(stack)["containers"] if c["action"] == "guest/updated"]
    assert old["version"] == "0.0.1"

    put(api, "updated", "function main() { return {v: 2, pid: process.pid} }")
    r = api.post("_/actions/updated?blocking=true&result=true", {}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["v"] == 2 and r.json()["pid"] != old_pid
    rec = wait_activation(api, r.headers["x-openwhisk-activation-id"])
    assert rec["version"] == "0.0.2"

    wait_until(lambda: [c["version"] for c in containers(stack)["containers"]
                        if c["action"] == "guest/updated"] == ["0.0.2"],
               30, "the old version's container retired")
    # and warm from now on: the same process answers
    new_pid = r.json()["pid"]
    r = api.post("_/actions/updated?blocking=true&result=true", {}, timeout=60)
    assert r.json() == {"v": 2, "pid": new_pid}


def test_a_deleted_action_is_404_at_the_next_invoke(stack, api):
    """wsk action delete: the next invocation is a 404, not a run of the deleted code on
    its warm container (the gateway forgets it, the pool-manager finds no document and
    retires the container)."""
    put(api, "deleted", "function main() { return {pid: process.pid} }")
    r = api.post("_/actions/deleted?blocking=true&result=true", {}, timeout=60)
    assert r.status_code == 200, r.text
    assert [c for c in containers(stack)["containers"] if c["action"] == "guest/deleted"]

    r = api.delete("_/actions/deleted")
    assert r.status_code == 200, r.text
    for _ in range(3):
        assert_error(api.post("_/actions/deleted?blocking=true&result=true", {}, timeout=60),
                     404, "The requested resource does not exist.")
    wait_until(lambda: not [c for c in containers(stack)["containers"]
                            if c["action"] == "guest/deleted"],
               30, "the deleted action's container retired")

