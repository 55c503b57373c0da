/*
 * ngx_http_ow_metrics_module: the gateway's metrics, served in the
 * Prometheus text format by "ow_metrics" (ow_metrics.c formats them).
 *
 * The values live in one shared zone ("ow_metrics_zone"), so one scrape
 * sees every worker's work, and they survive worker restarts and reloads
 * (the zone is reused as long as its name and size stay). Every update is
 * an atomic add on a machine word: no lock on the warm path. Per-action
 * series are bounded by the zone's table of label sets (ow_metrics.h says
 * what happens with more actions than slots).
 *
 * A scrape may need a credential ("ow_metrics_token_file"): the output
 * names every namespace and action, and actions share the gateway's network
 * (on one machine its loopback), so an address rule alone would show them
 * to one another. Prometheus sends the token as "Authorization: Bearer".
 *
 * Activations, their outcome and their latency are counted in the log
 * phase from the router's action (ngx_http_ow_metrics_invoked) and
 * $ow_namespace (ow_auth), so the warm invoke path has no hook of its
 * own; the other modules call the functions of ngx_http_ow_metrics.h where
 * their events happen.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ow_http.h"
#include "ngx_http_ow_secret.h"
#include "ngx_http_ow_metrics.h"
#include "ngx_http_ow_shm.h"
#include "ow_metrics.h"
#include "ow_secrets.h"

typedef struct {
    ow_metrics_t     *sh;
    ngx_slab_pool_t  *shpool;
} ngx_http_ow_metrics_zone_t;

typedef struct {
    ngx_shm_zone_t   *zone;
    ngx_int_t         ns_index;
    ngx_uint_t        served;        /* some location has ow_metrics */
} ngx_http_ow_metrics_main_conf_t;

typedef struct {
    /* ow_metrics_token_file: "" = no credential asked for */
    ngx_str_t         token;
} ngx_http_ow_metrics_loc_conf_t;

/* per request: what the capacity wait said */
typedef struct {
    ngx_msec_t        park_start;
    ngx_int_t         capacity;
} ngx_http_ow_metrics_ctx_t;

static ngx_int_t ngx_http_ow_metrics_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_ow_metrics_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_ow_metrics_init_process(ngx_cycle_t *cycle);
static void *ngx_http_ow_metrics_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_ow_metrics_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ow_metrics_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ow_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ow_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ow_metrics_token_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

static ngx_command_t  ngx_http_ow_metrics_commands[] = {

    { ngx_string("ow_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_ow_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ow_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ow_metrics,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ow_metrics_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ow_metrics_token_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};

static ngx_http_module_t  ngx_http_ow_metrics_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_ow_metrics_init,              /* postconfiguration */
    ngx_http_ow_metrics_create_main_conf,  /* create main configuration */
    NULL,                                  /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_ow_metrics_create_loc_conf,   /* create location configuration */
    ngx_http_ow_metrics_merge_loc_conf     /* merge location configuration */
};

ngx_module_t  ngx_http_ow_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_ow_metrics_module_ctx,       /* module context */
    ngx_http_ow_metrics_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_ow_metrics_init_module,       /* init module */
    ngx_http_ow_metrics_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};

/*
 * The zone of the running configuration, or NULL (no ow_metrics_zone: every
 * hook returns at once). Set in init_module, which runs once the new cycle's
 * zones exist and the cycle can no longer fail, so a reload that fails
 * leaves the pointer the workers forked later inherit intact.
 */
static ow_metrics_t  *ngx_http_ow_metrics_sh;

/* set by the router (ngx_http_ow_metrics.h) */
ngx_http_ow_metrics_invoked_pt  ngx_http_ow_metrics_invoked;
ngx_http_ow_metrics_more_pt     ngx_http_ow_metrics_more;

#define ngx_http_ow_metrics_add(p, v)                                       \
    (void) ngx_atomic_fetch_add((ngx_atomic_t *) (p), (v))

/* ---- hooks ---- */

void
ngx_http_ow_metrics_auth_cache(ngx_uint_t hit)
{
    if (ngx_http_ow_metrics_sh) {
        ngx_http_ow_metrics_add(&ngx_http_ow_metrics_sh->auth[
                                    hit ? OW_M_AUTH_HIT : OW_M_AUTH_MISS], 1);
    }
}

void
ngx_http_ow_metrics_auth_rejected(void)
{
    if (ngx_http_ow_metrics_sh) {
        ngx_http_ow_metrics_add(
            &ngx_http_ow_metrics_sh->auth[OW_M_AUTH_REJECTED], 1);
    }
}

void
ngx_http_ow_metrics_limit(u_char *ns, size_t len, ngx_uint_t concurrent)
{
    ow_m_set_t  *s;

    if (ngx_http_ow_metrics_sh == NULL) {
        return;
    }
    s = ow_metrics_set(ngx_http_ow_metrics_sh, (char *) ns, len, NULL, 0,
                       NULL, 0);
    ngx_http_ow_metrics_add(&s->c[concurrent ? OW_M_LIMIT_CONCURRENT
                                             : OW_M_LIMIT_TIMED], 1);
}

static ngx_http_ow_metrics_ctx_t *
ngx_http_ow_metrics_ctx(ngx_http_request_t *r)
{
    ngx_http_ow_metrics_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_metrics_module);
    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ow_metrics_ctx_t));
        if (ctx) {
            ngx_http_set_ctx(r, ctx, ngx_http_ow_metrics_module);
        }
    }
    return ctx;
}

void
ngx_http_ow_metrics_parked(ngx_http_request_t *r)
{
    ngx_http_ow_metrics_ctx_t  *ctx;

    if (ngx_http_ow_metrics_sh == NULL) {
        return;
    }
    ngx_http_ow_metrics_add(&ngx_http_ow_metrics_sh->parked, 1);
    ngx_http_ow_metrics_add(&ngx_http_ow_metrics_sh->parked_total, 1);

    ctx = ngx_http_ow_metrics_ctx(r);
    if (ctx) {
        ctx->park_start = ngx_current_msec;
    }
}

void
ngx_http_ow_metrics_unparked(void)
{
    if (ngx_http_ow_metrics_sh) {
        ngx_http_ow_metrics_add(&ngx_http_ow_metrics_sh->parked, -1);
    }
}

/* "ns/[pkg/]name" and the caller's namespace -> the label set */
static ow_m_set_t *
ngx_http_ow_metrics_action_set(ngx_http_request_t *r, u_char *action,
    size_t len)
{
    ngx_http_ow_metrics_main_conf_t  *mcf;
    ngx_http_variable_value_t        *v;
    u_char                           *slash;
    size_t                            ns_len;

    slash = ngx_strlchr(action, action + len, '/');
    ns_len = slash ? (size_t) (slash - action) : len;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ow_metrics_module);
    v = ngx_http_get_indexed_variable(r, mcf->ns_index);

    /* anonymous (a web action): the owner invokes, as in OpenWhisk */
    if (v == NULL || v->not_found || v->len == 0) {
        return ow_metrics_set(ngx_http_ow_metrics_sh, (char *) action, ns_len,
                              slash ? (char *) slash + 1 : "",
                              slash ? len - ns_len - 1 : 0,
                              (char *) action, ns_len);
    }
    return ow_metrics_set(ngx_http_ow_metrics_sh, (char *) action, ns_len,
                          slash ? (char *) slash + 1 : "",
                          slash ? len - ns_len - 1 : 0,
                          (char *) v->data, v->len);
}

void
ngx_http_ow_metrics_capacity(ngx_http_request_t *r, u_char *action,
    size_t len, ngx_int_t status, ngx_uint_t containers)
{
    ngx_http_ow_metrics_ctx_t  *ctx;
    ow_metrics_t               *m = ngx_http_ow_metrics_sh;
    ow_m_set_t                 *s;

    if (m == NULL) {
        return;
    }

    ctx = ngx_http_ow_metrics_ctx(r);
    if (ctx) {
        if (ctx->capacity) {
            /* the router's handler may pass here again: once is enough */
            return;
        }
        ctx->capacity = status;
        if (ctx->park_start) {
            ow_metrics_observe(&m->park,
                (uint64_t) (ngx_current_msec - ctx->park_start) * 1000);
            ctx->park_start = 0;
        }
    }

    if (status != NGX_HTTP_OK) {
        ngx_http_ow_metrics_add(&m->capacity[OW_M_CAP_FAILED], 1);
        return;
    }

    ngx_http_ow_metrics_add(&m->capacity[OW_M_CAP_OK], 1);
    if (containers == 0) {
        /* a sequence or conductor action: the compose driver runs it */
        return;
    }
    s = ngx_http_ow_metrics_action_set(r, action, len);
    ngx_http_ow_metrics_add(&s->c[OW_M_COLD_STARTS], 1);
}

void
ngx_http_ow_metrics_container_429(void)
{
    if (ngx_http_ow_metrics_sh) {
        ngx_http_ow_metrics_add(&ngx_http_ow_metrics_sh->retries_429, 1);
    }
}

void
ngx_http_ow_metrics_warm(int64_t seen, int64_t applied, ngx_uint_t containers)
{
    ow_metrics_t  *m = ngx_http_ow_metrics_sh;

    /* gauges: the last writer wins, one word each */
    if (m) {
        m->warm_containers = containers;
        if (seen > 0 && (unsigned long) seen > m->warm_seen) {
            m->warm_seen = seen;
        }
        if (applied > 0) {
            m->warm_applied = applied;
        }
    }
}

void
ngx_http_ow_metrics_redis(ngx_uint_t up)
{
    if (ngx_http_ow_metrics_sh && ngx_worker < OW_M_WORKERS) {
        ngx_http_ow_metrics_sh->redis[ngx_worker] = up ? 2 : 1;
    }
}

/* ---- the log phase: activations ---- */

static ngx_int_t
ngx_http_ow_metrics_log(ngx_http_request_t *r)
{
    ngx_http_ow_metrics_ctx_t        *ctx;
    ngx_str_t                        *action;
    ow_metrics_t                     *m = ngx_http_ow_metrics_sh;
    ow_m_set_t                       *s;
    ngx_uint_t                        status;
    ngx_time_t                       *tp;
    ngx_msec_int_t                    ms;

    if (m == NULL) {
        return NGX_OK;
    }

    status = r->headers_out.status;
    ngx_http_ow_metrics_add(&m->responses[ow_metrics_class(status)], 1);

    /*
     * An activation is an invocation (ow_invoke named the action) that the
     * action answered: 200 (blocking result), 202 (accepted, non-blocking or
     * past the blocking wait), 502 (application or developer error) or 500
     * (internal error). Limit refusals, auth failures and "no capacity"
     * (503) are not activations, as in OpenWhisk.
     */
    if (status != NGX_HTTP_OK && status != NGX_HTTP_ACCEPTED
        && status != NGX_HTTP_BAD_GATEWAY
        && status != NGX_HTTP_INTERNAL_SERVER_ERROR)
    {
        return NGX_OK;
    }

    action = ngx_http_ow_metrics_invoked ? ngx_http_ow_metrics_invoked(r)
                                         : NULL;
    if (action == NULL) {
        return NGX_OK;
    }

    s = ngx_http_ow_metrics_action_set(r, action->data, action->len);
    ngx_http_ow_metrics_add(&s->c[OW_M_ACTIVATIONS], 1);

    switch (status) {
    case NGX_HTTP_OK:
        ngx_http_ow_metrics_add(&s->c[OW_M_SUCCESS], 1);
        break;
    case NGX_HTTP_BAD_GATEWAY:
        /* the pool-manager's 502 is a failed init: the developer's */
        ctx = ngx_http_get_module_ctx(r, ngx_http_ow_metrics_module);
        ngx_http_ow_metrics_add(&s->c[ctx && ctx->capacity
                                      == NGX_HTTP_BAD_GATEWAY
                                      ? OW_M_DEVELOPER_ERROR
                                      : OW_M_APPLICATION_ERROR], 1);
        break;
    case NGX_HTTP_INTERNAL_SERVER_ERROR:
        ngx_http_ow_metrics_add(&s->c[OW_M_INTERNAL_ERROR], 1);
        break;
    default:
        /* 202: the outcome is not known here */
        break;
    }

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ow_metrics_observe(&s->latency, (uint64_t) ngx_max(ms, 0) * 1000);

    return NGX_OK;
}

/* ---- ow_metrics: the exposition ---- */

static void
ngx_http_ow_metrics_free(void *data)
{
    free(data);
}

/* "Authorization: Bearer <token>" with the token of ow_metrics_token_file */
static ngx_uint_t
ngx_http_ow_metrics_authorized(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_table_elt_t  *h = r->headers_in.authorization;

    return h != NULL
           && ow_secret_bearer((char *) h->value.data, h->value.len,
                               (char *) token->data, token->len);
}

static ngx_int_t
ngx_http_ow_metrics_unauthorized(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    ngx_str_set(&h->value, "Bearer realm=\"owx metrics\"");

    return ngx_http_ow_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                  "The supplied authentication is invalid.");
}

static ngx_int_t
ngx_http_ow_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_buf_t                       *b, *cb;
    ngx_chain_t                      out, cache_out;
    ngx_pool_cleanup_t              *cln;
    ngx_http_ow_metrics_loc_conf_t  *mlcf;
    char                            *text;
    size_t                           len;
    ngx_str_t                        cache;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_metrics_module);
    if (mlcf->token.len && !ngx_http_ow_metrics_authorized(r, &mlcf->token)) {
        return ngx_http_ow_metrics_unauthorized(r);
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a copy of a few MB at most (bounded by the zone), once per scrape */
    text = ow_metrics_format(ngx_http_ow_metrics_sh, &len);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    cln->handler = ngx_http_ow_metrics_free;
    cln->data = text;

    /* the response cache's counters, from its own zone */
    ngx_str_null(&cache);
    if (ngx_http_ow_metrics_more
        && ngx_http_ow_metrics_more(r->pool, &cache) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len + cache.len;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    b->pos = (u_char *) text;
    b->last = (u_char *) text + len;
    b->memory = 1;
    out.buf = b;
    out.next = NULL;

    cb = ngx_calloc_buf(r->pool);
    if (cb == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    cb->pos = cache.data;
    cb->last = cache.data + cache.len;
    cb->memory = cache.len ? 1 : 0;
    cb->last_buf = (r == r->main) ? 1 : 0;
    cb->last_in_chain = 1;
    cache_out.buf = cb;
    cache_out.next = NULL;
    out.next = &cache_out;
    return ngx_http_output_filter(r, &out);
}

/* ---- configuration ---- */

static ngx_int_t
ngx_http_ow_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ow_metrics_zone_t  *z = shm_zone->data, *oz = data;
    unsigned long                n;
    void                        *sh;
    ngx_int_t                    rc;

    if (oz) {
        /* a reload with the same name and size: the same counters */
        z->sh = oz->sh;
        z->shpool = oz->shpool;
        return NGX_OK;
    }

    /*
     * The slab allocator keeps a page descriptor per page and one page for
     * small allocations (the log context): leave it 1/32 and three pages.
     */
    n = ow_metrics_fit(shm_zone->shm.size - shm_zone->shm.size / 32
                       - 3 * ngx_pagesize);

    rc = ngx_http_ow_shm_init(shm_zone, ow_metrics_size(n),
                              "ow_metrics_zone", &sh, &z->shpool);
    z->sh = sh;
    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }
    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ow_metrics_init(z->sh, n);
    return NGX_OK;
}

/* ow_metrics_zone name size */
static char *
ngx_http_ow_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ow_metrics_main_conf_t  *mcf = conf;
    ngx_http_ow_metrics_zone_t       *z;

    if (mcf->zone) {
        return "is duplicate";
    }

    mcf->zone = ngx_http_ow_shm_zone(cf, cmd, 32 * 1024,
                                     &ngx_http_ow_metrics_module);
    if (mcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_metrics_zone_t));
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }
    mcf->zone->init = ngx_http_ow_metrics_init_zone;
    mcf->zone->data = z;
    return NGX_CONF_OK;
}

static char *
ngx_http_ow_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ow_metrics_main_conf_t  *mcf = conf;
    ngx_http_core_loc_conf_t         *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ow_metrics_handler;
    mcf->served = 1;
    return NGX_CONF_OK;
}

/*
 * ow_metrics_token_file path: one line, the token scrapers must send. Read
 * here, by the master (the file is the master's user's alone); the messages
 * name the file, never its text.
 */
static char *
ngx_http_ow_metrics_token_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ow_metrics_loc_conf_t  *mlcf = conf;
    ngx_str_t                       *value;

    if (mlcf->token.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_ow_read_token(cf, &value[1], &mlcf->token) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}

static void *
ngx_http_ow_metrics_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_metrics_main_conf_t));
}

static void *
ngx_http_ow_metrics_create_loc_conf(ngx_conf_t *cf)
{
    /* token: { 0, NULL } = unset */
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_metrics_loc_conf_t));
}

static char *
ngx_http_ow_metrics_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ow_metrics_loc_conf_t  *prev = parent;
    ngx_http_ow_metrics_loc_conf_t  *conf = child;

    ngx_conf_merge_str_value(conf->token, prev->token, "");
    return NGX_CONF_OK;
}

static ngx_int_t
ngx_http_ow_metrics_init(ngx_conf_t *cf)
{
    ngx_http_ow_metrics_main_conf_t  *mcf;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_handler_pt              *h;
    ngx_str_t                         ns = ngx_string("ow_namespace");

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ow_metrics_module);

    if (mcf->zone == NULL) {
        if (mcf->served) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"ow_metrics\" needs \"ow_metrics_zone\"");
            return NGX_ERROR;
        }
        return NGX_OK;
    }

    /* the caller's namespace: $ow_namespace of ow_auth (same .so) */
    mcf->ns_index = ngx_http_get_variable_index(cf, &ns);
    if (mcf->ns_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_http_ow_metrics_log;
    return NGX_OK;
}

static ngx_int_t
ngx_http_ow_metrics_init_module(ngx_cycle_t *cycle)
{
    ngx_http_ow_metrics_main_conf_t  *mcf;
    ngx_http_ow_metrics_zone_t       *z;
    ngx_core_conf_t                  *ccf;
    ngx_int_t                         i;

    ngx_http_ow_metrics_sh = NULL;

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_ow_metrics_module);
    if (mcf == NULL || mcf->zone == NULL) {
        return NGX_OK;
    }

    z = mcf->zone->data;
    ngx_http_ow_metrics_sh = z->sh;

    /* workers beyond worker_processes (before a reload) are gone */
    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    for (i = ccf->worker_processes; i < OW_M_WORKERS; i++) {
        z->sh->redis[i] = 0;
    }
    return NGX_OK;
}

static ngx_int_t
ngx_http_ow_metrics_init_process(ngx_cycle_t *cycle)
{
    /* down until the connect callback says otherwise */
    if (ngx_http_ow_metrics_sh && ngx_worker < OW_M_WORKERS
        && ngx_http_ow_metrics_sh->redis[ngx_worker] == 0)
    {
        ngx_http_ow_metrics_sh->redis[ngx_worker] = 1;
    }
    return NGX_OK;
}
