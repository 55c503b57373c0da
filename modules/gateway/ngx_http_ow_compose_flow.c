/*
 * ngx_http_ow_compose_flow.c: a sequence's or conductor action's flow
 * (ngx_http_ow_compose_module.c starts it): the answers, one component
 * call after the other, then the record and the final answer.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ow_compose.h"
#include "ow_schema.h"
#include "libow/ow_web.h"
#include "ngx_http_ow_auth.h"
#include "ngx_http_ow_compose.h"
#include "ngx_http_ow_http.h"
#include "ngx_http_ow_records.h"
#include "ngx_http_ow_compose_flow.h"

static void ngx_http_ow_compose_finish(ngx_http_ow_compose_flow_t *f);

int64_t
ngx_http_ow_compose_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();
    return (int64_t) tp->sec * 1000 + tp->msec;
}

ngx_uint_t
ngx_http_ow_compose_id_valid(ngx_str_t *s)
{
    size_t  i;

    if (s->len != 32) {
        return 0;
    }
    for (i = 0; i < 32; i++) {
        if (!((s->data[i] >= '0' && s->data[i] <= '9')
              || (s->data[i] >= 'a' && s->data[i] <= 'f')))
        {
            return 0;
        }
    }
    return 1;
}

/* ---- answering ---- */

static void
ngx_http_ow_compose_send(ngx_http_ow_compose_flow_t *f, ngx_uint_t status,
    const char *body, size_t len)
{
    ngx_http_request_t  *r = f->request;

    f->answered = 1;
    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    (void) ngx_http_ow_header_out(r, "x-openwhisk-activation-id",
                                 f->id, 32);
    if (f->nested) {
        (void) ngx_http_ow_header_out(r, "X-OW-Atomic-Count",
                                     f->count, f->count_len);
    }
    f->rc = ngx_http_ow_send(r, status, "application/json", body, len);
}

/*
 * A web request's answer (ow_web_response): its status, headers and body as
 * the shaping says; id: the activation's when it ran (NULL: nothing ran).
 */
ngx_int_t
ngx_http_ow_compose_send_web(ngx_http_request_t *r, ow_web_t *web,
    u_char *id)
{
    ow_web_response_t   w;
    ngx_table_elt_t    *h;
    size_t              i;
    u_char             *p;
    char               *type;

    ow_web_response(web, &w);

    type = "";
    for (i = 0; i < w.nheaders; i++) {
        p = ngx_pnalloc(r->pool, w.headers[i].name_len
                                 + w.headers[i].value_len + 1);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_memcpy(p, w.headers[i].name, w.headers[i].name_len);
        *ngx_cpymem(p + w.headers[i].name_len, w.headers[i].value,
                    w.headers[i].value_len) = '\0';

        if (w.headers[i].name_len == 12
            && ngx_strncasecmp(p, (u_char *) "Content-Type", 12) == 0)
        {
            type = (char *) p + 12;
            continue;
        }

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        h->hash = 1;
        h->key.data = p;
        h->key.len = w.headers[i].name_len;
        h->value.data = p + w.headers[i].name_len;
        h->value.len = w.headers[i].value_len;
    }

    if (id) {
        (void) ngx_http_ow_header_out(r, "x-openwhisk-activation-id", id, 32);
    }

    /* an action's statusCode 1xx, 204 or 304 carries no body (HTTP) */
    if (w.status < 200 || w.status == 204 || w.status == 304) {
        w.body_len = 0;
    }
    return ngx_http_ow_send(r, w.status, type, w.body, w.body_len);
}

/* the 202 of a non-blocking invoke, or of a blocking one past its wait */
void
ngx_http_ow_compose_accepted(ngx_http_ow_compose_flow_t *f)
{
    u_char  body[64];
    size_t  n;

    /*
     * The flow goes on after this answer and holds the request until it is
     * done: the client must not wait behind it on this connection.
     */
    f->request->keepalive = 0;

    if (f->web) {
        /* as the sidecar answers a web action past its 60 s */
        f->answered = 1;
        ow_web_fail(f->web, NGX_HTTP_ACCEPTED, "Response not yet ready.");
        f->rc = ngx_http_ow_compose_send_web(f->request, f->web, f->id);
        return;
    }

    n = ngx_sprintf(body, "{\"activationId\":\"%s\"}", f->id) - body;
    ngx_http_ow_compose_send(f, NGX_HTTP_ACCEPTED, (char *) body, n);
}

void
ngx_http_ow_compose_wait_expired(ngx_event_t *ev)
{
    ngx_http_ow_compose_flow_t  *f = ev->data;
    ngx_connection_t            *c;

    if (f->answered) {
        return;
    }
    c = f->request->connection;
    ngx_http_ow_compose_accepted(f);
    ngx_http_run_posted_requests(c);
}

/* the flow is over: its record is queued and the answer sent */
void
ngx_http_ow_compose_release(ngx_http_ow_compose_flow_t *f)
{
    ngx_http_request_t  *r = f->request;
    ngx_connection_t    *c = r->connection;

    f->done = 1;
    ngx_http_finalize_request(r, f->rc);
    ngx_http_run_posted_requests(c);
}

/* ---- one component call ---- */

/*
 * A component's answer: a record without logs, its result at most 1 MB.
 * It passes through the proxy unbuffered, in proxy_buffer_size pieces
 * (compose_proxy.conf), and the filters below copy it out of the output
 * chain of the call's subrequest into f->body, kept for the flow's calls.
 * An in-memory subrequest needs one buffer of the largest answer instead:
 * 1.1 MB malloc'ed and freed per component, whose page faults and brk
 * calls cost more than the rest of the driver.
 */
#define NGX_HTTP_OW_COMPOSE_ANSWER_MAX  (1100 * 1024)

static ngx_http_output_header_filter_pt  ngx_http_ow_compose_next_header;
static ngx_http_output_body_filter_pt    ngx_http_ow_compose_next_body;

/*
 * The flow whose call r is or was (NULL: any other request). All of a
 * call's output stops here, also what follows its answer (nginx's page for
 * an upstream that failed): a background subrequest's output that went on
 * would be postponed, and the subrequest never finalized.
 */
static ngx_http_ow_compose_flow_t *
ngx_http_ow_compose_caller(ngx_http_request_t *r)
{
    ngx_http_ow_compose_flow_t  *f;

    if (r == r->main) {
        return NULL;
    }
    f = ngx_http_get_module_ctx(r->main, ngx_http_ow_compose_module);
    return (f && f->call == r) ? f : NULL;
}

static ngx_int_t
ngx_http_ow_compose_header_filter(ngx_http_request_t *r)
{
    if (ngx_http_ow_compose_caller(r) == NULL) {
        return ngx_http_ow_compose_next_header(r);
    }
    /* the status and headers are read where they are, r->headers_out */
    r->header_sent = 1;
    return NGX_OK;
}

static ngx_int_t
ngx_http_ow_compose_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_ow_compose_flow_t  *f;
    ngx_chain_t                 *cl;
    ngx_buf_t                   *b;
    u_char                      *p;
    size_t                       n, size;

    f = ngx_http_ow_compose_caller(r);
    if (f == NULL) {
        return ngx_http_ow_compose_next_body(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        if (!ngx_buf_in_memory(b)) {
            /* never unbuffered; a file is no answer this driver reads */
            if (ngx_buf_size(b) && f->calling) {
                f->too_big = 1;
            }
            b->file_pos = b->file_last;
            continue;
        }
        n = b->last - b->pos;
        if (n == 0 || f->too_big || !f->calling) {
            b->pos = b->last;
            continue;
        }
        if (f->body_len + n > NGX_HTTP_OW_COMPOSE_ANSWER_MAX) {
            f->too_big = 1;
            b->pos = b->last;
            continue;
        }
        if (f->body_len + n > f->body_size) {
            size = ngx_max(2 * f->body_size, f->body_len + n);
            size = ngx_min(ngx_max(size, 4096),
                           NGX_HTTP_OW_COMPOSE_ANSWER_MAX);
            p = ngx_pnalloc(f->request->pool, size);
            if (p == NULL) {
                return NGX_ERROR;
            }
            ngx_memcpy(p, f->body, f->body_len);
            f->body = p;
            f->body_size = size;
        }
        ngx_memcpy(f->body + f->body_len, b->pos, n);
        f->body_len += n;
        b->pos = b->last;
    }
    return NGX_OK;
}

ngx_int_t
ngx_http_ow_compose_init_filters(ngx_conf_t *cf)
{
    ngx_http_ow_compose_next_header = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ow_compose_header_filter;
    ngx_http_ow_compose_next_body = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ow_compose_body_filter;
    return NGX_OK;
}

static ngx_int_t
ngx_http_ow_compose_called(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_ow_compose_flow_t  *f = data;
    ngx_table_elt_t             *h;

    if (!f->calling) {
        /* finalized once more: the answer was taken already */
        return rc;
    }
    f->calling = 0;

    f->status = sr->headers_out.status;
    f->answer_id[0] = '\0';
    f->answer_count = -1;

    if (rc == NGX_ERROR || f->status == 0 || f->too_big) {
        /* no answer at all (connection, timeout): "Sequence failed." */
        f->status = NGX_HTTP_BAD_GATEWAY + 1000;
        f->body_len = 0;
    }

    h = ngx_http_ow_header_find(&sr->headers_out.headers,
                                   "x-openwhisk-activation-id");
    if (h && ngx_http_ow_compose_id_valid(&h->value)) {
        ngx_memcpy(f->answer_id, h->value.data, 32);
        f->answer_id[32] = '\0';
    }
    h = ngx_http_ow_header_find(&sr->headers_out.headers,
                                   "X-OW-Atomic-Count");
    if (h) {
        f->answer_count = ngx_atoi(h->value.data, h->value.len);
    }

    /* go on from a clean stack, not inside the subrequest's finalization */
    ngx_post_event(&f->step, &ngx_posted_events);
    return rc;
}

/* invoke "/ns/[pkg/]name" with input, blocking, as the caller */
static ngx_int_t
ngx_http_ow_compose_call(ngx_http_ow_compose_flow_t *f, const char *name,
    json_t *input, ngx_uint_t plain)
{
    ngx_http_ow_compose_main_conf_t  *cmcf;
    ngx_http_request_t               *r = f->request, *sr;
    ngx_http_post_subrequest_t       *ps;
    ngx_http_request_body_t          *rb;
    ngx_str_t                         uri;
    static ngx_str_t                  args = ngx_string("blocking=true");
    ngx_buf_t                        *b;
    char                             *json, path[1400];
    size_t                            len;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_ow_compose_module);

    if (ow_compose_component_path(name, f->ns, path, sizeof(path)) != 0) {
        return NGX_DECLINED;
    }

    uri.len = cmcf->uri.len + ngx_strlen(path);
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }
    ngx_sprintf(uri.data, "%V%s", &cmcf->uri, path);

    json = input ? json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY)
                 : strdup("{}");
    if (json == NULL) {
        return NGX_ERROR;
    }
    len = ngx_strlen(json);
    b = ngx_create_temp_buf(r->pool, len ? len : 1);
    if (b == NULL) {
        free(json);
        return NGX_ERROR;
    }
    b->last = ngx_cpymem(b->pos, json, len);
    b->last_buf = 1;
    free(json);

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (ps == NULL || rb == NULL) {
        return NGX_ERROR;
    }
    rb->bufs = ngx_alloc_chain_link(r->pool);
    if (rb->bufs == NULL) {
        return NGX_ERROR;
    }
    rb->bufs->buf = b;
    rb->bufs->next = NULL;
    rb->buf = b;

    ps->handler = ngx_http_ow_compose_called;
    ps->data = f;

    f->plain = plain;

    /*
     * In the background: this request's own answer may already have been
     * sent and must not wait behind it. The answer (the component's record)
     * is copied by the filters above.
     */
    if (ngx_http_subrequest(r, &uri, &args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    f->calling = 1;
    f->call = sr;
    f->body_len = 0;
    f->too_big = 0;
    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");
    sr->request_body = rb;
    sr->headers_in.content_length_n = len;
    sr->headers_in.chunked = 0;
    return NGX_OK;
}

/* a run-time failure of the flow itself: it ends with that response */
static void
ngx_http_ow_compose_fail(ngx_http_ow_compose_flow_t *f, int code,
    const char *msg)
{
    ow_compose_fail(&f->acc, code, msg, NULL);
    ngx_http_ow_compose_finish(f);
}

void
ngx_http_ow_compose_call_conductor(ngx_http_ow_compose_flow_t *f,
    json_t *params)
{
    json_t     *in;
    ngx_int_t   rc;
    u_char      name[1024];

    if (f->acc.conductors > 2 * OW_COMPOSE_MAX_ATOMIC) {
        json_decref(params);
        ngx_http_ow_compose_fail(f, 1, OW_MSG_COMP_TOO_LONG);
        return;
    }
    f->acc.conductors++;
    f->call_conductor = 1;

    in = ow_compose_conductor_input(&f->acc, params);
    json_decref(params);
    ngx_snprintf(name, sizeof(name), "/%V%Z", &f->action);
    rc = ngx_http_ow_compose_call(f, (char *) name, in, 1);
    json_decref(in);
    if (rc != NGX_OK) {
        ngx_http_ow_compose_fail(f, 3, OW_MSG_COMP_FAILED);
    }
}

/* the next thing to run */
void
ngx_http_ow_compose_next(ngx_http_ow_compose_flow_t *f)
{
    json_t      *c;
    ngx_int_t    rc;

    if (f->kind == NGX_HTTP_OW_COMPOSE_CONDUCTOR) {
        /* a component the conductor asked for */
        f->acc.components++;
        f->call_conductor = 0;
        rc = ngx_http_ow_compose_call(f, f->component, f->params, 0);
        json_decref(f->params);
        f->params = NULL;
        if (rc != NGX_OK) {
            ngx_http_ow_compose_fail(f, 3, OW_MSG_COMP_FAILED);
        }
        return;
    }

    if (f->next >= json_array_size(f->components)) {
        ngx_http_ow_compose_finish(f);
        return;
    }

    /* counted at run time too: nested sequences may have changed */
    if (f->acc.atomic >= OW_COMPOSE_MAX_ATOMIC) {
        ngx_http_ow_compose_fail(f, 1, OW_MSG_SEQ_TOO_LONG);
        return;
    }

    c = json_array_get(f->components, f->next++);
    f->count_len = ngx_sprintf(f->count, "%d", f->acc.atomic) - f->count;

    rc = json_is_string(c)
         ? ngx_http_ow_compose_call(f, json_string_value(c),
                                    ow_compose_input(&f->acc), 0)
         : NGX_DECLINED;

    if (rc == NGX_DECLINED) {
        ngx_http_ow_compose_fail(f, 1, OW_MSG_SEQ_NOT_FOUND);
    } else if (rc != NGX_OK) {
        ngx_http_ow_compose_fail(f, 3, OW_MSG_SEQ_FAILED);
    }
}

/* a call answered: account and go on */
void
ngx_http_ow_compose_stepped(ngx_event_t *ev)
{
    ngx_http_ow_compose_flow_t  *f = ev->data;
    ngx_connection_t            *c;
    json_t                      *params, *err;
    char                        *next, msg[1200];
    int                          rc;

    c = f->request->connection;

    rc = ow_compose_step(&f->acc, f->kind == NGX_HTTP_OW_COMPOSE_SEQUENCE,
                         (int) f->status, (char *) f->body, f->body_len,
                         f->answer_id[0] ? (char *) f->answer_id : NULL,
                         (int) f->answer_count);

    if (f->kind == NGX_HTTP_OW_COMPOSE_SEQUENCE) {
        if (rc == 1) {
            ngx_http_ow_compose_next(f);
        } else {
            ngx_http_ow_compose_finish(f);
        }
        goto done;
    }

    if (!f->call_conductor) {
        /* a component answered: back to the conductor with its result */
        if (rc == 1) {
            ngx_http_ow_compose_call_conductor(f, json_incref(
                ow_compose_input(&f->acc)));

        } else if (rc == 2 || rc == 3) {
            ngx_snprintf((u_char *) msg, sizeof(msg), rc == 2
                ? "Failed to resolve action with name '%s' during "
                  "composition.%Z"
                : "Failed entitlement check for action with name '%s' "
                  "during composition.%Z", f->component + 1);
            err = json_object();
            json_object_set_new(err, "error", json_string(msg));
            ngx_http_ow_compose_call_conductor(f, err);

        } else {
            ngx_http_ow_compose_finish(f);
        }
        goto done;
    }

    /* the conductor answered */
    if (rc != 1) {
        if (rc == 2 || rc == 3) {
            ow_compose_fail(&f->acc, 3, OW_MSG_COMP_FAILED, NULL);
        }
        ngx_http_ow_compose_finish(f);
        goto done;
    }

    next = NULL;
    params = NULL;
    rc = ow_compose_conductor(&f->acc, f->ns, &next, &params);

    if (rc == 0) {
        ngx_http_ow_compose_finish(f);

    } else if (rc == 1) {
        free(f->component);
        f->component = next;
        json_decref(f->params);
        f->params = params;
        ngx_http_ow_compose_next(f);

    } else if (params) {
        ngx_http_ow_compose_call_conductor(f, params);

    } else {
        ngx_http_ow_compose_fail(f, 3, OW_MSG_COMP_FAILED);
    }

done:

    ngx_http_run_posted_requests(c);
}

/* ---- the end: the record, then the answer ---- */

/*
 * The record goes to the worker's batch (ngx_http_ow_records.c), not to
 * Redis and back before the answer: the answer does not wait for a round
 * trip, and Redis runs the batch script once per batch instead of the
 * write script per sequence. The record reaches Redis at most 50 ms after
 * the answer; Redis away, the worker owes it and retries; a worker that
 * dies meanwhile loses it, as it loses a cache hit's (docs/records.md).
 */
static void
ngx_http_ow_compose_store(ngx_http_ow_compose_flow_t *f, json_t *record,
    const char *json, size_t len)
{
    ngx_http_ow_compose_main_conf_t  *cmcf;
    ngx_http_ow_record_t             *q;
    ngx_str_t                         ns, index, id;
    char                              nm[800];

    cmcf = ngx_http_get_module_main_conf(f->request,
                                         ngx_http_ow_compose_module);

    ow_compose_index_name(record, nm, sizeof(nm));
    index.data = (u_char *) nm;
    index.len = ngx_strlen(nm);
    id.data = f->id;
    id.len = 32;
    ns.data = (u_char *) f->ns;
    ns.len = ngx_strlen(f->ns);

    q = ngx_http_ow_records_reserve(&ns, &index, &id,
                                    f->start,
                                    (int64_t) cmcf->retention * 1000, len);
    if (q == NULL) {
        ngx_log_error(NGX_LOG_ERR, f->request->connection->log, 0,
                      "ow compose: activation %s not stored: out of memory",
                      f->id);
        return;
    }
    q->json.len = ngx_cpymem(q->json.data, json, len) - q->json.data;
    ngx_http_ow_records_queue(q);
}

static void
ngx_http_ow_compose_finish(ngx_http_ow_compose_flow_t *f)
{
    ow_compose_record_in_t   in;
    json_t                  *record, *result;
    char                    *json, *body;
    size_t                   len;
    int                      status;

    ngx_memzero(&in, sizeof(in));
    in.ns = f->ns;
    in.subject = f->subject;
    in.action = (char *) f->action.data;
    in.activation_id = (char *) f->id;
    in.cause = f->nested ? (char *) f->cause : NULL;
    in.start = f->start;
    in.end = ngx_http_ow_compose_now();
    in.wait_time = f->start - f->accept;
    in.conductor = f->kind == NGX_HTTP_OW_COMPOSE_CONDUCTOR;
    if (f->doc) {
        in.version = json_string_value(json_object_get(f->doc, "version"));
        in.limits = json_object_get(f->doc, "limits");
    }

    record = ow_compose_record(&f->acc, &in);
    f->count_len = ngx_sprintf(f->count, "%d", f->acc.atomic) - f->count;

    if (record == NULL) {
        if (!f->answered) {
            f->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_http_ow_compose_release(f);
        return;
    }

    /* serialised once: what is stored, and the answer when it is the record */
    json = json_dumps(record, OW_COMPOSE_DUMP);
    len = json ? ngx_strlen(json) : 0;
    if (json) {
        ngx_http_ow_compose_store(f, record, json, len);
    } else {
        ngx_log_error(NGX_LOG_ERR, f->request->connection->log, 0,
                      "ow compose: activation %s not stored: out of memory",
                      f->id);
    }

    result = json_object_get(f->acc.response, "result");

    if (!f->answered && f->web) {
        /* the answer is the result, shaped */
        body = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
        ow_web_finish(f->web, f->acc.status_code, body ? body : "{}",
                      body ? ngx_strlen(body) : 2);
        free(body);
        f->answered = 1;
        if (f->timer.timer_set) {
            ngx_del_timer(&f->timer);
        }
        f->rc = ngx_http_ow_compose_send_web(f->request, f->web, f->id);

    } else if (!f->answered) {
        /*
         * §5: the record, or its result (result=true, or an array result);
         * a nested sequence answers its caller the whole record, its
         * numbers at full precision (they become the caller's result)
         */
        status = f->acc.status_code == 0 ? 200
                 : f->acc.status_code == 3 ? 500 : 502;
        if (!f->nested && !f->result_only && !json_is_array(result)) {
            if (json) {
                ngx_http_ow_compose_send(f, status, json, len);
            } else {
                f->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

        } else {
            body = f->nested ? json_dumps(record, JSON_COMPACT)
                             : ow_compose_answer(record, f->result_only,
                                                 &status);
            if (body) {
                ngx_http_ow_compose_send(f, status, body, ngx_strlen(body));
                free(body);
            } else {
                f->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }

    free(json);
    json_decref(record);
    ngx_http_ow_compose_release(f);
}
