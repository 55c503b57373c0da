/*
 * ngx_http_ow_invoke.h: what the other owx modules ask of the router
 * (ngx_http_ow_router_module: ngx_http_ow_invoke.c, ngx_http_ow_warm.c).
 */

#ifndef NGX_HTTP_OW_INVOKE_H
#define NGX_HTTP_OW_INVOKE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

/*
 * For the metrics' log phase: the action r invoked, or NULL when ow_invoke
 * did not handle it (in its current location).
 */
ngx_str_t *ngx_http_ow_router_invoked(ngx_http_request_t *r);

/*
 * The router forgets what it knows of "ns/path": whether it is a sequence or
 * conductor action, and its containers (it changed: they run the old code).
 * len 0: whether any action is a sequence or conductor action.
 */
void ngx_http_ow_router_forget(u_char *action, size_t len);

/*
 * The sidecar address of the warm table's container "id": NGX_OK, or
 * NGX_DECLINED when the table has no such container (gone, or no
 * ow_router_zone). Not the invoke path: nothing is counted in flight.
 */
ngx_int_t ngx_http_ow_router_container(u_char *id, size_t len,
    struct sockaddr_in *sin);

/*
 * Told of every name the router forgets, and of changed namespaces ("ns";
 * len 0: everything): the response cache sets it at configuration (it
 * keeps answers of those actions), so the router calls no other module by
 * name. NULL: none.
 */
typedef void (*ngx_http_ow_router_forgotten_pt)(u_char *name, size_t len);
extern ngx_http_ow_router_forgotten_pt  ngx_http_ow_router_forgotten;

#endif /* NGX_HTTP_OW_INVOKE_H */
