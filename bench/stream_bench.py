"""stream_bench.py: a streaming web action (docs/streams.md) through owx vs
nginx proxy_pass straight to the same runtime, both directions, and the
memory the owx path takes while it streams.

One stack (Redis, nginx with the owx modules, the pool-manager, one warm
ow-sidecar + Node.js container of the action "count", web-exported with
web-stream), and a Node.js runtime started here and /init-ed with the same
code. The action counts what it reads, then answers with `size` bytes (a
query parameter; 0: the count as text), 64 KiB at a time.

  proxy  POST /_bench/stream: a plain nginx location (same nginx, same
         server block) with proxy_pass to the runtime's POST /stream,
         request and answer unbuffered, HTTP/1.1; the client sends the
         /stream metadata line itself, then the payload
  owx    POST /api/v1/web/guest/default/count: the full path (the gateway's
         web location, the router, the sidecar's stream relay, the same
         runtime code in its own uid and network namespace)

Each transfer is one request on a fresh connection from a raw-socket client
that sends from one buffer and counts what it reads without keeping it:
  upload    BENCH_STREAM_MB MiB with Content-Length, answered with the count
  download  an empty POST with ?size=BENCH_STREAM_MB MiB, answered chunked
Throughput = payload bytes / (first byte sent .. last byte read). The paths
alternate within each round; medians over BENCH_STREAM_ROUNDS rounds.
Target: owx >= 0.8x proxy each way. RSS (VmRSS) of the sidecar, its
runtime and every nginx worker is sampled every 50 ms during the owx
transfers: peak minus before, per process.

Prints a table, writes JSON (default build/bench/stream.json); exits 1 when
a transfer failed (status, wrong count or length) or a ratio missed.

Environment: BENCH_STREAM_MB (1024), BENCH_STREAM_ROUNDS (3), BENCH_WORKERS
(nginx workers, 2), BENCH_STREAM_OUT, OWX_BUILD.
"""

import base64
import json
import os
import socket
import statistics
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

import invoke_bench as ib  # noqa: E402
from invoke_bench import ROOT, request  # noqa: E402
from owx import admin  # noqa: E402
from owx.memory import RssPeak  # noqa: E402
from owx.stack import Stack  # noqa: E402

MIB = 1 << 20
PIECE = 256 * 1024
TARGET_RATIO = 0.8
STREAM = [{"key": "web-export", "value": True}, {"key": "web-stream", "value": True}]
COUNT = r"""
exports.main = async function (params, body) {
  let n = 0;
  for await (const chunk of body) n += chunk.length;
  const size = parseInt(params.size || '0', 10);
  if (!size) return {statusCode: 200, body: String(n)};
  const block = Buffer.alloc(65536, 120);
  async function* produce() {
    for (let left = size; left > 0; left -= block.length)
      yield left >= block.length ? block : block.subarray(0, left);
  }
  return {statusCode: 200, headers: {'content-type': 'application/octet-stream'},
          body: produce()};
};
"""

# added where "# @OWX_EXTRA@" is; the upstream goes into the http block
PROXY_LOCATION = """
        location = /_bench/stream {
            proxy_pass http://owx_bench_runtime/stream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            client_max_body_size 0;
            proxy_request_buffering off;
            proxy_buffering off;
            # as conf/web_proxy.conf: the same nginx settings both ways
            proxy_buffer_size 64k;
            proxy_buffers 4 64k;
            proxy_read_timeout 300s;
        }
"""
PROXY_UPSTREAM = """
    upstream owx_bench_runtime {
        server %s;
    }
"""


class Reader:
    """An HTTP/1.1 answer read from a socket: the header whole, the body
    counted (Content-Length, chunked, or to the close), its last bytes kept."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.room = bytearray(MIB)

    def fill(self):
        n = self.sock.recv_into(self.room)
        if n == 0:
            raise EOFError("the connection closed early")
        self.buf += memoryview(self.room)[:n]

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            self.fill()

    def skip(self, n, keep):
        """Reads n bytes; returns the last `keep` of them."""
        tail = bytearray()
        take = min(n, len(self.buf))
        tail += self.buf[:take]
        del self.buf[:take]
        n -= take
        while n > 0:
            got = self.sock.recv_into(self.room, min(n, len(self.room)))
            if got == 0:
                raise EOFError("the connection closed mid-body")
            n -= got
            if got >= keep:
                tail = bytearray(self.room[got - keep:got])
            else:
                tail += self.room[:got]
        return bytes(tail[-keep:]) if keep else b""

    def answer(self):
        """(status, body length, the body's last 64 bytes)."""
        status = int(self.line().split()[1])
        headers = {}
        while True:
            h = self.line()
            if not h:
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            return status, n, self.skip(n, 64)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            total, tail = 0, b""
            while True:
                size = int(self.line().split(b";")[0], 16)
                if size == 0:
                    while self.line():
                        pass
                    return status, total, tail
                tail = (tail + self.skip(size, 64))[-64:]
                total += size
                self.line()
        total, tail = len(self.buf), bytes(self.buf[-64:])
        self.buf.clear()
        while True:
            got = self.sock.recv_into(self.room)
            if got == 0:
                return status, total, tail
            total += got
            tail = (tail + bytes(self.room[:got]))[-64:]


def transfer(port, path, prefix, size):
    """One POST of prefix + size payload bytes (Content-Length) on a fresh
    connection: (status, answer length, answer tail, seconds)."""
    block = memoryview(bytes(b"y" * PIECE))
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n"
            "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
            % (path, len(prefix) + size)).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        t0 = time.monotonic()
        s.sendall(head + prefix)
        left = size
        while left > 0:
            n = min(left, PIECE)
            s.sendall(block[:n])
            left -= n
        status, length, tail = Reader(s).answer()
        return status, length, tail, time.monotonic() - t0


def action_processes(stack, action):
    """The sidecar of the action's one container and its runtime (its child)."""
    ids = {c["id"] for c in ib.containers(stack, action)}
    for pid, argv in stack.sidecars().items():
        if "--container-id" in argv and argv[argv.index("--container-id") + 1] in ids:
            try:
                with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                    kids = [int(p) for p in f.read().split()]
            except OSError:
                kids = []
            return pid, kids[0] if kids else None
    return None, None


def meta_line(size):
    """The /stream metadata line the sidecar would send for this request."""
    body = ib.run_body("count")
    body["value"] = {"__ow_method": "post", "__ow_headers": {}, "__ow_path": "",
                     "__ow_query": "", "size": str(size)}
    return (json.dumps(body) + "\n").encode()


def check(what, got, size, direction, failed):
    status, length, tail, _ = got
    if status != 200:
        failed.append("%s %s answered %d" % (what, direction, status))
    elif direction == "upload" and tail != str(size).encode():
        failed.append("%s upload: the action counted %r of %d" % (what, tail, size))
    elif direction == "download" and length != size:
        failed.append("%s download: %d bytes of %d" % (what, length, size))


def main():
    size = ib.env_int("BENCH_STREAM_MB", 1024) * MIB
    nrounds = max(ib.env_int("BENCH_STREAM_ROUNDS", 3), 1)
    workers = ib.env_int("BENCH_WORKERS", 2)
    out_path = os.environ.get("BENCH_STREAM_OUT",
                              os.path.join(ROOT, "build", "bench", "stream.json"))
    auth = "Basic " + base64.b64encode(admin.GUEST_KEY.encode()).decode()
    home = tempfile.mkdtemp(prefix="owx-stream-bench-")
    stack = Stack(home, port=0, redis_port=0, pool_port=0, workers=workers)
    failed, runtime = [], None
    runs = {(p, d): [] for p in ("proxy", "owx") for d in ("upload", "download")}
    try:
        stack.start()
        if stack.binary("pool-manager") is None or stack.binary("sidecar") is None:
            raise RuntimeError("ow-pool-manager / ow-sidecar not built (make build)")
        ib.put_action(stack, auth, "count", COUNT, annotations=STREAM)
        web = "/api/v1/web/guest/default/count"
        got = transfer(stack.port, web, b"", 1000)
        if got[0] != 200 or got[2] != b"1000":
            raise RuntimeError("warm-up of count answered %d: %r" % (got[0], got[2]))
        sidecar, sc_runtime = action_processes(stack, "guest/count")

        _, command = ib.node_command(stack)
        runtime = ib.Runtime(command, concurrent=False)
        runtime.wait_listening()
        status, body = request(runtime.addr, "POST", "/init", ib.init_body("count", COUNT))
        if status != 200:
            raise RuntimeError("/init of the bench runtime answered %d: %r" % (status, body))
        ib.render_proxy_conf(stack, runtime.addr, PROXY_LOCATION, PROXY_UPSTREAM)
        stack.reload_nginx()
        ib.wait_until(lambda: transfer(stack.port, "/_bench/stream", meta_line(0), 10)[2]
                      == b"10", 20, "the reloaded nginx to proxy /_bench/stream")

        print("owx stream bench: %d MiB per transfer, %d rounds, nginx %d workers, %d CPUs, "
              "Node.js action count (web-stream)" % (size // MIB, nrounds, workers,
                                                     os.cpu_count()), flush=True)
        pids = {"sidecar": sidecar, "runtime": sc_runtime}
        for w in stack.nginx_workers():
            pids["nginx worker " + w] = int(w)
        paths = {
            ("proxy", "upload"): ("/_bench/stream", lambda: meta_line(0), size),
            ("proxy", "download"): ("/_bench/stream", lambda: meta_line(size), 0),
            ("owx", "upload"): (web, lambda: b"", size),
            ("owx", "download"): (web + "?size=%d" % size, lambda: b"", 0),
        }
        peak = RssPeak(pids)
        with peak:
            for i in range(nrounds):
                for direction in ("upload", "download"):
                    order = ("proxy", "owx") if i % 2 == 0 else ("owx", "proxy")
                    for p in order:
                        path, prefix, sent = paths[(p, direction)]
                        got = transfer(stack.port, path, prefix(), sent)
                        check(p, got, size, direction, failed)
                        mbs = size / MIB / got[3]
                        runs[(p, direction)].append(mbs)
                        print("  round %d %-5s %-8s %7.0f MiB/s" % (i + 1, p, direction, mbs),
                              flush=True)
        rss = peak.summary()
    finally:
        if runtime:
            runtime.stop()
        stack.stop()

    result = {"size_mib": size // MIB, "rounds": nrounds, "rss": rss, "target": TARGET_RATIO}
    print("\n| direction | proxy MiB/s | owx MiB/s | owx/proxy |\n|---|---|---|---|")
    for direction in ("upload", "download"):
        p = statistics.median(runs[("proxy", direction)])
        o = statistics.median(runs[("owx", direction)])
        ratio = o / p if p else 0.0
        result[direction] = {"proxy_mibs": p, "owx_mibs": o, "ratio": ratio}
        print("| %s | %.0f | %.0f | %.2f |" % (direction, p, o, ratio))
        if ratio < TARGET_RATIO:
            failed.append("%s: owx/proxy %.2f < %.2f" % (direction, ratio, TARGET_RATIO))
    print("\nRSS during the owx transfers (KiB): " + ", ".join(
        "%s %s -> %s" % (k, v["before_kb"], v["peak_kb"]) for k, v in sorted(rss.items())))
    return ib.report(out_path, result, failed)


if __name__ == "__main__":
    sys.exit(main())
