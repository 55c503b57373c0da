"""test_gateway_secrets.py: the gateway keeps secrets to itself. API keys never reach the
nginx error log (not even nginx's own "client sent duplicate header line", which quotes
both Authorization headers at info level: conf/nginx.conf logs at notice), Basic credentials
with a control character are refused (a NUL used to cut the uuid short), and a client's
own X-OW-Token header never reaches an action: proxy_set_header replaces it with the
installation's token on the way to a sidecar (web_proxy.conf, invoke_context.conf) and
drops it on the way to the internal listener (compose_proxy.conf)."""

import base64
import http.client

import requests

from conftest import GUEST, assert_error

UUID, SECRET = GUEST.split(":", 1)
FORGED = "forged-token-0123456789abcdef"
INVALID = "The supplied authentication is invalid"

ECHO = "function main(p) { return p }"
EXPORT = [{"key": "web-export", "value": True}]


def b64(raw):
    return base64.b64encode(raw).decode()


def raw_request(stack, headers, path="/api/v1/namespaces/_/actions"):
    """GET path with headers exactly as given (a list of pairs: names may repeat, which
    requests cannot send); returns (status, body)."""
    c = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    try:
        c.putrequest("GET", path, skip_accept_encoding=True)
        for k, v in headers:
            c.putheader(k, v)
        c.endheaders()
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def error_log(stack):
    with open(stack.error_log, errors="replace") as f:
        return f.read()


def test_keys_of_malformed_headers_are_not_logged(stack, make_user):
    other = make_user("dupcaller")
    other_secret = other.key.split(":", 1)[1]
    # two Authorization headers: nginx refuses the request itself (400) and, at info
    # level, would quote both lines in "client sent duplicate header line"
    status, _ = raw_request(stack, [("Authorization", "Basic " + b64(GUEST.encode())),
                                    ("Authorization", "Basic " + b64(other.key.encode()))])
    assert status == 400
    # the same key in plain text twice, as a careless client might send it
    status, _ = raw_request(stack, [("Authorization", GUEST), ("Authorization", GUEST)])
    assert status == 400
    # a space before the colon: nginx refuses the line (400), and "client sent invalid
    # header line" quotes it at info
    status, _ = raw_request(stack, [("Authorization ", "Basic " + b64(GUEST.encode()))])
    assert status == 400
    # a valid request and a wrong key still work as before
    status, _ = raw_request(stack, [("Authorization", "Basic " + b64(GUEST.encode()))])
    assert status == 200
    status, _ = raw_request(stack, [("Authorization", "Basic " + b64(
        (UUID + ":" + "x" * 64).encode()))])
    assert status == 401

    log = error_log(stack)
    for secret in (SECRET, other_secret):
        assert secret not in log
    assert b64(GUEST.encode()) not in log
    assert b64(other.key.encode()) not in log


def test_credentials_with_a_nul_are_invalid(stack, api):
    # "uuid\0zz:secret" used to authenticate as uuid: the uuid was cut at the NUL
    for raw in [UUID.encode() + b"\0zz:" + SECRET.encode(),
                UUID.encode() + b"\0:" + SECRET.encode(),
                UUID.encode() + b":" + SECRET[:-1].encode() + b"\0",
                UUID.encode() + b"\x01:" + SECRET.encode(),
                UUID.encode() + b"\n:" + SECRET.encode()]:
        r = requests.get(api.url("_/actions"), timeout=10,
                         headers={"Authorization": "Basic " + b64(raw)})
        assert_error(r, 401, INVALID)
        assert r.headers["WWW-Authenticate"] == 'Basic realm="OpenWhisk secure realm"'
    # the same key without the NUL is fine
    r = requests.get(api.url("_/actions"), timeout=10,
                     headers={"Authorization": "Basic " + b64(GUEST.encode())})
    assert r.status_code == 200, r.text
    assert SECRET not in error_log(stack)


def put(api, name, body):
    r = api.put("_/actions/%s?overwrite=true" % name, body)
    assert r.status_code == 200, r.text


def web(stack, path, **kw):
    kw.setdefault("timeout", 60)
    return requests.get(stack.url + "/api/v1/web/" + path, **kw)


def test_a_clients_token_never_reaches_an_action(stack, api):
    put(api, "tokecho", {"exec": {"kind": "nodejs:default", "code": ECHO},
                         "annotations": EXPORT})
    # a web sequence: its component runs through compose_proxy.conf and the internal
    # listener
    put(api, "tokseq", {"exec": {"kind": "sequence", "components": ["/guest/tokecho"]},
                        "annotations": EXPORT})
    for path in ("guest/default/tokecho.json", "guest/default/tokseq.json"):
        for auth in (None, tuple(GUEST.split(":", 1))):
            r = web(stack, path, auth=auth,
                    headers={"X-OW-Token": FORGED, "X-Things": "yes"})
            assert r.status_code == 200, (path, r.text)
            headers = r.json()["__ow_headers"]
            assert headers["x-things"] == "yes"               # the client's headers arrive
            assert "x-ow-token" not in headers, (path, headers)
            assert FORGED not in r.text, path
    # a plain (non-web) invocation: the action sees no header, and the forged token
    # must not disturb the invocation either
    r = api.post("_/actions/tokecho?blocking=true&result=true", {"x": 1},
                 headers={"X-OW-Token": FORGED})
    assert r.status_code == 200, r.text
    assert r.json() == {"x": 1}
