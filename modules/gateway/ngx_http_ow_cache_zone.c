/*
 * ngx_http_ow_cache_zone.c: the response cache's zone: entries, epochs,
 * eviction (all under its lock), and the keys
 * (ngx_http_ow_cache_internal.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ow_cache_internal.h"

/* this worker's view of the zone (set at process init) */
ngx_http_ow_cache_zone_t  *ngx_http_ow_cache_table;

static const ngx_http_ow_shm_name_t  ngx_http_ow_cache_epoch_name = {
    offsetof(ngx_http_ow_cache_epoch_t, name),
    offsetof(ngx_http_ow_cache_epoch_t, len)
};

/* ---- the zone: entries, epochs, eviction (all under its lock) ---- */

void
ngx_http_ow_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {
        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;
        } else {
            p = (ngx_memcmp(((ngx_http_ow_cache_entry_t *) node)->digest,
                            ((ngx_http_ow_cache_entry_t *) temp)->digest,
                            NGX_HTTP_OW_CACHE_DIGEST) < 0)
                ? &temp->left : &temp->right;
        }
        if (*p == sentinel) {
            break;
        }
        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}

void
ngx_http_ow_cache_epoch_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_http_ow_shm_insert(temp, node, sentinel,
                           &ngx_http_ow_cache_epoch_name);
}

ngx_rbtree_key_t
ngx_http_ow_cache_key(u_char *digest)
{
    ngx_rbtree_key_t  k;

    ngx_memcpy(&k, digest, sizeof(k));
    return k;
}

ngx_http_ow_cache_entry_t *
ngx_http_ow_cache_find_locked(ngx_http_ow_cache_zone_t *z, u_char *digest)
{
    ngx_rbtree_node_t  *node, *sentinel;
    ngx_rbtree_key_t    key;
    ngx_int_t           rc;

    key = ngx_http_ow_cache_key(digest);
    node = z->sh->entries.root;
    sentinel = z->sh->entries.sentinel;

    while (node != sentinel) {
        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }
        rc = ngx_memcmp(digest, ((ngx_http_ow_cache_entry_t *) node)->digest,
                        NGX_HTTP_OW_CACHE_DIGEST);
        if (rc == 0) {
            return (ngx_http_ow_cache_entry_t *) node;
        }
        node = (rc < 0) ? node->left : node->right;
    }
    return NULL;
}

void
ngx_http_ow_cache_delete_locked(ngx_http_ow_cache_zone_t *z,
    ngx_http_ow_cache_entry_t *e)
{
    ngx_rbtree_delete(&z->sh->entries, &e->node);
    ngx_queue_remove(&e->queue);
    z->sh->count--;
    z->sh->bytes -= e->size;
    ngx_slab_free_locked(z->shpool, e);
}

/* the entry, fresh; an expired one is dropped on the way */
ngx_http_ow_cache_entry_t *
ngx_http_ow_cache_get_locked(ngx_http_ow_cache_zone_t *z, u_char *digest,
    int64_t now)
{
    ngx_http_ow_cache_entry_t  *e;

    e = ngx_http_ow_cache_find_locked(z, digest);
    if (e == NULL) {
        return NULL;
    }
    if (e->fresh_until <= now && e->stale_until <= now
        && e->error_until <= now)
    {
        ngx_http_ow_cache_delete_locked(z, e);
        return NULL;
    }
    ngx_queue_remove(&e->queue);
    ngx_queue_insert_head(&z->sh->lru, &e->queue);
    return e;
}

/* room for size bytes: evicting the least recently used if need be */
ngx_http_ow_cache_entry_t *
ngx_http_ow_cache_alloc_locked(ngx_http_ow_cache_zone_t *z, size_t size,
    int64_t now)
{
    ngx_http_ow_cache_entry_t  *e;
    ngx_queue_t                *q;
    ngx_uint_t                  i;

    /* two expired ones go first, whatever: the LRU's tail is usually old */
    for (i = 0; i < 2 && !ngx_queue_empty(&z->sh->lru); i++) {
        q = ngx_queue_last(&z->sh->lru);
        e = ngx_queue_data(q, ngx_http_ow_cache_entry_t, queue);
        if (e->fresh_until > now || e->stale_until > now
            || e->error_until > now)
        {
            break;
        }
        ngx_http_ow_cache_delete_locked(z, e);
    }

    for (i = 0; i < NGX_HTTP_OW_CACHE_EVICT; i++) {
        e = ngx_slab_alloc_locked(z->shpool, size);
        if (e) {
            return e;
        }
        if (ngx_queue_empty(&z->sh->lru)) {
            return NULL;
        }
        q = ngx_queue_last(&z->sh->lru);
        ngx_http_ow_cache_delete_locked(z,
            ngx_queue_data(q, ngx_http_ow_cache_entry_t, queue));
        z->sh->evictions++;
    }
    return NULL;
}

void
ngx_http_ow_cache_put(ngx_http_ow_cache_zone_t *z, u_char *digest,
    ngx_uint_t kind, ngx_uint_t status, ow_cache_policy_t *policy,
    int64_t fresh_until, ngx_uint_t priv, ngx_str_t *head, u_char *body,
    size_t body_len)
{
    ngx_http_ow_cache_entry_t  *e;
    size_t                      size;
    int64_t                     now = ngx_http_ow_cache_now();

    size = offsetof(ngx_http_ow_cache_entry_t, data) + head->len + body_len;

    ngx_shmtx_lock(&z->shpool->mutex);

    e = ngx_http_ow_cache_find_locked(z, digest);
    if (e) {
        ngx_http_ow_cache_delete_locked(z, e);
    }

    e = ngx_http_ow_cache_alloc_locked(z, size, now);
    if (e == NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return;
    }

    ngx_memcpy(e->digest, digest, NGX_HTTP_OW_CACHE_DIGEST);
    e->node.key = ngx_http_ow_cache_key(digest);
    e->kind = (u_char) kind;
    e->is_private = (u_char) priv;
    e->status = (u_short) status;
    e->stored = now;
    e->fresh_until = fresh_until;
    e->stale_until = fresh_until
                     + (policy ? policy->stale_while_revalidate * 1000 : 0);
    e->error_until = fresh_until
                     + (policy ? policy->stale_if_error * 1000 : 0);
    e->owner = 0;
    e->size = size;
    e->head_len = head->len;
    e->body_len = body_len;
    ngx_memcpy(e->data, head->data, head->len);
    ngx_memcpy(e->data + head->len, body, body_len);

    ngx_rbtree_insert(&z->sh->entries, &e->node);
    ngx_queue_insert_head(&z->sh->lru, &e->queue);
    z->sh->count++;
    z->sh->bytes += size;
    if (kind == NGX_HTTP_OW_CACHE_ANSWER || kind == NGX_HTTP_OW_CACHE_RECORD)
    {
        z->sh->stores++;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}

static uint64_t
ngx_http_ow_cache_epoch_locked(ngx_http_ow_cache_zone_t *z, u_char *name,
    size_t len, int64_t *changed)
{
    ngx_http_ow_cache_epoch_t  *ep;

    ep = (ngx_http_ow_cache_epoch_t *) ngx_http_ow_shm_find(&z->sh->epochs,
             &ngx_http_ow_cache_epoch_name, name, len);
    if (ep == NULL) {
        return 0;
    }
    if (ep->changed > *changed) {
        *changed = ep->changed;
    }
    return ep->epoch;
}

void
ngx_http_ow_cache_forget(u_char *name, size_t len)
{
    ngx_http_ow_cache_zone_t   *z = ngx_http_ow_cache_table;
    ngx_http_ow_cache_epoch_t  *ep;

    if (z == NULL) {
        return;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    if (len == 0 || len > 0xffff) {
        z->sh->all = ++z->sh->generation;
        z->sh->all_changed = ngx_http_ow_cache_now();
        ngx_shmtx_unlock(&z->shpool->mutex);
        return;
    }

    ep = (ngx_http_ow_cache_epoch_t *) ngx_http_ow_shm_find(&z->sh->epochs,
             &ngx_http_ow_cache_epoch_name, name, len);
    if (ep == NULL) {
        /*
         * An epoch is a few dozen bytes per action ever changed; it is
         * never evicted (an entry matched again after its epoch went
         * would be a stale answer). No room: every answer goes instead.
         */
        ep = ngx_slab_alloc_locked(z->shpool,
                 offsetof(ngx_http_ow_cache_epoch_t, name) + len);
        if (ep == NULL) {
            z->sh->all = ++z->sh->generation;
            z->sh->all_changed = ngx_http_ow_cache_now();
            ngx_shmtx_unlock(&z->shpool->mutex);
            return;
        }
        ep->node.key = ngx_crc32_short(name, len);
        ep->len = (u_short) len;
        ngx_memcpy(ep->name, name, len);
        ngx_rbtree_insert(&z->sh->epochs, &ep->node);
    }
    ep->epoch = ++z->sh->generation;
    ep->changed = ngx_http_ow_cache_now();

    ngx_shmtx_unlock(&z->shpool->mutex);
}

/* ---- keys ---- */

/* the API input as a JSON object ("{}" when empty), or NULL */
json_t *
ngx_http_ow_cache_params(ngx_http_ow_cache_ctx_t *ctx)
{
    if (ctx->params_parsed || !ctx->input_read) {
        return ctx->params;
    }
    ctx->params_parsed = 1;

    if (ctx->input_len == 0) {
        ctx->params = json_object();
        return ctx->params;
    }

    ctx->params = json_loadb((char *) ctx->input, ctx->input_len, 0, NULL);
    if (!json_is_object(ctx->params)) {
        json_decref(ctx->params);
        ctx->params = NULL;
    }
    return ctx->params;
}

/*
 * prim: the kind, the action, the caller, the result flag and the epochs
 * of the action, its owner, the invoking namespace and the zone.
 */
void
ngx_http_ow_cache_prim(ngx_http_ow_cache_zone_t *z,
    ngx_http_ow_cache_ctx_t *ctx, u_char *invoker)
{
    SHA256_CTX   sha;
    u_char      *a, *end, *p, *owner, *entity;
    size_t       segments, owner_len, entity_len, inv_len;
    uint64_t     epochs[4];
    int64_t      changed;

    a = ctx->action.data;
    end = a + ctx->action.len;
    segments = 1;
    for (p = a; p < end; p++) {
        segments += (*p == '/');
    }

    /* "invoker/owner/pkg/name": the entity is the owner's */
    entity = a;
    if (segments == 4) {
        entity = ngx_strlchr(a, end, '/') + 1;
    }
    entity_len = end - entity;
    owner = entity;
    owner_len = ngx_strlchr(entity, end, '/') - entity;
    inv_len = ngx_strlen(invoker);

    ngx_shmtx_lock(&z->shpool->mutex);
    changed = z->sh->all_changed;
    epochs[0] = z->sh->all;
    epochs[1] = ngx_http_ow_cache_epoch_locked(z, entity, entity_len,
                                               &changed);
    epochs[2] = ngx_http_ow_cache_epoch_locked(z, owner, owner_len,
                                               &changed);
    epochs[3] = inv_len ? ngx_http_ow_cache_epoch_locked(z, invoker, inv_len,
                                                         &changed)
                        : 0;
    ngx_shmtx_unlock(&z->shpool->mutex);

    ctx->settling = (ngx_http_ow_cache_now() - changed
                     < NGX_HTTP_OW_CACHE_SETTLE);

    SHA256_Init(&sha);
    SHA256_Update(&sha, ctx->web ? "owx web" : "owx api", 8);
    SHA256_Update(&sha, ctx->result_only ? "r" : "-", 1);
    SHA256_Update(&sha, epochs, sizeof(epochs));
    SHA256_Update(&sha, a, ctx->action.len + 1);   /* with its NUL */
    SHA256_Update(&sha, invoker, inv_len + 1);
    SHA256_Final(ctx->prim, &sha);
}

void
ngx_http_ow_cache_variant_digest(ngx_http_ow_cache_ctx_t *ctx, u_char *out)
{
    SHA256_CTX  sha;

    SHA256_Init(&sha);
    SHA256_Update(&sha, ctx->prim, sizeof(ctx->prim));
    SHA256_Update(&sha, "v", 1);
    SHA256_Final(out, &sha);
}

/* the request's values of the Vary headers named in spec */
static void
ngx_http_ow_cache_vary_values(ngx_http_request_t *r, SHA256_CTX *sha,
    u_char *spec, size_t spec_len)
{
    u_char           *name, *end, *nl;
    size_t            n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_uint_t        i;

    end = spec + spec_len;
    for (name = spec; name < end; name = nl + 1) {
        nl = ngx_strlchr(name, end, '\n');
        if (nl == NULL) {
            nl = end;
        }
        n = nl - name;
        SHA256_Update(sha, "\n", 1);
        SHA256_Update(sha, name, n);

        part = &r->headers_in.headers.part;
        h = part->elts;
        for (i = 0; /* void */; i++) {
            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }
                part = part->next;
                h = part->elts;
                i = 0;
            }
            if (h[i].key.len == n
                && ngx_strncasecmp(h[i].key.data, name, n) == 0)
            {
                /* length-prefixed: two values never read as one */
                SHA256_Update(sha, &h[i].value.len, sizeof(size_t));
                SHA256_Update(sha, h[i].value.data, h[i].value.len);
            }
        }
    }
}

/*
 * The answer's digest: prim, the subject if private (or on the API path),
 * the input the spec names. NGX_DECLINED: no key for this request (an input
 * that is not a JSON object).
 */
ngx_int_t
ngx_http_ow_cache_answer_digest(ngx_http_request_t *r,
    ngx_http_ow_cache_ctx_t *ctx, u_char *spec, size_t spec_len,
    ngx_uint_t priv, u_char *out)
{
    SHA256_CTX   sha;
    char        *input, names[OW_CACHE_SPEC_MAX + 1];
    size_t       len;
    u_char      *args;

    SHA256_Init(&sha);
    SHA256_Update(&sha, ctx->prim, sizeof(ctx->prim));
    SHA256_Update(&sha, "a", 1);

    if (!ctx->web || priv) {
        if (ctx->subject.len == 0) {
            return NGX_DECLINED;
        }
        SHA256_Update(&sha, ctx->subject.data, ctx->subject.len);
    }
    SHA256_Update(&sha, "", 1);

    if (ctx->web) {
        SHA256_Update(&sha, r->uri.data, r->uri.len);
        SHA256_Update(&sha, "?", 1);
        args = ngx_pnalloc(r->pool, r->args.len + 1);
        if (args == NULL) {
            return NGX_ERROR;
        }
        len = ow_cache_sort_args((char *) r->args.data, r->args.len,
                                 (char *) args);
        SHA256_Update(&sha, args, len);
        ngx_http_ow_cache_vary_values(r, &sha, spec, spec_len);
        SHA256_Final(out, &sha);
        return NGX_OK;
    }

    if (ngx_http_ow_cache_params(ctx) == NULL
        || spec_len > OW_CACHE_SPEC_MAX)
    {
        return NGX_DECLINED;
    }
    ngx_memcpy(names, spec, spec_len);
    names[spec_len] = '\0';

    input = ow_cache_input(ctx->params, names, &len);
    if (input == NULL) {
        return NGX_DECLINED;
    }
    SHA256_Update(&sha, input, len);
    free(input);
    SHA256_Final(out, &sha);
    return NGX_OK;
}
