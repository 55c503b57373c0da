/*
 * ngx_http_ow_api_module.c: serves the OpenWhisk management API from the
 * nginx-free engine (ow_api.h): reads the body, runs the engine's Redis
 * steps on the worker's shared Redis connection, sends the answer.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ow_api.h"
#include "ngx_http_ow_auth.h"
#include "ngx_http_ow_redis.h"
#include "ngx_http_ow_compose.h"

typedef struct {
    ngx_str_t                 runtimes;     /* path of the runtimes file */
    ngx_str_t                 build;
    ow_config_t               conf;
} ngx_http_ow_api_main_conf_t;

typedef struct {
    ngx_flag_t                enable;
} ngx_http_ow_api_loc_conf_t;

typedef struct {
    ngx_http_request_t       *request;
    ow_op_t                  *op;
    ngx_http_ow_redis_op_t   *redis;
} ngx_http_ow_api_ctx_t;

static ngx_int_t ngx_http_ow_api_handler(ngx_http_request_t *r);
static void *ngx_http_ow_api_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ow_api_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ow_api_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ow_api_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ow_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

static ngx_command_t  ngx_http_ow_api_commands[] = {

    { ngx_string("ow_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ow_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
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

      ngx_null_command
};

static ngx_http_module_t  ngx_http_ow_api_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */
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

static void
ngx_http_ow_api_finish(ngx_http_ow_api_ctx_t *ctx)
{
    static ngx_str_t            name = ngx_string("request_id");
    ngx_http_request_t         *r = ctx->request;
    ngx_http_variable_value_t  *id;
    char                       *body, *rid;
    size_t                      len;
    ngx_int_t                   rc;
    const char                 *type, *aid;
    ngx_table_elt_t            *h;

    id = ngx_http_get_variable(r, &name, ngx_hash_key(name.data, name.len));
    rid = NULL;
    if (id && !id->not_found) {
        rid = ngx_pnalloc(r->pool, id->len + 1);
        if (rid) {
            ngx_memcpy(rid, id->data, id->len);
            rid[id->len] = '\0';
        }
    }

    body = ow_op_response_body(ctx->op, rid, &len);
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
    if (aid) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h) {
            h->hash = 1;
            ngx_str_set(&h->key, "x-openwhisk-activation-id");
            h->value.len = ngx_strlen(aid);
            h->value.data = ngx_pnalloc(r->pool, h->value.len);
            if (h->value.data) {
                ngx_memcpy(h->value.data, aid, h->value.len);
            } else {
                h->hash = 0;
            }
        }
    }

    ngx_http_ow_api_changed(ctx->op);

    rc = ngx_http_ow_send(r, ctx->op->status, type, body, len);
    free(body);

    ngx_http_finalize_request(r, rc);
}

static void
ngx_http_ow_api_reply(void *data, redisReply *reply)
{
    ngx_http_ow_api_ctx_t  *ctx = data;
    ngx_connection_t       *c;
    int                     rc;

    ctx->redis = NULL;
    c = ctx->request->connection;

    rc = ow_api_resume(ctx->op, reply);
    ngx_http_ow_api_step(ctx, rc);

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
     * Parsing a large body can hold the worker for a second or more: the
     * Redis deadline must start now, not at the cached time.
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

static ngx_int_t
ngx_http_ow_api_read_body(ngx_http_request_t *r, ngx_http_ow_api_ctx_t *ctx)
{
    u_char  *body;
    size_t   len;

    if (ngx_http_ow_read_body(r, &body, &len) != NGX_OK) {
        return NGX_ERROR;
    }
    if (len) {
        ctx->op->body = (const char *) body;
        ctx->op->body_len = len;
    }
    return NGX_OK;
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

    if (ngx_http_ow_api_read_body(r, ctx) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
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
    ngx_http_ow_api_step(ctx, ow_api_start(op));
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
    return NGX_CONF_OK;
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
