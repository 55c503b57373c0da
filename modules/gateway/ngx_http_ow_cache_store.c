/*
 * ngx_http_ow_cache_store.c: the response cache on a miss: the header and
 * body filters see the answer and store it (ngx_http_ow_cache_internal.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ow_compose.h"
#include "ngx_http_ow_cache_internal.h"

/* ---- a miss: the filters see the answer, and store it ---- */

static ngx_int_t
ngx_http_ow_cache_head_add(ngx_http_request_t *r, ngx_buf_t *b,
    ngx_str_t *key, ngx_str_t *value)
{
    if (key->len > 0xffff || value->len > 0xffff
        || (size_t) (b->end - b->last) < 4 + key->len + value->len)
    {
        return NGX_DECLINED;
    }
    *b->last++ = (u_char) (key->len >> 8);
    *b->last++ = (u_char) key->len;
    b->last = ngx_cpymem(b->last, key->data, key->len);
    *b->last++ = (u_char) (value->len >> 8);
    *b->last++ = (u_char) value->len;
    b->last = ngx_cpymem(b->last, value->data, value->len);
    return NGX_OK;
}

/*
 * The answer's headers as a hit will send them; NGX_DECLINED when it must
 * not be stored (Set-Cookie: another client's session).
 */
static ngx_int_t
ngx_http_ow_cache_head(ngx_http_request_t *r, ngx_http_ow_cache_ctx_t *ctx)
{
    static ngx_str_t   skip[] = {
        ngx_string("Connection"), ngx_string("Keep-Alive"),
        ngx_string("Transfer-Encoding"), ngx_string("Date"),
        ngx_string("Server"), ngx_string("Content-Length"),
        ngx_string("traceparent"), ngx_string("Age")
    };
    static ngx_str_t   content_type = ngx_string("Content-Type");
    ngx_list_part_t   *part;
    ngx_table_elt_t   *h;
    ngx_buf_t         *b;
    ngx_uint_t         i, k;
    size_t             size;

    size = 4 + content_type.len + r->headers_out.content_type.len;
    part = &r->headers_out.headers.part;
    for ( ; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            size += 4 + h[i].key.len + h[i].value.len;
        }
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_ERROR;
    }

    if (r->headers_out.content_type.len
        && ngx_http_ow_cache_head_add(r, b, &content_type,
                                      &r->headers_out.content_type)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    part = &r->headers_out.headers.part;
    for ( ; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0) {
                continue;
            }
            if (h[i].key.len == 10
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Set-Cookie",
                                   10) == 0)
            {
                return NGX_DECLINED;
            }
            for (k = 0; k < sizeof(skip) / sizeof(skip[0]); k++) {
                if (h[i].key.len == skip[k].len
                    && ngx_strncasecmp(h[i].key.data, skip[k].data,
                                       skip[k].len) == 0)
                {
                    break;
                }
            }
            if (k < sizeof(skip) / sizeof(skip[0])) {
                continue;
            }
            if (ngx_http_ow_cache_head_add(r, b, &h[i].key, &h[i].value)
                != NGX_OK)
            {
                return NGX_DECLINED;
            }
        }
    }

    ctx->head.data = b->pos;
    ctx->head.len = b->last - b->pos;
    return NGX_OK;
}

static ngx_table_elt_t *
ngx_http_ow_cache_out_header(ngx_http_request_t *r, char *name, size_t len)
{
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_uint_t        i;

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash && h[i].key.len == len
                && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
            {
                return &h[i];
            }
        }
    }
    return NULL;
}

static int
ngx_http_ow_cache_str_cmp(const void *a, const void *b)
{
    const ngx_str_t  *x = a, *y = b;
    ngx_int_t         rc;

    rc = ngx_strncmp(x->data, y->data, ngx_min(x->len, y->len));
    return rc ? rc : (int) x->len - (int) y->len;
}

/* Vary: its header names, lowercased and sorted; NGX_DECLINED for "*" */
static ngx_int_t
ngx_http_ow_cache_vary(ngx_http_request_t *r, ngx_http_ow_cache_ctx_t *ctx)
{
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_str_t         names[OW_CACHE_KEY_NAMES_MAX];
    ngx_uint_t        i, n, k;
    u_char           *p, *end, *t, *out;

    n = 0;
    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0 || h[i].key.len != 4
                || ngx_strncasecmp(h[i].key.data, (u_char *) "Vary", 4) != 0)
            {
                continue;
            }
            p = h[i].value.data;
            end = p + h[i].value.len;
            while (p < end) {
                while (p < end && (*p == ' ' || *p == ',' || *p == '\t')) {
                    p++;
                }
                t = p;
                while (p < end && *p != ',' && *p != ' ' && *p != '\t') {
                    p++;
                }
                if (p == t) {
                    continue;
                }
                if (*t == '*' || n == OW_CACHE_KEY_NAMES_MAX
                    || p - t > OW_CACHE_NAME_MAX)
                {
                    return NGX_DECLINED;
                }
                names[n].data = ngx_pnalloc(r->pool, p - t);
                if (names[n].data == NULL) {
                    return NGX_ERROR;
                }
                names[n].len = p - t;
                ngx_strlow(names[n].data, t, p - t);
                n++;
            }
        }
    }

    ngx_qsort(names, n, sizeof(ngx_str_t), ngx_http_ow_cache_str_cmp);

    out = ngx_pnalloc(r->pool, OW_CACHE_SPEC_MAX + 1);
    if (out == NULL) {
        return NGX_ERROR;
    }
    p = out;
    for (k = 0; k < n; k++) {
        if (k && ngx_http_ow_cache_str_cmp(&names[k], &names[k - 1]) == 0) {
            continue;
        }
        if (p > out) {
            *p++ = '\n';
        }
        p = ngx_cpymem(p, names[k].data, names[k].len);
    }
    ctx->spec = out;
    ctx->spec_len = p - out;
    return NGX_OK;
}

/* a web answer: may it be stored, for how long, and private or not */
static ngx_uint_t
ngx_http_ow_cache_web_storable(ngx_http_request_t *r,
    ngx_http_ow_cache_ctx_t *ctx)
{
    ngx_list_part_t    *part;
    ngx_table_elt_t    *h;
    ngx_uint_t          i;
    ow_cache_policy_t  *p = &ctx->policy;
    time_t              expires, date;

    switch (r->headers_out.status) {
    case NGX_HTTP_OK:
    case 203:
    case NGX_HTTP_NO_CONTENT:
    case NGX_HTTP_MOVED_PERMANENTLY:
    case NGX_HTTP_PERMANENT_REDIRECT:
    case NGX_HTTP_NOT_FOUND:
    case 410:
        break;
    default:
        return 0;
    }
    if (r->method != NGX_HTTP_GET) {
        return 0;
    }

    ngx_memzero(p, sizeof(*p));
    p->max_age = -1;

    /* every Cache-Control line: together they are one list */
    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash && h[i].key.len == 13
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Cache-Control",
                                   13) == 0)
            {
                ow_cache_control_parse((char *) h[i].value.data,
                                       h[i].value.len, p);
            }
        }
    }

    if (p->max_age < 0) {
        h = ngx_http_ow_cache_out_header(r, "Expires", 7);
        if (h) {
            expires = ngx_parse_http_time(h->value.data, h->value.len);
            h = ngx_http_ow_cache_out_header(r, "Date", 4);
            date = h ? ngx_parse_http_time(h->value.data, h->value.len)
                     : ngx_time();
            if (expires != NGX_ERROR && date != NGX_ERROR && expires > date) {
                p->max_age = ngx_min(expires - date, OW_CACHE_AGE_MAX);
            }
        }
    }

    if (p->no_store || p->max_age <= 0) {
        return 0;
    }

    /* a private answer is for the subject alone: one is needed */
    if (p->is_private && ctx->subject.len == 0) {
        return 0;
    }

    /* RFC 9111 §3.5: with credentials, only what says it may be shared */
    if (!p->is_private && r->headers_in.authorization
        && !p->is_public && !p->s_maxage)
    {
        return 0;
    }

    return ngx_http_ow_cache_vary(r, ctx) == NGX_OK;
}

static ngx_int_t
ngx_http_ow_cache_header_miss(ngx_http_request_t *r)
{
    ngx_http_ow_cache_ctx_t       *ctx;
    ngx_buf_t                     *b;
    size_t                         size;
    ngx_http_ow_cache_zone_t      *z;
    ngx_http_ow_cache_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_cache_module);
    if (ctx == NULL || !ctx->miss || r != r->main) {
        return ngx_http_ow_cache_next_header_filter(r);
    }
    ctx->miss = 0;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_cache_module);
    if (lcf->zone == NULL) {
        return ngx_http_ow_cache_next_header_filter(r);
    }
    z = lcf->zone->data;

    if (!ctx->web) {
        /*
         * A blocking answer: held whole, so that the reserved field goes
         * before Content-Length does. JSON only (the sidecar's answers).
         */
        if (r->headers_out.status != NGX_HTTP_OK
            || r->headers_out.content_type.len < 16
            || ngx_strncasecmp(r->headers_out.content_type.data,
                               (u_char *) "application/json", 16) != 0)
        {
            return ngx_http_ow_cache_next_header_filter(r);
        }
        size = r->headers_out.content_length_n > 0
               ? (size_t) r->headers_out.content_length_n : 4096;
        ctx->hold = 1;

    } else {
        if (!ngx_http_ow_cache_web_storable(r, ctx)) {
            return ngx_http_ow_cache_next_header_filter(r);
        }
        if (r->headers_out.content_length_n > (off_t) z->max_object) {
            z->sh->too_big++;
            return ngx_http_ow_cache_next_header_filter(r);
        }
        size = r->headers_out.content_length_n >= 0
               ? (size_t) r->headers_out.content_length_n : 4096;
        ctx->capture = 1;
    }

    switch (ngx_http_ow_cache_head(r, ctx)) {
    case NGX_OK:
        break;
    case NGX_DECLINED:
        ctx->capture = 0;
        if (ctx->web) {
            return ngx_http_ow_cache_next_header_filter(r);
        }
        break;
    default:
        return NGX_ERROR;
    }
    ctx->status_code = r->headers_out.status;

    b = ngx_create_temp_buf(r->pool, size ? size : 1);
    if (b == NULL) {
        return NGX_ERROR;
    }
    ctx->body = b;

    if (ctx->hold) {
        return NGX_OK;
    }
    return ngx_http_ow_cache_next_header_filter(r);
}

ngx_int_t
ngx_http_ow_cache_header_filter(ngx_http_request_t *r)
{
    ngx_http_ow_cache_ctx_t       *ctx;
    ngx_http_ow_cache_loc_conf_t  *lcf;
    ngx_int_t                      rc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_cache_module);
    if (ctx == NULL || !ctx->miss || r != r->main) {
        return ngx_http_ow_cache_next_header_filter(r);
    }
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_cache_module);
    if (lcf->zone == NULL) {
        ctx->miss = 0;
        return ngx_http_ow_cache_next_header_filter(r);
    }

    if (ctx->stale && r->headers_out.status >= NGX_HTTP_INTERNAL_SERVER_ERROR)
    {
        /* stale-if-error */
        ctx->miss = 0;
        ngx_http_ow_cache_unlock(lcf->zone->data, ctx);
        if (ngx_http_ow_cache_swap_stale(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }
        return ngx_http_ow_cache_next_header_filter(r);
    }

    rc = ngx_http_ow_cache_header_miss(r);
    if (!ctx->hold && !ctx->capture) {
        /* nothing will be stored: who waits runs the action */
        ngx_http_ow_cache_unlock(lcf->zone->data, ctx);
    }
    return rc;
}

/* append in's bytes to ctx->body (growing it); NGX_DECLINED past max */
static ngx_int_t
ngx_http_ow_cache_collect(ngx_http_request_t *r, ngx_http_ow_cache_ctx_t *ctx,
    ngx_chain_t *in, size_t max, ngx_uint_t consume, ngx_uint_t *last)
{
    ngx_buf_t  *b = ctx->body, *nb;
    size_t      n, size;
    ngx_int_t   rc = NGX_OK;

    for ( ; in; in = in->next) {
        if (in->buf->last_buf) {
            *last = 1;
        }
        if (!ngx_buf_in_memory(in->buf)) {
            if (ngx_buf_size(in->buf)) {
                rc = NGX_DECLINED;
            }
            continue;
        }
        n = in->buf->last - in->buf->pos;
        if (n == 0 || rc == NGX_DECLINED) {
            if (consume) {
                in->buf->pos = in->buf->last;
            }
            continue;
        }
        if ((size_t) (b->last - b->start) + n > max) {
            rc = NGX_DECLINED;
            if (!consume) {
                continue;
            }
        }
        if ((size_t) (b->end - b->last) < n) {
            size = ngx_max(2 * (size_t) (b->end - b->start),
                           (size_t) (b->last - b->start) + n);
            nb = ngx_create_temp_buf(r->pool, size);
            if (nb == NULL) {
                return NGX_ERROR;
            }
            nb->last = ngx_cpymem(nb->last, b->pos, b->last - b->pos);
            ctx->body = b = nb;
        }
        b->last = ngx_cpymem(b->last, in->buf->pos, n);
        if (consume) {
            in->buf->pos = in->buf->last;
        }
    }
    return rc;
}

static void
ngx_http_ow_cache_store(ngx_http_request_t *r, ngx_http_ow_cache_ctx_t *ctx,
    ngx_http_ow_cache_zone_t *z, ngx_uint_t kind, u_char *spec,
    size_t spec_len, ngx_uint_t priv, u_char *body, size_t body_len)
{
    u_char     vd[NGX_HTTP_OW_CACHE_DIGEST], ad[NGX_HTTP_OW_CACHE_DIGEST];
    ngx_str_t  none = ngx_null_string, vspec;
    int64_t    until;

    if (ctx->settling) {
        return;
    }
    if (body_len > z->max_object) {
        z->sh->too_big++;
        return;
    }
    if (ngx_http_ow_cache_answer_digest(r, ctx, spec, spec_len, priv, ad)
        != NGX_OK)
    {
        return;
    }

    until = ngx_http_ow_cache_now() + ctx->policy.max_age * 1000;

    /* the variant lives as long as the answer: the latest answer's words */
    ngx_http_ow_cache_variant_digest(ctx, vd);
    vspec.data = spec;
    vspec.len = spec_len;
    ngx_http_ow_cache_put(z, vd, NGX_HTTP_OW_CACHE_VARIANT, 0, NULL,
                          ngx_max(until, ngx_http_ow_cache_now()
                                         + NGX_HTTP_OW_CACHE_VARIANT_TTL),
                          priv, &none, vspec.data, vspec.len);
    ngx_http_ow_cache_put(z, ad, kind, ctx->status_code, &ctx->policy, until,
                          priv, &ctx->head, body, body_len);
    ctx->stored = 1;
}

/* a held API answer, whole: the field out, stored if it says so, sent */
static ngx_int_t
ngx_http_ow_cache_release(ngx_http_request_t *r, ngx_http_ow_cache_ctx_t *ctx,
    ngx_http_ow_cache_zone_t *z)
{
    ngx_buf_t   *b = ctx->body, *out;
    ngx_chain_t  cl;
    json_t      *answer, *field;
    char        *tail, spec[OW_CACHE_SPEC_MAX + 1], index[800];
    u_char      *stored, *p;
    size_t       tail_len;
    long         n, again;
    ngx_int_t    rc;

    /* most answers never name the field: no parse for them */
    answer = NULL;
    if (ngx_strnstr(b->pos, "\"" OW_CACHE_FIELD "\"", b->last - b->pos)) {
        answer = json_loadb((char *) b->pos, b->last - b->pos, 0, NULL);
    }
    field = answer ? ow_cache_field_take(answer, ctx->result_only) : NULL;

    if (field) {
        /* the answer as the action wrote it, but for the field */
        out = ngx_create_temp_buf(r->pool, b->last - b->pos);
        n = out ? ow_cache_strip((char *) b->pos, b->last - b->pos,
                                 ctx->result_only, (char *) out->pos)
                : -1;
        if (n >= 0) {
            out->last = out->pos + n;
            ctx->body = b = out;
            /* named twice (JSON allows it): every one goes */
            while ((again = ow_cache_strip((char *) b->pos,
                                           b->last - b->pos, ctx->result_only,
                                           (char *) b->pos))
                   >= 0)
            {
                b->last = b->pos + again;
            }
        }

        if (n >= 0 && ow_cache_field_parse(field, &ctx->policy, spec) == 0
            && ngx_http_ow_cache_params(ctx) && ctx->head.data)
        {
            if (ctx->result_only) {
                ngx_http_ow_cache_store(r, ctx, z, NGX_HTTP_OW_CACHE_ANSWER,
                                        (u_char *) spec, ngx_strlen(spec), 1,
                                        b->pos, b->last - b->pos);
            } else {
                /*
                 * "index\n" + the record but for what each hit makes
                 * anew: a hit's record is written with no parse
                 * (ngx_http_ow_cache_record)
                 */
                ow_compose_index_name(answer, index, sizeof(index));
                tail = ow_cache_record_tail_text((char *) b->pos,
                                                 b->last - b->pos, &tail_len);
                stored = tail ? ngx_pnalloc(r->pool, ngx_strlen(index) + 1
                                                     + tail_len)
                              : NULL;
                if (stored) {
                    p = ngx_sprintf(stored, "%s\n", index);
                    p = ngx_cpymem(p, tail, tail_len);
                    ngx_http_ow_cache_store(r, ctx, z,
                                            NGX_HTTP_OW_CACHE_RECORD,
                                            (u_char *) spec,
                                            ngx_strlen(spec), 1,
                                            stored, p - stored);
                }
                free(tail);
            }
        }
        json_decref(field);
    }
    json_decref(answer);
    ngx_http_ow_cache_unlock(z, ctx);

    r->headers_out.content_length_n = b->last - b->pos;
    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    rc = ngx_http_ow_cache_next_header_filter(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out = ngx_calloc_buf(r->pool);
    if (out == NULL) {
        return NGX_ERROR;
    }
    out->pos = b->pos;
    out->last = b->last;
    out->memory = (b->last > b->pos);
    out->last_buf = 1;
    out->last_in_chain = 1;
    cl.buf = out;
    cl.next = NULL;
    return ngx_http_ow_cache_next_body_filter(r, &cl);
}

ngx_int_t
ngx_http_ow_cache_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_ow_cache_ctx_t       *ctx;
    ngx_http_ow_cache_loc_conf_t  *lcf;
    ngx_http_ow_cache_zone_t      *z;
    ngx_chain_t                   *cl, out;
    ngx_uint_t                     last;
    ngx_int_t                      rc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_cache_module);
    if (ctx == NULL || r != r->main
        || !(ctx->hold || ctx->capture || ctx->swallow))
    {
        return ngx_http_ow_cache_next_body_filter(r, in);
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_cache_module);
    z = lcf->zone->data;
    last = 0;

    if (ctx->swallow) {
        /* the failed answer's bytes go nowhere; the stale one's instead */
        for (cl = in; cl; cl = cl->next) {
            last |= cl->buf->last_buf;
            cl->buf->pos = cl->buf->last;
        }
        if (!last) {
            return NGX_OK;
        }
        ctx->swallow = 0;
        if (ctx->stale_body == NULL || r->header_only) {
            return ngx_http_send_special(r, NGX_HTTP_LAST);
        }
        out.buf = ctx->stale_body;
        out.next = NULL;
        return ngx_http_ow_cache_next_body_filter(r, &out);
    }

    if (ctx->hold) {
        rc = ngx_http_ow_cache_collect(r, ctx, in, (size_t) -1, 1, &last);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
        if (!last) {
            return NGX_OK;
        }
        ctx->hold = 0;
        return ngx_http_ow_cache_release(r, ctx, z);
    }

    rc = ngx_http_ow_cache_collect(r, ctx, in, z->max_object, 0, &last);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }
    if (rc == NGX_DECLINED) {
        ctx->capture = 0;
        z->sh->too_big++;
    }

    rc = ngx_http_ow_cache_next_body_filter(r, in);

    if (last && ctx->capture) {
        ctx->capture = 0;
        ngx_http_ow_cache_store(r, ctx, z, NGX_HTTP_OW_CACHE_ANSWER,
                                ctx->spec, ctx->spec_len,
                                ctx->policy.is_private, ctx->body->pos,
                                ctx->body->last - ctx->body->pos);
    }
    if (last) {
        ngx_http_ow_cache_unlock(z, ctx);
    }
    return rc;
}
