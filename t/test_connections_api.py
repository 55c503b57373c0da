"""test_connections_api.py: the REST API of WebSocket connections, /api/v1/namespaces/{ns}/
connections/{id} (POST pushes a message, DELETE closes, GET reads), as the gateway serves it:
the caller checked, the connection's registry key read (owx:{ns}:conn:<id>), and the request
handed to the sidecar of the container the key names, found in the gateway's warm table, from
any gateway sharing the Redis.

The containers here are small HTTP servers standing in for sidecars, speaking the sidecar's
side of the contract (POST/DELETE/GET /connections/<id> with X-OW-Token); the registry keys are
written as a sidecar writes them. The point is nginx: the WebSocket end to end, through real
sidecars, is t/test_websockets.py's."""

import json
import secrets
import time

import pytest

from conftest import GUEST, Api, assert_error
from owx import schema
from owx.standin import BackgroundServer, QuietHandler
from owx.stack import gateway_replica, wait_until

# nginx alone: no pool-manager (it would repair the warm table these tests write)
STACK_OPTIONS = {"pool_manager": False}

NOT_FOUND = "The requested resource does not exist."

# how long a warm-table event may take to reach a gateway: a readiness wait, so generous (a
# worker whose first subscription failed under load retries with a backoff of seconds)
EVENT_DEADLINE = 15


class FakeSidecar(BackgroundServer):
    """The sidecar's connections API: the connections it holds (id -> registry entry) and
    every request it was sent, as (method, path, headers, body)."""

    def __init__(self, token, max_bytes=1048576):
        self.token = token
        self.max_bytes = max_bytes      # the namespace's maxMessageBytes
        self.held = {}
        self.seen = []
        outer = self

        class Handler(QuietHandler):
            def handle_any(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n) if n else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.seen.append((self.command, self.path, headers, body))
                if headers.get("x-ow-token") != outer.token:
                    return self.send_json(401, {"error": "The request is not authorized.",
                                             "code": headers.get("x-request-id", "")})
                rid = headers.get("x-request-id", "")
                cid = self.path[len("/connections/"):]
                if not self.path.startswith("/connections/") or cid not in outer.held:
                    return self.send_json(404, {"error": "no such connection", "code": rid})
                if len(body) > outer.max_bytes:
                    return self.send_json(413, {"error": "Message larger than allowed: %d > %d "
                                             "bytes." % (len(body), outer.max_bytes),
                                             "code": rid})
                if self.command == "GET":
                    return self.send_json(200, dict(outer.held[cid], lastActiveAt=1))
                if self.command == "DELETE":
                    del outer.held[cid]
                return self.send_json(200, {})

            do_GET = do_POST = do_DELETE = do_PUT = handle_any

        super().__init__(Handler)


def publish(db, op, cid, port, action="guest/chat"):
    """What the pool-manager does: change owx:{warm}, bump the version, publish the event."""
    entry = {"id": cid, "action": action, "addr": "127.0.0.1:%d" % port, "concurrency": 1}
    if op == "add":
        db.hset(schema.WARM_KEY, cid, json.dumps(entry))
    else:
        db.hdel(schema.WARM_KEY, cid)
    v = db.incr(schema.WARM_VERSION_KEY)
    db.publish(schema.WARM_CHANNEL, json.dumps(dict(entry, v=v, op=op)))


def connect(db, sidecar, container, ns="guest", ttl=60):
    """What a sidecar does when a client connects: a new id, registered (with an expiry)."""
    cid = secrets.token_hex(16)
    entry = {"connectionId": cid, "container": container, "action": ns + "/default/chat",
             "connectedAt": int(time.time() * 1000)}
    db.set(schema.connection_key(ns, cid), json.dumps(entry), ex=ttl)
    if sidecar is not None:
        sidecar.held[cid] = entry
    return cid


@pytest.fixture(scope="module")
def db(stack):
    return stack.redis()


@pytest.fixture(scope="module")
def sidecar(stack, db):
    """A container "c-conn" of guest/chat in the warm table, held by a stand-in sidecar; the
    gateway has it once GET of a connection it holds answers 200."""
    sc = FakeSidecar(stack.internal_token)
    publish(db, "add", "c-conn", sc.port)
    probe = connect(db, sc, "c-conn")
    api = Api(stack)
    wait_until(lambda: api.get("_/connections/" + probe).status_code == 200, EVENT_DEADLINE,
               "the container's add event to reach the gateway")
    yield sc
    publish(db, "del", "c-conn", sc.port)
    sc.close()


def test_push_reaches_the_sidecar_with_the_token_and_nothing_of_the_caller(stack, api, db,
                                                                           sidecar):
    cid = connect(db, sidecar, "c-conn")
    del sidecar.seen[:]
    r = api.post("_/connections/" + cid, data=b"hello", headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    assert r.json() == {}
    method, path, headers, body = sidecar.seen[-1]
    assert (method, path, body) == ("POST", "/connections/" + cid, b"hello")
    assert headers["x-ow-token"] == stack.internal_token
    assert headers["content-type"] == "text/plain"
    assert headers["x-request-id"] == r.headers["X-Request-ID"]
    # the caller's key is the gateway's business, never the container's
    assert "authorization" not in headers


def test_binary_push_keeps_its_type_and_bytes(api, db, sidecar):
    cid = connect(db, sidecar, "c-conn")
    payload = bytes(range(256)) * 4
    r = api.post("_/connections/" + cid, data=payload,
                 headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    method, path, headers, body = sidecar.seen[-1]
    assert headers["content-type"] == "application/octet-stream"
    assert body == payload


def test_namespace_by_name_and_by_underscore(api, db, sidecar):
    cid = connect(db, sidecar, "c-conn")
    assert api.post("guest/connections/" + cid, data=b"a").status_code == 200
    assert api.post("_/connections/" + cid, data=b"b").status_code == 200
    assert [s[3] for s in sidecar.seen[-2:]] == [b"a", b"b"]


def test_get_answers_the_sidecars_view(api, db, sidecar):
    cid = connect(db, sidecar, "c-conn")
    r = api.get("_/connections/" + cid)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["connectionId"] == cid
    assert doc["container"] == "c-conn"
    assert doc["action"] == "guest/default/chat"
    assert "lastActiveAt" in doc


def test_delete_closes_and_the_connection_is_gone(api, db, sidecar):
    cid = connect(db, sidecar, "c-conn")
    r = api.delete("_/connections/" + cid)
    assert r.status_code == 200 and r.json() == {}
    assert sidecar.seen[-1][:2] == ("DELETE", "/connections/" + cid)
    # the sidecar no longer holds it (its key would be gone too): its 404, in OpenWhisk's shape
    assert_error(api.post("_/connections/" + cid, data=b"late"), 404, NOT_FOUND)


def test_unknown_and_expired_ids_are_404_without_asking_a_sidecar(api, db, sidecar):
    del sidecar.seen[:]
    for method in ("GET", "POST", "DELETE"):
        assert_error(api.request(method, "_/connections/" + secrets.token_hex(16)), 404,
                     NOT_FOUND)
    cid = connect(db, sidecar, "c-conn")
    db.delete(schema.connection_key("guest", cid))      # what its expiry does
    assert_error(api.post("_/connections/" + cid, data=b"x"), 404, NOT_FOUND)
    assert sidecar.seen == []


def test_malformed_ids_and_paths_are_404(api, db, sidecar):
    for path in ("_/connections/abc", "_/connections/" + "g" * 32,
                 "_/connections/" + "a" * 33, "_/connections", "_/connections/",
                 "_/connections/" + "a" * 32 + "/more"):
        assert_error(api.get(path), 404, NOT_FOUND)


def test_other_methods_are_405(api, db, sidecar):
    cid = connect(db, sidecar, "c-conn")
    r = api.put("_/connections/" + cid, data=b"x")
    assert_error(r, 405)
    assert "GET, POST, DELETE" in r.json()["error"]


def test_a_container_not_in_the_table_is_404(api, db, sidecar):
    # the key names a container this gateway never had (or that went away)
    cid = connect(db, None, "c-nowhere")
    assert_error(api.post("_/connections/" + cid, data=b"x"), 404, NOT_FOUND)


def test_a_container_removed_from_the_table_is_404(stack, api, db):
    sc = FakeSidecar(stack.internal_token)
    try:
        publish(db, "add", "c-leaving", sc.port)
        cid = connect(db, sc, "c-leaving")
        wait_until(lambda: api.get("_/connections/" + cid).status_code == 200, EVENT_DEADLINE,
                   "the add event")
        publish(db, "del", "c-leaving", sc.port)
        r = wait_until(lambda: (lambda r: r if r.status_code == 404 else None)(
            api.post("_/connections/" + cid, data=b"x")), EVENT_DEADLINE, "the del event")
        assert_error(r, 404, NOT_FOUND)
    finally:
        sc.close()


def test_a_sidecar_that_cannot_be_reached_is_404(stack, api, db):
    sc = FakeSidecar(stack.internal_token)
    publish(db, "add", "c-dead", sc.port)
    try:
        cid = connect(db, sc, "c-dead")
        wait_until(lambda: api.get("_/connections/" + cid).status_code == 200, EVENT_DEADLINE,
                   "the add event")
        # still in the table (its removal event not in yet), but nothing listens there
        sc.close()
        assert_error(api.post("_/connections/" + cid, data=b"x"), 404, NOT_FOUND)
        assert_error(api.get("_/connections/" + cid), 404, NOT_FOUND)
    finally:
        publish(db, "del", "c-dead", sc.port)


def test_auth(stack, api, db, sidecar, make_user):
    cid = connect(db, sidecar, "c-conn")
    del sidecar.seen[:]
    # no key, a wrong key
    r = Api(stack, None).post("guest/connections/" + cid, data=b"x")
    assert_error(r, 401)
    bad = GUEST.split(":")[0] + ":" + "x" * 64
    assert_error(Api(stack, bad).post("guest/connections/" + cid, data=b"x"), 401)
    # another namespace's key: refused as for its other entities
    other = make_user("conn-other")
    for method in ("GET", "POST", "DELETE"):
        assert_error(other.request(method, "guest/connections/" + cid), 403)
    # and its own "_" is its own namespace, where the id is not
    assert_error(other.post("_/connections/" + cid, data=b"x"), 404, NOT_FOUND)
    assert sidecar.seen == []
    # the connection is untouched
    assert api.get("_/connections/" + cid).status_code == 200


def test_body_limit_is_the_payload_limit(api, db, sidecar):
    cid = connect(db, sidecar, "c-conn")
    r = api.post("_/connections/" + cid, data=b"x" * (1024 * 1024 + 1),
                 headers={"Content-Type": "application/octet-stream"})
    assert_error(r, 413)
    assert "1048576" in r.json()["error"]
    # exactly the limit goes through (the API's thread pool takes a body this big)
    r = api.post("_/connections/" + cid, data=b"y" * (1024 * 1024),
                 headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert sidecar.seen[-1][3] == b"y" * (1024 * 1024)


def test_the_sidecars_own_refusals_reach_the_caller(api, db, sidecar):
    # a namespace's maxMessageBytes below the payload limit: the sidecar's 413 and its words
    cid = connect(db, sidecar, "c-conn")
    sidecar.max_bytes = 10
    try:
        r = api.post("_/connections/" + cid, data=b"x" * 11)
    finally:
        sidecar.max_bytes = 1048576
    assert_error(r, 413, "Message larger than allowed: 11 > 10 bytes.")


def test_a_chunked_body_over_the_limit_is_413(api, db, sidecar):
    cid = connect(db, sidecar, "c-conn")

    def chunks():
        for _ in range(17):
            yield b"z" * 65536

    assert_error(api.post("_/connections/" + cid, data=chunks()), 413)


@pytest.fixture(scope="module")
def gw2(stack, tmp_path_factory):
    """A second gateway on the same Redis: its own warm table, from the same events."""
    with gateway_replica(stack, str(tmp_path_factory.mktemp("owx-gw2")),
                         pool_manager=False) as s:
        yield s


def test_any_gateway_reaches_the_connection(api, db, sidecar, gw2):
    cid = connect(db, sidecar, "c-conn")
    api2 = Api(gw2)
    r = wait_until(lambda: (lambda r: r if r.status_code == 200 else None)(
        api2.post("_/connections/" + cid, data=b"from gw2")), EVENT_DEADLINE,
        "the second gateway's table to have the container")
    assert r.json() == {}
    method, path, headers, body = sidecar.seen[-1]
    assert (method, path, body) == ("POST", "/connections/" + cid, b"from gw2")
    assert headers["x-ow-token"] == gw2.internal_token
    assert api2.delete("_/connections/" + cid).status_code == 200
    assert_error(api.get("_/connections/" + cid), 404, NOT_FOUND)
