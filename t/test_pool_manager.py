"""test_pool_manager.py: black-box tests of ow-pool-manager (local backend).

Each stack is a real redis-server on a free port and the real ow-pool-manager;
containers are t/pool_manager/fake_sidecar.py (the sidecar's command line and
HTTP surface) or, when it is built, the real ow-sidecar with the real Node.js
runtime. Sidecars run in their own sessions (they must outlive the
pool-manager), so every test stack kills what it started when it ends."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

from owx.stack import free_port, sanitized_sidecar_args, wait_until  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE_SIDECAR = os.path.join(ROOT, "t", "pool_manager", "fake_sidecar.py")
REDIS = "/usr/bin/redis-server"
DEADLINE = 10.0


def build_candidates(*parts):
    b = os.environ.get("OWX_BUILD", os.path.join(ROOT, "build"))
    return [os.path.join(b, "cmake", *parts), os.path.join(b, *parts)]


def find_binary(env, *parts):
    if os.environ.get(env):
        return os.environ[env]
    for p in build_candidates(*parts):
        if os.access(p, os.X_OK):
            return p
    return None


POOL_MANAGER = find_binary("OWX_POOL_MANAGER", "pool-manager", "ow-pool-manager")
SIDECAR = find_binary("OWX_SIDECAR", "sidecar", "ow-sidecar")
NODE_PROXY = os.path.join(ROOT, "runtimes", "nodejs", "proxy.js")


def action_doc(name, kind="nodejs:20", concurrency=1, memory=256, code="function main(){return {}}"):
    return {"namespace": "guest", "name": name, "version": "0.0.1", "publish": False,
            "exec": {"kind": kind, "code": code, "binary": False},
            "parameters": [], "annotations": [{"key": "exec", "value": "nodejs"}],
            "limits": {"timeout": 60000, "memory": memory, "logs": 10, "concurrency": concurrency}}


class Stack:
    """redis-server + ow-pool-manager, on free ports, state under tmp."""

    def __init__(self, tmp, sidecar=FAKE_SIDECAR, runtimes=None, pm_args=()):
        self.tmp = tmp
        self.redis_port = free_port()
        self.sidecar = sidecar
        self.pm_args = list(pm_args)
        if sidecar != FAKE_SIDECAR:
            self.pm_args = sanitized_sidecar_args() + self.pm_args  # make test-asan
        self.sidecar_dir = os.path.join(tmp, "sidecars")
        os.makedirs(self.sidecar_dir, exist_ok=True)
        self.runtimes = os.path.join(tmp, "runtimes-exec.json")
        with open(self.runtimes, "w") as f:
            json.dump(runtimes or {
                "nodejs:20": {"command": ["/usr/bin/node", "/nonexistent/proxy.js", "--port", "{port}"],
                              "family": "nodejs", "default": True},
                "python:3.11": {"command": ["/usr/bin/python3", "/nonexistent/run.py", "{port}"],
                                "family": "python", "default": True},
            }, f)
        self.redis_proc = None
        self.pm = None
        self.pm_port = None
        self.pm_log = None
        self.known_pids = set()

    # ---- redis
    def start_redis(self):
        self.redis_proc = subprocess.Popen(
            [REDIS, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.r = redis.Redis(host="127.0.0.1", port=self.redis_port, decode_responses=True)

        def ping():
            try:
                return self.r.ping()
            except redis.ConnectionError:
                return False
        wait_until(ping, DEADLINE, "redis")

    def put_action(self, ns, path, **kw):
        doc = action_doc(path.split("/")[-1], **kw)
        doc["namespace"] = ns
        self.r.hset("owx:{%s}:e:%s" % (ns, path), mapping={"coll": "actions", "doc": json.dumps(doc)})
        if "/" in path:
            # the API never stores an action in a package that does not exist
            pkg = path.split("/")[0]
            pkg_doc = {"namespace": ns, "name": pkg, "version": "0.0.1", "publish": False,
                       "binding": {}, "parameters": [], "annotations": []}
            self.r.hsetnx("owx:{%s}:e:%s" % (ns, pkg), "coll", "packages")
            self.r.hsetnx("owx:{%s}:e:%s" % (ns, pkg), "doc", json.dumps(pkg_doc))

    # ---- pool-manager
    def start_pm(self, extra=()):
        assert POOL_MANAGER, "ow-pool-manager is not built (set OWX_BUILD or OWX_POOL_MANAGER)"
        self.pm_port = free_port()
        env = dict(os.environ, FAKE_SIDECAR_DIR=self.sidecar_dir)
        self.pm_log = open(os.path.join(self.tmp, "pool-manager-%d.log" % self.pm_port), "w")
        self.pm = subprocess.Popen(
            [POOL_MANAGER, "--listen", "127.0.0.1:%d" % self.pm_port,
             "--redis", "127.0.0.1:%d" % self.redis_port, "--sidecar", self.sidecar,
             "--runtimes", self.runtimes, "--api-host", "http://127.0.0.1:1"]
            + self.pm_args + list(extra),
            stdout=self.pm_log, stderr=subprocess.STDOUT, env=env)
        wait_until(lambda: requests.get(self.url("/health"), timeout=1).status_code == 200,
                   DEADLINE, "ow-pool-manager")

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.pm_port, path)

    def capacity(self, action, scale=None, timeout=DEADLINE):
        body = {"action": action}
        if scale is not None:
            body["scale"] = scale
        r = requests.post(self.url("/v1/capacity"), json=body, timeout=timeout)
        if r.status_code == 200:
            for c in r.json()["containers"]:
                self.remember(c["id"])
        return r

    def containers(self, action=None):
        cs = requests.get(self.url("/v1/containers"), timeout=5).json()["containers"]
        for c in cs:
            if c.get("pid"):
                self.known_pids.add(c["pid"])
        return [c for c in cs if action is None or c["action"] == action]

    def remember(self, cid):
        info = self.sidecar_info(cid)
        if info:
            self.known_pids.add(info["pid"])

    def sidecar_info(self, cid):
        try:
            with open(os.path.join(self.sidecar_dir, cid + ".json")) as f:
                return json.load(f)
        except OSError:
            return None

    def warm(self):
        return {k: json.loads(v) for k, v in self.r.hgetall("owx:{warm}").items()}

    def kill_pm(self, sig=signal.SIGKILL):
        self.pm.send_signal(sig)
        self.pm.wait(timeout=DEADLINE)
        self.pm_log.close()
        self.pm = None

    def log_text(self):
        self.pm_log.flush()
        with open(self.pm_log.name) as f:
            return f.read()

    def stop(self):
        if self.pm is not None:
            self.pm.kill()
            self.pm.wait(timeout=DEADLINE)
            self.pm_log.close()
            self.pm = None
        # sidecars are in their own sessions: kill each one's process group
        for f in os.listdir(self.sidecar_dir):
            try:
                with open(os.path.join(self.sidecar_dir, f)) as fh:
                    info = json.load(fh)
                self.known_pids.add(info["pid"])
                self.known_pids.add(info["runtime_pid"])
            except (OSError, ValueError):
                pass
        for pid in self.known_pids:
            kill_session(pid)
        if self.redis_proc:
            self.redis_proc.terminate()
            self.redis_proc.wait(timeout=DEADLINE)


def make_stack(tmp_path_factory, **kw):
    s = Stack(str(tmp_path_factory.mktemp("pm")), **kw)
    try:
        s.start_redis()
        for ns, path in (("guest", "hello"), ("guest", "pkg/hello"), ("guest", "slowstart"),
                         ("guest", "scaler"), ("guest", "initfail"), ("guest", "victim")):
            s.put_action(ns, path, concurrency=2)
        s.put_action("guest", "java", kind="java:8")
        for i in range(4):
            s.put_action("capped", "a%d" % i)
    except Exception:
        s.stop()
        raise
    return s


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """One stack for the module (overrides conftest's nginx stack here)."""
    s = make_stack(tmp_path_factory, pm_args=["--health-interval", "200ms"])
    try:
        s.start_pm()
        yield s
    finally:
        s.stop()


@pytest.fixture
def fresh(tmp_path_factory):
    """A stack of its own (tests that restart the pool-manager or time out idle ones)."""
    s = make_stack(tmp_path_factory)
    try:
        yield s
    finally:
        s.stop()


class Events:
    """Subscribed to owx:warm:events before the action under test."""

    def __init__(self, r):
        self.p = r.pubsub()
        self.p.subscribe("owx:warm:events")
        assert self.p.get_message(timeout=DEADLINE)["type"] == "subscribe"

    def next(self, timeout=DEADLINE):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.p.get_message(timeout=end - time.monotonic())
            if m and m["type"] == "message":
                return json.loads(m["data"])
        raise AssertionError("no event on owx:warm:events")

    def next_for(self, cid, timeout=DEADLINE):
        """The next event about container cid; the others' are passed over."""
        end = time.monotonic() + timeout
        while True:
            e = self.next(max(end - time.monotonic(), 0.01))
            if e.get("id") == cid:
                return e

    def close(self):
        self.p.close()


def kill_session(sid):
    """SIGKILL every process of session sid (a sidecar and its runtime, which
    the real sidecar puts in a process group of its own)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:
                os.kill(int(d), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(") ", 1)[1][0] != "Z"


def wait_gone(pid):
    wait_until(lambda: not os.path.exists("/proc/%d" % pid) or not alive(pid), DEADLINE,
               "process %d to exit" % pid)


# ---------------------------------------------------------------- capacity

def test_capacity_starts_a_container_and_publishes_it(stack):
    ev = Events(stack.r)
    r = stack.capacity("guest/hello")
    assert r.status_code == 200, r.text
    cs = r.json()["containers"]
    assert len(cs) == 1
    c = cs[0]
    assert set(c) == {"id", "addr", "concurrency"}
    assert c["concurrency"] == 2
    assert c["addr"].startswith("127.0.0.1:")
    # the sidecar answers where the pool-manager says it is
    h = requests.get("http://%s/health" % c["addr"], timeout=5).json()
    assert h["ready"] is True
    assert requests.post("http://%s/invoke" % c["addr"], json={}, timeout=5).json()["container"] == c["id"]
    # warm table entry
    entry = stack.warm()[c["id"]]
    assert entry["id"] == c["id"] and entry["action"] == "guest/hello"
    assert entry["addr"] == c["addr"] and entry["concurrency"] == 2
    assert entry["kind"] == "nodejs:20" and entry["memory"] == 256
    assert abs(entry["started"] - time.time() * 1000) < 60000
    # the event, with the version the counter now has
    e = ev.next()
    ev.close()
    assert e == {"v": int(stack.r.get("owx:{warm}:ver")), "op": "add", "id": c["id"],
                 "action": "guest/hello", "addr": c["addr"], "concurrency": 2}
    # a second request is answered from the warm pool: no new container
    r2 = stack.capacity("guest/hello")
    assert r2.status_code == 200
    assert r2.json()["containers"] == cs
    assert [x["id"] for x in stack.containers("guest/hello")] == [c["id"]]


def test_sidecar_command_line_and_limits(stack):
    r = stack.capacity("guest/pkg/hello")
    assert r.status_code == 200, r.text
    cid = r.json()["containers"][0]["id"]
    info = stack.sidecar_info(cid)
    argv = info["argv"]
    sep = argv.index("--")
    opts = dict(zip(argv[:sep:2], argv[1:sep:2]))
    assert opts["--action"] == "guest/pkg/hello"
    assert opts["--container-id"] == cid
    assert opts["--listen"] == "127.0.0.1:0"
    assert opts["--redis"] == "127.0.0.1:%d" % stack.redis_port
    assert opts["--api-host"] == "http://127.0.0.1:1"
    assert argv[sep + 1:] == ["/usr/bin/node", "/nonexistent/proxy.js", "--port", "{port}"]
    fd = int(opts["--ready-fd"])
    # own session (survives the pool-manager), nothing of ours leaked but the ready fd
    assert info["sid"] == info["pid"] == info["pgid"]
    extra = set(info["open_fds"]) - {0, 1, 2, fd}
    assert len(extra) <= 1, info["open_fds"]  # the one listdir() itself opened
    # memory: RLIMIT_DATA = limits.memory + headroom; V8 told the same
    assert info["rlimit_data"] == (256 + 128) * 1024 * 1024
    assert "--max-old-space-size=256" in info["node_options"]


def test_concurrent_requests_start_one_container(stack):
    results = []

    def ask():
        results.append(stack.capacity("guest/slowstart"))

    threads = [threading.Thread(target=ask) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200] * 10
    ids = {tuple(c["id"] for c in r.json()["containers"]) for r in results}
    assert len(ids) == 1 and len(next(iter(ids))) == 1
    assert len(stack.containers("guest/slowstart")) == 1


def test_scale_adds_one_container_coalesced(stack):
    first = stack.capacity("guest/scaler").json()["containers"]
    assert len(first) == 1
    r = stack.capacity("guest/scaler", scale=True)
    assert r.status_code == 200
    assert len(r.json()["containers"]) == 2
    # concurrent scale requests: one more container, not five
    results = []
    threads = [threading.Thread(target=lambda: results.append(stack.capacity("guest/scaler", scale=True)))
               for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [x.status_code for x in results] == [200] * 5
    assert len(stack.containers("guest/scaler")) == 3
    assert len([e for e in stack.warm().values() if e["action"] == "guest/scaler"]) == 3


def test_namespace_cap_429(fresh):
    stack = fresh
    # no health poll yet: no container is known to be idle, so none can be evicted to
    # make room (test_eviction*.py: what is)
    stack.pm_args = ["--max-containers-per-namespace", "3", "--health-interval", "3600s"]
    stack.start_pm()
    assert stack.capacity("guest/hello").status_code == 200  # another namespace
    for i in range(3):
        assert stack.capacity("capped/a%d" % i).status_code == 200
    r = stack.capacity("capped/a3")
    assert r.status_code == 429
    body = r.json()
    # retryAfter: the gateway's Retry-After (no run time observed: 1 s)
    assert body == {"error": "Too many containers for namespace 'capped' (limit 3).",
                    "code": "", "retryAfter": 1}
    # the namespace's warm actions are still served
    assert stack.capacity("capped/a0").status_code == 200
    assert len([c for c in stack.containers() if c["action"].startswith("capped/")]) == 3


@pytest.mark.parametrize("body,status", [
    ({"action": "guest/nope"}, 404),
    ({"action": "nobody/hello"}, 404),
    ({"action": "guest/java"}, 400),
    ({"action": "guest"}, 400),
    ({"action": 7}, 400),
    ({}, 400),
])
def test_capacity_errors(stack, body, status):
    r = requests.post(stack.url("/v1/capacity"), json=body, timeout=DEADLINE)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "code"}


def test_unknown_action_message(stack):
    r = stack.capacity("guest/nope")
    assert r.json() == {"error": "The requested resource does not exist.", "code": ""}


def test_bad_requests(stack):
    assert requests.post(stack.url("/v1/capacity"), data="{", timeout=5).status_code == 400
    assert requests.get(stack.url("/v1/capacity"), timeout=5).status_code == 405
    assert requests.get(stack.url("/nope"), timeout=5).status_code == 404
    big = {"action": "guest/hello", "pad": "x" * 100000}
    assert requests.post(stack.url("/v1/capacity"), json=big, timeout=5).status_code == 413


def test_init_failure_is_502_with_the_init_error(stack):
    before = set(stack.warm())
    r = stack.capacity("guest/initfail")
    assert r.status_code == 502, r.text
    body = r.json()
    assert body["error"] == "Initialization has failed due to: boom"
    assert body["code"] == ""
    assert stack.containers("guest/initfail") == []
    assert set(stack.warm()) == before


def test_killed_sidecar_leaves_the_warm_table(stack):
    c = stack.capacity("guest/victim").json()["containers"][0]
    info = stack.sidecar_info(c["id"])
    pid, runtime_pid = info["pid"], info["runtime_pid"]
    assert os.getpgid(runtime_pid) == runtime_pid  # in a group of its own
    ev = Events(stack.r)
    os.kill(pid, signal.SIGKILL)
    e = ev.next(timeout=5)
    ev.close()
    assert e["op"] == "del" and e["id"] == c["id"] and e["action"] == "guest/victim"
    assert e["addr"] == c["addr"] and e["v"] == int(stack.r.get("owx:{warm}:ver"))
    assert c["id"] not in stack.warm()
    assert stack.containers("guest/victim") == []
    wait_gone(runtime_pid)  # nothing of the container outlives its sidecar
    # the next request gets a fresh container
    r = stack.capacity("guest/victim")
    assert r.status_code == 200
    assert r.json()["containers"][0]["id"] != c["id"]


def test_container_listing_and_health(stack):
    assert requests.get(stack.url("/health"), timeout=5).status_code == 200
    cs = stack.containers("guest/hello")
    assert len(cs) == 1
    c = cs[0]
    assert c["state"] == "warm" and c["adopted"] is False and c["pid"] > 0
    # polled health shows up (interval 200 ms)
    wait_until(lambda: "health" in stack.containers("guest/hello")[0], DEADLINE, "health poll")
    assert stack.containers("guest/hello")[0]["health"]["ready"] is True


def test_cgroup_memory_limit(fresh, tmp_path):
    """--cgroup-dir: one child cgroup per container with limits.memory (a plain
    directory stands in for the cgroup filesystem here: v1 layout)."""
    cg = tmp_path / "cg"
    cg.mkdir()
    fresh.pm_args = ["--cgroup-dir", str(cg)]
    fresh.start_pm()
    c = fresh.capacity("guest/hello").json()["containers"][0]
    limit = cg / ("owx-" + c["id"]) / "memory.limit_in_bytes"
    assert limit.read_text() == str(256 * 1024 * 1024)


def test_warm_table_is_repaired(fresh):
    """A lost or hand-edited warm table is rewritten from the pool, with events."""
    fresh.pm_args = ["--resync-interval", "300ms"]
    fresh.start_pm()
    c = fresh.capacity("guest/hello").json()["containers"][0]
    ev = Events(fresh.r)
    fresh.r.delete("owx:{warm}")
    fresh.r.hset("owx:{warm}", "bogus", "{}")
    got = [ev.next(), ev.next()]
    ev.close()
    assert sorted(e["op"] for e in got) == ["add", "del"]
    add_ev = [e for e in got if e["op"] == "add"][0]
    assert add_ev["id"] == c["id"] and add_ev["addr"] == c["addr"]
    assert [e for e in got if e["op"] == "del"][0]["id"] == "bogus"
    assert set(fresh.warm()) == {c["id"]}


# ---------------------------------------------------------------- idle removal

def test_idle_container_is_removed_busy_one_kept(fresh):
    # mark-and-sweep (garbage_collector.h; t/test_collector.py has the gateway's side):
    # idle → "mark" event, then after the grace "del" and the drain
    fresh.pm_args = ["--idle-timeout", "1s", "--health-interval", "100ms", "--stop-grace", "5s",
                     "--gc-grace", "1s", "--gc-interval", "100ms", "--gc-policy", "idle-timeout"]
    fresh.start_pm()
    busy = fresh.capacity("guest/hello").json()["containers"][0]
    idle = fresh.capacity("guest/scaler").json()["containers"][0]
    idle_pid = fresh.sidecar_info(idle["id"])["pid"]
    ev = Events(fresh.r)
    # keep one request in flight on "busy" for 3 s
    t = threading.Thread(target=lambda: requests.post("http://%s/invoke" % busy["addr"],
                                                      json={"sleep": 3}, timeout=10))
    t.start()
    e = ev.next_for(idle["id"], timeout=5)
    assert e["op"] == "mark"
    assert fresh.warm()[idle["id"]]["marked"] is True
    e = ev.next_for(idle["id"], timeout=5)
    assert e["op"] == "del"
    assert idle["id"] not in fresh.warm()
    wait_gone(idle_pid)  # drained by SIGTERM
    wait_gone(fresh.sidecar_info(idle["id"])["runtime_pid"])
    assert busy["id"] in fresh.warm(), "a container with work in flight is not idle"
    t.join()
    # once its work is done and the timeout passes, it goes too. (On a loaded machine the
    # collector may have marked it before its request arrived, and unmarked it once its
    # sidecar said it was busy: only the last two of its events count.)
    ops = []
    while ops[-1:] != ["del"]:
        ops.append(ev.next_for(busy["id"], timeout=5)["op"])
    ev.close()
    assert ops[-2:] == ["mark", "del"], ops
    wait_until(lambda: fresh.containers() == [], DEADLINE, "pool to empty")
    assert fresh.warm() == {}


# ---------------------------------------------------------------- crash and adoption

def test_pool_manager_crash_keeps_sidecars_and_is_adopted(fresh):
    fresh.start_pm()
    c = fresh.capacity("guest/hello").json()["containers"][0]
    pid = fresh.sidecar_info(c["id"])["pid"]
    fresh.kill_pm(signal.SIGKILL)
    # warm invokes keep working without the pool-manager
    assert alive(pid)
    r = requests.post("http://%s/invoke" % c["addr"], json={}, timeout=5)
    assert r.status_code == 200 and r.json()["container"] == c["id"]
    assert c["id"] in fresh.warm()
    # a stale entry (its sidecar is gone) is removed by the next pool-manager
    stale = {"id": "deadbeefdeadbeef", "action": "guest/hello", "addr": "127.0.0.1:%d" % free_port(),
             "concurrency": 1, "kind": "nodejs:20", "memory": 256, "started": 1, "pid": 999999}
    fresh.r.hset("owx:{warm}", stale["id"], json.dumps(stale))
    ev = Events(fresh.r)
    fresh.start_pm()
    e = ev.next()
    assert e["op"] == "del" and e["id"] == stale["id"] and e["addr"] == stale["addr"]
    assert set(fresh.warm()) == {c["id"]}
    cs = fresh.containers()
    assert len(cs) == 1 and cs[0]["id"] == c["id"] and cs[0]["adopted"] is True
    assert cs[0]["state"] == "warm" and cs[0]["pid"] == pid
    # capacity is answered with the adopted container, no new start
    r = fresh.capacity("guest/hello")
    assert r.status_code == 200 and r.json()["containers"] == [c]
    # an adopted sidecar that dies is noticed (not our child: pidfd / polling)
    os.kill(pid, signal.SIGKILL)
    e = ev.next(timeout=8)
    ev.close()
    assert e["op"] == "del" and e["id"] == c["id"]
    assert fresh.warm() == {}
    assert fresh.containers() == []


def test_graceful_stop_leaves_containers_running(fresh):
    fresh.start_pm()
    c = fresh.capacity("guest/hello").json()["containers"][0]
    pid = fresh.sidecar_info(c["id"])["pid"]
    fresh.kill_pm(signal.SIGTERM)
    assert alive(pid)
    assert c["id"] in fresh.warm()


def test_waits_for_redis_then_serves(fresh):
    """Started while Redis is away: the API answers but the replica does not lead (no
    lease without Redis, so no container can be started); once Redis is back it leads,
    reconciles and serves."""
    fresh.redis_proc.terminate()
    fresh.redis_proc.wait(timeout=DEADLINE)
    fresh.pm_port = free_port()
    env = dict(os.environ, FAKE_SIDECAR_DIR=fresh.sidecar_dir)
    fresh.pm_log = open(os.path.join(fresh.tmp, "pm-noredis.log"), "w")
    fresh.pm = subprocess.Popen(
        [POOL_MANAGER, "--listen", "127.0.0.1:%d" % fresh.pm_port,
         "--redis", "127.0.0.1:%d" % fresh.redis_port, "--sidecar", fresh.sidecar,
         "--runtimes", fresh.runtimes], stdout=fresh.pm_log, stderr=subprocess.STDOUT, env=env)
    health = lambda: requests.get(fresh.url("/health"), timeout=1)  # noqa: E731
    wait_until(lambda: health().status_code == 200, DEADLINE, "the pool-manager's API")
    assert health().json()["leader"] is False
    fresh.start_redis()
    fresh.put_action("guest", "hello")
    wait_until(lambda: health().json()["leader"] is True, DEADLINE,
               "the pool-manager to lead after Redis came back")
    assert fresh.capacity("guest/hello").status_code == 200


# ---------------------------------------------------------------- the real sidecar

def test_real_sidecar_and_nodejs_runtime(tmp_path_factory):
    assert SIDECAR and os.path.exists(NODE_PROXY), "make builds ow-sidecar; runtimes/ is in the tree"
    runtimes = {"nodejs:20": {"command": ["/usr/bin/node", NODE_PROXY, "--port", "{port}"],
                              "family": "nodejs", "default": True}}
    s = Stack(str(tmp_path_factory.mktemp("real")), sidecar=SIDECAR, runtimes=runtimes)
    s.start_redis()
    try:
        s.put_action("guest", "hello", code="function main(p) { return {hello: p.name || 'world'} }")
        s.put_action("guest", "broken", code="function main( {")
        s.start_pm()
        r = s.capacity("guest/hello", timeout=30)
        assert r.status_code == 200, r.text + s.log_text()
        c = r.json()["containers"][0]
        s.containers()
        headers = {"X-OW-Activation-Id": "0" * 31 + "1", "X-OW-Namespace": "guest",
                   "X-OW-Subject": "guest", "X-OW-Path": "guest/hello",
                   "X-OW-Accept-Time": str(int(time.time() * 1000))}
        h = requests.get("http://%s/health" % c["addr"], timeout=5)
        assert h.status_code == 200 and h.json()["ready"] is True
        inv = requests.post("http://%s/invoke?blocking=true&result=true" % c["addr"],
                            json={"name": "owx"}, timeout=30, headers=headers)
        assert inv.status_code == 200, inv.text
        assert inv.json() == {"hello": "owx"}
        assert s.warm()[c["id"]]["addr"] == c["addr"]
        r = s.capacity("guest/broken", timeout=30)
        assert r.status_code == 502, r.text
        assert r.json()["error"].startswith("Initialization has failed due to: SyntaxError")
        assert [x["id"] for x in s.containers()] == [c["id"]]
        # the pool-manager dies: the warm container keeps serving
        s.kill_pm(signal.SIGKILL)
        headers["X-OW-Activation-Id"] = "0" * 31 + "2"
        inv = requests.post("http://%s/invoke?blocking=true&result=true" % c["addr"],
                            json={"name": "again"}, timeout=30, headers=headers)
        assert inv.status_code == 200 and inv.json() == {"hello": "again"}
    finally:
        s.stop()


# ---------------------------------------------------------------- the internal token

def test_token_guards_the_control_api_and_goes_to_the_sidecars(fresh):
    """--token-file: /v1/ answers 401 without X-OW-Token (or with another), /health stays
    open; --metrics-token-file: /metrics answers 401 without "Authorization: Bearer" and
    that token (the internal one is not it); each sidecar gets the tokens' and the
    credentials' FILES (never the secrets themselves on a command line anyone can read)."""
    token, cred = os.path.join(fresh.tmp, "internal-token"), os.path.join(fresh.tmp, "redis-sc")
    scrape = os.path.join(fresh.tmp, "metrics-token")
    with open(token, "w") as f:
        f.write("t0k3n-for-the-test-0123456789abcdef\n")
    with open(cred, "w") as f:
        f.write("sidecar pa55word-for-the-test\n")
    with open(scrape, "w") as f:
        f.write("scr4pe-for-the-test-0123456789abcdef\n")
    fresh.start_pm(["--token-file", token, "--sidecar-redis-credentials", cred,
                    "--metrics-token-file", scrape])
    good = {"X-OW-Token": "t0k3n-for-the-test-0123456789abcdef"}
    assert requests.get(fresh.url("/health"), timeout=5).status_code == 200
    for headers in ({}, good, {"Authorization": "Bearer " + good["X-OW-Token"]},
                    {"Authorization": "Bearer scr4pe-for-the-test-0123456789abcde"},
                    {"Authorization": "Basic scr4pe-for-the-test-0123456789abcdef"}):
        r = requests.get(fresh.url("/metrics"), headers=headers, timeout=5)
        assert r.status_code == 401, (headers, r.text)
        assert r.json() == {"error": "The supplied authentication is invalid.", "code": ""}
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="owx metrics"'
    r = requests.get(fresh.url("/metrics"), timeout=5,
                     headers={"Authorization": "Bearer scr4pe-for-the-test-0123456789abcdef"})
    assert r.status_code == 200 and "owx_pool_manager_leader" in r.text
    for headers in ({}, {"X-OW-Token": "wrong"}, {"X-OW-Token": ""}):
        r = requests.post(fresh.url("/v1/capacity"), json={"action": "guest/hello"},
                          headers=headers, timeout=DEADLINE)
        assert r.status_code == 401, (headers, r.text)
        assert set(r.json()) == {"error", "code"}
        assert requests.get(fresh.url("/v1/containers"), headers=headers,
                            timeout=5).status_code == 401
    assert not os.listdir(fresh.sidecar_dir), "a refused request started a container"
    r = requests.post(fresh.url("/v1/capacity"), json={"action": "guest/hello"}, headers=good,
                      timeout=DEADLINE)
    assert r.status_code == 200, r.text
    cid = r.json()["containers"][0]["id"]
    fresh.remember(cid)
    cs = requests.get(fresh.url("/v1/containers"), headers=good, timeout=5).json()["containers"]
    assert [c["id"] for c in cs] == [cid]
    argv = fresh.sidecar_info(cid)["argv"]
    sep = argv.index("--")
    opts = dict(zip(argv[:sep:2], argv[1:sep:2]))
    assert opts["--token-file"] == token and opts["--redis-credentials"] == cred
    assert opts["--metrics-token-file"] == scrape
    assert not [a for a in argv if "t0k3n" in a or "pa55word" in a or "scr4pe" in a], argv


# ---------------------------------------------------------------- POST /v1/invoke (non-blocking)

def invoke_headers(aid, path, ns="guest"):
    return {"X-OW-Activation-Id": aid, "X-OW-Namespace": ns, "X-OW-Subject": ns,
            "X-OW-Path": path, "X-OW-Accept-Time": str(int(time.time() * 1000)),
            "Authorization": "Basic Zm9vOmJhcg==", "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}


def post_invoke(s, path, aid, body=None, query="blocking=false&result=false", ns="guest"):
    return requests.post(s.url("/v1/invoke?" + query), data=json.dumps(body or {}),
                         headers=invoke_headers(aid, path, ns), timeout=DEADLINE)


def new_id():
    return os.urandom(16).hex()


def wait_record(s, aid, timeout=30):
    key = "owx:{guest}:a:" + aid
    wait_until(lambda: s.r.exists(key), timeout, "activation record " + aid)
    return json.loads(s.r.get(key))


def test_invoke_unknown_action_and_bad_requests(stack):
    aid = new_id()
    r = post_invoke(stack, "guest/nope", aid)
    assert r.status_code == 404
    assert r.json() == {"error": "The requested resource does not exist.", "code": aid}
    assert r.headers["x-openwhisk-activation-id"] == aid
    r = post_invoke(stack, "guest/java", aid)
    assert r.status_code == 400 and "java:8" in r.json()["error"]
    r = post_invoke(stack, "guest/hello", "not-an-id")
    assert r.status_code == 400
    assert r.json()["error"] == "X-OW-Activation-Id must be 32 lowercase hex digits."
    r = post_invoke(stack, "guest/hello", aid, query="blocking=true")
    assert r.status_code == 400
    r = post_invoke(stack, "guest/hello", aid, query="timeout=70000")
    assert r.status_code == 400
    assert r.json()["error"] == "Timeout must be number of milliseconds up to 60000."
    r = requests.post(stack.url("/v1/invoke"), data="[1]", timeout=DEADLINE,
                      headers=invoke_headers(aid, "guest/hello"))
    assert r.status_code == 400
    assert r.json()["error"] == "The request content was malformed:\nexpected a JSON object."
    r = requests.get(stack.url("/v1/invoke"), timeout=DEADLINE)
    assert r.status_code == 405
    # params of up to 1 MB are taken (the capacity endpoint's 64 KB limit does not apply)
    r = post_invoke(stack, "guest/hello", aid, body={"p": "x" * (1 << 19)})
    assert r.status_code == 202, r.text
    assert r.json() == {"activationId": aid}
    assert r.headers["Content-Type"] == "application/json"


def sidecar_activations(addr):
    return requests.get("http://%s/health" % addr, timeout=5).json()["activations"]


def test_invoke_queue_bound_503_then_delivered(fresh):
    fresh.start_pm(["--invoke-queue-per-action", "2"])
    ids = [new_id() for _ in range(3)]
    t0 = time.monotonic()
    assert post_invoke(fresh, "guest/slowstart", ids[0]).status_code == 202
    assert post_invoke(fresh, "guest/slowstart", ids[1]).status_code == 202
    r = post_invoke(fresh, "guest/slowstart", ids[2])
    assert time.monotonic() - t0 < 0.9, "answered before the 1 s start is over"
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "1"
    assert r.json() == {"error": "Too many requests are waiting for containers; retry.",
                        "code": ids[2]}
    # another action is not affected by this action's bound
    assert post_invoke(fresh, "guest/hello", new_id()).status_code == 202
    [c] = fresh.containers("guest/slowstart")
    assert c["state"] == "starting"
    # once the container is ready both queued invokes reach its sidecar, and
    # the queue has room again
    wait_until(lambda: fresh.containers("guest/slowstart")[0]["state"] == "warm", DEADLINE, "warm")
    addr = fresh.containers("guest/slowstart")[0]["addr"]
    wait_until(lambda: sidecar_activations(addr) == 2, DEADLINE, "2 deliveries")
    assert post_invoke(fresh, "guest/slowstart", ids[2]).status_code == 202
    wait_until(lambda: sidecar_activations(addr) == 3, DEADLINE, "3rd delivery")
    assert len(fresh.containers("guest/slowstart")) == 1


def test_invoke_namespace_cap_429(fresh):
    # health never polled: the one container is not known idle, none is evicted
    fresh.start_pm(["--max-containers-per-namespace", "1", "--health-interval", "3600s"])
    assert fresh.capacity("capped/a0").status_code == 200
    aid = new_id()
    r = post_invoke(fresh, "capped/a1", aid, ns="capped")
    assert r.status_code == 429
    assert r.json() == {"error": "Too many containers for namespace 'capped' (limit 1).",
                        "code": aid}
    assert r.headers["Retry-After"] == "1"  # no run time observed yet
    # the action with the namespace's one container is still taken
    assert post_invoke(fresh, "capped/a0", aid, ns="capped").status_code == 202


def test_invoke_init_failure_writes_a_failure_record(stack):
    aid = new_id()
    r = post_invoke(stack, "guest/initfail", aid)
    assert r.status_code == 202
    rec = wait_record(stack, aid)
    assert rec["activationId"] == aid
    assert rec["namespace"] == "guest" and rec["name"] == "initfail"
    assert rec["response"] == {"status": "whisk internal error", "success": False,
                               "result": {"error": "Initialization has failed due to: boom"}}
    ann = {a["key"]: a["value"] for a in rec["annotations"]}
    assert ann["path"] == "guest/initfail" and ann["kind"] == "nodejs:20"
    assert ann["limits"] == {"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 2}
    # stored as write_activation stores it: indexed, expiring with the retention
    assert stack.r.zscore("owx:{guest}:ai", aid) == rec["start"]
    assert stack.r.zscore("owx:{guest}:ai:initfail", aid) == rec["start"]
    ttl = stack.r.pttl("owx:{guest}:a:" + aid)
    assert 7 * 86400 * 1000 - 60000 < ttl <= 7 * 86400 * 1000


def test_real_sidecar_cold_nonblocking_invoke(tmp_path_factory):
    """The 202 comes before the cold start is over; the sidecar then runs the
    action and writes its record; an init failure leaves a failure record."""
    assert SIDECAR and os.path.exists(NODE_PROXY), "make builds ow-sidecar; runtimes/ is in the tree"
    runtimes = {"nodejs:20": {"command": ["/usr/bin/node", NODE_PROXY, "--port", "{port}"],
                              "family": "nodejs", "default": True}}
    s = Stack(str(tmp_path_factory.mktemp("real-invoke")), sidecar=SIDECAR, runtimes=runtimes)
    s.start_redis()
    try:
        s.put_action("guest", "hello", code="function main(p) { return {hello: p.name || 'world'} }")
        s.put_action("guest", "pkg/hi", code="function main(p) { return {hi: p.name} }")
        s.put_action("guest", "broken", code="function main( {")
        s.start_pm()

        # the cold start, measured through /v1/capacity for another action
        t0 = time.monotonic()
        assert s.capacity("guest/pkg/hi", timeout=30).status_code == 200
        cold = time.monotonic() - t0

        aid = new_id()
        t0 = time.monotonic()
        r = post_invoke(s, "guest/hello", aid, body={"name": "async"})
        took = time.monotonic() - t0
        starting = s.containers("guest/hello")
        assert r.status_code == 202, r.text + s.log_text()
        assert r.json() == {"activationId": aid}
        assert r.headers["x-openwhisk-activation-id"] == aid
        assert [c["state"] for c in starting] == ["starting"], "202 before the container is ready"
        assert took < cold / 2, (took, cold)

        rec = wait_record(s, aid)
        assert rec["response"]["result"] == {"hello": "async"}
        assert rec["response"]["success"] is True
        ann = {a["key"]: a["value"] for a in rec["annotations"]}
        assert ann["path"] == "guest/hello" and "initTime" in ann
        assert rec["subject"] == "guest"
        assert [c["state"] for c in s.containers("guest/hello")] == ["warm"]

        # a warm container takes the next one; a packaged action too
        aid2, aid3 = new_id(), new_id()
        assert post_invoke(s, "guest/hello", aid2, body={"name": "warm"}).status_code == 202
        assert post_invoke(s, "guest/pkg/hi", aid3, body={"name": "pkg"}).status_code == 202
        assert wait_record(s, aid2)["response"]["result"] == {"hello": "warm"}
        assert wait_record(s, aid3)["response"]["result"] == {"hi": "pkg"}
        assert s.r.zscore("owx:{guest}:ai:pkg/hi", aid3) is not None
        assert len(s.containers("guest/hello")) == 1

        # the action's init fails: the activation ends visibly
        aid4 = new_id()
        assert post_invoke(s, "guest/broken", aid4).status_code == 202
        rec = wait_record(s, aid4)
        assert rec["response"]["status"] == "whisk internal error"
        assert rec["response"]["success"] is False
        assert rec["response"]["result"]["error"].startswith(
            "Initialization has failed due to: SyntaxError"), rec
        assert s.containers("guest/broken") == []
    finally:
        s.stop()


def test_every_bad_option_is_named_with_its_value(tmp_path):
    """A bad value is named with its option and what it must be, every one of
    them in one run; one from the environment names its variable too."""
    assert POOL_MANAGER, "ow-pool-manager is not built"
    env = dict(os.environ, OW_POOL_MANAGER_GC_GRACE="soon")
    p = subprocess.run([POOL_MANAGER, "--sidecar", "/bin/true", "--runtimes", str(tmp_path / "r.json"),
                        "--gc-interval", "0s", "--invoke-queue-mb", "0", "--listen", "nohost",
                        "--gc-relocate", "101", "--backend", "docker", "--lease-renew", "2s"],
                       capture_output=True, text=True, timeout=10, env=env)
    assert p.returncode == 2
    lines = p.stderr.splitlines()
    for expected in [
            'ow-pool-manager: --gc-grace "soon" (from OW_POOL_MANAGER_GC_GRACE): expected a duration',
            'ow-pool-manager: --gc-interval "0s": expected a duration above 0',
            'ow-pool-manager: --invoke-queue-mb "0": expected a whole number of at least 1',
            'ow-pool-manager: --listen "nohost": expected host:port',
            'ow-pool-manager: --gc-relocate "101": expected a whole number from 0 to 100',
            'ow-pool-manager: --backend "docker": expected local or kubernetes',
            'ow-pool-manager: --lease-renew "2s": expected at most half of --lease ("3s")']:
        assert any(line.startswith(expected) for line in lines), (expected, p.stderr)
    assert len(lines) == 7, p.stderr
