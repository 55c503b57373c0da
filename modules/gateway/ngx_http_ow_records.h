/*
 * ngx_http_ow_records.h: the activation records the gateway writes itself
 * (ngx_http_ow_records.c): the records of sequences and conductor actions
 * (the compose driver) and of the response cache's API hits.
 */

#ifndef NGX_HTTP_OW_RECORDS_H
#define NGX_HTTP_OW_RECORDS_H

#include <ngx_config.h>
#include <ngx_core.h>

typedef struct {
    ngx_str_t   ns;
    ngx_str_t   index;          /* the per-name index's name */
    ngx_str_t   id;
    ngx_str_t   json;           /* the record, as it is stored */
    int64_t     start;
    int64_t     retention_ms;
    u_char     *mem;            /* malloc'ed: all of the above */
} ngx_http_ow_record_t;

/*
 * A record for the worker's next batch, in two steps so that its JSON is
 * written once, in place: ngx_http_ow_records_reserve copies ns, index and
 * id and leaves json.data with room for json_size bytes (NULL: out of
 * memory); the caller writes the JSON there, sets json.len and gives it to
 * ngx_http_ow_records_queue before anything else is reserved.
 */
ngx_http_ow_record_t *ngx_http_ow_records_reserve(ngx_str_t *ns,
    ngx_str_t *index, ngx_str_t *id, int64_t start, int64_t retention_ms,
    size_t json_size);
void ngx_http_ow_records_queue(ngx_http_ow_record_t *rec);

#endif /* NGX_HTTP_OW_RECORDS_H */
