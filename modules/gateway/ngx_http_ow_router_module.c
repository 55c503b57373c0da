/*
 * ngx_http_ow_router_module.c: routes invocations to warm containers. The
 * form of the module: its directives, variables and configuration. The
 * work is in the files ngx_http_ow_router.h names: the warm table and its
 * events, ow_invoke, the balancer.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ow_invoke.h"
#include "ngx_http_ow_metrics.h"
#include "ngx_http_ow_secret.h"
#include "ngx_http_ow_shm.h"
#include "ngx_http_ow_router.h"

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


ngx_http_ow_router_zone_t  *ngx_http_ow_router_table;

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
    ngx_http_ow_warm_events_start(cycle);
    return NGX_OK;
}

static void
ngx_http_ow_router_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_ow_warm_events_stop();
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
        if (ngx_http_ow_invoke_action(r->main, ctx) != NGX_OK) {
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

/* ow_router_zone name size */
static char *
ngx_http_ow_router_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ow_router_main_conf_t  *rmcf = conf;
    ngx_http_ow_router_zone_t       *z;

    if (rmcf->zone) {
        return "is duplicate";
    }

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_router_zone_t));
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }

    rmcf->zone = ngx_http_ow_shm_zone(cf, cmd, 8 * ngx_pagesize,
                                      &ngx_http_ow_router_module);
    if (rmcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }
    rmcf->zone->init = ngx_http_ow_warm_init_zone;
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
    uscf->peer.init_upstream = ngx_http_ow_balancer_init_upstream;
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
    *h = ngx_http_ow_invoke_handler;

    ngx_http_ow_metrics_invoked = ngx_http_ow_router_invoked;
    return NGX_OK;
}
