/*
 * ngx_http_ow_cache_module.c: the response cache, directed by the action.
 *
 * Nothing is cached unless the action says so:
 *
 *   - any action, on the API path with blocking=true, by the reserved field
 *     "__ow_cache" of its result: {"maxAge": s, "key": ["token", ...],
 *     "staleWhileRevalidate": s, "staleIfError": s} (ow_cache.h parses it).
 *     The field is taken out of the answer the client gets (the record the
 *     sidecar stores keeps the result as the action returned it);
 *   - a web action, by its answer's HTTP caching headers, as a shared
 *     cache reads them (RFC 9111): Cache-Control s-maxage, max-age,
 *     private, public, no-store, no-cache; Expires; Vary; ETag with
 *     If-None-Match (a hit answers 304). GET only (HEAD is served from it).
 *
 * The key. Every key starts from a digest ("prim") of: the kind (API or
 * web), the action as invoked ("ns/path", "invoker/owner/pkg/name"), the
 * invoking namespace (API; a web action runs as its owner, who is in the
 * action), result=true or not (API), and four epochs from this zone: the
 * action's, its owner namespace's, the invoking namespace's, the zone's.
 * An entity event for the action (update, delete; every gateway hears it,
 * see ngx_http_ow_router_forget) or a purge gives the action (or the
 * namespace) a new epoch: what was stored before is never matched again and
 * ages out of the LRU. An epoch is taken when the request is looked up and
 * the answer is stored under it, so an answer of the old code that lands
 * after the event is stored where nobody looks.
 *
 * Which input makes another answer is said by the answer (like Vary), so a
 * lookup takes two steps: the variant (digest of prim + "v") says which
 * input the last cacheable answer named (the field's "key", or the Vary
 * header names) and whether it is private; the answer's digest is prim +
 * "a" + the subject (always on the API path: authenticated calls are
 * private; on the web path when Cache-Control says private, then only for
 * authenticated requests) + that input, canonical (ow_cache_input: the
 * whole JSON body with sorted keys, or the named parameters; a web
 * request's path, its query arguments sorted, the Vary headers' values).
 * Digests are SHA-256 and compared whole: no input can reach another
 * caller's answer.
 *
 * Where. The lookup is a precontent handler that runs before ow_invoke
 * (ngx_http_ow_invoke.c): a hit answers from the zone with no Redis round
 * trip and no upstream request, before the router picks a container. A
 * miss goes on; the header and body filters see the answer: a blocking API
 * answer (JSON) is held whole (the field must go before Content-Length
 * goes out), a web answer that may be stored is copied as it passes. The
 * answer is stored when its last byte went out.
 *
 * A hit on the API path is an activation: it answers with the request's
 * id ($request_id, as a miss's sidecar would) and the record is the cached
 * one with a fresh activationId, subject, start = end = now, duration 0 and
 * the annotation {"key":"cacheHit","value":true}, written to Redis off the
 * response path (a worker's hits every 50 ms, one pipelined batch). Web
 * hits are not recorded (modules/README.md says why). It passed ow_auth like
 * any invocation; the lookup runs before ow_limit's precontent handler, so
 * a miss is admitted there as any invocation, and an API hit is counted
 * per minute by ngx_http_ow_limit_hit (429 past it) but takes no
 * concurrency slot: it occupies no container. Web hits count against
 * neither.
 *
 * Concurrent misses of a key known to be cached run the action once: the
 * first takes a lock entry in the zone, the others poll the zone until the
 * answer is there (or the lock is gone). Past max-age, within
 * stale-while-revalidate the stale entry is answered while the lock's
 * owner refreshes it; within stale-if-error a failed answer (5xx) is
 * replaced by it.
 *
 * The zone: one slab, a red-black tree of entries by digest, an LRU queue;
 * a store that finds no room evicts from the LRU's tail until it fits (the
 * client never sees an error); an answer over max_object is not stored.
 * The zone survives reloads like every ow zone (ngx_http_ow_shm.c).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ow_cache_internal.h"
#include "ngx_http_ow_http.h"

ngx_http_output_header_filter_pt  ngx_http_ow_cache_next_header_filter;
ngx_http_output_body_filter_pt    ngx_http_ow_cache_next_body_filter;

static ngx_int_t ngx_http_ow_cache_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_ow_cache_init_process(ngx_cycle_t *cycle);
static void ngx_http_ow_cache_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_ow_cache_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_ow_cache_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ow_cache_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ow_cache_zone_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_ow_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static ngx_command_t  ngx_http_ow_cache_commands[] = {

    /* ow_response_cache_zone name size [max_object=size] */
    { ngx_string("ow_response_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE23,
      ngx_http_ow_cache_zone_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    /* ow_response_cache name | off: in ow_invoke, ow_invoke_web locations */
    { ngx_string("ow_response_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ow_cache_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};

static ngx_http_module_t  ngx_http_ow_cache_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_ow_cache_init,                /* postconfiguration */
    ngx_http_ow_cache_create_main_conf,    /* create main configuration */
    NULL,                                  /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_ow_cache_create_loc_conf,     /* create location configuration */
    ngx_http_ow_cache_merge_loc_conf       /* merge location configuration */
};

ngx_module_t  ngx_http_ow_cache_module = {
    NGX_MODULE_V1,
    &ngx_http_ow_cache_module_ctx,         /* module context */
    ngx_http_ow_cache_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ow_cache_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ow_cache_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};

/* ---- the precontent handler ---- */

static void
ngx_http_ow_cache_cleanup(void *data)
{
    ngx_http_ow_cache_ctx_t       *ctx = data;
    ngx_http_ow_cache_loc_conf_t  *lcf;

    json_decref(ctx->params);
    if (ctx->wait.timer_set) {
        ngx_del_timer(&ctx->wait);
    }
    if (ctx->locked) {
        /* the request ended before its answer was stored (or not) */
        lcf = ngx_http_get_module_loc_conf(
                  (ngx_http_request_t *) ctx->wait.data,
                  ngx_http_ow_cache_module);
        ngx_http_ow_cache_unlock(lcf->zone->data, ctx);
    }
}

/*
 * The lookup, and what follows: NGX_DECLINED (run the action), NGX_DONE
 * (answered, or waiting for the lock's owner: a timer looks again).
 */
static ngx_int_t
ngx_http_ow_cache_run(ngx_http_request_t *r, ngx_http_ow_cache_ctx_t *ctx)
{
    ngx_http_ow_cache_loc_conf_t  *lcf;
    ngx_int_t                      rc;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_cache_module);

    if (ctx->waiting && ngx_http_ow_cache_now() >= ctx->wait_until) {
        /* the owner takes too long: run it too */
        ctx->no_lock = 1;
    }

    rc = ngx_http_ow_cache_lookup(r, ctx, lcf->zone->data);

    if (rc == NGX_DECLINED) {
        ctx->waiting = 0;
        ctx->status = NGX_DECLINED;
        return NGX_DECLINED;
    }

    if (rc == NGX_AGAIN) {
        if (!ctx->waiting) {
            ctx->waiting = 1;
            ctx->wait_until = ngx_http_ow_cache_now()
                              + NGX_HTTP_OW_CACHE_LOCK_MS;
        }
        ctx->miss = 0;
        ctx->status = NGX_DONE;
        ngx_add_timer(&ctx->wait, NGX_HTTP_OW_CACHE_WAIT_MS);
        return NGX_DONE;
    }

    ctx->waiting = 0;
    ctx->status = NGX_DONE;
    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}

static void
ngx_http_ow_cache_wait_handler(ngx_event_t *ev)
{
    ngx_http_request_t  *r = ev->data;
    ngx_connection_t    *c = r->connection;

    ngx_http_set_log_request(c->log, r);
    /* back into the precontent phase: the handler looks again */
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}

/*
 * The API input, unparsed: the request body's bytes (the proxy sends the
 * buffers on, so they are copied). Parsed only when a key needs it
 * (ngx_http_ow_cache_params): an action that never asked to be cached
 * costs its warm invocations no JSON parse.
 */
static void
ngx_http_ow_cache_read_input(ngx_http_request_t *r,
    ngx_http_ow_cache_ctx_t *ctx)
{
    ngx_chain_t  *cl;
    u_char       *p;
    size_t        len;

    if (r->request_body == NULL || r->request_body->temp_file) {
        return;
    }

    len = 0;
    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (!ngx_buf_in_memory(cl->buf)) {
            return;
        }
        len += cl->buf->last - cl->buf->pos;
    }

    if (len) {
        ctx->input = ngx_pnalloc(r->pool, len);
        if (ctx->input == NULL) {
            return;
        }
        p = ctx->input;
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
        }
    }
    ctx->input_len = len;
    ctx->input_read = 1;
}

static void
ngx_http_ow_cache_body_read(ngx_http_request_t *r)
{
    ngx_http_ow_cache_ctx_t  *ctx;
    ngx_int_t                 rc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_cache_module);
    ngx_http_ow_cache_read_input(r, ctx);

    r->preserve_body = 1;
    r->write_event_handler = ngx_http_core_run_phases;

    rc = NGX_DECLINED;
    if (ctx->input_read) {
        rc = ngx_http_ow_cache_run(r, ctx);
    } else {
        ctx->miss = 0;
        ctx->status = NGX_DECLINED;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_core_run_phases(r);
    }
}

static ngx_uint_t
ngx_http_ow_cache_arg(ngx_http_request_t *r, char *name, size_t len)
{
    ngx_str_t  v;

    return ngx_http_arg(r, (u_char *) name, len, &v) == NGX_OK
           && v.len == 4 && ngx_strncmp(v.data, "true", 4) == 0;
}

/*
 * The request's own caching directives (RFC 9111 5.2.1): NGX_DECLINED for
 * "Cache-Control: no-store" (nothing looked up, nothing stored), 1 for
 * "no-cache", "max-age=0" or "Pragma: no-cache" (a stored answer may not be
 * used without the action: this request runs it, and its answer replaces
 * what was stored), else 0.
 */
static ngx_int_t
ngx_http_ow_cache_request_directives(ngx_http_request_t *r)
{
    static ngx_str_t   no_store = ngx_string("no-store");
    static ngx_str_t   no_cache = ngx_string("no-cache");
    static ngx_str_t   max_age_0 = ngx_string("max-age=0");
    ngx_table_elt_t   *h;
    u_char            *p, *end, *start, *last;
    size_t             len;
    ngx_int_t          revalidate;

    revalidate = 0;
    h = ngx_http_ow_header_find(&r->headers_in.headers, "Pragma");
    if (h && h->value.len == no_cache.len
        && ngx_strncasecmp(h->value.data, no_cache.data, no_cache.len) == 0)
    {
        revalidate = 1;
    }

    h = ngx_http_ow_header_find(&r->headers_in.headers, "Cache-Control");
    if (h == NULL) {
        return revalidate;
    }

    /* comma-separated directives, each trimmed */
    p = h->value.data;
    end = p + h->value.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }
        start = p;
        while (p < end && *p != ',') {
            p++;
        }
        last = p;
        while (last > start && (last[-1] == ' ' || last[-1] == '\t')) {
            last--;
        }
        len = last - start;

        if (len == no_store.len
            && ngx_strncasecmp(start, no_store.data, len) == 0)
        {
            return NGX_DECLINED;
        }
        if ((len == no_cache.len
             && ngx_strncasecmp(start, no_cache.data, len) == 0)
            || (len == max_age_0.len
                && ngx_strncasecmp(start, max_age_0.data, len) == 0))
        {
            revalidate = 1;
        }
    }
    return revalidate;
}

static ngx_int_t
ngx_http_ow_cache_handler(ngx_http_request_t *r)
{
    ngx_http_ow_cache_loc_conf_t   *lcf;
    ngx_http_ow_router_loc_conf_t  *rlcf;
    ngx_http_ow_router_ctx_t        action;
    ngx_http_ow_cache_ctx_t        *ctx;
    ngx_pool_cleanup_t             *cln;
    char                           *subject, *ns;
    ngx_int_t                       rc, revalidate;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_cache_module);
    if (ctx) {
        if (ctx->waiting && !ctx->wait.timer_set) {
            /* the timer: look again */
            return ngx_http_ow_cache_run(r, ctx);
        }
        return ctx->status;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_cache_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_router_module);
    if (lcf->zone == NULL || r != r->main || rlcf->pool_uri.len == 0
        || ngx_http_ow_trusted_plain(r))
    {
        return NGX_DECLINED;
    }

    if (rlcf->web) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return NGX_DECLINED;
        }
    } else if (r->method != NGX_HTTP_POST
               || !ngx_http_ow_cache_arg(r, "blocking", 8))
    {
        return NGX_DECLINED;
    }

    revalidate = ngx_http_ow_cache_request_directives(r);
    if (revalidate == NGX_DECLINED) {
        return NGX_DECLINED;
    }

    /* the router's own resolution; its errors are the router's to answer */
    ngx_memzero(&action, sizeof(action));
    action.request = r;
    if (ngx_http_ow_invoke_action(r, &action) != NGX_OK) {
        return NGX_DECLINED;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ow_cache_ctx_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || cln == NULL) {
        return NGX_ERROR;
    }
    cln->handler = ngx_http_ow_cache_cleanup;
    cln->data = ctx;
    ngx_http_set_ctx(r, ctx, ngx_http_ow_cache_module);

    ctx->web = rlcf->web;
    ctx->action = action.action;
    ctx->result_only = !ctx->web && ngx_http_ow_cache_arg(r, "result", 6);
    ctx->revalidate = revalidate;
    ctx->status = NGX_DECLINED;

    if (ngx_http_ow_auth_identity(r, &subject, &ns) == NGX_OK) {
        ctx->subject.data = (u_char *) subject;
        ctx->subject.len = ngx_strlen(subject);
    } else {
        ns = "";
        if (!ctx->web) {
            return NGX_DECLINED;
        }
    }
    ctx->ns.data = (u_char *) ns;
    ctx->ns.len = ngx_strlen(ns);

    ngx_http_ow_cache_prim(lcf->zone->data, ctx, (u_char *) (ctx->web ? ""
                                                                      : ns));

    ctx->wait.handler = ngx_http_ow_cache_wait_handler;
    ctx->wait.data = r;
    ctx->wait.log = r->connection->log;
    ctx->owner = ((uint64_t) ngx_pid << 40) ^ (uint64_t) (uintptr_t) r
                 ^ (uint64_t) ngx_random() << 16;

    if (ctx->web) {
        return ngx_http_ow_cache_run(r, ctx);
    }

    /* the API input is the body: read it first (it stays for the proxy) */
    ctx->status = NGX_DONE;
    rc = ngx_http_read_client_request_body(r, ngx_http_ow_cache_body_read);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }
    ngx_http_finalize_request(r, NGX_DONE);
    return NGX_DONE;
}

/* ---- purges: every gateway forgets what ow-admin names ---- */

static ngx_uint_t  ngx_http_ow_cache_sub_lost;

static void
ngx_http_ow_cache_on_subscribe(void)
{
    /* purges published while away are unknown: every answer goes */
    if (ngx_http_ow_cache_sub_lost) {
        ngx_http_ow_cache_forget(NULL, 0);
    }
}

static void
ngx_http_ow_cache_on_purge(const char *data, size_t len)
{
    /* "ns" or "ns/path"; "*" for every answer */
    if (len == 1 && data[0] == '*') {
        len = 0;
    }
    ngx_http_ow_cache_forget((u_char *) data, len);
}

static void
ngx_http_ow_cache_on_lost(void)
{
    ngx_http_ow_cache_sub_lost = 1;
}

static ngx_http_ow_sub_t  ngx_http_ow_cache_sub = {
    OW_CHANNEL_CACHE_PURGE, "ow response cache",
    ngx_http_ow_cache_on_subscribe, ngx_http_ow_cache_on_purge,
    ngx_http_ow_cache_on_lost, NULL, { 0 }, 0
};

static ngx_int_t
ngx_http_ow_cache_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ow_cache_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_ow_cache_module);
    if (cmcf == NULL || cmcf->zone == NULL) {
        return NGX_OK;
    }
    ngx_http_ow_cache_table = cmcf->zone->data;
    ngx_http_ow_sub_start(&ngx_http_ow_cache_sub, cycle->log);
    return NGX_OK;
}

static void
ngx_http_ow_cache_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_ow_cache_table) {
        ngx_http_ow_sub_stop(&ngx_http_ow_cache_sub);
    }
}

/* ---- /metrics ---- */

ngx_int_t
ngx_http_ow_cache_metrics(ngx_pool_t *pool, ngx_str_t *text)
{
    ngx_http_ow_cache_zone_t  *z = ngx_http_ow_cache_table;
    ngx_http_ow_cache_sh_t     s;
    u_char                    *p;

    ngx_str_null(text);
    if (z == NULL) {
        return NGX_OK;
    }

    ngx_shmtx_lock(&z->shpool->mutex);
    s = *z->sh;
    ngx_shmtx_unlock(&z->shpool->mutex);

    p = ngx_pnalloc(pool, 1024);
    if (p == NULL) {
        return NGX_ERROR;
    }
    text->data = p;
    p = ngx_sprintf(p,
        "# HELP owx_response_cache_lookups_total Response cache lookups.\n"
        "# TYPE owx_response_cache_lookups_total counter\n"
        "owx_response_cache_lookups_total{result=\"hit\"} %uL\n"
        "owx_response_cache_lookups_total{result=\"miss\"} %uL\n"
        "owx_response_cache_lookups_total{result=\"stale\"} %uL\n"
        "# HELP owx_response_cache_stores_total Answers stored.\n"
        "# TYPE owx_response_cache_stores_total counter\n"
        "owx_response_cache_stores_total %uL\n"
        "# HELP owx_response_cache_evictions_total Entries evicted to make "
        "room.\n"
        "# TYPE owx_response_cache_evictions_total counter\n"
        "owx_response_cache_evictions_total %uL\n"
        "# HELP owx_response_cache_too_big_total Answers over max_object, "
        "not stored.\n"
        "# TYPE owx_response_cache_too_big_total counter\n"
        "owx_response_cache_too_big_total %uL\n"
        "# HELP owx_response_cache_entries Entries in the zone.\n"
        "# TYPE owx_response_cache_entries gauge\n"
        "owx_response_cache_entries %uL\n"
        "# HELP owx_response_cache_bytes Bytes the entries take.\n"
        "# TYPE owx_response_cache_bytes gauge\n"
        "owx_response_cache_bytes %uL\n",
        s.hits - s.stale, s.misses, s.stale, s.stores, s.evictions,
        s.too_big, s.count, s.bytes);
    text->len = p - text->data;
    return NGX_OK;
}

/* ---- configuration ---- */

static ngx_int_t
ngx_http_ow_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ow_cache_zone_t  *ozone = data;
    ngx_http_ow_cache_zone_t  *z = shm_zone->data;
    ngx_int_t                  rc;

    if (ozone) {
        z->sh = ozone->sh;
        z->shpool = ozone->shpool;
        return NGX_OK;
    }

    rc = ngx_http_ow_shm_init(shm_zone, sizeof(ngx_http_ow_cache_sh_t),
                              "ow_response_cache_zone", (void **) &z->sh,
                              &z->shpool);
    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }
    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /* full is the usual state of a cache: evicting is no failure */
    z->shpool->log_nomem = 0;

    ngx_rbtree_init(&z->sh->entries, &z->sh->entries_sentinel,
                    ngx_http_ow_cache_rbtree_insert);
    ngx_rbtree_init(&z->sh->epochs, &z->sh->epochs_sentinel,
                    ngx_http_ow_cache_epoch_insert);
    ngx_queue_init(&z->sh->lru);
    return NGX_OK;
}

static char *
ngx_http_ow_cache_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ow_cache_main_conf_t  *cmcf = conf;
    ngx_http_ow_cache_zone_t       *z;
    ngx_str_t                      *value, s;
    ssize_t                         max;

    if (cmcf->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;
    max = 1024 * 1024;

    if (cf->args->nelts == 4) {
        if (ngx_strncmp(value[3].data, "max_object=", 11) != 0) {
            return "takes max_object=size";
        }
        s.data = value[3].data + 11;
        s.len = value[3].len - 11;
        max = ngx_parse_size(&s);
        if (max == NGX_ERROR || max <= 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid max_object \"%V\"", &value[3]);
            return NGX_CONF_ERROR;
        }
    }

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_cache_zone_t));
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }
    z->max_object = max;

    cmcf->zone = ngx_http_ow_shm_zone(cf, cmd, 8 * ngx_pagesize,
                                      &ngx_http_ow_cache_module);
    if (cmcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }
    cmcf->zone->init = ngx_http_ow_cache_init_zone;
    cmcf->zone->data = z;
    return NGX_CONF_OK;
}

static char *
ngx_http_ow_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ow_cache_loc_conf_t   *lcf = conf;
    ngx_http_ow_cache_main_conf_t  *cmcf;
    ngx_str_t                      *value;

    if (lcf->zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        lcf->zone = NULL;
        return NGX_CONF_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ow_cache_module);
    if (cmcf->zone == NULL || cmcf->zone->shm.name.len != value[1].len
        || ngx_strncmp(cmcf->zone->shm.name.data, value[1].data,
                       value[1].len) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no ow_response_cache_zone \"%V\" (declare it "
                           "first, in http)", &value[1]);
        return NGX_CONF_ERROR;
    }
    lcf->zone = cmcf->zone;
    return NGX_CONF_OK;
}

static void *
ngx_http_ow_cache_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ow_cache_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_cache_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }
    cmcf->request_id = NGX_ERROR;
    return cmcf;
}

static void *
ngx_http_ow_cache_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ow_cache_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_cache_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }
    lcf->zone = NGX_CONF_UNSET_PTR;
    return lcf;
}

static char *
ngx_http_ow_cache_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ow_cache_loc_conf_t  *prev = parent;
    ngx_http_ow_cache_loc_conf_t  *conf = child;

    ngx_conf_merge_ptr_value(conf->zone, prev->zone, NULL);
    return NGX_CONF_OK;
}

/*
 * An API hit is an activation of its action: counted as one
 * (openwhisk_action_activations_total, its outcome and latency) where the
 * router would count a miss; the router's answer for everything else.
 */
static ngx_http_ow_metrics_invoked_pt  ngx_http_ow_cache_next_invoked;

static ngx_str_t *
ngx_http_ow_cache_invoked(ngx_http_request_t *r)
{
    ngx_http_ow_cache_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_cache_module);
    if (ctx && ctx->hit && !ctx->web) {
        return &ctx->action;
    }
    return ngx_http_ow_cache_next_invoked ? ngx_http_ow_cache_next_invoked(r)
                                          : NULL;
}

static ngx_int_t
ngx_http_ow_cache_init(ngx_conf_t *cf)
{
    static ngx_str_t                request_id = ngx_string("request_id");
    ngx_http_ow_cache_main_conf_t  *cmcf;
    ngx_http_core_main_conf_t      *core;
    ngx_http_handler_pt            *h;

    /* what the router forgets, the cache forgets (a no-op without a zone) */
    ngx_http_ow_router_forgotten = ngx_http_ow_cache_forget;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ow_cache_module);
    if (cmcf->zone == NULL) {
        return NGX_OK;
    }

    /* its counters in /metrics; its hits among the activations (the
     * router, an earlier module, has set its own by now) */
    ngx_http_ow_metrics_more = ngx_http_ow_cache_metrics;
    if (ngx_http_ow_metrics_invoked != ngx_http_ow_cache_invoked) {
        ngx_http_ow_cache_next_invoked = ngx_http_ow_metrics_invoked;
        ngx_http_ow_metrics_invoked = ngx_http_ow_cache_invoked;
    }

    cmcf->request_id = ngx_http_get_variable_index(cf, &request_id);
    if (cmcf->request_id == NGX_ERROR) {
        return NGX_ERROR;
    }

    /* registered after ow_invoke's, so it runs first (nginx runs a
     * phase's handlers last registered first) */
    core = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    h = ngx_array_push(&core->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_http_ow_cache_handler;

    ngx_http_ow_cache_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ow_cache_header_filter;
    ngx_http_ow_cache_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ow_cache_body_filter;
    return NGX_OK;
}
