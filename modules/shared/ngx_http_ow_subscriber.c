/*
 * ngx_http_ow_subscriber.c: one Redis channel subscription per worker and
 * module (ngx_http_ow_subscriber.h), kept up with the Redis connection's
 * backoff.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_ow_redis.h"
#include "ngx_http_ow_subscriber.h"

static void ngx_http_ow_sub_open(ngx_event_t *ev);

static void
ngx_http_ow_sub_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    ngx_http_ow_sub_t  *sub = privdata;
    redisReply         *r = reply;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3
        || r->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    if (ngx_strcmp(r->element[0]->str, "subscribe") == 0) {
        sub->backoff = 0;
        ngx_http_ow_redis_reachable();
        sub->subscribed();
        return;
    }

    if (ngx_strcmp(r->element[0]->str, "message") == 0
        && r->element[2]->type == REDIS_REPLY_STRING)
    {
        sub->message(r->element[2]->str, r->element[2]->len);
    }
}

static void
ngx_http_ow_sub_retry(ngx_http_ow_sub_t *sub)
{
    sub->backoff = ngx_http_ow_redis_backoff_next(sub->backoff);
    if (!sub->retry.timer_set) {
        ngx_add_timer(&sub->retry, sub->backoff);
    }
}

static void
ngx_http_ow_sub_lost(const redisAsyncContext *ac, int status)
{
    ngx_http_ow_sub_t  *sub = ac->data;

    if (sub == NULL || ac != sub->ac) {
        return;
    }
    sub->ac = NULL;

    if (sub->lost) {
        sub->lost();
    }

    if (ngx_terminate || ngx_exiting || ngx_quit) {
        return;
    }

    ngx_http_ow_sub_retry(sub);
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "%s: event subscription lost (%s), retry in %Mms",
                  sub->name, ac->errstr[0] ? ac->errstr : "closed",
                  sub->backoff);
}

static void
ngx_http_ow_sub_connected(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        /* hiredis frees ac after this and calls no disconnect callback */
        ngx_http_ow_sub_lost(ac, status);
    }
}

static void
ngx_http_ow_sub_open(ngx_event_t *ev)
{
    ngx_http_ow_sub_t  *sub = ev->data;
    redisAsyncContext  *ac;

    if (sub->ac || ngx_exiting || ngx_terminate) {
        return;
    }

    ac = ngx_http_ow_redis_open(ngx_http_ow_sub_connected,
                                ngx_http_ow_sub_lost);
    if (ac == NULL) {
        ngx_http_ow_sub_retry(sub);
        return;
    }

    ac->data = sub;
    sub->ac = ac;
    redisAsyncCommand(ac, ngx_http_ow_sub_on_reply, sub, "SUBSCRIBE %s",
                      sub->channel);
}

void
ngx_http_ow_sub_start(ngx_http_ow_sub_t *sub, ngx_log_t *log)
{
    sub->retry.handler = ngx_http_ow_sub_open;
    sub->retry.log = log;
    sub->retry.data = sub;
    /* the subscriber must not keep a worker from exiting */
    sub->retry.cancelable = 1;

    ngx_http_ow_sub_open(&sub->retry);
}

void
ngx_http_ow_sub_stop(ngx_http_ow_sub_t *sub)
{
    redisAsyncContext  *ac;

    ac = sub->ac;
    sub->ac = NULL;
    if (ac) {
        redisAsyncFree(ac);
    }
}
