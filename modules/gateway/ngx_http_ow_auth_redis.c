/*
 * ngx_http_ow_auth_redis.c: ow_auth_redis, the default auth location of
 * ngx_http_ow_auth_module: it checks the key of "Authorization: Basic
 * uuid:key" against its salted SHA-256 in Redis, in constant time, and
 * answers as the auth subrequest contract says (modules/README.md).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "ow_schema.h"
#include "ngx_http_ow_auth.h"
#include "ngx_http_ow_http.h"
#include "ngx_http_ow_redis.h"

typedef struct {
    ngx_http_request_t      *request;
    ngx_http_ow_redis_op_t  *redis;
    ngx_str_t                key;
} ngx_http_ow_auth_redis_ctx_t;

static ngx_int_t
ngx_http_ow_auth_add_header(ngx_http_request_t *r, const char *name,
    redisReply *v)
{
    u_char  *data;

    /* the reply is freed before the request ends */
    data = ngx_pnalloc(r->pool, v->len);
    if (data == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(data, v->str, v->len);
    return ngx_http_ow_header_out(r, name, data, v->len);
}

static ngx_uint_t
ngx_http_ow_auth_check(ngx_http_request_t *r,
    ngx_http_ow_auth_redis_ctx_t *ctx, redisReply *reply)
{
    u_char       md[SHA256_DIGEST_LENGTH], hex[2 * SHA256_DIGEST_LENGTH];
    SHA256_CTX   sha;
    redisReply  *ns, *subject, *salt, *hash, *blocked;

    /* HMGET ns subject salt hash blocked */
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ns = reply->element[0];
    subject = reply->element[1];
    salt = reply->element[2];
    hash = reply->element[3];
    blocked = reply->element[4];

    if (ns->type != REDIS_REPLY_STRING || subject->type != REDIS_REPLY_STRING
        || salt->type != REDIS_REPLY_STRING
        || hash->type != REDIS_REPLY_STRING || hash->len != sizeof(hex))
    {
        return NGX_HTTP_UNAUTHORIZED;
    }

    SHA256_Init(&sha);
    SHA256_Update(&sha, salt->str, salt->len);
    SHA256_Update(&sha, ":", 1);
    SHA256_Update(&sha, ctx->key.data, ctx->key.len);
    SHA256_Final(md, &sha);
    ngx_hex_dump(hex, md, SHA256_DIGEST_LENGTH);

    if (CRYPTO_memcmp(hex, hash->str, sizeof(hex)) != 0) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (blocked->type == REDIS_REPLY_STRING && blocked->len == 4
        && ngx_strncmp(blocked->str, "true", 4) == 0)
    {
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (ngx_http_ow_auth_add_header(r, "X-OW-Subject", subject) != NGX_OK
        || ngx_http_ow_auth_add_header(r, "X-OW-Namespace", ns) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_HTTP_OK;
}

static void
ngx_http_ow_auth_redis_reply(void *data, redisReply *reply)
{
    ngx_http_ow_auth_redis_ctx_t  *ctx = data;
    ngx_http_request_t            *r = ctx->request;
    ngx_connection_t              *c = r->connection;
    ngx_uint_t                     status;

    ctx->redis = NULL;
    status = reply ? ngx_http_ow_auth_check(r, ctx, reply)
                   : NGX_HTTP_SERVICE_UNAVAILABLE;

    ngx_http_finalize_request(r,
        ngx_http_ow_send(r, status, "text/plain", "", 0));
    ngx_http_run_posted_requests(c);
}

static void
ngx_http_ow_auth_redis_cleanup(void *data)
{
    ngx_http_ow_auth_redis_ctx_t  *ctx = data;

    ngx_http_ow_redis_cancel(ctx->redis);
    ctx->redis = NULL;
}

ngx_int_t
ngx_http_ow_auth_redis_handler(ngx_http_request_t *r)
{
    ngx_http_ow_auth_redis_ctx_t  *ctx;
    ngx_pool_cleanup_t            *cln;
    ngx_str_t                      uuid;
    u_char                         uuidz[64 + 1];  /* ow_basic_split: <= 64 */
    char                          *cmd;
    int                            len;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ow_auth_redis_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx->request = r;

    if (ngx_http_ow_auth_parse(r, &uuid, &ctx->key) != NGX_OK) {
        return ngx_http_ow_send(r, NGX_HTTP_UNAUTHORIZED, "text/plain", "",
                                0);
    }

    ngx_cpystrn(uuidz, uuid.data, ngx_min(uuid.len, 64) + 1);

    len = redisFormatCommand(&cmd, "HMGET " OW_KEY_AUTH
                             " ns subject salt hash blocked", uuidz);
    if (len < 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        free(cmd);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    cln->handler = ngx_http_ow_auth_redis_cleanup;
    cln->data = ctx;

    ctx->redis = ngx_http_ow_redis_send(r, cmd, len,
                                        ngx_http_ow_auth_redis_reply, ctx);
    free(cmd);

    if (ctx->redis == NULL) {
        return ngx_http_ow_send(r, NGX_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                                "", 0);
    }

    r->main->count++;
    return NGX_DONE;
}
