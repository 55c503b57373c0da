/*
 * ngx_http_ow_limit.h: what ngx_http_ow_limit_module shares with the other
 * gateway modules.
 */

#ifndef NGX_HTTP_OW_LIMIT_H
#define NGX_HTTP_OW_LIMIT_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

/*
 * ow_limit_clock_offset: seconds added to the clock for the per-minute
 * windows. Valid from postconfiguration on (set by init main conf).
 */
time_t ngx_http_ow_limit_clock_offset_conf(ngx_conf_t *cf);

/*
 * A response-cache hit on the API path: counted against the namespace's
 * invocationsPerMinute (where ow_limit is on), but it takes no concurrency
 * slot. NGX_DECLINED: admitted; else the 429 was sent, and this is what
 * sending it returned, for the caller to finalize the request with.
 */
ngx_int_t ngx_http_ow_limit_hit(ngx_http_request_t *r);

#endif /* NGX_HTTP_OW_LIMIT_H */
