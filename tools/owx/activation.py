"""activation.py: the activation record and its reference writer.

The sidecar (a later issue) writes activation records; the management API
(modules/engine/ow_api_activations.c) only reads them. This module is the executable
specification of the write, used by the tests: whatever the sidecar writes must
be what write_activation() writes (docs/redis-schema.md, "Activation record").

One write, atomic (one Lua script, keys of one hash tag {ns}):

    owx:{ns}:a:<activationId>  SET <record json> PXAT <start + retention>
    owx:{ns}:ai                ZADD <start> <activationId>
    owx:{ns}:ai:<name>         ZADD <start> <activationId>
    both indexes               ZREMRANGEBYSCORE -inf (<now - retention>
                               PEXPIREAT <start + retention> when later

The record is the user-facing activation of openwhisk-api.md section 3
exactly (response = {status, success, result, size?}; no internal
statusCode): GET /activations/{id} returns it as stored, and list summaries
derive their top-level statusCode from response.status.

A record expires `retention` after its *start* (not after the write), so the
index score order is also the expiry order: dead index entries always form a
prefix of the index (oldest first), which the reader finds by binary search
until the next write trims them.
"""

import datetime
import json
import secrets
import time

from owx import schema

STATUS_TEXT = {
    0: "success",
    1: "application error",
    2: "action developer error",
    3: "whisk internal error",
}

DEFAULT_LIMITS = {"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1}

# KEYS: record, namespace index, name index
# ARGV: record json, start ms, activationId, retention ms
# -> 1 stored, 0 already expired (nothing stored; indexes still trimmed)
WRITE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local start = tonumber(ARGV[2])
local retention = tonumber(ARGV[4])
local floor = string.format('%d', now - retention)
local expire_at = string.format('%d', start + retention)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. floor)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. floor)
if start + retention <= now then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', expire_at) then
  return 2
end
for i = 2, 3 do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[3])
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 or now + ttl < start + retention then
    redis.call('PEXPIREAT', KEYS[i], expire_at)
  end
end
return 1
"""


def new_activation_id():
    """32 lowercase hex digits (a UUID without dashes)."""
    return secrets.token_hex(16)


def now_ms():
    return int(time.time() * 1000)


def annotation(record, key, default=None):
    for a in record.get("annotations") or []:
        if isinstance(a, dict) and a.get("key") == key:
            return a.get("value")
    return default


def index_name(record):
    """The per-name index of a record, as OpenWhisk's activations view computes it:
    "<binding package>/<name>" when run through a binding, "<pkg>/<name>" when the
    path annotation is ns/pkg/action, else "<name>"."""
    name = record["name"]
    binding = annotation(record, "binding")
    if isinstance(binding, str) and "/" in binding:
        return binding.split("/")[1] + "/" + name
    path = annotation(record, "path")
    if isinstance(path, str):
        parts = path.split("/")
        if len(parts) == 3:
            return parts[1] + "/" + name
    return name


def log_timestamp(ms, nanos=None):
    """RFC 3339 UTC with nanoseconds, as the invoker stamps log lines."""
    if nanos is None:
        nanos = secrets.randbelow(1000000)
    t = datetime.datetime.fromtimestamp(ms // 1000, tz=datetime.timezone.utc)
    return "%s.%03d%06dZ" % (t.strftime("%Y-%m-%dT%H:%M:%S"), ms % 1000, nanos)


def log_line(ms, stream, text):
    """One activation log line: "%-30s %s: %s" (timestamp, stdout|stderr, text)."""
    return "%-30s %s: %s" % (log_timestamp(ms), stream, text)


def make_record(ns, name, pkg=None, action_ns=None, subject=None, activation_id=None,
                start=None, duration=42, status_code=0, result=None, size=None,
                logs=None, kind="nodejs:20", limits=None, wait_time=66, init_time=None,
                timeout=False, cause=None, version="0.0.1", publish=False, binding=None,
                extra_annotations=None):
    """A realistic user-facing activation record (openwhisk-api.md section 3).

    ns: the invoker's namespace (where the record is stored); action_ns: the
    namespace of the action that ran (default ns); pkg: its package. duration=None
    makes a record without end/duration (a trigger activation). logs: strings (stdout)
    or (stream, text) pairs, stamped between start and end. Non-success results are
    wrapped as {"error": ...} unless already so.
    """
    if start is None:
        start = now_ms()
    action_ns = action_ns or ns
    path = "/".join([action_ns] + ([pkg] if pkg else []) + [name])
    if result is None:
        result = {} if status_code == 0 else {"error": "an error has occurred"}
    elif status_code != 0 and not (isinstance(result, dict) and "error" in result):
        result = {"error": result}

    response = {"status": STATUS_TEXT[status_code], "success": status_code == 0,
                "result": result}
    if size is not None:
        response["size"] = size

    annotations = [{"key": "path", "value": path},
                   {"key": "waitTime", "value": wait_time},
                   {"key": "kind", "value": kind},
                   {"key": "timeout", "value": bool(timeout)},
                   {"key": "limits", "value": dict(limits or DEFAULT_LIMITS)}]
    if init_time is not None:
        annotations.append({"key": "initTime", "value": init_time})
    if binding:
        annotations.append({"key": "binding", "value": binding})
    annotations += list(extra_annotations or [])

    end = start + duration if duration is not None else None
    lines = []
    for i, entry in enumerate(logs or []):
        stream, text = entry if isinstance(entry, (tuple, list)) else ("stdout", entry)
        lines.append(log_line(min(start + i, end if end is not None else start + i),
                              stream, text))

    record = {
        "namespace": ns,
        "name": name,
        "version": version,
        "publish": publish,
        "subject": subject or ns,
        "activationId": activation_id or new_activation_id(),
        "start": start,
    }
    if end is not None:
        record["end"] = end
        record["duration"] = duration
    if cause:
        record["cause"] = cause
    record["response"] = response
    record["logs"] = lines
    record["annotations"] = annotations
    return record


def write_activation(r, record, retention_s=schema.ACTIVATION_RETENTION_DEFAULT):
    """Store one activation record atomically (the sidecar's write).

    r: a redis-py client. The record is stored under its "namespace" (the invoker's).
    Returns True when stored, False when it was already past its retention or
    the activation already has a record: the first record of an id wins, so a
    retried write, a replayed journal or a reaper's "whisk internal error"
    never replaces the one stored.
    """
    ns = record["namespace"]
    aid = record["activationId"]
    if len(aid) != 32 or any(c not in "0123456789abcdef" for c in aid):
        raise ValueError("activationId must be 32 lowercase hex digits: %r" % aid)
    start = int(record["start"])
    script = r.register_script(WRITE_LUA)   # EVALSHA, the body once on NOSCRIPT
    keys = [schema.activation_key(ns, aid), schema.act_index_key(ns),
            schema.act_name_index_key(ns, index_name(record))]
    args = [json.dumps(record, separators=(",", ":")), start, aid, int(retention_s * 1000)]
    return script(keys=keys, args=args) == 1
