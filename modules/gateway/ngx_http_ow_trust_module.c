/*
 * ngx_http_ow_trust_module.c: the internal listener's trust
 * (ngx_http_ow_trust.h). One directive, ow_compose_trust, on the listener
 * that only nginx itself can reach (conf/nginx.conf): there the headers of
 * ngx_http_ow_trust.h are believed; everywhere else they are ignored, so a
 * client can set neither a cause nor an identity.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ow_http.h"
#include "ngx_http_ow_trust.h"

typedef struct {
    ngx_flag_t  trust;
} ngx_http_ow_trust_loc_conf_t;

static void *ngx_http_ow_trust_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ow_trust_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);

static ngx_command_t  ngx_http_ow_trust_commands[] = {

    { ngx_string("ow_compose_trust"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ow_trust_loc_conf_t, trust),
      NULL },

      ngx_null_command
};

static ngx_http_module_t  ngx_http_ow_trust_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */
    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_ow_trust_create_loc_conf,     /* create location configuration */
    ngx_http_ow_trust_merge_loc_conf       /* merge location configuration */
};

ngx_module_t  ngx_http_ow_trust_module = {
    NGX_MODULE_V1,
    &ngx_http_ow_trust_module_ctx,         /* module context */
    ngx_http_ow_trust_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};

ngx_table_elt_t *
ngx_http_ow_trusted_header(ngx_http_request_t *r, const char *name)
{
    ngx_http_ow_trust_loc_conf_t  *tlcf;

    if (r != r->main) {
        return NULL;
    }
    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_trust_module);
    if (tlcf->trust != 1) {
        return NULL;
    }
    return ngx_http_ow_header_find(&r->headers_in.headers, name);
}

ngx_uint_t
ngx_http_ow_trusted_plain(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_http_ow_trusted_header(r, "X-OW-Compose-Plain");
    return h != NULL && h->value.len == 1 && h->value.data[0] == '1';
}

ngx_int_t
ngx_http_ow_trusted_run_as(ngx_http_request_t *r, ngx_str_t *ns)
{
    ngx_table_elt_t  *h;

    h = ngx_http_ow_trusted_header(r, "X-OW-Run-As");
    if (h == NULL || h->value.len == 0 || h->value.len > 256
        || ngx_strlchr(h->value.data, h->value.data + h->value.len, '/'))
    {
        return NGX_DECLINED;
    }
    *ns = h->value;
    return NGX_OK;
}

static void *
ngx_http_ow_trust_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ow_trust_loc_conf_t  *tlcf;

    tlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_trust_loc_conf_t));
    if (tlcf == NULL) {
        return NULL;
    }
    tlcf->trust = NGX_CONF_UNSET;
    return tlcf;
}

static char *
ngx_http_ow_trust_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ow_trust_loc_conf_t  *prev = parent;
    ngx_http_ow_trust_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->trust, prev->trust, 0);
    return NGX_CONF_OK;
}
