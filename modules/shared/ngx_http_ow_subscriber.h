/*
 * ngx_http_ow_subscriber.h: a worker's subscription to one Redis channel,
 * on a connection of its own (ngx_http_ow_redis_open: SUBSCRIBE takes the
 * connection). Lost, it is opened again after the Redis connection's
 * backoff (ow_redis_backoff_max); every (re)subscription tells the module,
 * since what was published meanwhile is unknown. Every gateway module that
 * listens to events subscribes through one of these.
 */

#ifndef NGX_HTTP_OW_SUBSCRIBER_H
#define NGX_HTTP_OW_SUBSCRIBER_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

typedef struct {
    /* the module's: a static, zeroed but for these */
    const char          *channel;
    const char          *name;        /* in log lines: "ow router" */
    /* subscribed, first or again: what was published meanwhile is lost */
    void               (*subscribed)(void);
    /* a message; data is NUL-terminated */
    void               (*message)(const char *data, size_t len);
    /* the subscription is lost (not by ngx_http_ow_sub_stop); or NULL */
    void               (*lost)(void);

    /* the subscriber's */
    redisAsyncContext   *ac;
    ngx_event_t          retry;
    ngx_msec_t           backoff;
} ngx_http_ow_sub_t;

/* in init_process: subscribe now, and again whenever lost */
void ngx_http_ow_sub_start(ngx_http_ow_sub_t *sub, ngx_log_t *log);

/* in exit_process */
void ngx_http_ow_sub_stop(ngx_http_ow_sub_t *sub);

#endif /* NGX_HTTP_OW_SUBSCRIBER_H */
