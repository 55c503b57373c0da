/*
 * ngx_http_ow_compose.h: the sequence / conductor driver
 * (ngx_http_ow_compose_module.c), for the router, which finds out that an
 * action is one and hands the request over.
 */

#ifndef NGX_HTTP_OW_COMPOSE_H
#define NGX_HTTP_OW_COMPOSE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#define NGX_HTTP_OW_COMPOSE_SEQUENCE   1
#define NGX_HTTP_OW_COMPOSE_CONDUCTOR  2

/*
 * Serve r (an invocation of action "ns/path", after auth) with the driver:
 * it becomes r's content handler. doc: the capacity answer's "sequence"
 * object ({"components", "version", "limits"}) for a sequence, or empty
 * for a conductor action. web: for a web request (anonymous, run as the
 * action's owner), the capacity answer's "web" facts (libow/ow_web.h), kept
 * in r->pool; else NULL. NGX_OK or NGX_ERROR.
 */
ngx_int_t ngx_http_ow_compose_start(ngx_http_request_t *r,
    ngx_str_t *action, ngx_uint_t kind, u_char *doc, size_t len,
    u_char *web, size_t web_len);

/* how long the gateway's activation records are kept (ow_compose_retention,
 * seconds): the response cache's hit records too */
time_t ngx_http_ow_compose_retention(ngx_cycle_t *cycle);

#endif /* NGX_HTTP_OW_COMPOSE_H */
