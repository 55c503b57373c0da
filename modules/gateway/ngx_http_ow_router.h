/*
 * ngx_http_ow_router.h: what the files of ngx_http_ow_router_module share,
 * and nothing other modules need (theirs: ngx_http_ow_compose.h,
 * ngx_http_ow_metrics.h):
 *
 *   ngx_http_ow_router_module.c  the directives, variables, configuration
 *   ngx_http_ow_warm.c           the warm table in its shared zone; every
 *                                function that takes the zone's lock
 *   ngx_http_ow_warm_events.c    the table's Redis subscriber and resync
 *   ngx_http_ow_invoke.c         ow_invoke: the action, room or parking
 *   ngx_http_ow_balancer.c       ow_router_balancer: peers from the table
 *
 * The warm table lives in one shared-memory zone for all workers: one node
 * per action (rbtree by CRC32 of "ns/path") and one per container (also in
 * an rbtree by CRC32 of its id, for removals); a container node is under
 * 256 bytes, so 10,000 containers fit in 4 MB.
 */

#ifndef NGX_HTTP_OW_ROUTER_H
#define NGX_HTTP_OW_ROUTER_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ow_warm.h"

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
    ngx_int_t                     retry_after; /* its "retryAfter" (s) */
    ngx_http_ow_router_action_t  *parked_on;
    ngx_uint_t                    compose;     /* NGX_HTTP_OW_COMPOSE_* */
    u_char                       *compose_doc; /* a sequence's, r->pool */
    size_t                        compose_len;
    /* a web request: the capacity answer's "web" facts (libow/ow_web.h) */
    u_char                       *web_facts;
    size_t                        web_facts_len;
    ngx_uint_t                    ask;         /* known, but ask anyway */

    /*
     * The balancer's state. "reserved": has_room chose the container (id,
     * sin) and counted it in flight; the balancer's first try goes there
     * with no lock and no lookup.
     */
    ngx_uint_t                    reserved;
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

extern ngx_module_t                ngx_http_ow_router_module;

/* the zone, for the worker-level subscriber; NULL without ow_router_zone */
extern ngx_http_ow_router_zone_t  *ngx_http_ow_router_table;

/* ngx_http_ow_warm.c */
ngx_int_t ngx_http_ow_warm_init_zone(ngx_shm_zone_t *shm_zone, void *data);
void ngx_http_ow_warm_apply_locked(ngx_http_ow_router_zone_t *z,
    ow_warm_entry_t *e);
void ngx_http_ow_warm_remove_locked(ngx_http_ow_router_zone_t *z,
    ngx_http_ow_router_container_t *c);
ngx_uint_t ngx_http_ow_warm_has_room(ngx_http_ow_router_ctx_t *ctx,
    ngx_uint_t *any);
void ngx_http_ow_warm_release(ngx_http_ow_router_ctx_t *ctx);
ngx_int_t ngx_http_ow_warm_pick(ngx_http_ow_router_ctx_t *ctx);
void ngx_http_ow_warm_done(ngx_http_ow_router_ctx_t *ctx, ngx_msec_t busy);
ngx_int_t ngx_http_ow_warm_park(ngx_http_ow_router_ctx_t *ctx,
    ngx_uint_t park_max);
void ngx_http_ow_warm_unpark(ngx_http_ow_router_ctx_t *ctx);
void ngx_http_ow_warm_capacity(ngx_http_ow_router_ctx_t *ctx, json_t *o,
    json_t *list);
void ngx_http_ow_warm_remembered(ngx_http_ow_router_ctx_t *ctx,
    ngx_uint_t web);

/* ngx_http_ow_warm_events.c */
void ngx_http_ow_warm_events_start(ngx_cycle_t *cycle);
void ngx_http_ow_warm_events_stop(void);

/* ngx_http_ow_invoke.c */
ngx_int_t ngx_http_ow_invoke_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_ow_invoke_action(ngx_http_request_t *r,
    ngx_http_ow_router_ctx_t *ctx);

/* ngx_http_ow_balancer.c */
ngx_int_t ngx_http_ow_balancer_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);

#endif /* NGX_HTTP_OW_ROUTER_H */
