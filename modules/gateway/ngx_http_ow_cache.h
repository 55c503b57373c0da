/*
 * ngx_http_ow_cache.h: the response cache's entry points
 * (ngx_http_ow_cache_module.c), handed to other modules at configuration:
 * the router's forget hook (ngx_http_ow_invoke.h) and the metrics text
 * (ngx_http_ow_metrics.h), so that neither calls the cache by name.
 */

#ifndef NGX_HTTP_OW_CACHE_H
#define NGX_HTTP_OW_CACHE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

/*
 * "ns/path" (an action) or "ns" (a namespace: every action of it, and
 * every invocation from it) changed or was purged: no answer cached before
 * is served again. len 0: every answer. A no-op without a zone.
 */
void ngx_http_ow_cache_forget(u_char *name, size_t len);

/* the cache's lines of /metrics (Prometheus text), "" without a zone:
 * handed to the metrics module (ngx_http_ow_metrics_more) */
ngx_int_t ngx_http_ow_cache_metrics(ngx_pool_t *pool, ngx_str_t *text);

#endif /* NGX_HTTP_OW_CACHE_H */
