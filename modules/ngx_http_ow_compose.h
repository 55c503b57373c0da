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

/*
 * Whether r must run its action itself, not as a composition: the driver's
 * own invocation of a conductor action (trusted listener only).
 */
ngx_uint_t ngx_http_ow_compose_plain(ngx_http_request_t *r);

/*
 * NGX_OK and *ns when r is a component of a web action (a sequence or
 * conductor action) that runs as its owner, the namespace *ns (trusted
 * listener only: header X-OW-Run-As); else NGX_DECLINED.
 */
ngx_int_t ngx_http_ow_compose_run_as(ngx_http_request_t *r, ngx_str_t *ns);

/*
 * The router forgets what it knows of "ns/path": whether it is a sequence or
 * conductor action, and its containers (it changed: they run the old code).
 * len 0: whether any action is a sequence or conductor action.
 */
void ngx_http_ow_router_forget(u_char *action, size_t len);

#endif /* NGX_HTTP_OW_COMPOSE_H */
