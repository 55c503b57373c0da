/*
 * ngx_http_ow_cache_records.c: the activation records of the response
 * cache's API hits, written off the response path.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ow_compose.h"
#include "ngx_http_ow_cache_records.h"
#include "ngx_http_ow_compose.h"
#include "ngx_http_ow_redis.h"

/*
 * Records of this worker's API hits wait here for the next flush, at most
 * RECORDS_MS later or once RECORDS_MAX of them wait. A flush sends the
 * records of one namespace and name (in a row) as one command: one run of
 * the batch script (ow_compose_write_batch_command), by its SHA (a
 * NOSCRIPT answer, from a restarted Redis, is sent again as EVAL), all
 * pipelined on the worker's connection. What Redis could not take the
 * worker owes, as EVAL, and retries (the compose driver's,
 * docs/records.md).
 */
#define NGX_HTTP_OW_CACHE_RECORDS_MS   50
#define NGX_HTTP_OW_CACHE_RECORDS_MAX  256

typedef struct {
    ngx_str_t   ns;
    ngx_str_t   index;          /* the per-name index's name */
    ngx_str_t   id;
    ngx_str_t   json;
    int64_t     start;
    u_char     *mem;            /* malloc'ed: all of the above */
} ngx_http_ow_cache_queued_t;

static ngx_http_ow_cache_queued_t
    ngx_http_ow_cache_queue[NGX_HTTP_OW_CACHE_RECORDS_MAX];
static ngx_uint_t   ngx_http_ow_cache_nqueued;
static ngx_event_t  ngx_http_ow_cache_flush_ev;
static int64_t      ngx_http_ow_cache_retention_ms;

static void ngx_http_ow_cache_records_written(void *data, redisReply *reply);

/* owed as EVAL: the owed are replayed to whatever Redis is there then */
static void
ngx_http_ow_cache_records_owe(char *cmd, size_t len)
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
ngx_http_ow_cache_records_send(char *cmd, size_t len)
{
    if (ngx_http_ow_redis_command(cmd, len, ngx_http_ow_cache_records_written,
                                  cmd)
        == NULL)
    {
        ngx_http_ow_cache_records_owe(cmd, len);
        free(cmd);
    }
}

static void
ngx_http_ow_cache_records_written(void *data, redisReply *reply)
{
    char    *cmd = data, *eval;
    size_t   len;

    len = ngx_strlen(cmd);

    if (ngx_http_ow_redis_transient(reply)) {
        /* Redis is away: the worker keeps them and retries */
        ngx_http_ow_cache_records_owe(cmd, len);

    } else if (reply->type == REDIS_REPLY_ERROR
               && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        eval = ow_compose_write_batch_eval(cmd, len, &len);
        if (eval) {
            ngx_http_ow_cache_records_send(eval, len);
        } else {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "ow response cache: hits' records not stored: "
                          "out of memory");
        }

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ow response cache: hits' records not stored: %s",
                      reply->str);
    }
    free(cmd);
}

static void
ngx_http_ow_cache_flush(ngx_event_t *ev)
{
    ngx_uint_t                   i, j, k, n;
    ngx_http_ow_cache_queued_t  *q = ngx_http_ow_cache_queue;
    ow_compose_batch_record_t    recs[NGX_HTTP_OW_CACHE_RECORDS_MAX];
    char                        *cmd;
    size_t                       len;

    n = ngx_http_ow_cache_nqueued;
    ngx_http_ow_cache_nqueued = 0;

    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n; j++) {
            if (q[j].ns.len != q[i].ns.len
                || q[j].index.len != q[i].index.len
                || ngx_memcmp(q[j].ns.data, q[i].ns.data, q[i].ns.len) != 0
                || ngx_memcmp(q[j].index.data, q[i].index.data,
                              q[i].index.len) != 0)
            {
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
                  recs, j - i, ngx_http_ow_cache_retention_ms, &len);
        if (cmd) {
            ngx_http_ow_cache_records_send(cmd, len);
        } else {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "ow response cache: %ui hits' records not stored: "
                          "out of memory", j - i);
        }
        for (k = i; k < j; k++) {
            free(q[k].mem);
        }
    }
}

ngx_int_t
ngx_http_ow_cache_record(ngx_str_t *action, ngx_str_t *ns, ngx_str_t *subject,
    ngx_uint_t whole, ngx_str_t *index, ngx_str_t *rid, u_char *body,
    size_t body_len, int64_t now)
{
    u_char                      *p, *end, *name, *entity, nm[800];
    size_t                       len;
    ngx_str_t                    idx;
    ngx_http_ow_cache_queued_t  *q;

    if (ngx_http_ow_cache_nqueued == NGX_HTTP_OW_CACHE_RECORDS_MAX) {
        ngx_http_ow_cache_flush(&ngx_http_ow_cache_flush_ev);
    }

    /* "invoker/owner/pkg/name" or "ns/[pkg/]name" */
    end = action->data + action->len;
    entity = action->data;
    len = 1;
    for (p = entity; p < end; p++) {
        len += (*p == '/');
    }
    if (len == 4) {
        entity = ngx_strlchr(entity, end, '/') + 1;
    }
    for (name = end; name > entity && name[-1] != '/'; name--) {
        /* void */
    }

    /*
     * The per-name index: a result=true record's path is entity; a whole
     * record's was stored with the entry (but for an entry stored before
     * the cache kept it: then the action's too)
     */
    if (whole && index->len) {
        idx = *index;
    } else {
        ow_compose_index_name_of((char *) entity, end - entity, (char *) name,
                                 end - name, (char *) nm, sizeof(nm));
        idx.data = nm;
        idx.len = ngx_strlen(nm);
    }

    len = ns->len + idx.len + rid->len
          + (whole ? body_len
                   : sizeof("{\"activationId\":\"\",\"namespace\":\"\","
                     "\"name\":\"\",\"subject\":\"\",\"start\":,\"end\":,"
                     "\"duration\":0,\"response\":{\"status\":\"success\","
                     "\"statusCode\":0,\"success\":true,\"result\":},"
                     "\"logs\":[],\"annotations\":[{\"key\":\"path\","
                     "\"value\":\"\"},{\"key\":\"cacheHit\",\"value\":true}],"
                     "\"publish\":false}")
                     + rid->len + 2 * ngx_escape_json(NULL, ns->data, ns->len)
                     + ns->len + (end - entity) * 2 + subject->len * 2
                     + 2 * NGX_INT64_LEN + body_len);
    q = &ngx_http_ow_cache_queue[ngx_http_ow_cache_nqueued];
    q->mem = malloc(len);
    if (q->mem == NULL) {
        return NGX_ERROR;
    }
    q->start = now;
    p = q->mem;
    q->ns.data = p;
    q->ns.len = ns->len;
    p = ngx_cpymem(p, ns->data, ns->len);
    q->index.data = p;
    q->index.len = idx.len;
    p = ngx_cpymem(p, idx.data, idx.len);
    q->id.data = p;
    q->id.len = rid->len;
    p = ngx_cpymem(p, rid->data, rid->len);
    q->json.data = p;

    if (whole) {
        p = ngx_cpymem(p, body, body_len);

    } else {
        p = ngx_sprintf(p, "{\"activationId\":\"%*s\",\"namespace\":\"",
                        (size_t) rid->len, rid->data);
        p = (u_char *) ngx_escape_json(p, ns->data, ns->len);
        p = ngx_sprintf(p, "\",\"name\":\"%*s\",\"subject\":\"",
                        (size_t) (end - name), name);
        p = (u_char *) ngx_escape_json(p, subject->data,
                                       subject->len);
        p = ngx_sprintf(p, "\",\"start\":%L,\"end\":%L,\"duration\":0,"
                        "\"response\":{\"status\":\"success\","
                        "\"statusCode\":0,\"success\":true,\"result\":",
                        now, now);
        p = ngx_cpymem(p, body, body_len);
        p = ngx_sprintf(p, "},\"logs\":[],\"annotations\":[{\"key\":"
                        "\"path\",\"value\":\"%*s\"},{\"key\":\"cacheHit\","
                        "\"value\":true}],\"publish\":false}",
                        (size_t) (end - entity), entity);
    }
    q->json.len = p - q->json.data;
    ngx_http_ow_cache_nqueued++;

    if (!ngx_http_ow_cache_flush_ev.timer_set) {
        ngx_http_ow_cache_retention_ms =
            (int64_t) ngx_http_ow_compose_retention((ngx_cycle_t *) ngx_cycle)
            * 1000;
        ngx_http_ow_cache_flush_ev.handler = ngx_http_ow_cache_flush;
        ngx_http_ow_cache_flush_ev.log = ngx_cycle->log;
        /* not cancelable: a worker that exits gracefully flushes first */
        ngx_add_timer(&ngx_http_ow_cache_flush_ev,
                      NGX_HTTP_OW_CACHE_RECORDS_MS);
    }
    return NGX_OK;
}
