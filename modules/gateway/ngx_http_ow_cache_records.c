/*
 * ngx_http_ow_cache_records.c: the activation records of the response
 * cache's API hits, written off the response path with the gateway's
 * other records (ngx_http_ow_records.c: batched per worker, 50 ms at most).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ow_compose.h"
#include "ngx_http_ow_cache_records.h"
#include "ngx_http_ow_compose.h"
#include "ngx_http_ow_records.h"

ngx_int_t
ngx_http_ow_cache_record(ngx_str_t *action, ngx_str_t *ns, ngx_str_t *subject,
    ngx_uint_t whole, ngx_str_t *index, ngx_str_t *rid, u_char *body,
    size_t body_len, int64_t now)
{
    u_char                *p, *end, *name, *entity, nm[800];
    size_t                 len;
    ngx_str_t              idx;
    ngx_http_ow_record_t  *q;

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

    len = whole ? body_len
                : sizeof("{\"activationId\":\"\",\"namespace\":\"\","
                  "\"name\":\"\",\"subject\":\"\",\"start\":,\"end\":,"
                  "\"duration\":0,\"response\":{\"status\":\"success\","
                  "\"statusCode\":0,\"success\":true,\"result\":},"
                  "\"logs\":[],\"annotations\":[{\"key\":\"path\","
                  "\"value\":\"\"},{\"key\":\"cacheHit\",\"value\":true}],"
                  "\"publish\":false}")
                  + rid->len + 2 * ngx_escape_json(NULL, ns->data, ns->len)
                  + ns->len + (end - entity) * 2 + subject->len * 2
                  + 2 * NGX_INT64_LEN + body_len;
    q = ngx_http_ow_records_reserve(ns, &idx, rid, now,
            (int64_t) ngx_http_ow_compose_retention((ngx_cycle_t *) ngx_cycle)
            * 1000, len);
    if (q == NULL) {
        return NGX_ERROR;
    }
    p = q->json.data;

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
    ngx_http_ow_records_queue(q);
    return NGX_OK;
}
