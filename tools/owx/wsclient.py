"""wsclient.py: a minimal RFC 6455 client for the tests and benchmarks (t/test_websockets.py,
t/test_connections_ws.py, bench/websocket_bench.py): the upgrade at a web action's URL, masked
frames out, frames in. Blocking sockets, one frame at a time."""

import base64
import hashlib
import json
import os
import socket
import struct
from urllib.parse import urlparse


class WsClient:
    """A minimal RFC 6455 client: the upgrade, masked frames out, frames in."""

    def __init__(self, stack, path, headers=None, timeout=30):
        u = urlparse(stack.url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET /api/v1/web/%s HTTP/1.1" % path, "Host: %s" % u.netloc,
                 "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " + key,
                 "Sec-WebSocket-Version: 13"]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n").decode("latin-1")
        first, *rest = head.split("\r\n")
        self.status = int(first.split()[1])
        self.headers = {}
        for line in rest:
            if line:
                k, v = line.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        self.body = b""
        if self.status == 101:
            accept = base64.b64encode(hashlib.sha1(
                (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            assert self.headers["sec-websocket-accept"] == accept
        else:
            n = int(self.headers.get("content-length", "0"))
            self.body = self._exactly(n)
            self.sock.close()

    def json(self):
        return json.loads(self.body)

    def _fill(self):
        got = self.sock.recv(65536)
        if not got:
            raise EOFError("connection closed")
        self.buf += got

    def _until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data, opcode=None):
        if isinstance(data, str):
            data, op = data.encode(), 1
        else:
            op = 2
        op = opcode if opcode is not None else op
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            head = struct.pack("!BB", 0x80 | op, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | op, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | op, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def recv(self):
        """(opcode, payload) of the next frame: 1 text (str), 2 binary, 8 close (its code)."""
        b0, b1 = self._exactly(2)
        n = b1 & 0x7f
        if n == 126:
            n = struct.unpack("!H", self._exactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._exactly(8))[0]
        payload = self._exactly(n)
        op = b0 & 0x0f
        if op == 1:
            return op, payload.decode()
        if op == 8:
            return op, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        return op, payload

    def close(self, code=1000):
        self.send(struct.pack("!H", code), opcode=8)
        try:
            while self.recv()[0] != 8:
                pass
        except (EOFError, OSError):
            pass
        self.sock.close()
