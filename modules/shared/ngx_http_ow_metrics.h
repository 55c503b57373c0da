/*
 * ngx_http_ow_metrics.h: what the other owx modules tell the metrics
 * module (ngx_http_ow_metrics_module.c). Every call is a few atomic adds on
 * the shared zone, and a no-op when no ow_metrics_zone is configured.
 */

#ifndef NGX_HTTP_OW_METRICS_H
#define NGX_HTTP_OW_METRICS_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

/* the verdict cache answered (hit) or the auth location was asked */
void ngx_http_ow_metrics_auth_cache(ngx_uint_t hit);
/* a key was rejected (401) */
void ngx_http_ow_metrics_auth_rejected(void);
/* ow_limit refused a request of ns: concurrent (1) or per minute (0) */
void ngx_http_ow_metrics_limit(u_char *ns, size_t len,
    ngx_uint_t concurrent);
/* r starts waiting for capacity */
void ngx_http_ow_metrics_parked(ngx_http_request_t *r);
/* r stops waiting (capacity answered, or the client left) */
void ngx_http_ow_metrics_unparked(void);
/* the capacity answer for r's action ("ns/[pkg/]name"): status 200 and
 * containers > 0 is a cold start */
void ngx_http_ow_metrics_capacity(ngx_http_request_t *r, u_char *action,
    size_t len, ngx_int_t status, ngx_uint_t containers);
/* a container answered 429 */
void ngx_http_ow_metrics_container_429(void);
/* a warm-table event: its version, the version applied, the table's size */
void ngx_http_ow_metrics_warm(int64_t seen, int64_t applied,
    ngx_uint_t containers);
/* this worker's Redis connection went up (1) or down (0) */
void ngx_http_ow_metrics_redis(ngx_uint_t up);

/*
 * The action r invoked, or NULL when ow_invoke did not handle it: asked in
 * the log phase, so the warm path has no metrics hook of its own. The
 * router sets it at configuration; the metrics module, which every other
 * module reports to, calls none of them by name.
 */
typedef ngx_str_t *(*ngx_http_ow_metrics_invoked_pt)(ngx_http_request_t *r);
extern ngx_http_ow_metrics_invoked_pt  ngx_http_ow_metrics_invoked;

/*
 * More lines of /metrics (Prometheus text, from r->pool) from a module
 * with a zone of its own: the response cache sets it at configuration.
 */
typedef ngx_int_t (*ngx_http_ow_metrics_more_pt)(ngx_pool_t *pool,
    ngx_str_t *text);
extern ngx_http_ow_metrics_more_pt  ngx_http_ow_metrics_more;

#endif /* NGX_HTTP_OW_METRICS_H */
