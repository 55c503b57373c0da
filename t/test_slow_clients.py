"""test_slow_clients.py: a client that trickles cannot hold a connection. nginx bounds the
body and the answer only between two reads or writes (client_body_timeout, send_timeout);
ow_client_deadline bounds the whole body and the whole answer. Here the deadline is 2 s
with no allowance per byte, so each test runs in seconds; the shipped conf gives 10 s plus
a second per 256 KiB."""

import socket
import time

from conftest import NODE_KIND, basic, GUEST

STACK_OPTIONS = {"extra_conf": "ow_client_deadline 2s;"}
CUT_OFF_WITHIN = 15.0   # the deadline, with room for a loaded machine


def connect(stack, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        # set before connect, so the window the client advertises stays small
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", stack.port))
    return s


def closed_by_server(s, deadline):
    """Reads (and drops) whatever comes until the server closes; False at the deadline."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            if s.recv(65536) == b"":
                return True
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
    return False


def test_a_trickled_body_is_cut_off(stack):
    """A PUT whose 200-byte body comes a byte every 0.5 s: client_body_timeout (10 s
    between reads) never fires, the deadline ends it, with its body unfinished."""
    s = connect(stack)
    s.sendall(("PUT /api/v1/namespaces/_/actions/trickled HTTP/1.1\r\n"
               "Host: x\r\nAuthorization: %s\r\nContent-Type: application/json\r\n"
               "Content-Length: 200\r\n\r\n" % basic(GUEST)).encode())
    start = time.monotonic()
    sent = 0
    s.setblocking(False)
    closed = False
    while sent < 200 and time.monotonic() - start < CUT_OFF_WITHIN:
        try:
            s.send(b" ")
            sent += 1
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        try:
            if s.recv(65536) == b"":
                closed = True
                break
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed = True
            break
        time.sleep(0.5)
    s.close()
    assert closed, "the connection was still open after %.0f s" % CUT_OFF_WITHIN
    assert sent < 200


def test_an_answer_the_client_does_not_take_is_cut_off(stack, api):
    """GET of an action with 16 MiB of code by a client that reads nothing: more than the
    kernel's socket buffers can hold, so nginx still has most of it when the deadline
    passes, and the connection is closed with the answer unfinished."""
    code = "// " + "x" * (16 << 20) + "\nfunction main(p) { return p }"
    r = api.put("_/actions/big-answer?overwrite=true",
                {"exec": {"kind": NODE_KIND, "code": code}}, timeout=60)
    assert r.status_code == 200, r.text
    s = connect(stack, rcvbuf=4096)
    s.sendall(("GET /api/v1/namespaces/_/actions/big-answer HTTP/1.1\r\n"
               "Host: x\r\nAuthorization: %s\r\n\r\n" % basic(GUEST)).encode())
    time.sleep(4)   # the client not reading: the deadline (2 s) passes meanwhile
    received = 0
    s.settimeout(5)
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
    except ConnectionResetError:
        pass
    except socket.timeout:
        pass   # the connection is still open: the answer must then be whole
    s.close()
    assert received < len(code), "the whole answer came: nothing was cut off"


def test_ordinary_clients_are_unaffected(stack, api):
    """A client at network speed sends and takes 6 MiB well within the same deadline."""
    code = "// " + "y" * (6 << 20) + "\nfunction main(p) { return {ok: true} }"
    r = api.put("_/actions/ordinary?overwrite=true",
                {"exec": {"kind": NODE_KIND, "code": code}}, timeout=60)
    assert r.status_code == 200, r.text
    r = api.get("_/actions/ordinary", timeout=60)
    assert r.status_code == 200
    assert r.json()["exec"]["code"] == code
    r = api.post("_/actions/ordinary?blocking=true&result=true", {"n": 1}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True}
