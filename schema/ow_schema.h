/*
 * ow_schema.h: every Redis key, channel and shared Lua script owx uses, in
 * one place (docs/redis-schema.md says what each holds). Pure C macros: the
 * nginx modules, the engine, libow and the C++ daemons include this file;
 * tools/owx/schema.py mirrors it for the Python tools, and
 * tools/owx/schema_test.py fails when the two differ or one of them has a
 * name the other lacks. Nothing else spells a key or channel.
 *
 * Keys of one namespace share the hash tag {ns}, so a Lua script that
 * touches them stays in one Redis Cluster slot; the warm table's keys share
 * {warm} and the fire queue's {fire} for the same reason.
 */

#ifndef OW_SCHEMA_H
#define OW_SCHEMA_H

/* printf formats; first %s is always the namespace */
#define OW_KEY_ENTITY          "owx:{%s}:e:%s"     /* hash coll doc rev sum
                                                      code (ow_code.h) */
#define OW_KEY_CODE            "owx:{%s}:code:%s"  /* hash piece -> bytes */
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

/* WebSocket connections at web action URLs (docs/websockets.md): the
   sidecar that holds one registers it, refreshes it while open, drops it at
   close; the REST API reads it to find the container */
#define OW_KEY_CONNECTIONS     "owx:{%s}:connections" /* zset id by expiry */
#define OW_KEY_CONNECTION      "owx:{%s}:conn:%s"  /* string json, PX */

/* API routes (ow_routes.h): basepath -> {"apidoc","gwApiUrl"}, routes */
#define OW_KEY_APIS            "owx:{%s}:apis"     /* hash basepath -> json */
#define OW_KEY_ROUTES          "owx:{%s}:routes"   /* hash route -> target */
#define OW_CHANNEL_ROUTES      "owx:routes:events" /* message: namespace */

/* system packages installed (tools/owx/catalog.py; C does not read it) */
#define OW_KEY_CATALOG         "owx:{%s}:catalog"  /* hash version e:path */

#define OW_KEY_AUTH            "owx:key:%s"        /* hash ns subject salt
                                                      hash blocked */

/*
 * subjects and their namespaces: ow-admin's (tools/owx/admin.py); C reads
 * neither these nor OW_KEY_NAMESPACE
 */
#define OW_KEY_SUBJECT         "owx:subject:%s"    /* hash blocked
                                                      namespaces */
#define OW_KEY_SUBJECTS        "owx:subjects"      /* set */

#define OW_CHANNEL_EVENTS      "owx:events"         /* message: entity change */
/* the response cache: "ns", "ns/path" or "*" to forget (ow-admin cache
   purge; modules/gateway/ngx_http_ow_cache_module.c) */
#define OW_CHANNEL_CACHE_PURGE "owx:cache:purge"

/*
 * The warm-container table: written by the pool-manager's leader
 * (pool-manager/warm_table.h), mirrored by every gateway in shared memory
 * (modules/engine/ow_warm.h).
 */
#define OW_KEY_WARM            "owx:{warm}"         /* hash id -> entry json */
#define OW_KEY_WARM_VERSION    "owx:{warm}:ver"     /* integer */
#define OW_KEY_WARM_UNMARK     "owx:{warm}:unmark"  /* hash id -> ms: a
                                                       gateway routed to a
                                                       marked container */
#define OW_KEY_WARM_STARTED    "owx:{warm}:started" /* hash id -> start ms */
#define OW_KEY_LEADER          "owx:{warm}:leader"  /* "<token> <identity>
                                                       <addr>", PX lease */
#define OW_KEY_LEADER_TOKEN    "owx:{warm}:leader:token" /* fencing, INCR */
#define OW_CHANNEL_WARM        "owx:warm:events"    /* message: table change */

/*
 * The trigger fire queue: the gateway's fire script pushes, the
 * pool-manager (pool-manager/control/fire_consumer.h) moves a job to processing
 * while it delivers it.
 */
#define OW_KEY_FIRE_QUEUE      "owx:{fire}:queue"      /* list of job json */
#define OW_KEY_FIRE_PROCESSING "owx:{fire}:processing" /* list, as above */

/*
 * OW_KEY_ENTITY built inside a Lua script from two Lua expressions, for a
 * script that follows references to entities it was not given as keys.
 */
#define OW_LUA_KEY_ENTITY(ns, path)                                           \
    "'owx:{' .. " ns " .. '}:e:' .. " path

/*
 * Lua scripts: each exists once, beside its only user, and spells keys and
 * channels with the macros above; a script with more than one user lives
 * here.
 *   modules/engine/ow_scripts.c     put, code_piece, get, del, list
 *   modules/engine/ow_api_*.c       the management API's other steps
 *                                   (packages, rules, routes, fire, sequences)
 *   modules/gateway/ngx_http_ow_limit_module.c   the namespace limits sync
 *   pool-manager/warm_table.cc      warm-table change, sync, sweep, unmarks
 *   pool-manager/leadership/redis_lease.cc  the leader's lease
 *   modules/engine/ow_compose.c     a batch of one action's records (the
 *                                   response cache's hits)
 *   OW_LUA_WRITE_ACTIVATION below   an activation record: the gateway
 *                                   (ow_compose.c), libow (the sidecar, the
 *                                   pool-manager) and tools/owx/activation.py
 */

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

/*
 * Records of one namespace and one name, written as OW_LUA_WRITE_ACTIVATION
 * writes each (the same keys, the first record of an id wins, none past
 * its retention), but the indexes trimmed, added to and given their expiry
 * once for the batch: a record costs Redis one SET and its share of two
 * ZADDs, not eight calls and a script run. Used by the gateway's record
 * batches (ow_compose.c) and the sidecar's record writer.
 * KEYS: namespace index, name index, then each record's key
 * ARGV: retention ms, then per record: record json, start ms, activationId
 * -> the number stored
 */
#define OW_LUA_WRITE_ACTIVATIONS                                              \
    "local t = redis.call('TIME')\n"                                           \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n" \
    "local retention = tonumber(ARGV[1])\n"                                    \
    "local floor = string.format('%d', now - retention)\n"                    \
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. floor)\n"         \
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. floor)\n"         \
    "local members, last = {}, 0\n"                                           \
    "for i = 3, #KEYS do\n"                                                   \
    "  local a = 2 + (i - 3) * 3\n"                                           \
    "  local start = tonumber(ARGV[a + 1])\n"                                 \
    "  if start + retention > now and redis.call('SET', KEYS[i], ARGV[a],\n"  \
    "      'NX', 'PXAT', string.format('%d', start + retention)) then\n"      \
    "    members[#members + 1] = ARGV[a + 1]\n"                               \
    "    members[#members + 1] = ARGV[a + 2]\n"                               \
    "    if start > last then last = start end\n"                             \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "if #members == 0 then return 0 end\n"                                    \
    "local expire_at = last + retention\n"                                    \
    "for i = 1, 2 do\n"                                                       \
    "  redis.call('ZADD', KEYS[i], unpack(members))\n"                        \
    "  local ttl = redis.call('PTTL', KEYS[i])\n"                             \
    "  if ttl < 0 or now + ttl < expire_at then\n"                            \
    "    redis.call('PEXPIREAT', KEYS[i], string.format('%d', expire_at))\n"  \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "return #members / 2\n"

/* activation records expire after this many seconds unless configured */
#define OW_ACTIVATION_RETENTION_DEFAULT  (7 * 24 * 3600)

#endif /* OW_SCHEMA_H */
