/*
 * ngx_http_ow_balancer.c: ow_router_balancer, the upstream whose peers are
 * the warm table's containers (ngx_http_ow_warm.c). The first try goes to
 * the container ow_invoke's has_room chose (the request carries it: no lock,
 * no lookup here); a retry, after a container said 429 or failed, asks the
 * table for the next best one not yet tried.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ow_http.h"
#include "ngx_http_ow_metrics.h"
#include "ngx_http_ow_router.h"

static ngx_int_t
ngx_http_ow_balancer_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_ow_router_ctx_t  *ctx = data;

    pc->cached = 0;
    pc->connection = NULL;

    if (ctx->ntried >= NGX_HTTP_OW_ROUTER_TRIES) {
        return NGX_BUSY;
    }

    if (ctx->reserved) {
        /* has_room's choice, already counted in flight */
        ctx->reserved = 0;

    } else if (ngx_http_ow_warm_pick(ctx) != NGX_OK) {
        return NGX_BUSY;
    }

    ngx_memcpy(ctx->tried[ctx->ntried], ctx->id, ctx->id_len);
    ctx->tried[ctx->ntried][ctx->id_len] = '\0';
    ctx->ntried++;

    ctx->name.data = ctx->name_buf;
    ctx->name.len = ngx_sock_ntop((struct sockaddr *) &ctx->sin,
                                  sizeof(struct sockaddr_in), ctx->name_buf,
                                  sizeof(ctx->name_buf), 1);
    pc->sockaddr = (struct sockaddr *) &ctx->sin;
    pc->socklen = sizeof(struct sockaddr_in);
    pc->name = &ctx->name;
    return NGX_OK;
}

static ngx_msec_t
ngx_http_ow_balancer_retry_after(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;
    ngx_int_t         s;

    h = ngx_http_ow_header_find(&r->upstream->headers_in.headers,
                                "Retry-After");
    if (h == NULL) {
        return 1000;
    }
    s = ngx_atoi(h->value.data, h->value.len);
    return (s > 0 && s < 60) ? (ngx_msec_t) s * 1000 : 1000;
}

static void
ngx_http_ow_balancer_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_ow_router_ctx_t  *ctx = data;
    ngx_http_upstream_t       *u;
    ngx_msec_t                 busy;

    if (ctx->id_len == 0) {
        return;
    }

    u = ctx->request->upstream;
    busy = (u && u->headers_in.status_n == NGX_HTTP_TOO_MANY_REQUESTS)
           ? ngx_http_ow_balancer_retry_after(ctx->request) : 0;
    if (u && u->headers_in.status_n == NGX_HTTP_TOO_MANY_REQUESTS) {
        ngx_http_ow_metrics_container_429();
    }

    if (u && u->headers_in.status_n == NGX_HTTP_SERVICE_UNAVAILABLE) {
        /* shutting down: its removal event is on the way */
        busy = 5000;
    }

    if (busy == 0 && (state & NGX_PEER_FAILED)) {
        /* refused or broken: likely gone, its removal event on the way */
        busy = 1000;
    }

    ngx_http_ow_warm_done(ctx, busy);

    pc->tries = (state & NGX_PEER_FAILED || busy) ? pc->tries - 1 : 0;
}

static ngx_int_t
ngx_http_ow_balancer_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_ow_router_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_router_module);
    if (ctx == NULL || ctx->action.len == 0 || ngx_http_ow_router_table == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ow_router_balancer used without ow_invoke");
        return NGX_ERROR;
    }

    r->upstream->peer.data = ctx;
    r->upstream->peer.get = ngx_http_ow_balancer_get_peer;
    r->upstream->peer.free = ngx_http_ow_balancer_free_peer;
    r->upstream->peer.tries = NGX_HTTP_OW_ROUTER_TRIES;
    return NGX_OK;
}

ngx_int_t
ngx_http_ow_balancer_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    us->peer.init = ngx_http_ow_balancer_init_peer;
    return NGX_OK;
}
