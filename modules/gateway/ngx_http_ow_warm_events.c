/*
 * ngx_http_ow_warm_events.c: keeps the warm table (ngx_http_ow_warm.c)
 * current. Every worker subscribes to the pool-manager's events (Redis
 * channel OW_CHANNEL_WARM) and applies them idempotently, by version; on
 * (re)connect or a version gap it re-reads the whole table (OW_KEY_WARM).
 * So the warm path makes no Redis round trip and asks no control plane: it
 * reads shared memory.
 *
 * Every worker also subscribes to the entity events (owx:events): when an
 * action changes, what the table remembers of it (its containers, that it
 * is a sequence or a conductor action) goes, so the next request asks the
 * pool-manager's capacity API about the new version.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ow_schema.h"
#include "ow_warm.h"
#include "ngx_http_ow_metrics.h"
#include "ngx_http_ow_redis.h"
#include "ngx_http_ow_subscriber.h"
#include "ngx_http_ow_invoke.h"
#include "ngx_http_ow_router.h"

static ngx_uint_t          ngx_http_ow_warm_resyncing;
static int64_t             ngx_http_ow_warm_resync_version;

static void ngx_http_ow_warm_resync(void);

static void
ngx_http_ow_warm_resynced(void *data, redisReply *r)
{
    ngx_http_ow_router_zone_t       *z = ngx_http_ow_router_table;
    ngx_rbtree_node_t               *node, *next, *sentinel;
    ngx_http_ow_router_container_t  *c;
    ow_warm_entry_t                  e;
    size_t                           i;

    ngx_http_ow_warm_resyncing = 0;

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
            ngx_http_ow_warm_apply_locked(z, &e);
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
                ngx_http_ow_warm_remove_locked(z, c);
            }
        }
    }

    if (ngx_http_ow_warm_resync_version > z->sh->version) {
        z->sh->version = ngx_http_ow_warm_resync_version;
    }
    ngx_http_ow_metrics_warm(z->sh->version, z->sh->version,
                             z->sh->containers);

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "ow router: warm table resynced at version %L",
                  ngx_http_ow_warm_resync_version);
}

static void
ngx_http_ow_warm_version_read(void *data, redisReply *r)
{
    ngx_http_ow_warm_resync_version = 0;
    if (r && r->type == REDIS_REPLY_STRING) {
        ngx_http_ow_warm_resync_version = ngx_atoof((u_char *) r->str,
                                                      r->len);
        if (ngx_http_ow_warm_resync_version < 0) {
            ngx_http_ow_warm_resync_version = 0;
        }
    }
}

/* the RESP below spells the key lengths out: the build checks them */
typedef char  ngx_http_ow_warm_ver_len_is_14
                  [sizeof(OW_KEY_WARM_VERSION) - 1 == 14 ? 1 : -1];
typedef char  ngx_http_ow_warm_key_len_is_10
                  [sizeof(OW_KEY_WARM) - 1 == 10 ? 1 : -1];

static void
ngx_http_ow_warm_resync(void)
{
    /* "$14" and "$10": the lengths of the two key names */
    static const char  ver[] = "*2\r\n$3\r\nGET\r\n$14\r\n"
                               OW_KEY_WARM_VERSION "\r\n";
    static const char  all[] = "*2\r\n$7\r\nHGETALL\r\n$10\r\n"
                               OW_KEY_WARM "\r\n";

    if (ngx_http_ow_warm_resyncing) {
        return;
    }

    /*
     * The version first, then the table, on one connection (in order): a
     * change between the two is in the table and its event is re-applied,
     * harmlessly; the other order could skip a change.
     */
    if (ngx_http_ow_redis_command(ver, sizeof(ver) - 1,
                                  ngx_http_ow_warm_version_read, NULL)
        == NULL
        || ngx_http_ow_redis_command(all, sizeof(all) - 1,
                                     ngx_http_ow_warm_resynced, NULL)
           == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ow router: cannot resync the warm table now");
        return;
    }

    ngx_http_ow_warm_resyncing = 1;
}

/* (re)subscribed: what happened while away is only in the table */
static void
ngx_http_ow_warm_on_subscribe(void)
{
    ngx_http_ow_warm_resync();
}

static void
ngx_http_ow_warm_on_event(const char *data, size_t len)
{
    ngx_http_ow_router_zone_t  *z = ngx_http_ow_router_table;
    ow_warm_entry_t             e;
    ngx_uint_t                  gap;

    if (ow_warm_parse(data, len, &e) != 0) {
        return;
    }

    gap = 0;
    ngx_shmtx_lock(&z->shpool->mutex);

    if (e.version == 0 || e.version > z->sh->version) {
        gap = (e.version > z->sh->version + 1 && z->sh->version != 0);
        ngx_http_ow_warm_apply_locked(z, &e);
        if (e.version > z->sh->version) {
            z->sh->version = e.version;
        }
    }
    /* a gap: "seen" runs ahead of "applied" until the resync */
    ngx_http_ow_metrics_warm(e.version, gap ? 0 : z->sh->version,
                             z->sh->containers);

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (gap) {
        ngx_http_ow_warm_resync();
    }
}

static ngx_http_ow_sub_t  ngx_http_ow_warm_sub = {
    OW_CHANNEL_WARM, "ow router", ngx_http_ow_warm_on_subscribe,
    ngx_http_ow_warm_on_event, NULL, NULL, { 0 }, 0
};

/* ---- entity events: the table forgets what changed ---- */

/* (re)subscribed: changes while away are unknown, forget all */
static void
ngx_http_ow_entity_on_subscribe(void)
{
    ngx_http_ow_router_forget(NULL, 0);
}

static void
ngx_http_ow_entity_on_event(const char *data, size_t len)
{
    json_t      *o;
    const char  *ns, *coll, *path;
    u_char       action[OW_WARM_ACTION_MAX + 1];
    size_t       n;

    o = json_loadb(data, len, 0, NULL);
    ns = json_string_value(json_object_get(o, "ns"));
    coll = json_string_value(json_object_get(o, "coll"));
    path = json_string_value(json_object_get(o, "path"));

    if (ns && path && coll && ngx_strcmp(coll, "actions") == 0) {
        n = ngx_snprintf(action, sizeof(action), "%s/%s", ns, path)
            - action;
        if (n < sizeof(action)) {
            ngx_http_ow_router_forget(action, n);
        }

    } else if (ns && coll && ngx_strcmp(coll, "packages") == 0) {
        /* a package's parameters are its actions' input: all of ns */
        if (ngx_http_ow_router_forgotten) {
            ngx_http_ow_router_forgotten((u_char *) ns, ngx_strlen(ns));
        }
    }
    json_decref(o);
}

static void
ngx_http_ow_entity_lost(void)
{
    if (ngx_terminate || ngx_exiting || ngx_quit) {
        return;
    }

    /* what changes meanwhile is unknown: the memory goes now */
    ngx_http_ow_router_forget(NULL, 0);
}

static ngx_http_ow_sub_t  ngx_http_ow_entity_sub = {
    OW_CHANNEL_EVENTS, "ow router entities", ngx_http_ow_entity_on_subscribe,
    ngx_http_ow_entity_on_event, ngx_http_ow_entity_lost, NULL, { 0 }, 0
};

void
ngx_http_ow_warm_events_start(ngx_cycle_t *cycle)
{
    ngx_http_ow_sub_start(&ngx_http_ow_warm_sub, cycle->log);
    ngx_http_ow_sub_start(&ngx_http_ow_entity_sub, cycle->log);
}

void
ngx_http_ow_warm_events_stop(void)
{
    ngx_http_ow_sub_stop(&ngx_http_ow_warm_sub);
    ngx_http_ow_sub_stop(&ngx_http_ow_entity_sub);
}
