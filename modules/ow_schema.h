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

/* activation records expire after this many seconds unless configured */
#define OW_ACTIVATION_RETENTION_DEFAULT  (7 * 24 * 3600)

#endif /* OW_SCHEMA_H */
