/*
 * ngx_http_ow_http.h: what the owx modules share in answering a request
 * (ngx_http_ow_http.c).
 */

#ifndef NGX_HTTP_OW_HTTP_H
#define NGX_HTTP_OW_HTTP_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

/* send a JSON/text response and finalize-ready rc */
ngx_int_t ngx_http_ow_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *content_type, const char *body, size_t len);
/*
 * The same with a malloc()ed body the request frees when it is done: a
 * body of megabytes is sent without a copy on the event loop.
 */
ngx_int_t ngx_http_ow_send_owned(ngx_http_request_t *r, ngx_uint_t status,
    const char *content_type, char *body, size_t len);

/* adds "name: data" to the response headers (data is not copied: it must
 * live as long as the request) */
ngx_int_t ngx_http_ow_header_out(ngx_http_request_t *r, const char *name,
    u_char *data, size_t len);

/* the read request body's size, and a copy of it into dst (that many
 * bytes; a part in a temporary file is read in: safe on a pool thread);
 * the copy returns the bytes copied or NGX_ERROR */
size_t ngx_http_ow_body_size(ngx_http_request_t *r);
ssize_t ngx_http_ow_body_copy(ngx_http_request_t *r, u_char *dst);

/* the read request body in one piece, from r->pool (a part in a temporary
 * file is read in); *len 0 when there is none */
ngx_int_t ngx_http_ow_read_body(ngx_http_request_t *r, u_char **data,
    size_t *len);

/* {"error": msg, "code": $request_id} */
ngx_int_t ngx_http_ow_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *msg);

/* the first header of that name (case-insensitive) in the list, or NULL;
 * entries with hash 0 (deleted) do not count */
ngx_table_elt_t *ngx_http_ow_header_find(ngx_list_t *headers,
    const char *name);

#endif /* NGX_HTTP_OW_HTTP_H */
