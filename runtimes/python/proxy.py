#!/usr/bin/python3
"""owx local Python runtime: the OpenWhisk action runtime protocol
(docs openwhisk-api.md §9, observed behaviour §14) on 127.0.0.1:<--port>.

    /usr/bin/python3 proxy.py --port N [--host IP]

--host: the address to listen on when not handed a socket (default
127.0.0.1): in its own container of a Kubernetes pod the runtime listens on
the pod's loopback, where the sidecar reaches it; the simulator's pods share
the host's loopback, so there it listens on the pod's own address.

POST /init {"value":{"name","main","binary","code","env"}}   exactly once
POST /run  {"value":{...},"namespace",...,"deadline","api_key"?}
POST /stream  a streaming web action (docs/streams.md; with __ow_websocket a
              WebSocket's messages both ways, docs/websockets.md): one JSON line as
           /run's body, then the client's body as it arrives; answered with
           the action's status, headers and body, chunked

Standard library only. The action runs inside this process (no launcher
child, no stdin/fd-3 pipe): one /run at a time, like the official ActionLoop
runtime must be used (§14), and a concurrent /run is refused with 403 instead
of corrupting anything. Results and error texts follow the official runtime
(openwhisk-runtime-python's launcher behind the Go ActionLoop proxy).
"""

import asyncio
import atexit
import base64
import glob
import io
import json
import os
import shutil
import signal
import site
import socket
import sys
import tempfile
import threading
import traceback
import types
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SENTINEL = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n"

# Bounded request bodies: code up to 48 MB (base64 counts), run payloads
# up to 1 MB plus JSON escaping and the envelope.
MAX_INIT_BODY = 64 * 1024 * 1024
MAX_RUN_BODY = 8 * 1024 * 1024
# Zip bombs: bound the unpacked size.
MAX_UNZIPPED = 512 * 1024 * 1024

NO_BINARY = "The action failed to generate or locate a binary. See logs for details."
NO_START = "Cannot start action. Check logs for details."
NOT_DICT = "The action did not return a dictionary or array."



class ActivationEnv:
    """The per-activation variables (__OW_ACTIVATION_ID, __OW_DEADLINE, ...)
    in the process's environment without setenv(3). os.environ[k] = v calls
    setenv, and glibc keeps every distinct NAME=value string it was ever
    given (a pointer getenv returned may still be in use, so none can be
    freed): values new every run grew the runtime by ~100 bytes a variable
    an activation and slowed every later setenv. Here each name has a
    buffer of our own, handed to putenv(3) once (the environment then points
    at it) and rewritten in place; os.environ is told too, so the action and
    the children it starts see the value either way. Another setenv of the
    name (the action's own) replaces the pointer: the next set() notices and
    hands the buffer over again."""

    def __init__(self):
        self.libc = None
        try:
            import ctypes
            self.ctypes = ctypes
            self.libc = ctypes.CDLL(None)
            self.libc.getenv.restype = ctypes.c_void_p
            self.libc.getenv.argtypes = [ctypes.c_char_p]
            self.libc.putenv.argtypes = [ctypes.c_void_p]
        except (ImportError, OSError, AttributeError):
            self.libc = None
        self.bufs = {}

    def set(self, name, value):
        key, val = os.environ.encodekey(name), os.environ.encodevalue(value)
        if self.libc is None or b"\0" in val or b"=" in key:
            os.environ[name] = value
            return
        entry = key + b"=" + val + b"\0"
        # the buffer the environment may point at lives until the new one
        # is handed over
        old = buf = self.bufs.get(key)
        if buf is None or len(entry) > len(buf):
            buf = self.ctypes.create_string_buffer(max(len(entry), 128))
            self.bufs[key] = buf
        self.ctypes.memmove(buf, entry, len(entry))
        mine = self.ctypes.addressof(buf) + len(key) + 1
        if self.libc.getenv(key) != mine and self.libc.putenv(self.ctypes.addressof(buf)) != 0:
            os.environ[name] = value
            return
        os.environ._data[key] = val
        del old


ACTIVATION_ENV = ActivationEnv()

class InitError(Exception):
    """An init failure: .reply is the error text for the platform."""

    def __init__(self, reply, log):
        super().__init__(log)
        self.reply = reply
        self.log = log


def write_markers():
    """The sentinel, after everything the action wrote, on both streams."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
            stream.write(SENTINEL)
            stream.flush()
        except (OSError, ValueError):
            pass


class Runtime:
    def __init__(self):
        self.lock = threading.Lock()      # guards status / main
        self.run_lock = threading.Lock()  # one /run at a time
        self.status = "ready"             # ready | starting | stopped
        self.main = None
        self.dir = None

    # ---- init
    def init(self, body):
        """Returns (status, json body)."""
        with self.lock:
            if self.main is not None:
                return 403, {"error": "Cannot initialize the action more than once."}
            if self.status != "ready":
                return 403, {"error": "System not ready, status is %s." % self.status}
            self.status = "starting"
        value = body.get("value") if isinstance(body, dict) else None
        value = value if isinstance(value, dict) else {}
        code = value.get("code")
        if not isinstance(code, str) or code == "":
            with self.lock:
                self.status = "ready"
            # the platform reads the logs up to a sentinel after a failed init
            print("Missing main/no code to execute.", file=sys.stderr)
            write_markers()
            return 403, {"error": "Missing main/no code to execute."}
        try:
            fn = self.load(value, code)
        except InitError as e:
            with self.lock:
                self.status = "stopped"
            print(e.log, file=sys.stderr)
            write_markers()
            return 502, {"error": e.reply}
        with self.lock:
            self.main = fn
            self.status = "ready"
        return 200, {"ok": True}

    def load(self, value, code):
        env = value.get("env")
        if isinstance(env, dict):
            for k, v in env.items():
                try:
                    os.environ[str(k)] = v if isinstance(v, str) else json.dumps(v)
                except RecursionError:
                    # json.dumps recurses once per level: a value that was
                    # just deep enough to decode need not encode
                    raise InitError(NO_START, "The value of %s is nested too deeply." % k)
        main = value.get("main") or "main"
        if not isinstance(main, str) or not main.isidentifier():
            raise InitError(NO_START, "Invalid main function name: %r" % (main,))

        self.dir = tempfile.mkdtemp(prefix="owx-python-")
        path = os.path.join(self.dir, "main__.py")
        if value.get("binary"):
            try:
                data = base64.b64decode(code, validate=False)
            except ValueError as e:
                raise InitError(NO_BINARY, "cannot decode the action code: %s" % e)
            if data[:2] == b"PK":
                self.unzip(data)
                if not os.path.isfile(os.path.join(self.dir, "__main__.py")):
                    raise InitError(NO_BINARY, "Zip file does not include __main__.py")
                os.rename(os.path.join(self.dir, "__main__.py"), path)
            else:
                with open(path, "wb") as f:
                    f.write(data)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(code)

        with open(path, "rb") as f:
            source = f.read()
        try:
            compiled = compile(source, path, "exec")
        except (SyntaxError, ValueError):
            raise InitError(NO_BINARY, traceback.format_exc(limit=0).rstrip())

        # Like the official launcher: the action's directory is the working
        # directory and first on sys.path (other modules of the zip import),
        # and a packaged virtualenv's site-packages are importable.
        os.chdir(self.dir)
        sys.path.insert(0, self.dir)
        for sp in glob.glob(os.path.join(self.dir, "virtualenv", "lib", "python3*",
                                         "site-packages")):
            site.addsitedir(sp)
        module = types.ModuleType("main__")
        module.__file__ = path
        sys.modules["main__"] = module
        try:
            exec(compiled, module.__dict__)
        except BaseException:  # a module-level sys.exit() must not end the runtime
            raise InitError(NO_START, traceback.format_exc().rstrip())
        finally:
            flush_streams()
        fn = getattr(module, main, None)
        if not callable(fn):
            raise InitError(NO_START, "ImportError: cannot import name '%s' from 'main__' (%s)"
                            % (main, path))
        return fn

    def unzip(self, data):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                if sum(i.file_size for i in z.infolist()) > MAX_UNZIPPED:
                    raise InitError(NO_BINARY, "archive expands beyond %d bytes" % MAX_UNZIPPED)
                z.extractall(self.dir)  # extractall drops '..' and absolute paths
        except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as e:
            raise InitError(NO_BINARY, "cannot unzip the action: %s" % e)

    # ---- run
    def run(self, body):
        """Returns (status, json-encoded bytes)."""
        with self.lock:
            main, status = self.main, self.status
        if main is None:
            msg = ("System not ready, status is stopped." if status == "stopped"
                   else "System not initialized.")
            return 403, enc({"error": msg})
        if not self.run_lock.acquire(blocking=False):
            # refused: prints nothing, not even a sentinel (§14)
            return 403, enc({"error": "System not ready, status is running."})
        try:
            return self.run_locked(main, body if isinstance(body, dict) else {})
        finally:
            self.run_lock.release()

    def run_locked(self, main, body):
        payload = {}
        for k, v in body.items():
            if k == "value":
                payload = v if v is not None else {}
            elif isinstance(v, str):
                ACTIVATION_ENV.set("__OW_%s" % k.upper(), v)
        try:
            res = main(payload)
            if asyncio.iscoroutine(res):
                res = asyncio.run(res)
        except Exception as ex:
            # as the official launcher: traceback to the logs, and an
            # application error result; the runtime keeps working
            print(traceback.format_exc(), file=sys.stderr)
            res = {"error": str(ex)}
        except BaseException:
            # sys.exit() in the action: the official runtime's process ends
            # too; the platform sees the dropped connection
            traceback.print_exc()
            write_markers()
            cleanup()
            os._exit(1)
        code, out = 200, None
        if isinstance(res, (dict, list)):
            try:
                out = enc(res)
            except (TypeError, ValueError, RecursionError) as e:
                # RecursionError: json.dumps recurses once per level, and a
                # result nested ~1000 deep exceeds the interpreter's limit
                print("The result is not JSON: %s" % e, file=sys.stderr)
        if out is None:
            code, out = 502, enc({"error": NOT_DICT})
        write_markers()
        return code, out

    # ---- stream (docs/streams.md)
    def stream(self, handler, msg, body):
        """Runs a streaming action; writes its answer through handler."""
        with self.lock:
            main, status = self.main, self.status
        if main is None:
            msg = ("System not ready, status is stopped." if status == "stopped"
                   else "System not initialized.")
            handler.send(403, enc({"error": msg}))
            return
        if not self.run_lock.acquire(blocking=False):
            handler.send(403, enc({"error": "System not ready, status is running."}))
            return
        try:
            self.stream_locked(handler, main, msg if isinstance(msg, dict) else {}, body)
        finally:
            # free before the sentinels: the sidecar sends the next stream
            # once it saw them
            self.run_lock.release()
            write_markers()

    def stream_locked(self, handler, main, msg, body):
        payload = {}
        for k, v in msg.items():
            if k == "value":
                payload = v if isinstance(v, dict) else {}
            elif isinstance(v, str):
                ACTIVATION_ENV.set("__OW_%s" % k.upper(), v)
        if isinstance(payload.get("__ow_websocket"), dict):
            self.websocket(handler, main, payload, body)
            return
        try:
            res = main(payload, body)
            if asyncio.iscoroutine(res):
                res = asyncio.run(res)
            code, headers, parts = answer_parts(res)
        except Exception as ex:
            print(traceback.format_exc(), file=sys.stderr)
            code, headers, parts = stream_failure("An error has occurred: %s" % ex)
        except BaseException:
            traceback.print_exc()
            write_markers()
            cleanup()
            os._exit(1)
        try:
            handler.send_stream(code, headers, parts)
        except (ConnectionError, OSError) as ex:
            # the sidecar closed the stream (its client left, a limit)
            print("The stream ended early: %s" % ex, file=sys.stderr)
        except Exception:
            # the action's body generator failed after the header went out:
            # the answer ends without its last chunk
            print(traceback.format_exc(), file=sys.stderr)

    def websocket(self, handler, main, payload, body):
        """A WebSocket streaming handler: main(params, socket) has the connection; the
        answer (200, then frames) starts at once; when main returns the connection is
        closed, 1000, or 1011 when it failed."""
        sock = ActionSocket(body, handler, payload["__ow_websocket"])
        try:
            handler.close_connection = True
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ow-websocket\r\n"
                                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            code = 1000
            try:
                res = main(payload, sock)
                if asyncio.iscoroutine(res):
                    asyncio.run(res)
            except Exception:
                print(traceback.format_exc(), file=sys.stderr)
                code = 1011
            sock.close(code)
        except (ConnectionError, OSError) as ex:
            print("The connection ended early: %s" % ex, file=sys.stderr)


class ActionSocket:
    """A WebSocket connection as a streaming handler sees it (docs/websockets.md): iterable
    over its messages (str for text, bytes for binary) until the client closed; send(msg)
    and close(code) go the other way. Frames with the sidecar, both ways: 1 byte type (1
    text, 2 binary, 8 close), 4 bytes length (big-endian), the payload."""

    def __init__(self, body, handler, info):
        self.connection_id = info.get("connectionId")
        self.close_code = None
        self.closed = False
        self._body = body
        self._handler = handler

    def __iter__(self):
        while True:
            head = self._body.read(5)
            if len(head) < 5:
                return
            n = int.from_bytes(head[1:5], "big")
            payload = self._body.read(n)
            if len(payload) < n:
                return
            if head[0] == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                return
            yield payload.decode("utf-8") if head[0] == 1 else payload

    def _frame(self, kind, payload):
        data = bytes([kind]) + len(payload).to_bytes(4, "big") + payload
        self._handler.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self._handler.wfile.flush()

    def send(self, msg):
        """str: a text message; bytes: binary; anything else: its JSON text."""
        if self.closed:
            return False
        if isinstance(msg, (bytes, bytearray, memoryview)):
            self._frame(2, bytes(msg))
        else:
            self._frame(1, (msg if isinstance(msg, str) else json.dumps(msg)).encode("utf-8"))
        return True

    def close(self, code=1000):
        if self.closed:
            return
        self.closed = True
        self._frame(8, code.to_bytes(2, "big"))
        self._handler.wfile.write(b"0\r\n\r\n")
        self._handler.wfile.flush()


class StreamBody:
    """The request body of a streaming action as it arrives (chunked or by
    Content-Length): read(n), readline(), readinto(b), and iteration in
    pieces of up to 64 KiB. Nothing is read ahead beyond what is asked."""

    PIECE = 65536

    def __init__(self, rfile, chunked, length):
        self._rfile = rfile
        self._chunked = chunked
        self._left = length      # Content-Length still to come, or the chunk's
        self._eof = not chunked and length == 0
        self._pending = b""

    def _next(self, n):
        """Up to n bytes from the wire; b"" at the end of the body."""
        if self._eof:
            return b""
        if self._chunked and self._left == 0:
            line = self._rfile.readline(1024)
            if not line:
                raise ConnectionError("the request body ended early")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self._rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                self._eof = True
                return b""
            self._left = size
        data = self._rfile.read1(min(n, self._left))
        if not data:
            raise ConnectionError("the request body ended early")
        self._left -= len(data)
        if self._left == 0:
            if self._chunked:
                self._rfile.readline(1024)   # the chunk's CRLF
            else:
                self._eof = True
        return data

    def read1(self, n=-1):
        if self._pending:
            data = self._pending if n < 0 else self._pending[:n]
            self._pending = self._pending[len(data):]
            return data
        return self._next(self.PIECE if n is None or n < 0 else n)

    def read(self, n=-1):
        parts, size = [], 0
        while n is None or n < 0 or size < n:
            data = self.read1(-1 if n is None or n < 0 else n - size)
            if not data:
                break
            parts.append(data)
            size += len(data)
        return b"".join(parts)

    def readinto(self, b):
        data = self.read1(len(b))
        b[:len(data)] = data
        return len(data)

    def readline(self, limit=-1):
        parts, size = [], 0
        while limit is None or limit < 0 or size < limit:
            data = self.read1(-1 if limit is None or limit < 0 else limit - size)
            if not data:
                break
            nl = data.find(b"\n")
            if nl >= 0:
                self._pending = data[nl + 1:] + self._pending
                data = data[:nl + 1]
            parts.append(data)
            size += len(data)
            if nl >= 0:
                break
        return b"".join(parts)

    def readable(self):
        return True

    def __iter__(self):
        while True:
            data = self.read1()
            if not data:
                return
            yield data


def stream_failure(why):
    """The answer of an action that failed before it answered: the sidecar
    makes it OpenWhisk's 502 and records a developer error."""
    return 502, [("Content-Type", "application/json"), ("X-OW-Stream-Error", "true")], \
        (enc({"error": why}),)


def answer_parts(res):
    """The action's {statusCode, headers, body} -> (status, headers, body
    iterable of bytes), or a failure."""
    if res is None:
        res = {}
    if not isinstance(res, dict):
        print("The result must be a dictionary, not %s." % type(res).__name__, file=sys.stderr)
        return stream_failure(NOT_DICT.replace(" or array", ""))
    code = res.get("statusCode", 200)
    if not isinstance(code, int) or isinstance(code, bool) or not 200 <= code <= 999:
        print("Invalid statusCode: %r" % (code,), file=sys.stderr)
        return stream_failure("The action did not return a valid statusCode.")
    headers = []
    given = res.get("headers")
    for k, vs in (given.items() if isinstance(given, dict) else ()):
        # a list is one header line per value (Set-Cookie)
        for v in (vs if isinstance(vs, list) else [vs]):
            k, v = str(k), str(v)
            if any(c in k + v for c in "\r\n\0") or not k or any(c in k for c in " :"):
                print("Invalid header dropped: %r" % (k,), file=sys.stderr)
                continue
            headers.append((k, v))
    body = res.get("body")
    if body is None:
        body = ()
    elif isinstance(body, str):
        body = (body.encode("utf-8"),)
    elif isinstance(body, (bytes, bytearray, memoryview)):
        body = (bytes(body),)
    elif isinstance(body, (dict, list)):
        body = (enc(body),)
    return code, headers, body


def flush_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def enc(obj):
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


RUNTIME = Runtime()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the sidecar reuses connections
    server_version = "owx-python"

    def setup(self):
        super().setup()
        # header and body go out in one write; no Nagle delay either way
        # (TCP only: ow-sidecar hands over a Unix socket)
        if self.connection.family != socket.AF_UNIX:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):
        # stderr belongs to the action's logs: no access log there
        pass

    def send(self, code, body):
        reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                  411: "Length Required", 413: "Payload Too Large",
                  502: "Bad Gateway"}.get(code, "Error")
        # a connection we are about to close says so, or a keep-alive client
        # may send its next request into the closing socket
        close = "Connection: close\r\n" if self.close_connection else ""
        head = ("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%s"
                "Content-Length: %d\r\n\r\n" % (code, reason, close, len(body))).encode("ascii")
        self.wfile.write(head + body)

    def read_body(self, limit):
        """Returns bytes, or None after answering an error."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts, size = [], 0
            while True:
                line = self.rfile.readline(1024)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                size += n
                if size > limit:
                    self.close_connection = True
                    self.send(413, enc({"error": "Request larger than allowed: %d > %d bytes."
                                        % (size, limit)}))
                    return None
                parts.append(self.rfile.read(n))
                self.rfile.readline(1024)
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = -1
        if n < 0:
            self.close_connection = True
            self.send(411, enc({"error": "Content-Length required."}))
            return None
        if n > limit:
            self.close_connection = True
            self.send(413, enc({"error": "Request larger than allowed: %d > %d bytes."
                                % (n, limit)}))
            return None
        return self.rfile.read(n)

    def send_stream(self, code, headers, parts):
        """The action's answer: header, then each piece as a chunk as the
        action produces it (an iterator runs while the client reads)."""
        self.close_connection = True
        reason = self.responses.get(code, ("Unknown",))[0]
        bodiless = code in (204, 304)
        head = "HTTP/1.1 %d %s\r\n" % (code, reason)
        for k, v in headers:
            head += "%s: %s\r\n" % (k, v)
        if not bodiless:
            head += "Transfer-Encoding: chunked\r\n"
        head += "Connection: close\r\n\r\n"
        self.wfile.write(head.encode("latin-1", "replace"))
        if bodiless:
            return
        for piece in parts:
            if isinstance(piece, str):
                piece = piece.encode("utf-8")
            elif not isinstance(piece, (bytes, bytearray, memoryview)):
                piece = str(piece).encode("utf-8")
            if len(piece) == 0:
                continue
            self.wfile.write(b"%x\r\n" % len(piece) + bytes(piece) + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def handle_stream(self):
        self.close_connection = True
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not chunked and length < 0:
            self.send(411, enc({"error": "Content-Length required."}))
            return
        body = StreamBody(self.rfile, chunked, length)
        try:
            line = body.readline(MAX_RUN_BODY)
            msg = json.loads(line.decode("utf-8")) if line.endswith(b"\n") else None
        except (ValueError, RecursionError, ConnectionError):
            msg = None
        if not isinstance(msg, dict):
            self.send(400, enc({"error": "Malformed stream request."}))
            return
        RUNTIME.stream(self, msg, body)

    def do_POST(self):
        route = self.path.split("?")[0]
        if route == "/stream":
            self.handle_stream()
            return
        if route not in ("/init", "/run"):
            self.close_connection = True
            self.send(404, enc({"error": "Not found."}))
            return
        try:
            raw = self.read_body(MAX_INIT_BODY if route == "/init" else MAX_RUN_BODY)
        except ValueError:
            self.close_connection = True
            self.send(400, enc({"error": "Malformed chunked body."}))
            return
        if raw is None:
            return
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError as e:
            self.send(400, enc({"error": "Invalid JSON body: %s" % e}))
            return
        except RecursionError as e:
            # json.loads recurses once per level: an argument nested ~1000
            # deep exceeds the interpreter's limit. Uncaught, it dropped the
            # connection and the platform saw a dead runtime; it is the
            # action's error instead, and the runtime keeps working. A /run
            # ends its activation's logs like any other run.
            msg = "The argument is nested too deeply for the Python runtime: %s" % e
            if route == "/run":
                print(msg, file=sys.stderr)
                write_markers()
            self.send(400, enc({"error": msg}))
            return
        if route == "/init":
            code, obj = RUNTIME.init(body)
            self.send(code, enc(obj))
        else:
            code, out = RUNTIME.run(body)
            self.send(code, out)

    def do_GET(self):
        self.close_connection = True
        self.send(404, enc({"error": "Not found."}))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def cleanup():
    if RUNTIME.dir:
        shutil.rmtree(RUNTIME.dir, ignore_errors=True)


def make_server(port, host="127.0.0.1"):
    """ow-sidecar binds the socket (a Unix socket in a directory only it can
    enter) and hands it over as fd 3 (systemd's LISTEN_FDS / LISTEN_PID
    convention), so no other process can take it or reach it. Run by hand:
    bind 127.0.0.1:port."""
    if os.environ.get("LISTEN_FDS") != "1" or \
            os.environ.get("LISTEN_PID") != str(os.getpid()):
        return Server((host, port), Handler)
    del os.environ["LISTEN_FDS"], os.environ["LISTEN_PID"]
    server = Server(("127.0.0.1", port), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=3)
    server.server_address = server.socket.getsockname()
    if server.socket.family == socket.AF_UNIX:
        # the sidecar's private Unix socket (ow-sidecar: runtime_process.h)
        server.server_name, server.server_port = "localhost", 0
    else:
        server.server_name, server.server_port = server.server_address[:2]
    server.server_activate()
    return server


def main(argv):
    port = None
    host = "127.0.0.1"
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--port" and args:
            port = args.pop(0)
        elif a.startswith("--port="):
            port = a[len("--port="):]
        elif a == "--host" and args:
            host = args.pop(0)
        else:
            port = None
            break
    try:
        port = int(port)
        if not 0 <= port <= 65535:
            raise ValueError
    except (TypeError, ValueError):
        print("usage: proxy.py --port N [--host IP]", file=sys.stderr)
        return 2
    try:
        server = make_server(port, host)
    except OSError as e:
        print("owx python runtime: %s" % e, file=sys.stderr)
        return 1
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever(poll_interval=3600)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
