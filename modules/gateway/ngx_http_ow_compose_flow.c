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
#include "ngx_http_ow_redis.h"
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

/* the flow is over: its record is written and the answer sent */
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

static ngx_int_t
ngx_http_ow_compose_called(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_ow_compose_flow_t  *f = data;
    ngx_http_upstream_t         *u;
    ngx_table_elt_t             *h;

    if (!f->calling) {
        /* finalized once more: the answer was taken already */
        return rc;
    }
    f->calling = 0;

    f->status = sr->headers_out.status;
    f->body = NULL;
    f->body_len = 0;
    f->answer_id[0] = '\0';
    f->answer_count = -1;

    if (rc == NGX_ERROR || f->status == 0) {
        /* no answer at all (connection, timeout): "Sequence failed." */
        f->status = NGX_HTTP_BAD_GATEWAY + 1000;
    }

    u = sr->upstream;
    if (u && u->buffer.pos && u->buffer.last > u->buffer.pos) {
        f->body_len = u->buffer.last - u->buffer.pos;
        f->body = ngx_pnalloc(f->request->pool, f->body_len);
        if (f->body == NULL) {
            f->body_len = 0;
        } else {
            ngx_memcpy(f->body, u->buffer.pos, f->body_len);
        }
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
     * In memory (the answer is the component's record) and in the
     * background: this request's own answer may already have been sent
     * and must not wait behind it.
     */
    if (ngx_http_subrequest(r, &uri, &args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    f->calling = 1;
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

static void
ngx_http_ow_compose_written(void *data, redisReply *reply)
{
    ngx_http_ow_compose_flow_t  *f = data;

    f->write = NULL;
    if (f->record_cmd == NULL) {
        ngx_log_error(NGX_LOG_ERR, f->request->connection->log, 0,
                      "ow compose: activation %s not stored: out of memory",
                      f->id);

    } else if (ngx_http_ow_redis_transient(reply)) {
        /*
         * Redis is away: the worker keeps the record and retries it
         * (docs/records.md); the answer is what will be stored
         */
        ngx_http_ow_redis_owe(f->record_cmd, f->record_len);

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, f->request->connection->log, 0,
                      "ow compose: activation %s not stored: %s", f->id,
                      reply->str);
    }
    free(f->record_cmd);
    f->record_cmd = NULL;
    if (!f->answered && f->web) {
        f->answered = 1;
        if (f->timer.timer_set) {
            ngx_del_timer(&f->timer);
        }
        f->rc = ngx_http_ow_compose_send_web(f->request, f->web, f->id);

    } else if (!f->answered) {
        ngx_http_ow_compose_send(f, f->final_status, (char *) f->final_body,
                                 f->final_len);
    }
    ngx_http_ow_compose_release(f);
}

static void
ngx_http_ow_compose_finish(ngx_http_ow_compose_flow_t *f)
{
    ngx_http_ow_compose_main_conf_t  *cmcf;
    ngx_http_request_t               *r = f->request;
    ow_compose_record_in_t            in;
    json_t                           *record;
    char                             *body, *cmd;
    size_t                            len;
    int                               status;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_ow_compose_module);

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

    if (!f->answered && f->web) {
        /* the answer is the result, shaped (sent once the record is) */
        body = json_dumps(json_object_get(f->acc.response, "result"),
                          JSON_COMPACT | JSON_ENCODE_ANY);
        ow_web_finish(f->web, f->acc.status_code, body ? body : "{}",
                      body ? ngx_strlen(body) : 2);
        free(body);

    } else if (!f->answered) {
        body = ow_compose_answer(record, f->result_only, &status);
        if (f->nested) {
            /* a nested sequence answers its caller the whole record */
            free(body);
            body = json_dumps(record, JSON_COMPACT);
        }
        f->final_status = status;
        f->final_len = body ? ngx_strlen(body) : 0;
        f->final_body = ngx_pnalloc(r->pool, f->final_len + 1);
        if (f->final_body == NULL) {
            f->final_status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            f->final_len = 0;
        } else if (body) {
            ngx_memcpy(f->final_body, body, f->final_len);
        }
        free(body);
    }

    /*
     * Stored first, then answered (ngx_http_ow_compose_written): a client
     * that reads the activation right after the answer finds it.
     */
    cmd = ow_compose_write_command(record, (int64_t) cmcf->retention * 1000,
                                   &len);
    json_decref(record);

    f->record_cmd = cmd;
    f->record_len = len;
    f->write = cmd ? ngx_http_ow_redis_command(cmd, len,
                                               ngx_http_ow_compose_written, f)
                   : NULL;
    if (f->write == NULL) {
        /* Redis unreachable now: owed, and answered */
        ngx_http_ow_compose_written(f, NULL);
    }
}
