"""ow-sidecar black-box tests: a real redis-server, the built ow-sidecar and the
real Node.js runtime (runtimes/nodejs/proxy.js) as its child.

OWX_BUILD (or OWX_SIDECAR) locates the binary: $OWX_BUILD/sidecar/ow-sidecar.
The sidecar is driven the way the gateway drives it (POST /invoke with the
X-OW-* headers) and its records are checked against tools/owx/activation.py,
the reference writer.
"""

import base64
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import redis as redislib
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from owx import activation, schema  # noqa: E402
from owx.stack import REDIS, free_port, wait_until  # noqa: E402

BUILD = os.environ.get("OWX_BUILD", os.path.join(ROOT, "build"))
SIDECAR = os.environ.get("OWX_SIDECAR", os.path.join(BUILD, "cmake", "sidecar", "ow-sidecar"))
NODE = shutil.which("node")
PROXY = os.path.join(ROOT, "runtimes", "nodejs", "proxy.js")
GUEST_KEY = ("23bc46b1-71f6-4ed5-8c54-816aa4f8c502:"
             "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP")

# make builds ow-sidecar before the tests run; node and runtimes/ are part of the set-up
assert os.path.exists(SIDECAR) and NODE and os.path.exists(PROXY), \
    "needs the built ow-sidecar (OWX_BUILD), node and runtimes/nodejs/proxy.js"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    port = free_port()
    home = tmp_path_factory.mktemp("redis")
    p = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", str(home)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = redislib.Redis(host="127.0.0.1", port=port, decode_responses=True)

    def up():
        try:
            return r.ping()
        except redislib.ConnectionError:
            return False
    wait_until(up, 10, "redis")
    yield r
    p.terminate()
    p.wait(10)


def put_entity(r, ns, path, doc, coll="actions"):
    r.hset(schema.entity_key(ns, path), mapping={"coll": coll, "doc": json.dumps(doc), "rev": 1})


def action_doc(ns, name, code, limits=None, parameters=None, annotations=None, pkg=None):
    lim = {"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1}
    lim.update(limits or {})
    return {"namespace": ns + ("/" + pkg if pkg else ""), "name": name, "version": "0.0.2",
            "publish": False,
            "exec": {"kind": "nodejs:20", "code": code, "binary": False},
            "parameters": parameters or [], "limits": lim,
            "annotations": annotations if annotations is not None else
            [{"key": "provide-api-key", "value": False}, {"key": "exec", "value": "nodejs:20"}],
            "updated": 1700000000000}


class Sidecar:
    """One ow-sidecar process with its Node runtime."""

    def __init__(self, r, spec, *args, user=None, runtime=None, action=True):
        """runtime: the argv after "--" (default the Node runtime on {port}); [] for none (an
        external runtime, --runtime-url). action False: no --action (a stemcell)."""
        self.redis = r
        self.ns = spec.split("/")[0]
        self.spec = spec
        self.dir = tempfile.mkdtemp(prefix="owx-sidecar-test-")
        rfd, wfd = os.pipe()
        self.out = open(os.path.join(self.dir, "stdout"), "w+")
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        port = r.connection_pool.connection_kwargs["port"]
        cmd = [SIDECAR, "--redis", "127.0.0.1:%d" % port, *(["--action", spec] if action else []),
               "--container-id", "c-test", "--ready-fd", str(wfd),
               "--api-host", "http://127.0.0.1:1", *args]
        cmd += ["--", NODE, PROXY, "--port", "{port}"] if runtime is None else runtime
        self.proc = subprocess.Popen(cmd, pass_fds=(wfd,), stdout=self.out, stderr=self.err,
                                     user=user)
        os.close(wfd)
        self.ready = self._read_line(rfd, 20)
        os.close(rfd)
        self.addr = self.ready.split(" ", 1)[1] if self.ready.startswith("ready ") else None

    @staticmethod
    def _read_line(fd, deadline):
        end = time.monotonic() + deadline
        buf = b""
        while b"\n" not in buf and time.monotonic() < end:
            rl, _, _ = select.select([fd], [], [], 0.1)
            if rl:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                buf += chunk
        return buf.decode().rstrip("\n")

    def url(self, path):
        return "http://%s%s" % (self.addr, path)

    def invoke(self, params=None, query="", aid=None, headers=None, timeout=30):
        aid = aid or activation.new_activation_id()
        h = {"X-OW-Activation-Id": aid, "X-OW-Namespace": "caller",
             "X-OW-Subject": "caller-subject", "X-OW-Path": self.spec,
             "X-OW-Accept-Time": str(activation.now_ms()),
             "Authorization": "Basic " + base64.b64encode(GUEST_KEY.encode()).decode()}
        h.update(headers or {})
        data = json.dumps(params) if params is not None else ""
        return requests.post(self.url("/invoke" + ("?" + query if query else "")),
                             data=data, headers=h, timeout=timeout)

    def record(self, aid, ns="caller", deadline=10):
        key = schema.activation_key(ns, aid)
        wait_until(lambda: self.redis.exists(key), deadline, "record " + aid)
        return json.loads(self.redis.get(key))

    def wait(self, deadline=15):
        return self.proc.wait(deadline)

    def stdout_records(self):
        self.out.flush()
        with open(self.out.name) as f:
            return [json.loads(line) for line in f if line.strip()]

    def events(self):
        self.err.flush()
        with open(self.err.name) as f:
            return [json.loads(line) for line in f if line.startswith("{")]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.out.close()
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def sidecars():
    made = []

    def start(r, spec, *args, **kw):
        s = Sidecar(r, spec, *args, **kw)
        made.append(s)
        return s
    yield start
    for s in made:
        s.stop()


ECHO = """
function main(params) {
  console.log('hello stdout');
  console.error('hello stderr');
  if (params.sleep) {
    return new Promise(resolve => setTimeout(() => resolve({slept: params.sleep}), params.sleep));
  }
  if (params.crash) process.exit(1);
  if (params.fail) return {error: 'app failed'};
  if (params.array) return {__array: true};
  return {params, env: {ns: process.env.__OW_NAMESPACE, name: process.env.__OW_ACTION_NAME,
          key: process.env.__OW_API_KEY || null, id: process.env.__OW_ACTIVATION_ID,
          host: process.env.__OW_API_HOST, secret: process.env.secret || null}};
}
"""


def test_ready_warm_run_and_record(redis_server, sidecars):
    put_entity(redis_server, "guest", "echo", action_doc("guest", "echo", ECHO))
    s = sidecars(redis_server, "guest/echo")
    assert s.addr and s.addr.startswith("127.0.0.1:"), s.ready
    h = requests.get(s.url("/health"), timeout=5).json()
    assert h["ready"] is True and h["inflight"] == 0 and h["queued"] == 0

    aid = activation.new_activation_id()
    r = s.invoke({"a": 1}, "blocking=true", aid=aid)
    assert r.status_code == 200, r.text
    assert r.headers["x-openwhisk-activation-id"] == aid
    act = r.json()
    assert act["activationId"] == aid
    assert act["response"]["status"] == "success" and act["response"]["success"] is True
    res = act["response"]["result"]
    assert res["params"] == {"a": 1}
    assert res["env"]["ns"] == "caller" and res["env"]["name"] == "/guest/echo"
    assert res["env"]["id"] == aid and res["env"]["key"] is None
    assert res["env"]["host"] == "http://127.0.0.1:1"
    assert [line.split(" ", 1)[1] for line in act["logs"]] == [
        "stdout: hello stdout", "stderr: hello stderr"]
    assert act["logs"][0][:30].rstrip().endswith("Z") and act["logs"][0][30] == " "

    # the stored record is the blocking body, shaped like the reference writer's
    rec = s.record(aid)
    assert rec == act
    ref = activation.make_record("caller", "echo", subject="caller-subject", activation_id=aid,
                                 kind="nodejs:20", init_time=5, size=1,
                                 limits=activation.DEFAULT_LIMITS,
                                 # no traceparent came in: the trace is the activation's
                                 extra_annotations=[{"key": "traceId", "value": aid}])
    assert set(rec) == set(ref)
    assert set(rec["response"]) == set(ref["response"])
    assert [a["key"] for a in rec["annotations"]] == [a["key"] for a in ref["annotations"]]
    assert activation.annotation(rec, "path") == "guest/echo"
    assert activation.annotation(rec, "limits") == activation.DEFAULT_LIMITS
    assert activation.annotation(rec, "timeout") is False
    assert activation.annotation(rec, "initTime") >= 0
    assert 0 <= activation.annotation(rec, "waitTime") < 5000
    assert rec["subject"] == "caller-subject" and rec["namespace"] == "caller"
    assert rec["duration"] == rec["end"] - rec["start"]
    # same keys, TTL and indexes as write_activation
    key = schema.activation_key("caller", aid)
    pexp = redis_server.execute_command("PEXPIRETIME", key)
    assert pexp == rec["start"] + schema.ACTIVATION_RETENTION_DEFAULT * 1000
    assert redis_server.zscore(schema.act_index_key("caller"), aid) == rec["start"]
    assert redis_server.zscore(schema.act_name_index_key("caller", "echo"), aid) == rec["start"]

    # warm: no initTime on the second activation
    aid2 = activation.new_activation_id()
    r = s.invoke({}, "blocking=true", aid=aid2)
    assert r.status_code == 200
    assert activation.annotation(r.json(), "initTime") is None
    assert activation.annotation(s.record(aid2), "initTime") is None

    # each runtime line is also a structured record on the sidecar's stdout
    lines = [x for x in s.stdout_records() if x.get("activationId") == aid]
    assert {(x["stream"], x["message"]) for x in lines} == {
        ("stdout", "hello stdout"), ("stderr", "hello stderr")}
    assert all(x["namespace"] == "caller" and x["action"] == "guest/echo" for x in lines)
    ev = [e["event"] for e in s.events()]
    assert "start" in ev and "ready" in ev and "run" in ev
    assert all(e["container"] == "c-test" for e in s.events())


def test_params_merge_final_and_api_key(redis_server, sidecars):
    put_entity(redis_server, "guest", "pk", {"namespace": "guest", "name": "pk",
               "parameters": [{"key": "p", "value": "pkg"}, {"key": "a", "value": "pkg"}],
               "binding": {}, "annotations": []}, coll="packages")
    put_entity(redis_server, "guest", "pk/echo", action_doc(
        "guest", "echo", ECHO, pkg="pk",
        parameters=[{"key": "a", "value": "action"}, {"key": "b", "value": "action"},
                    {"key": "secret", "value": "s3", "init": True}],
        annotations=[{"key": "provide-api-key", "value": True},
                     {"key": "final", "value": True}]))
    s = sidecars(redis_server, "guest/pk/echo")
    r = s.invoke({"c": "req"}, "blocking=true&result=true")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["params"] == {"p": "pkg", "a": "action", "b": "action", "c": "req"}
    assert body["env"]["key"] == GUEST_KEY
    assert body["env"]["secret"] == "s3"
    assert body["env"]["name"] == "/guest/pk/echo"

    r = s.invoke({"b": "override"}, "blocking=true")
    assert r.status_code == 400
    assert r.json()["error"] == ("Request defines parameters that are not allowed "
                                 "(e.g., reserved properties).")
    assert r.json()["code"]
    assert "x-openwhisk-activation-id" in r.headers

    aid = activation.new_activation_id()
    assert s.invoke({}, "blocking=true", aid=aid).status_code == 200
    rec = s.record(aid)
    assert activation.annotation(rec, "path") == "guest/pk/echo"
    assert redis_server.zscore(schema.act_name_index_key("caller", "pk/echo"), aid)


def test_blocking_nonblocking_result(redis_server, sidecars):
    put_entity(redis_server, "guest", "echo2", action_doc("guest", "echo2", ECHO))
    s = sidecars(redis_server, "guest/echo2")

    aid = activation.new_activation_id()
    r = s.invoke({"x": 1}, "", aid=aid)
    assert r.status_code == 202 and r.json() == {"activationId": aid}
    assert r.headers["x-openwhisk-activation-id"] == aid
    assert s.record(aid)["response"]["result"]["params"] == {"x": 1}

    r = s.invoke({"x": 2}, "blocking=true&result=true")
    assert r.status_code == 200 and r.json()["params"] == {"x": 2}

    r = s.invoke({"fail": True}, "blocking=true&result=true")
    assert r.status_code == 502 and r.json() == {"error": "app failed"}
    aid = activation.new_activation_id()
    r = s.invoke({"fail": True}, "blocking=true", aid=aid)
    assert r.status_code == 502
    assert r.json()["response"]["status"] == "application error"
    assert "code" not in r.json()   # wsk: a 502 without code is an application error

    for bad in ("timeout=0", "timeout=60001", "timeout=x"):
        r = s.invoke({}, "blocking=true&" + bad)
        assert r.status_code == 400
        assert r.json()["error"] == "Timeout must be number of milliseconds up to 60000."

    # the blocking wait expires: 202, the run goes on, its record is written
    aid = activation.new_activation_id()
    t0 = time.monotonic()
    r = s.invoke({"sleep": 800}, "blocking=true&timeout=100", aid=aid)
    assert r.status_code == 202 and r.json() == {"activationId": aid}
    assert time.monotonic() - t0 < 0.7
    rec = s.record(aid)
    assert rec["response"]["result"] == {"slept": 800}
    assert rec["duration"] >= 800


def test_array_result_quirk(redis_server, sidecars):
    code = "function main() { return [1, 'two', {three: 3}]; }"
    put_entity(redis_server, "guest", "arr", action_doc("guest", "arr", code))
    s = sidecars(redis_server, "guest/arr")
    for q in ("blocking=true", "blocking=true&result=true"):
        r = s.invoke({}, q)
        assert r.status_code == 200
        assert r.json() == [1, "two", {"three": 3}]


def test_429_retry_after_when_gate_and_buffer_full(redis_server, sidecars):
    put_entity(redis_server, "guest", "slow", action_doc("guest", "slow", ECHO))
    s = sidecars(redis_server, "guest/slow", "--overflow", "1")
    # seed the run-time estimate: ~1.2 s per run
    assert s.invoke({"sleep": 1200}, "blocking=true").status_code == 200
    # concurrency 1, buffer 1: one runs, one waits, the third is refused
    assert s.invoke({"sleep": 1200}).status_code == 202
    assert s.invoke({"sleep": 1200}).status_code == 202
    h = requests.get(s.url("/health"), timeout=5).json()
    assert h["inflight"] == 1 and h["queued"] == 1
    aid = activation.new_activation_id()
    r = s.invoke({"sleep": 1}, "blocking=true", aid=aid)
    assert r.status_code == 429, r.text
    # one queued ahead, serial runtime: (1 + 1) × 1.2 s → 3 s
    assert r.headers["Retry-After"] == "3"
    assert r.json()["error"] == "Too many concurrent requests in flight (count: 2, allowed: 2)."
    assert r.json()["code"]
    assert r.headers["x-openwhisk-activation-id"] == aid
    assert any(e["event"] == "429" for e in s.events())
    # never two /run at once on a concurrency-1 runtime: both finish fine
    wait_until(lambda: requests.get(s.url("/health"), timeout=5).json()["activations"] == 3,
               10, "queued run")
    assert s.invoke({}, "blocking=true").status_code == 200


def test_time_limit_is_developer_error_and_exit_2(redis_server, sidecars):
    put_entity(redis_server, "guest", "tl", action_doc("guest", "tl", ECHO,
                                                       limits={"timeout": 500}))
    s = sidecars(redis_server, "guest/tl")
    aid = activation.new_activation_id()
    r = s.invoke({"sleep": 5000}, "blocking=true", aid=aid)
    assert r.status_code == 502
    act = r.json()
    assert act["response"]["status"] == "action developer error"
    assert act["response"]["result"] == {
        "error": "The action exceeded its time limits of 500 milliseconds."}
    assert activation.annotation(act, "timeout") is True
    assert 500 <= act["duration"] < 2000
    assert s.wait() == 2
    assert s.record(aid)["response"]["result"] == act["response"]["result"]


def test_runtime_crash_is_developer_error_and_exit_2(redis_server, sidecars):
    put_entity(redis_server, "guest", "crash", action_doc("guest", "crash", ECHO))
    s = sidecars(redis_server, "guest/crash")
    aid = activation.new_activation_id()
    r = s.invoke({"crash": True}, "blocking=true&result=true", aid=aid)
    assert r.status_code == 502
    assert r.json() == {"error": "The action did not produce a valid response and exited "
                                 "unexpectedly."}
    assert s.wait() == 2
    rec = s.record(aid)
    assert rec["response"]["status"] == "action developer error"
    assert any(e["event"] == "exit" and e["code"] == 2 for e in s.events())


def test_thrown_error_recycles(redis_server, sidecars):
    code = "function main() { throw new Error('boom'); }"
    put_entity(redis_server, "guest", "throws", action_doc("guest", "throws", code))
    s = sidecars(redis_server, "guest/throws")
    r = s.invoke({}, "blocking=true&result=true")
    assert r.status_code == 502
    assert r.json() == {"error": "An error has occurred: Error: boom"}
    assert s.wait() == 2


def test_logs_truncated_at_limit(redis_server, sidecars):
    code = """function main() {
      const line = 'x'.repeat(1000);
      for (let i = 0; i < 1100; i++) console.log(line);
      return {done: true};
    }"""
    put_entity(redis_server, "guest", "chatty", action_doc("guest", "chatty", code,
                                                           limits={"logs": 1}))
    s = sidecars(redis_server, "guest/chatty")
    aid = activation.new_activation_id()
    r = s.invoke({}, "blocking=true", aid=aid)
    assert r.status_code == 200
    logs = r.json()["logs"]
    assert len(logs) == 1049   # 1048 lines of 1000 bytes fit in 1 MB, then the notice
    assert logs[-1][31:] == ("stderr: Logs were truncated because the total bytes size "
                             "exceeds the limit of 1048576 bytes.")
    assert s.record(aid)["logs"] == logs
    # the structured stream is not truncated (it is the shipper's copy)
    assert len([x for x in s.stdout_records() if x.get("activationId") == aid]) == 1100


def test_init_failure_exit_3(redis_server, sidecars):
    put_entity(redis_server, "guest", "broken", action_doc("guest", "broken", "function main( {"))
    s = sidecars(redis_server, "guest/broken")
    assert s.ready.startswith("failed "), s.ready
    failed = json.loads(s.ready[len("failed "):])
    assert failed["error"].startswith("Initialization has failed due to")
    assert s.wait() == 3


def test_missing_action_exit_3(redis_server, sidecars):
    s = sidecars(redis_server, "guest/nope")
    assert s.ready == 'failed {"error":"The requested resource does not exist. (guest/nope)"}'
    assert s.wait() == 3


def test_sigterm_drains(redis_server, sidecars):
    put_entity(redis_server, "guest", "drain", action_doc("guest", "drain", ECHO))
    s = sidecars(redis_server, "guest/drain")
    aid = activation.new_activation_id()
    box = {}
    t = threading.Thread(target=lambda: box.update(
        r=s.invoke({"sleep": 700}, "blocking=true&result=true", aid=aid)))
    t.start()
    wait_until(lambda: requests.get(s.url("/health"), timeout=5).json()["inflight"] == 1,
               5, "in flight")
    s.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: requests.get(s.url("/health"), timeout=5).json()["ready"] is False,
               5, "draining")
    r = s.invoke({}, "blocking=true")
    assert r.status_code == 503 and r.json()["code"]
    assert s.wait() == 0
    t.join(10)
    assert box["r"].status_code == 200 and box["r"].json() == {"slept": 700}
    assert s.record(aid)["response"]["success"] is True


def test_throughput_and_rss(redis_server, sidecars):
    """Not a benchmark: a sanity figure printed for the report (-s shows it)."""
    code = "function main() { return {ok: true}; }"
    put_entity(redis_server, "guest", "noop", action_doc("guest", "noop", code))
    s = sidecars(redis_server, "guest/noop")
    rss_idle = int(open("/proc/%d/status" % s.proc.pid).read().split("VmRSS:")[1].split()[0])
    sess = requests.Session()
    n = 300
    t0 = time.monotonic()
    for _ in range(n):
        assert sess.post(s.url("/invoke?blocking=true&result=true"), data="{}",
                         headers={"X-OW-Namespace": "caller"}).status_code == 200
    dt = time.monotonic() - t0
    rss = int(open("/proc/%d/status" % s.proc.pid).read().split("VmRSS:")[1].split()[0])
    print("\nsidecar RSS idle %d kB, after %d runs %d kB; %.0f req/s sequential (python client)"
          % (rss_idle, n, rss, n / dt))
    if not os.environ.get("OWX_SANITIZE"):
        # (make test-asan: ASan's shadow memory and its quarantine of freed blocks,
        # 256 MB by default, are most of a sanitized sidecar's RSS; no figure of ours)
        assert rss < 32 * 1024


def test_a_request_for_another_action_is_refused_503(redis_server, sidecars):
    """A gateway whose table is behind can send a request to an address that now
    belongs to another action's container: it must not run (503: nginx tries the
    next container), and nothing is recorded."""
    put_entity(redis_server, "guest", "mine", action_doc("guest", "mine", ECHO))
    s = sidecars(redis_server, "guest/mine")
    aid = activation.new_activation_id()
    r = s.invoke({"a": 1}, "blocking=true", aid=aid, headers={"X-OW-Path": "other/theirs"})
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "This container serves another action; retry."
    r = requests.post(s.url("/web"), data="", timeout=10,
                      headers={"X-OW-Path": "other/theirs", "X-OW-Web-Method": "GET"})
    assert r.status_code == 503, r.text
    assert requests.get(s.url("/health"), timeout=5).json()["activations"] == 0
    assert not redis_server.exists(schema.activation_key("caller", aid))
    # its own action runs
    r = s.invoke({"a": 1}, "blocking=true")
    assert r.status_code == 200, r.text


NETNS = subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not NETNS, reason="the kernel refuses network namespaces here")
def test_the_runtime_has_a_network_namespace_of_its_own(redis_server, sidecars):
    """--runtime-netns auto where the kernel allows it: the runtime sees its
    own lo (and slirp4netns's tap0), not the host's interfaces; the API
    host's address is the relay's and answers there."""
    code = """
const os = require('os'), net = require('net');
function main(p) {
  return new Promise(done => {
    const s = net.connect(1, '127.0.0.1');  // --api-host http://127.0.0.1:1: the relay
    s.on('connect', () => { s.destroy(); done({ifaces: Object.keys(os.networkInterfaces()), api: 'connected'}); });
    s.on('error', e => done({ifaces: Object.keys(os.networkInterfaces()), api: e.code}));
  });
}"""
    put_entity(redis_server, "guest", "netns", action_doc("guest", "netns", code))
    sc = sidecars(redis_server, "guest/netns", "--runtime-netns", "auto")
    assert sc.ready.startswith("ready "), sc.ready
    r = sc.invoke({}, query="blocking=true&result=true")
    assert r.status_code == 200, r.text
    assert "eth0" not in r.json()["ifaces"], r.json()
    # the relay accepts, then closes: nothing listens at 127.0.0.1:1 here
    assert r.json()["api"] == "connected", r.json()
    start = [e for e in sc.events() if e["event"] == "start"][0]
    assert start["runtimeNetns"] is True, start


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the sidecar as another uid")
def test_where_the_kernel_refuses_the_namespace_auto_runs_as_before(redis_server, sidecars):
    """Not root: unshare is refused. auto logs it once and the runtime runs in
    the host's namespace; on refuses to start."""
    put_entity(redis_server, "guest", "plain",
               action_doc("guest", "plain", "function main(p) { return {ok: true}; }"))
    sc = sidecars(redis_server, "guest/plain", "--runtime-netns", "auto", user=65534)
    assert sc.ready.startswith("ready "), sc.ready
    r = sc.invoke({}, query="blocking=true&result=true")
    assert r.status_code == 200 and r.json() == {"ok": True}, r.text
    warned = [e for e in sc.events() if e["event"] == "runtime_netns_unavailable"]
    assert len(warned) == 1, sc.events()
    assert [e for e in sc.events() if e["event"] == "start"][0]["runtimeNetns"] is False
    strict = sidecars(redis_server, "guest/plain", "--runtime-netns", "on", user=65534)
    assert strict.ready.startswith("failed "), strict.ready
    assert "network namespace" in strict.ready
    assert strict.wait() == 3


@pytest.mark.skipif(not NETNS, reason="the kernel refuses network namespaces here")
def test_without_slirp4netns_the_runtime_keeps_its_namespace_and_the_api(redis_server, sidecars):
    """A slirp4netns that fails: logged (runtime_no_outbound), the namespace
    stays (only lo), the action still runs."""
    code = """
const os = require('os');
function main(p) { return {ifaces: Object.keys(os.networkInterfaces()).sort()}; }"""
    put_entity(redis_server, "guest", "noout", action_doc("guest", "noout", code))
    sc = sidecars(redis_server, "guest/noout", "--runtime-netns", "on", "--slirp4netns", "/bin/false")
    assert sc.ready.startswith("ready "), sc.ready
    r = sc.invoke({}, query="blocking=true&result=true")
    assert r.status_code == 200 and r.json() == {"ifaces": ["lo"]}, r.text
    assert [e for e in sc.events() if e["event"] == "runtime_no_outbound"], sc.events()
    start = [e for e in sc.events() if e["event"] == "start"][0]
    assert start["runtimeNetns"] is True and start["outbound"] is False, start


# ---- an external runtime (--runtime-url, --runtime-logs): the runtime's own container of a
# Kubernetes pod, here a process of the test's that shares the loopback

def runtime_log_wrapper():
    """libow/runtime_log_wrapper.h's shell (the runtime container's command), read from the
    header: one text for the pool-manager, the sidecar and this test."""
    import ast
    import re
    with open(os.path.join(ROOT, "libow", "runtime_log_wrapper.h")) as f:
        text = f.read()
    body = text.split("kRuntimeLogWrapper[] =", 1)[1].split(";\n", 1)[0]
    return "".join(ast.literal_eval(piece) for piece in re.findall(r'"(?:[^"\\]|\\.)*"', body))


class ExternalRuntime:
    """The Node runtime on 127.0.0.1:port behind the wrapper shell, its output into DIR's FIFOs."""

    def __init__(self, logs_dir, port):
        self.proc = subprocess.Popen(["/bin/sh", "-c", runtime_log_wrapper(), "sh", logs_dir,
                                      NODE, PROXY, "--port", str(port)],
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def test_an_external_runtime_over_tcp_with_its_logs_through_the_fifos(redis_server, sidecars,
                                                                      tmp_path):
    """Nothing spawned: the sidecar waits (backing off) for a runtime that starts after it,
    speaks /init and /run to it over TCP, collects its output per activation through the FIFOs
    it made, and on SIGTERM drains, then tells the runtime's wrapper it may stop the runtime."""
    put_entity(redis_server, "guest", "ext", action_doc("guest", "ext", ECHO))
    port = free_port()
    logs = str(tmp_path)
    box = {}
    # the sidecar's ready line comes once /init is done: start it in a thread, the runtime later
    t = threading.Thread(target=lambda: box.update(s=sidecars(
        redis_server, "guest/ext", "--runtime-url", "http://127.0.0.1:%d" % port,
        "--runtime-logs", logs, runtime=[])))
    t.start()
    wait_until(lambda: os.path.exists(os.path.join(logs, "stderr")), 10, "the sidecar's FIFOs")
    time.sleep(0.3)  # the sidecar probes a port where nothing listens yet
    rt = ExternalRuntime(logs, port)
    try:
        t.join(30)
        s = box["s"]
        assert s.addr, (s.ready, s.events())
        assert children(s.proc.pid) == []  # it spawned nothing
        start = next(e for e in s.events() if e["event"] == "start")
        assert start["runtime"] == "127.0.0.1:%d" % port and start["runtimeLogs"] == logs
        aid = activation.new_activation_id()
        r = s.invoke({"a": 1}, "blocking=true", aid=aid)
        assert r.status_code == 200, r.text
        act = r.json()
        assert act["response"]["result"]["params"] == {"a": 1}
        assert act["response"]["result"]["env"]["host"] == "http://127.0.0.1:1"
        assert [line.split(" ", 1)[1] for line in act["logs"]] == [
            "stdout: hello stdout", "stderr: hello stderr"]
        assert activation.annotation(act, "initTime") >= 0
        # warm, and a run in flight when SIGTERM comes finishes before the runtime is stopped
        aid2 = activation.new_activation_id()
        t2 = threading.Thread(target=lambda: box.update(
            r=s.invoke({"sleep": 500}, "blocking=true", aid=aid2)))
        t2.start()
        wait_until(lambda: requests.get(s.url("/health"), timeout=5).json()["inflight"] == 1,
                   5, "in flight")
        s.proc.send_signal(signal.SIGTERM)
        rt.proc.send_signal(signal.SIGTERM)  # as the kubelet: both containers at once
        t2.join(10)
        assert box["r"].status_code == 200, box["r"].text
        assert box["r"].json()["response"]["result"] == {"slept": 500}
        assert [line.split(" ", 1)[1] for line in box["r"].json()["logs"]] == [
            "stdout: hello stdout", "stderr: hello stderr"]
        assert s.wait() == 0
        assert os.path.exists(os.path.join(logs, "sidecar-exited"))
        assert rt.proc.wait(10) == 0  # the wrapper passed TERM on: proxy.js exits 0
    finally:
        rt.stop()


def test_an_external_runtime_as_a_stemcell(redis_server, sidecars, tmp_path):
    """A stemcell with an external runtime: ready once the runtime listens, /specialize loads the
    action and runs /init over TCP."""
    put_entity(redis_server, "guest", "extstem", action_doc("guest", "extstem", ECHO))
    port = free_port()
    logs = str(tmp_path)
    # the runtime's container first this time: its wrapper waits for the sidecar's FIFOs (and
    # a stemcell sidecar dies with the thread that started it, PR_SET_PDEATHSIG: this one)
    rt = ExternalRuntime(logs, port)
    try:
        s = sidecars(redis_server, "guest/extstem", "--stemcell", "60s", "--runtime-url",
                     "http://127.0.0.1:%d" % port, "--runtime-logs", logs, runtime=[],
                     action=False)
        assert s.addr, (s.ready, s.events())
        # the sidecar logs stemcell_ready after it has announced its address on the ready fd
        wait_until(lambda: "stemcell_ready" in [e["event"] for e in s.events()], 5,
                   "the stemcell_ready log line")
        r = requests.post(s.url("/specialize"), json={"action": "guest/extstem"}, timeout=30)
        assert r.status_code == 200 and r.json()["ready"] is True, r.text
        r = s.invoke({"b": 2}, "blocking=true")
        assert r.status_code == 200, r.text
        assert r.json()["response"]["result"]["params"] == {"b": 2}
        assert [line.split(" ", 1)[1] for line in r.json()["logs"]] == [
            "stdout: hello stdout", "stderr: hello stderr"]
    finally:
        rt.stop()


def test_an_external_runtime_that_never_listens_fails_the_start(redis_server, sidecars, tmp_path):
    put_entity(redis_server, "guest", "extnone", action_doc("guest", "extnone", ECHO))
    s = sidecars(redis_server, "guest/extnone", "--runtime-url",
                 "http://127.0.0.1:%d" % free_port(), "--runtime-logs", str(tmp_path),
                 "--start-timeout", "700ms", runtime=[])
    assert s.ready.startswith("failed "), s.ready
    assert "did not start listening" in s.ready
    assert s.wait() == 3


def test_every_bad_option_is_named_with_its_value():
    """A bad value is named with its option and what it must be, every one of
    them in one run, before anything starts."""
    p = subprocess.run([SIDECAR, "--action", "guest/a", "--retention", "week",
                        "--record-queue", "0", "--runtime-netns", "maybe", "--", "true"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 64
    assert p.stderr.splitlines() == [
        'ow-sidecar: --retention "week": expected a duration (7d, 600 = 600s, 250ms, 10m, 1h)',
        'ow-sidecar: --record-queue "0": expected a whole number of at least 1',
        'ow-sidecar: --runtime-netns "maybe": expected auto, on or off'], p.stderr
