"""test_robustness.py: bad input never crashes a worker and always gets an
OpenWhisk error body; concurrent writes resolve by compare-and-set; Redis
outages give 503 quickly and the gateway reconnects; nginx reloads keep
serving. The stack fixture (conftest.py) fails the module if the nginx error
log shows [alert]/[crit]/[emerg] or a worker that exited on a signal."""

import os
import re
import socket
import threading
import time

import pytest
import requests

from conftest import GUEST, Api, assert_error, basic
from owx.stack import wait_until

MALFORMED = "The request content was malformed:\n"
BAD_NAME = "The name of the entity contains illegal characters."


def raw(stack, data, read=True, timeout=5):
    """Send raw bytes on a new connection; return the response bytes (or b"")."""
    s = socket.create_connection(("127.0.0.1", stack.port), timeout=timeout)
    try:
        s.sendall(data)
        if not read:
            return b""
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def still_serving(api):
    r = api.get("_/triggers", timeout=5)
    assert r.status_code == 200, r.text


# ---- bodies

@pytest.mark.parametrize("body", [
    b"{", b"{\"name\":", b"nul", b"[]", b"\"x\"", b"1", b"null", b"true",
    b"{\"name\":\"\xff\xfe\"}",                 # invalid UTF-8
    b"\xc3\x28",                                # invalid UTF-8, no JSON at all
    b"[" * 100000,                              # deep nesting
    b"{\"a\":" * 50000 + b"1" + b"}" * 50000,   # deep nesting of objects
    b"{\"a\":\"x\x00y\"}",                      # raw NUL byte
    b"{\"a\":\"\\u0000\"}",                     # escaped NUL
    b"\x00\x00\x00\x00",
    b"{\"publish\":true,\"publish\":false}",    # duplicate keys
    b"{} {}",                                   # trailing garbage
], ids=lambda b: repr(b[:24]))
def test_malformed_json_is_400(api, body):
    r = api.put("_/triggers/rb?overwrite=true", data=body,
                headers={"Content-Type": "application/json"})
    err = assert_error(r, 400)
    assert err["error"].startswith(MALFORMED), err
    assert_error(api.get("_/triggers/rb"), 404)


def test_empty_put_body_is_400(api):
    r = api.put("_/triggers/rb?overwrite=true", data=b"",
                headers={"Content-Type": "application/json"})
    assert_error(r, 400)


def test_wrong_field_types_are_400(api):
    for body in ({"parameters": {"k": "v"}}, {"parameters": [1]}, {"annotations": "x"},
                 {"publish": "yes"}, {"version": 3}, {"parameters": [{"key": 1, "value": 2}]}):
        err = assert_error(api.put("_/triggers/rb?overwrite=true", json=body), 400)
        assert err["error"].startswith(MALFORMED), (body, err)


def test_body_over_65_mb_is_413(api):
    r = api.put("_/triggers/huge?overwrite=true", data=b"x" * (70 * 1024 * 1024),
                headers={"Content-Type": "application/json"}, timeout=60)
    err = assert_error(r, 413)
    assert err["error"].startswith("Request larger than allowed: "), err
    still_serving(api)


def test_parameters_over_1_mb_are_413(api):
    params = [{"key": "k%d" % i, "value": "x" * 1024} for i in range(2048)]  # ~2 MB
    r = api.put("_/triggers/bigparams?overwrite=true", json={"parameters": params},
                timeout=30)
    err = assert_error(r, 413)
    m = re.fullmatch(r"parameters larger than allowed: (\d+) > 1048576 bytes\.", err["error"])
    assert m and int(m.group(1)) > 2 * 1024 * 1024, err
    assert_error(api.get("_/triggers/bigparams"), 404)
    # just under the cap is fine (the body itself goes to a temp file)
    params = [{"key": "k%d" % i, "value": "x" * 1000} for i in range(1000)]
    r = api.put("_/triggers/bigparams?overwrite=true", json={"parameters": params}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    assert len(api.get("_/triggers/bigparams").json()["parameters"]) == 1000
    assert api.delete("_/triggers/bigparams").status_code == 200


# ---- names

@pytest.mark.parametrize("name", [
    "x" * 257, "%20lead", "trail%20", "-dash", "a%24b", "a%2Fb", "%00", "a%00b",
    "%C3%A9t%C3%A9", "a%0Ab", "a%25b",
])
def test_bad_entity_names_are_400(api, name):
    for method in ("GET", "PUT", "DELETE"):
        kw = {"json": {}} if method == "PUT" else {}
        r = api.request(method, "_/triggers/" + name, **kw)
        assert r.headers.get("Content-Type", "").startswith("application/json"), \
            (method, name, r.status_code, r.text[:200])
        # nginx itself refuses "%00" in a request line, before any module:
        # conf/nginx.conf still makes that an OpenWhisk error body
        assert_error(r, 400, "The request content was malformed." if "%00" in name
                     else BAD_NAME)


def test_longest_name_is_fine(api):
    name = "n" * 256
    assert api.put("_/triggers/" + name, json={}).status_code == 200
    assert api.get("_/triggers/" + name).json()["name"] == name
    assert api.delete("_/triggers/" + name).status_code == 200


def test_bad_namespace_is_400_or_403(api):
    r = api.get("bad%20ns%20/triggers")
    assert r.status_code in (400, 403), r.text
    assert_error(r, r.status_code)


# ---- authorization headers

@pytest.mark.parametrize("header", [
    b"Basic \xff\xfe\x80\x81",                    # binary
    "Basic " + "A" * 7000,                        # huge (fits nginx's header buffer)
    basic("nocolon"),
    basic(":" + "x" * 64),                        # empty uuid
    basic(GUEST.split(":")[0] + ":"),             # empty key
    basic(GUEST + "\x00"),
    "Basic",
    "Digest " + basic(GUEST)[6:],
    "basic !!!",
    "",
], ids=lambda h: repr(h[:20]))
def test_garbage_authorization_is_401(stack, header):
    r = requests.get(stack.url + "/api/v1/namespaces/_/triggers",
                     headers={"Authorization": header}, timeout=5)
    err = assert_error(r, 401)
    assert err["error"] in ("The supplied authentication is invalid",
                            "The resource requires authentication, which was not supplied "
                            "with the request"), err
    still_serving(Api(stack))


@pytest.mark.parametrize("header", [
    b"Basic \x00\x01",                            # NUL: nginx rejects the header itself
    "Basic " + "A" * 20000,                       # larger than large_client_header_buffers
], ids=["nul", "20k"])
def test_unparseable_authorization_gets_an_error_body(stack, header):
    """nginx itself rejects these before any module runs: the answer should
    still be an OpenWhisk error body."""
    r = requests.get(stack.url + "/api/v1/namespaces/_/triggers",
                     headers={"Authorization": header}, timeout=5)
    assert 400 <= r.status_code < 500, r.status_code
    assert_error(r, r.status_code)


# ---- methods

@pytest.mark.parametrize("method", ["PATCH", "TRACE", "PROPFIND", "CONNECT"])
def test_other_methods_are_405_or_404_with_error_body(api, method):
    for path in ("_/triggers/t", "_/triggers", "_/actions/a", "/api/v1/namespaces"):
        r = api.request(method, path)
        assert r.status_code in (400, 404, 405), (method, path, r.status_code)
        assert_error(r, r.status_code)


def test_head_on_an_api_path(api):
    r = api.request("HEAD", "_/triggers")
    assert r.status_code in (200, 405), r.status_code


# ---- clients that go away

def test_clients_that_disconnect_mid_request(stack, api):
    auth = basic(GUEST)
    head = ("PUT /api/v1/namespaces/_/triggers/gone?overwrite=true HTTP/1.1\r\n"
            "Host: x\r\nAuthorization: %s\r\nContent-Type: application/json\r\n" % auth)
    # headers cut short
    raw(stack, head.encode()[:40], read=False)
    # body cut short
    raw(stack, (head + "Content-Length: 100000\r\n\r\n{\"parameters\":[").encode(),
        read=False)
    # complete request, gone before the answer (many, to hit the Redis step)
    for _ in range(50):
        raw(stack, (head + "Content-Length: 2\r\n\r\n{}").encode(), read=False)
    # chunked body cut short
    raw(stack, (head + "Transfer-Encoding: chunked\r\n\r\n100\r\n{\"a\"").encode(), read=False)
    # garbage request line
    out = raw(stack, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64))
    assert out == b"" or out.startswith(b"HTTP/1.1 400"), out[:100]
    still_serving(api)
    assert api.get("_/triggers/gone").status_code in (200, 404)
    api.delete("_/triggers/gone")


# ---- concurrent writes

def parallel(n, fn):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_concurrent_updates_use_compare_and_set(stack, api):
    assert api.put("_/triggers/hot", json={}).json()["version"] == "0.0.1"
    n = 8

    def update(i):
        r = Api(stack).put("_/triggers/hot?overwrite=true",
                           json={"parameters": [{"key": "writer", "value": i}]})
        return r.status_code, r.json(), r.headers.get("X-Request-ID")

    results = parallel(n, update)
    oks = [body for status, body, _ in results if status == 200]
    for status, body, rid in results:
        assert status in (200, 409), (status, body)
        if status == 409:
            assert body == {"error": "Concurrent modification to resource detected.",
                            "code": rid}, body
    assert oks, results
    final = api.get("_/triggers/hot").json()
    assert final["version"] == "0.0.%d" % (1 + len(oks)), (final, len(oks))
    # the stored parameters are those of the last successful writer
    assert final["parameters"] in [b["parameters"] for b in oks]
    assert sorted(b["version"] for b in oks) == ["0.0.%d" % (2 + i) for i in range(len(oks))]
    api.delete("_/triggers/hot")


def test_concurrent_creates_one_wins(stack, api):
    n = 8

    def create(i):
        r = Api(stack).put("_/triggers/race", json={"annotations": [{"key": "w", "value": i}]})
        return r.status_code, r.json()

    results = parallel(n, create)
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] + [409] * (n - 1), results
    for s, body in results:
        if s == 409:
            assert body["error"] == "resource already exists", body
    winner = next(b for s, b in results if s == 200)
    assert api.get("_/triggers/race").json()["annotations"] == winner["annotations"]
    api.delete("_/triggers/race")


def test_concurrent_mixed_writes_on_many_entities(stack, api):
    """Creates, updates, reads and deletes in parallel: only the documented
    statuses, and nothing is left half-written."""
    n = 16

    def work(i):
        a = Api(stack)
        name = "mix%d" % (i % 4)
        codes = []
        for _ in range(5):
            codes.append(a.put("_/triggers/%s?overwrite=true" % name, json={}).status_code)
            codes.append(a.get("_/triggers/" + name).status_code)
            codes.append(a.delete("_/triggers/" + name).status_code)
        return codes

    for codes in parallel(n, work):
        assert set(codes) <= {200, 404, 409}, codes
    listed = api.get("_/triggers?limit=0").json()
    for t in listed:
        assert api.get("_/triggers/" + t["name"]).status_code == 200
        api.delete("_/triggers/" + t["name"])
    assert api.get("_/triggers?count=true").json() == {"triggers": 0}


# ---- nginx reload

def workers(stack):
    with open(stack.path("nginx", "nginx.pid")) as f:
        master = f.read().strip()
    pids = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == master:
            pids.add(p)
    return pids




def test_nginx_reload_keeps_serving_and_the_auth_cache(stack):
    api = Api(stack)
    assert api.put("_/triggers/keep", json={}).status_code == 200
    before = workers(stack)
    assert before
    stack.reload_nginx()
    # requests keep being answered while the workers are replaced
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        r = requests.get(stack.url + "/api/v1/namespaces/_/triggers/keep",
                         auth=tuple(GUEST.split(":", 1)), timeout=5)
        assert r.status_code == 200, r.text
    wait_until(lambda: workers(stack) and not (workers(stack) & before), 15,
             "old workers to exit after the reload")
    # the verdict cached before the reload (shared zone) still lets the key in
    # while Redis is down: GET /api/v1/namespaces needs nothing else
    stack.stop_redis()
    try:
        r = requests.get(stack.url + "/api/v1/namespaces", auth=tuple(GUEST.split(":", 1)),
                         timeout=5)
        assert r.status_code == 200 and r.json() == ["guest"], (r.status_code, r.text)
    finally:
        stack.start_redis()
    wait_until(lambda: requests.get(stack.url + "/api/v1/namespaces/_/triggers/keep",
                                  auth=tuple(GUEST.split(":", 1)), timeout=5).status_code == 200,
             20, "the gateway to reconnect to Redis")
    assert Api(stack).delete("_/triggers/keep").status_code == 200


# ---- Redis outage

def test_redis_restart(stack, make_user):
    api = Api(stack)
    names = ["keep%d" % i for i in range(5)]
    for n in names:
        assert api.put("_/triggers/" + n, json={"parameters": [{"key": "n", "value": n}]}
                       ).status_code == 200
    fresh = make_user("outage-user")          # a key no worker has verified yet

    stack.stop_redis()
    try:
        for a, path in ((api, "_/triggers/keep0"), (api, "_/triggers"),
                        (fresh, "_/triggers"), (api, "_/limits")):
            t0 = time.monotonic()
            r = a.get(path, timeout=5)
            elapsed = time.monotonic() - t0
            assert elapsed < 4, (path, elapsed)
            err = assert_error(r, 503)
            assert err["error"], err
        t0 = time.monotonic()
        r = api.put("_/triggers/during?overwrite=true", json={}, timeout=5)
        assert time.monotonic() - t0 < 4
        assert_error(r, 503)
        # requests that need no Redis still work
        assert requests.get(stack.url + "/ping", timeout=5).text == "pong"
    finally:
        stack.start_redis()

    # the gateway reconnects (with backoff) and serves again
    def back():
        r = api.get("_/triggers/keep0", timeout=5)
        return r.status_code == 200

    wait_until(back, 20, "the gateway to reconnect to Redis")
    for n in names:
        r = api.get("_/triggers/" + n)
        assert r.status_code == 200 and r.json()["parameters"] == [{"key": "n", "value": n}], \
            r.text
    assert_error(api.get("_/triggers/during"), 404)
    wait_until(lambda: fresh.get("_/triggers", timeout=5).status_code == 200, 10,
             "the fresh key to be accepted")
    for n in names:
        assert api.delete("_/triggers/" + n).status_code == 200
