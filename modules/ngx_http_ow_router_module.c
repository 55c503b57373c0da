/*
 * ngx_http_ow_router_module.c: routes invocations to warm containers.
 *
 * The warm-container table lives in one shared-memory zone for all workers
 * and is kept current by the pool-manager's events (Redis channel
 * owx:warm:events): every worker subscribes and applies them idempotently,
 * by version; on (re)connect or a version gap it re-reads the whole table
 * (owx:{warm}). So the warm path (ow_invoke + ow_router_balancer) makes no
 * Redis round trip and asks no control plane: it reads shared memory.
 *
 * A miss (no container for the action, or all of them said 429 recently)
 * parks the request on a subrequest to the pool-manager's capacity API,
 * which answers once a container is ready; the answer goes into the table
 * at once (the event follows and is a no-op). Parked requests are bounded
 * per action. The sidecar shapes the OpenWhisk response; nginx proxies it.
 *
 * Shared memory: one node per action (rbtree by CRC32 of "ns/path") and one
 * per container (also in an rbtree by CRC32 of its id, for removals); a
 * container node is under 256 bytes, so 10,000 containers fit in 4 MB.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ow_compose.h"
#include "ow_names.h"
#include "ow_secrets.h"
#include "ow_warm.h"
#include "ngx_http_ow_auth.h"
#include "ngx_http_ow_metrics.h"
#include "ngx_http_ow_redis.h"
#include "ngx_http_ow_shm.h"
#include "ngx_http_ow_compose.h"

typedef struct {
    ngx_rbtree_t                  actions;
    ngx_rbtree_node_t             actions_sentinel;
    ngx_rbtree_t                  ids;
    ngx_rbtree_node_t             ids_sentinel;
    int64_t                       version;     /* last event applied */
    ngx_uint_t                    containers;
} ngx_http_ow_router_shctx_t;

typedef struct {
    ngx_rbtree_node_t             node;        /* key: crc32 of action */
    ngx_queue_t                   containers;
    ngx_atomic_t                  parked;
    /*
     * A sequence or conductor action (NGX_HTTP_OW_COMPOSE_*), as the
     * capacity answer said, until compose_until (or an entity event, see
     * ngx_http_ow_router_forget): its invocations go to the compose driver
     * with no capacity request. compose_doc (slab) is a sequence's
     * {"components", "version", "limits"}, at most
     * OW_COMPOSE_COMPONENTS_MAX bytes. Cost: about 100 bytes per remembered
     * action plus its document; at 100,000 actions of which 10,000 are
     * sequences invoked within the TTL, about 3 MB (plain actions cost one
     * byte more per node, and nothing on the warm path but a read of this
     * field under the lock has_room already takes). When the zone is full
     * the action is simply not remembered: every invocation asks.
     *
     * web_facts (slab): what a web request of it is shaped by
     * (libow/ow_web.h), from the last capacity answer to a web request,
     * at most OW_COMPOSE_COMPONENTS_MAX bytes: with them, the web path of a
     * remembered sequence or conductor action makes no capacity request
     * either (the shaping says 404 when it is not exported). Forgotten with
     * the rest; an answer to an API invocation (none in it) drops them.
     */
    u_char                        compose;
    time_t                        compose_until;
    u_char                       *compose_doc;
    size_t                        compose_len;
    u_char                       *web_facts;
    size_t                        web_facts_len;
    u_short                       len;
    u_char                        action[1];
} ngx_http_ow_router_action_t;

typedef struct {
    ngx_rbtree_node_t             node;        /* key: crc32 of id */
    ngx_queue_t                   queue;       /* in its action */
    ngx_http_ow_router_action_t  *action;
    struct sockaddr_in            sin;
    ngx_atomic_t                  inflight;
    ngx_msec_t                    busy_until;
    u_short                       concurrency;
    u_char                        seen;        /* resync mark */
    u_char                        marked;      /* by the collector */
    u_short                       id_len;
    u_char                        id[OW_WARM_ID_MAX];
} ngx_http_ow_router_container_t;

typedef struct {
    ngx_http_ow_router_shctx_t   *sh;
    ngx_slab_pool_t              *shpool;
} ngx_http_ow_router_zone_t;

typedef struct {
    ngx_shm_zone_t               *zone;
    ngx_msec_t                    resync_backoff_max;
    /* ow_internal_token_file: $ow_internal_token, "" when unset */
    ngx_str_t                     token;
} ngx_http_ow_router_main_conf_t;

typedef struct {
    ngx_str_t                     pool_uri;    /* "" = off */
    ngx_str_t                     async;       /* named location, or "" */
    ngx_uint_t                    park_max;
    ngx_flag_t                    web;         /* ow_invoke_web */
} ngx_http_ow_router_loc_conf_t;

#define NGX_HTTP_OW_ROUTER_TRIES  8

typedef struct {
    ngx_str_t                     action;      /* "ns/path" */
    ngx_uint_t                    scale;
    ngx_uint_t                    done;
    ngx_int_t                     status;      /* capacity answer */
    u_char                       *error;       /* its message, if any */
    ngx_http_ow_router_action_t  *parked_on;
    ngx_uint_t                    compose;     /* NGX_HTTP_OW_COMPOSE_* */
    u_char                       *compose_doc; /* a sequence's, r->pool */
    size_t                        compose_len;
    /* a web request: the capacity answer's "web" facts (libow/ow_web.h) */
    u_char                       *web_facts;
    size_t                        web_facts_len;
    ngx_uint_t                    ask;         /* known, but ask anyway */

    /* the balancer's state */
    struct sockaddr_in            sin;
    ngx_str_t                     name;
    u_char                        name_buf[NGX_SOCKADDR_STRLEN];
    u_char                        id[OW_WARM_ID_MAX];
    size_t                        id_len;
    ngx_uint_t                    ntried;
    u_char                        tried[NGX_HTTP_OW_ROUTER_TRIES]
                                       [OW_WARM_ID_MAX];
    ngx_http_request_t           *request;
} ngx_http_ow_router_ctx_t;

static ngx_int_t ngx_http_ow_router_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_ow_router_init(ngx_conf_t *cf);
static void *ngx_http_ow_router_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_ow_router_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ow_router_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ow_router_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ow_internal_token_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_ow_invoke(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ow_router_balancer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ow_router_init_process(ngx_cycle_t *cycle);
static void ngx_http_ow_router_exit_process(ngx_cycle_t *cycle);

static ngx_command_t  ngx_http_ow_router_commands[] = {

    { ngx_string("ow_router_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_ow_router_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ow_internal_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ow_internal_token_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ow_invoke"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_ow_invoke,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ow_invoke_park_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ow_router_loc_conf_t, park_max),
      NULL },

    { ngx_string("ow_invoke_web"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ow_router_loc_conf_t, web),
      NULL },

    { ngx_string("ow_router_balancer"),
      NGX_HTTP_UPS_CONF|NGX_CONF_NOARGS,
      ngx_http_ow_router_balancer,
      0,
      0,
      NULL },

      ngx_null_command
};

static ngx_http_module_t  ngx_http_ow_router_module_ctx = {
    ngx_http_ow_router_add_variables,      /* preconfiguration */
    ngx_http_ow_router_init,               /* postconfiguration */
    ngx_http_ow_router_create_main_conf,   /* create main configuration */
    NULL,                                  /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_ow_router_create_loc_conf,    /* create location configuration */
    ngx_http_ow_router_merge_loc_conf      /* merge location configuration */
};

ngx_module_t  ngx_http_ow_router_module = {
    NGX_MODULE_V1,
    &ngx_http_ow_router_module_ctx,        /* module context */
    ngx_http_ow_router_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ow_router_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ow_router_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};

/* the zone, for the worker-level subscriber */
static ngx_http_ow_router_zone_t  *ngx_http_ow_router_table;

/* ---- the table ---- */

static const ngx_http_ow_shm_name_t  ngx_http_ow_router_action_name = {
    offsetof(ngx_http_ow_router_action_t, action),
    offsetof(ngx_http_ow_router_action_t, len)
};

static const ngx_http_ow_shm_name_t  ngx_http_ow_router_id_name = {
    offsetof(ngx_http_ow_router_container_t, id),
    offsetof(ngx_http_ow_router_container_t, id_len)
};

static ngx_http_ow_router_action_t *
ngx_http_ow_router_find_action(ngx_http_ow_router_zone_t *z, u_char *name,
    size_t len)
{
    return (ngx_http_ow_router_action_t *) ngx_http_ow_shm_find(
               &z->sh->actions, &ngx_http_ow_router_action_name, name, len);
}

static ngx_http_ow_router_container_t *
ngx_http_ow_router_find_id(ngx_http_ow_router_zone_t *z, u_char *id,
    size_t len)
{
    return (ngx_http_ow_router_container_t *) ngx_http_ow_shm_find(
               &z->sh->ids, &ngx_http_ow_router_id_name, id, len);
}

static void
ngx_http_ow_router_insert_action(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_http_ow_shm_insert(temp, node, sentinel,
                           &ngx_http_ow_router_action_name);
}

static void
ngx_http_ow_router_insert_id(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_http_ow_shm_insert(temp, node, sentinel, &ngx_http_ow_router_id_name);
}

/* remove a container; its action goes when empty and nobody is parked */
static void
ngx_http_ow_router_remove_locked(ngx_http_ow_router_zone_t *z,
    ngx_http_ow_router_container_t *c)
{
    ngx_http_ow_router_action_t  *a;

    a = c->action;
    ngx_queue_remove(&c->queue);
    ngx_rbtree_delete(&z->sh->ids, &c->node);
    ngx_slab_free_locked(z->shpool, c);
    z->sh->containers--;

    if (ngx_queue_empty(&a->containers) && a->parked == 0
        && !a->compose)
    {
        ngx_rbtree_delete(&z->sh->actions, &a->node);
        ngx_slab_free_locked(z->shpool, a);
    }
}

static ngx_http_ow_router_action_t *
ngx_http_ow_router_get_action_locked(ngx_http_ow_router_zone_t *z,
    u_char *name, size_t len)
{
    ngx_http_ow_router_action_t  *a;

    a = ngx_http_ow_router_find_action(z, name, len);
    if (a) {
        return a;
    }

    a = ngx_slab_alloc_locked(z->shpool,
                              offsetof(ngx_http_ow_router_action_t, action)
                              + len);
    if (a == NULL) {
        return NULL;
    }

    a->node.key = ngx_crc32_short(name, len);
    ngx_queue_init(&a->containers);
    a->parked = 0;
    a->compose = 0;
    a->compose_doc = NULL;
    a->web_facts = NULL;
    a->web_facts_len = 0;
    a->compose_len = 0;
    a->len = (u_short) len;
    ngx_memcpy(a->action, name, len);
    ngx_rbtree_insert(&z->sh->actions, &a->node);
    return a;
}

static void
ngx_http_ow_router_apply_locked(ngx_http_ow_router_zone_t *z,
    ow_warm_entry_t *e)
{
    ngx_http_ow_router_container_t  *c;
    ngx_http_ow_router_action_t     *a;
    size_t                           id_len, len;

    id_len = ngx_strlen(e->id);
    c = ngx_http_ow_router_find_id(z, (u_char *) e->id, id_len);

    if (e->op == OW_WARM_DEL) {
        if (c) {
            ngx_http_ow_router_remove_locked(z, c);
        }
        return;
    }

    if (c) {
        c->seen = 1;
        /* "mark", "unmark", or an entry / add that says which */
        c->marked = (u_char) e->marked;
        return;
    }

    len = ngx_strlen(e->action);
    a = ngx_http_ow_router_get_action_locked(z, (u_char *) e->action, len);
    if (a == NULL) {
        return;
    }

    c = ngx_slab_calloc_locked(z->shpool,
                               sizeof(ngx_http_ow_router_container_t));
    if (c == NULL) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "ow_router_zone is full: container \"%s\" not added",
                      e->id);
        if (ngx_queue_empty(&a->containers) && a->parked == 0
            && !a->compose)
        {
            ngx_rbtree_delete(&z->sh->actions, &a->node);
            ngx_slab_free_locked(z->shpool, a);
        }
        return;
    }

    c->node.key = ngx_crc32_short((u_char *) e->id, id_len);
    c->action = a;
    c->sin.sin_family = AF_INET;
    c->sin.sin_addr.s_addr = e->ip;
    c->sin.sin_port = htons(e->port);
    c->concurrency = (u_short) e->concurrency;
    c->seen = 1;
    c->marked = (u_char) e->marked;
    c->id_len = (u_short) id_len;
    ngx_memcpy(c->id, e->id, id_len);

    ngx_queue_insert_tail(&a->containers, &c->queue);
    ngx_rbtree_insert(&z->sh->ids, &c->node);
    z->sh->containers++;
}

/* ---- events and resync (every worker; idempotent, by version) ---- */

static redisAsyncContext  *ngx_http_ow_router_sub;
static ngx_event_t         ngx_http_ow_router_reconnect;
static ngx_msec_t          ngx_http_ow_router_backoff;
static ngx_uint_t          ngx_http_ow_router_resyncing;
static int64_t             ngx_http_ow_router_resync_version;

static void ngx_http_ow_router_resync(void);

static void
ngx_http_ow_router_resynced(void *data, redisReply *r)
{
    ngx_http_ow_router_zone_t       *z = ngx_http_ow_router_table;
    ngx_rbtree_node_t               *node, *next, *sentinel;
    ngx_http_ow_router_container_t  *c;
    ow_warm_entry_t                  e;
    size_t                           i;

    ngx_http_ow_router_resyncing = 0;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ow router: warm table resync failed");
        return;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    sentinel = z->sh->ids.sentinel;
    if (z->sh->ids.root != sentinel) {
        for (node = ngx_rbtree_min(z->sh->ids.root, sentinel);
             node;
             node = ngx_rbtree_next(&z->sh->ids, node))
        {
            ((ngx_http_ow_router_container_t *) node)->seen = 0;
        }
    }

    for (i = 1; i < r->elements; i += 2) {
        if (r->element[i]->type == REDIS_REPLY_STRING
            && ow_warm_parse(r->element[i]->str, r->element[i]->len, &e)
               == 0)
        {
            e.op = OW_WARM_ADD;
            ngx_http_ow_router_apply_locked(z, &e);
        }
    }

    /* what the table no longer has is gone */
    if (z->sh->ids.root != sentinel) {
        for (node = ngx_rbtree_min(z->sh->ids.root, sentinel);
             node;
             node = next)
        {
            next = ngx_rbtree_next(&z->sh->ids, node);
            c = (ngx_http_ow_router_container_t *) node;
            if (!c->seen) {
                ngx_http_ow_router_remove_locked(z, c);
            }
        }
    }

    if (ngx_http_ow_router_resync_version > z->sh->version) {
        z->sh->version = ngx_http_ow_router_resync_version;
    }
    ngx_http_ow_metrics_warm(z->sh->version, z->sh->version,
                             z->sh->containers);

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "ow router: warm table resynced at version %L",
                  ngx_http_ow_router_resync_version);
}

static void
ngx_http_ow_router_version_read(void *data, redisReply *r)
{
    ngx_http_ow_router_resync_version = 0;
    if (r && r->type == REDIS_REPLY_STRING) {
        ngx_http_ow_router_resync_version = ngx_atoof((u_char *) r->str,
                                                      r->len);
        if (ngx_http_ow_router_resync_version < 0) {
            ngx_http_ow_router_resync_version = 0;
        }
    }
}

/* the RESP below spells the key lengths out: the build checks them */
typedef char  ngx_http_ow_router_ver_len_is_14
                  [sizeof(OW_WARM_VERSION_KEY) - 1 == 14 ? 1 : -1];
typedef char  ngx_http_ow_router_key_len_is_10
                  [sizeof(OW_WARM_KEY) - 1 == 10 ? 1 : -1];

static void
ngx_http_ow_router_resync(void)
{
    /* "$14" and "$10": the lengths of the two key names */
    static const char  ver[] = "*2\r\n$3\r\nGET\r\n$14\r\n"
                               OW_WARM_VERSION_KEY "\r\n";
    static const char  all[] = "*2\r\n$7\r\nHGETALL\r\n$10\r\n"
                               OW_WARM_KEY "\r\n";

    if (ngx_http_ow_router_resyncing) {
        return;
    }

    /*
     * The version first, then the table, on one connection (in order): a
     * change between the two is in the table and its event is re-applied,
     * harmlessly; the other order could skip a change.
     */
    if (ngx_http_ow_redis_command(ver, sizeof(ver) - 1,
                                  ngx_http_ow_router_version_read, NULL)
        == NULL
        || ngx_http_ow_redis_command(all, sizeof(all) - 1,
                                     ngx_http_ow_router_resynced, NULL)
           == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ow router: cannot resync the warm table now");
        return;
    }

    ngx_http_ow_router_resyncing = 1;
}

static void
ngx_http_ow_router_on_event(redisAsyncContext *ac, void *reply, void *priv)
{
    ngx_http_ow_router_zone_t  *z = ngx_http_ow_router_table;
    redisReply                 *r = reply;
    ow_warm_entry_t             e;
    ngx_uint_t                  gap;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3
        || r->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    if (ngx_strcmp(r->element[0]->str, "subscribe") == 0) {
        /* (re)subscribed: what happened while away is only in the table */
        ngx_http_ow_router_backoff = 0;
        ngx_http_ow_redis_reachable();
        ngx_http_ow_router_resync();
        return;
    }

    if (ngx_strcmp(r->element[0]->str, "message") != 0
        || r->element[2]->type != REDIS_REPLY_STRING
        || ow_warm_parse(r->element[2]->str, r->element[2]->len, &e) != 0)
    {
        return;
    }

    gap = 0;
    ngx_shmtx_lock(&z->shpool->mutex);

    if (e.version == 0 || e.version > z->sh->version) {
        gap = (e.version > z->sh->version + 1 && z->sh->version != 0);
        ngx_http_ow_router_apply_locked(z, &e);
        if (e.version > z->sh->version) {
            z->sh->version = e.version;
        }
    }
    /* a gap: "seen" runs ahead of "applied" until the resync */
    ngx_http_ow_metrics_warm(e.version, gap ? 0 : z->sh->version,
                             z->sh->containers);

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (gap) {
        ngx_http_ow_router_resync();
    }
}

static void ngx_http_ow_router_subscribe(ngx_event_t *ev);

static void
ngx_http_ow_router_sub_lost(const redisAsyncContext *ac, int status)
{
    if (ac != ngx_http_ow_router_sub) {
        return;
    }
    ngx_http_ow_router_sub = NULL;

    if (ngx_terminate || ngx_exiting || ngx_quit) {
        return;
    }

    ngx_http_ow_router_backoff = ngx_min(
        ngx_max(ngx_http_ow_router_backoff * 2, 100), 5000);
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "ow router: event subscription lost (%s), retry in %Mms",
                  ac->errstr[0] ? ac->errstr : "closed",
                  ngx_http_ow_router_backoff);
    if (!ngx_http_ow_router_reconnect.timer_set) {
        ngx_add_timer(&ngx_http_ow_router_reconnect,
                      ngx_http_ow_router_backoff);
    }
}

static void
ngx_http_ow_router_sub_connected(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        /* hiredis frees ac after this and calls no disconnect callback */
        ngx_http_ow_router_sub_lost(ac, status);
    }
}

static void
ngx_http_ow_router_subscribe(ngx_event_t *ev)
{
    redisAsyncContext  *ac;

    if (ngx_http_ow_router_sub || ngx_exiting || ngx_terminate) {
        return;
    }

    ac = ngx_http_ow_redis_open(ngx_http_ow_router_sub_connected,
                                ngx_http_ow_router_sub_lost);
    if (ac == NULL) {
        ngx_http_ow_router_backoff = ngx_min(
            ngx_max(ngx_http_ow_router_backoff * 2, 100), 5000);
        ngx_add_timer(&ngx_http_ow_router_reconnect,
                      ngx_http_ow_router_backoff);
        return;
    }

    ngx_http_ow_router_sub = ac;
    redisAsyncCommand(ac, ngx_http_ow_router_on_event, NULL,
                      "SUBSCRIBE " OW_WARM_CHANNEL);
}

static ngx_int_t
ngx_http_ow_router_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ow_router_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_ow_router_module);
    if (rmcf == NULL || rmcf->zone == NULL) {
        return NGX_OK;
    }

    ngx_http_ow_router_table = rmcf->zone->data;

    ngx_http_ow_router_reconnect.handler = ngx_http_ow_router_subscribe;
    ngx_http_ow_router_reconnect.log = cycle->log;
    ngx_http_ow_router_reconnect.data = NULL;
    /* the subscriber must not keep a worker from exiting */
    ngx_http_ow_router_reconnect.cancelable = 1;

    ngx_http_ow_router_subscribe(&ngx_http_ow_router_reconnect);
    return NGX_OK;
}

static void
ngx_http_ow_router_exit_process(ngx_cycle_t *cycle)
{
    redisAsyncContext  *ac;

    ac = ngx_http_ow_router_sub;
    ngx_http_ow_router_sub = NULL;
    if (ac) {
        redisAsyncFree(ac);
    }
}

/* ---- ow_invoke: resolve the action, make sure it has a container ---- */

/*
 * ow_invoke_web: "/_owweb/{ns}/{pkg}/{name}[.ext][/rest]" (the rewrite of
 * /api/v1/web/ in conf/nginx.conf) -> the owner's "ns/name" or
 * "ns/pkg/name" (pkg "default" = none). No identity is needed: a web
 * action runs as its owner; whether it is exported is the sidecar's
 * answer (sidecar/web_action.h), and an unknown one the pool-manager's 404.
 */
static ngx_int_t
ngx_http_ow_router_web_action(ngx_http_request_t *r,
    ngx_http_ow_router_ctx_t *ctx)
{
    static ngx_str_t  exts[] = {
        ngx_string(".json"), ngx_string(".html"), ngx_string(".http"),
        ngx_string(".svg"), ngx_string(".text")
    };
    u_char           *p, *end, *ns, *pkg, *name, *e;
    size_t            ns_len, pkg_len, name_len;
    ngx_uint_t        i;

    p = r->uri.data;
    end = p + r->uri.len;

    /* the location prefix, then {ns}/ and {pkg}/ */
    p = ngx_strlchr(p + 1, end, '/');
    ns = p ? p + 1 : NULL;
    p = ns ? ngx_strlchr(ns, end, '/') : NULL;
    pkg = p ? p + 1 : NULL;
    p = pkg ? ngx_strlchr(pkg, end, '/') : NULL;
    if (p == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }
    ns_len = pkg - 1 - ns;
    pkg_len = p - pkg;
    name = p + 1;
    e = ngx_strlchr(name, end, '/');
    name_len = (e ? e : end) - name;

    for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        if (name_len > exts[i].len
            && ngx_strncmp(name + name_len - exts[i].len, exts[i].data,
                           exts[i].len) == 0)
        {
            name_len -= exts[i].len;
            break;
        }
    }

    if (!ow_name_valid((char *) ns, ns_len)
        || !ow_name_valid((char *) pkg, pkg_len)
        || !ow_name_valid((char *) name, name_len))
    {
        return NGX_HTTP_NOT_FOUND;
    }

    if (pkg_len == 7 && ngx_strncmp(pkg, "default", 7) == 0) {
        pkg_len = 0;
    }

    ctx->action.len = ns_len + 1 + (pkg_len ? pkg_len + 1 : 0) + name_len;
    ctx->action.data = ngx_pnalloc(r->pool, ctx->action.len + 1);
    if (ctx->action.data == NULL) {
        return NGX_ERROR;
    }
    if (pkg_len) {
        ngx_sprintf(ctx->action.data, "%*s/%*s/%*s%Z", ns_len, ns, pkg_len,
                    pkg, name_len, name);
    } else {
        ngx_sprintf(ctx->action.data, "%*s/%*s%Z", ns_len, ns, name_len,
                    name);
    }
    return NGX_OK;
}

/*
 * "/_owinvoke/{ns}/{name}" or "/_owinvoke/{ns}/{pkg}/{name}" (the rewrite
 * in conf/nginx.conf) -> "ns/name", with "_" resolved.
 */
static ngx_int_t
ngx_http_ow_router_action(ngx_http_request_t *r, ngx_http_ow_router_ctx_t *ctx)
{
    u_char  *p, *end, *slash, *dst, *src, *path;
    char    *subject, *ns;
    size_t   ns_len, len;

    /* a web action: the owner's, from the URI, for any caller */
    if (((ngx_http_ow_router_loc_conf_t *) ngx_http_get_module_loc_conf(r,
             ngx_http_ow_router_module))->web)
    {
        return ngx_http_ow_router_web_action(r, ctx);
    }

    if (ngx_http_ow_auth_identity(r, &subject, &ns) != NGX_OK) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    p = r->uri.data;
    end = p + r->uri.len;

    /* skip the location prefix "/_owinvoke/" */
    p = ngx_strlchr(p + 1, end, '/');
    if (p == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }
    p++;

    slash = ngx_strlchr(p, end, '/');
    if (slash == NULL || slash + 1 >= end) {
        return NGX_HTTP_NOT_FOUND;
    }

    path = ngx_pnalloc(r->pool, end - slash);
    if (path == NULL) {
        return NGX_ERROR;
    }
    dst = path;
    src = slash + 1;
    ngx_unescape_uri(&dst, &src, end - slash - 1, 0);
    len = dst - path;
    path[len] = '\0';

    if (!ow_name_path_valid((char *) path)) {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (slash - p == 1 && *p == '_') {
        ns_len = ngx_strlen(ns);
        p = (u_char *) ns;
    } else {
        ns_len = slash - p;
    }

    if (ns_len != ngx_strlen(ns) || ngx_strncmp(p, ns, ns_len) != 0) {
        /*
         * Another namespace: only actions of its public packages, so a
         * root action is refused here. The key is "<invoker>/<owner>/
         * <pkg>/<name>" (libow/action_ref.h): containers are never shared
         * between invoking namespaces, and the pool-manager checks
         * "publish" before it starts one (403 otherwise), so the warm path
         * stays free of Redis reads.
         */
        if (ngx_strlchr(path, path + len, '/') == NULL) {
            ctx->error = ngx_pnalloc(r->pool, sizeof("The supplied "
                             "authentication is not authorized to access "
                             "''.") + ns_len + 1 + len);
            if (ctx->error == NULL) {
                return NGX_ERROR;
            }
            ngx_sprintf(ctx->error, "The supplied authentication is not "
                        "authorized to access '%*s/%s'.%Z", ns_len, p, path);
            return NGX_HTTP_FORBIDDEN;
        }

        ctx->action.len = ngx_strlen(ns) + 1 + ns_len + 1 + len;
        ctx->action.data = ngx_pnalloc(r->pool, ctx->action.len + 1);
        if (ctx->action.data == NULL) {
            return NGX_ERROR;
        }
        ngx_sprintf(ctx->action.data, "%s/%*s/%s%Z", ns, ns_len, p, path);
        return NGX_OK;
    }

    ctx->action.len = ns_len + 1 + len;
    ctx->action.data = ngx_pnalloc(r->pool, ctx->action.len + 1);
    if (ctx->action.data == NULL) {
        return NGX_ERROR;
    }
    ngx_sprintf(ctx->action.data, "%*s/%s%Z", ns_len, p, path);
    return NGX_OK;
}

static void
ngx_http_ow_router_unpark(ngx_http_ow_router_ctx_t *ctx)
{
    ngx_http_ow_router_zone_t    *z = ngx_http_ow_router_table;
    ngx_http_ow_router_action_t  *a;

    a = ctx->parked_on;
    if (a == NULL) {
        return;
    }
    ctx->parked_on = NULL;
    ngx_http_ow_metrics_unparked();

    ngx_shmtx_lock(&z->shpool->mutex);
    a->parked--;
    if (ngx_queue_empty(&a->containers) && a->parked == 0
        && !a->compose)
    {
        ngx_rbtree_delete(&z->sh->actions, &a->node);
        ngx_slab_free_locked(z->shpool, a);
    }
    ngx_shmtx_unlock(&z->shpool->mutex);
}

static void
ngx_http_ow_router_cleanup(void *data)
{
    /* a client that leaves while parked frees its place */
    ngx_http_ow_router_unpark(data);
}

static void
ngx_http_ow_router_drop_web_locked(ngx_http_ow_router_zone_t *z,
    ngx_http_ow_router_action_t *a)
{
    if (a->web_facts) {
        ngx_slab_free_locked(z->shpool, a->web_facts);
        a->web_facts = NULL;
        a->web_facts_len = 0;
    }
}

/* drop what the node remembers of a composition; the node may go too */
static void
ngx_http_ow_router_forget_locked(ngx_http_ow_router_zone_t *z,
    ngx_http_ow_router_action_t *a)
{
    if (a->compose_doc) {
        ngx_slab_free_locked(z->shpool, a->compose_doc);
    }
    a->compose = 0;
    a->compose_doc = NULL;
    a->compose_len = 0;
    ngx_http_ow_router_drop_web_locked(z, a);

    if (ngx_queue_empty(&a->containers) && a->parked == 0) {
        ngx_rbtree_delete(&z->sh->actions, &a->node);
        ngx_slab_free_locked(z->shpool, a);
    }
}

/*
 * An entity event about the action (or events possibly missed): what it is
 * must be asked again. While it has containers or parked requests the entry
 * stays, expired, so that has_room asks instead of sending a conductor
 * action's request to its warm container as a plain invocation.
 */
static void
ngx_http_ow_router_stale_locked(ngx_http_ow_router_zone_t *z,
    ngx_http_ow_router_action_t *a)
{
    if (ngx_queue_empty(&a->containers) && a->parked == 0) {
        ngx_http_ow_router_forget_locked(z, a);
        return;
    }

    if (a->compose_doc) {
        ngx_slab_free_locked(z->shpool, a->compose_doc);
        a->compose_doc = NULL;
        a->compose_len = 0;
    }
    ngx_http_ow_router_drop_web_locked(z, a);
    a->compose_until = 0;
}

/*
 * The action changed (updated or deleted): its containers run the code they
 * were started with. They leave this gateway's table, so the next request is
 * a miss and asks the pool-manager, which reads the document, retires the
 * containers of an older version and starts one of the new
 * (pool-manager/capacity.h). One gateway's table, not Redis: the
 * pool-manager's "del" events follow.
 */
static void
ngx_http_ow_router_drop_containers_locked(ngx_http_ow_router_zone_t *z,
    ngx_http_ow_router_action_t *a)
{
    ngx_http_ow_router_container_t  *c;
    ngx_uint_t                       last;

    /* while parked requests or a composition keep the entry, it stays */
    a->parked++;
    while (!ngx_queue_empty(&a->containers)) {
        c = ngx_queue_data(ngx_queue_head(&a->containers),
                           ngx_http_ow_router_container_t, queue);
        ngx_http_ow_router_remove_locked(z, c);
    }
    a->parked--;

    last = (a->parked == 0);
    if (a->compose) {
        ngx_http_ow_router_stale_locked(z, a);

    } else if (last) {
        ngx_rbtree_delete(&z->sh->actions, &a->node);
        ngx_slab_free_locked(z->shpool, a);
    }
}

void
ngx_http_ow_router_forget(u_char *action, size_t len)
{
    ngx_http_ow_router_zone_t    *z = ngx_http_ow_router_table;
    ngx_http_ow_router_action_t  *a;
    ngx_rbtree_node_t            *node, *next, *sentinel;

    if (z == NULL) {
        return;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    if (len) {
        a = ngx_http_ow_router_find_action(z, action, len);
        if (a) {
            ngx_http_ow_router_drop_containers_locked(z, a);
        }

    } else {
        sentinel = z->sh->actions.sentinel;
        if (z->sh->actions.root != sentinel) {
            for (node = ngx_rbtree_min(z->sh->actions.root, sentinel);
                 node;
                 node = next)
            {
                next = ngx_rbtree_next(&z->sh->actions, node);
                a = (ngx_http_ow_router_action_t *) node;
                if (a->compose) {
                    ngx_http_ow_router_stale_locked(z, a);
                }
            }
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}

/*
 * The capacity answer says a sequence ({"sequence": {...}}) or a conductor
 * action ("conductor": true): remember it for a while (the entity events
 * make it forget sooner), and keep the sequence's document for this
 * request.
 */
static void
ngx_http_ow_router_remember_locked(ngx_http_ow_router_zone_t *z,
    ngx_http_ow_router_ctx_t *ctx, json_t *o)
{
    ngx_http_ow_router_action_t  *a;
    json_t                       *seq;
    char                         *doc;
    size_t                        len;

    seq = json_object_get(o, "sequence");
    ctx->compose = json_is_object(seq) ? NGX_HTTP_OW_COMPOSE_SEQUENCE
                   : json_is_true(json_object_get(o, "conductor"))
                     ? NGX_HTTP_OW_COMPOSE_CONDUCTOR : 0;

    if (ctx->compose == 0) {
        a = ngx_http_ow_router_find_action(z, ctx->action.data,
                                           ctx->action.len);
        if (a && a->compose) {
            /* no longer one */
            ngx_http_ow_router_forget_locked(z, a);
        }
        return;
    }

    doc = NULL;
    len = 0;
    if (seq) {
        doc = json_dumps(seq, JSON_COMPACT);
        if (doc == NULL) {
            ctx->compose = 0;
            return;
        }
        len = ngx_strlen(doc);
        ctx->compose_doc = ngx_pnalloc(ctx->request->pool, len);
        if (ctx->compose_doc == NULL) {
            free(doc);
            ctx->compose = 0;
            return;
        }
        ngx_memcpy(ctx->compose_doc, doc, len);
        ctx->compose_len = len;
    }

    a = ngx_http_ow_router_get_action_locked(z, ctx->action.data,
                                             ctx->action.len);
    if (a == NULL) {
        free(doc);
        return;
    }

    if (a->compose_doc) {
        ngx_slab_free_locked(z->shpool, a->compose_doc);
        a->compose_doc = NULL;
        a->compose_len = 0;
    }

    if (len && len <= OW_COMPOSE_COMPONENTS_MAX) {
        a->compose_doc = ngx_slab_alloc_locked(z->shpool, len);
        if (a->compose_doc) {
            ngx_memcpy(a->compose_doc, doc, len);
            a->compose_len = len;
        }
    }
    free(doc);

    if (seq && a->compose_doc == NULL) {
        /* too long, or the zone is full: not remembered, asked again */
        a->compose = 0;
        ngx_http_ow_router_drop_web_locked(z, a);
        if (ngx_queue_empty(&a->containers) && a->parked == 0) {
            ngx_rbtree_delete(&z->sh->actions, &a->node);
            ngx_slab_free_locked(z->shpool, a);
        }
        return;
    }

    a->compose = (u_char) ctx->compose;
    /* a backstop for a missed event: ask again after a minute */
    a->compose_until = ngx_time() + 60;

    ngx_http_ow_router_drop_web_locked(z, a);
    if (ctx->web_facts && ctx->web_facts_len <= OW_COMPOSE_COMPONENTS_MAX) {
        a->web_facts = ngx_slab_alloc_locked(z->shpool, ctx->web_facts_len);
        if (a->web_facts) {
            ngx_memcpy(a->web_facts, ctx->web_facts, ctx->web_facts_len);
            a->web_facts_len = ctx->web_facts_len;
        }
    }
}

/* the capacity answer: {"containers":[{id, addr, concurrency}, ...]} */
static ngx_int_t
ngx_http_ow_router_capacity_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_ow_router_ctx_t   *ctx = data;
    ngx_http_ow_router_zone_t  *z = ngx_http_ow_router_table;
    ngx_http_upstream_t        *u;
    json_t                     *o, *list, *c;
    char                       *s;
    ow_warm_entry_t             e;
    size_t                      i;

    ctx->done = 1;
    ctx->status = sr->headers_out.status;
    ngx_http_ow_router_unpark(ctx);

    u = sr->upstream;
    if (u == NULL || u->buffer.pos == NULL || u->buffer.last == u->buffer.pos)
    {
        if (ctx->status == NGX_HTTP_OK) {
            ctx->status = NGX_HTTP_BAD_GATEWAY;
        }
        return rc;
    }

    o = json_loadb((char *) u->buffer.pos, u->buffer.last - u->buffer.pos,
                   0, NULL);

    if (ctx->status != NGX_HTTP_OK) {
        /* the pool-manager's own words: unknown action, cap, bad kind */
        s = (char *) json_string_value(json_object_get(o, "error"));
        if (s) {
            ctx->error = ngx_pnalloc(ctx->request->pool, ngx_strlen(s) + 1);
            if (ctx->error) {
                ngx_cpystrn(ctx->error, (u_char *) s, ngx_strlen(s) + 1);
            }
        }
        json_decref(o);
        return rc;
    }

    list = json_object_get(o, "containers");

    /* a web request's: what the compose driver shapes it by */
    s = json_dumps(json_object_get(o, "web"), JSON_COMPACT);
    if (s) {
        ctx->web_facts_len = ngx_strlen(s);
        ctx->web_facts = ngx_pnalloc(ctx->request->pool, ctx->web_facts_len);
        if (ctx->web_facts == NULL) {
            ctx->web_facts_len = 0;
        } else {
            ngx_memcpy(ctx->web_facts, s, ctx->web_facts_len);
        }
        free(s);
    }

    ngx_shmtx_lock(&z->shpool->mutex);
    json_array_foreach(list, i, c) {
        json_object_set_new(c, "action", json_stringn(
            (char *) ctx->action.data, ctx->action.len));
        s = json_dumps(c, JSON_COMPACT);
        if (s && ow_warm_parse(s, ngx_strlen(s), &e) == 0) {
            ngx_http_ow_router_apply_locked(z, &e);
        }
        free(s);
    }
    ngx_http_ow_router_remember_locked(z, ctx, o);
    ngx_shmtx_unlock(&z->shpool->mutex);


    if (json_array_size(list) == 0
        && ctx->compose != NGX_HTTP_OW_COMPOSE_SEQUENCE)
    {
        ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
    }
    json_decref(o);
    return rc;
}

/* whether the action has a container that did not say 429 just now */
static ngx_uint_t
ngx_http_ow_router_has_room(ngx_http_ow_router_ctx_t *ctx, ngx_uint_t *any)
{
    ngx_http_ow_router_zone_t       *z = ngx_http_ow_router_table;
    ngx_http_ow_router_action_t     *a;
    ngx_http_ow_router_container_t  *c;
    ngx_queue_t                     *q;
    ngx_uint_t                       room;

    room = 0;
    *any = 0;

    ngx_shmtx_lock(&z->shpool->mutex);
    a = ngx_http_ow_router_find_action(z, ctx->action.data, ctx->action.len);
    if (a && a->compose && a->compose_until < ngx_time()) {
        /*
         * Known as a sequence or conductor action a minute ago: ask the
         * pool-manager again (not to scale: *any stays 0) rather than send
         * a conductor's request straight to its warm container, which
         * would run it as a plain action. It answers at once from its
         * warm containers, and the answer is remembered again.
         */
        a = NULL;
    }
    if (a) {
        /* a sequence or conductor action: the compose driver runs it */
        ctx->compose = a->compose;
        for (q = ngx_queue_head(&a->containers);
             q != ngx_queue_sentinel(&a->containers);
             q = ngx_queue_next(q))
        {
            c = ngx_queue_data(q, ngx_http_ow_router_container_t, queue);
            *any = 1;
            if ((ngx_msec_int_t) (c->busy_until - ngx_current_msec) <= 0) {
                room = 1;
                break;
            }
        }
    }
    ngx_shmtx_unlock(&z->shpool->mutex);
    return room;
}

static ngx_int_t
ngx_http_ow_router_park(ngx_http_request_t *r, ngx_http_ow_router_ctx_t *ctx,
    ngx_http_ow_router_loc_conf_t *rlcf)
{
    ngx_http_ow_router_zone_t    *z = ngx_http_ow_router_table;
    ngx_http_ow_router_action_t  *a;
    ngx_http_post_subrequest_t   *ps;
    ngx_http_request_t           *sr;
    ngx_pool_cleanup_t           *cln;
    ngx_uint_t                    full;

    ngx_shmtx_lock(&z->shpool->mutex);
    a = ngx_http_ow_router_get_action_locked(z, ctx->action.data,
                                             ctx->action.len);
    full = (a == NULL || a->parked >= rlcf->park_max);
    if (!full) {
        a->parked++;
        ctx->parked_on = a;
    }
    ngx_shmtx_unlock(&z->shpool->mutex);

    if (full) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }
    ngx_http_ow_metrics_parked(r);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (cln == NULL || ps == NULL) {
        ngx_http_ow_router_unpark(ctx);
        return NGX_ERROR;
    }
    cln->handler = ngx_http_ow_router_cleanup;
    cln->data = ctx;

    ps->handler = ngx_http_ow_router_capacity_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &rlcf->pool_uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the capacity request carries its own body (proxy_set_body) */
    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}

static ngx_int_t
ngx_http_ow_router_fail(ngx_http_request_t *r, ngx_int_t status,
    const u_char *error)
{
    ngx_table_elt_t  *h;
    ngx_int_t         rc;
    const char       *msg;

    switch (status) {
    case NGX_HTTP_UNAUTHORIZED:
        msg = "The resource requires authentication, which was not "
              "supplied with the request";
        break;
    case NGX_HTTP_BAD_REQUEST:
        msg = "The name of the entity contains illegal characters.";
        break;
    case NGX_HTTP_FORBIDDEN:
        msg = "The supplied authentication is not authorized to access "
              "this resource.";
        break;
    case NGX_HTTP_NOT_FOUND:
        msg = "The requested resource does not exist.";
        break;
    case NGX_HTTP_TOO_MANY_REQUESTS:
        msg = "Too many containers for this namespace.";
        break;
    case NGX_HTTP_BAD_GATEWAY:
        if (error) {
            /* the container did not start: e.g. its init failed */
            msg = NULL;
            break;
        }
        /* fall through */
    default:
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        msg = "No capacity is available to run this action right now. "
              "Please try again later.";
        h = ngx_list_push(&r->headers_out.headers);
        if (h) {
            h->hash = 1;
            ngx_str_set(&h->key, "Retry-After");
            ngx_str_set(&h->value, "1");
        }
        break;
    }

    if (error && status != NGX_HTTP_SERVICE_UNAVAILABLE) {
        msg = (const char *) error;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }
    rc = ngx_http_ow_send_error(r, status, msg);
    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}

/*
 * A sequence or conductor action: the compose driver serves the request
 * (ngx_http_ow_compose_module.c). NGX_OK: it does; NGX_DECLINED: run it as
 * any action (the driver's own invocation of a conductor, or a sequence
 * forgotten meanwhile: ask the pool-manager again).
 */
static ngx_int_t
ngx_http_ow_router_compose(ngx_http_request_t *r,
    ngx_http_ow_router_ctx_t *ctx)
{
    ngx_http_ow_router_zone_t    *z = ngx_http_ow_router_table;
    ngx_http_ow_router_action_t  *a;
    ngx_uint_t                    web;

    if (ngx_http_ow_compose_plain(r)) {
        ctx->compose = 0;
        return NGX_DECLINED;
    }

    web = ((ngx_http_ow_router_loc_conf_t *) ngx_http_get_module_loc_conf(r,
               ngx_http_ow_router_module))->web;

    if (web && ctx->web_facts == NULL && ctx->done) {
        /* a capacity answer without them: not one to run it by */
        return ngx_http_ow_router_fail(r, NGX_HTTP_BAD_GATEWAY,
                   (u_char *) "The pool-manager did not describe the action.");
    }

    if (web && ctx->web_facts == NULL) {
        /* known from an earlier invocation: its facts, if a web one */
        ngx_shmtx_lock(&z->shpool->mutex);
        a = ngx_http_ow_router_find_action(z, ctx->action.data,
                                           ctx->action.len);
        if (a && a->web_facts) {
            ctx->web_facts = ngx_pnalloc(r->pool, a->web_facts_len);
            if (ctx->web_facts) {
                ngx_memcpy(ctx->web_facts, a->web_facts, a->web_facts_len);
                ctx->web_facts_len = a->web_facts_len;
            }
        }
        ngx_shmtx_unlock(&z->shpool->mutex);
    }

    if (web && ctx->web_facts == NULL) {
        /*
         * Known from an API invocation, not a web one: ask the
         * pool-manager, which says 404 when the action is not web-exported
         * and gives the facts the request is shaped by (a sequence has no
         * container, and a conductor's warm ones answer at once: no start).
         */
        ctx->compose = 0;
        ctx->ask = 1;
        return NGX_DECLINED;
    }

    if (ctx->compose == NGX_HTTP_OW_COMPOSE_SEQUENCE
        && ctx->compose_doc == NULL)
    {
        ngx_shmtx_lock(&z->shpool->mutex);
        a = ngx_http_ow_router_find_action(z, ctx->action.data,
                                           ctx->action.len);
        if (a && a->compose_doc) {
            ctx->compose_doc = ngx_pnalloc(r->pool, a->compose_len);
            if (ctx->compose_doc) {
                ngx_memcpy(ctx->compose_doc, a->compose_doc,
                           a->compose_len);
                ctx->compose_len = a->compose_len;
            }
        }
        ngx_shmtx_unlock(&z->shpool->mutex);

        if (ctx->compose_doc == NULL) {
            ctx->compose = 0;
            return NGX_DECLINED;
        }
    }

    if (ngx_http_ow_compose_start(r, &ctx->action, ctx->compose,
                                  ctx->compose_doc, ctx->compose_len,
                                  web ? ctx->web_facts : NULL,
                                  ctx->web_facts_len)
        != NGX_OK)
    {
        return ngx_http_ow_router_fail(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       NULL);
    }
    return NGX_OK;
}

static ngx_uint_t
ngx_http_ow_router_blocking(ngx_http_request_t *r)
{
    ngx_str_t  v;

    return ngx_http_arg(r, (u_char *) "blocking", 8, &v) == NGX_OK
           && v.len == 4 && ngx_strncmp(v.data, "true", 4) == 0;
}

static ngx_int_t
ngx_http_ow_router_handler(ngx_http_request_t *r)
{
    ngx_http_ow_router_loc_conf_t  *rlcf;
    ngx_http_ow_router_ctx_t       *ctx;
    ngx_int_t                       rc;
    ngx_uint_t                      any, room;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_router_module);
    if (rlcf->pool_uri.len == 0 || ngx_http_ow_router_table == NULL
        || r != r->main)
    {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_router_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ow_router_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }
        ctx->request = r;
        ngx_http_set_ctx(r, ctx, ngx_http_ow_router_module);

        rc = ngx_http_ow_router_action(r, ctx);
        if (rc != NGX_OK) {
            return ngx_http_ow_router_fail(r, rc, ctx->error);
        }

        room = ngx_http_ow_router_has_room(ctx, &any);

        if (ctx->compose) {
            /* a known sequence or conductor action: no capacity request */
            rc = ngx_http_ow_router_compose(r, ctx);
            if (rc != NGX_DECLINED) {
                return rc == NGX_OK ? NGX_DECLINED : rc;
            }
            if (ctx->ask) {
                /* not to its warm containers: a capacity request */
                room = 0;
                any = 0;
            }
        }

        if (room) {
            return NGX_DECLINED;
        }

        if (rlcf->async.len && !ngx_http_ow_router_blocking(r)) {
            /*
             * Non-blocking and no container at hand: the pool-manager
             * takes the request, answers 202 at once and delivers it when
             * a container is ready.
             */
            (void) ngx_http_named_location(r, &rlcf->async);
            ngx_http_finalize_request(r, NGX_DONE);
            return NGX_DONE;
        }

        ctx->scale = any;
        return ngx_http_ow_router_park(r, ctx, rlcf) == NGX_AGAIN
               ? NGX_AGAIN
               : ngx_http_ow_router_fail(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         NULL);
    }

    if (!ctx->done) {
        return NGX_AGAIN;
    }

    /* counted once per request; a sequence's answer is no cold start */
    ngx_http_ow_metrics_capacity(r, ctx->action.data, ctx->action.len,
                                 ctx->status, !ctx->compose);

    if (ctx->status != NGX_HTTP_OK) {
        return ngx_http_ow_router_fail(r, ctx->status, ctx->error);
    }

    if (ctx->compose) {
        /* the capacity answer said: a sequence or conductor action */
        rc = ngx_http_ow_router_compose(r, ctx);
        if (rc != NGX_DECLINED) {
            return rc == NGX_OK ? NGX_DECLINED : rc;
        }
    }

    return NGX_DECLINED;
}

/*
 * For the metrics' log phase: the action this request invoked, or NULL when
 * ow_invoke did not handle it (in its current location). Unlike $ow_action
 * this never resolves a URI.
 */
ngx_str_t *
ngx_http_ow_router_invoked(ngx_http_request_t *r)
{
    ngx_http_ow_router_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_ow_router_module);
    return (ctx && ctx->action.len) ? &ctx->action : NULL;
}

/* ---- the balancer: peers come from the table ---- */

static void
ngx_http_ow_router_unmarked(void *data, redisReply *r)
{
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "ow router: unmark request not stored");
    }
}

/*
 * The request goes to a marked container, the action having no other: ask
 * the collector not to sweep it. Only on this rare path, and no wait. An
 * HSET owx:{warm}:unmark, not a PUBLISH: the pool-manager reads it every
 * pass and its sweep script checks it in the same step as the delete, so
 * the request is neither lost while no pool-manager listens nor late.
 */
static void
ngx_http_ow_router_unmark(ngx_http_ow_router_ctx_t *ctx)
{
    char         cmd[160];
    size_t       len;
    ngx_time_t  *tp;

    tp = ngx_timeofday();
    len = ow_warm_unmark_command(cmd, sizeof(cmd), (char *) ctx->id,
                                 ctx->id_len,
                                 (int64_t) tp->sec * 1000 + tp->msec);

    if (len == 0
        || ngx_http_ow_redis_command(cmd, len, ngx_http_ow_router_unmarked,
                                     NULL)
           == NULL)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "ow router: cannot ask to unmark container \"%*s\"",
                      ctx->id_len, ctx->id);
    }
}

static ngx_int_t
ngx_http_ow_router_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_ow_router_ctx_t        *ctx = data;
    ngx_http_ow_router_zone_t       *z = ngx_http_ow_router_table;
    ngx_http_ow_router_action_t     *a;
    ngx_http_ow_router_container_t  *c, *cand[64];
    ow_warm_slot_t                   slots[64];
    ngx_queue_t                     *q;
    ngx_uint_t                       i, unmark;
    int                              n, best;

    pc->cached = 0;
    pc->connection = NULL;

    if (ctx->ntried >= NGX_HTTP_OW_ROUTER_TRIES) {
        return NGX_BUSY;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    a = ngx_http_ow_router_find_action(z, ctx->action.data, ctx->action.len);
    n = 0;

    if (a) {
        for (q = ngx_queue_head(&a->containers);
             q != ngx_queue_sentinel(&a->containers) && n < 64;
             q = ngx_queue_next(q))
        {
            c = ngx_queue_data(q, ngx_http_ow_router_container_t, queue);
            cand[n] = c;
            slots[n].concurrency = c->concurrency;
            slots[n].inflight = (int) c->inflight;
            slots[n].busy = (ngx_msec_int_t) (c->busy_until
                                              - ngx_current_msec) > 0;
            slots[n].tried = 0;
            slots[n].marked = c->marked;
            for (i = 0; i < ctx->ntried; i++) {
                if (ngx_memn2cmp(ctx->tried[i], c->id, ngx_strlen(
                                 (char *) ctx->tried[i]), c->id_len) == 0)
                {
                    slots[n].tried = 1;
                }
            }
            n++;
        }
    }

    best = ow_warm_pick(slots, n);
    if (best < 0) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_BUSY;
    }

    c = cand[best];
    (void) ngx_atomic_fetch_add(&c->inflight, 1);
    ctx->sin = c->sin;
    ctx->id_len = c->id_len;
    ngx_memcpy(ctx->id, c->id, c->id_len);
    ngx_memcpy(ctx->tried[ctx->ntried], c->id, c->id_len);
    ctx->tried[ctx->ntried][c->id_len] = '\0';
    ctx->ntried++;

    /* cleared here at once: one request asks, for every worker */
    unmark = c->marked;
    c->marked = 0;

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (unmark) {
        ngx_http_ow_router_unmark(ctx);
    }

    ctx->name.data = ctx->name_buf;
    ctx->name.len = ngx_sock_ntop((struct sockaddr *) &ctx->sin,
                                  sizeof(struct sockaddr_in), ctx->name_buf,
                                  sizeof(ctx->name_buf), 1);
    pc->sockaddr = (struct sockaddr *) &ctx->sin;
    pc->socklen = sizeof(struct sockaddr_in);
    pc->name = &ctx->name;
    return NGX_OK;
}

static ngx_msec_t
ngx_http_ow_router_retry_after(ngx_http_request_t *r)
{
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_uint_t        i;
    ngx_int_t         s;

    part = &r->upstream->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 1000;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }
        if (h[i].key.len == 11
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Retry-After", 11)
               == 0)
        {
            s = ngx_atoi(h[i].value.data, h[i].value.len);
            return (s > 0 && s < 60) ? (ngx_msec_t) s * 1000 : 1000;
        }
    }
}

static void
ngx_http_ow_router_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_ow_router_ctx_t        *ctx = data;
    ngx_http_ow_router_zone_t       *z = ngx_http_ow_router_table;
    ngx_http_ow_router_container_t  *c;
    ngx_http_upstream_t             *u;
    ngx_msec_t                       busy;

    if (ctx->id_len == 0) {
        return;
    }

    u = ctx->request->upstream;
    busy = (u && u->headers_in.status_n == NGX_HTTP_TOO_MANY_REQUESTS)
           ? ngx_http_ow_router_retry_after(ctx->request) : 0;
    if (u && u->headers_in.status_n == NGX_HTTP_TOO_MANY_REQUESTS) {
        ngx_http_ow_metrics_container_429();
    }

    if (u && u->headers_in.status_n == NGX_HTTP_SERVICE_UNAVAILABLE) {
        /* shutting down: its removal event is on the way */
        busy = 5000;
    }

    if (busy == 0 && (state & NGX_PEER_FAILED)) {
        /* refused or broken: likely gone, its removal event on the way */
        busy = 1000;
    }

    ngx_shmtx_lock(&z->shpool->mutex);
    /* the container may be gone meanwhile: find it again by id */
    c = ngx_http_ow_router_find_id(z, ctx->id, ctx->id_len);
    if (c) {
        if (c->inflight > 0) {
            (void) ngx_atomic_fetch_add(&c->inflight, -1);
        }
        if (busy) {
            c->busy_until = ngx_current_msec + busy;
        }
    }
    ngx_shmtx_unlock(&z->shpool->mutex);

    ctx->id_len = 0;
    pc->tries = (state & NGX_PEER_FAILED || busy) ? pc->tries - 1 : 0;
}

static ngx_int_t
ngx_http_ow_router_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_ow_router_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_router_module);
    if (ctx == NULL || ctx->action.len == 0 || ngx_http_ow_router_table == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ow_router_balancer used without ow_invoke");
        return NGX_ERROR;
    }

    r->upstream->peer.data = ctx;
    r->upstream->peer.get = ngx_http_ow_router_get_peer;
    r->upstream->peer.free = ngx_http_ow_router_free_peer;
    r->upstream->peer.tries = NGX_HTTP_OW_ROUTER_TRIES;
    return NGX_OK;
}

static ngx_int_t
ngx_http_ow_router_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    us->peer.init = ngx_http_ow_router_init_peer;
    return NGX_OK;
}

/*
 * Variables: $ow_action ("ns/path") and $ow_scale (for the capacity
 * request), $ow_accept_time (epoch ms the request arrived: the sidecar's
 * waitTime starts there).
 */

static ngx_int_t
ngx_http_ow_router_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_ow_router_ctx_t  *ctx;
    u_char                    *p;

    if (data == 2) {
        p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 3);
        if (p == NULL) {
            return NGX_ERROR;
        }
        v->len = ngx_sprintf(p, "%T%03M", r->main->start_sec,
                             r->main->start_msec) - p;
        v->data = p;
        v->valid = 1;
        v->no_cacheable = 0;
        v->not_found = 0;
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_ow_router_module);

    if (ctx == NULL && data == 0) {
        /*
         * After a redirect to a named location (the async path) the module
         * context is gone: resolve the action again from the URI.
         */
        ctx = ngx_pcalloc(r->main->pool, sizeof(ngx_http_ow_router_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }
        ctx->request = r->main;
        if (ngx_http_ow_router_action(r->main, ctx) != NGX_OK) {
            v->not_found = 1;
            return NGX_OK;
        }
        ngx_http_set_ctx(r->main, ctx, ngx_http_ow_router_module);
    }

    if (ctx == NULL || ctx->action.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (data == 0) {
        v->data = ctx->action.data;
        v->len = ctx->action.len;
    } else {
        v->data = (u_char *) (ctx->scale ? "true" : "false");
        v->len = ctx->scale ? 4 : 5;
    }
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

/*
 * $ow_web_uri: the web request's URI as "/api/v1/web/{ns}/..." (the path
 * after ow_invoke_web's location prefix), percent-escaped: it goes into a
 * header to the sidecar, and $uri is decoded (a %0A in it would split the
 * header). $request_uri will not do: API routes reach web actions by an
 * internal redirect.
 */
static ngx_int_t
ngx_http_ow_router_web_uri_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    static const char  prefix[] = "/api/v1/web";
    u_char            *p, *end, *rest;
    size_t             n;

    p = r->uri.data;
    end = p + r->uri.len;
    rest = (r->uri.len > 1) ? ngx_strlchr(p + 1, end, '/') : NULL;
    if (rest == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    n = end - rest;
    p = ngx_pnalloc(r->pool, sizeof(prefix) - 1 + n
                    + 2 * ngx_escape_uri(NULL, rest, n, NGX_ESCAPE_URI));
    if (p == NULL) {
        return NGX_ERROR;
    }
    v->data = p;
    p = ngx_cpymem(p, prefix, sizeof(prefix) - 1);
    p = (u_char *) ngx_escape_uri(p, rest, n, NGX_ESCAPE_URI);
    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

/*
 * $ow_internal_token: the installation's token (ow_internal_token_file),
 * which the sidecars and the pool-manager ask of every request
 * (X-OW-Token); empty when unset, so proxy_set_header sends none.
 */
static ngx_int_t
ngx_http_ow_router_token_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_ow_router_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_ow_router_module);

    v->data = rmcf->token.data;
    v->len = rmcf->token.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    return NGX_OK;
}

static ngx_int_t
ngx_http_ow_router_add_variables(ngx_conf_t *cf)
{
    static ngx_str_t      web_uri = ngx_string("ow_web_uri");
    static ngx_str_t      token = ngx_string("ow_internal_token");
    static ngx_str_t      names[] = {
        ngx_string("ow_action"), ngx_string("ow_scale"),
        ngx_string("ow_accept_time")
    };
    ngx_http_variable_t  *var;
    ngx_uint_t            i;

    for (i = 0; i < 3; i++) {
        var = ngx_http_add_variable(cf, &names[i], NGX_HTTP_VAR_NOCACHEABLE);
        if (var == NULL) {
            return NGX_ERROR;
        }
        var->get_handler = ngx_http_ow_router_variable;
        var->data = i;
    }

    var = ngx_http_add_variable(cf, &web_uri, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }
    var->get_handler = ngx_http_ow_router_web_uri_variable;

    var = ngx_http_add_variable(cf, &token, 0);
    if (var == NULL) {
        return NGX_ERROR;
    }
    var->get_handler = ngx_http_ow_router_token_variable;
    return NGX_OK;
}

/* ---- configuration ---- */

static ngx_int_t
ngx_http_ow_router_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ow_router_zone_t  *ozone = data;
    ngx_http_ow_router_zone_t  *z = shm_zone->data;
    ngx_int_t                   rc;
    void                       *sh;

    if (ozone) {
        /* reload: the table stays */
        z->sh = ozone->sh;
        z->shpool = ozone->shpool;
        return NGX_OK;
    }

    rc = ngx_http_ow_shm_init(shm_zone, sizeof(ngx_http_ow_router_shctx_t),
                              "ow_router_zone", &sh, &z->shpool);
    z->sh = sh;
    if (rc != NGX_OK) {
        return rc == NGX_DECLINED ? NGX_OK : NGX_ERROR;
    }

    ngx_rbtree_init(&z->sh->actions, &z->sh->actions_sentinel,
                    ngx_http_ow_router_insert_action);
    ngx_rbtree_init(&z->sh->ids, &z->sh->ids_sentinel,
                    ngx_http_ow_router_insert_id);
    return NGX_OK;
}

/* ow_router_zone name size */
static char *
ngx_http_ow_router_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ow_router_main_conf_t  *rmcf = conf;
    ngx_http_ow_router_zone_t       *z;
    ngx_str_t                       *value;
    ssize_t                          size;

    if (rmcf->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;
    size = ngx_parse_size(&value[2]);
    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid ow_router_zone size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_router_zone_t));
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }

    rmcf->zone = ngx_shared_memory_add(cf, &value[1], size,
                                       &ngx_http_ow_router_module);
    if (rmcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }
    rmcf->zone->init = ngx_http_ow_router_init_zone;
    rmcf->zone->data = z;
    return NGX_CONF_OK;
}

/*
 * ow_internal_token_file path: one line, the token. Read here, by the
 * master (the file is the master's user's alone; the workers could not
 * open it); the messages name the file, never its text.
 */
static char *
ngx_http_ow_internal_token_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ow_router_main_conf_t  *rmcf = conf;
    ngx_str_t                       *value;

    if (rmcf->token.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_ow_read_token(cf, &value[1], &rmcf->token) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}

/* ow_invoke <capacity location> */
static char *
ngx_http_ow_invoke(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ow_router_loc_conf_t   *rlcf = conf;
    ngx_http_ow_router_main_conf_t  *rmcf;
    ngx_str_t                       *value;

    if (rlcf->pool_uri.data) {
        return "is duplicate";
    }

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ow_router_module);
    if (rmcf->zone == NULL) {
        return "needs ow_router_zone before it";
    }

    value = cf->args->elts;
    rlcf->pool_uri = value[1];

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "async=@", 7) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }
        rlcf->async.data = value[2].data + 6;
        rlcf->async.len = value[2].len - 6;
    }

    return NGX_CONF_OK;
}

static char *
ngx_http_ow_router_balancer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_upstream_srv_conf_t  *uscf;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);
    if (uscf->peer.init_upstream) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "load balancing method redefined");
    }
    uscf->peer.init_upstream = ngx_http_ow_router_init_upstream;
    uscf->flags = NGX_HTTP_UPSTREAM_CREATE|NGX_HTTP_UPSTREAM_DOWN;
    return NGX_CONF_OK;
}

static void *
ngx_http_ow_router_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_router_main_conf_t));
}

static void *
ngx_http_ow_router_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ow_router_loc_conf_t  *rlcf;

    rlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_router_loc_conf_t));
    if (rlcf == NULL) {
        return NULL;
    }
    rlcf->park_max = NGX_CONF_UNSET_UINT;
    rlcf->web = NGX_CONF_UNSET;
    return rlcf;
}

static char *
ngx_http_ow_router_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ow_router_loc_conf_t  *prev = parent;
    ngx_http_ow_router_loc_conf_t  *conf = child;

    ngx_conf_merge_str_value(conf->pool_uri, prev->pool_uri, "");
    ngx_conf_merge_str_value(conf->async, prev->async, "");
    ngx_conf_merge_uint_value(conf->park_max, prev->park_max, 100);
    ngx_conf_merge_value(conf->web, prev->web, 0);
    return NGX_CONF_OK;
}

static ngx_int_t
ngx_http_ow_router_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* after access (auth), before content (proxy_pass) */
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_http_ow_router_handler;
    return NGX_OK;
}
