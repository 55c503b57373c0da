"""test_isolation.py: an attacker's action, in a namespace of its own (mallory),
tries every way into the platform that a process on the same machine has, in
Node.js and in Python, and each one fails, while the action still reaches the
public API with its own key.

The ways in (issue: tenant isolation): Redis without a password, the
pool-manager's control API, another tenant's sidecar, the /metrics of the gateway
(every tenant's action names), the pool-manager and a sidecar, the runtime sockets of
other containers, the gateway's internal listener, the platform's /proc
entries and state files (secrets, Redis's AOF, logs), and running as root or
as the platform's uid. What the attacker learns, it learns from the test
(addresses, pids, paths), as a real one would by scanning."""

import json
import os
import subprocess

import pytest
import requests

from conftest import NODE_KIND, PY_KIND, wait_activation

ROOT_ONLY = pytest.mark.skipif(
    os.geteuid() != 0, reason="runtimes get a uid of their own only when owx runs as root")

# Whether runtimes get a network namespace of their own here (the
# pool-manager's --runtime-netns auto asks the kernel the same way): then
# the host's loopback is not theirs, and nothing of the platform answers.
NETNS = subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0

NODE_ATTACKER = r"""
const net = require('net'), http = require('http'), fs = require('fs');

function tcp(port, payload) {
  return new Promise(done => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    const t = setTimeout(() => { s.destroy(); done('timeout ' + data); }, 3000);
    s.on('connect', () => s.write(payload));
    s.on('data', d => { data += d; if (data.includes('\r\n')) { clearTimeout(t); s.destroy(); done(data); } });
    s.on('error', e => { clearTimeout(t); done('error ' + e.code); });
  });
}

function unix(path) {
  return new Promise(done => {
    const s = net.connect(path);
    s.on('connect', () => { s.destroy(); done('connected'); });
    s.on('error', e => done('error ' + e.code));
  });
}

function request(method, url, headers, body) {
  return new Promise(done => {
    const r = http.request(url, {method, headers, timeout: 5000}, res => {
      let data = '';
      res.on('data', d => data += d);
      res.on('end', () => done({status: res.statusCode, body: data.slice(0, 300)}));
    });
    r.on('error', e => done({status: 0, body: e.code}));
    r.on('timeout', () => r.destroy());
    r.end(body || '');
  });
}

function read(path) {
  try { return 'read ' + fs.readFileSync(path).length; } catch (e) { return 'error ' + e.code; }
}

async function main(p) {
  const out = {uid: process.getuid(), gid: process.getgid(), sidecars: [], proc: {},
               files: {}, runtimeSockets: {}};
  out.redis = await tcp(p.redis_port, 'PING\r\n');
  out.redisKeys = await tcp(p.redis_port, 'KEYS *\r\n');
  const forged = {'X-OW-Namespace': 'guest', 'X-OW-Path': p.victim,
                  'X-OW-Activation-Id': '0123456789abcdef0123456789abcdef',
                  'Content-Type': 'application/json', 'X-OW-Token': 'guess'};
  out.poolContainers = await request('GET', 'http://' + p.pool + '/v1/containers', {});
  out.poolInvoke = await request('POST', 'http://' + p.pool + '/v1/invoke', forged, '{}');
  out.poolCapacity = await request('POST', 'http://' + p.pool + '/v1/capacity',
                                   {'Content-Type': 'application/json'},
                                   JSON.stringify({action: p.victim}));
  for (const a of p.sidecars) {
    out.sidecars.push(await request('POST', 'http://' + a + '/invoke', forged, '{}'));
    out.sidecars.push(await request('POST', 'http://' + a + '/specialize', forged,
                                    JSON.stringify({action: p.victim})));
  }
  out.metrics = [];
  const scrapes = [p.gateway + '/metrics', 'http://' + p.pool + '/metrics']
    .concat(p.sidecars.map(a => 'http://' + a + '/metrics'));
  for (const url of scrapes) {
    for (const h of [{}, {Authorization: 'Bearer ' + p.guess}, {'X-OW-Token': p.guess}]) {
      out.metrics.push(Object.assign({url}, await request('GET', url, h)));
    }
  }
  out.internalSocket = await unix(p.socket);
  for (const pid of p.pids) {
    out.proc[pid] = {environ: read('/proc/' + pid + '/environ'), mem: read('/proc/' + pid + '/mem')};
  }
  for (const f of p.files) out.files[f] = read(f);
  for (const d of fs.readdirSync('/tmp').filter(n => n.startsWith('owx-runtime-'))) {
    out.runtimeSockets[d] = await unix('/tmp/' + d + '/runtime.sock');
  }
  out.api = await request('GET', process.env.__OW_API_HOST + '/api/v1/namespaces/_/actions',
                          {Authorization: 'Basic ' + Buffer.from(process.env.__OW_API_KEY).toString('base64')});
  // the gateway's loopback-only location, through the API's own address
  out.ifaces = Object.keys(require('os').networkInterfaces()).sort();
  out.envKeys = Object.keys(process.env).sort();
  return out;
}
"""

PY_ATTACKER = r"""
import base64, json, os, socket, urllib.request, urllib.error

def tcp(port, payload):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=3) as s:
            s.sendall(payload)
            return s.recv(200).decode(errors='replace')
    except OSError as e:
        return 'error %s' % type(e).__name__

def unix(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return 'connected'
    except OSError as e:
        return 'error %s' % (e.strerror or type(e).__name__)
    finally:
        s.close()

def request(method, url, headers, body=b''):
    req = urllib.request.Request(url, data=body if method == 'POST' else None,
                                 headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return {'status': r.status, 'body': r.read(300).decode(errors='replace')}
    except urllib.error.HTTPError as e:
        return {'status': e.code, 'body': e.read(300).decode(errors='replace')}
    except OSError as e:
        return {'status': 0, 'body': str(e)}

def read(path):
    try:
        with open(path, 'rb') as f:
            return 'read %d' % len(f.read())
    except OSError as e:
        return 'error %s' % (e.strerror or type(e).__name__)

def main(p):
    out = {'uid': os.getuid(), 'gid': os.getgid(), 'sidecars': [], 'proc': {}, 'files': {},
           'runtimeSockets': {}}
    out['redis'] = tcp(p['redis_port'], b'PING\r\n')
    out['redisKeys'] = tcp(p['redis_port'], b'KEYS *\r\n')
    forged = {'X-OW-Namespace': 'guest', 'X-OW-Path': p['victim'],
              'X-OW-Activation-Id': '0123456789abcdef0123456789abcdef',
              'Content-Type': 'application/json', 'X-OW-Token': 'guess'}
    out['poolContainers'] = request('GET', 'http://%s/v1/containers' % p['pool'], {})
    out['poolInvoke'] = request('POST', 'http://%s/v1/invoke' % p['pool'], forged, b'{}')
    out['poolCapacity'] = request('POST', 'http://%s/v1/capacity' % p['pool'],
                                  {'Content-Type': 'application/json'},
                                  json.dumps({'action': p['victim']}).encode())
    for a in p['sidecars']:
        out['sidecars'].append(request('POST', 'http://%s/invoke' % a, forged, b'{}'))
        out['sidecars'].append(request('POST', 'http://%s/specialize' % a, forged,
                                       json.dumps({'action': p['victim']}).encode()))
    out['metrics'] = []
    scrapes = [p['gateway'] + '/metrics', 'http://%s/metrics' % p['pool']] + \
        ['http://%s/metrics' % a for a in p['sidecars']]
    for url in scrapes:
        for h in ({}, {'Authorization': 'Bearer ' + p['guess']}, {'X-OW-Token': p['guess']}):
            out['metrics'].append(dict(request('GET', url, h), url=url))
    out['internalSocket'] = unix(p['socket'])
    for pid in p['pids']:
        out['proc'][str(pid)] = {'environ': read('/proc/%d/environ' % pid),
                                 'mem': read('/proc/%d/mem' % pid)}
    for f in p['files']:
        out['files'][f] = read(f)
    for d in sorted(os.listdir('/tmp')):
        if d.startswith('owx-runtime-'):
            out['runtimeSockets'][d] = unix('/tmp/%s/runtime.sock' % d)
    key = base64.b64encode(os.environ['__OW_API_KEY'].encode()).decode()
    out['api'] = request('GET', os.environ['__OW_API_HOST'] + '/api/v1/namespaces/_/actions',
                         {'Authorization': 'Basic ' + key})
    out['ifaces'] = sorted(name for _, name in socket.if_nameindex())
    out['envKeys'] = sorted(os.environ)
    return out
"""


@pytest.fixture(scope="module")
def victim(stack, api):
    """guest's private action, warm (its sidecar is a target)."""
    code = "function main(p) { return {secret: 'guest-only', got: p}; }"
    r = api.put("guest/actions/victim?overwrite=true",
                {"exec": {"kind": NODE_KIND, "code": code},
                 "parameters": [{"key": "password", "value": "hunter2"}]})
    assert r.status_code == 200, r.text
    r = api.post("guest/actions/victim?blocking=true", {})
    assert r.status_code == 200 and r.json()["response"]["result"]["secret"] == "guest-only", \
        r.text
    # its record is written off the response path: counted before the attacks
    wait_activation(api, r.json()["activationId"])
    return "guest/victim"


@pytest.fixture(scope="module")
def mallory(make_user):
    return make_user("mallory")


def platform_pids(stack):
    pids = []
    for name in ("nginx/nginx.pid", "pool-manager/pool-manager.pid", "redis/redis.pid"):
        with open(stack.path(name)) as f:
            pids.append(int(f.read().strip()))
    return pids + sorted(stack.sidecars())


def containers(stack):
    r = requests.get("http://%s/v1/containers" % stack.pool_addr, timeout=5,
                     headers=stack.internal_headers)
    assert r.status_code == 200, r.text
    return r.json()["containers"]


def attack(stack, mallory, victim, kind, code):
    name = "attacker-" + kind.split(":")[0]
    r = mallory.put("_/actions/%s?overwrite=true" % name, {
        "exec": {"kind": kind, "code": code},
        "annotations": [{"key": "provide-api-key", "value": True}],
        "limits": {"timeout": 60000}})
    assert r.status_code == 200, r.text
    params = {
        "redis_port": stack.redis_port,
        "pool": stack.pool_addr,
        "gateway": stack.url,
        # a token of the right shape, not the installation's
        "guess": "0" * 64,
        "victim": victim,
        "sidecars": [c["addr"] for c in containers(stack) if c["action"] == victim],
        "socket": stack.path("nginx", "internal.sock"),
        "pids": platform_pids(stack),
        "files": [stack.secret("internal-token"), stack.secret("metrics-token"),
                  stack.secret("redis-sidecar"),
                  stack.path("redis", "appendonly.aof"), stack.path("redis", "users.acl"),
                  stack.error_log, stack.path("pool-manager", "pool-manager.log")],
    }
    assert params["sidecars"], "the victim has no warm container"
    r = mallory.post("_/actions/%s?blocking=true" % name, params, timeout=70)
    assert r.status_code == 200, r.text
    return r.json()["response"]["result"], params


def refused(text):
    """A connection refused, as Node.js and Python word it."""
    return any(w in text for w in ("ECONNREFUSED", "ConnectionRefused", "Connection refused"))


def check(result, params, victim_records_before, stack):
    assert len(result["sidecars"]) == 2 * len(params["sidecars"])
    if NETNS:
        # its own network namespace: the loopback it sees is its own, with
        # nothing but the API relay on it; Redis, the pool-manager and the
        # victim's sidecar (all on the host's 127.0.0.1) do not exist there
        assert refused(result["redis"]), result["redis"]
        assert refused(result["redisKeys"]), result["redisKeys"]
        for what in ("poolContainers", "poolInvoke", "poolCapacity"):
            assert result[what]["status"] == 0 and refused(result[what]["body"]), \
                (what, result[what])
        for answer in result["sidecars"]:
            assert answer["status"] == 0 and refused(answer["body"]), answer
        # lo, and slirp4netns's tap0 for the outside world
        assert "lo" in result["ifaces"] and "eth0" not in result["ifaces"], result["ifaces"]
    else:
        # Redis: the default user is off, nothing answers without a password
        assert result["redis"].startswith("-NOAUTH"), result["redis"]
        assert result["redisKeys"].startswith("-NOAUTH"), result["redisKeys"]
        # the pool-manager and the victim's sidecar refuse without the token
        for what in ("poolContainers", "poolInvoke", "poolCapacity"):
            assert result[what]["status"] == 401, (what, result[what])
        for answer in result["sidecars"]:
            assert answer["status"] == 401, answer
    for answer in result["sidecars"]:
        assert "guest-only" not in answer["body"]
    # no /metrics without the metrics token: the gateway's names every namespace and action
    # (the address rule lets loopback in, and the action is on loopback), the pool-manager's
    # and the victim's sidecar's (guest's counters)
    assert len(result["metrics"]) == 3 * (2 + len(params["sidecars"]))
    for answer in result["metrics"]:
        if NETNS and not answer["url"].startswith(params["gateway"]):
            # the pool-manager's and the sidecar's are on the host's loopback
            assert answer["status"] == 0 and refused(answer["body"]), answer
            continue
        if NETNS:
            # the gateway's, through the API relay: from 127.0.0.2, which its
            # "allow 127.0.0.1" does not take for this host
            assert answer["status"] == 403, answer
        else:
            assert answer["status"] == 401, answer
        assert set(json.loads(answer["body"])) == {"error", "code"}, answer
        assert "victim" not in answer["body"] and "owx_" not in answer["body"], answer
    # the gateway's internal listener (believes X-OW-Run-As) is out of reach
    assert result["internalSocket"].startswith("error"), result["internalSocket"]
    assert "EACCES" in result["internalSocket"] or "Permission denied" in result["internalSocket"]
    # no platform process's environment or memory, no state file
    for pid, got in result["proc"].items():
        assert got["environ"].startswith("error"), (pid, got)
        assert got["mem"].startswith("error"), (pid, got)
    for path, got in result["files"].items():
        assert got.startswith("error"), (path, got)
    # no other container's runtime socket (its own included: it holds it as
    # fd 3 and needs no path)
    assert result["runtimeSockets"], "no runtime socket directory seen in /tmp"
    for d, got in result["runtimeSockets"].items():
        assert got.startswith("error"), (d, got)
    # not root, not the platform's uid, nothing of the platform's environment
    assert result["uid"] not in (0, os.getuid()), result["uid"]
    assert result["gid"] not in (0, os.getgid()), result["gid"]
    assert not [k for k in result["envKeys"] if k.startswith(("OW_", "OWX_", "REDIS"))]
    # ... and yet its own namespace through the public API, with its own key
    assert result["api"]["status"] == 200, result["api"]
    assert '"victim"' not in result["api"]["body"]
    # nothing was run or recorded as guest by the attempts
    assert guest_activations(stack) == victim_records_before


def guest_activations(stack):
    return stack.redis().zcard("owx:{guest}:ai")


@ROOT_ONLY
def test_a_nodejs_action_reaches_nothing_but_the_public_api(stack, api, mallory, victim):
    before = guest_activations(stack)
    result, params = attack(stack, mallory, victim, NODE_KIND, NODE_ATTACKER)
    check(result, params, before, stack)


@ROOT_ONLY
def test_a_python_action_reaches_nothing_but_the_public_api(stack, api, mallory, victim):
    before = guest_activations(stack)
    result, params = attack(stack, mallory, victim, PY_KIND, PY_ATTACKER)
    check(result, params, before, stack)


@pytest.mark.skipif(not NETNS, reason="the kernel refuses network namespaces here")
def test_the_pool_manager_gives_runtimes_a_namespace_and_says_nothing(stack, victim):
    """Where the kernel allows it, no degraded-mode line at start, and each
    sidecar says its runtime has a namespace and an outside world."""
    with open(stack.path("pool-manager", "pool-manager.log")) as f:
        lines = f.read().splitlines()
    assert not [l for l in lines if "runtimes_share_network" in l or "runtimes_no_outbound" in l]
    starts = [l for l in lines if '"event":"start"' in l and '"runtimePid"' in l]
    assert starts, "no sidecar start line in the pool-manager's log"
    for l in starts:
        assert '"runtimeNetns":true' in l, l
        assert '"outbound":true' in l, l


def socket_inodes(pid):
    held = set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return held
    for fd in fds:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:"):
            held.add(target)
    return held


def children(pid):
    kids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(p))
        except OSError:
            pass
    return kids


def test_a_runtime_holds_none_of_the_platforms_sockets(stack, victim):
    """asio and hiredis open their sockets without close-on-exec: a runtime that
    inherited its sidecar's listener could accept the gateway's /invoke requests (and read
    their X-OW-Token), or use its Redis connection. The sidecar closes every descriptor but
    the runtime's own before exec (runtime_process.h close_descriptors_from)."""
    sidecars = sorted(stack.sidecars())
    runtimes = [k for s in sidecars for k in children(s)]
    assert runtimes, "no runtime process found under %s" % sidecars
    platform = set(platform_pids(stack))
    with open(stack.path("nginx/nginx.pid")) as f:
        platform.update(children(int(f.read().strip())))
    theirs = set()
    for pid in platform:
        theirs |= socket_inodes(pid)
    for pid in runtimes:
        shared = socket_inodes(pid) & theirs
        assert not shared, "runtime %d holds the platform's %s" % (pid, sorted(shared))


def test_the_victim_still_works_and_kept_its_secrets(api, victim):
    r = api.post("guest/actions/victim?blocking=true&result=true", {"x": 1})
    assert r.status_code == 200, r.text
    assert r.json() == {"secret": "guest-only", "got": {"password": "hunter2", "x": 1}}


def test_each_component_has_only_its_redis_rights(stack):
    """The sidecar's credential writes records; it reads no key hash and
    writes no entity (what a stolen sidecar credential is worth)."""
    import redis as redis_py
    user, password = stack.redis_credentials("sidecar")
    db = redis_py.Redis(host="127.0.0.1", port=stack.redis_port, username=user,
                        password=password, decode_responses=True)
    assert db.ping()
    with pytest.raises(redis_py.exceptions.NoPermissionError):
        db.hgetall("owx:key:23bc46b1-71f6-4ed5-8c54-816aa4f8c502")
    with pytest.raises(redis_py.exceptions.NoPermissionError):
        db.hset("owx:{guest}:e:victim", "doc", "{}")
    with pytest.raises(redis_py.exceptions.NoPermissionError):
        db.keys("*")
    with pytest.raises(redis_py.exceptions.NoPermissionError):
        db.publish("owx:events", "x")
    assert db.hmget("owx:{guest}:e:victim", "coll")[0] == "actions"
    # the gateway's and the pool-manager's: no server administration
    for component in ("gateway", "pool-manager"):
        user, password = stack.redis_credentials(component)
        db = redis_py.Redis(host="127.0.0.1", port=stack.redis_port, username=user,
                            password=password)
        with pytest.raises(redis_py.exceptions.NoPermissionError):
            db.config_get("*")
        with pytest.raises(redis_py.exceptions.NoPermissionError):
            db.acl_list()


def test_secrets_are_the_platforms_alone(stack):
    assert os.stat(stack.path("secrets")).st_mode & 0o777 == 0o700
    for name in os.listdir(stack.path("secrets")):
        assert os.stat(stack.secret(name)).st_mode & 0o777 == 0o600, name
    for d in ("redis", "pool-manager", "runtimes"):
        assert os.stat(stack.path(d)).st_mode & 0o777 == 0o700, d
    # no secret on any command line of the platform
    token, scrape = stack.internal_token, stack.metrics_token
    passwords = [stack.redis_credentials(u)[1] for u in ("gateway", "pool-manager",
                                                         "sidecar", "admin")]
    for pid in platform_pids(stack):
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read().decode(errors="replace")
        assert token not in cmdline and scrape not in cmdline
        assert not [p for p in passwords if p in cmdline]


def test_metrics_answer_the_token_holder(stack, api, victim):
    """What the attackers were refused, Prometheus gets with the installation's metrics token:
    the gateway's, the pool-manager's and the victim's sidecar's /metrics."""
    sidecars = [c["addr"] for c in containers(stack) if c["action"] == victim]
    assert sidecars
    expect = [(stack.url, 'openwhisk_action_activations_total{namespace="guest"'),
              ("http://" + stack.pool_addr, "owx_pool_manager_leader 1"),
              ] + [("http://" + a, 'owx_sidecar_activations_total{status="success"}')
                   for a in sidecars]
    for url, sample in expect:
        r = requests.get(url + "/metrics", headers=stack.metrics_headers, timeout=5)
        assert r.status_code == 200, (url, r.text)
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert sample in r.text, (url, r.text[:500])
        assert requests.get(url + "/metrics", timeout=5).status_code == 401, url


def host_addresses():
    """The host's global IPv4 addresses (what slirp4netns lets an action reach)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                         capture_output=True, text=True).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines()]


OUTSIDE = r"""
const http = require('http');
function main(p) {
  return new Promise(done => {
    const r = http.get(p.url, {timeout: 5000}, res => {
      let data = '';
      res.on('data', d => data += d);
      res.on('end', () => done({status: res.statusCode, body: data}));
    });
    r.on('error', e => done({status: 0, body: e.code}));
    r.on('timeout', () => r.destroy());
  });
}
"""


@pytest.mark.skipif(not NETNS or not host_addresses(),
                    reason="no network namespaces here, or no non-loopback address to stand "
                           "for the outside world")
def test_the_outside_world_is_reached_through_slirp4netns(mallory):
    """This machine may have no route out: a web server on the host's own
    non-loopback address stands for the outside world (slirp4netns connects
    from the host, as it does to any address). The same server's port on the
    host's loopback stays out of reach."""
    import http.server
    import threading

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"hello from outside"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    addr = host_addresses()[0]
    servers = [http.server.HTTPServer((a, 0), Hello) for a in (addr, "127.0.0.1")]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        r = mallory.put("_/actions/outside?overwrite=true",
                        {"exec": {"kind": NODE_KIND, "code": OUTSIDE}})
        assert r.status_code == 200, r.text
        for s, want in ((servers[0], {"status": 200, "body": "hello from outside"}),
                        (servers[1], {"status": 0, "body": "ECONNREFUSED"})):
            url = "http://%s:%d/" % s.server_address[:2]
            r = mallory.post("_/actions/outside?blocking=true&result=true", {"url": url},
                             timeout=30)
            assert r.status_code == 200, r.text
            assert r.json() == want, (url, r.json())
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
