/*
 * ngx_http_ow_routes_module.c: serves the API routes `wsk api create`
 * makes (ow_api_routes.c stores them), so no separate API gateway is
 * needed: GET /api/{ns}/{basepath}{relpath} -> an internal redirect to the
 * route's web action, /api/v1/web/{ns}/{pkg}/{action}.{type}, which the
 * web action location serves. Path parameters ("/books/{id}") go to the
 * action as query parameters (so as strings in its arguments); for the
 * "http" type the path relative to the basepath follows the extension
 * and becomes __ow_path, as the OpenWhisk API gateway does.
 *
 * Each worker keeps the routes of the namespaces it served in memory and
 * drops a namespace's copy on its event (channel OW_CHANNEL_ROUTES,
 * published by the script that changes them), so a routed request costs
 * no Redis round trip once its namespace was seen. The copy is only
 * trusted while the subscription is up: without it every request reads
 * the namespace's routes (one HGETALL), which is always right.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ow_names.h"
#include "ow_routes.h"
#include "ow_schema.h"
#include "ngx_http_ow_http.h"
#include "ngx_http_ow_redis.h"
#include "ngx_http_ow_subscriber.h"

/* namespaces a worker keeps; beyond, the copy starts over */
#define NGX_HTTP_OW_ROUTES_CACHE_MAX  10000

typedef struct {
    ngx_flag_t                 enable;
} ngx_http_ow_routes_loc_conf_t;

typedef struct {
    ngx_flag_t                 used;
} ngx_http_ow_routes_main_conf_t;

typedef struct {
    ngx_http_request_t        *request;
    ngx_http_ow_redis_op_t    *redis;
    ngx_str_t                  ns;
    ngx_str_t                  path;        /* after "/api/{ns}" */
    ngx_uint_t                 generation;  /* of the cache at the ask */
} ngx_http_ow_routes_ctx_t;

static ngx_int_t ngx_http_ow_routes_init_process(ngx_cycle_t *cycle);
static void ngx_http_ow_routes_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_ow_routes_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_ow_routes_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ow_routes_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ow_routes(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static ngx_command_t  ngx_http_ow_routes_commands[] = {

    { ngx_string("ow_routes"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ow_routes,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};

static ngx_http_module_t  ngx_http_ow_routes_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */
    ngx_http_ow_routes_create_main_conf,   /* create main configuration */
    NULL,                                  /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_ow_routes_create_loc_conf,    /* create location configuration */
    ngx_http_ow_routes_merge_loc_conf      /* merge location configuration */
};

ngx_module_t  ngx_http_ow_routes_module = {
    NGX_MODULE_V1,
    &ngx_http_ow_routes_module_ctx,        /* module context */
    ngx_http_ow_routes_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ow_routes_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ow_routes_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};

/* ---- the worker's copy: namespace -> {field: target} ---- */

static json_t             *ngx_http_ow_routes_cache;
static ngx_uint_t          ngx_http_ow_routes_generation;
static ngx_uint_t          ngx_http_ow_routes_subscribed;

static void
ngx_http_ow_routes_forget(const char *ns)
{
    /* a read in flight started before this must not be kept */
    ngx_http_ow_routes_generation++;

    if (ngx_http_ow_routes_cache == NULL) {
        return;
    }
    if (ns) {
        json_object_del(ngx_http_ow_routes_cache, ns);
    } else {
        json_object_clear(ngx_http_ow_routes_cache);
    }
}

/* (re)subscribed: what changed while unsubscribed is unknown: start over */
static void
ngx_http_ow_routes_on_subscribe(void)
{
    ngx_http_ow_routes_forget(NULL);
    ngx_http_ow_routes_subscribed = 1;
}

static void
ngx_http_ow_routes_on_event(const char *ns, size_t len)
{
    ngx_http_ow_routes_forget(ns);
}

static void
ngx_http_ow_routes_lost(void)
{
    ngx_http_ow_routes_subscribed = 0;
    ngx_http_ow_routes_forget(NULL);
}

static ngx_http_ow_sub_t  ngx_http_ow_routes_sub = {
    OW_CHANNEL_ROUTES, "ow routes", ngx_http_ow_routes_on_subscribe,
    ngx_http_ow_routes_on_event, ngx_http_ow_routes_lost, NULL, { 0 }, 0
};

static ngx_int_t
ngx_http_ow_routes_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ow_routes_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_ow_routes_module);
    if (mcf == NULL || !mcf->used) {
        return NGX_OK;
    }

    ngx_http_ow_routes_cache = json_object();

    ngx_http_ow_sub_start(&ngx_http_ow_routes_sub, cycle->log);
    return NGX_OK;
}

static void
ngx_http_ow_routes_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_ow_sub_stop(&ngx_http_ow_routes_sub);
    json_decref(ngx_http_ow_routes_cache);
    ngx_http_ow_routes_cache = NULL;
}

/* ---- serving a route ---- */

static ngx_int_t
ngx_http_ow_routes_not_found(ngx_http_request_t *r)
{
    return ngx_http_ow_send_error(r, NGX_HTTP_NOT_FOUND,
                                  "The requested resource does not exist.");
}

/*
 * OPTIONS on a path some route serves, whatever its verbs: the CORS
 * preflight, answered here as the OpenWhisk API gateway does for the APIs
 * `wsk api create` makes (CORS on): 200, no body, no action run; the
 * origin asked for (or "*"), its default method list, the headers asked
 * for echoed, credentials allowed. The browser then sends the real verb.
 */
static ngx_int_t
ngx_http_ow_routes_preflight(ngx_http_request_t *r, ow_route_t *rt,
    size_t n, ngx_str_t *path)
{
    static const char  *verbs[] = {
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", NULL
    };
    static ngx_str_t    any = ngx_string("*");
    static ngx_str_t    methods =
        ngx_string("GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS");
    static ngx_str_t    yes = ngx_string("true");
    ngx_str_t           origin, asked;
    ngx_table_elt_t    *h;
    size_t              rel_off;
    const char        **v;

    for (v = verbs; *v; v++) {
        if (ow_route_match(rt, n, *v, ngx_strlen(*v),
                           (const char *) path->data, path->len, NULL,
                           &rel_off) >= 0)
        {
            break;
        }
    }
    if (*v == NULL) {
        return ngx_http_ow_routes_not_found(r);
    }

    h = ngx_http_ow_header_find(&r->headers_in.headers, "Origin");
    origin = (h && h->value.len) ? h->value : any;
    h = ngx_http_ow_header_find(&r->headers_in.headers,
                                "Access-Control-Request-Headers");
    if (h) {
        asked = h->value;
    } else {
        ngx_str_null(&asked);
    }

    if (ngx_http_ow_header_out(r, "Access-Control-Allow-Origin",
                               origin.data, origin.len) != NGX_OK
        || ngx_http_ow_header_out(r, "Access-Control-Allow-Methods",
                                  methods.data, methods.len) != NGX_OK
        || ngx_http_ow_header_out(r, "Access-Control-Allow-Credentials",
                                  yes.data, yes.len) != NGX_OK
        || (asked.len
            && ngx_http_ow_header_out(r, "Access-Control-Allow-Headers",
                                      asked.data, asked.len) != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the body stays unread by the redirect otherwise: drop it here */
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }
    return ngx_http_ow_send(r, NGX_HTTP_OK, "text/plain", "", 0);
}

/* match, then redirect to the web action; returns what to finalize with */
static ngx_int_t
ngx_http_ow_routes_serve(ngx_http_request_t *r, ngx_http_ow_routes_ctx_t *ctx,
    json_t *routes)
{
    ow_route_t   *rt;
    json_t       *params, *v;
    const char   *field, *target, *ext, *name;
    size_t        n, i, rel_off, len, tlen;
    int           m;
    ngx_str_t     uri, args;
    u_char       *p;
    uintptr_t     esc;

    n = json_object_size(routes);
    if (n == 0) {
        return ngx_http_ow_routes_not_found(r);
    }

    rt = ngx_palloc(r->pool, n * sizeof(ow_route_t));
    params = json_object();
    if (rt == NULL || params == NULL) {
        json_decref(params);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    i = 0;
    json_object_foreach(routes, field, v) {
        if (json_is_string(v)) {
            rt[i].field = field;
            rt[i].field_len = ngx_strlen(field);
            rt[i].target = json_string_value(v);
            rt[i].target_len = json_string_length(v);
            i++;
        }
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        json_decref(params);
        return ngx_http_ow_routes_preflight(r, rt, i, &ctx->path);
    }

    m = ow_route_match(rt, i, (const char *) r->method_name.data,
                       r->method_name.len, (const char *) ctx->path.data,
                       ctx->path.len, params, &rel_off);
    if (m < 0) {
        json_decref(params);
        return ngx_http_ow_routes_not_found(r);
    }

    target = rt[m].target;
    tlen = rt[m].target_len;
    ext = ngx_strlchr((u_char *) target, (u_char *) target + tlen, '.')
          ? strrchr(target, '.') + 1 : "";

    /* /api/v1/web/{target}[{rel}] ("http" only: for the other types a
       path after the extension would project the result) */
    len = sizeof("/api/v1/web/") - 1 + tlen;
    if (ngx_strcmp(ext, "http") == 0) {
        len += ctx->path.len - rel_off;
    }
    uri.data = ngx_pnalloc(r->pool, len);
    if (uri.data == NULL) {
        json_decref(params);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    p = ngx_cpymem(uri.data, "/api/v1/web/", sizeof("/api/v1/web/") - 1);
    p = ngx_cpymem(p, target, tlen);
    if (ngx_strcmp(ext, "http") == 0) {
        p = ngx_cpymem(p, ctx->path.data + rel_off, ctx->path.len - rel_off);
    }
    uri.len = p - uri.data;

    /* the client's query, then the path parameters */
    len = r->args.len;
    json_object_foreach(params, name, v) {
        esc = ngx_escape_uri(NULL, (u_char *) name, ngx_strlen(name),
                             NGX_ESCAPE_ARGS);
        len += 2 + ngx_strlen(name) + 2 * esc;
        esc = ngx_escape_uri(NULL, (u_char *) json_string_value(v),
                             json_string_length(v), NGX_ESCAPE_ARGS);
        len += json_string_length(v) + 2 * esc;
    }
    args.data = ngx_pnalloc(r->pool, len + 1);
    if (args.data == NULL) {
        json_decref(params);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    p = args.data;
    if (r->args.len) {  /* no query: NULL data (no memcpy) */
        p = ngx_cpymem(p, r->args.data, r->args.len);
    }
    json_object_foreach(params, name, v) {
        if (p != args.data) {
            *p++ = '&';
        }
        p = (u_char *) ngx_escape_uri(p, (u_char *) name, ngx_strlen(name),
                                      NGX_ESCAPE_ARGS);
        *p++ = '=';
        p = (u_char *) ngx_escape_uri(p, (u_char *) json_string_value(v),
                                      json_string_length(v),
                                      NGX_ESCAPE_ARGS);
    }
    args.len = p - args.data;
    json_decref(params);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ow routes: -> \"%V?%V\"", &uri, &args);

    return ngx_http_internal_redirect(r, &uri, &args);
}

static json_t *
ngx_http_ow_routes_from_reply(redisReply *reply)
{
    json_t  *routes;
    size_t   i;

    routes = json_object();
    if (routes == NULL || reply->type != REDIS_REPLY_ARRAY) {
        return routes;
    }
    for (i = 0; i + 1 < reply->elements; i += 2) {
        if (reply->element[i]->type == REDIS_REPLY_STRING
            && reply->element[i + 1]->type == REDIS_REPLY_STRING)
        {
            json_object_set_new(routes, reply->element[i]->str,
                                json_stringn(reply->element[i + 1]->str,
                                             reply->element[i + 1]->len));
        }
    }
    return routes;
}

static void
ngx_http_ow_routes_reply(void *data, redisReply *reply)
{
    ngx_http_ow_routes_ctx_t  *ctx = data;
    ngx_http_request_t        *r = ctx->request;
    ngx_connection_t          *c = r->connection;
    json_t                    *routes;
    char                      *ns;
    ngx_int_t                  rc;

    ctx->redis = NULL;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        rc = ngx_http_ow_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "The server is currently unavailable. "
                                    "Please try again later.");
        ngx_http_finalize_request(r, rc);
        ngx_http_run_posted_requests(c);
        return;
    }

    routes = ngx_http_ow_routes_from_reply(reply);
    if (routes == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    /* keep the copy unless an event came since the read was sent */
    if (ngx_http_ow_routes_subscribed
        && ctx->generation == ngx_http_ow_routes_generation
        && ngx_http_ow_routes_cache)
    {
        if (json_object_size(ngx_http_ow_routes_cache)
            >= NGX_HTTP_OW_ROUTES_CACHE_MAX)
        {
            json_object_clear(ngx_http_ow_routes_cache);
        }
        ns = ngx_pnalloc(r->pool, ctx->ns.len + 1);
        if (ns) {
            ngx_cpystrn((u_char *) ns, ctx->ns.data, ctx->ns.len + 1);
            json_object_set(ngx_http_ow_routes_cache, ns, routes);
        }
    }

    rc = ngx_http_ow_routes_serve(r, ctx, routes);
    json_decref(routes);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}

static void
ngx_http_ow_routes_cleanup(void *data)
{
    ngx_http_ow_routes_ctx_t  *ctx = data;

    /* the request is gone: a late Redis reply must not touch it */
    ngx_http_ow_redis_cancel(ctx->redis);
    ctx->redis = NULL;
}

static ngx_int_t
ngx_http_ow_routes_handler(ngx_http_request_t *r)
{
    ngx_http_ow_routes_ctx_t  *ctx;
    ngx_pool_cleanup_t        *cln;
    json_t                    *routes;
    u_char                    *p, *end, *ns;
    char                      *key, nsz[256];
    int                        len;
    ngx_int_t                  rc;

    /* r->uri: "/api/{ns}/{rest}" */
    p = r->uri.data + sizeof("/api/") - 1;
    end = r->uri.data + r->uri.len;
    if (r->uri.len < sizeof("/api/") || ngx_strncmp(r->uri.data, "/api/",
                                                    sizeof("/api/") - 1))
    {
        return ngx_http_ow_routes_not_found(r);
    }
    ns = p;
    while (p < end && *p != '/') {
        p++;
    }
    if (p == ns || p == end || (size_t) (p - ns) >= sizeof(nsz)
        || !ow_namespace_valid((const char *) ns, p - ns))
    {
        return ngx_http_ow_routes_not_found(r);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ow_routes_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx->request = r;
    ctx->ns.data = ns;
    ctx->ns.len = p - ns;
    ctx->path.data = p;
    ctx->path.len = end - p;
    ngx_memcpy(nsz, ns, ctx->ns.len);
    nsz[ctx->ns.len] = '\0';

    routes = (ngx_http_ow_routes_subscribed && ngx_http_ow_routes_cache)
             ? json_object_get(ngx_http_ow_routes_cache, nsz) : NULL;
    if (routes) {
        /* the warm path: the worker's copy, no Redis */
        return ngx_http_ow_routes_serve(r, ctx, routes);
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    key = NULL;
    len = redisFormatCommand(&key, "HGETALL " OW_KEY_ROUTES, nsz);
    if (cln == NULL || len < 0) {
        free(key);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    cln->handler = ngx_http_ow_routes_cleanup;
    cln->data = ctx;

    ctx->generation = ngx_http_ow_routes_generation;
    ctx->redis = ngx_http_ow_redis_send(r, key, len,
                                        ngx_http_ow_routes_reply, ctx);
    free(key);
    if (ctx->redis == NULL) {
        return ngx_http_ow_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "The server is currently unavailable. "
                                      "Please try again later.");
    }

    /* the body stays unread: the web action location reads it */
    r->main->count++;
    rc = NGX_DONE;
    return rc;
}

/* ---- configuration ---- */

static void *
ngx_http_ow_routes_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_routes_main_conf_t));
}

static void *
ngx_http_ow_routes_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ow_routes_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_routes_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }
    lcf->enable = NGX_CONF_UNSET;
    return lcf;
}

static char *
ngx_http_ow_routes_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ow_routes_loc_conf_t  *prev = parent;
    ngx_http_ow_routes_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    return NGX_CONF_OK;
}

static char *
ngx_http_ow_routes(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ow_routes_loc_conf_t   *lcf = conf;
    ngx_http_ow_routes_main_conf_t  *mcf;
    ngx_http_core_loc_conf_t        *clcf;

    if (lcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }
    lcf->enable = 1;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ow_routes_module);
    mcf->used = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ow_routes_handler;
    return NGX_CONF_OK;
}
