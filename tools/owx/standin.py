"""standin.py: what the tests' stand-ins for a platform process (a sidecar, a
pool-manager) share: an HTTP server on a free loopback port, served from a thread,
with a handler that answers JSON over HTTP/1.1 keep-alive and logs nothing. The
handler class says what it answers; this keeps the socket, the thread and the
shutdown."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send_json(self, status, doc, headers=()):
        """doc as JSON with its length (the connection stays open), and headers."""
        out = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


class BackgroundServer:
    """handler's server on 127.0.0.1:port (a free one), answering until close()."""

    def __init__(self, handler):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
