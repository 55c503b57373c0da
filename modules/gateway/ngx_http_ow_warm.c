/*
 * ngx_http_ow_warm.c: the warm table (ngx_http_ow_router.h): one
 * shared-memory zone for all workers, kept current by the pool-manager's
 * events (ngx_http_ow_warm_events.c) and by capacity answers. Every
 * function here that reads or changes the table takes the zone's lock (or
 * says _locked: its caller holds it), and none is called with it held but
 * those: the rest of the router never touches the zone.
 *
 * A warm request takes the lock twice: once in has_room, which also makes
 * the balancer's first choice (the request carries the container), and
 * once when the balancer frees the peer (the container is found again by
 * id: it may be gone meanwhile).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ow_compose.h"
#include "ow_warm.h"
#include "ngx_http_ow_compose.h"
#include "ngx_http_ow_invoke.h"
#include "ngx_http_ow_metrics.h"
#include "ngx_http_ow_redis.h"
#include "ngx_http_ow_shm.h"
#include "ngx_http_ow_router.h"

/* ---- the table ---- */

static const ngx_http_ow_shm_name_t  ngx_http_ow_warm_action_name = {
    offsetof(ngx_http_ow_router_action_t, action),
    offsetof(ngx_http_ow_router_action_t, len)
};

static const ngx_http_ow_shm_name_t  ngx_http_ow_warm_id_name = {
    offsetof(ngx_http_ow_router_container_t, id),
    offsetof(ngx_http_ow_router_container_t, id_len)
};

static ngx_http_ow_router_action_t *
ngx_http_ow_warm_find_action(ngx_http_ow_router_zone_t *z, u_char *name,
    size_t len)
{
    return (ngx_http_ow_router_action_t *) ngx_http_ow_shm_find(
               &z->sh->actions, &ngx_http_ow_warm_action_name, name, len);
}

static ngx_http_ow_router_container_t *
ngx_http_ow_warm_find_id(ngx_http_ow_router_zone_t *z, u_char *id,
    size_t len)
{
    return (ngx_http_ow_router_container_t *) ngx_http_ow_shm_find(
               &z->sh->ids, &ngx_http_ow_warm_id_name, id, len);
}

static void
ngx_http_ow_warm_insert_action(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_http_ow_shm_insert(temp, node, sentinel,
                           &ngx_http_ow_warm_action_name);
}

static void
ngx_http_ow_warm_insert_id(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_http_ow_shm_insert(temp, node, sentinel, &ngx_http_ow_warm_id_name);
}

/* remove a container; its action goes when empty and nobody is parked */
void
ngx_http_ow_warm_remove_locked(ngx_http_ow_router_zone_t *z,
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
ngx_http_ow_warm_get_action_locked(ngx_http_ow_router_zone_t *z,
    u_char *name, size_t len)
{
    ngx_http_ow_router_action_t  *a;

    a = ngx_http_ow_warm_find_action(z, name, len);
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

void
ngx_http_ow_warm_apply_locked(ngx_http_ow_router_zone_t *z,
    ow_warm_entry_t *e)
{
    ngx_http_ow_router_container_t  *c;
    ngx_http_ow_router_action_t     *a;
    size_t                           id_len, len;

    id_len = ngx_strlen(e->id);
    c = ngx_http_ow_warm_find_id(z, (u_char *) e->id, id_len);

    if (e->op == OW_WARM_DEL) {
        if (c) {
            ngx_http_ow_warm_remove_locked(z, c);
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
    a = ngx_http_ow_warm_get_action_locked(z, (u_char *) e->action, len);
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


static void
ngx_http_ow_warm_drop_web_locked(ngx_http_ow_router_zone_t *z,
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
ngx_http_ow_warm_forget_locked(ngx_http_ow_router_zone_t *z,
    ngx_http_ow_router_action_t *a)
{
    if (a->compose_doc) {
        ngx_slab_free_locked(z->shpool, a->compose_doc);
    }
    a->compose = 0;
    a->compose_doc = NULL;
    a->compose_len = 0;
    ngx_http_ow_warm_drop_web_locked(z, a);

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
ngx_http_ow_warm_stale_locked(ngx_http_ow_router_zone_t *z,
    ngx_http_ow_router_action_t *a)
{
    if (ngx_queue_empty(&a->containers) && a->parked == 0) {
        ngx_http_ow_warm_forget_locked(z, a);
        return;
    }

    if (a->compose_doc) {
        ngx_slab_free_locked(z->shpool, a->compose_doc);
        a->compose_doc = NULL;
        a->compose_len = 0;
    }
    ngx_http_ow_warm_drop_web_locked(z, a);
    a->compose_until = 0;
}

/*
 * The action changed (updated or deleted): its containers run the code they
 * were started with. They leave this gateway's table, so the next request is
 * a miss and asks the pool-manager, which reads the document, retires the
 * containers of an older version and starts one of the new
 * (pool-manager/placement/capacity.h). One gateway's table, not Redis: the
 * pool-manager's "del" events follow.
 */
static void
ngx_http_ow_warm_drop_containers_locked(ngx_http_ow_router_zone_t *z,
    ngx_http_ow_router_action_t *a)
{
    ngx_http_ow_router_container_t  *c;
    ngx_uint_t                       last;

    /* while parked requests or a composition keep the entry, it stays */
    a->parked++;
    while (!ngx_queue_empty(&a->containers)) {
        c = ngx_queue_data(ngx_queue_head(&a->containers),
                           ngx_http_ow_router_container_t, queue);
        ngx_http_ow_warm_remove_locked(z, c);
    }
    a->parked--;

    last = (a->parked == 0);
    if (a->compose) {
        ngx_http_ow_warm_stale_locked(z, a);

    } else if (last) {
        ngx_rbtree_delete(&z->sh->actions, &a->node);
        ngx_slab_free_locked(z->shpool, a);
    }
}

/* set by the response cache (ngx_http_ow_invoke.h) */
ngx_http_ow_router_forgotten_pt  ngx_http_ow_router_forgotten;

void
ngx_http_ow_router_forget(u_char *action, size_t len)
{
    ngx_http_ow_router_zone_t    *z = ngx_http_ow_router_table;
    ngx_http_ow_router_action_t  *a;
    ngx_rbtree_node_t            *node, *next, *sentinel;

    /* what the response cache keeps of it goes with it */
    if (ngx_http_ow_router_forgotten) {
        ngx_http_ow_router_forgotten(action, len);
    }

    if (z == NULL) {
        return;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    if (len) {
        a = ngx_http_ow_warm_find_action(z, action, len);
        if (a) {
            ngx_http_ow_warm_drop_containers_locked(z, a);
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
                    ngx_http_ow_warm_stale_locked(z, a);
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
ngx_http_ow_warm_remember_locked(ngx_http_ow_router_zone_t *z,
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
        a = ngx_http_ow_warm_find_action(z, ctx->action.data,
                                           ctx->action.len);
        if (a && a->compose) {
            /* no longer one */
            ngx_http_ow_warm_forget_locked(z, a);
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

    a = ngx_http_ow_warm_get_action_locked(z, ctx->action.data,
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
        ngx_http_ow_warm_drop_web_locked(z, a);
        if (ngx_queue_empty(&a->containers) && a->parked == 0) {
            ngx_rbtree_delete(&z->sh->actions, &a->node);
            ngx_slab_free_locked(z->shpool, a);
        }
        return;
    }

    a->compose = (u_char) ctx->compose;
    /* a backstop for a missed event: ask again after a minute */
    a->compose_until = ngx_time() + 60;

    ngx_http_ow_warm_drop_web_locked(z, a);
    if (ctx->web_facts && ctx->web_facts_len <= OW_COMPOSE_COMPONENTS_MAX) {
        a->web_facts = ngx_slab_alloc_locked(z->shpool, ctx->web_facts_len);
        if (a->web_facts) {
            ngx_memcpy(a->web_facts, ctx->web_facts, ctx->web_facts_len);
            a->web_facts_len = ctx->web_facts_len;
        }
    }
}

/*
 * A capacity answer ({"containers": [...]}, o its document): its
 * containers go into the table at once (their events follow and are
 * no-ops), and what it says the action is, is remembered.
 */
void
ngx_http_ow_warm_capacity(ngx_http_ow_router_ctx_t *ctx, json_t *o,
    json_t *list)
{
    ngx_http_ow_router_zone_t  *z = ngx_http_ow_router_table;
    ow_warm_entry_t             e;
    json_t                     *c;
    size_t                      i;
    char                       *s;

    ngx_shmtx_lock(&z->shpool->mutex);
    json_array_foreach(list, i, c) {
        json_object_set_new(c, "action", json_stringn(
            (char *) ctx->action.data, ctx->action.len));
        s = json_dumps(c, JSON_COMPACT);
        if (s && ow_warm_parse(s, ngx_strlen(s), &e) == 0) {
            ngx_http_ow_warm_apply_locked(z, &e);
        }
        free(s);
    }
    ngx_http_ow_warm_remember_locked(z, ctx, o);
    ngx_shmtx_unlock(&z->shpool->mutex);
}

/*
 * What the table remembers of a sequence or conductor action, copied into
 * r->pool: its web facts (web) or a sequence's document; left NULL when
 * there are none.
 */
void
ngx_http_ow_warm_remembered(ngx_http_ow_router_ctx_t *ctx, ngx_uint_t web)
{
    ngx_http_ow_router_zone_t    *z = ngx_http_ow_router_table;
    ngx_http_ow_router_action_t  *a;
    u_char                       *src, *p;
    size_t                        len;

    ngx_shmtx_lock(&z->shpool->mutex);
    a = ngx_http_ow_warm_find_action(z, ctx->action.data, ctx->action.len);
    src = NULL;
    len = 0;
    if (a) {
        src = web ? a->web_facts : a->compose_doc;
        len = web ? a->web_facts_len : a->compose_len;
    }
    p = src ? ngx_pnalloc(ctx->request->pool, len) : NULL;
    if (p) {
        ngx_memcpy(p, src, len);
        if (web) {
            ctx->web_facts = p;
            ctx->web_facts_len = len;

        } else {
            ctx->compose_doc = p;
            ctx->compose_len = len;
        }
    }
    ngx_shmtx_unlock(&z->shpool->mutex);
}

/* ---- parking ---- */

/* NGX_OK: the request waits on the action; NGX_DECLINED: too many do */
ngx_int_t
ngx_http_ow_warm_park(ngx_http_ow_router_ctx_t *ctx, ngx_uint_t park_max)
{
    ngx_http_ow_router_zone_t    *z = ngx_http_ow_router_table;
    ngx_http_ow_router_action_t  *a;
    ngx_uint_t                    full;

    ngx_shmtx_lock(&z->shpool->mutex);
    a = ngx_http_ow_warm_get_action_locked(z, ctx->action.data,
                                           ctx->action.len);
    full = (a == NULL || a->parked >= park_max);
    if (!full) {
        a->parked++;
        ctx->parked_on = a;
    }
    ngx_shmtx_unlock(&z->shpool->mutex);

    return full ? NGX_DECLINED : NGX_OK;
}

void
ngx_http_ow_warm_unpark(ngx_http_ow_router_ctx_t *ctx)
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

/* ---- the choice of a container ---- */

static void
ngx_http_ow_warm_unmarked(void *data, redisReply *r)
{
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "ow router: unmark request not stored");
    }
}

/*
 * The request goes to a marked container, the action having no other: ask
 * the collector not to sweep it. Only on this rare path, and no wait. An
 * HSET of OW_KEY_WARM_UNMARK, not a PUBLISH: the pool-manager reads it every
 * pass and its sweep script checks it in the same step as the delete, so
 * the request is neither lost while no pool-manager listens nor late.
 */
static void
ngx_http_ow_warm_unmark(ngx_http_ow_router_ctx_t *ctx)
{
    char         cmd[160];
    size_t       len;
    ngx_time_t  *tp;

    tp = ngx_timeofday();
    len = ow_warm_unmark_command(cmd, sizeof(cmd), (char *) ctx->id,
                                 ctx->id_len,
                                 (int64_t) tp->sec * 1000 + tp->msec);

    if (len == 0
        || ngx_http_ow_redis_command(cmd, len, ngx_http_ow_warm_unmarked,
                                     NULL)
           == NULL)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "ow router: cannot ask to unmark container \"%*s\"",
                      ctx->id_len, ctx->id);
    }
}

/*
 * Under the lock: the action's best container for this request (the most
 * free slots, neither busy nor tried: ow_warm_pick), counted in flight and
 * written to ctx (id, sin). NGX_BUSY when there is none. *unmark: it was
 * marked for collection (cleared here at once: one request asks, for every
 * worker).
 */
static ngx_int_t
ngx_http_ow_warm_choose_locked(ngx_http_ow_router_ctx_t *ctx,
    ngx_http_ow_router_action_t *a, ngx_uint_t *unmark)
{
    ngx_http_ow_router_container_t  *c, *cand[64];
    ow_warm_slot_t                   slots[64];
    ngx_queue_t                     *q;
    ngx_uint_t                       i;
    int                              n, best;

    n = 0;
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

    best = ow_warm_pick(slots, n);
    if (best < 0) {
        return NGX_BUSY;
    }

    c = cand[best];
    (void) ngx_atomic_fetch_add(&c->inflight, 1);
    ctx->sin = c->sin;
    ctx->id_len = c->id_len;
    ngx_memcpy(ctx->id, c->id, c->id_len);

    *unmark = c->marked;
    c->marked = 0;
    return NGX_OK;
}

/*
 * Whether the action has a container that did not say 429 just now. For a
 * plain action the balancer's first choice is made here as well, under the
 * same lock and from the same lookup: the container is counted in flight
 * and the request carries it (ctx->reserved). A sequence or conductor
 * action is left to the compose driver (ctx->compose) and the balancer
 * chooses for it, if it comes to that.
 */
ngx_uint_t
ngx_http_ow_warm_has_room(ngx_http_ow_router_ctx_t *ctx, ngx_uint_t *any)
{
    ngx_http_ow_router_zone_t       *z = ngx_http_ow_router_table;
    ngx_http_ow_router_action_t     *a;
    ngx_http_ow_router_container_t  *c;
    ngx_queue_t                     *q;
    ngx_uint_t                       room, unmark;

    room = 0;
    unmark = 0;
    *any = 0;

    ngx_shmtx_lock(&z->shpool->mutex);
    a = ngx_http_ow_warm_find_action(z, ctx->action.data, ctx->action.len);
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
        if (room && !a->compose
            && ngx_http_ow_warm_choose_locked(ctx, a, &unmark) == NGX_OK)
        {
            ctx->reserved = 1;
        }
    }
    ngx_shmtx_unlock(&z->shpool->mutex);

    if (unmark) {
        ngx_http_ow_warm_unmark(ctx);
    }
    return room;
}

/* the balancer's next try: NGX_OK with ctx's id and sin, or NGX_BUSY */
ngx_int_t
ngx_http_ow_warm_pick(ngx_http_ow_router_ctx_t *ctx)
{
    ngx_http_ow_router_zone_t    *z = ngx_http_ow_router_table;
    ngx_http_ow_router_action_t  *a;
    ngx_uint_t                    unmark;
    ngx_int_t                     rc;

    unmark = 0;

    ngx_shmtx_lock(&z->shpool->mutex);
    a = ngx_http_ow_warm_find_action(z, ctx->action.data, ctx->action.len);
    rc = a ? ngx_http_ow_warm_choose_locked(ctx, a, &unmark) : NGX_BUSY;
    ngx_shmtx_unlock(&z->shpool->mutex);

    if (unmark) {
        ngx_http_ow_warm_unmark(ctx);
    }
    return rc;
}

/*
 * The request is done with its container (ctx->id): no longer in flight,
 * and busy for "busy" ms (0: not). The container may be gone meanwhile: it
 * is found again by id.
 */
void
ngx_http_ow_warm_done(ngx_http_ow_router_ctx_t *ctx, ngx_msec_t busy)
{
    ngx_http_ow_router_zone_t       *z = ngx_http_ow_router_table;
    ngx_http_ow_router_container_t  *c;

    ngx_shmtx_lock(&z->shpool->mutex);
    c = ngx_http_ow_warm_find_id(z, ctx->id, ctx->id_len);
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
}

ngx_int_t
ngx_http_ow_router_container(u_char *id, size_t len, struct sockaddr_in *sin)
{
    ngx_http_ow_router_zone_t       *z = ngx_http_ow_router_table;
    ngx_http_ow_router_container_t  *c;

    if (z == NULL) {
        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&z->shpool->mutex);
    c = ngx_http_ow_warm_find_id(z, id, len);
    if (c) {
        *sin = c->sin;
    }
    ngx_shmtx_unlock(&z->shpool->mutex);

    return c ? NGX_OK : NGX_DECLINED;
}

/* has_room's choice, when the request never reached the balancer */
void
ngx_http_ow_warm_release(ngx_http_ow_router_ctx_t *ctx)
{
    if (ctx->reserved) {
        ctx->reserved = 0;
        ngx_http_ow_warm_done(ctx, 0);
    }
}

/* ---- the zone ---- */

ngx_int_t
ngx_http_ow_warm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
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
                    ngx_http_ow_warm_insert_action);
    ngx_rbtree_init(&z->sh->ids, &z->sh->ids_sentinel,
                    ngx_http_ow_warm_insert_id);
    return NGX_OK;
}

/* ow_router_zone name size */
