/*
 * ngx_http_ow_http.c: what the owx modules share in answering a request:
 * responses (JSON errors in OpenWhisk's shape), headers, reading a body.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ow_http.h"

ngx_int_t
ngx_http_ow_header_out(ngx_http_request_t *r, const char *name, u_char *data,
    size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = data;
    h->value.len = len;
    return NGX_OK;
}


static ngx_int_t
ngx_http_ow_send_buf(ngx_http_request_t *r, ngx_uint_t status,
    const char *content_type, ngx_buf_t *b, size_t len)
{
    ngx_int_t     rc;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type.data = (u_char *) content_type;
    r->headers_out.content_type.len = ngx_strlen(content_type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (b == NULL) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;
    return ngx_http_output_filter(r, &out);
}

ngx_int_t
ngx_http_ow_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *content_type, const char *body, size_t len)
{
    ngx_buf_t  *b;

    if (len == 0 || r->method == NGX_HTTP_HEAD) {
        return ngx_http_ow_send_buf(r, status, content_type, NULL, len);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    b->last = ngx_cpymem(b->pos, body, len);
    return ngx_http_ow_send_buf(r, status, content_type, b, len);
}

ngx_int_t
ngx_http_ow_send_owned(ngx_http_request_t *r, ngx_uint_t status,
    const char *content_type, char *body, size_t len)
{
    ngx_buf_t           *b;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        free(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    cln->handler = free;
    cln->data = body;

    if (len == 0 || r->method == NGX_HTTP_HEAD) {
        return ngx_http_ow_send_buf(r, status, content_type, NULL, len);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    b->pos = (u_char *) body;
    b->last = b->pos + len;
    b->memory = 1;
    return ngx_http_ow_send_buf(r, status, content_type, b, len);
}

size_t
ngx_http_ow_body_size(ngx_http_request_t *r)
{
    ngx_chain_t  *cl;
    size_t        len;

    len = 0;
    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }
    }
    return len;
}

ssize_t
ngx_http_ow_body_copy(ngx_http_request_t *r, u_char *dst)
{
    ngx_chain_t  *cl;
    ngx_buf_t    *b;
    u_char       *p;
    ssize_t       n;

    p = dst;
    for (cl = r->request_body ? r->request_body->bufs : NULL; cl;
         cl = cl->next)
    {
        b = cl->buf;
        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                return NGX_ERROR;
            }
            p += n;
        } else {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }
    return p - dst;
}

ngx_int_t
ngx_http_ow_read_body(ngx_http_request_t *r, u_char **data,
    size_t *len)
{
    ssize_t  n;

    *data = (u_char *) "";
    *len = ngx_http_ow_body_size(r);
    if (*len == 0) {
        return NGX_OK;
    }

    *data = ngx_pnalloc(r->pool, *len);
    if (*data == NULL) {
        return NGX_ERROR;
    }

    n = ngx_http_ow_body_copy(r, *data);
    if (n < 0) {
        return NGX_ERROR;
    }
    *len = n;
    return NGX_OK;
}

ngx_int_t
ngx_http_ow_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *msg)
{
    static ngx_str_t            name = ngx_string("request_id");
    ngx_http_variable_value_t  *id;
    ngx_table_elt_t            *h;
    u_char                     *p, *body;
    size_t                      n;

    id = ngx_http_get_variable(r, &name, ngx_hash_key(name.data, name.len));

    n = sizeof("{\"error\":\"\",\"code\":\"\"}") + ngx_strlen(msg) * 6
        + (id && !id->not_found ? id->len : 0);
    body = ngx_pnalloc(r->pool, n);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"error\":\"", 10);
    p = (u_char *) ngx_escape_json(p, (u_char *) msg, ngx_strlen(msg));
    p = ngx_cpymem(p, "\",\"code\":\"", 10);
    if (id && !id->not_found) {
        p = ngx_cpymem(p, id->data, id->len);
    }
    p = ngx_cpymem(p, "\"}", 2);

    /*
     * every 429 and 503 says when to come back: in a second unless the
     * caller set its own (ow_limit's per-minute refusals, the router)
     */
    if ((status == NGX_HTTP_TOO_MANY_REQUESTS
         || status == NGX_HTTP_SERVICE_UNAVAILABLE)
        && ngx_http_ow_header_find(&r->headers_out.headers, "Retry-After")
           == NULL)
    {
        h = ngx_list_push(&r->headers_out.headers);
        if (h) {
            h->hash = 1;
            ngx_str_set(&h->key, "Retry-After");
            ngx_str_set(&h->value, "1");
        }
    }

    return ngx_http_ow_send(r, status, "application/json", (char *) body,
                            p - body);
}

ngx_table_elt_t *
ngx_http_ow_header_find(ngx_list_t *headers, const char *name)
{
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_uint_t        i;
    size_t            len;

    len = ngx_strlen(name);
    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }
        if (h[i].hash && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}
