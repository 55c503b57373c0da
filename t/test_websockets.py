"""test_websockets.py: WebSockets at a web action's URL (docs/websockets.md) end to end: an
upgrade to a web action annotated web-socket is taken by its container's sidecar; the
connect, each message and the disconnect each run the action (an activation and a record
each); a result with a body goes back on the socket. Limits: message size (close 1009),
idle timeout (close 1001), connections per namespace (429 before the upgrade). The
sidecar's internal POST/DELETE/GET /connections/<id> push to, close and describe a
connection (the REST API's way in), with the internal token only."""

import base64
import json
import os
import socket
import time

import pytest
import requests

from conftest import wait_activation
from owx import admin
from owx.stack import wait_until
from owx.wsclient import WsClient

GUEST_LIMITS = {"invocationsPerMinute": 1000}

WS = [{"key": "web-export", "value": True}, {"key": "web-socket", "value": True}]

# connect: refused when the query says so; message: echoed ("echo:<text>"), a JSON
# reply for "json", binary ones back as binary, nothing for "quiet"
NODE_ECHO = """
function main(p) {
  const ws = p.__ow_websocket;
  console.log('event ' + JSON.stringify(ws));
  if (ws.event === 'connect' && p.refuse)
    return {statusCode: 403, headers: {'content-type': 'text/plain'}, body: 'not you'};
  if (ws.event !== 'message') return {statusCode: 200};
  if (ws.isBinary)
    return {headers: {'content-type': 'application/octet-stream'}, body: ws.message};
  if (ws.message === 'quiet') return {};
  if (ws.message === 'json') return {body: {got: ws.message, id: ws.connectionId}};
  return {body: 'echo:' + ws.message};
}
"""

PLAIN = "function main(p) { return {body: 'plain ' + p.__ow_method} }"


def put(api, name, code, annotations=WS, kind="nodejs:default", **extra):
    body = {"exec": {"kind": kind, "code": code}, "annotations": annotations}
    body.update(extra)
    r = api.put("_/actions/%s?overwrite=true" % name, body)
    assert r.status_code == 200, r.text


def events_of(api, name, since, want):
    """The records of name's activations since `since` (ms), once `want` of them are in:
    each as (event, record), the event from the log line the action printed."""
    def got():
        r = api.get("_/activations?name=%s&docs=true&limit=200&since=%d" % (name, since))
        if r.status_code != 200:
            return None
        out = []
        for rec in r.json():
            ev = next((json.loads(line.split("event ", 1)[1]) for line in rec.get("logs", [])
                       if "event {" in line), None)
            if ev:
                out.append((ev, rec))
        return out if len(out) >= want else None
    return wait_until(got, 30, "%d activations of %s" % (want, name))


def registry(stack, ns, cid):
    v = stack.redis().get("owx:{%s}:conn:%s" % (ns, cid))
    return json.loads(v) if v else None


def sidecar_addr(stack, container):
    warm = stack.redis().hgetall("owx:{warm}")
    for e in map(json.loads, warm.values()):
        if e["id"] == container:
            return e["addr"]
    return None


@pytest.fixture(scope="module")
def actions(api):
    put(api, "wsecho", NODE_ECHO)
    put(api, "plain", PLAIN, annotations=[{"key": "web-export", "value": True}])
    put(api, "hidden", NODE_ECHO, annotations=[{"key": "web-socket", "value": True}])
    return True


def test_connect_message_disconnect_are_activations(stack, api, actions):
    since = int(time.time() * 1000) - 1000
    ws = WsClient(stack, "guest/default/wsecho")
    assert ws.status == 101, ws.body
    connect_id = ws.headers["x-openwhisk-activation-id"]
    cid = ws.headers["x-openwhisk-connection-id"]
    assert len(cid) == 32 and int(cid, 16) >= 0
    ws.send("hello")
    assert ws.recv() == (1, "echo:hello")
    ws.send("json")
    op, text = ws.recv()
    assert op == 1 and json.loads(text) == {"got": "json", "id": cid}
    ws.send(b"\x00\x01\xff")
    assert ws.recv() == (2, b"\x00\x01\xff")
    ws.close()
    evs = events_of(api, "wsecho", since, 5)
    kinds = [e["event"] for e, _ in sorted(evs, key=lambda x: x[1]["start"])]
    assert kinds == ["connect", "message", "message", "message", "disconnect"], kinds
    for e, rec in evs:
        assert e["connectionId"] == cid
        assert rec["response"]["success"] is True
    ids = {rec["activationId"] for _, rec in evs}
    assert len(ids) == 5 and connect_id in ids
    msgs = [e for e, _ in evs if e["event"] == "message"]
    assert {(m["message"], m["isBinary"]) for m in msgs} == {
        ("hello", False), ("json", False), (base64.b64encode(b"\x00\x01\xff").decode(), True)}
    disc = next(e for e, _ in evs if e["event"] == "disconnect")
    assert disc["closeCode"] == 1000
    wait_until(lambda: registry(stack, "guest", cid) is None, 10, "the registry entry gone")


def test_a_result_without_body_sends_nothing(stack, actions):
    ws = WsClient(stack, "guest/default/wsecho")
    assert ws.status == 101
    ws.send("quiet")
    ws.send("after")
    # in order, one at a time: the quiet one's answer (none) comes before "after"'s
    assert ws.recv() == (1, "echo:after")
    ws.close()


def test_connect_refused_by_the_action(stack, actions):
    ws = WsClient(stack, "guest/default/wsecho?refuse=1")
    assert ws.status == 403
    assert ws.body == b"not you"
    assert ws.headers["x-openwhisk-activation-id"]


def test_not_exported_is_404_and_plain_action_answers_as_a_get(stack, actions):
    ws = WsClient(stack, "guest/default/hidden")
    assert ws.status == 404
    assert ws.json()["error"] == "The requested resource does not exist."
    ws = WsClient(stack, "guest/default/plain")
    assert ws.status == 200 and ws.body == b"plain get"


@pytest.fixture(scope="module")
def limited(stack, make_user):
    """A namespace with small WebSocket limits, set before its first container starts."""
    user = make_user("wslimits")
    assert admin.main(stack.admin_args() + [
        "limits", "set", "wslimits", "--maxConnections", "2", "--maxMessageBytes", "1000",
        "--connectionIdleSeconds", "2", "--invocationsPerMinute", "1000"]) == 0
    put(user, "wsecho", NODE_ECHO)
    return user


def test_message_over_the_limit_closes_1009(stack, limited):
    ws = WsClient(stack, "wslimits/default/wsecho")
    assert ws.status == 101
    ws.send("x" * 1000)
    assert ws.recv() == (1, "echo:" + "x" * 1000)
    ws.send("x" * 1001)
    assert ws.recv() == (8, 1009)
    ws.sock.close()


def test_idle_connection_is_closed_1001(stack, limited):
    ws = WsClient(stack, "wslimits/default/wsecho")
    assert ws.status == 101
    t0 = time.monotonic()
    assert ws.recv() == (8, 1001)
    took = time.monotonic() - t0
    assert 1.5 < took < 6, took
    ws.sock.close()


def test_connections_over_the_limit_are_429(stack, limited):
    a = WsClient(stack, "wslimits/default/wsecho")
    b = WsClient(stack, "wslimits/default/wsecho")
    assert a.status == 101 and b.status == 101
    c = WsClient(stack, "wslimits/default/wsecho")
    assert c.status == 429
    body = c.json()
    assert set(body) == {"error", "code"}
    assert body["error"] == "Too many concurrent connections (count: 2, allowed: 2)."
    a.close()
    # a place is free again once a is gone
    wait_until(lambda: WsClient(stack, "wslimits/default/wsecho").status == 101, 10,
               "a connection after one closed")
    b.close()


def test_client_vanishing_mid_connection(stack, api, actions):
    since = int(time.time() * 1000) - 1000
    ws = WsClient(stack, "guest/default/wsecho")
    assert ws.status == 101
    cid = ws.headers["x-openwhisk-connection-id"]
    assert registry(stack, "guest", cid)["connectionId"] == cid
    ws.send("one")
    assert ws.recv() == (1, "echo:one")
    # gone without a close frame
    ws.sock.shutdown(socket.SHUT_RDWR)
    ws.sock.close()
    evs = events_of(api, "wsecho", since, 3)
    disc = [e for e, _ in evs if e["event"] == "disconnect" and e["connectionId"] == cid]
    assert disc and disc[0]["closeCode"] == 0
    wait_until(lambda: registry(stack, "guest", cid) is None, 10, "the registry entry gone")
    # the container is not stuck
    ws = WsClient(stack, "guest/default/wsecho")
    assert ws.status == 101
    ws.send("two")
    assert ws.recv() == (1, "echo:two")
    ws.close()


def test_internal_push_and_close(stack, actions):
    ws = WsClient(stack, "guest/default/wsecho")
    assert ws.status == 101
    cid = ws.headers["x-openwhisk-connection-id"]
    entry = registry(stack, "guest", cid)
    assert set(entry) == {"connectionId", "container", "action", "connectedAt"}
    assert entry["action"] == "guest/wsecho"
    ttl = stack.redis().pttl("owx:{guest}:conn:" + cid)
    assert 0 < ttl <= 90000
    url = "http://%s/connections/%s" % (sidecar_addr(stack, entry["container"]), cid)
    token = {"X-OW-Token": stack.internal_token}
    # without the token: nothing
    assert requests.post(url, data="pushed", timeout=10).status_code == 401
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.delete(url, timeout=10).status_code == 401
    r = requests.post(url, data="pushed", headers=token, timeout=10)
    assert r.status_code == 200 and r.json() == {}
    assert ws.recv() == (1, "pushed")
    r = requests.post(url, data=b"\x01\x02",
                      headers=dict(token, **{"Content-Type": "application/octet-stream"}),
                      timeout=10)
    assert r.status_code == 200
    assert ws.recv() == (2, b"\x01\x02")
    r = requests.get(url, headers=token, timeout=10)
    assert r.status_code == 200
    got = r.json()
    assert {k: got[k] for k in entry} == entry
    assert got["lastActiveAt"] >= entry["connectedAt"]
    r = requests.post(url, data="x" * 1048577, headers=token, timeout=10)
    assert r.status_code == 413
    other = "http://%s/connections/%s" % (sidecar_addr(stack, entry["container"]), "0" * 32)
    r = requests.post(other, data="x", headers=token, timeout=10)
    assert r.status_code == 404
    assert r.json()["error"] == "The requested resource does not exist."
    r = requests.delete(url, headers=token, timeout=10)
    assert r.status_code == 200 and r.json() == {}
    assert ws.recv() == (8, 1000)
    ws.sock.close()
    wait_until(lambda: registry(stack, "guest", cid) is None, 10, "the registry entry gone")
    assert requests.get(url, headers=token, timeout=10).status_code == 404


def test_messages_count_against_invocations_per_minute(stack, actions):
    """The sidecar adds the messages it ran to the namespace's per-minute counter (the one the
    gateways share), once a second."""
    r = stack.redis()

    def counted():
        minute = int(time.time()) // 60
        return sum(int(r.get("owx:{guest}:rate:%d" % m) or 0) for m in (minute - 1, minute))
    ws = WsClient(stack, "guest/default/wsecho")
    assert ws.status == 101
    before = counted()
    for i in range(5):
        ws.send("c%d" % i)
        assert ws.recv() == (1, "echo:c%d" % i)
    wait_until(lambda: counted() >= before + 5, 10, "5 messages counted")
    ws.close()


def test_open_connections_hold_no_concurrency_slot(stack, make_user):
    """The connect takes a concurrentInvocations slot only until the 101: open connections
    of a namespace allowed one invocation at a time leave room for each other and for its
    web requests."""
    user = make_user("wsconc")
    assert admin.main(stack.admin_args() + [
        "limits", "set", "wsconc", "--concurrentInvocations", "1",
        "--invocationsPerMinute", "1000"]) == 0
    put(user, "wsecho", NODE_ECHO)
    put(user, "plain", PLAIN, annotations=[{"key": "web-export", "value": True}])
    assert requests.get(stack.url + "/api/v1/web/wsconc/default/plain", timeout=30).ok
    # the gateway has synced the namespace's limits (it reports its in-flight count)
    wait_until(lambda: stack.redis().hlen("owx:{wsconc}:inflight") > 0, 10,
               "the gateway's first limits sync of wsconc")
    conns = [WsClient(stack, "wsconc/default/wsecho") for _ in range(3)]
    assert [c.status for c in conns] == [101, 101, 101], [c.body for c in conns]
    for i, c in enumerate(conns):
        c.send("n%d" % i)
        assert c.recv() == (1, "echo:n%d" % i)
    r = requests.get(stack.url + "/api/v1/web/wsconc/default/plain", timeout=30)
    assert r.status_code == 200, r.text
    for c in conns:
        c.close()


def test_open_connection_is_use_for_the_pool_manager(stack, api, actions):
    """The container's /health says lastUsed = now while it holds a connection: garbage
    collection (idle since lastUsed) leaves it."""
    ws = WsClient(stack, "guest/default/wsecho")
    assert ws.status == 101
    cid = ws.headers["x-openwhisk-connection-id"]
    addr = sidecar_addr(stack, registry(stack, "guest", cid)["container"])
    h1 = requests.get("http://%s/health" % addr, timeout=10).json()
    assert h1["connections"] >= 1
    assert h1["lastUsed"] >= int(time.time() * 1000) - 2000
    ws.close()
    wait_until(lambda: requests.get("http://%s/health" % addr, timeout=10).json()
               ["connections"] == 0, 10, "the connection gone from /health")


def test_draining_container_closes_1001_and_runs_the_disconnect(stack, api, make_user):
    """SIGTERM (a container being removed): its connections get a close frame 1001 and
    their disconnects run before it exits."""
    import signal
    user = make_user("wsdrain")
    assert admin.main(stack.admin_args() + [
        "limits", "set", "wsdrain", "--invocationsPerMinute", "1000"]) == 0
    put(user, "wsecho", NODE_ECHO)
    since = int(time.time() * 1000) - 1000
    ws = WsClient(stack, "wsdrain/default/wsecho")
    assert ws.status == 101
    cid = ws.headers["x-openwhisk-connection-id"]
    container = registry(stack, "wsdrain", cid)["container"]
    pid = next(p for p, argv in stack.sidecars().items()
               if "--container-id" in argv and argv[argv.index("--container-id") + 1] == container)
    os.kill(pid, signal.SIGTERM)
    assert ws.recv() == (8, 1001)
    ws.close(1001)
    evs = events_of(user, "wsecho", since, 2)
    disc = [e for e, _ in evs if e["event"] == "disconnect"]
    assert disc and disc[0]["connectionId"] == cid and disc[0]["closeCode"] == 1001
    wait_until(lambda: registry(stack, "wsdrain", cid) is None, 10, "the registry entry gone")
    wait_until(lambda: pid not in stack.sidecars(), 15, "the drained sidecar gone")


# ---- the streaming handler: web-socket and web-stream, the connection whole

WS_STREAM = WS + [{"key": "web-stream", "value": True}]

NODE_STREAM = """
async function main(params, socket) {
  socket.send('hello ' + params.__ow_websocket.connectionId);
  for await (const m of socket) {
    if (m === 'bye') { socket.close(4000); return; }
    socket.send(typeof m === 'string' ? 'echo:' + m : m);
  }
  console.log('client closed', socket.closeCode);
}
"""

PY_STREAM = """
def main(params, socket):
    socket.send("hello " + params["__ow_websocket"]["connectionId"])
    for m in socket:
        if m == "bye":
            socket.close(4000)
            return
        socket.send("echo:" + m if isinstance(m, str) else m)
    print("client closed", socket.close_code)
"""


@pytest.fixture(scope="module")
def streaming(api):
    from conftest import PY_KIND
    put(api, "wsstream", NODE_STREAM, annotations=WS_STREAM)
    put(api, "pywsstream", PY_STREAM, annotations=WS_STREAM, kind=PY_KIND)
    return True


@pytest.mark.parametrize("name", ["wsstream", "pywsstream"])
def test_streaming_handler_echoes(stack, api, streaming, name):
    ws = WsClient(stack, "guest/default/" + name)
    assert ws.status == 101, ws.body
    cid = ws.headers["x-openwhisk-connection-id"]
    aid = ws.headers["x-openwhisk-activation-id"]
    assert ws.recv() == (1, "hello " + cid)
    for i in range(20):
        ws.send("m%d" % i)
        assert ws.recv() == (1, "echo:m%d" % i)
    ws.send(b"\x00\xff" * 1000)
    assert ws.recv() == (2, b"\x00\xff" * 1000)
    ws.send("bye")
    assert ws.recv() == (8, 4000)
    ws.sock.close()
    rec = wait_activation(api, aid)
    res = rec["response"]["result"]
    assert rec["response"]["success"] is True, rec
    assert res["connectionId"] == cid
    assert res["messagesIn"] == 22 and res["messagesOut"] == 22
    assert res["closeCode"] == 4000
    wait_until(lambda: registry(stack, "guest", cid) is None, 10, "the registry entry gone")


def test_streaming_handler_is_bounded_by_its_time_limit(stack, api, streaming):
    put(api, "wsforever", "async function main(p, socket) { await new Promise(() => {}); }",
        annotations=WS_STREAM, limits={"timeout": 2000})
    ws = WsClient(stack, "guest/default/wsforever")
    assert ws.status == 101
    aid = ws.headers["x-openwhisk-activation-id"]
    t0 = time.monotonic()
    assert ws.recv() == (8, 1001)
    assert time.monotonic() - t0 < 10
    ws.sock.close()
    rec = wait_activation(api, aid)
    assert rec["response"]["status"] == "action developer error"
    assert rec["response"]["result"]["error"] == \
        "The action exceeded its time limits of 2000 milliseconds."


def test_streaming_handler_sees_the_client_close(stack, api, streaming):
    ws = WsClient(stack, "guest/default/wsstream")
    assert ws.status == 101
    aid = ws.headers["x-openwhisk-activation-id"]
    ws.recv()
    ws.close(1000)
    rec = wait_activation(api, aid)
    assert rec["response"]["success"] is True
    assert any("client closed 1000" in line for line in rec["logs"]), rec["logs"]
