/*
 * ngx_http_ow_records.c: the activation records the gateway writes itself
 * (sequences and conductor actions, the response cache's API hits),
 * batched per worker, off the response path.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ow_compose.h"
#include "ngx_http_ow_records.h"
#include "ngx_http_ow_redis.h"

/*
 * Records wait here for the next flush, at most RECORDS_MS later or once
 * RECORDS_MAX of them wait. A flush sends the records of one namespace and
 * name (in a row) as one command: one run of the batch script
 * (ow_compose_write_batch_command), by its SHA (a NOSCRIPT answer, from a
 * restarted Redis, is sent again as EVAL), all pipelined on the worker's
 * connection: a record costs Redis one SET and its share of two ZADDs, and
 * the answer never waits for Redis. What Redis could not take the worker
 * owes, as EVAL, and retries (ngx_http_ow_redis_owe, docs/records.md).
 */
#define NGX_HTTP_OW_RECORDS_MS   50
#define NGX_HTTP_OW_RECORDS_MAX  256

static ngx_http_ow_record_t  ngx_http_ow_records[NGX_HTTP_OW_RECORDS_MAX];
static ngx_uint_t            ngx_http_ow_nrecords;
static ngx_event_t           ngx_http_ow_records_flush_ev;

static void ngx_http_ow_records_written(void *data, redisReply *reply);

/* owed as EVAL: the owed are replayed to whatever Redis is there then */
static void
ngx_http_ow_records_owe(char *cmd, size_t len)
{
    char    *eval;
    size_t   eval_len;

    eval = ow_compose_write_batch_eval(cmd, len, &eval_len);
    if (eval) {
        ngx_http_ow_redis_owe(eval, eval_len);
        free(eval);
    } else {
        ngx_http_ow_redis_owe(cmd, len);
    }
}

static void
ngx_http_ow_records_send(char *cmd, size_t len)
{
    if (ngx_http_ow_redis_command(cmd, len, ngx_http_ow_records_written, cmd)
        == NULL)
    {
        ngx_http_ow_records_owe(cmd, len);
        free(cmd);
    }
}

static void
ngx_http_ow_records_written(void *data, redisReply *reply)
{
    char    *cmd = data, *eval;
    size_t   len;

    len = ngx_strlen(cmd);

    if (ngx_http_ow_redis_transient(reply)) {
        /* Redis is away: the worker keeps them and retries */
        ngx_http_ow_records_owe(cmd, len);

    } else if (reply->type == REDIS_REPLY_ERROR
               && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        eval = ow_compose_write_batch_eval(cmd, len, &len);
        if (eval) {
            ngx_http_ow_records_send(eval, len);
        } else {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "ow records: a batch not stored: out of memory");
        }

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ow records: a batch not stored: %s", reply->str);
    }
    free(cmd);
}

static ngx_uint_t
ngx_http_ow_records_together(ngx_http_ow_record_t *a, ngx_http_ow_record_t *b)
{
    return a->ns.len == b->ns.len && a->index.len == b->index.len
           && a->retention_ms == b->retention_ms
           && ngx_memcmp(a->ns.data, b->ns.data, a->ns.len) == 0
           && ngx_memcmp(a->index.data, b->index.data, a->index.len) == 0;
}

static void
ngx_http_ow_records_flush(ngx_event_t *ev)
{
    ngx_uint_t                  i, j, k, n;
    ngx_http_ow_record_t       *q = ngx_http_ow_records;
    ow_compose_batch_record_t   recs[NGX_HTTP_OW_RECORDS_MAX];
    char                       *cmd;
    size_t                      len;

    n = ngx_http_ow_nrecords;
    ngx_http_ow_nrecords = 0;

    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n; j++) {
            if (!ngx_http_ow_records_together(&q[i], &q[j])) {
                break;
            }
        }
        for (k = i; k < j; k++) {
            recs[k - i].id = (char *) q[k].id.data;
            recs[k - i].id_len = q[k].id.len;
            recs[k - i].start = q[k].start;
            recs[k - i].json = (char *) q[k].json.data;
            recs[k - i].json_len = q[k].json.len;
        }
        cmd = ow_compose_write_batch_command((char *) q[i].ns.data,
                  q[i].ns.len, (char *) q[i].index.data, q[i].index.len,
                  recs, j - i, q[i].retention_ms, &len);
        if (cmd) {
            ngx_http_ow_records_send(cmd, len);
        } else {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "ow records: %ui records not stored: "
                          "out of memory", j - i);
        }
        for (k = i; k < j; k++) {
            free(q[k].mem);
        }
    }
}

ngx_http_ow_record_t *
ngx_http_ow_records_reserve(ngx_str_t *ns, ngx_str_t *index, ngx_str_t *id,
    int64_t start, int64_t retention_ms, size_t json_size)
{
    u_char                *p;
    ngx_http_ow_record_t  *q;

    if (ngx_http_ow_nrecords == NGX_HTTP_OW_RECORDS_MAX) {
        ngx_http_ow_records_flush(&ngx_http_ow_records_flush_ev);
    }

    q = &ngx_http_ow_records[ngx_http_ow_nrecords];
    q->mem = malloc(ns->len + index->len + id->len + json_size);
    if (q->mem == NULL) {
        return NULL;
    }
    q->start = start;
    q->retention_ms = retention_ms;
    p = q->mem;
    q->ns.data = p;
    q->ns.len = ns->len;
    p = ngx_cpymem(p, ns->data, ns->len);
    q->index.data = p;
    q->index.len = index->len;
    p = ngx_cpymem(p, index->data, index->len);
    q->id.data = p;
    q->id.len = id->len;
    p = ngx_cpymem(p, id->data, id->len);
    q->json.data = p;
    q->json.len = 0;
    return q;
}

void
ngx_http_ow_records_queue(ngx_http_ow_record_t *rec)
{
    ngx_http_ow_nrecords++;

    if (!ngx_http_ow_records_flush_ev.timer_set) {
        ngx_http_ow_records_flush_ev.handler = ngx_http_ow_records_flush;
        ngx_http_ow_records_flush_ev.log = ngx_cycle->log;
        /* not cancelable: a worker that exits gracefully flushes first */
        ngx_add_timer(&ngx_http_ow_records_flush_ev, NGX_HTTP_OW_RECORDS_MS);
    }
}
