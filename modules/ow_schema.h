/*
 * ow_schema.h: every Redis key pattern owx uses (see docs/redis-schema.md).
 * tools/owx/schema.py lists the same patterns for the Python tools.
 *
 * Keys of one namespace share the hash tag {ns}, so a Lua script that
 * touches them stays in one Redis Cluster slot.
 */

#ifndef OW_SCHEMA_H
#define OW_SCHEMA_H

/* printf formats; first %s is always the namespace */
#define OW_KEY_ENTITY          "owx:{%s}:e:%s"     /* hash coll doc rev */
#define OW_KEY_INDEX           "owx:{%s}:i:%s"     /* zset path by updated */
#define OW_KEY_PKG_INDEX       "owx:{%s}:p:%s"     /* zset name by updated */
#define OW_KEY_TRIGGER_RULES   "owx:{%s}:r:%s"     /* hash rule fqn -> json */
#define OW_KEY_LIMITS          "owx:{%s}:limits"   /* string json */
#define OW_KEY_NAMESPACE       "owx:{%s}:ns"       /* hash subject uuid */
#define OW_KEY_VERSION         "owx:{%s}:ver"      /* integer */
#define OW_KEY_ACTIVATION      "owx:{%s}:a:%s"     /* string json, TTL */
#define OW_KEY_ACT_INDEX       "owx:{%s}:ai"       /* zset id by start */
#define OW_KEY_ACT_NAME_INDEX  "owx:{%s}:ai:%s"    /* zset id by start */

#define OW_KEY_RATE            "owx:{%s}:rate:%s"  /* integer, TTL 120 s */
#define OW_KEY_FIRES           "owx:{%s}:fires:%s" /* integer, TTL 120 s */
#define OW_KEY_INFLIGHT        "owx:{%s}:inflight" /* hash gateway -> n:s */

/* API routes (ow_routes.h): basepath -> {"apidoc","gwApiUrl"}, routes */
#define OW_KEY_APIS            "owx:{%s}:apis"     /* hash basepath -> json */
#define OW_KEY_ROUTES          "owx:{%s}:routes"   /* hash route -> target */
#define OW_CHANNEL_ROUTES      "owx:routes:events" /* message: namespace */

/* system packages installed (tools/owx/catalog.py; C does not read it) */
#define OW_KEY_CATALOG         "owx:{%s}:catalog"  /* hash version e:path */

/* the warm-container table: ow_warm.h (OW_WARM_KEY, OW_WARM_VERSION_KEY) */

#define OW_KEY_AUTH            "owx:key:%s"        /* hash ns subject salt
                                                      hash blocked */
#define OW_KEY_SUBJECT         "owx:subject:%s"    /* hash blocked
                                                      namespaces */
#define OW_KEY_SUBJECTS        "owx:subjects"      /* set */

#define OW_CHANNEL_EVENTS      "owx:events"

/*
 * How an activation record is written (one EVAL; tools/owx/activation.py's
 * WRITE_LUA byte for byte, pinned by libow/activation_store_test.cc): used
 * by the sidecar and pool-manager (libow/activation_store.cc) and by the
 * gateway for sequence records (ow_compose.c).
 * KEYS: record, namespace index, name index
 * ARGV: record json, start ms, activationId, retention ms
 * -> 1 stored, 0 past its retention, 2 the id has a record already (the
 * first record of an activation wins: writes are retried and journals
 * replayed, and a reaper's stand-in never replaces the real record)
 */
#define OW_LUA_WRITE_ACTIVATION                                               \
    "\n" \
    "local t = redis.call('TIME')\n" \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n" \
    "local start = tonumber(ARGV[2])\n" \
    "local retention = tonumber(ARGV[4])\n" \
    "local floor = string.format('%d', now - retention)\n" \
    "local expire_at = string.format('%d', start + retention)\n" \
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. floor)\n" \
    "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. floor)\n" \
    "if start + retention <= now then return 0 end\n" \
    "if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', expire_at) then\n" \
    "  return 2\n" \
    "end\n" \
    "for i = 2, 3 do\n" \
    "  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[3])\n" \
    "  local ttl = redis.call('PTTL', KEYS[i])\n" \
    "  if ttl < 0 or now + ttl < start + retention then\n" \
    "    redis.call('PEXPIREAT', KEYS[i], expire_at)\n" \
    "  end\n" \
    "end\n" \
    "return 1\n"

/* activation records expire after this many seconds unless configured */
#define OW_ACTIVATION_RETENTION_DEFAULT  (7 * 24 * 3600)

#endif /* OW_SCHEMA_H */
