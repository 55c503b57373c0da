/*
 * ngx_http_ow_cache_records.h: the records of the response cache's hits
 * (ngx_http_ow_cache_records.c), for ngx_http_ow_cache_module.c alone.
 */

#ifndef NGX_HTTP_OW_CACHE_RECORDS_H
#define NGX_HTTP_OW_CACHE_RECORDS_H

#include <ngx_config.h>
#include <ngx_core.h>

/*
 * The record of an API hit, queued for the worker's next batch as its
 * Redis command (built here, never parsed again): whole, the cached record
 * as answered (body), index its per-name index (stored with the entry);
 * else, for a result=true answer (whose record the cache never saw), a
 * successful activation of action ("ns/[pkg/]name" or
 * "invoker/owner/pkg/name") by ns and subject with result body, index
 * unused. rid: the activation id; now: its start and end (ms).
 */
ngx_int_t ngx_http_ow_cache_record(ngx_str_t *action, ngx_str_t *ns,
    ngx_str_t *subject, ngx_uint_t whole, ngx_str_t *index, ngx_str_t *rid,
    u_char *body, size_t body_len, int64_t now);

#endif /* NGX_HTTP_OW_CACHE_RECORDS_H */
