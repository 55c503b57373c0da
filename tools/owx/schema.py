"""schema.py: every Redis key and channel owx uses, the Python mirror of schema/ow_schema.h.

The C header is the one table (docs/redis-schema.md says what each key holds). Each of its
OW_KEY_<NAME> is here as <name>_key(...) when it takes arguments, else <NAME>_KEY; each
OW_CHANNEL_<NAME> as <NAME>_CHANNEL. tools/owx/schema_test.py checks both directions.
"""

import hashlib
import hmac
import secrets

# Keys of one namespace share the hash tag {ns}, so they live in one Redis Cluster slot.
# Auth keys and subjects carry no tag (single-key operations).

COLLECTIONS = ("actions", "packages", "triggers", "rules")

SUBJECTS_KEY = "owx:subjects"              # set of subject names
EVENTS_CHANNEL = "owx:events"              # pub/sub channel for entity changes
CACHE_PURGE_CHANNEL = "owx:cache:purge"    # "ns", "ns/path" or "*": gateways forget cached answers
ACTIVATION_RETENTION_DEFAULT = 7 * 24 * 3600  # seconds



def entity_key(ns, path):
    """owx:{ns}:e:<path>: hash coll, doc, sum, rev, code."""
    return "owx:{%s}:e:%s" % (ns, path)


def code_key(ns, attachment_id):
    """owx:{ns}:code:<id>: hash piece number -> 1 MiB of an action's code over 64 KiB
    (modules/engine/ow_code.h; the entity's exec.attachment names it)."""
    return "owx:{%s}:code:%s" % (ns, attachment_id)


def index_key(ns, coll):
    """owx:{ns}:i:<coll>: zset path by updated ms."""
    return "owx:{%s}:i:%s" % (ns, coll)


def pkg_index_key(ns, pkg):
    """owx:{ns}:p:<pkg>: zset action name by updated ms."""
    return "owx:{%s}:p:%s" % (ns, pkg)


def trigger_rules_key(ns, trigger):
    """owx:{ns}:r:<trigger>: hash rule fqn -> json."""
    return "owx:{%s}:r:%s" % (ns, trigger)


def limits_key(ns):
    """owx:{ns}:limits: string, JSON object of UserLimits overrides."""
    return "owx:{%s}:limits" % ns


def namespace_key(ns):
    """owx:{ns}:ns: hash subject, uuid."""
    return "owx:{%s}:ns" % ns


def version_key(ns):
    """owx:{ns}:ver: integer event version."""
    return "owx:{%s}:ver" % ns


def activation_key(ns, activation_id):
    """owx:{ns}:a:<id>: string activation JSON, with TTL."""
    return "owx:{%s}:a:%s" % (ns, activation_id)


def act_index_key(ns):
    """owx:{ns}:ai: zset activation id by start ms."""
    return "owx:{%s}:ai" % ns


def act_name_index_key(ns, name):
    """owx:{ns}:ai:<name>: zset activation id by start ms, per action name."""
    return "owx:{%s}:ai:%s" % (ns, name)


def rate_key(ns, minute):
    """owx:{ns}:rate:<epoch minute>: invocations admitted by all gateways (TTL 120 s)."""
    return "owx:{%s}:rate:%s" % (ns, minute)


def fires_key(ns, minute):
    """owx:{ns}:fires:<epoch minute>: trigger fires admitted (TTL 120 s, the fire script)."""
    return "owx:{%s}:fires:%s" % (ns, minute)


def inflight_key(ns):
    """owx:{ns}:inflight: hash gateway id -> "<in-flight>:<epoch s>" (namespace limits)."""
    return "owx:{%s}:inflight" % ns


def connections_key(ns):
    """owx:{ns}:connections: zset WebSocket connection id by expiry ms (the sidecars)."""
    return "owx:{%s}:connections" % ns


def connection_key(ns, connection_id):
    """owx:{ns}:conn:<id>: string JSON {connectionId, container, action, connectedAt}, PX."""
    return "owx:{%s}:conn:%s" % (ns, connection_id)


def apis_key(ns):
    """owx:{ns}:apis: hash basepath -> {"apidoc": swagger, "gwApiUrl"} (wsk api)."""
    return "owx:{%s}:apis" % ns


def routes_key(ns):
    """owx:{ns}:routes: hash "<basepath> <VERB> <relpath>" -> "<ns>/<pkg>/<action>.<ext>"."""
    return "owx:{%s}:routes" % ns


ROUTES_CHANNEL = "owx:routes:events"


def catalog_key(ns):
    """owx:{ns}:catalog: hash version, e:<path> -> updated ms as installed (tools/owx/catalog.py)."""
    return "owx:{%s}:catalog" % ns


WARM_KEY = "owx:{warm}"                  # hash container id -> JSON (pool-manager)
WARM_VERSION_KEY = "owx:{warm}:ver"      # integer
WARM_UNMARK_KEY = "owx:{warm}:unmark"    # hash container id -> ms: a gateway routed to it, marked
WARM_STARTED_KEY = "owx:{warm}:started"  # hash container id -> start ms (pool-manager)
WARM_CHANNEL = "owx:warm:events"         # pub/sub channel for warm-table changes
LEADER_KEY = "owx:{warm}:leader"        # "<token> <identity> <addr>", PX lease (pool-manager)
LEADER_TOKEN_KEY = "owx:{warm}:leader:token"  # integer fencing token

FIRE_QUEUE_KEY = "owx:{fire}:queue"            # list of rule invocations of fired triggers
FIRE_PROCESSING_KEY = "owx:{fire}:processing"  # list, jobs a pool-manager took


def auth_key(uuid):
    """owx:key:<uuid>: hash ns, subject, salt, hash, blocked."""
    return "owx:key:%s" % uuid


def subject_key(subject):
    """owx:subject:<subject>: hash blocked, namespaces."""
    return "owx:subject:%s" % subject


AUTH_PREFIX = auth_key("")


def glob_escape(text):
    """Escape Redis glob metacharacters so text matches literally in SCAN MATCH."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def namespace_pattern(ns, rest="*"):
    """SCAN MATCH pattern for keys of namespace ns: owx:{ns}:<rest>."""
    return "owx:{%s}:%s" % (glob_escape(ns), rest)


def new_salt():
    """16 random bytes, hex encoded."""
    return secrets.token_hex(16)


def hash_key(salt_hex, key):
    """Hex SHA-256 of "<salt>:<key>": what owx:key:<uuid> stores instead of the key."""
    return hashlib.sha256((salt_hex + ":" + key).encode()).hexdigest()


def verify_key(salt_hex, stored_hash, key):
    """Constant-time check of key against a stored salt and hash."""
    return hmac.compare_digest(hash_key(salt_hex, key), stored_hash)
