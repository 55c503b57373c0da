/*
 * ngx_http_ow_auth_module.c: OpenWhisk Basic authentication.
 *
 * The access phase checks "Authorization: Basic uuid:key" against a verdict
 * cache in shared memory (one copy for all workers, survives reloads,
 * bounded by the zone size, least recently used verdicts evicted first).
 * On a miss it asks an auth location by subrequest, as auth_request does;
 * the location answers 200 with X-OW-Subject and X-OW-Namespace, or 401.
 * The default location is "ow_auth_redis", which checks the key's salted
 * SHA-256 in Redis in constant time; an external service behind proxy_pass
 * works the same way. The cache holds SHA-256 digests of the header, never
 * the key itself.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "ow_secrets.h"
#include "ngx_http_ow_http.h"
#include "ngx_http_ow_auth.h"
#include "ngx_http_ow_trust.h"
#include "ngx_http_ow_metrics.h"
#include "ngx_http_ow_redis.h"
#include "ngx_http_ow_shm.h"

#define NGX_HTTP_OW_AUTH_MSG_MISSING                                          \
    "The resource requires authentication, which was not supplied with the " \
    "request"
#define NGX_HTTP_OW_AUTH_MSG_INVALID  "The supplied authentication is invalid"
#define NGX_HTTP_OW_AUTH_NAME_MAX     256

typedef struct {
    ngx_rbtree_t                  rbtree;
    ngx_rbtree_node_t             sentinel;
    ngx_queue_t                   lru;
    ngx_atomic_t                  hits;
    ngx_atomic_t                  misses;
} ngx_http_ow_auth_shctx_t;

typedef struct {
    ngx_http_ow_auth_shctx_t     *sh;
    ngx_slab_pool_t              *shpool;
    ngx_msec_t                    valid;
    ngx_msec_t                    invalid;
} ngx_http_ow_auth_zone_t;

typedef struct {
    ngx_rbtree_node_t             node;      /* key: first bytes of digest */
    ngx_queue_t                   queue;
    u_char                        digest[SHA256_DIGEST_LENGTH];
    ngx_msec_t                    expire;
    u_short                       status;    /* 200 or 401 */
    u_short                       subject_len;
    u_short                       ns_len;
    u_char                        data[1];   /* subject, then namespace */
} ngx_http_ow_auth_node_t;

typedef struct {
    ngx_str_t                     uri;       /* "" = off */
    ngx_shm_zone_t               *zone;
    /* no or bad credentials: go on without an identity (web actions) */
    ngx_flag_t                    optional;
} ngx_http_ow_auth_loc_conf_t;

typedef struct {
    ngx_uint_t                    done;
    ngx_uint_t                    status;
    ngx_str_t                     subject;
    ngx_str_t                     ns;
    u_char                        digest[SHA256_DIGEST_LENGTH];
    ngx_http_request_t           *subrequest;
    ngx_http_ow_redis_op_t       *redis;     /* ow_auth_redis only */
} ngx_http_ow_auth_ctx_t;

static ngx_int_t ngx_http_ow_auth_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ow_auth_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_ow_auth_add_variables(ngx_conf_t *cf);
static void *ngx_http_ow_auth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ow_auth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ow_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ow_auth_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ow_auth_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static ngx_command_t  ngx_http_ow_auth_commands[] = {

    { ngx_string("ow_auth_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_ow_auth_zone,
      0,
      0,
      NULL },

    { ngx_string("ow_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_ow_auth,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ow_auth_redis"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ow_auth_redis,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};

static ngx_http_module_t  ngx_http_ow_auth_module_ctx = {
    ngx_http_ow_auth_add_variables,        /* preconfiguration */
    ngx_http_ow_auth_init,                 /* postconfiguration */
    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_ow_auth_create_loc_conf,      /* create location configuration */
    ngx_http_ow_auth_merge_loc_conf        /* merge location configuration */
};

ngx_module_t  ngx_http_ow_auth_module = {
    NGX_MODULE_V1,
    &ngx_http_ow_auth_module_ctx,          /* module context */
    ngx_http_ow_auth_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};

/* ---- credentials ---- */

/*
 * "Basic base64(uuid:key)" -> uuid and key. The key must be 64 characters
 * (openwhisk-api.md §1), neither may hold a control character
 * (ow_basic_split); anything else is invalid.
 */
ngx_int_t
ngx_http_ow_auth_parse(ngx_http_request_t *r, ngx_str_t *uuid, ngx_str_t *key)
{
    ngx_str_t    enc, dec;
    const char  *k;

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    enc = r->headers_in.authorization->value;
    if (enc.len < 6 || ngx_strncasecmp(enc.data, (u_char *) "Basic ", 6) != 0)
    {
        return NGX_ERROR;
    }
    enc.data += 6;
    enc.len -= 6;
    while (enc.len && enc.data[0] == ' ') {
        enc.data++;
        enc.len--;
    }

    if (enc.len == 0 || enc.len > 1024) {
        return NGX_ERROR;
    }

    dec.data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(enc.len));
    if (dec.data == NULL || ngx_decode_base64(&dec, &enc) != NGX_OK) {
        return NGX_ERROR;
    }

    /* control characters too: a NUL would cut the uuid short later */
    if (ow_basic_split((char *) dec.data, dec.len, &uuid->len, &k,
                       &key->len)
        != 0)
    {
        return NGX_ERROR;
    }

    uuid->data = dec.data;
    key->data = (u_char *) k;
    return NGX_OK;
}

static ngx_int_t
ngx_http_ow_auth_reject(ngx_http_request_t *r, const char *msg)
{
    ngx_table_elt_t  *h;
    ngx_int_t         rc;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    ngx_str_set(&h->value, "Basic realm=\"OpenWhisk secure realm\"");

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    ngx_http_ow_metrics_auth_rejected();
    rc = ngx_http_ow_send_error(r, NGX_HTTP_UNAUTHORIZED, msg);
    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}

static ngx_int_t
ngx_http_ow_auth_unavailable(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }
    rc = ngx_http_ow_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "The authentication service is currently "
                                "unavailable. Please try again later.");
    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}

/* ---- verdict cache ---- */

static ngx_http_ow_auth_node_t *
ngx_http_ow_auth_lookup(ngx_http_ow_auth_zone_t *z, u_char *digest)
{
    ngx_rbtree_node_t        *node, *sentinel;
    ngx_http_ow_auth_node_t  *an;
    uint32_t                  hash;
    ngx_int_t                 rc;

    ngx_memcpy(&hash, digest, sizeof(hash));
    node = z->sh->rbtree.root;
    sentinel = z->sh->rbtree.sentinel;

    while (node != sentinel) {
        if (hash < node->key) {
            node = node->left;
            continue;
        }
        if (hash > node->key) {
            node = node->right;
            continue;
        }
        an = (ngx_http_ow_auth_node_t *) node;
        rc = ngx_memcmp(digest, an->digest, SHA256_DIGEST_LENGTH);
        if (rc == 0) {
            return an;
        }
        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}

static void
ngx_http_ow_auth_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {
        if (node->key < temp->key) {
            p = &temp->left;
        } else if (node->key > temp->key) {
            p = &temp->right;
        } else {
            p = (ngx_memcmp(((ngx_http_ow_auth_node_t *) node)->digest,
                            ((ngx_http_ow_auth_node_t *) temp)->digest,
                            SHA256_DIGEST_LENGTH) < 0)
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

static void
ngx_http_ow_auth_evict(ngx_http_ow_auth_zone_t *z, ngx_http_ow_auth_node_t *an)
{
    ngx_queue_remove(&an->queue);
    ngx_rbtree_delete(&z->sh->rbtree, &an->node);
    ngx_slab_free_locked(z->shpool, an);
}

/* cache hit: copy the identity into ctx; 0 on a miss */
static ngx_uint_t
ngx_http_ow_auth_cached(ngx_http_request_t *r, ngx_http_ow_auth_zone_t *z,
    ngx_http_ow_auth_ctx_t *ctx)
{
    ngx_http_ow_auth_node_t  *an;
    ngx_uint_t                status;

    status = 0;
    ngx_shmtx_lock(&z->shpool->mutex);

    an = ngx_http_ow_auth_lookup(z, ctx->digest);
    if (an && (ngx_msec_int_t) (an->expire - ngx_current_msec) <= 0) {
        ngx_http_ow_auth_evict(z, an);
        an = NULL;
    }

    if (an) {
        ctx->subject.data = ngx_pnalloc(r->pool, an->subject_len + 1);
        ctx->ns.data = ngx_pnalloc(r->pool, an->ns_len + 1);
        if (ctx->subject.data && ctx->ns.data) {
            ngx_memcpy(ctx->subject.data, an->data, an->subject_len);
            ctx->subject.len = an->subject_len;
            ctx->subject.data[ctx->subject.len] = '\0';
            ngx_memcpy(ctx->ns.data, an->data + an->subject_len, an->ns_len);
            ctx->ns.len = an->ns_len;
            ctx->ns.data[ctx->ns.len] = '\0';
            status = an->status;
            ngx_queue_remove(&an->queue);
            ngx_queue_insert_head(&z->sh->lru, &an->queue);
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    (void) ngx_atomic_fetch_add(status ? &z->sh->hits : &z->sh->misses, 1);
    return status;
}

static void
ngx_http_ow_auth_store(ngx_http_ow_auth_zone_t *z, ngx_http_ow_auth_ctx_t *ctx)
{
    ngx_http_ow_auth_node_t  *an;
    ngx_queue_t              *q;
    size_t                    size;
    ngx_uint_t                i;

    size = offsetof(ngx_http_ow_auth_node_t, data) + ctx->subject.len
           + ctx->ns.len;

    ngx_shmtx_lock(&z->shpool->mutex);

    an = ngx_http_ow_auth_lookup(z, ctx->digest);
    if (an) {
        ngx_http_ow_auth_evict(z, an);
    }

    an = ngx_slab_alloc_locked(z->shpool, size);

    /* full: drop least recently used verdicts, a few at a time */
    for (i = 0; an == NULL && i < 16 && !ngx_queue_empty(&z->sh->lru); i++) {
        q = ngx_queue_last(&z->sh->lru);
        ngx_http_ow_auth_evict(z,
            ngx_queue_data(q, ngx_http_ow_auth_node_t, queue));
        an = ngx_slab_alloc_locked(z->shpool, size);
    }

    if (an) {
        ngx_memcpy(an->digest, ctx->digest, SHA256_DIGEST_LENGTH);
        ngx_memcpy(&an->node.key, ctx->digest, sizeof(uint32_t));
        an->node.key = *(uint32_t *) ctx->digest;
        an->status = (u_short) ctx->status;
        an->expire = ngx_current_msec
                     + (ctx->status == NGX_HTTP_OK ? z->valid : z->invalid);
        an->subject_len = (u_short) ctx->subject.len;
        an->ns_len = (u_short) ctx->ns.len;
        /* a refused key's verdict has neither (NULL data: no memcpy) */
        if (ctx->subject.len) {
            ngx_memcpy(an->data, ctx->subject.data, ctx->subject.len);
        }
        if (ctx->ns.len) {
            ngx_memcpy(an->data + ctx->subject.len, ctx->ns.data, ctx->ns.len);
        }
        ngx_rbtree_insert(&z->sh->rbtree, &an->node);
        ngx_queue_insert_head(&z->sh->lru, &an->queue);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}

/* ---- access phase ---- */

static ngx_int_t
ngx_http_ow_auth_verdict(ngx_http_request_t *r, ngx_http_ow_auth_ctx_t *ctx)
{
    ngx_http_ow_auth_loc_conf_t  *alcf;

    if (ctx->status == NGX_HTTP_OK) {
        return NGX_OK;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_auth_module);
    if (alcf->optional) {
        /* anonymous: ngx_http_ow_auth_identity() finds no identity */
        return NGX_OK;
    }
    if (ctx->status == NGX_HTTP_UNAUTHORIZED
        || ctx->status == NGX_HTTP_FORBIDDEN)
    {
        return ngx_http_ow_auth_reject(r, NGX_HTTP_OW_AUTH_MSG_INVALID);
    }
    return ngx_http_ow_auth_unavailable(r);
}

static ngx_int_t
ngx_http_ow_auth_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_ow_auth_ctx_t       *ctx = data;
    ngx_http_ow_auth_loc_conf_t  *alcf;
    ngx_table_elt_t              *sh, *nh;
    ngx_str_t                    *subject, *ns;

    ctx->done = 1;
    ctx->status = sr->headers_out.status;

    if (ctx->status == NGX_HTTP_OK) {
        sh = ngx_http_ow_header_find(&sr->headers_out.headers,
                                     "X-OW-Subject");
        nh = ngx_http_ow_header_find(&sr->headers_out.headers,
                                     "X-OW-Namespace");
        subject = sh ? &sh->value : NULL;
        ns = nh ? &nh->value : NULL;

        if (subject == NULL || ns == NULL || subject->len == 0 || ns->len == 0
            || subject->len > NGX_HTTP_OW_AUTH_NAME_MAX
            || ns->len > NGX_HTTP_OW_AUTH_NAME_MAX)
        {
            ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                          "ow_auth: auth location answered 200 without "
                          "X-OW-Subject and X-OW-Namespace");
            ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
            return rc;
        }

        ctx->subject.data = ngx_pnalloc(sr->pool, subject->len + 1);
        ctx->ns.data = ngx_pnalloc(sr->pool, ns->len + 1);
        if (ctx->subject.data == NULL || ctx->ns.data == NULL) {
            ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return rc;
        }
        ngx_cpystrn(ctx->subject.data, subject->data, subject->len + 1);
        ctx->subject.len = subject->len;
        ngx_cpystrn(ctx->ns.data, ns->data, ns->len + 1);
        ctx->ns.len = ns->len;
    }

    /* only verdicts are cached; outages (5xx) are asked again */
    if (ctx->status == NGX_HTTP_OK || ctx->status == NGX_HTTP_UNAUTHORIZED
        || ctx->status == NGX_HTTP_FORBIDDEN)
    {
        alcf = ngx_http_get_module_loc_conf(sr->parent,
                                            ngx_http_ow_auth_module);
        if (alcf->zone) {
            ngx_http_ow_auth_store(alcf->zone->data, ctx);
        }
    }

    return rc;
}

static ngx_int_t
ngx_http_ow_auth_handler(ngx_http_request_t *r)
{
    ngx_http_ow_auth_loc_conf_t  *alcf;
    ngx_http_ow_auth_ctx_t       *ctx;
    ngx_http_post_subrequest_t   *ps;
    ngx_http_request_t           *sr;
    ngx_str_t                     uuid, key, owner;
    ngx_int_t                     rc;
    SHA256_CTX                    sha;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_auth_module);
    if (alcf->uri.len == 0) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_auth_module);
    if (ctx) {
        if (!ctx->done) {
            return NGX_AGAIN;
        }
        return ngx_http_ow_auth_verdict(r, ctx);
    }

    if (ngx_http_ow_trusted_run_as(r, &owner) == NGX_OK) {
        /*
         * A component of a web action that is a sequence or conductor
         * action: it runs as the action's owner, as the web action itself
         * does (openwhisk-api.md §7), whatever Authorization the anonymous
         * client sent. Believed on the trusted listener only.
         */
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ow_auth_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }
        ctx->ns.data = ngx_pnalloc(r->pool, owner.len + 1);
        if (ctx->ns.data == NULL) {
            return NGX_ERROR;
        }
        ngx_cpystrn(ctx->ns.data, owner.data, owner.len + 1);
        ctx->ns.len = owner.len;
        ctx->subject = ctx->ns;
        ctx->status = NGX_HTTP_OK;
        ctx->done = 1;
        ngx_http_set_ctx(r, ctx, ngx_http_ow_auth_module);
        return NGX_OK;
    }

    rc = ngx_http_ow_auth_parse(r, &uuid, &key);
    if (rc != NGX_OK && alcf->optional) {
        return NGX_OK;
    }
    if (rc == NGX_DECLINED) {
        return ngx_http_ow_auth_reject(r, NGX_HTTP_OW_AUTH_MSG_MISSING);
    }
    if (rc != NGX_OK) {
        return ngx_http_ow_auth_reject(r, NGX_HTTP_OW_AUTH_MSG_INVALID);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ow_auth_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    /*
     * Verdicts are per auth location: locations that share a zone but ask
     * different services must not see each other's answers.
     */
    SHA256_Init(&sha);
    SHA256_Update(&sha, alcf->uri.data, alcf->uri.len);
    SHA256_Update(&sha, "", 1);
    SHA256_Update(&sha, r->headers_in.authorization->value.data,
                  r->headers_in.authorization->value.len);
    SHA256_Final(ctx->digest, &sha);

    if (alcf->zone) {
        ctx->status = ngx_http_ow_auth_cached(r, alcf->zone->data, ctx);
        ngx_http_ow_metrics_auth_cache(ctx->status != 0);
        if (ctx->status) {
            ctx->done = 1;
            ngx_http_set_ctx(r, ctx, ngx_http_ow_auth_module);
            return ngx_http_ow_auth_verdict(r, ctx);
        }
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }
    ps->handler = ngx_http_ow_auth_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &alcf->uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the auth location sees headers only, never the body */
    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }
    sr->header_only = 1;

    ctx->subrequest = sr;
    ngx_http_set_ctx(r, ctx, ngx_http_ow_auth_module);
    return NGX_AGAIN;
}

ngx_int_t
ngx_http_ow_auth_identity(ngx_http_request_t *r, char **subject, char **ns)
{
    ngx_http_ow_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_ow_auth_module);
    if (ctx == NULL || !ctx->done || ctx->status != NGX_HTTP_OK) {
        return NGX_DECLINED;
    }
    *subject = (char *) ctx->subject.data;
    *ns = (char *) ctx->ns.data;
    return NGX_OK;
}

/* $ow_subject, $ow_namespace: the identity, e.g. for proxy_set_header */
static ngx_int_t
ngx_http_ow_auth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    char  *subject, *ns, *s;

    if (ngx_http_ow_auth_identity(r, &subject, &ns) != NGX_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = data ? ns : subject;
    v->data = (u_char *) s;
    v->len = ngx_strlen(s);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    return NGX_OK;
}

static ngx_int_t
ngx_http_ow_auth_add_variables(ngx_conf_t *cf)
{
    static ngx_str_t      names[] = {
        ngx_string("ow_subject"), ngx_string("ow_namespace")
    };
    ngx_http_variable_t  *var;
    ngx_uint_t            i;

    for (i = 0; i < 2; i++) {
        var = ngx_http_add_variable(cf, &names[i], NGX_HTTP_VAR_NOCACHEABLE);
        if (var == NULL) {
            return NGX_ERROR;
        }
        var->get_handler = ngx_http_ow_auth_variable;
        var->data = i;
    }
    return NGX_OK;
}

/* ---- configuration ---- */

static ngx_int_t
ngx_http_ow_auth_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ow_auth_zone_t  *ozone = data;
    ngx_http_ow_auth_zone_t  *z = shm_zone->data;
    ngx_int_t                 rc;
    void                     *sh;

    if (ozone) {
        /* reload: keep the verdicts */
        z->sh = ozone->sh;
        z->shpool = ozone->shpool;
        return NGX_OK;
    }

    rc = ngx_http_ow_shm_init(shm_zone, sizeof(ngx_http_ow_auth_shctx_t),
                              "ow_auth_zone", &sh, &z->shpool);
    z->sh = sh;
    if (rc != NGX_OK) {
        return rc == NGX_DECLINED ? NGX_OK : NGX_ERROR;
    }

    ngx_rbtree_init(&z->sh->rbtree, &z->sh->sentinel,
                    ngx_http_ow_auth_rbtree_insert);
    ngx_queue_init(&z->sh->lru);
    return NGX_OK;
}

/* ow_auth_zone name size [valid=time] [invalid=time] */
static char *
ngx_http_ow_auth_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                *value, s;
    ngx_http_ow_auth_zone_t  *z;
    ngx_shm_zone_t           *shm_zone;
    ngx_msec_t                valid, invalid, t;
    ngx_uint_t                i;

    value = cf->args->elts;

    valid = 60000;
    invalid = 5000;

    for (i = 3; i < cf->args->nelts; i++) {
        if (ngx_strncmp(value[i].data, "valid=", 6) == 0
            || ngx_strncmp(value[i].data, "invalid=", 8) == 0)
        {
            s.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            s.len = value[i].data + value[i].len - s.data;
            t = ngx_parse_time(&s, 0);
            if (t == (ngx_msec_t) NGX_ERROR) {
                return "has an invalid time";
            }
            if (value[i].data[0] == 'v') {
                valid = t;
            } else {
                invalid = t;
            }
            continue;
        }
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_auth_zone_t));
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }
    z->valid = valid;
    z->invalid = invalid;

    shm_zone = ngx_http_ow_shm_zone(cf, cmd, 8 * ngx_pagesize,
                                    &ngx_http_ow_auth_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_ow_auth_init_zone;
    shm_zone->data = z;
    return NGX_CONF_OK;
}

/* ow_auth uri [zone=name] | off */
static char *
ngx_http_ow_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ow_auth_loc_conf_t  *alcf = conf;
    ngx_str_t                    *value, name;
    ngx_uint_t                    i;

    if (alcf->uri.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        ngx_str_set(&alcf->uri, "");
        return NGX_CONF_OK;
    }

    alcf->uri = value[1];
    alcf->zone = NULL;      /* no zone= here: no cache, not the parent's */
    alcf->optional = 0;

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_strcmp(value[i].data, "optional") == 0) {
            alcf->optional = 1;
            continue;
        }
        if (ngx_strncmp(value[i].data, "zone=", 5) != 0 || alcf->zone) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
        name.data = value[i].data + 5;
        name.len = value[i].len - 5;
        alcf->zone = ngx_shared_memory_add(cf, &name, 0,
                                           &ngx_http_ow_auth_module);
        if (alcf->zone == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}

static char *
ngx_http_ow_auth_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ow_auth_redis_handler;
    return NGX_CONF_OK;
}

static void *
ngx_http_ow_auth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ow_auth_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_auth_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     alcf->uri = { 0, NULL };
     *     alcf->zone = NULL;
     */

    alcf->zone = NGX_CONF_UNSET_PTR;
    return alcf;
}

static char *
ngx_http_ow_auth_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ow_auth_loc_conf_t  *prev = parent;
    ngx_http_ow_auth_loc_conf_t  *conf = child;

    if (conf->uri.data == NULL) {
        conf->uri = prev->uri;
        conf->optional = prev->optional;
        if (conf->zone == NGX_CONF_UNSET_PTR) {
            conf->zone = prev->zone;
        }
    }
    ngx_conf_merge_ptr_value(conf->zone, prev->zone, NULL);
    ngx_conf_merge_str_value(conf->uri, prev->uri, "");
    return NGX_CONF_OK;
}

static ngx_int_t
ngx_http_ow_auth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_http_ow_auth_handler;
    return NGX_OK;
}
