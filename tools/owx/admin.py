"""admin.py: ow-admin, the owx admin tool (like OpenWhisk's wskadmin) for subjects, keys, limits and inspection."""

import argparse
import json
import os
import re
import secrets
import string
import sys
import uuid as uuidlib

import redis

from owx import schema
from owx import top as top_view

DEFAULT_REDIS = "127.0.0.1:6379"
SOCKET_TIMEOUT = 5
HIDDEN_NOTE = "note: keys are stored hashed (salted SHA-256) and cannot be shown; create a new key to replace a lost one"

# OpenWhisk's development keys, provisioned by `init` for the local stack.
GUEST_KEY = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
SYSTEM_KEY = "789c46b1-71f6-4ed5-8c54-816aa4f8c502:abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

# OpenWhisk EntityName rule (ASCII \w): excludes the hash-tag braces and glob characters.
NAME_RE = re.compile(r"\A(\w|\w[\w@ .-]*[\w@.-]+)\Z", re.ASCII)
UUID_RE = re.compile(r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
SIZE_RE = re.compile(r"\A(\d+)\s*([KMG]?)B?\Z", re.IGNORECASE)
KEY_CHARS = string.ascii_letters + string.digits
INT_LIMITS = ("invocationsPerMinute", "firesPerMinute", "concurrentInvocations",
              "minActionMemory", "maxActionMemory", "minActionLogs", "maxActionLogs",
              "minActionTimeout", "maxActionTimeout", "minActionConcurrency",
              "maxActionConcurrency", "maxActionInstances", "maxContainers", "maxStreamBytes",
              "maxConnections", "maxMessageBytes", "connectionIdleSeconds")
MIN_MAX_PAIRS = ("ActionMemory", "ActionLogs", "ActionTimeout", "ActionConcurrency")


class AdminError(Exception):
    """A user-facing failure: printed to stderr, exit code 1."""


# ---------------------------------------------------------------- helpers

def read_secret(path, option):
    """The one line of a secret file (--redis-credentials, --token-file); the
    errors name the file, never its content."""
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError as e:
        raise AdminError("cannot read %s %s: %s" % (option, path, e.strerror))
    if not text or "\n" in text:
        raise AdminError("%s %s: expected one line" % (option, path))
    return text


def read_credentials(path):
    """(user, password) from a file holding one line "USER PASSWORD"."""
    parts = read_secret(path, "--redis-credentials").split()
    if len(parts) != 2:
        raise AdminError("--redis-credentials %s: expected one line \"USER PASSWORD\"" % path)
    return parts[0], parts[1]


def connect(spec, credentials=None):
    """Redis client for HOST:PORT, [v6]:PORT, unix:/path or a redis:// URL,
    as the ACL user of the credentials file when one is given."""
    opts = dict(socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT, decode_responses=True)
    if credentials:
        opts["username"], opts["password"] = read_credentials(credentials)
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return redis.Redis.from_url(spec, **opts)
    if spec.startswith("unix:"):
        opts.pop("socket_connect_timeout")
        return redis.Redis(unix_socket_path=spec[len("unix:"):], **opts)
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit():
        raise AdminError("invalid --redis %r: expected HOST:PORT or unix:/path" % spec)
    return redis.Redis(host=host.strip("[]") or "127.0.0.1", port=int(port), **opts)


def check_name(kind, name):
    """Reject subject/namespace names that OpenWhisk would reject (and that would break key patterns)."""
    if len(name) > 256 or not NAME_RE.match(name):
        raise AdminError("invalid %s name: %r" % (kind, name))
    return name


def parse_auth(auth):
    """Split and validate UUID:KEY."""
    uuid, sep, key = auth.partition(":")
    if not sep or not UUID_RE.match(uuid):
        raise AdminError("invalid auth key: expected UUID:KEY with a 36-character UUID")
    if len(key) != 64 or any(c.isspace() for c in key):
        raise AdminError("invalid auth key: the key part must be exactly 64 characters")
    return uuid.lower(), key


def generate_auth():
    """A fresh UUID:KEY: uuid4 plus 64 random alphanumerics."""
    return str(uuidlib.uuid4()), "".join(secrets.choice(KEY_CHARS) for _ in range(64))


def load_namespaces(raw):
    """The subject's namespaces list from its hash (empty when missing)."""
    return json.loads(raw.get("namespaces") or "[]") if raw else []


def get_subject(r, subject):
    """The subject hash, or AdminError when it does not exist."""
    raw = r.hgetall(schema.subject_key(subject))
    if not raw:
        raise AdminError("subject %r not found" % subject)
    return raw


def scan(r, pattern):
    """All keys matching pattern, via SCAN (never KEYS), sorted."""
    return sorted(set(r.scan_iter(match=pattern, count=500)))


def out(*parts):
    print(*parts)


# ---------------------------------------------------------------- user

# All writes of one create/delete/block go in a MULTI/EXEC transaction (WATCHing what was read).
# On Redis Cluster the subject, auth-key and namespace keys sit in different slots, so there the
# writes are not atomic; every admin write is per-key idempotent (a re-run rewrites the same
# values, and create accepts records it already left behind for the same subject), so a retry converges.

def add_namespace(r, subject, ns, uuid, key):
    """Create subject (if new) with namespace ns and key uuid:key, atomically on one Redis."""
    skey, nkey, akey = schema.subject_key(subject), schema.namespace_key(ns), schema.auth_key(uuid)

    def txn(pipe):
        raw = pipe.hgetall(skey)
        namespaces = load_namespaces(raw)
        if any(entry["name"] == ns for entry in namespaces):
            raise AdminError("Namespace already exists: subject %r already has namespace %r" % (subject, ns))
        owner = pipe.hget(nkey, "subject")
        if owner is not None and owner != subject:
            raise AdminError("namespace %r is owned by another subject" % ns)
        prior = pipe.hgetall(akey)
        if prior and (prior.get("subject"), prior.get("ns")) != (subject, ns):
            raise AdminError("uuid %s is already in use" % uuid)
        blocked = raw.get("blocked", "false") if raw else "false"
        salt = schema.new_salt()
        pipe.multi()
        pipe.hset(akey, mapping={"ns": ns, "subject": subject, "salt": salt,
                                 "hash": schema.hash_key(salt, key), "blocked": blocked})
        pipe.hset(nkey, mapping={"subject": subject, "uuid": uuid})
        pipe.hset(skey, mapping={"blocked": blocked,
                                 "namespaces": json.dumps(namespaces + [{"name": ns, "uuid": uuid}])})
        pipe.sadd(schema.SUBJECTS_KEY, subject)

    r.transaction(txn, skey, nkey, akey)


def user_create(r, args):
    subject = check_name("subject", args.subject)
    ns = check_name("namespace", args.namespace or subject)
    uuid, key = parse_auth(args.auth) if args.auth else generate_auth()
    if not args.namespace and r.exists(schema.subject_key(subject)):
        raise AdminError("subject %r already exists (use --namespace to add a namespace)" % subject)
    add_namespace(r, subject, ns, uuid, key)
    out("%s:%s" % (uuid, key))


def user_get(r, args):
    namespaces = load_namespaces(get_subject(r, args.subject))
    if args.namespace:
        shown = [e for e in namespaces if e["name"] == args.namespace]
        if not shown:
            raise AdminError("namespace %r not found for subject %r" % (args.namespace, args.subject))
    elif args.all:
        shown = namespaces
    else:
        shown = [e for e in namespaces if e["name"] == args.subject] or namespaces
    for entry in shown:
        out("%s %s:<hidden>" % (entry["name"], entry["uuid"]))
    out(HIDDEN_NOTE)


def purge(r, ns):
    """Delete every owx:{ns}:* key (entities, indexes, activations, limits...) using SCAN."""
    keys = scan(r, schema.namespace_pattern(ns))
    for i in range(0, len(keys), 500):
        r.delete(*keys[i:i + 500])
    return len(keys)


def user_delete(r, args):
    skey = schema.subject_key(args.subject)
    removed = []

    def txn(pipe):
        namespaces = load_namespaces(get_subject(pipe, args.subject))
        gone = [e for e in namespaces if not args.namespace or e["name"] == args.namespace]
        if args.namespace and not gone:
            raise AdminError("namespace %r not found for subject %r" % (args.namespace, args.subject))
        owners = {e["name"]: pipe.hget(schema.namespace_key(e["name"]), "subject") for e in gone}
        owned = [schema.namespace_key(n) for n, o in owners.items() if o == args.subject]
        pipe.multi()
        for entry in gone:
            pipe.delete(schema.auth_key(entry["uuid"]))
        if owned:
            pipe.delete(*owned)
        if args.namespace:
            pipe.hset(skey, "namespaces", json.dumps([e for e in namespaces if e not in gone]))
        else:
            pipe.delete(skey)
            pipe.srem(schema.SUBJECTS_KEY, args.subject)
        removed[:] = [n for n, o in owners.items() if o in (args.subject, None)]  # purge only our own

    r.transaction(txn, skey)
    for ns in removed:
        if args.purge:
            out("Purged %d keys of namespace %s" % (purge(r, ns), ns))
    out("Namespace deleted" if args.namespace else "Subject deleted")


def user_list(r, args):
    subjects = sorted(r.sscan_iter(schema.SUBJECTS_KEY, count=500))
    for subject in subjects[:args.limit] if args.limit else subjects:
        out(subject)


def set_blocked(r, subject, blocked):
    """Set blocked on the subject and every one of its key hashes."""
    skey, value = schema.subject_key(subject), "true" if blocked else "false"

    def txn(pipe):
        akeys = [schema.auth_key(e["uuid"]) for e in load_namespaces(get_subject(pipe, subject))]
        if akeys:
            pipe.watch(*akeys)
        existing = [k for k in akeys if pipe.exists(k)]  # never create a partial key hash
        pipe.multi()
        pipe.hset(skey, "blocked", value)
        for akey in existing:
            pipe.hset(akey, "blocked", value)

    r.transaction(txn, skey)


def user_block(r, args):
    set_blocked(r, args.subject, True)
    out("Subject %s blocked" % args.subject)


def user_unblock(r, args):
    set_blocked(r, args.subject, False)
    out("Subject %s unblocked" % args.subject)


def user_whoami(r, args):
    try:
        uuid, key = parse_auth(args.auth)
    except AdminError:
        raise AdminError("invalid key") from None
    record = r.hgetall(schema.auth_key(uuid))
    salt, stored = record.get("salt", ""), record.get("hash", "0" * 64)
    if not schema.verify_key(salt, stored, key) or not record:
        raise AdminError("invalid key")
    out("subject: %s" % record.get("subject"))
    out("namespace: %s" % record.get("ns"))
    out("blocked: %s" % record.get("blocked", "false"))


# ---------------------------------------------------------------- limits

def size_value(text):
    """Validate a byte size like 1048576, '512 KB', '1MB'; normalized to '<n> <unit>B'."""
    m = SIZE_RE.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError("invalid size %r (e.g. 1048576, '512 KB', '1 MB')" % text)
    return "%s %sB" % (m.group(1), m.group(2).upper())


def non_negative(text):
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an integer: %r" % text) from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0: %r" % text)
    return value


def check_min_max(limits):
    for pair in MIN_MAX_PAIRS:
        low, high = limits.get("min" + pair), limits.get("max" + pair)
        if low is not None and high is not None and low > high:
            raise AdminError("min%s (%d) is greater than max%s (%d)" % (pair, low, pair, high))


def limits_set(r, args):
    ns = check_name("namespace", args.namespace)
    changes = {k: getattr(args, k) for k in INT_LIMITS + ("maxParameterSize",) if getattr(args, k) is not None}
    if not changes:
        raise AdminError("no limits given (see ow-admin limits set --help)")
    lkey, merged = schema.limits_key(ns), {}

    def txn(pipe):
        merged.clear()
        merged.update(json.loads(pipe.get(lkey) or "{}"))
        merged.update(changes)
        check_min_max(merged)
        pipe.multi()
        pipe.set(lkey, json.dumps(merged, sort_keys=True))

    r.transaction(txn, lkey)
    out("Limits updated: %s" % json.dumps(merged, sort_keys=True))


def limits_get(r, args):
    raw = r.get(schema.limits_key(args.namespace))
    if raw is None:
        out("No limits found, default system limits apply")
    else:
        out(json.dumps(json.loads(raw), sort_keys=True))


def limits_delete(r, args):
    if not r.delete(schema.limits_key(args.namespace)):
        raise AdminError("no limits found for namespace %r" % args.namespace)
    out("Limits deleted")


# ---------------------------------------------------------------- db / inspect

def jsonish(text):
    """Parse text as JSON when it is JSON, else keep the string."""
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return text


def read_value(r, key):
    """A key's value as a JSON-able object (None when missing); auth salt/hash are never returned."""
    kind = r.type(key)
    if kind == "string":
        return jsonish(r.get(key))
    if kind == "hash":
        value = r.hgetall(key)
        if key.startswith(schema.AUTH_PREFIX):
            value = {k: v for k, v in value.items() if k not in ("salt", "hash")}
        return value
    if kind == "zset":
        return [[m, int(s) if s.is_integer() else s] for m, s in r.zrange(key, 0, -1, withscores=True)]
    if kind == "set":
        return sorted(r.smembers(key))
    if kind == "list":
        return r.lrange(key, 0, -1)
    return None if kind == "none" else "<%s>" % kind


def db_get(r, args):
    if any(c in args.key for c in "*?["):
        for key in scan(r, args.key):
            out(key, json.dumps(read_value(r, key), sort_keys=True))
        return
    value = read_value(r, args.key)
    if value is None:
        raise AdminError("key %r not found" % args.key)
    out(json.dumps(value, sort_keys=True))


def cache_purge(r, args):
    """Every gateway forgets the cached answers of an action ("ns/[pkg/]name"), of a
    namespace ("ns": its actions, and every invocation from it) or all of them ("*")."""
    target = args.target
    if target != "*":
        parts = target.split("/")
        if not 1 <= len(parts) <= 3:
            raise AdminError("expected NAMESPACE, NAMESPACE/ACTION or NAMESPACE/PACKAGE/ACTION")
        for part in parts:
            check_name("name", part)
    gateways = r.publish(schema.CACHE_PURGE_CHANNEL, target)
    # each gateway worker subscribes on its own
    out("purged %s (%d gateway workers listening)" % (target, gateways))


def inspect_namespaces(r, args):
    head, tail = schema.namespace_key("\0").split("\0")
    pattern = re.compile(r"\A%s([^{}]*)%s\Z" % (re.escape(head), re.escape(tail)))
    for key in scan(r, schema.namespace_key("*")):
        m = pattern.match(key)
        if m:
            out(m.group(1), r.hget(key, "subject") or "-")


def inspect_entities(r, args):
    prefix = schema.entity_key(args.namespace, "")
    keys = scan(r, schema.namespace_pattern(args.namespace, "e:*"))
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    for key, entity in zip(keys, pipe.execute()):
        if args.collection and entity.get("coll") != args.collection:
            continue
        rev = entity.get("rev")
        out(json.dumps({"coll": entity.get("coll"), "path": key[len(prefix):],
                        "rev": int(rev) if rev and rev.isdigit() else rev,
                        "doc": jsonish(entity.get("doc"))}, sort_keys=True))


def inspect_keys(r, args):
    rows = []
    for key in scan(r, schema.auth_key("*")):
        rec = r.hmget(key, "subject", "ns", "blocked")  # never salt or hash
        rows.append((rec[0] or "-", rec[1] or "-", key[len(schema.AUTH_PREFIX):], rec[2] or "false"))
    for subject, ns, uuid, blocked in sorted(rows):
        out(uuid, subject, ns, blocked)


def inspect_activations(r, args):
    for aid in r.zrevrange(schema.act_index_key(args.namespace), 0, args.limit - 1):
        out(aid)


# ---------------------------------------------------------------- init

def init(r, args):
    created = []
    for subject, auth in (("guest", args.guest_key), ("whisk.system", args.system_key)):
        if r.exists(schema.subject_key(subject)):
            continue
        uuid, key = parse_auth(auth)
        add_namespace(r, subject, subject, uuid, key)
        created.append(subject)
    for subject in created:
        out("created subject %s (namespace %s)" % (subject, subject))
    if not created:
        out("already provisioned")


def catalog_install(r, args):
    from owx import catalog
    try:
        catalog.install(r, args.apihost, args.auth, force=args.force, log=out)
    except (OSError, RuntimeError) as e:
        raise AdminError(str(e))


# ---------------------------------------------------------------- CLI

def top_frames(r, args, out=None):
    """ow-admin top (tools/owx/top.py), with the tokens its sources want."""
    token = read_secret(args.token_file, "--token-file") if args.token_file else None
    metrics_token = (read_secret(args.metrics_token_file, "--metrics-token-file")
                     if args.metrics_token_file else None)
    top_view.run(r, args, token=token, metrics_token=metrics_token, out=out)


def add_limit_options(p):
    units = {"Memory": "MB", "Logs": "MB", "Timeout": "ms", "Concurrency": "activations per container"}
    for name in INT_LIMITS:
        unit = next((u for k, u in units.items() if name.endswith("Action" + k)), None)
        if name == "maxContainers":
            # the pool-manager's cap (--max-containers-per-namespace) for this namespace
            unit = "starting + warm containers; idle ones are evicted to make room"
        if name == "maxStreamBytes":
            # read by a streaming web action's sidecar when it starts (docs/streams.md)
            unit = "bytes of a streaming web action's request body; default 8 GiB"
        # read by a WebSocket web action's sidecar when it starts (docs/websockets.md)
        if name == "maxConnections":
            unit = "open WebSocket connections of the namespace; default 1000"
        if name == "maxMessageBytes":
            unit = "bytes of one WebSocket message; default 1048576"
        if name == "connectionIdleSeconds":
            unit = "a WebSocket connection without messages is closed after; default 600"
        help_text = "%s override (integer >= 0%s)" % (name, ", " + unit if unit else "")
        p.add_argument("--" + name, type=non_negative, metavar="N", help=help_text)
    p.add_argument("--maxParameterSize", type=size_value, metavar="S",
                   help="maximum size of action/package parameters, e.g. 1048576, '512 KB', '1 MB'")


def build_parser():
    parser = argparse.ArgumentParser(prog="ow-admin", description="owx admin tool (like OpenWhisk's wskadmin)")
    parser.add_argument("--redis", default=os.environ.get("OWX_REDIS") or DEFAULT_REDIS,
                        help="Redis as HOST:PORT or unix:/path (default: $OWX_REDIS or %s)" % DEFAULT_REDIS)
    parser.add_argument("--redis-credentials", metavar="FILE",
                        default=os.environ.get("OWX_REDIS_CREDENTIALS"),
                        help="file with one line \"USER PASSWORD\", a Redis ACL user (the local "
                             "stack's: $OWX_HOME/secrets/redis-admin; default: "
                             "$OWX_REDIS_CREDENTIALS, else none)")
    top = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)

    def command(sub, name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    user = top.add_parser("user", help="manage subjects, namespaces and keys").add_subparsers(
        dest="cmd", metavar="COMMAND", required=True)
    p = command(user, "create", user_create, "create a subject (or add a namespace to one); prints its key")
    p.add_argument("subject", help="subject name")
    p.add_argument("--namespace", "-ns", help="namespace to create (default: the subject name)")
    p.add_argument("--auth", "-u", help="use this UUID:KEY instead of generating one")
    p = command(user, "get", user_get, "show a subject's namespaces and key UUIDs (keys are stored hashed)")
    p.add_argument("subject", help="subject name")
    p.add_argument("--namespace", "-ns", help="show only this namespace")
    p.add_argument("--all", "-a", action="store_true", help="show all namespaces of the subject")
    p = command(user, "delete", user_delete, "delete a subject, or one namespace of it")
    p.add_argument("subject", help="subject name")
    p.add_argument("--namespace", "-ns", help="delete only this namespace of the subject")
    p.add_argument("--purge", action="store_true",
                   help="also delete all %s keys (entities, activations...)" % schema.namespace_pattern("NS"))
    p = command(user, "list", user_list, "list subjects, sorted")
    p.add_argument("--limit", "-l", type=non_negative, default=0, help="list at most N subjects (0: all)")
    for name, func in (("block", user_block), ("unblock", user_unblock)):
        p = command(user, name, func, "%s a subject and all its keys" % name)
        p.add_argument("subject", help="subject name")
    p = command(user, "whoami", user_whoami, "verify a key and show its subject and namespace")
    p.add_argument("auth", help="the key as UUID:KEY")

    limits = top.add_parser("limits", help="manage per-namespace limits").add_subparsers(
        dest="cmd", metavar="COMMAND", required=True)
    p = command(limits, "set", limits_set, "merge limit overrides into a namespace's limits")
    p.add_argument("namespace", help="namespace name")
    add_limit_options(p)
    for name, func, text in (("get", limits_get, "show a namespace's limit overrides"),
                             ("delete", limits_delete, "remove a namespace's limit overrides")):
        command(limits, name, func, text).add_argument("namespace", help="namespace name")

    db = top.add_parser("db", help="raw key access").add_subparsers(dest="cmd", metavar="COMMAND", required=True)
    p = command(db, "get", db_get, "print a key's value as JSON, or every key matching a glob pattern")
    p.add_argument("key", help="a key or a glob pattern (searched with SCAN)")

    insp = top.add_parser("inspect", help="inspect stored data").add_subparsers(
        dest="cmd", metavar="COMMAND", required=True)
    command(insp, "namespaces", inspect_namespaces, "list namespaces and their subjects")
    p = command(insp, "entities", inspect_entities, "list entities of a namespace as JSON lines")
    p.add_argument("namespace", help="namespace name")
    p.add_argument("--collection", "-c", choices=schema.COLLECTIONS, help="only this collection")
    command(insp, "keys", inspect_keys, "list auth keys as: uuid subject namespace blocked")
    p = command(insp, "activations", inspect_activations, "list activation ids of a namespace, newest first")
    p.add_argument("namespace", help="namespace name")
    p.add_argument("--limit", "-l", type=non_negative, default=30, help="at most N ids (default 30)")

    cache = top.add_parser("cache", help="the gateways' response cache").add_subparsers(
        dest="cmd", metavar="COMMAND", required=True)
    p = command(cache, "purge", cache_purge,
                "every gateway forgets the cached answers of an action, a namespace or all ('*')")
    p.add_argument("target", help="NAMESPACE, NAMESPACE/[PACKAGE/]ACTION or '*'")

    p = command(top, "init", init, "provision the guest and whisk.system subjects unless they exist")
    p.add_argument("--guest-key", default=GUEST_KEY, help="UUID:KEY for guest (default: OpenWhisk dev key)")
    p.add_argument("--system-key", default=SYSTEM_KEY, help="UUID:KEY for whisk.system (default: OpenWhisk dev key)")

    cat = top.add_parser("catalog", help="system packages (whisk.system/utils)").add_subparsers(
        dest="cmd", metavar="COMMAND", required=True)
    p = command(cat, "install", catalog_install,
                "install catalog/catalog.json through the API unless its version is installed; "
                "entities changed by users are kept")
    p.add_argument("--apihost", default=os.environ.get("OWX_APIHOST", "http://127.0.0.1:3233"),
                   help="the owx API URL (default: $OWX_APIHOST or http://127.0.0.1:3233)")
    p.add_argument("--auth", default=SYSTEM_KEY, help="whisk.system's UUID:KEY (default: OpenWhisk dev key)")
    p.add_argument("--force", action="store_true", help="install even when the version is current")

    p = command(top, "top", top_frames,
                "live view: per action warm/marked/starting containers, in-flight and queued "
                "work; per node the fill (Redis + pool-manager + gateway metrics)")
    p.add_argument("--pool", default="http://127.0.0.1:%s" % os.environ.get("OWX_POOL_PORT", "3235"),
                   help="pool-manager control API URL (default http://127.0.0.1:$OWX_POOL_PORT)")
    p.add_argument("--token-file", metavar="FILE", default=os.environ.get("OWX_TOKEN_FILE"),
                   help="file holding the internal token the pool-manager's control API "
                        "wants (the local stack's: $OWX_HOME/secrets/internal-token; default: "
                        "$OWX_TOKEN_FILE, else none: the containers show as unknown)")
    p.add_argument("--metrics-token-file", metavar="FILE",
                   default=os.environ.get("OWX_METRICS_TOKEN_FILE"),
                   help="file holding the metrics token every /metrics wants as Bearer (the "
                        "local stack's: $OWX_HOME/secrets/metrics-token; default: "
                        "$OWX_METRICS_TOKEN_FILE, else none: the metrics show as unknown)")
    p.add_argument("--gateway", default=os.environ.get("OWX_APIHOST", "http://127.0.0.1:3233"),
                   help="gateway URL whose /metrics is read (default $OWX_APIHOST)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between frames (default 2)")
    p.add_argument("--once", action="store_true", help="print one frame and exit (scripts, tests)")
    return parser


def main(argv=None):
    """Run ow-admin with argv (default sys.argv[1:]); returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return e.code or 0
    try:
        args.func(connect(args.redis, args.redis_credentials), args)
    except AdminError as e:
        print("ow-admin: error: %s" % e, file=sys.stderr)
        return 1
    except redis.RedisError as e:
        print("ow-admin: error: redis %s: %s" % (args.redis, e), file=sys.stderr)
        return 1
    return 0
