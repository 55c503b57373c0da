/*
 * ngx_http_ow_limit_module.c: namespace limits on invocations
 * (invocationsPerMinute, concurrentInvocations; openwhisk-api.md §5, §6),
 * across gateway replicas, without a Redis round trip per request.
 *
 * Each gateway admits locally from shared memory: a namespace's count for
 * the current minute is what all gateways had reported at the last sync plus
 * what this gateway admitted since; its concurrent count is the other
 * gateways' in-flight total at the last sync plus this gateway's own. Once
 * a second (ow_limit_sync) one worker sends, per active namespace, one Lua
 * script: add this gateway's unsent admissions to the minute's counter,
 * record its in-flight count, and read back the totals and the namespace's
 * limit overrides (ow-admin limits set). So between two syncs every gateway
 * may admit up to the remaining allowance on its own: with R replicas, up
 * to R times the remainder can be admitted in one interval (over-admission
 * bounded by R x what arrives in one second), and a new override takes
 * effect within a second.
 *
 * A namespace this gateway has not synced yet (its first requests here, e.g.
 * after a start) has unknown overrides: it is admitted without limits until
 * its first sync, for at most NGX_HTTP_OW_LIMIT_UNKNOWN_MS, rather than
 * refused at the system defaults a raised namespace may be far above (a
 * burst of its requests in that second would get 429s it is entitled not to
 * get). Without Redis the defaults apply after that.
 *
 * The minute a request counts in is read from the gateway's clock plus
 * ow_limit_clock_offset (0 but in tests, which move it to the start of a
 * fresh minute with a reload instead of waiting for one). Every gateway
 * sharing a Redis must have the same offset: they count into the same
 * owx:{ns}:rate:<minute> keys only if they agree on the minute.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ow_limits.h"
#include "ow_schema.h"
#include "ngx_http_ow_http.h"
#include "ngx_http_ow_auth.h"
#include "ngx_http_ow_limit.h"
#include "ngx_http_ow_metrics.h"
#include "ngx_http_ow_redis.h"
#include "ngx_http_ow_shm.h"

#define NGX_HTTP_OW_LIMIT_UNKNOWN_MS  5000

#define NGX_HTTP_OW_LIMIT_NS_MAX  256

typedef struct {
    ngx_rbtree_t                  rbtree;
    ngx_rbtree_node_t             sentinel;
    ngx_queue_t                   lru;
    ngx_msec_t                    last_sync;
    ngx_uint_t                    syncing;
    u_char                        gateway[33];  /* this gateway's id */
} ngx_http_ow_limit_shctx_t;

typedef struct {
    ngx_rbtree_node_t             node;         /* key: crc32 of ns */
    ngx_queue_t                   queue;
    time_t                        minute;       /* epoch minute counted */
    ngx_int_t                     global;       /* all gateways, at sync */
    ngx_int_t                     unsent;       /* admitted since sync */
    ngx_int_t                     sending;      /* in the current sync */
    ngx_int_t                     inflight;     /* this gateway's */
    ngx_int_t                     others;       /* other gateways' */
    ngx_int_t                     per_minute;   /* limits */
    ngx_int_t                     concurrent;
    ngx_msec_t                    used;
    ngx_msec_t                    created;
    ngx_uint_t                    synced;       /* limits read once */
    u_short                       len;
    u_char                        ns[1];
} ngx_http_ow_limit_node_t;

typedef struct {
    ngx_http_ow_limit_shctx_t    *sh;
    ngx_slab_pool_t              *shpool;
    ngx_msec_t                    sync;
} ngx_http_ow_limit_zone_t;

typedef struct {
    ngx_shm_zone_t               *zone;
    ngx_msec_t                    sync;
    time_t                        clock_offset;
} ngx_http_ow_limit_main_conf_t;

typedef struct {
    ngx_flag_t                    enable;
    /* whose limits: this value, else the caller's (ow_limit_namespace) */
    ngx_http_complex_value_t     *ns;
} ngx_http_ow_limit_loc_conf_t;

typedef struct {
    ngx_str_t                     ns;
    ngx_uint_t                    counted;
} ngx_http_ow_limit_ctx_t;

static ngx_int_t ngx_http_ow_limit_init(ngx_conf_t *cf);
static void *ngx_http_ow_limit_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ow_limit_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ow_limit_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ow_limit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ow_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ow_limit_init_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_ow_limit_header_filter(ngx_http_request_t *r);

static ngx_http_output_header_filter_pt  ngx_http_ow_limit_next_header;

static ngx_command_t  ngx_http_ow_limit_commands[] = {

    { ngx_string("ow_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_ow_limit_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ow_limit_sync"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ow_limit_main_conf_t, sync),
      NULL },

    { ngx_string("ow_limit_clock_offset"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ow_limit_main_conf_t, clock_offset),
      NULL },

    { ngx_string("ow_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ow_limit_loc_conf_t, enable),
      NULL },

    { ngx_string("ow_limit_namespace"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ow_limit_loc_conf_t, ns),
      NULL },

      ngx_null_command
};

static ngx_http_module_t  ngx_http_ow_limit_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_ow_limit_init,                /* postconfiguration */
    ngx_http_ow_limit_create_main_conf,    /* create main configuration */
    ngx_http_ow_limit_init_main_conf,      /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_ow_limit_create_loc_conf,     /* create location configuration */
    ngx_http_ow_limit_merge_loc_conf       /* merge location configuration */
};

ngx_module_t  ngx_http_ow_limit_module = {
    NGX_MODULE_V1,
    &ngx_http_ow_limit_module_ctx,         /* module context */
    ngx_http_ow_limit_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ow_limit_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};

static ngx_http_ow_limit_zone_t  *ngx_http_ow_limit_table;
static ngx_event_t                ngx_http_ow_limit_timer;
static ow_limits_t                ngx_http_ow_limit_defaults;
static time_t                     ngx_http_ow_limit_clock_offset;

/* ---- the table ---- */

static const ngx_http_ow_shm_name_t  ngx_http_ow_limit_ns_name = {
    offsetof(ngx_http_ow_limit_node_t, ns),
    offsetof(ngx_http_ow_limit_node_t, len)
};

static ngx_http_ow_limit_node_t *
ngx_http_ow_limit_lookup(ngx_http_ow_limit_zone_t *z, u_char *ns, size_t len)
{
    return (ngx_http_ow_limit_node_t *) ngx_http_ow_shm_find(
               &z->sh->rbtree, &ngx_http_ow_limit_ns_name, ns, len);
}

static void
ngx_http_ow_limit_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_http_ow_shm_insert(temp, node, sentinel, &ngx_http_ow_limit_ns_name);
}

static ngx_http_ow_limit_node_t *
ngx_http_ow_limit_get_locked(ngx_http_ow_limit_zone_t *z, u_char *ns,
    size_t len)
{
    ngx_http_ow_limit_node_t  *n, *old;
    ngx_queue_t               *q;
    size_t                     size;
    ngx_uint_t                 i;

    n = ngx_http_ow_limit_lookup(z, ns, len);
    if (n) {
        return n;
    }

    size = offsetof(ngx_http_ow_limit_node_t, ns) + len;
    n = ngx_slab_calloc_locked(z->shpool, size);

    /* full: forget idle namespaces, least recently used first */
    for (i = 0; n == NULL && i < 8 && !ngx_queue_empty(&z->sh->lru); i++) {
        q = ngx_queue_last(&z->sh->lru);
        old = ngx_queue_data(q, ngx_http_ow_limit_node_t, queue);
        if (old->inflight > 0 || old->unsent > 0 || old->sending > 0) {
            break;
        }
        ngx_queue_remove(q);
        ngx_rbtree_delete(&z->sh->rbtree, &old->node);
        ngx_slab_free_locked(z->shpool, old);
        n = ngx_slab_calloc_locked(z->shpool, size);
    }

    if (n == NULL) {
        return NULL;
    }

    n->node.key = ngx_crc32_short(ns, len);
    n->len = (u_short) len;
    ngx_memcpy(n->ns, ns, len);
    /* until the first sync brings the overrides (see the top) */
    n->per_minute = ngx_http_ow_limit_defaults.invocations_per_minute;
    n->concurrent = ngx_http_ow_limit_defaults.concurrent_invocations;
    n->created = ngx_current_msec;
    ngx_rbtree_insert(&z->sh->rbtree, &n->node);
    ngx_queue_insert_head(&z->sh->lru, &n->queue);
    return n;
}

/* ---- admission ---- */

static void
ngx_http_ow_limit_release(void *data)
{
    ngx_http_ow_limit_ctx_t   *ctx = data;
    ngx_http_ow_limit_zone_t  *z = ngx_http_ow_limit_table;
    ngx_http_ow_limit_node_t  *n;

    if (!ctx->counted) {
        return;
    }
    ctx->counted = 0;

    ngx_shmtx_lock(&z->shpool->mutex);
    n = ngx_http_ow_limit_lookup(z, ctx->ns.data, ctx->ns.len);
    if (n && n->inflight > 0) {
        n->inflight--;
    }
    ngx_shmtx_unlock(&z->shpool->mutex);
}

/*
 * 429 with OpenWhisk's message and a Retry-After a client can act on: the
 * seconds left in this minute for the per-minute limit, 1 for the
 * concurrent one (a slot frees when any request of the namespace ends)
 */
static ngx_int_t
ngx_http_ow_limit_send_429(ngx_http_request_t *r, const char *what,
    ngx_int_t count, ngx_int_t allowed)
{
    u_char           *p, msg[160];
    ngx_table_elt_t  *h;
    time_t            after;

    ngx_snprintf(msg, sizeof(msg), "Too many %s (count: %i, allowed: %i).%Z",
                 what, count, allowed);
    after = what[0] == 'c'
            ? 1 : 60 - (ngx_time() + ngx_http_ow_limit_clock_offset) % 60;

    h = ngx_list_push(&r->headers_out.headers);
    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (h && p) {
        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.data = p;
        h->value.len = ngx_sprintf(p, "%T", after) - p;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }
    return ngx_http_ow_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS, (char *) msg);
}

/*
 * Admits r or answers it 429: NGX_DECLINED admitted (or not limited here),
 * else what sending the 429 returned (or NGX_ERROR). A hit of the response
 * cache counts per minute but takes no concurrency slot: it occupies no
 * container and is answered at once.
 */
static ngx_int_t
ngx_http_ow_limit_admit(ngx_http_request_t *r, ngx_uint_t hit)
{
    ngx_http_ow_limit_loc_conf_t  *llcf;
    ngx_http_ow_limit_zone_t      *z = ngx_http_ow_limit_table;
    ngx_http_ow_limit_node_t      *n;
    ngx_http_ow_limit_ctx_t       *ctx;
    ngx_pool_cleanup_t            *cln;
    char                          *subject, *ns;
    ngx_int_t                      count, allowed;
    ngx_str_t                      owner;
    time_t                         minute;
    const char                    *what;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_limit_module);
    if (!llcf->enable || z == NULL || r != r->main
        || ngx_http_get_module_ctx(r, ngx_http_ow_limit_module))
    {
        return NGX_DECLINED;
    }

    if (llcf->ns) {
        /*
         * Web actions: the action's owner pays, whoever calls (and most
         * callers are anonymous).
         */
        if (ngx_http_complex_value(r, llcf->ns, &owner) != NGX_OK) {
            return NGX_ERROR;
        }
        if (owner.len == 0) {
            return NGX_DECLINED;
        }
        ns = ngx_pnalloc(r->pool, owner.len + 1);
        if (ns == NULL) {
            return NGX_ERROR;
        }
        ngx_memcpy(ns, owner.data, owner.len);
        ns[owner.len] = '\0';

    } else if (ngx_http_ow_auth_identity(r, &subject, &ns) != NGX_OK) {
        return NGX_DECLINED;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ow_limit_ctx_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || cln == NULL) {
        return NGX_ERROR;
    }
    ctx->ns.data = (u_char *) ns;
    ctx->ns.len = ngx_min(ngx_strlen(ns), NGX_HTTP_OW_LIMIT_NS_MAX);
    ngx_http_set_ctx(r, ctx, ngx_http_ow_limit_module);

    minute = (ngx_time() + ngx_http_ow_limit_clock_offset) / 60;
    what = NULL;
    count = allowed = 0;

    ngx_shmtx_lock(&z->shpool->mutex);

    n = ngx_http_ow_limit_get_locked(z, ctx->ns.data, ctx->ns.len);
    if (n == NULL) {
        /* no room to count: admit rather than refuse everyone */
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_DECLINED;
    }

    if (n->minute != minute) {
        /* a new minute: what was counted is past */
        n->minute = minute;
        n->global = 0;
    }

    n->used = ngx_current_msec;
    ngx_queue_remove(&n->queue);
    ngx_queue_insert_head(&z->sh->lru, &n->queue);

    count = n->global + n->unsent + n->sending;
    if (!n->synced
        && ngx_current_msec - n->created < NGX_HTTP_OW_LIMIT_UNKNOWN_MS)
    {
        /* limits not known yet: admit (counted all the same) */
        n->unsent++;
        if (!hit) {
            n->inflight++;
            ctx->counted = 1;
        }

    } else if (count >= n->per_minute) {
        what = "requests in the last minute";
        allowed = n->per_minute;

    } else if (hit) {
        n->unsent++;

    } else if (n->others + n->inflight >= n->concurrent) {
        what = "concurrent requests in flight";
        count = n->others + n->inflight;
        allowed = n->concurrent;

    } else {
        n->unsent++;
        n->inflight++;
        ctx->counted = 1;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (what) {
        /* openwhisk_action_limit_{concurrent,timed}_total */
        ngx_http_ow_metrics_limit((u_char *) ns, ngx_strlen(ns),
                                  what[0] == 'c');
        return ngx_http_ow_limit_send_429(r, what, count, allowed);
    }

    cln->handler = ngx_http_ow_limit_release;
    cln->data = ctx;
    return NGX_DECLINED;
}

/*
 * An upgraded connection (a WebSocket at a web action's URL,
 * docs/websockets.md) counted per minute when it was admitted; it takes no
 * concurrency slot for its life: it holds no container while idle (the
 * sidecar runs each message through the action's own gate), and a
 * namespace's open connections have their own limit (maxConnections). The
 * slot goes back as the 101 goes out.
 */
static ngx_int_t
ngx_http_ow_limit_header_filter(ngx_http_request_t *r)
{
    ngx_http_ow_limit_ctx_t  *ctx;

    if (r->headers_out.status == NGX_HTTP_SWITCHING_PROTOCOLS) {
        ctx = ngx_http_get_module_ctx(r->main, ngx_http_ow_limit_module);
        if (ctx) {
            ngx_http_ow_limit_release(ctx);
        }
    }
    return ngx_http_ow_limit_next_header(r);
}

static ngx_int_t
ngx_http_ow_limit_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_ow_limit_admit(r, 0);
    if (rc == NGX_DECLINED || rc == NGX_ERROR) {
        return rc;
    }
    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}

ngx_int_t
ngx_http_ow_limit_hit(ngx_http_request_t *r)
{
    return ngx_http_ow_limit_admit(r, 1);
}

/* ---- sync: one worker a second, one script per active namespace ---- */

/*
 * KEYS: minute counter, in-flight hash, limits
 * ARGV: admitted since last sync, gateway id, its in-flight, now (s)
 * -> {minute total, other gateways' in-flight, limits json or false}
 */
static const char  ngx_http_ow_limit_script[] =
    "local total = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "redis.call('EXPIRE', KEYS[1], 120)\n"
    "local now = tonumber(ARGV[4])\n"
    "redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. ':' .. now)\n"
    "redis.call('EXPIRE', KEYS[2], 60)\n"
    "local others = 0\n"
    "local all = redis.call('HGETALL', KEYS[2])\n"
    "for i = 1, #all, 2 do\n"
    "  local n, t = string.match(all[i + 1], '(%d+):(%d+)')\n"
    "  if all[i] ~= ARGV[2] and n and now - tonumber(t) < 10 then\n"
    "    others = others + tonumber(n)\n"
    "  elseif now - (tonumber(t) or 0) >= 10 then\n"
    "    redis.call('HDEL', KEYS[2], all[i])\n"
    "  end\n"
    "end\n"
    "return {total, others, redis.call('GET', KEYS[3])}\n";

typedef struct {
    u_char                        ns[NGX_HTTP_OW_LIMIT_NS_MAX];
    size_t                        len;
    time_t                        minute;
    ngx_int_t                     sent;
} ngx_http_ow_limit_sync_t;

static ngx_uint_t  ngx_http_ow_limit_pending;

static void
ngx_http_ow_limit_synced(void *data, redisReply *r)
{
    ngx_http_ow_limit_sync_t  *s = data;
    ngx_http_ow_limit_zone_t  *z = ngx_http_ow_limit_table;
    ngx_http_ow_limit_node_t  *n;
    ow_limits_t                l;
    json_t                    *o;

    o = NULL;
    l = ngx_http_ow_limit_defaults;

    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3
        && r->element[2]->type == REDIS_REPLY_STRING)
    {
        o = json_loadb(r->element[2]->str, r->element[2]->len, 0, NULL);
        ow_limits_apply(&l, o);
        json_decref(o);
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    n = ngx_http_ow_limit_lookup(z, s->ns, s->len);
    if (n) {
        n->sending -= s->sent;
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
            /* not counted anywhere: send it again next time */
            n->unsent += s->sent;

        } else {
            if (n->minute == s->minute) {
                n->global = r->element[0]->integer;
            }
            n->others = r->element[1]->integer;
            n->per_minute = l.invocations_per_minute;
            n->concurrent = l.concurrent_invocations;
            n->synced = 1;
        }
    }

    if (--ngx_http_ow_limit_pending == 0) {
        z->sh->syncing = 0;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
    ngx_free(s);
}

static void
ngx_http_ow_limit_sync_one(ngx_http_ow_limit_zone_t *z,
    ngx_http_ow_limit_node_t *n)
{
    ngx_http_ow_limit_sync_t  *s;
    const char                *argv[10];
    size_t                     argvlen[10];
    u_char                     k1[NGX_HTTP_OW_LIMIT_NS_MAX + 64],
                               k2[NGX_HTTP_OW_LIMIT_NS_MAX + 64],
                               k3[NGX_HTTP_OW_LIMIT_NS_MAX + 64];
    u_char                     sent[NGX_INT_T_LEN], inflight[NGX_INT_T_LEN],
                               now[NGX_TIME_T_LEN];
    char                       ns[NGX_HTTP_OW_LIMIT_NS_MAX + 1],
                               minute[NGX_TIME_T_LEN + 1];
    char                      *cmd;
    int                        len;

    s = ngx_alloc(sizeof(ngx_http_ow_limit_sync_t), ngx_cycle->log);
    if (s == NULL) {
        return;
    }

    s->len = n->len;
    ngx_memcpy(s->ns, n->ns, n->len);
    s->minute = n->minute;
    s->sent = n->unsent;
    n->sending += n->unsent;
    n->unsent = 0;

    argv[0] = "EVAL";
    argv[1] = ngx_http_ow_limit_script;
    argv[2] = "3";
    argv[3] = (char *) k1;
    argv[4] = (char *) k2;
    argv[5] = (char *) k3;
    argv[6] = (char *) sent;
    argv[7] = (char *) z->sh->gateway;
    argv[8] = (char *) inflight;
    argv[9] = (char *) now;

    /* keys carry the namespace's hash tag, like every key of it */
    ngx_cpystrn((u_char *) ns, n->ns, n->len + 1);
    ngx_sprintf((u_char *) minute, "%T%Z", n->minute);
    argvlen[3] = snprintf((char *) k1, sizeof(k1), OW_KEY_RATE, ns, minute);
    argvlen[4] = snprintf((char *) k2, sizeof(k2), OW_KEY_INFLIGHT, ns);
    argvlen[5] = snprintf((char *) k3, sizeof(k3), OW_KEY_LIMITS, ns);
    argvlen[6] = ngx_sprintf(sent, "%i", s->sent) - sent;
    argvlen[7] = ngx_strlen(z->sh->gateway);
    argvlen[8] = ngx_sprintf(inflight, "%i", n->inflight) - inflight;
    argvlen[9] = ngx_sprintf(now, "%T", ngx_time()) - now;
    argvlen[0] = 4;
    argvlen[1] = sizeof(ngx_http_ow_limit_script) - 1;
    argvlen[2] = 1;

    len = redisFormatCommandArgv(&cmd, 10, argv, argvlen);
    if (len < 0
        || ngx_http_ow_redis_command(cmd, len, ngx_http_ow_limit_synced, s)
           == NULL)
    {
        if (len >= 0) {
            free(cmd);
        }
        n->sending -= s->sent;
        n->unsent += s->sent;
        ngx_free(s);
        return;
    }

    free(cmd);
    ngx_http_ow_limit_pending++;
}

static void
ngx_http_ow_limit_sync(ngx_event_t *ev)
{
    ngx_http_ow_limit_main_conf_t  *lmcf;
    ngx_http_ow_limit_zone_t       *z = ngx_http_ow_limit_table;
    ngx_http_ow_limit_node_t       *n;
    ngx_queue_t                    *q;

    lmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_ow_limit_module);

    ngx_shmtx_lock(&z->shpool->mutex);

    /* one worker per interval does it for the gateway */
    if (!z->sh->syncing
        && ngx_current_msec - z->sh->last_sync >= lmcf->sync)
    {
        z->sh->last_sync = ngx_current_msec;
        z->sh->syncing = 1;
        ngx_http_ow_limit_pending = 0;

        for (q = ngx_queue_head(&z->sh->lru);
             q != ngx_queue_sentinel(&z->sh->lru);
             q = ngx_queue_next(q))
        {
            n = ngx_queue_data(q, ngx_http_ow_limit_node_t, queue);
            if (ngx_current_msec - n->used > 60000 && n->inflight == 0
                && n->unsent == 0)
            {
                /* idle for a minute: the rest of the list is older */
                break;
            }
            ngx_http_ow_limit_sync_one(z, n);
        }

        if (ngx_http_ow_limit_pending == 0) {
            z->sh->syncing = 0;
        }

    } else if (z->sh->syncing
               && ngx_current_msec - z->sh->last_sync > 10 * lmcf->sync)
    {
        /* the worker that was syncing is gone (or stuck): take over */
        z->sh->syncing = 0;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, lmcf->sync);
    }
}

static ngx_int_t
ngx_http_ow_limit_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ow_limit_main_conf_t  *lmcf;

    lmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_ow_limit_module);
    if (lmcf == NULL || lmcf->zone == NULL) {
        return NGX_OK;
    }

    ngx_http_ow_limit_table = lmcf->zone->data;
    ngx_http_ow_limit_clock_offset = lmcf->clock_offset;
    ow_limits_default(&ngx_http_ow_limit_defaults);

    ngx_http_ow_limit_timer.handler = ngx_http_ow_limit_sync;
    ngx_http_ow_limit_timer.log = cycle->log;
    ngx_http_ow_limit_timer.cancelable = 1;
    ngx_add_timer(&ngx_http_ow_limit_timer, lmcf->sync);
    return NGX_OK;
}

/* ---- configuration ---- */

static ngx_int_t
ngx_http_ow_limit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ow_limit_zone_t  *ozone = data;
    ngx_http_ow_limit_zone_t  *z = shm_zone->data;
    u_char                     rnd[16];
    ngx_uint_t                 i;
    ngx_int_t                  rc;
    void                      *sh;

    if (ozone) {
        z->sh = ozone->sh;
        z->shpool = ozone->shpool;
        return NGX_OK;
    }

    rc = ngx_http_ow_shm_init(shm_zone, sizeof(ngx_http_ow_limit_shctx_t),
                              "ow_limit_zone", &sh, &z->shpool);
    z->sh = sh;
    if (rc != NGX_OK) {
        return rc == NGX_DECLINED ? NGX_OK : NGX_ERROR;
    }

    ngx_rbtree_init(&z->sh->rbtree, &z->sh->sentinel,
                    ngx_http_ow_limit_insert);
    ngx_queue_init(&z->sh->lru);

    /* this gateway in the in-flight hash: random, kept across reloads */
    for (i = 0; i < sizeof(rnd); i++) {
        rnd[i] = (u_char) ngx_random();
    }
    ngx_hex_dump(z->sh->gateway, rnd, sizeof(rnd));
    z->sh->gateway[32] = '\0';
    return NGX_OK;
}

/* ow_limit_zone name size */
static char *
ngx_http_ow_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ow_limit_main_conf_t  *lmcf = conf;
    ngx_http_ow_limit_zone_t       *z;

    if (lmcf->zone) {
        return "is duplicate";
    }

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_limit_zone_t));
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }

    lmcf->zone = ngx_http_ow_shm_zone(cf, cmd, 8 * ngx_pagesize,
                                      &ngx_http_ow_limit_module);
    if (lmcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }
    lmcf->zone->init = ngx_http_ow_limit_init_zone;
    lmcf->zone->data = z;
    return NGX_CONF_OK;
}

static void *
ngx_http_ow_limit_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ow_limit_main_conf_t  *lmcf;

    lmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_limit_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }
    lmcf->sync = NGX_CONF_UNSET_MSEC;
    lmcf->clock_offset = NGX_CONF_UNSET;
    return lmcf;
}

static char *
ngx_http_ow_limit_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ow_limit_main_conf_t  *lmcf = conf;

    ngx_conf_init_msec_value(lmcf->sync, 1000);
    ngx_conf_init_value(lmcf->clock_offset, 0);
    return NGX_CONF_OK;
}

/* for the other per-minute window, firesPerMinute (ow_api's trigger fire) */
time_t
ngx_http_ow_limit_clock_offset_conf(ngx_conf_t *cf)
{
    ngx_http_ow_limit_main_conf_t  *lmcf;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ow_limit_module);
    return lmcf->clock_offset;
}

static void *
ngx_http_ow_limit_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ow_limit_loc_conf_t  *llcf;

    llcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_limit_loc_conf_t));
    if (llcf == NULL) {
        return NULL;
    }
    llcf->enable = NGX_CONF_UNSET;
    llcf->ns = NGX_CONF_UNSET_PTR;
    return llcf;
}

static char *
ngx_http_ow_limit_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ow_limit_loc_conf_t  *prev = parent;
    ngx_http_ow_limit_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_ptr_value(conf->ns, prev->ns, NULL);
    return NGX_CONF_OK;
}

static ngx_int_t
ngx_http_ow_limit_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt            *h;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_ow_limit_main_conf_t  *lmcf;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ow_limit_module);
    if (lmcf->zone == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /*
     * Precontent, registered after the router's handler: nginx runs a
     * phase's handlers last-registered first, so limits are checked before
     * a request can park for capacity.
     */
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_http_ow_limit_handler;

    ngx_http_ow_limit_next_header = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ow_limit_header_filter;
    return NGX_OK;
}
