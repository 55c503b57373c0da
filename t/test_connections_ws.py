"""test_connections_ws.py: the REST API of WebSocket connections end to end, through real
sidecars: a client connects through one gateway (t/test_websockets.py's client and action),
and pushes, reads and closes through the API of another gateway replica sharing the Redis and
the pool-manager reach it. What the gateway does alone (auth, 404s, limits, the forward) is
t/test_connections_api.py's, against stand-in sidecars."""

import json
import socket

import pytest

from conftest import Api, assert_error
from owx import schema
from owx.stack import gateway_replica, wait_until
from owx.wsclient import WsClient
from test_websockets import NODE_ECHO, put

GUEST_LIMITS = {"invocationsPerMinute": 1000}

NOT_FOUND = "The requested resource does not exist."

# a readiness wait (a warm-table event reaching the second gateway, a sidecar seeing its client
# go): generous, it costs nothing when things are quick
DEADLINE = 15


@pytest.fixture(scope="module")
def gw2(stack, tmp_path_factory):
    """A second gateway replica on the same Redis and pool-manager."""
    with gateway_replica(stack, str(tmp_path_factory.mktemp("owx-gw2"))) as s:
        yield s


@pytest.fixture(scope="module")
def echo(api):
    put(api, "wspush", NODE_ECHO)
    return "guest/default/wspush"


def connected(stack, path):
    """A client connected through stack's gateway, and its connection id."""
    ws = WsClient(stack, path)
    assert ws.status == 101, ws.body
    return ws, ws.headers["x-openwhisk-connection-id"]


def test_push_and_read_through_another_gateway(stack, gw2, echo):
    ws, cid = connected(stack, echo)
    api2 = Api(gw2)
    # the second gateway has the container once its add event came (the first had it first)
    r = wait_until(lambda: (lambda r: r if r.status_code == 200 else None)(
        api2.post("_/connections/" + cid, data="pushed via gw2",
                  headers={"Content-Type": "text/plain"})), DEADLINE,
        "the second gateway's warm table to have the container")
    assert r.json() == {}
    assert ws.recv() == (1, "pushed via gw2")
    r = api2.post("guest/connections/" + cid, data=b"\x00\x01\xfe\xff",
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert ws.recv() == (2, b"\x00\x01\xfe\xff")
    # the connection still answers its own client
    ws.send("hi")
    assert ws.recv() == (1, "echo:hi")

    r = api2.get("_/connections/" + cid)
    assert r.status_code == 200, r.text
    doc = r.json()
    entry = stack.redis().get(schema.connection_key("guest", cid))
    assert entry is not None
    for k, v in json.loads(entry).items():
        assert doc[k] == v, k
    assert doc["lastActiveAt"] >= doc["connectedAt"]
    ws.close()


def test_close_through_another_gateway(stack, gw2, echo):
    ws, cid = connected(stack, echo)
    api2 = Api(gw2)
    r = wait_until(lambda: (lambda r: r if r.status_code == 200 else None)(
        api2.delete("_/connections/" + cid)), DEADLINE, "the second gateway to close it")
    assert r.json() == {}
    assert ws.recv() == (8, 1000)
    ws.sock.close()
    # closed: gone from the registry, and from the API of either gateway
    wait_until(lambda: Api(stack).get("_/connections/" + cid).status_code == 404, DEADLINE,
               "the connection to be gone")
    assert_error(api2.post("_/connections/" + cid, data="late"), 404, NOT_FOUND)
    assert_error(api2.delete("_/connections/" + cid), 404, NOT_FOUND)


def test_auth_and_limits_with_a_live_connection(stack, gw2, echo, make_user):
    ws, cid = connected(stack, echo)
    api2 = Api(gw2)
    wait_until(lambda: api2.get("_/connections/" + cid).status_code == 200, DEADLINE,
               "the second gateway's warm table to have the container")
    assert_error(Api(gw2, None).post("guest/connections/" + cid, data="x"), 401)
    other = Api(gw2, make_user("wspush-other").key)
    assert_error(other.post("guest/connections/" + cid, data="x"), 403)
    assert_error(other.post("_/connections/" + cid, data="x"), 404, NOT_FOUND)
    r = api2.post("_/connections/" + cid, data=b"x" * (1024 * 1024 + 1),
                  headers={"Content-Type": "application/octet-stream"})
    assert_error(r, 413)
    # none of it reached the client: the next frame is the next push
    assert api2.post("_/connections/" + cid, data="still here").status_code == 200
    assert ws.recv() == (1, "still here")
    ws.close()


def test_a_vanished_client_is_404_once_the_sidecar_saw_it_go(stack, gw2, echo):
    ws, cid = connected(stack, echo)
    api2 = Api(gw2)
    wait_until(lambda: api2.get("_/connections/" + cid).status_code == 200, DEADLINE,
               "the second gateway's warm table to have the container")
    ws.sock.shutdown(socket.SHUT_RDWR)
    ws.sock.close()
    r = wait_until(lambda: (lambda r: r if r.status_code == 404 else None)(
        api2.post("_/connections/" + cid, data="anyone?")), DEADLINE, "the connection to be gone")
    assert_error(r, 404, NOT_FOUND)
