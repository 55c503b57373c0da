/*
 * ngx_http_ow_compose_module.c: sequences and conductor actions, run in the
 * gateway (openwhisk-api.md §4 "Sequences", DESIGN.md).
 *
 * The router finds out that an action is a sequence or a conductor action
 * (the pool-manager's capacity answer, remembered in the router's shared
 * memory) and makes this module the request's content handler. The driver
 * then runs the components one after the other, each as a normal
 * activation through the normal invoke path: a background subrequest
 * (its answer copied as it passes, ngx_http_ow_compose_flow.c) to
 * ow_compose_uri (a proxy location) that reaches this same
 * nginx's internal-only listener, where auth, router, warm table, cold
 * start and sidecar do what they do for any invocation, the caller's
 * Authorization header included; only ow_limit is not there: the sequence
 * was counted once, at the public entry. The component's sidecar writes
 * its record with "cause" (header X-OW-Cause) and answers the whole record;
 * the driver accounts (ow_compose.c), queues the sequence's own record
 * for the worker's next batch to Redis (ngx_http_ow_records.c) and
 * answers like the sidecar does (§5).
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
 * queued. A non-blocking invoke (or a blocking one past its wait) gets its
 * 202 at once, with "Connection: close", and the flow goes on: component
 * subrequests are background ones, so the answer is not held behind them.
 *
 * This file: the module's form, the start of a flow (the request's
 * arguments, a web request's shaping) and the variables;
 * the flow runs in ngx_http_ow_compose_flow.c (ngx_http_ow_compose_flow.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ow_compose.h"
#include "ow_schema.h"
#include "libow/ow_web.h"
#include "ngx_http_ow_http.h"
#include "ngx_http_ow_auth.h"
#include "ngx_http_ow_compose.h"
#include "ngx_http_ow_compose_flow.h"
#include "ngx_http_ow_trust.h"

static ngx_int_t ngx_http_ow_compose_add_variables(ngx_conf_t *cf);
static void *ngx_http_ow_compose_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ow_compose_init_main_conf(ngx_conf_t *cf, void *conf);

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

      ngx_null_command
};

static ngx_http_module_t  ngx_http_ow_compose_module_ctx = {
    ngx_http_ow_compose_add_variables,     /* preconfiguration */
    ngx_http_ow_compose_init_filters,      /* postconfiguration */
    ngx_http_ow_compose_create_main_conf,  /* create main configuration */
    ngx_http_ow_compose_init_main_conf,    /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};

ngx_module_t  ngx_http_ow_compose_module = {
    NGX_MODULE_V1,
    &ngx_http_ow_compose_module_ctx,       /* module context */
    ngx_http_ow_compose_commands,          /* module directives */
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

/* ---- helpers ---- */

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
    h = ngx_http_ow_trusted_header(r, "X-OW-Cause");
    if (h && ngx_http_ow_compose_id_valid(&h->value)) {
        ngx_memcpy(f->cause, h->value.data, 32);
        f->cause[32] = '\0';
        f->nested = 1;
        /* inner sequences are blocking by definition, with no wait limit */
        f->blocking = 1;
        f->result_only = 0;
        h = ngx_http_ow_trusted_header(r, "X-OW-Atomic-Count");
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
        h = ngx_http_ow_trusted_header(r->main, "X-OW-Cause");
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
        } else if (ngx_http_ow_trusted_run_as(r->main, &owner) == NGX_OK) {
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
            && ngx_http_ow_trusted_run_as(r->main, &owner) != NGX_OK
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

time_t
ngx_http_ow_compose_retention(ngx_cycle_t *cycle)
{
    ngx_http_ow_compose_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_ow_compose_module);
    return (cmcf && cmcf->retention != NGX_CONF_UNSET)
           ? cmcf->retention : OW_ACTIVATION_RETENTION_DEFAULT;
}

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
