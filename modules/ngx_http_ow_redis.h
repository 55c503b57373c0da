/*
 * ngx_http_ow_redis.h: one asynchronous Redis connection per worker, shared
 * by every request of that worker (hiredis pipelines and answers in order).
 */

#ifndef NGX_HTTP_OW_REDIS_H
#define NGX_HTTP_OW_REDIS_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

typedef void (*ngx_http_ow_redis_pt)(void *data, redisReply *reply);

typedef struct ngx_http_ow_redis_op_s  ngx_http_ow_redis_op_t;

/*
 * Send a RESP-formatted command. The handler runs exactly once: with the
 * reply, or with NULL on timeout or disconnect. Returns NULL (and never
 * calls the handler) when Redis is unreachable right now.
 */
ngx_http_ow_redis_op_t *ngx_http_ow_redis_send(ngx_http_request_t *r,
    const char *cmd, size_t len, ngx_http_ow_redis_pt handler, void *data);

/* the same, for worker-level work without a request */
ngx_http_ow_redis_op_t *ngx_http_ow_redis_command(const char *cmd,
    size_t len, ngx_http_ow_redis_pt handler, void *data);

/*
 * A new asynchronous connection to the configured Redis, on the worker's
 * event loop (for SUBSCRIBE, which takes a connection for itself). NULL
 * when it cannot even start; the callbacks report the rest.
 */
redisAsyncContext *ngx_http_ow_redis_open(redisConnectCallback *on_connect,
    redisDisconnectCallback *on_disconnect);

/*
 * A write that must land (an activation record the gateway writes): the
 * command is copied and retried, one at a time and in order, after the
 * connection's backoff, until Redis stores it or refuses it for good. At
 * most ow_redis_owed_max bytes per worker; past it the write is dropped
 * and logged. A worker keeps retrying while it exits gracefully.
 */
void ngx_http_ow_redis_owe(const char *cmd, size_t len);

/*
 * Another of the worker's connections (a subscriber) has just reached Redis:
 * the command connection, if it is waiting out its backoff, may try at once,
 * so requests stop failing as soon as Redis is back rather than up to
 * ow_redis_backoff_max later.
 */
void ngx_http_ow_redis_reachable(void);

/* 1 for "not now": no reply (disconnect, timeout) or LOADING, BUSY, ... */
ngx_int_t ngx_http_ow_redis_transient(redisReply *reply);

/* the handler will not be called; safe after it was */
void ngx_http_ow_redis_cancel(ngx_http_ow_redis_op_t *op);

/* send a JSON/text response and finalize-ready rc */
ngx_int_t ngx_http_ow_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *content_type, const char *body, size_t len);

/* adds "name: data" to the response headers (data is not copied: it must
 * live as long as the request) */
ngx_int_t ngx_http_ow_header_out(ngx_http_request_t *r, const char *name,
    u_char *data, size_t len);

/* the read request body in one piece, from r->pool (a part in a temporary
 * file is read in); *len 0 when there is none */
ngx_int_t ngx_http_ow_read_body(ngx_http_request_t *r, u_char **data,
    size_t *len);

/*
 * A secret file (path relative to the configuration prefix), read whole at
 * configuration time into cf->pool, at most OW_SECRET_FILE_MAX bytes; the
 * copy is wiped when the configuration goes. Logs the path, never a byte
 * of the text.
 */
ngx_int_t ngx_http_ow_read_secret(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *text);

/*
 * The token file of the directive being parsed (ow_internal_token_file,
 * ow_metrics_token_file): ngx_http_ow_read_secret(), then one line of
 * visible ASCII (ow_secret_token), else an [emerg] naming the file.
 */
ngx_int_t ngx_http_ow_read_token(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *token);

/* {"error": msg, "code": $request_id} */
ngx_int_t ngx_http_ow_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *msg);

extern ngx_module_t  ngx_http_ow_redis_module;

#endif /* NGX_HTTP_OW_REDIS_H */
