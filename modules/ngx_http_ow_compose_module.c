/*
 * ngx_http_ow_compose_module.c: sequences and conductor actions, run in the
 * gateway (openwhisk-api.md §4 "Sequences", DESIGN.md).
 *
 * The router finds out that an action is a sequence or a conductor action
 * (the pool-manager's capacity answer, remembered in the router's shared
 * memory) and makes this module the request's content handler. The driver
 * then runs the components one after the other, each as a normal
 * activation through the normal invoke path: an in-memory background
 * subrequest to ow_compose_uri (a proxy location) that reaches this same
 * nginx's internal-only listener, where auth, router, warm table, cold
 * start and sidecar do what they do for any invocation, the caller's
 * Authorization header included; only ow_limit is not there: the sequence
 * was counted once, at the public entry. The component's sidecar writes
 * its record with "cause" (header X-OW-Cause) and answers the whole record;
 * the driver accounts (ow_compose.c), writes the sequence's own record to
 * Redis and answers like the sidecar does (§5).
 *
 * Nothing blocks: a component's cold start is a parked request in another
 * (internal) request; this request only waits for its subrequest.
 *
 * A web action (openwhisk-api.md §7) that is a sequence or conductor
 * action runs here too: the request is shaped into arguments, and the
 * result into the HTTP answer, by the code the sidecar shapes plain web
 * actions with (libow/ow_web.h, C++ linked into this module). It runs as
 * its owner: the component requests carry X-OW-Run-As, which the trusted
 * listener's auth believes instead of the anonymous client's credentials.
 *
 * Lifetime: the flow lives in the request's pool and holds the request
 * (the count taken by reading the body) until it is done and its record is
 * written. A non-blocking invoke (or a blocking one past its wait) gets its
 * 202 at once, with "Connection: close", and the flow goes on: component
 * subrequests are background ones, so the answer is not held behind them.
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
#include "ngx_http_ow_redis.h"

typedef struct {
    ngx_str_t                     uri;         /* component proxy prefix */
    time_t                        retention;
} ngx_http_ow_compose_main_conf_t;

typedef struct {
    ngx_flag_t                    trust;
} ngx_http_ow_compose_loc_conf_t;

typedef struct {
    ngx_http_request_t           *request;
    ngx_str_t                     action;      /* "ns/path" */
    ngx_uint_t                    kind;
    json_t                       *doc;         /* the sequence's facts */
    json_t                       *components;  /* borrowed from doc */
    ngx_uint_t                    next;
    char                         *ns;
    char                         *subject;

    ow_compose_t                  acc;
    ngx_uint_t                    acc_init;

    /* conductor: what the next call is */
    ngx_uint_t                    call_conductor;
    char                         *component;   /* malloc'ed */
    json_t                       *params;

    u_char                        id[33];
    u_char                        cause[33];
    u_char                        count[NGX_INT_T_LEN];
    size_t                        count_len;
    ngx_uint_t                    plain;       /* the call runs it plain */

    ngx_uint_t                    blocking;
    ngx_uint_t                    result_only;
    ngx_uint_t                    nested;
    ngx_uint_t                    answered;
    ngx_uint_t                    done;
    ngx_msec_t                    wait;
    int64_t                       start;
    int64_t                       accept;

    /* the last call's answer */
    ngx_int_t                     status;
    u_char                       *body;
    size_t                        body_len;
    u_char                        answer_id[33];
    ngx_int_t                     answer_count;

    /* the final answer, sent once the record is stored */
    ngx_uint_t                    final_status;
    u_char                       *final_body;
    size_t                        final_len;
    ngx_uint_t                    calling;     /* a call is in flight */

    /* a web request (openwhisk-api.md §7): shaped by libow/ow_web.h */
    ow_web_t                     *web;
    u_char                       *web_facts;   /* r->pool */
    size_t                        web_facts_len;

    ngx_event_t                   timer;       /* the blocking wait */
    ngx_event_t                   step;        /* the next step, posted */
    ngx_http_ow_redis_op_t       *write;
    char                         *record_cmd;  /* malloc: the write's RESP */
    size_t                        record_len;
    ngx_int_t                     rc;          /* of the answer's output */
} ngx_http_ow_compose_flow_t;

static ngx_int_t ngx_http_ow_compose_add_variables(ngx_conf_t *cf);
static void *ngx_http_ow_compose_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ow_compose_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ow_compose_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ow_compose_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_ow_compose_init_process(ngx_cycle_t *cycle);
static void ngx_http_ow_compose_exit_process(ngx_cycle_t *cycle);
static void ngx_http_ow_compose_next(ngx_http_ow_compose_flow_t *f);
static void ngx_http_ow_compose_finish(ngx_http_ow_compose_flow_t *f);

static ngx_command_t  ngx_http_ow_compose_commands[] = {

    { ngx_string("ow_compose_uri"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ow_compose_main_conf_t, uri),
      NULL },

    { ngx_string("ow_compose_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ow_compose_main_conf_t, retention),
      NULL },

    { ngx_string("ow_compose_trust"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ow_compose_loc_conf_t, trust),
      NULL },

      ngx_null_command
};

static ngx_http_module_t  ngx_http_ow_compose_module_ctx = {
    ngx_http_ow_compose_add_variables,     /* preconfiguration */
    NULL,                                  /* postconfiguration */
    ngx_http_ow_compose_create_main_conf,  /* create main configuration */
    ngx_http_ow_compose_init_main_conf,    /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_ow_compose_create_loc_conf,   /* create location configuration */
    ngx_http_ow_compose_merge_loc_conf     /* merge location configuration */
};

ngx_module_t  ngx_http_ow_compose_module = {
    NGX_MODULE_V1,
    &ngx_http_ow_compose_module_ctx,       /* module context */
    ngx_http_ow_compose_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ow_compose_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ow_compose_exit_process,      /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};

/* ---- helpers ---- */

static int64_t
ngx_http_ow_compose_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();
    return (int64_t) tp->sec * 1000 + tp->msec;
}

static ngx_table_elt_t *
ngx_http_ow_compose_header(ngx_list_t *headers, const char *name)
{
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_uint_t        i;
    size_t            len;

    len = ngx_strlen(name);
    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }
        if (h[i].hash && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}

static ngx_uint_t
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

static ngx_uint_t
ngx_http_ow_compose_trusted(ngx_http_request_t *r)
{
    ngx_http_ow_compose_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_compose_module);
    return clcf->trust == 1;
}

/* a header the trusted (internal) listener believes, else NULL */
static ngx_table_elt_t *
ngx_http_ow_compose_trusted_header(ngx_http_request_t *r, const char *name)
{
    if (r != r->main || !ngx_http_ow_compose_trusted(r)) {
        return NULL;
    }
    return ngx_http_ow_compose_header(&r->headers_in.headers, name);
}

ngx_uint_t
ngx_http_ow_compose_plain(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_http_ow_compose_trusted_header(r, "X-OW-Compose-Plain");
    return h != NULL && h->value.len == 1 && h->value.data[0] == '1';
}

ngx_int_t
ngx_http_ow_compose_run_as(ngx_http_request_t *r, ngx_str_t *ns)
{
    ngx_table_elt_t  *h;

    h = ngx_http_ow_compose_trusted_header(r, "X-OW-Run-As");
    if (h == NULL || h->value.len == 0 || h->value.len > 256
        || ngx_strlchr(h->value.data, h->value.data + h->value.len, '/'))
    {
        return NGX_DECLINED;
    }
    *ns = h->value;
    return NGX_OK;
}

static void
ngx_http_ow_compose_cleanup(void *data)
{
    ngx_http_ow_compose_flow_t  *f = data;

    /* the request goes (e.g. terminated): nothing of the flow may stay */
    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }
    if (f->step.posted) {
        ngx_delete_posted_event(&f->step);
    }
    if (f->write) {
        /* its fate is unknown: owed again (a second write is a no-op) */
        ngx_http_ow_redis_cancel(f->write);
        f->write = NULL;
        ngx_http_ow_redis_owe(f->record_cmd, f->record_len);
    }
    free(f->record_cmd);
    f->record_cmd = NULL;
    if (f->acc_init) {
        ow_compose_free(&f->acc);
        f->acc_init = 0;
    }
    free(f->component);
    f->component = NULL;
    json_decref(f->params);
    f->params = NULL;
    json_decref(f->doc);
    f->doc = NULL;
    if (f->web) {
        ow_web_free(f->web);
        f->web = NULL;
    }
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
static ngx_int_t
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
static void
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

static void
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
static void
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

    h = ngx_http_ow_compose_header(&sr->headers_out.headers,
                                   "x-openwhisk-activation-id");
    if (h && ngx_http_ow_compose_id_valid(&h->value)) {
        ngx_memcpy(f->answer_id, h->value.data, 32);
        f->answer_id[32] = '\0';
    }
    h = ngx_http_ow_compose_header(&sr->headers_out.headers,
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

static void
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
static void
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
static void
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

/* ---- the start ---- */

static ngx_int_t
ngx_http_ow_compose_query(ngx_http_ow_compose_flow_t *f)
{
    ngx_http_request_t  *r = f->request;
    ngx_str_t            v;
    ngx_int_t            t;

    f->blocking = ngx_http_arg(r, (u_char *) "blocking", 8, &v) == NGX_OK
                  && v.len == 4 && ngx_strncmp(v.data, "true", 4) == 0;
    f->result_only = ngx_http_arg(r, (u_char *) "result", 6, &v) == NGX_OK
                     && v.len == 4 && ngx_strncmp(v.data, "true", 4) == 0;
    f->wait = 60000;

    if (ngx_http_arg(r, (u_char *) "timeout", 7, &v) == NGX_OK) {
        t = ngx_atoi(v.data, v.len);
        if (t < 1 || t > 60000) {
            return NGX_DECLINED;
        }
        f->wait = (ngx_msec_t) t;
    }
    return NGX_OK;
}

/*
 * The invoke body as an object; NULL if it is not, with *why changed when
 * the sidecar's words for a plain action's body (invoke_handler.cc) differ.
 */
static json_t *
ngx_http_ow_compose_params(ngx_http_request_t *r, const char **why)
{
    u_char       *data;
    size_t        len;
    json_t       *o;
    json_error_t  err;

    if (ngx_http_ow_read_body(r, &data, &len) != NGX_OK) {
        return NULL;
    }
    if (len == 0) {
        return json_object();
    }

    /* "\u0000" is a character like any other (a plain action takes it) */
    o = json_loadb((char *) data, len, JSON_ALLOW_NUL, &err);
    /* jansson stops at JSON_PARSER_MAX_DEPTH, 2048, as the sidecar does */
    if (o == NULL && json_error_code(&err) == json_error_stack_overflow) {
        *why = "The request content was malformed:\n"
               "JSON nested deeper than 2048 levels.";
    }
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/*
 * A web request: shaped into the arguments (*params), or answered here
 * without running (not exported, OPTIONS, require-whisk-auth, a bad
 * argument): NGX_DONE. NGX_ERROR: out of memory.
 */
static ngx_int_t
ngx_http_ow_compose_web(ngx_http_ow_compose_flow_t *f, json_t **params)
{
    static ngx_str_t            uri_var = ngx_string("ow_web_uri");
    ngx_http_request_t         *r = f->request;
    ngx_http_variable_value_t  *uri;
    ngx_list_part_t            *part;
    ngx_table_elt_t            *h;
    ow_web_header_t            *hs;
    ow_web_request_t            req;
    ngx_uint_t                  i, n;
    char                       *subject, *user;
    const char                 *args;
    u_char                     *body, *p;
    size_t                      len;

    ngx_memzero(&req, sizeof(req));

    if (ngx_http_ow_read_body(r, &body, &len) != NGX_OK) {
        return NGX_ERROR;
    }
    req.body = (char *) body;
    req.body_len = len;
    req.method = (char *) r->method_name.data;
    req.method_len = r->method_name.len;
    req.tid = (char *) f->id;
    req.tid_len = 32;

    /* as web_proxy.conf sends it to a sidecar: $ow_web_uri$is_args$args */
    uri = ngx_http_get_variable(r, &uri_var,
                                ngx_hash_key(uri_var.data, uri_var.len));
    if (uri == NULL || uri->not_found) {
        req.uri = "";
    } else {
        p = ngx_pnalloc(r->pool, uri->len + 1 + r->args.len);
        if (p == NULL) {
            return NGX_ERROR;
        }
        req.uri = (char *) p;
        p = ngx_cpymem(p, uri->data, uri->len);
        if (r->args.len) {
            *p++ = '?';
            p = ngx_cpymem(p, r->args.data, r->args.len);
        }
        req.uri_len = p - (u_char *) req.uri;
    }

    /* the caller's namespace when its key was valid (auth optional) */
    if (ngx_http_ow_auth_identity(r, &subject, &user) == NGX_OK) {
        req.user = user;
        req.user_len = ngx_strlen(user);
    }

    n = 0;
    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }
    /* ngx_palloc: aligned (ngx_pnalloc is for strings) */
    hs = ngx_palloc(r->pool, (n ? n : 1) * sizeof(ow_web_header_t));
    if (hs == NULL) {
        return NGX_ERROR;
    }
    n = 0;
    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0) {
                continue;
            }
            hs[n].name = (char *) h[i].key.data;
            hs[n].name_len = h[i].key.len;
            hs[n].value = (char *) h[i].value.data;
            hs[n].value_len = h[i].value.len;
            n++;
        }
    }
    req.headers = hs;
    req.nheaders = n;

    f->web = ow_web_prepare(&req, (char *) f->web_facts, f->web_facts_len);
    if (f->web == NULL) {
        return NGX_ERROR;
    }

    if (!ow_web_runs(f->web)) {
        /* nothing ran: no activation id, no record */
        ngx_http_finalize_request(r,
            ngx_http_ow_compose_send_web(r, f->web, NULL));
        return NGX_DONE;
    }

    args = ow_web_arguments(f->web, &len);
    /* a query's %00 is "\u0000" in the arguments */
    *params = json_loadb(args, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(*params)) {
        json_decref(*params);
        *params = NULL;
        return NGX_ERROR;
    }

    /* a web action is a blocking invocation with the 60 s wait */
    f->blocking = 1;
    f->result_only = 0;
    f->wait = 60000;
    return NGX_OK;
}

static void
ngx_http_ow_compose_body(ngx_http_request_t *r)
{
    ngx_http_ow_compose_flow_t  *f;
    ngx_table_elt_t             *h;
    json_t                      *params;
    ngx_int_t                    rc;
    const char                  *why;

    f = ngx_http_get_module_ctx(r, ngx_http_ow_compose_module);
    why = "The request content was malformed:\nexpected a JSON object.";

    if (f->web_facts) {
        /* the query and body are the web action's arguments */
        rc = ngx_http_ow_compose_web(f, &params);
        if (rc == NGX_DONE) {
            return;
        }
        if (rc != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

    } else if (ngx_http_ow_compose_query(f) != NGX_OK) {
        rc = ngx_http_ow_send_error(r, NGX_HTTP_BAD_REQUEST,
                 "Timeout must be number of milliseconds up to 60000.");
        ngx_http_finalize_request(r, rc);
        return;

    } else {
        params = ngx_http_ow_compose_params(r, &why);
    }

    if (params == NULL) {
        rc = ngx_http_ow_send_error(r, NGX_HTTP_BAD_REQUEST, why);
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ow_compose_init(&f->acc, params, 0) != 0) {
        json_decref(params);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    f->acc_init = 1;

    /* inside another sequence (the trusted listener only) */
    h = ngx_http_ow_compose_trusted_header(r, "X-OW-Cause");
    if (h && ngx_http_ow_compose_id_valid(&h->value)) {
        ngx_memcpy(f->cause, h->value.data, 32);
        f->cause[32] = '\0';
        f->nested = 1;
        /* inner sequences are blocking by definition, with no wait limit */
        f->blocking = 1;
        f->result_only = 0;
        h = ngx_http_ow_compose_trusted_header(r, "X-OW-Atomic-Count");
        if (h) {
            rc = ngx_atoi(h->value.data, h->value.len);
            f->acc.atomic = rc > 0 ? (int) rc : 0;
        }
    }

    f->timer.handler = ngx_http_ow_compose_wait_expired;
    f->timer.data = f;
    f->timer.log = r->connection->log;
    f->step.handler = ngx_http_ow_compose_stepped;
    f->step.data = f;
    f->step.log = r->connection->log;

    r->read_event_handler = ngx_http_block_reading;

    if (!f->blocking) {
        ngx_http_ow_compose_accepted(f);
    } else if (!f->nested) {
        ngx_add_timer(&f->timer, f->wait);
    }

    if (f->kind == NGX_HTTP_OW_COMPOSE_CONDUCTOR) {
        ngx_http_ow_compose_call_conductor(f, params);
    } else {
        json_decref(params);
        ngx_http_ow_compose_next(f);
    }

    /*
     * The count ngx_http_read_client_request_body took is the flow's hold:
     * ngx_http_ow_compose_release gives it back.
     */
}

static ngx_int_t
ngx_http_ow_compose_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_read_client_request_body(r, ngx_http_ow_compose_body);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }
    return NGX_DONE;
}

ngx_int_t
ngx_http_ow_compose_start(ngx_http_request_t *r, ngx_str_t *action,
    ngx_uint_t kind, u_char *doc, size_t len, u_char *web, size_t web_len)
{
    static ngx_str_t             rid = ngx_string("request_id");
    ngx_http_ow_compose_flow_t  *f;
    ngx_http_variable_value_t   *id;
    ngx_pool_cleanup_t          *cln;
    char                        *subject, *ns;
    u_char                      *slash;

    if (web) {
        /*
         * A web action runs as its owner, the namespace of the action key
         * (for a web request, always the owner's: ow_invoke_web).
         */
        slash = ngx_strlchr(action->data, action->data + action->len, '/');
        if (slash == NULL) {
            return NGX_ERROR;
        }
        ns = ngx_pnalloc(r->pool, slash - action->data + 1);
        if (ns == NULL) {
            return NGX_ERROR;
        }
        ngx_cpystrn((u_char *) ns, action->data, slash - action->data + 1);
        subject = ns;

    } else if (ngx_http_ow_auth_identity(r, &subject, &ns) != NGX_OK) {
        return NGX_ERROR;
    }

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_ow_compose_flow_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (f == NULL || cln == NULL) {
        return NGX_ERROR;
    }
    /* whatever happens to the request, nothing of the flow stays */
    cln->handler = ngx_http_ow_compose_cleanup;
    cln->data = f;
    f->request = r;
    f->kind = kind;
    f->ns = ns;
    f->subject = subject;
    f->start = ngx_http_ow_compose_now();
    f->accept = (int64_t) r->start_sec * 1000 + r->start_msec;
    f->web_facts = web;
    f->web_facts_len = web_len;

    f->action.len = action->len;
    f->action.data = ngx_pnalloc(r->pool, action->len + 1);
    if (f->action.data == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(f->action.data, action->data, action->len);
    f->action.data[action->len] = '\0';

    /* the activation id is the request id, as on the invoke path */
    id = ngx_http_get_variable(r, &rid, ngx_hash_key(rid.data, rid.len));
    if (id == NULL || id->not_found || id->len != 32) {
        return NGX_ERROR;
    }
    ngx_memcpy(f->id, id->data, 32);
    f->id[32] = '\0';

    if (kind == NGX_HTTP_OW_COMPOSE_SEQUENCE) {
        f->doc = json_loadb((char *) doc, len, 0, NULL);
        f->components = json_object_get(f->doc, "components");
        if (!json_is_array(f->components)) {
            json_decref(f->doc);
            f->doc = NULL;
            return NGX_ERROR;
        }
    }

    ngx_http_set_ctx(r, f, ngx_http_ow_compose_module);
    r->content_handler = ngx_http_ow_compose_handler;
    return NGX_OK;
}

/*
 * Variables: $ow_cause (X-OW-Cause as the trusted listener received it,
 * for the sidecar; empty elsewhere, so clients cannot set it) and, in the
 * component subrequests, $ow_compose_cause, $ow_compose_count,
 * $ow_compose_plain, $ow_compose_run_as and $ow_compose_authorization (the
 * headers the component request carries: compose_proxy.conf).
 */

static ngx_int_t
ngx_http_ow_compose_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_ow_compose_flow_t  *f;
    ngx_table_elt_t             *h;
    ngx_str_t                    owner;

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->len = 0;
    v->data = (u_char *) "";

    if (data == 0) {
        h = ngx_http_ow_compose_trusted_header(r->main, "X-OW-Cause");
        if (h && ngx_http_ow_compose_id_valid(&h->value)) {
            v->data = h->value.data;
            v->len = 32;
        }
        return NGX_OK;
    }

    f = ngx_http_get_module_ctx(r->main, ngx_http_ow_compose_module);
    if (f == NULL || r == r->main) {
        return NGX_OK;
    }

    switch (data) {
    case 4:
        /*
         * A web action's components run as its owner, and so do those of
         * a sequence nested in one (it runs as the owner already)
         */
        if (f->web) {
            v->data = (u_char *) f->ns;
            v->len = ngx_strlen(f->ns);
        } else if (ngx_http_ow_compose_run_as(r->main, &owner) == NGX_OK) {
            v->data = owner.data;
            v->len = owner.len;
        }
        break;
    case 5:
        /*
         * The caller's credentials, for a component run as the caller; none
         * for one run as a web action's owner: the anonymous client's key
         * (if it sent one) is not the owner's, and no action gets it
         */
        if (f->web == NULL
            && ngx_http_ow_compose_run_as(r->main, &owner) != NGX_OK
            && r->main->headers_in.authorization)
        {
            v->data = r->main->headers_in.authorization->value.data;
            v->len = r->main->headers_in.authorization->value.len;
        }
        break;
    case 1:
        v->data = f->id;
        v->len = 32;
        break;
    case 2:
        v->data = f->count;
        v->len = f->count_len;
        break;
    default:
        if (f->plain) {
            v->data = (u_char *) "1";
            v->len = 1;
        }
        break;
    }
    return NGX_OK;
}

static ngx_int_t
ngx_http_ow_compose_add_variables(ngx_conf_t *cf)
{
    static ngx_str_t      names[] = {
        ngx_string("ow_cause"), ngx_string("ow_compose_cause"),
        ngx_string("ow_compose_count"), ngx_string("ow_compose_plain"),
        ngx_string("ow_compose_run_as"), ngx_string("ow_compose_authorization")
    };
    ngx_http_variable_t  *var;
    ngx_uint_t            i;

    for (i = 0; i < 6; i++) {
        var = ngx_http_add_variable(cf, &names[i], NGX_HTTP_VAR_NOCACHEABLE);
        if (var == NULL) {
            return NGX_ERROR;
        }
        var->get_handler = ngx_http_ow_compose_variable;
        var->data = i;
    }
    return NGX_OK;
}

/* ---- entity events: the router forgets what changed ---- */

static redisAsyncContext  *ngx_http_ow_compose_sub;
static ngx_event_t         ngx_http_ow_compose_reconnect;
static ngx_msec_t          ngx_http_ow_compose_backoff;

static void
ngx_http_ow_compose_on_event(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply   *r = reply;
    json_t       *o;
    const char   *ns, *coll, *path;
    u_char        action[OW_COMPOSE_COMPONENTS_MAX / 16];
    size_t        n;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3
        || r->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    if (ngx_strcmp(r->element[0]->str, "subscribe") == 0) {
        /* (re)subscribed: changes while away are unknown, forget all */
        ngx_http_ow_compose_backoff = 0;
        ngx_http_ow_redis_reachable();
        ngx_http_ow_router_forget(NULL, 0);
        return;
    }

    if (ngx_strcmp(r->element[0]->str, "message") != 0
        || r->element[2]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    o = json_loadb(r->element[2]->str, r->element[2]->len, 0, NULL);
    ns = json_string_value(json_object_get(o, "ns"));
    coll = json_string_value(json_object_get(o, "coll"));
    path = json_string_value(json_object_get(o, "path"));

    if (ns && path && coll && ngx_strcmp(coll, "actions") == 0) {
        n = ngx_snprintf(action, sizeof(action), "%s/%s", ns, path)
            - action;
        if (n < sizeof(action)) {
            ngx_http_ow_router_forget(action, n);
        }
    }
    json_decref(o);
}

static void ngx_http_ow_compose_subscribe(ngx_event_t *ev);

static void
ngx_http_ow_compose_sub_lost(const redisAsyncContext *ac, int status)
{
    if (ac != ngx_http_ow_compose_sub) {
        return;
    }
    ngx_http_ow_compose_sub = NULL;

    if (ngx_terminate || ngx_exiting || ngx_quit) {
        return;
    }

    /* what changes meanwhile is unknown: the memory goes now */
    ngx_http_ow_router_forget(NULL, 0);

    ngx_http_ow_compose_backoff = ngx_min(
        ngx_max(ngx_http_ow_compose_backoff * 2, 100), 5000);
    if (!ngx_http_ow_compose_reconnect.timer_set) {
        ngx_add_timer(&ngx_http_ow_compose_reconnect,
                      ngx_http_ow_compose_backoff);
    }
}

static void
ngx_http_ow_compose_sub_connected(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        /* hiredis frees ac after this and calls no disconnect callback */
        ngx_http_ow_compose_sub_lost(ac, status);
    }
}

static void
ngx_http_ow_compose_subscribe(ngx_event_t *ev)
{
    redisAsyncContext  *ac;

    if (ngx_http_ow_compose_sub || ngx_exiting || ngx_terminate) {
        return;
    }

    ac = ngx_http_ow_redis_open(ngx_http_ow_compose_sub_connected,
                                ngx_http_ow_compose_sub_lost);
    if (ac == NULL) {
        ngx_http_ow_compose_backoff = ngx_min(
            ngx_max(ngx_http_ow_compose_backoff * 2, 100), 5000);
        ngx_add_timer(&ngx_http_ow_compose_reconnect,
                      ngx_http_ow_compose_backoff);
        return;
    }

    ngx_http_ow_compose_sub = ac;
    redisAsyncCommand(ac, ngx_http_ow_compose_on_event, NULL,
                      "SUBSCRIBE " OW_CHANNEL_EVENTS);
}

static ngx_int_t
ngx_http_ow_compose_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ow_compose_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_ow_compose_module);
    if (cmcf == NULL || cmcf->uri.len == 0) {
        return NGX_OK;
    }

    ngx_http_ow_compose_reconnect.handler = ngx_http_ow_compose_subscribe;
    ngx_http_ow_compose_reconnect.log = cycle->log;
    ngx_http_ow_compose_reconnect.data = NULL;
    /* the subscriber must not keep a worker from exiting */
    ngx_http_ow_compose_reconnect.cancelable = 1;

    ngx_http_ow_compose_subscribe(&ngx_http_ow_compose_reconnect);
    return NGX_OK;
}

static void
ngx_http_ow_compose_exit_process(ngx_cycle_t *cycle)
{
    redisAsyncContext  *ac;

    ac = ngx_http_ow_compose_sub;
    ngx_http_ow_compose_sub = NULL;
    if (ac) {
        redisAsyncFree(ac);
    }
}

/* ---- configuration ---- */

static void *
ngx_http_ow_compose_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ow_compose_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_compose_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }
    cmcf->retention = NGX_CONF_UNSET;
    return cmcf;
}

static char *
ngx_http_ow_compose_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ow_compose_main_conf_t  *cmcf = conf;

    if (cmcf->retention == NGX_CONF_UNSET) {
        cmcf->retention = OW_ACTIVATION_RETENTION_DEFAULT;
    }
    if (cmcf->uri.len && cmcf->uri.data[cmcf->uri.len - 1] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ow_compose_uri \"%V\" must end with \"/\"",
                           &cmcf->uri);
        return NGX_CONF_ERROR;
    }
    return NGX_CONF_OK;
}

static void *
ngx_http_ow_compose_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ow_compose_loc_conf_t  *clcf;

    clcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_compose_loc_conf_t));
    if (clcf == NULL) {
        return NULL;
    }
    clcf->trust = NGX_CONF_UNSET;
    return clcf;
}

static char *
ngx_http_ow_compose_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ow_compose_loc_conf_t  *prev = parent;
    ngx_http_ow_compose_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->trust, prev->trust, 0);
    return NGX_CONF_OK;
}
