/*
 * ngx_http_ow_cache_hit.c: the response cache answers a request from its
 * zone (ngx_http_ow_cache_internal.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ow_cache_internal.h"

/* ---- a hit ---- */

static ngx_int_t
ngx_http_ow_cache_header(ngx_http_request_t *r, ngx_str_t *key,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    h->hash = 1;
    h->key = *key;
    h->value.data = value;
    h->value.len = len;
    return NGX_OK;
}

/* If-None-Match (a list, or "*") names the stored ETag: weak comparison */
static ngx_uint_t
ngx_http_ow_cache_not_modified(ngx_http_request_t *r, ngx_str_t *etag)
{
    ngx_table_elt_t  *inm = r->headers_in.if_none_match;
    u_char           *p, *end, *t;
    ngx_str_t         tag;

    if (inm == NULL || etag->len == 0) {
        return 0;
    }

    tag = *etag;
    if (tag.len > 2 && tag.data[0] == 'W' && tag.data[1] == '/') {
        tag.data += 2;
        tag.len -= 2;
    }

    p = inm->value.data;
    end = p + inm->value.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ',' || *p == '\t')) {
            p++;
        }
        if (p < end && *p == '*') {
            return 1;
        }
        if (end - p > 2 && p[0] == 'W' && p[1] == '/') {
            p += 2;
        }
        t = p;
        while (p < end && *p != ',') {
            p++;
        }
        while (p > t && (p[-1] == ' ' || p[-1] == '\t')) {
            p--;
        }
        if ((size_t) (p - t) == tag.len
            && ngx_strncmp(t, tag.data, tag.len) == 0)
        {
            return 1;
        }
        while (p < end && *p != ',') {
            p++;
        }
    }
    return 0;
}

/*
 * The stored answer into r->headers_out, its body into *out (NULL: header
 * only, a 304).
 */
static ngx_int_t
ngx_http_ow_cache_prepare(ngx_http_request_t *r, ngx_http_ow_cache_ctx_t *ctx,
    ngx_http_ow_cache_entry_t *copy, ngx_buf_t **out)
{
    static ngx_str_t               age = ngx_string("Age");
    ngx_http_ow_cache_main_conf_t  *cmcf;
    ngx_http_variable_value_t      *rid;
    ngx_str_t                       key, etag, subject, id, index;
    ngx_buf_t                      *b;
    u_char                         *p, *end, *v, *body;
    size_t                          klen, vlen, body_len;
    int64_t                         now;

    *out = NULL;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_ow_cache_module);
    rid = ngx_http_get_indexed_variable(r, cmcf->request_id);
    if (rid == NULL || rid->not_found) {
        return NGX_ERROR;
    }

    now = ngx_http_ow_cache_now();
    ngx_str_null(&etag);

    r->headers_out.status = copy->status;
    p = copy->data;
    end = p + copy->head_len;
    while (p + 4 <= end) {
        klen = p[0] << 8 | p[1];
        key.data = p + 2;
        key.len = klen;
        p += 2 + klen;
        vlen = p[0] << 8 | p[1];
        v = p + 2;
        p += 2 + vlen;

        if (klen == 12 && ngx_strncasecmp(key.data, (u_char *) "Content-Type",
                                          12) == 0)
        {
            r->headers_out.content_type.data = v;
            r->headers_out.content_type.len = vlen;
            r->headers_out.content_type_len = vlen;
            continue;
        }
        if (klen == 25 && ngx_strncasecmp(key.data,
                              (u_char *) "x-openwhisk-activation-id", 25) == 0)
        {
            /* this request's activation, as a miss's sidecar would say */
            v = rid->data;
            vlen = rid->len;
        }
        if (klen == 4 && ngx_strncasecmp(key.data, (u_char *) "ETag", 4) == 0)
        {
            etag.data = v;
            etag.len = vlen;
        }
        if (ngx_http_ow_cache_header(r, &key, v, vlen) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ctx->web) {
        v = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (v == NULL) {
            return NGX_ERROR;
        }
        vlen = ngx_sprintf(v, "%L", (now - copy->stored) / 1000) - v;
        if (ngx_http_ow_cache_header(r, &age, v, vlen) != NGX_OK) {
            return NGX_ERROR;
        }

        if (copy->status == NGX_HTTP_OK
            && ngx_http_ow_cache_not_modified(r, &etag))
        {
            r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
            r->header_only = 1;
            r->headers_out.content_type.len = 0;
            r->headers_out.content_type_len = 0;
            return NGX_OK;
        }
    }

    body = copy->data + copy->head_len;
    body_len = copy->body_len;
    ngx_str_null(&index);

    if (copy->kind == NGX_HTTP_OW_CACHE_RECORD) {
        /* "index\n" before the record's tail (ngx_http_ow_cache_release) */
        v = body[0] == '{' ? NULL : ngx_strlchr(body, body + body_len, '\n');
        if (v) {
            index.data = body;
            index.len = v - body;
            body_len -= v + 1 - body;
            body = v + 1;
        }
        /* the record anew: this request's id and subject, now, 0 ms */
        subject.len = ngx_escape_json(NULL, ctx->subject.data,
                                      ctx->subject.len)
                      + ctx->subject.len;
        p = ngx_pnalloc(r->pool, sizeof("{\"activationId\":\"\","
                        "\"subject\":\"\",\"start\":,\"end\":,"
                        "\"duration\":0,") + rid->len + subject.len
                        + 2 * NGX_INT64_LEN + body_len);
        if (p == NULL) {
            return NGX_ERROR;
        }
        v = ngx_sprintf(p, "{\"activationId\":\"%*s\",\"subject\":\"",
                        (size_t) rid->len, rid->data);
        v = (u_char *) ngx_escape_json(v, ctx->subject.data,
                                       ctx->subject.len);
        v = ngx_sprintf(v, "\",\"start\":%L,\"end\":%L,\"duration\":0%s",
                        now, now, body[0] == '}' ? "" : ",");
        v = ngx_cpymem(v, body, body_len);
        body = p;
        body_len = v - p;
    }

    r->headers_out.content_length_n = body_len;
    ctx->hit = 1;

    if (!ctx->web) {
        id.data = rid->data;
        id.len = rid->len;
        if (ngx_http_ow_cache_record(&ctx->action, &ctx->ns, &ctx->subject,
                                     copy->kind == NGX_HTTP_OW_CACHE_RECORD,
                                     &index, &id, body, body_len, now)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }
    b->pos = body;
    b->last = body + body_len;
    b->memory = body_len ? 1 : 0;
    b->last_buf = 1;
    b->last_in_chain = 1;
    *out = b;
    return NGX_OK;
}

static ngx_int_t
ngx_http_ow_cache_send_hit(ngx_http_request_t *r, ngx_http_ow_cache_ctx_t *ctx,
    ngx_http_ow_cache_entry_t *copy)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;
    ngx_int_t     rc;

    if (ngx_http_ow_cache_prepare(r, ctx, copy, &b) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only || b == NULL) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;
    return ngx_http_output_filter(r, &out);
}

/*
 * stale-if-error: the action failed, the stale answer goes out instead of
 * what came back (whose headers are hidden; its body is dropped).
 */
ngx_int_t
ngx_http_ow_cache_swap_stale(ngx_http_request_t *r,
    ngx_http_ow_cache_ctx_t *ctx)
{
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_uint_t        i;

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            h[i].hash = 0;
        }
    }
    r->headers_out.server = NULL;
    r->headers_out.date = NULL;
    r->headers_out.content_length = NULL;
    r->headers_out.content_encoding = NULL;
    r->headers_out.location = NULL;
    r->headers_out.refresh = NULL;
    r->headers_out.last_modified = NULL;
    r->headers_out.last_modified_time = -1;
    r->headers_out.content_range = NULL;
    r->headers_out.accept_ranges = NULL;
    r->headers_out.www_authenticate = NULL;
    r->headers_out.expires = NULL;
    r->headers_out.etag = NULL;
    r->headers_out.status_line.len = 0;

    if (ngx_http_ow_cache_prepare(r, ctx, ctx->stale, &ctx->stale_body)
        != NGX_OK)
    {
        return NGX_ERROR;
    }
    ctx->swallow = 1;
    return NGX_OK;
}

static void
ngx_http_ow_cache_lock_digest(u_char *ad, u_char *out)
{
    SHA256_CTX  sha;

    SHA256_Init(&sha);
    SHA256_Update(&sha, ad, NGX_HTTP_OW_CACHE_DIGEST);
    SHA256_Update(&sha, "lock", 4);
    SHA256_Final(out, &sha);
}

static ngx_http_ow_cache_entry_t *
ngx_http_ow_cache_copy_locked(ngx_http_request_t *r,
    ngx_http_ow_cache_entry_t *e)
{
    ngx_http_ow_cache_entry_t  *copy;
    size_t                      size;

    size = offsetof(ngx_http_ow_cache_entry_t, data) + e->head_len
           + e->body_len;
    copy = ngx_palloc(r->pool, size);
    if (copy) {
        ngx_memcpy(copy, e, size);
    }
    return copy;
}

/*
 * Miss, no answer: take the key's lock, or wait for its owner. NGX_DECLINED:
 * run the action; NGX_AGAIN: look again later.
 */
static ngx_int_t
ngx_http_ow_cache_lock_locked(ngx_http_ow_cache_zone_t *z,
    ngx_http_ow_cache_ctx_t *ctx, int64_t now)
{
    ngx_http_ow_cache_entry_t  *l;

    if (ctx->no_lock) {
        return NGX_DECLINED;
    }

    l = ngx_http_ow_cache_find_locked(z, ctx->lock);
    if (l && l->fresh_until > now) {
        if (l->kind == NGX_HTTP_OW_CACHE_PASS) {
            return NGX_DECLINED;
        }
        return NGX_AGAIN;
    }
    if (l) {
        ngx_http_ow_cache_delete_locked(z, l);
    }

    l = ngx_http_ow_cache_alloc_locked(z,
            offsetof(ngx_http_ow_cache_entry_t, data), now);
    if (l == NULL) {
        return NGX_DECLINED;
    }
    ngx_memzero(l, offsetof(ngx_http_ow_cache_entry_t, data));
    ngx_memcpy(l->digest, ctx->lock, NGX_HTTP_OW_CACHE_DIGEST);
    l->node.key = ngx_http_ow_cache_key(ctx->lock);
    l->kind = NGX_HTTP_OW_CACHE_LOCK;
    l->fresh_until = now + NGX_HTTP_OW_CACHE_LOCK_MS;
    l->owner = ctx->owner;
    l->size = offsetof(ngx_http_ow_cache_entry_t, data);
    ngx_rbtree_insert(&z->sh->entries, &l->node);
    ngx_queue_insert_head(&z->sh->lru, &l->queue);
    z->sh->count++;
    z->sh->bytes += l->size;
    ctx->locked = 1;
    return NGX_DECLINED;
}

/* the owner is done: the lock goes; a pass if nothing was stored */
void
ngx_http_ow_cache_unlock(ngx_http_ow_cache_zone_t *z,
    ngx_http_ow_cache_ctx_t *ctx)
{
    ngx_http_ow_cache_entry_t  *l;

    if (!ctx->locked) {
        return;
    }
    ctx->locked = 0;

    ngx_shmtx_lock(&z->shpool->mutex);
    l = ngx_http_ow_cache_find_locked(z, ctx->lock);
    if (l && l->kind == NGX_HTTP_OW_CACHE_LOCK && l->owner == ctx->owner) {
        if (ctx->stored) {
            ngx_http_ow_cache_delete_locked(z, l);
        } else {
            l->kind = NGX_HTTP_OW_CACHE_PASS;
            l->fresh_until = ngx_http_ow_cache_now()
                             + NGX_HTTP_OW_CACHE_PASS_MS;
        }
    }
    ngx_shmtx_unlock(&z->shpool->mutex);
}

/*
 * The lookup: NGX_DECLINED for a miss (ow_invoke goes on), NGX_AGAIN to
 * wait for another request running the action, or what sending the hit
 * returned.
 */
ngx_int_t
ngx_http_ow_cache_lookup(ngx_http_request_t *r, ngx_http_ow_cache_ctx_t *ctx,
    ngx_http_ow_cache_zone_t *z)
{
    ngx_http_ow_cache_entry_t  *e, *copy;
    u_char                      vd[NGX_HTTP_OW_CACHE_DIGEST];
    u_char                      ad[NGX_HTTP_OW_CACHE_DIGEST];
    u_char                      spec[OW_CACHE_SPEC_MAX + 1];
    size_t                      spec_len;
    ngx_uint_t                  priv;
    int64_t                     now;
    ngx_int_t                   rc;

    ctx->miss = 1;
    now = ngx_http_ow_cache_now();
    ngx_http_ow_cache_variant_digest(ctx, vd);

    ngx_shmtx_lock(&z->shpool->mutex);
    e = ngx_http_ow_cache_get_locked(z, vd, now);
    if (e == NULL || e->body_len > OW_CACHE_SPEC_MAX) {
        /* no answer of it known: no lock either (it may never cache) */
        z->sh->misses++;
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_DECLINED;
    }
    spec_len = e->body_len;
    ngx_memcpy(spec, e->data + e->head_len, spec_len);
    priv = e->is_private;
    ngx_shmtx_unlock(&z->shpool->mutex);

    rc = ngx_http_ow_cache_answer_digest(r, ctx, spec, spec_len, priv, ad);
    if (rc != NGX_OK) {
        return rc == NGX_DECLINED ? NGX_DECLINED : NGX_ERROR;
    }
    ngx_http_ow_cache_lock_digest(ad, ctx->lock);

    ngx_shmtx_lock(&z->shpool->mutex);
    e = ngx_http_ow_cache_get_locked(z, ad, now);
    if (ctx->revalidate) {
        /* the client asked for the action's answer: a miss that stores */
        e = NULL;
    }

    if (e && e->fresh_until <= now) {
        if (e->stale_until > now) {
            /*
             * stale-while-revalidate: one request runs the action (the
             * lock's owner, this one if it takes it), the others are
             * answered the stale entry meanwhile
             */
            rc = ngx_http_ow_cache_lock_locked(z, ctx, now);
            if (rc == NGX_AGAIN || !ctx->locked) {
                goto hit;
            }
        }
        if (e->error_until > now) {
            /* kept for stale-if-error, should the action fail */
            ctx->stale = ngx_http_ow_cache_copy_locked(r, e);
        }
        e = NULL;
    }

    if (e == NULL) {
        if (!ctx->waiting) {
            /* one miss per request, however long it waits */
            z->sh->misses++;
        }
        rc = ctx->locked ? NGX_DECLINED
                         : ngx_http_ow_cache_lock_locked(z, ctx, now);
        ngx_shmtx_unlock(&z->shpool->mutex);
        return rc;
    }

hit:

    /* out of the zone before anything is sent: the lock is not held long */
    copy = ngx_http_ow_cache_copy_locked(r, e);
    if (copy == NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_ERROR;
    }
    z->sh->hits++;
    if (copy->fresh_until <= now) {
        z->sh->stale++;
    }
    ngx_shmtx_unlock(&z->shpool->mutex);

    ctx->miss = 0;
    if (!ctx->web) {
        /*
         * An activation (a web hit is not: it has no record): it counts
         * against invocationsPerMinute, but takes no concurrency slot.
         * The cache looks up before ow_limit's handler runs (a miss is
         * admitted there, as any invocation).
         */
        rc = ngx_http_ow_limit_hit(r);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }
    return ngx_http_ow_cache_send_hit(r, ctx, copy);
}
