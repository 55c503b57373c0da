"""top.py: `ow-admin top`, a live view of the pool for operators.

Sources (each optional: what cannot be read is shown as "-", the rest still is):
  - Redis owx:{warm}: the warm table the gateways route by (containers, marked ones);
  - the pool-manager's GET /v1/containers (starting/warm/stopping, each container's last
    /health: in-flight and queued work) and GET /metrics (leader, stemcells, node fill);
    the control API wants the internal token (header X-OW-Token), read from --token-file
    (the local stack's: $OWX_HOME/secrets/internal-token), and every /metrics the metrics
    token (Authorization: Bearer), read from --metrics-token-file (the local stack's:
    $OWX_HOME/secrets/metrics-token);
  - a gateway's GET /metrics (parked requests, 429 retries, warm-table lag).
Refreshed every --interval seconds like top (Ctrl-C ends it); --once prints one frame."""

import json
import re
import sys
import time
import urllib.request

from owx import schema

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format → {(name, ((label, value), ...)): float}; comments skipped."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            continue
        labels = tuple(sorted((k, v.replace('\\"', '"').replace("\\n", "\n")
                               .replace("\\\\", "\\"))
                              for k, v in LABEL.findall(m.group(2) or "")))
        try:
            out[(m.group(1), labels)] = float(m.group(3))
        except ValueError:
            pass
    return out


def value(metrics, name, **labels):
    if metrics is None:
        return None
    return metrics.get((name, tuple(sorted(labels.items()))))


TOKEN_HEADER = "X-OW-Token"


def fetch(url, timeout, headers=None):
    """The body of GET url, or None (the view shows what it can: an error status too)."""
    try:
        req = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def gather(r, pool_url, gateway_url, timeout=2.0, token=None, metrics_token=None):
    """One snapshot of every source; token: the internal token, sent to the pool-manager's
    control API (without it, /v1/containers answers 401 and the containers show unknown);
    metrics_token: sent to both /metrics (without it they answer 401: shown as unknown)."""
    snap = {"warm": None, "containers": None, "pool_metrics": None, "gateway_metrics": None}
    try:
        snap["warm"] = [json.loads(v) for v in r.hvals(schema.WARM_KEY)]
    except Exception:   # Redis away or a bad entry: shown as unknown
        pass
    headers = {TOKEN_HEADER: token} if token else None
    body = fetch(pool_url.rstrip("/") + "/v1/containers", timeout, headers) if pool_url else None
    if body:
        try:
            snap["containers"] = json.loads(body)
        except ValueError:
            pass
    scrape = {"Authorization": "Bearer " + metrics_token} if metrics_token else None
    body = fetch(pool_url.rstrip("/") + "/metrics", timeout, scrape) if pool_url else None
    snap["pool_metrics"] = parse_metrics(body) if body else None
    body = fetch(gateway_url.rstrip("/") + "/metrics", timeout, scrape) if gateway_url else None
    snap["gateway_metrics"] = parse_metrics(body) if body else None
    return snap


def rows(snap):
    """Per action: warm (routable), marked, starting, in-flight, queued, concurrency."""
    acts = {}

    def row(action):
        return acts.setdefault(action, {"warm": 0, "marked": 0, "starting": 0, "inflight": 0,
                                        "queued": 0, "concurrency": 0})
    for e in snap["warm"] or []:
        a = row(e.get("action", "?"))
        a["marked" if e.get("marked") else "warm"] += 1
        a["concurrency"] = e.get("concurrency", 0)
    for c in (snap["containers"] or {}).get("containers", []):
        a = row(c.get("action", "?"))
        if c.get("state") == "starting":
            a["starting"] += 1
        h = c.get("health") or {}
        a["inflight"] += h.get("inflight", 0) or 0
        a["queued"] += h.get("queued", 0) or 0
        a["concurrency"] = a["concurrency"] or c.get("concurrency", 0)
    return acts


def fmt(v):
    if v is None:
        return "-"
    return str(int(v)) if float(v).is_integer() else "%.2f" % v


def render(snap, now=None):
    pm, gw = snap["pool_metrics"], snap["gateway_metrics"]
    lines = []
    stamp = time.strftime("%H:%M:%S", time.localtime(now if now is not None else time.time()))
    lines.append("owx top %s   gateway: parked %s, 429 retries %s, warm-table lag %s" % (
        stamp, fmt(value(gw, "owx_parked_requests")), fmt(value(gw, "owx_container_429_total")),
        fmt(value(gw, "owx_warm_event_lag"))))
    states = " ".join("%s %s" % (s, fmt(value(pm, "owx_pool_manager_containers", state=s)))
                      for s in ("starting", "warm", "marked", "stopping"))
    lines.append("pool-manager: leader %s, %s, stemcells ready %s" % (
        fmt(value(pm, "owx_pool_manager_leader")), states,
        fmt(value(pm, "owx_pool_manager_stemcells", state="ready"))))
    if snap["warm"] is None:
        lines.append("(warm table: Redis unreachable)")
    if snap["containers"] is None:
        lines.append("(containers: pool-manager control API unreachable or refused; "
                     "see --token-file)")
    lines.append("")
    lines.append("%-40s %6s %6s %8s %8s %6s %4s" % ("ACTION", "WARM", "MARKED", "STARTING",
                                                    "INFLIGHT", "QUEUED", "CONC"))
    acts = rows(snap)
    for action in sorted(acts, key=lambda a: (-(acts[a]["inflight"] + acts[a]["queued"]), a)):
        a = acts[action]
        lines.append("%-40s %6d %6d %8d %8d %6d %4d" % (
            action[:40], a["warm"], a["marked"], a["starting"], a["inflight"], a["queued"],
            a["concurrency"]))
    if not acts:
        lines.append("(no containers)")
    lines.append("")
    lines.append("%-20s %10s %16s %6s" % ("NODE", "CONTAINERS", "MEMORY MB", "FILL"))
    nodes = sorted({dict(k[1]).get("node") for k in (pm or {})
                    if k[0] == "owx_pool_manager_node_memory_mb"} - {None})
    for n in nodes:
        used = value(pm, "owx_pool_manager_node_memory_mb", node=n, which="used") or 0
        cap = value(pm, "owx_pool_manager_node_memory_mb", node=n, which="capacity") or 0
        count = value(pm, "owx_pool_manager_node_containers", node=n)
        lines.append("%-20s %10s %16s %5.1f%%" % (n[:20], fmt(count), "%d/%d" % (used, cap),
                                                   100.0 * used / cap if cap else 0.0))
    if not nodes:
        lines.append("(pool-manager metrics unreachable or refused; see --metrics-token-file)"
                     if pm is None else "(no nodes)")
    return "\n".join(lines) + "\n"


def run(r, args, token=None, metrics_token=None, out=None):
    """ow-admin top: one frame (--once) or a frame every --interval s until Ctrl-C. token: the
    control API's internal token, metrics_token: /metrics' Bearer (None: shown as unknown)."""
    out = out or sys.stdout   # looked up at call time (redirections, tests)
    try:
        while True:
            frame = render(gather(r, args.pool, args.gateway, token=token,
                                  metrics_token=metrics_token))
            if args.once:
                out.write(frame)
                return
            out.write("\x1b[H\x1b[2J" + frame)   # home + clear: redraw in place, like top
            out.flush()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return
