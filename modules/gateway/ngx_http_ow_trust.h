/*
 * ngx_http_ow_trust.h: what the internal listener believes
 * (ngx_http_ow_trust_module.c, directive ow_compose_trust).
 *
 * The compose driver's component requests reach this nginx again on an
 * internal listener with headers no client may set: their cause, their
 * atomic count, "run the conductor action itself" and the identity a web
 * action's components run as. Auth, the router and the driver read them
 * here, so none of them asks another (the trust is its own module, below
 * all three).
 */

#ifndef NGX_HTTP_OW_TRUST_H
#define NGX_HTTP_OW_TRUST_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

/*
 * The main request's header "name" when r's location trusts it
 * (ow_compose_trust on), else NULL.
 */
ngx_table_elt_t *ngx_http_ow_trusted_header(ngx_http_request_t *r,
    const char *name);

/*
 * Whether r must run its action itself, not as a composition: the driver's
 * own invocation of a conductor action (X-OW-Compose-Plain: 1).
 */
ngx_uint_t ngx_http_ow_trusted_plain(ngx_http_request_t *r);

/*
 * NGX_OK and *ns when r is a component of a web action (a sequence or
 * conductor action) that runs as its owner, the namespace *ns (header
 * X-OW-Run-As); else NGX_DECLINED.
 */
ngx_int_t ngx_http_ow_trusted_run_as(ngx_http_request_t *r, ngx_str_t *ns);

#endif /* NGX_HTTP_OW_TRUST_H */
