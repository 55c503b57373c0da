/*
 * ngx_http_ow_api_module.c: serves the OpenWhisk management API from the
 * nginx-free engine (ow_api.h): reads the body, runs the engine's Redis
 * steps on the worker's shared Redis connection, sends the answer.
 *
 * An op that moves megabytes (a 48 MiB action PUT or GET: the parse, the
 * code's pieces, the answer's serialization) runs its steps on a thread
 * pool (ow_api_thread_pool), as nginx's own "aio threads" reads files:
 * on the event loop it held every other request of the worker for
 * seconds. Small ops stay on the event loop, where they cost less than a
 * thread hand-off.
 *
 * A WebSocket connection's request (push, close, read) is answered by the
 * sidecar holding the connection: the engine names its container, found
 * here in the router's warm table, and the request, body read, goes on to
 * the ow_api_connections location with $ow_connection_peer set.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif

#include "ow_api.h"
#include "ngx_http_ow_http.h"
#include "ngx_http_ow_auth.h"
#include "ngx_http_ow_invoke.h"
#include "ngx_http_ow_limit.h"
#include "ngx_http_ow_redis.h"
#include "ngx_http_ow_compose.h"

/* a body this big is parsed off the event loop */
#define NGX_HTTP_OW_API_HEAVY_BODY  (1024 * 1024)

typedef struct {
    ngx_str_t                 runtimes;     /* path of the runtimes file */
    ngx_str_t                 build;
    ngx_str_t                 thread_pool_name;
#if (NGX_THREADS)
    ngx_thread_pool_t        *thread_pool;
#endif
    ow_config_t               conf;
    /* $ow_connection_peer, $ow_connection_id: set before the redirect */
    ngx_int_t                 peer_index;
    ngx_int_t                 id_index;
} ngx_http_ow_api_main_conf_t;

typedef struct {
    ngx_flag_t                enable;
    ngx_str_t                 connections;  /* "@name", or "" */
} ngx_http_ow_api_loc_conf_t;

typedef struct {
    ngx_http_request_t       *request;
    ow_op_t                  *op;
    ngx_http_ow_redis_op_t   *redis;
    char                     *request_id;   /* for error bodies */

    /* a step on the thread pool: its input and output */
    redisReply               *reply;        /* a copy; NULL: the first */
    int                       rc;
    char                     *answer;       /* serialized when rc is DONE */
    size_t                    answer_len;
    char                     *body;         /* malloc()ed request body */
    unsigned                  running:1;
#if (NGX_THREADS)
    ngx_thread_task_t        *task;
#endif
} ngx_http_ow_api_ctx_t;

static ngx_int_t ngx_http_ow_api_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ow_api_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_ow_api_init(ngx_conf_t *cf);
static void *ngx_http_ow_api_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ow_api_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ow_api_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ow_api_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ow_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_ow_api_connections(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static ngx_command_t  ngx_http_ow_api_commands[] = {

    { ngx_string("ow_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ow_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ow_api_connections"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ow_api_connections,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ow_api_loc_conf_t, connections),
      NULL },

    { ngx_string("ow_api_runtimes"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ow_api_main_conf_t, runtimes),
      NULL },

    { ngx_string("ow_api_build"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ow_api_main_conf_t, build),
      NULL },

    { ngx_string("ow_api_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ow_api_main_conf_t, thread_pool_name),
      NULL },

      ngx_null_command
};

static ngx_http_module_t  ngx_http_ow_api_module_ctx = {
    ngx_http_ow_api_add_variables,         /* preconfiguration */
    ngx_http_ow_api_init,                  /* postconfiguration */
    ngx_http_ow_api_create_main_conf,      /* create main configuration */
    ngx_http_ow_api_init_main_conf,        /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_ow_api_create_loc_conf,       /* create location configuration */
    ngx_http_ow_api_merge_loc_conf         /* merge location configuration */
};

ngx_module_t  ngx_http_ow_api_module = {
    NGX_MODULE_V1,
    &ngx_http_ow_api_module_ctx,           /* module context */
    ngx_http_ow_api_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};

static void ngx_http_ow_api_step(ngx_http_ow_api_ctx_t *ctx, int rc);

static void
ngx_http_ow_api_cleanup(void *data)
{
    ngx_http_ow_api_ctx_t  *ctx = data;

    /* the request is gone: a late Redis reply must not touch it */
    ngx_http_ow_redis_cancel(ctx->redis);
    ctx->redis = NULL;
    ow_op_free(ctx->op);
    ctx->op = NULL;
    if (ctx->reply) {
        freeReplyObject(ctx->reply);
        ctx->reply = NULL;
    }
    free(ctx->answer);
    ctx->answer = NULL;
    free(ctx->body);
    ctx->body = NULL;
}

/*
 * An action written or deleted here: this gateway's router forgets its
 * containers before the answer goes out, so the client's next invocation
 * gets the new code. The entity event does the same on every gateway a
 * moment later (ngx_http_ow_compose_module.c).
 */
static void
ngx_http_ow_api_changed(ow_op_t *op)
{
    u_char  action[1024];
    size_t  n;

    if (op->status != NGX_HTTP_OK
        || (op->method != OW_PUT && op->method != OW_DELETE)
        || op->ns == NULL || op->coll == NULL || op->path == NULL
        || ngx_strcmp(op->coll, "actions") != 0)
    {
        return;
    }

    n = ngx_snprintf(action, sizeof(action), "%s/%s", op->ns, op->path)
        - action;
    if (n < sizeof(action)) {
        ngx_http_ow_router_forget(action, n);
    }
}

/* a variable's value, set for the location the request moves to */
static ngx_int_t
ngx_http_ow_api_set_variable(ngx_http_request_t *r, ngx_int_t index,
    u_char *data, size_t len)
{
    ngx_http_variable_value_t  *v;
    u_char                     *p;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(p, data, len);

    /*
     * Indexed values outlive the redirect (module contexts do not); the
     * getter, asked only without one, says not found.
     */
    v = &r->variables[index];
    v->data = p;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    return NGX_OK;
}

/*
 * The op named the container whose sidecar answers (op->forward): the
 * request goes on to the ow_api_connections location, its body read, with
 * $ow_connection_peer its address. NGX_DECLINED: no such container here
 * (gone, or never in this gateway's table), or no such location.
 */
static ngx_int_t
ngx_http_ow_api_forward(ngx_http_ow_api_ctx_t *ctx)
{
    ngx_http_request_t           *r = ctx->request;
    ngx_http_ow_api_main_conf_t  *amcf;
    ngx_http_ow_api_loc_conf_t   *alcf;
    struct sockaddr_in            sin;
    u_char                        peer[NGX_SOCKADDR_STRLEN];
    size_t                        len;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ow_api_module);
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_api_module);

    if (alcf->connections.len == 0
        || ngx_http_ow_router_container((u_char *) ctx->op->forward,
                                        ngx_strlen(ctx->op->forward), &sin)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    len = ngx_sock_ntop((struct sockaddr *) &sin, sizeof(sin), peer,
                        sizeof(peer), 1);

    if (ngx_http_ow_api_set_variable(r, amcf->peer_index, peer, len)
           != NGX_OK
        || ngx_http_ow_api_set_variable(r, amcf->id_index,
                                        (u_char *) ctx->op->path,
                                        ngx_strlen(ctx->op->path))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ow api: connection %s -> container %s at %*s",
                   ctx->op->path, ctx->op->forward, len, peer);

    (void) ngx_http_named_location(r, &alcf->connections);
    ngx_http_finalize_request(r, NGX_DONE);
    return NGX_OK;
}

static void
ngx_http_ow_api_finish(ngx_http_ow_api_ctx_t *ctx)
{
    ngx_http_request_t  *r = ctx->request;
    char                *body;
    size_t               len, aid_len;
    ngx_int_t            rc;
    const char          *type, *aid;
    u_char              *copy;

    if (ctx->op->forward) {
        /* the thread pool serialized an empty answer: not sent */
        free(ctx->answer);
        ctx->answer = NULL;

        rc = ngx_http_ow_api_forward(ctx);
        if (rc == NGX_OK) {
            return;
        }
        if (rc == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
        (void) ow_not_found(ctx->op);
    }

    if (ctx->answer) {
        /* serialized on the thread pool */
        body = ctx->answer;
        len = ctx->answer_len;
        ctx->answer = NULL;
    } else {
        body = ow_op_response_body(ctx->op, ctx->request_id, &len);
    }
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    type = (ctx->op->out || ctx->op->text_is_json) ? "application/json"
                                                   : "text/plain";

    /* a trigger fire's 202 names its activation as invokes do (§0) */
    aid = (ctx->op->status == NGX_HTTP_ACCEPTED && ctx->op->out)
          ? json_string_value(json_object_get(ctx->op->out, "activationId"))
          : NULL;
    aid_len = aid ? ngx_strlen(aid) : 0;
    copy = aid ? ngx_pnalloc(r->pool, aid_len) : NULL;
    if (copy) {
        ngx_memcpy(copy, aid, aid_len);
        (void) ngx_http_ow_header_out(r, "x-openwhisk-activation-id", copy,
                                      aid_len);
    }

    ngx_http_ow_api_changed(ctx->op);

    rc = ngx_http_ow_send_owned(r, ctx->op->status, type, body, len);
    ngx_http_finalize_request(r, rc);
}

#if (NGX_THREADS)

/* a reply the thread can read after hiredis has freed its own */
static redisReply *
ngx_http_ow_api_reply_copy(const redisReply *r)
{
    redisReply  *c;
    size_t       i;

    c = calloc(1, sizeof(redisReply));
    if (c == NULL) {
        return NULL;
    }
    c->type = r->type;
    c->integer = r->integer;

    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_ERROR
        || r->type == REDIS_REPLY_STATUS)
    {
        c->str = malloc(r->len + 1);
        if (c->str == NULL) {
            free(c);
            return NULL;
        }
        ngx_memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }

    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        c->element = calloc(r->elements, sizeof(redisReply *));
        if (c->element == NULL) {
            free(c);
            return NULL;
        }
        c->elements = r->elements;
        for (i = 0; i < r->elements; i++) {
            c->element[i] = ngx_http_ow_api_reply_copy(r->element[i]);
            if (c->element[i] == NULL) {
                freeReplyObject(c);
                return NULL;
            }
        }
    }

    return c;
}

/* the request body in one malloc()ed piece (a part in a file is read) */
static ngx_int_t
ngx_http_ow_api_body_copy(ngx_http_request_t *r, ngx_http_ow_api_ctx_t *ctx)
{
    ssize_t  n;

    ctx->body = malloc(ngx_http_ow_body_size(r) + 1);
    if (ctx->body == NULL) {
        return NGX_ERROR;
    }
    n = ngx_http_ow_body_copy(r, (u_char *) ctx->body);
    if (n < 0) {
        return NGX_ERROR;
    }
    ctx->op->body = ctx->body;
    ctx->op->body_len = n;
    return NGX_OK;
}

/* runs on a pool thread: nothing here may touch nginx's state */
static void
ngx_http_ow_api_thread(void *data, ngx_log_t *log)
{
    ngx_http_ow_api_ctx_t  *ctx = *(ngx_http_ow_api_ctx_t **) data;
    ngx_http_request_t     *r = ctx->request;

    if (ctx->reply == NULL) {
        if (r->request_body && r->request_body->bufs
            && ngx_http_ow_api_body_copy(r, ctx) != NGX_OK)
        {
            ctx->rc = ow_error(ctx->op, 500, "cannot read the request body");
        } else {
            ctx->rc = ow_api_start(ctx->op);
        }
    } else {
        ctx->rc = ow_api_resume(ctx->op, ctx->reply);
        freeReplyObject(ctx->reply);
        ctx->reply = NULL;
    }

    if (ctx->rc == OW_STEP_DONE) {
        ctx->answer = ow_op_response_body(ctx->op, ctx->request_id,
                                          &ctx->answer_len);
    }
}

static void ngx_http_ow_api_step(ngx_http_ow_api_ctx_t *ctx, int rc);

/* the request's write handler while a step runs on the pool */
static void
ngx_http_ow_api_thread_resume(ngx_http_request_t *r)
{
    ngx_http_ow_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_api_module);
    if (ctx == NULL || ctx->running) {
        /* a write event before the step is done */
        return;
    }
    r->write_event_handler = ngx_http_request_empty_handler;
    ngx_http_ow_api_step(ctx, ctx->rc);
}

static void
ngx_http_ow_api_thread_done(ngx_event_t *ev)
{
    ngx_http_ow_api_ctx_t  *ctx = ev->data;
    ngx_http_request_t     *r = ctx->request;
    ngx_connection_t       *c = r->connection;

    r->main->blocked--;
    r->aio = 0;
    ctx->running = 0;

    /*
     * ours, or nginx's finalizer when the client went away meanwhile
     * (ngx_http_terminate_request waits for blocked requests)
     */
    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}

/* NGX_OK: the step runs on the pool; NGX_DECLINED: run it here */
static ngx_int_t
ngx_http_ow_api_offload(ngx_http_ow_api_ctx_t *ctx, const redisReply *reply)
{
    ngx_http_request_t           *r = ctx->request;
    ngx_http_ow_api_main_conf_t  *amcf;
    ngx_thread_task_t            *task;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ow_api_module);

    task = ctx->task;
    if (task == NULL) {
        task = ngx_thread_task_alloc(r->pool,
                                     sizeof(ngx_http_ow_api_ctx_t *));
        if (task == NULL) {
            return NGX_DECLINED;
        }
        *(ngx_http_ow_api_ctx_t **) task->ctx = ctx;
        task->handler = ngx_http_ow_api_thread;
        task->event.handler = ngx_http_ow_api_thread_done;
        task->event.data = ctx;
        ctx->task = task;
    }

    if (reply) {
        ctx->reply = ngx_http_ow_api_reply_copy(reply);
        if (ctx->reply == NULL) {
            return NGX_DECLINED;
        }
    }

    ctx->running = 1;
    if (ngx_thread_task_post(amcf->thread_pool, task) != NGX_OK) {
        /* the pool's queue is full: logged by nginx; do it here */
        ctx->running = 0;
        if (ctx->reply) {
            freeReplyObject(ctx->reply);
            ctx->reply = NULL;
        }
        return NGX_DECLINED;
    }

    r->main->blocked++;
    r->aio = 1;
    r->write_event_handler = ngx_http_ow_api_thread_resume;
    return NGX_OK;
}

#endif

/*
 * One engine step: the first (reply NULL) or the one taking a reply. A
 * heavy one goes to the thread pool when there is one.
 */
static void
ngx_http_ow_api_run(ngx_http_ow_api_ctx_t *ctx, const redisReply *reply)
{
    ngx_http_request_t  *r = ctx->request;
    size_t               len;
    u_char              *body;
    int                  rc;
#if (NGX_THREADS)

    len = reply == NULL ? ngx_http_ow_body_size(r) : 0;

    if (len >= NGX_HTTP_OW_API_HEAVY_BODY) {
        /* every step of it handles the parsed body (exec checks, dumps) */
        ctx->op->heavy = 1;
    }

    if (ctx->op->heavy && ngx_http_ow_api_offload(ctx, reply) == NGX_OK) {
        return;
    }
#endif

    if (reply != NULL) {
        rc = ow_api_resume(ctx->op, reply);
    } else if (ngx_http_ow_read_body(r, &body, &len) != NGX_OK) {
        rc = ow_error(ctx->op, 500, "cannot read the request body");
    } else {
        if (len) {
            ctx->op->body = (const char *) body;
            ctx->op->body_len = len;
        }
        rc = ow_api_start(ctx->op);
    }
    ngx_http_ow_api_step(ctx, rc);
}

static void
ngx_http_ow_api_reply(void *data, redisReply *reply)
{
    ngx_http_ow_api_ctx_t  *ctx = data;
    ngx_connection_t       *c;

    ctx->redis = NULL;
    c = ctx->request->connection;

    ngx_http_ow_api_run(ctx, reply);

    ngx_http_run_posted_requests(c);
}

static void
ngx_http_ow_api_step(ngx_http_ow_api_ctx_t *ctx, int rc)
{
    ngx_http_request_t  *r = ctx->request;

    if (rc == OW_STEP_DONE) {
        ngx_http_ow_api_finish(ctx);
        return;
    }

    /*
     * The step may have taken a while (a body parsed, on the pool or
     * here): the Redis deadline must start now, not at the cached time.
     */
    ngx_time_update();

    ctx->redis = ngx_http_ow_redis_send(r, ctx->op->cmd, ctx->op->cmd_len,
                                        ngx_http_ow_api_reply, ctx);
    if (ctx->redis == NULL) {
        /* Redis is down (or backing off): tell the client at once */
        rc = ow_api_resume(ctx->op, NULL);
        ngx_http_ow_api_finish(ctx);
    }
}

static ow_method_e
ngx_http_ow_api_method(ngx_uint_t m)
{
    switch (m) {
    case NGX_HTTP_GET:     return OW_GET;
    case NGX_HTTP_HEAD:    return OW_HEAD;
    case NGX_HTTP_PUT:     return OW_PUT;
    case NGX_HTTP_POST:    return OW_POST;
    case NGX_HTTP_DELETE:  return OW_DELETE;
    case NGX_HTTP_OPTIONS: return OW_OPTIONS;
    default:               return OW_OTHER;
    }
}

/*
 * The engine wants the path as the client sent it, so that an escaped "/"
 * ("%2F") inside a name is not taken for a separator, and "%25" is decoded
 * once. After a rewrite only the decoded r->uri is left.
 */
static void
ngx_http_ow_api_set_uri(ngx_http_request_t *r, ow_op_t *op)
{
    u_char  *p, *end, *q;

    if (!r->valid_unparsed_uri || r->unparsed_uri.len == 0) {
        op->uri = (const char *) r->uri.data;
        op->uri_len = r->uri.len;
        op->uri_decoded = 1;
        return;
    }

    p = r->unparsed_uri.data;
    end = p + r->unparsed_uri.len;

    if (*p != '/') {
        /* absolute form: "http://host/path" */
        q = ngx_strlcasestrn(p, end, (u_char *) "://", 3 - 1);
        p = q ? ngx_strlchr(q + 3, end, '/') : NULL;
        if (p == NULL) {
            op->uri = (const char *) r->uri.data;
            op->uri_len = r->uri.len;
            op->uri_decoded = 1;
            return;
        }
    }

    q = ngx_strlchr(p, end, '?');
    op->uri = (const char *) p;
    op->uri_len = (q ? q : end) - p;
    op->uri_decoded = 0;
}

static void
ngx_http_ow_api_body_read(ngx_http_request_t *r)
{
    static ngx_str_t              request_id = ngx_string("request_id");
    ngx_http_variable_value_t    *id;
    ngx_http_ow_api_main_conf_t  *amcf;
    ngx_http_ow_api_ctx_t        *ctx;
    ngx_pool_cleanup_t           *cln;
    ow_op_t                      *op;
    ngx_time_t                   *tp;
    char                         *subject, *ns;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ow_api_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ow_api_ctx_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    op = ow_op_create();
    if (ctx == NULL || cln == NULL || op == NULL) {
        ow_op_free(op);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->request = r;
    ctx->op = op;
    cln->handler = ngx_http_ow_api_cleanup;
    cln->data = ctx;
    ngx_http_set_ctx(r, ctx, ngx_http_ow_api_module);

    id = ngx_http_get_variable(r, &request_id,
                               ngx_hash_key(request_id.data,
                                            request_id.len));
    if (id && !id->not_found) {
        ctx->request_id = ngx_pnalloc(r->pool, id->len + 1);
        if (ctx->request_id) {
            ngx_memcpy(ctx->request_id, id->data, id->len);
            ctx->request_id[id->len] = '\0';
        }
    }

    op->method = ngx_http_ow_api_method(r->method);
    ngx_http_ow_api_set_uri(r, op);
    op->args = (const char *) r->args.data;
    op->args_len = r->args.len;
    tp = ngx_timeofday();
    op->now_ms = (int64_t) tp->sec * 1000 + tp->msec;
    op->conf = &amcf->conf;

    if (ngx_http_ow_auth_identity(r, &subject, &ns) == NGX_OK) {
        op->subject = subject;
        op->auth_ns = ns;
    }

    /* the engine may finish at once or ask for Redis */
    r->read_event_handler = ngx_http_test_reading;
    ngx_http_ow_api_run(ctx, NULL);
}

static ngx_int_t
ngx_http_ow_api_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method == NGX_HTTP_OPTIONS) {
        /* CORS preflight (openwhisk-api.md §0); headers come from conf */
        ngx_http_discard_request_body(r);
        return ngx_http_ow_send(r, NGX_HTTP_OK, "text/plain", "", 0);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_ow_api_body_read);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}

/* ---- configuration ---- */

static json_t *
ngx_http_ow_api_kinds(json_t *runtimes, json_t **defaults)
{
    json_t      *kinds, *family, *rt;
    const char  *fname, *kind;
    size_t       i;

    kinds = json_object();
    *defaults = json_object();

    json_object_foreach(runtimes, fname, family) {
        json_array_foreach(family, i, rt) {
            kind = json_string_value(json_object_get(rt, "kind"));
            if (kind == NULL) {
                continue;
            }
            json_object_set(kinds, kind, rt);
            if (json_is_true(json_object_get(rt, "default"))) {
                json_object_set_new(*defaults, fname, json_string(kind));
            }
        }
    }

    return kinds;
}

static void
ngx_http_ow_api_free_conf(void *data)
{
    ow_config_t  *conf = data;

    json_decref(conf->runtimes);
    json_decref(conf->kinds);
    json_decref(conf->family_default);
}

static void *
ngx_http_ow_api_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ow_api_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_api_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }
    return amcf;
}

static char *
ngx_http_ow_api_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ow_api_main_conf_t  *amcf = conf;
    ngx_pool_cleanup_t           *cln;
    json_error_t                  err;
    u_char                       *path;

    ow_limits_default(&amcf->conf.system_limits);

    if (amcf->build.len == 0) {
        ngx_str_set(&amcf->build, "owx");
    }
    amcf->conf.build = (const char *) ngx_pstrdup(cf->pool, &amcf->build);
    if (amcf->conf.build == NULL) {
        return NGX_CONF_ERROR;
    }
    ((char *) amcf->conf.build)[amcf->build.len] = '\0';

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }
    cln->handler = ngx_http_ow_api_free_conf;
    cln->data = &amcf->conf;

    if (amcf->runtimes.len == 0) {
        amcf->conf.runtimes = json_object();
    } else {
        if (ngx_conf_full_name(cf->cycle, &amcf->runtimes, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
        path = ngx_pnalloc(cf->pool, amcf->runtimes.len + 1);
        if (path == NULL) {
            return NGX_CONF_ERROR;
        }
        ngx_cpystrn(path, amcf->runtimes.data, amcf->runtimes.len + 1);

        amcf->conf.runtimes = json_load_file((char *) path, 0, &err);
        if (!json_is_object(amcf->conf.runtimes)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ow_api_runtimes \"%s\": %s (line %d)", path,
                               err.text, err.line);
            return NGX_CONF_ERROR;
        }
    }

    amcf->conf.kinds = ngx_http_ow_api_kinds(amcf->conf.runtimes,
                                             &amcf->conf.family_default);

    if (amcf->thread_pool_name.len == 0) {
        ngx_str_set(&amcf->thread_pool_name, "default");
    }
#if (NGX_THREADS)
    /* declared by "thread_pool", or made with nginx's defaults */
    amcf->thread_pool = ngx_thread_pool_add(cf, &amcf->thread_pool_name);
    if (amcf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }
#endif
    return NGX_CONF_OK;
}

static ngx_int_t
ngx_http_ow_api_unset_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    v->not_found = 1;
    return NGX_OK;
}

static ngx_int_t
ngx_http_ow_api_add_variables(ngx_conf_t *cf)
{
    static ngx_str_t              peer = ngx_string("ow_connection_peer");
    static ngx_str_t              id = ngx_string("ow_connection_id");
    ngx_http_ow_api_main_conf_t  *amcf;
    ngx_http_variable_t          *var;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ow_api_module);

    var = ngx_http_add_variable(cf, &peer, 0);
    if (var == NULL) {
        return NGX_ERROR;
    }
    var->get_handler = ngx_http_ow_api_unset_variable;
    amcf->peer_index = ngx_http_get_variable_index(cf, &peer);

    var = ngx_http_add_variable(cf, &id, 0);
    if (var == NULL) {
        return NGX_ERROR;
    }
    var->get_handler = ngx_http_ow_api_unset_variable;
    amcf->id_index = ngx_http_get_variable_index(cf, &id);

    return (amcf->peer_index == NGX_ERROR || amcf->id_index == NGX_ERROR)
           ? NGX_ERROR : NGX_OK;
}

/*
 * firesPerMinute is counted per minute like invocationsPerMinute: on the
 * same clock (ow_limit_clock_offset), read once every main conf is set
 */
static ngx_int_t
ngx_http_ow_api_init(ngx_conf_t *cf)
{
    ngx_http_ow_api_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ow_api_module);
    amcf->conf.clock_offset_ms =
        (int64_t) ngx_http_ow_limit_clock_offset_conf(cf) * 1000;
    return NGX_OK;
}

static void *
ngx_http_ow_api_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ow_api_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_api_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }
    alcf->enable = NGX_CONF_UNSET;
    return alcf;
}

static char *
ngx_http_ow_api_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ow_api_loc_conf_t  *prev = parent;
    ngx_http_ow_api_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_str_value(conf->connections, prev->connections, "");
    return NGX_CONF_OK;
}

static char *
ngx_http_ow_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ow_api_loc_conf_t  *alcf = conf;
    ngx_http_core_loc_conf_t    *clcf;

    if (alcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }
    alcf->enable = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ow_api_handler;
    return NGX_CONF_OK;
}

static char *
ngx_http_ow_api_connections(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value;

    value = cf->args->elts;
    if (value[1].len < 2 || value[1].data[0] != '@') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a named location (\"@name\")",
                           &value[1]);
        return NGX_CONF_ERROR;
    }
    return ngx_conf_set_str_slot(cf, cmd, conf);
}
