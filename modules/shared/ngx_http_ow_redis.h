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

/* the wait after another failure, having waited "backoff" ms after the
 * last (0: none): doubled, from 100 ms up to ow_redis_backoff_max */
ngx_msec_t ngx_http_ow_redis_backoff_next(ngx_msec_t backoff);

/* 1 for "not now": no reply (disconnect, timeout) or LOADING, BUSY, ... */
ngx_int_t ngx_http_ow_redis_transient(redisReply *reply);

/* the handler will not be called; safe after it was */
void ngx_http_ow_redis_cancel(ngx_http_ow_redis_op_t *op);

extern ngx_module_t  ngx_http_ow_redis_module;

#endif /* NGX_HTTP_OW_REDIS_H */
