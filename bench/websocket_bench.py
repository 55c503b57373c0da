"""websocket_bench.py: WebSockets at a web action's URL (docs/websockets.md): a message's
round trip against a warm blocking invoke of the same action, and what an idle connection
costs the gateway and the sidecar.

One stack (Redis, nginx with the owx modules, the pool-manager, one warm ow-sidecar + Node.js
container of the action "echo", annotated web-export and web-socket). The action answers a
message with its text and anything else with {}.

  round trip  one connection through the gateway; BENCH_WS_MESSAGES messages, each sent when
              the last answer came back (each an activation with its record), against as many
              blocking invokes of the same action (POST /api/v1/namespaces/_/actions/echo
              ?blocking=true&result=true on one keep-alive connection): p50 and p99 of each,
              from the same client code, alternating in BENCH_WS_ROUNDS rounds. Target: message
              p50 at most invoke p50 + 0.2 ms.
  idle        BENCH_WS_IDLE connections opened (each runs the connect event) and held open
              without a message: the RSS of the nginx workers and of the action's sidecars
              before and after, per connection; every one still answers a message after.

Prints a table, writes JSON (default build/bench/websocket.json); exits 1 when a message or
an invoke failed, a connection was refused, or the round-trip target was missed.

Environment: BENCH_WS_MESSAGES (2000), BENCH_WS_ROUNDS (3), BENCH_WS_IDLE (10000),
BENCH_WORKERS (nginx workers, 2), BENCH_WS_OUT, OWX_BUILD.
"""

import base64
import http.client
import json
import os
import resource
import statistics
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

import invoke_bench as ib  # noqa: E402
from invoke_bench import ROOT  # noqa: E402
from owx import admin  # noqa: E402
from owx.memory import rss_kb  # noqa: E402
from owx.stack import Stack  # noqa: E402
from owx.wsclient import WsClient  # noqa: E402

TARGET_ADD_MS = 0.2
WS = [{"key": "web-export", "value": True}, {"key": "web-socket", "value": True}]
ECHO = """
function main(p) {
  const ws = p.__ow_websocket;
  if (ws && ws.event === 'message') return {body: ws.message};
  return {};
}
"""


def sidecar_pids(stack, action):
    ids = {c["id"] for c in ib.containers(stack, action)}
    return [pid for pid, argv in stack.sidecars().items()
            if "--container-id" in argv and argv[argv.index("--container-id") + 1] in ids]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else 0.0


def message_rtts(ws, n, failed):
    out = []
    for i in range(n):
        text = "m%d" % i
        t0 = time.perf_counter()
        ws.send(text)
        op, got = ws.recv()
        out.append((time.perf_counter() - t0) * 1000)
        if op != 1 or got != text:
            failed.append("message %d answered %r %r" % (i, op, got))
            break
    return out


def invoke_rtts(stack, auth, n, failed):
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    hdr = {"Authorization": auth, "Content-Type": "application/json"}
    path = "/api/v1/namespaces/_/actions/echo?blocking=true&result=true"
    out = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            conn.request("POST", path, body=b"{}", headers=hdr)
            r = conn.getresponse()
            body = r.read()
            out.append((time.perf_counter() - t0) * 1000)
            if r.status != 200 or json.loads(body) != {}:
                failed.append("invoke %d answered %d %r" % (i, r.status, body[:200]))
                break
    finally:
        conn.close()
    return out


def main():
    nmsg = max(ib.env_int("BENCH_WS_MESSAGES", 2000), 1)
    nrounds = max(ib.env_int("BENCH_WS_ROUNDS", 3), 1)
    nidle = max(ib.env_int("BENCH_WS_IDLE", 10000), 1)
    workers = ib.env_int("BENCH_WORKERS", 2)
    out_path = os.environ.get("BENCH_WS_OUT",
                              os.path.join(ROOT, "build", "bench", "websocket.json"))
    # the client's sockets, and the daemons', which inherit this limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4 * nidle + 4096)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    auth = "Basic " + base64.b64encode(admin.GUEST_KEY.encode()).decode()
    os.environ.setdefault("OW_SIDECAR_RETENTION", "300s")
    home = tempfile.mkdtemp(prefix="owx-ws-bench-")
    stack = Stack(home, port=0, redis_port=0, pool_port=0, workers=workers)
    failed, msgs, invs, idle = [], [], [], {}
    held = []
    try:
        stack.start()
        if stack.binary("pool-manager") is None or stack.binary("sidecar") is None:
            raise RuntimeError("ow-pool-manager / ow-sidecar not built (make build)")
        rc = admin.main(stack.admin_args() + [
            "limits", "set", "guest", "--invocationsPerMinute", "10000000",
            "--concurrentInvocations", "100000", "--maxConnections", str(nidle + 100)])
        if rc != 0:
            raise RuntimeError("ow-admin limits set failed")
        ib.put_action(stack, auth, "echo", ECHO, annotations=WS)
        status, body = ib.invoke(stack, auth, "echo")
        if status != 200 or body != {}:
            raise RuntimeError("first invoke of echo answered %d: %r" % (status, body))

        print("owx websocket bench: %d messages x %d rounds vs as many blocking invokes, then "
              "%d idle connections; nginx %d workers, %d CPUs" % (
                  nmsg, nrounds, nidle, workers, os.cpu_count()), flush=True)
        ws = WsClient(stack, "guest/default/echo")
        if ws.status != 101:
            raise RuntimeError("upgrade answered %d: %r" % (ws.status, ws.body))
        message_rtts(ws, 200, failed)          # warm-up of both paths
        invoke_rtts(stack, auth, 200, failed)
        for i in range(nrounds):
            if i % 2 == 0:
                m = message_rtts(ws, nmsg, failed)
                v = invoke_rtts(stack, auth, nmsg, failed)
            else:
                v = invoke_rtts(stack, auth, nmsg, failed)
                m = message_rtts(ws, nmsg, failed)
            msgs += m
            invs += v
            print("  round %d message p50 %.3f ms, invoke p50 %.3f ms" % (
                i + 1, statistics.median(m), statistics.median(v)), flush=True)
        ws.close()

        sidecars = sidecar_pids(stack, "guest/echo")
        workers_pids = [int(w) for w in stack.nginx_workers()]
        before = {"nginx": sum(rss_kb(p) or 0 for p in workers_pids),
                  "sidecar": sum(rss_kb(p) or 0 for p in sidecars)}
        t0 = time.monotonic()
        for i in range(nidle):
            c = WsClient(stack, "guest/default/echo")
            if c.status != 101:
                failed.append("idle connection %d refused: %d %r" % (i, c.status, c.body))
                break
            held.append(c)
        opened = time.monotonic() - t0
        sidecars = sidecar_pids(stack, "guest/echo")
        after = {"nginx": sum(rss_kb(p) or 0 for p in workers_pids),
                 "sidecar": sum(rss_kb(p) or 0 for p in sidecars)}
        # every one of them still answers
        for c in held[::max(len(held) // 100, 1)]:
            c.send("alive")
            if c.recv() != (1, "alive"):
                failed.append("an idle connection did not answer")
                break
        idle = {"connections": len(held), "open_s": opened, "containers": len(sidecars),
                "rss_kb_before": before, "rss_kb_after": after,
                "bytes_per_connection": {k: (after[k] - before[k]) * 1024 / max(len(held), 1)
                                         for k in before}}
    finally:
        for c in held:
            try:
                c.sock.close()
            except OSError:
                pass
        stack.stop()

    result = {"messages": nmsg, "rounds": nrounds, "idle": idle, "target_add_ms": TARGET_ADD_MS}
    if msgs and invs:
        result["message_ms"] = {"p50": statistics.median(msgs), "p99": pct(msgs, 0.99)}
        result["invoke_ms"] = {"p50": statistics.median(invs), "p99": pct(invs, 0.99)}
        add = result["message_ms"]["p50"] - result["invoke_ms"]["p50"]
        result["message_minus_invoke_p50_ms"] = add
        print("\n| | p50 ms | p99 ms |\n|---|---|---|")
        print("| WebSocket message | %.3f | %.3f |" % (result["message_ms"]["p50"],
                                                     result["message_ms"]["p99"]))
        print("| blocking invoke | %.3f | %.3f |" % (result["invoke_ms"]["p50"],
                                                   result["invoke_ms"]["p99"]))
        print("message p50 - invoke p50: %+.3f ms (target <= %.1f)" % (add, TARGET_ADD_MS))
        if add > TARGET_ADD_MS:
            failed.append("message p50 - invoke p50 %.3f ms > %.1f" % (add, TARGET_ADD_MS))
    if idle:
        print("\n%d idle connections (opened in %.1f s, %d container(s)): nginx workers "
              "%d -> %d KiB (%.0f B per connection), sidecars %d -> %d KiB (%.0f B per "
              "connection)" % (idle["connections"], idle["open_s"], idle["containers"],
                                idle["rss_kb_before"]["nginx"], idle["rss_kb_after"]["nginx"],
                                idle["bytes_per_connection"]["nginx"],
                                idle["rss_kb_before"]["sidecar"],
                                idle["rss_kb_after"]["sidecar"],
                                idle["bytes_per_connection"]["sidecar"]))
    return ib.report(out_path, result, failed)


if __name__ == "__main__":
    sys.exit(main())
