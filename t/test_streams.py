"""test_streams.py: streaming web actions (docs/streams.md) end to end: a web action
annotated web-stream gets its request body as a stream and may answer with one, through
nginx (no buffering either way), ow-sidecar (stream_relay.h) and the runtimes' POST /stream,
with nothing on the way holding the whole body. The 1 MB payload limit is not theirs; the
namespace's maxStreamBytes and the action's time limit are, with OpenWhisk-format errors."""

import hashlib
import json
import os
import threading
import time

import pytest
import requests

from conftest import PY_KIND, assert_error, wait_activation
from owx import admin
from owx.memory import RssPeak
from owx.stack import wait_until

GUEST_LIMITS = {"invocationsPerMinute": 1000}

STREAM = [{"key": "web-export", "value": True}, {"key": "web-stream", "value": True}]
EXPORT = [{"key": "web-export", "value": True}]

NODE_HASH = """
const crypto = require('crypto');
exports.main = async function (params, body) {
  const h = crypto.createHash('sha256');
  let n = 0;
  for await (const c of body) { h.update(c); n += c.length; }
  console.log('hashed', n, 'bytes');
  return {statusCode: 200, headers: {'content-type': 'application/json', 'x-hashed': 'yes'},
          body: JSON.stringify({sha256: h.digest('hex'), bytes: n, method: params.__ow_method})};
};
"""

PY_HASH = """
import hashlib
import json

def main(params, body):
    h = hashlib.sha256()
    n = 0
    for chunk in body:
        h.update(chunk)
        n += len(chunk)
    print("hashed", n, "bytes")
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"sha256": h.hexdigest(), "bytes": n})}
"""

NODE_TICKS = """
exports.main = function (params, body) {
  async function* ticks() {
    yield 'first\\n';
    await new Promise(r => setTimeout(r, 1500));
    yield 'second\\n';
  }
  return {headers: {'content-type': 'text/plain'}, body: ticks()};
};
"""

PY_TICKS = """
import time

def main(params, body):
    def ticks():
        yield "first\\n"
        time.sleep(1.5)
        yield "second\\n"
    return {"headers": {"content-type": "text/plain"}, "body": ticks()}
"""

NODE_SLOW = """
exports.main = async function (params, body) {
  for await (const c of body) {}
  await new Promise(r => setTimeout(r, 20000));
  return {body: 'late'};
};
"""

NODE_LONG = """
exports.main = function (params, body) {
  async function* seconds() {
    for (let i = 0; i < 13; i++) {
      yield 'tick ' + i + '\\n';
      await new Promise(r => setTimeout(r, 1000));
    }
  }
  return {headers: {'content-type': 'text/plain'}, body: seconds()};
};
"""

NODE_COUNT = """
exports.main = async function (params, body) {
  let n = 0;
  for await (const c of body) { n += c.length; }
  return {body: String(n)};
};
"""

NODE_FAILS = """
exports.main = async function (params, body) { throw new Error('no stream today'); };
"""

ECHO = "function main(p) { return {body: 'plain'} }"

GIB = 1 << 30
MIB = 1 << 20


def put(api, name, code, annotations=STREAM, kind="nodejs:default", **extra):
    body = {"exec": {"kind": kind, "code": code}, "annotations": annotations}
    body.update(extra)
    r = api.put("_/actions/%s?overwrite=true" % name, body)
    assert r.status_code == 200, r.text


def web(stack, path, method="POST", **kw):
    kw.setdefault("timeout", 120)
    return requests.request(method, stack.url + "/api/v1/web/" + path, **kw)


class Upload:
    """A request body of `size` bytes made on the fly (one 1 MiB block repeated, its last
    byte counting the block), hashed as it goes: nothing holds it whole. Sized
    (Content-Length) unless chunked."""

    def __init__(self, size, chunked=False):
        self.size, self.chunked = size, chunked
        self.block = bytearray(os.urandom(MIB))
        self.sha = hashlib.sha256()

    def __len__(self):
        if self.chunked:
            raise TypeError("chunked")
        return self.size

    def __iter__(self):
        left, i = self.size, 0
        while left > 0:
            self.block[-1] = i & 0xFF
            piece = bytes(self.block[:min(left, MIB)])
            self.sha.update(piece)
            left -= len(piece)
            i += 1
            yield piece


def chunked(size):
    """The same as a generator: requests sends it chunked."""
    up = Upload(size, chunked=True)
    return up, iter(up)


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def action_processes(stack, name):
    """The sidecar of guest's action (by its container id in the warm table: a
    specialized stemcell's command line does not name its action) and its runtime (the
    sidecar's child)."""
    warm = stack.redis().hgetall("owx:{warm}")
    ids = {e["id"] for e in map(json.loads, warm.values()) if e.get("action") == "guest/" + name}
    for pid, argv in stack.sidecars().items():
        if "--container-id" in argv and argv[argv.index("--container-id") + 1] in ids:
            kids = children(pid)
            return pid, kids[0] if kids else None
    return None, None


@pytest.fixture(scope="module")
def actions(api):
    put(api, "hash", NODE_HASH)
    put(api, "pyhash", PY_HASH, kind=PY_KIND)
    put(api, "ticks", NODE_TICKS)
    put(api, "pyticks", PY_TICKS, kind=PY_KIND)
    put(api, "slow", NODE_SLOW, limits={"timeout": 3000})
    put(api, "fails", NODE_FAILS)
    put(api, "long", NODE_LONG)
    put(api, "count", NODE_COUNT)
    put(api, "plain", ECHO, annotations=EXPORT)
    return True


def upload_2gb(stack, name):
    """A 2 GiB upload to a warm streaming action, RSS sampled along the way."""
    r = web(stack, "guest/default/%s" % name, data=b"warm-up")
    assert r.status_code == 200, r.text
    sidecar, runtime = action_processes(stack, name)
    assert sidecar and runtime
    pids = {"sidecar": sidecar, "runtime": runtime}
    for w in stack.nginx_workers():
        pids["nginx worker " + w] = int(w)
    up = Upload(2 * GIB)
    with RssPeak(pids, every=0.1) as watch:
        t0 = time.monotonic()
        r = web(stack, "guest/default/%s" % name, data=up)
        took = time.monotonic() - t0
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["bytes"] == 2 * GIB
    assert got["sha256"] == up.sha.hexdigest()
    growth = watch.growth_mb()
    print("\n%s: 2 GiB in %.1f s (%.0f MB/s); RSS growth MB: %s" % (
        name, took, 2 * GIB / MIB / took,
        ", ".join("%s %.1f" % kv for kv in sorted(growth.items()))))
    for what, mb in growth.items():
        assert mb < 64, (what, mb, growth)
    return r


def test_2gb_upload_to_nodejs_is_hashed_with_flat_memory(stack, api, actions):
    r = upload_2gb(stack, "hash")
    assert r.headers["x-hashed"] == "yes"
    assert r.headers["Content-Type"] == "application/json"
    # the record: status, headers, bytes in and out, the logs
    rec = wait_activation(api, r.headers["x-openwhisk-activation-id"])
    res = rec["response"]
    assert res["status"] == "success"
    assert res["result"]["statusCode"] == 200
    assert res["result"]["bytesIn"] == 2 * GIB
    assert res["result"]["bytesOut"] == len(r.content)
    assert res["result"]["headers"]["x-hashed"] == "yes"
    assert any("hashed 2147483648 bytes" in line for line in rec["logs"]), rec["logs"]


def test_2gb_upload_to_python_is_hashed_with_flat_memory(stack, actions):
    upload_2gb(stack, "pyhash")


def test_chunked_upload_is_streamed(stack, actions):
    up, gen = chunked(3 * MIB + 5)
    r = web(stack, "guest/default/hash", data=gen)
    assert r.status_code == 200, r.text
    assert r.json() == {"sha256": up.sha.hexdigest(), "bytes": 3 * MIB + 5, "method": "post"}


@pytest.mark.parametrize("name", ["ticks", "pyticks"])
def test_first_chunk_arrives_before_the_action_finishes(stack, actions, name):
    assert web(stack, "guest/default/%s" % name, method="GET").status_code == 200  # warm
    t0 = time.monotonic()
    r = web(stack, "guest/default/%s" % name, method="GET", stream=True)
    assert r.status_code == 200
    assert r.headers["Transfer-Encoding"] == "chunked"
    assert r.headers["Content-Type"] == "text/plain"
    pieces = []
    for piece in r.iter_content(chunk_size=None):
        pieces.append((time.monotonic() - t0, piece))
    first_at, first = pieces[0]
    assert first == b"first\n"
    end_at = pieces[-1][0]
    assert b"".join(p for _, p in pieces) == b"first\nsecond\n"
    # the action sleeps 1.5 s between its two chunks
    assert end_at - first_at >= 1.2, pieces


def test_stream_longer_than_the_client_deadline_is_not_cut(stack, actions):
    # ow_client_deadline gives an answer of unknown length 10 s (conf/nginx.conf): a client
    # that keeps up with a slow producer is not cut there
    r = web(stack, "guest/default/long", method="GET", stream=True)
    assert r.status_code == 200
    text = b"".join(r.iter_content(chunk_size=None)).decode()
    assert text == "".join("tick %d\n" % i for i in range(13))


def test_client_leaving_mid_upload_frees_the_container(stack, api, actions):
    assert web(stack, "guest/default/count", data=b"abc").text == "3"   # warm
    before = set(stack.redis().hgetall("owx:{warm}"))

    def leaves():
        yield b"x" * MIB
        time.sleep(0.5)
        raise IOError("the client gives up")

    with pytest.raises(requests.exceptions.RequestException):
        web(stack, "guest/default/count", data=leaves())
    # the action lost its input; the container serves the next stream, no new one started
    r = web(stack, "guest/default/count", data=b"x" * 10)
    assert r.status_code == 200 and r.text == "10", r.text
    assert set(stack.redis().hgetall("owx:{warm}")) == before
    # the record of the abandoned stream: an application error
    def abandoned():
        acts = api.get("_/activations?name=count&limit=10&docs=true").json()
        return [a for a in acts if a["response"]["status"] == "application error"] or None
    rec = wait_until(abandoned, 15, "the abandoned stream's record")[0]
    assert rec["response"]["result"]["error"] == \
        "The client closed the connection before the stream ended."
    assert rec["response"]["result"]["bytesIn"] >= MIB


def test_streams_back_to_back_all_run(stack, actions):
    """One slot per stream, freed once the runtime can take the next: streams sent as fast
    as they are answered, from two clients at once, all run."""
    results = []

    def client(k):
        with requests.Session() as s:
            for i in range(8):
                r = s.post(stack.url + "/api/v1/web/guest/default/count",
                           data=b"z" * (k * 100 + i), timeout=60)
                results.append((r.status_code, r.text, str(k * 100 + i)))

    threads = [threading.Thread(target=client, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16
    assert [(c, t) for c, t, _ in results] == [(200, n) for _, _, n in results], results


def test_namespace_maximum_is_enforced(stack, make_user):
    capped = make_user("streamcap")
    assert admin.main(stack.admin_args() + ["limits", "set", "streamcap",
                                            "--maxStreamBytes", "1000000"]) == 0
    assert admin.main(stack.admin_args() + ["limits", "set", "streamcap",
                                            "--invocationsPerMinute", "1000"]) == 0
    r = requests.put(stack.url + "/api/v1/namespaces/_/actions/hash?overwrite=true",
                     json={"exec": {"kind": "nodejs:default", "code": NODE_HASH},
                           "annotations": STREAM},
                     auth=tuple(capped.key.split(":", 1)), timeout=30)
    assert r.status_code == 200, r.text
    # under it: fine
    r = web(stack, "streamcap/default/hash", data=b"x" * 999999)
    assert r.status_code == 200, r.text
    # over it by Content-Length: refused before a byte is read
    r = web(stack, "streamcap/default/hash", data=Upload(3 * MIB))
    assert_error(r, 413, "Request larger than allowed: %d > 1000000 bytes." % (3 * MIB))
    # chunked: cut where it passes the maximum
    _, gen = chunked(3 * MIB)
    r = web(stack, "streamcap/default/hash", data=gen)
    body = assert_error(r, 413)
    assert body["error"].startswith("Request larger than allowed: ")
    assert body["error"].endswith(" > 1000000 bytes.")


def test_time_limit_is_enforced(stack, api, actions):
    t0 = time.monotonic()
    r = web(stack, "guest/default/slow", data=b"some bytes")
    assert time.monotonic() - t0 < 15
    assert_error(r, 502, "The action exceeded its time limits of 3000 milliseconds.")
    rec = wait_activation(api, r.headers["x-openwhisk-activation-id"])
    assert rec["response"]["status"] == "action developer error"
    assert rec["response"]["result"]["bytesIn"] == len(b"some bytes")


def test_action_failing_before_it_answers_is_a_502(stack, api, actions):
    r = web(stack, "guest/default/fails", data=b"x")
    assert_error(r, 502, "An error has occurred: Error: no stream today")
    rec = wait_activation(api, r.headers["x-openwhisk-activation-id"])
    assert rec["response"]["status"] == "action developer error"


def test_non_streaming_action_keeps_the_1mb_limit(stack, actions):
    assert web(stack, "guest/default/plain", data=b"x" * 1000).status_code == 200
    # by Content-Length, under nginx's own threshold and over it
    for size in (1048577, 2 * MIB):
        r = web(stack, "guest/default/plain", data=Upload(size))
        assert_error(r, 413, "Request larger than allowed: %d > 1048576 bytes." % size)
    # chunked
    _, gen = chunked(2 * MIB)
    r = web(stack, "guest/default/plain", data=gen)
    assert_error(r, 413)


def test_streaming_action_not_exported_is_404(stack, api):
    put(api, "hidden", NODE_HASH, annotations=[{"key": "web-stream", "value": True}])
    r = web(stack, "guest/default/hidden", data=b"x")
    assert_error(r, 404)
