/*
 * ngx_http_ow_invoke.c: ow_invoke, the precontent handler of an
 * invocation. It resolves the action from the URI ("ns/path", or a web
 * action's owner's), then asks the warm table (ngx_http_ow_warm.c) whether
 * a container has room: if so the request goes on to proxy_pass and the
 * balancer (ngx_http_ow_balancer.c) with the container has_room chose.
 *
 * A miss (no container for the action, or all of them said 429 recently)
 * parks the request on a subrequest to the pool-manager's capacity API,
 * which answers once a container is ready; the answer goes into the table
 * at once (the event follows and is a no-op). Parked requests are bounded
 * per action. A sequence or conductor action goes to the compose driver
 * (ngx_http_ow_compose_module.c). The sidecar shapes the OpenWhisk
 * response; nginx proxies it.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ow_names.h"
#include "ngx_http_ow_http.h"
#include "ngx_http_ow_auth.h"
#include "ngx_http_ow_compose.h"
#include "ngx_http_ow_invoke.h"
#include "ngx_http_ow_trust.h"
#include "ngx_http_ow_metrics.h"
#include "ngx_http_ow_router.h"

/* ---- ow_invoke: resolve the action, make sure it has a container ---- */

/*
 * ow_invoke_web: "/_owweb/{ns}/{pkg}/{name}[.ext][/rest]" (the rewrite of
 * /api/v1/web/ in conf/nginx.conf) -> the owner's "ns/name" or
 * "ns/pkg/name" (pkg "default" = none). No identity is needed: a web
 * action runs as its owner; whether it is exported is the sidecar's
 * answer (sidecar/web_action.h), and an unknown one the pool-manager's 404.
 */
static ngx_int_t
ngx_http_ow_invoke_web_action(ngx_http_request_t *r,
    ngx_http_ow_router_ctx_t *ctx)
{
    static ngx_str_t  exts[] = {
        ngx_string(".json"), ngx_string(".html"), ngx_string(".http"),
        ngx_string(".svg"), ngx_string(".text")
    };
    u_char           *p, *end, *ns, *pkg, *name, *e;
    size_t            ns_len, pkg_len, name_len;
    ngx_uint_t        i;

    p = r->uri.data;
    end = p + r->uri.len;

    /* the location prefix, then {ns}/ and {pkg}/ */
    p = ngx_strlchr(p + 1, end, '/');
    ns = p ? p + 1 : NULL;
    p = ns ? ngx_strlchr(ns, end, '/') : NULL;
    pkg = p ? p + 1 : NULL;
    p = pkg ? ngx_strlchr(pkg, end, '/') : NULL;
    if (p == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }
    ns_len = pkg - 1 - ns;
    pkg_len = p - pkg;
    name = p + 1;
    e = ngx_strlchr(name, end, '/');
    name_len = (e ? e : end) - name;

    for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        if (name_len > exts[i].len
            && ngx_strncmp(name + name_len - exts[i].len, exts[i].data,
                           exts[i].len) == 0)
        {
            name_len -= exts[i].len;
            break;
        }
    }

    if (!ow_name_valid((char *) ns, ns_len)
        || !ow_name_valid((char *) pkg, pkg_len)
        || !ow_name_valid((char *) name, name_len))
    {
        return NGX_HTTP_NOT_FOUND;
    }

    if (pkg_len == 7 && ngx_strncmp(pkg, "default", 7) == 0) {
        pkg_len = 0;
    }

    ctx->action.len = ns_len + 1 + (pkg_len ? pkg_len + 1 : 0) + name_len;
    ctx->action.data = ngx_pnalloc(r->pool, ctx->action.len + 1);
    if (ctx->action.data == NULL) {
        return NGX_ERROR;
    }
    if (pkg_len) {
        ngx_sprintf(ctx->action.data, "%*s/%*s/%*s%Z", ns_len, ns, pkg_len,
                    pkg, name_len, name);
    } else {
        ngx_sprintf(ctx->action.data, "%*s/%*s%Z", ns_len, ns, name_len,
                    name);
    }
    return NGX_OK;
}

/*
 * "/_owinvoke/{ns}/{name}" or "/_owinvoke/{ns}/{pkg}/{name}" (the rewrite
 * in conf/nginx.conf) -> "ns/name", with "_" resolved.
 */
ngx_int_t
ngx_http_ow_invoke_action(ngx_http_request_t *r, ngx_http_ow_router_ctx_t *ctx)
{
    u_char  *p, *end, *slash, *dst, *src, *path;
    char    *subject, *ns;
    size_t   ns_len, len;

    /* a web action: the owner's, from the URI, for any caller */
    if (((ngx_http_ow_router_loc_conf_t *) ngx_http_get_module_loc_conf(r,
             ngx_http_ow_router_module))->web)
    {
        return ngx_http_ow_invoke_web_action(r, ctx);
    }

    if (ngx_http_ow_auth_identity(r, &subject, &ns) != NGX_OK) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    p = r->uri.data;
    end = p + r->uri.len;

    /* skip the location prefix "/_owinvoke/" */
    p = ngx_strlchr(p + 1, end, '/');
    if (p == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }
    p++;

    slash = ngx_strlchr(p, end, '/');
    if (slash == NULL || slash + 1 >= end) {
        return NGX_HTTP_NOT_FOUND;
    }

    path = ngx_pnalloc(r->pool, end - slash);
    if (path == NULL) {
        return NGX_ERROR;
    }
    dst = path;
    src = slash + 1;
    ngx_unescape_uri(&dst, &src, end - slash - 1, 0);
    len = dst - path;
    path[len] = '\0';

    if (!ow_name_path_valid((char *) path)) {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (slash - p == 1 && *p == '_') {
        ns_len = ngx_strlen(ns);
        p = (u_char *) ns;
    } else {
        ns_len = slash - p;
    }

    if (ns_len != ngx_strlen(ns) || ngx_strncmp(p, ns, ns_len) != 0) {
        /*
         * Another namespace: only actions of its public packages, so a
         * root action is refused here. The key is "<invoker>/<owner>/
         * <pkg>/<name>" (libow/action_ref.h): containers are never shared
         * between invoking namespaces, and the pool-manager checks
         * "publish" before it starts one (403 otherwise), so the warm path
         * stays free of Redis reads.
         */
        if (ngx_strlchr(path, path + len, '/') == NULL) {
            ctx->error = ngx_pnalloc(r->pool, sizeof("The supplied "
                             "authentication is not authorized to access "
                             "''.") + ns_len + 1 + len);
            if (ctx->error == NULL) {
                return NGX_ERROR;
            }
            ngx_sprintf(ctx->error, "The supplied authentication is not "
                        "authorized to access '%*s/%s'.%Z", ns_len, p, path);
            return NGX_HTTP_FORBIDDEN;
        }

        ctx->action.len = ngx_strlen(ns) + 1 + ns_len + 1 + len;
        ctx->action.data = ngx_pnalloc(r->pool, ctx->action.len + 1);
        if (ctx->action.data == NULL) {
            return NGX_ERROR;
        }
        ngx_sprintf(ctx->action.data, "%s/%*s/%s%Z", ns, ns_len, p, path);
        return NGX_OK;
    }

    ctx->action.len = ns_len + 1 + len;
    ctx->action.data = ngx_pnalloc(r->pool, ctx->action.len + 1);
    if (ctx->action.data == NULL) {
        return NGX_ERROR;
    }
    ngx_sprintf(ctx->action.data, "%*s/%s%Z", ns_len, p, path);
    return NGX_OK;
}


static void
ngx_http_ow_invoke_cleanup(void *data)
{
    /* a client that leaves while parked frees its place */
    ngx_http_ow_warm_unpark(data);
}

static void
ngx_http_ow_invoke_release(void *data)
{
    /* a request that never reached the balancer: has_room's choice */
    ngx_http_ow_warm_release(data);
}

/* the capacity answer: {"containers":[{id, addr, concurrency}, ...]} */
static ngx_int_t
ngx_http_ow_invoke_capacity_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_ow_router_ctx_t  *ctx = data;
    ngx_http_upstream_t       *u;
    json_t                    *o, *list;
    char                      *s;

    ctx->done = 1;
    ctx->status = sr->headers_out.status;
    ngx_http_ow_warm_unpark(ctx);

    u = sr->upstream;
    if (u == NULL || u->buffer.pos == NULL || u->buffer.last == u->buffer.pos)
    {
        if (ctx->status == NGX_HTTP_OK) {
            ctx->status = NGX_HTTP_BAD_GATEWAY;
        }
        return rc;
    }

    o = json_loadb((char *) u->buffer.pos, u->buffer.last - u->buffer.pos,
                   0, NULL);

    if (ctx->status != NGX_HTTP_OK) {
        /* the pool-manager's own words: unknown action, cap, bad kind */
        s = (char *) json_string_value(json_object_get(o, "error"));
        if (s) {
            ctx->error = ngx_pnalloc(ctx->request->pool, ngx_strlen(s) + 1);
            if (ctx->error) {
                ngx_cpystrn(ctx->error, (u_char *) s, ngx_strlen(s) + 1);
            }
        }
        /* a namespace at its cap: when its containers are likely free */
        ctx->retry_after = json_integer_value(json_object_get(o,
                                                              "retryAfter"));
        json_decref(o);
        return rc;
    }

    list = json_object_get(o, "containers");

    /* a web request's: what the compose driver shapes it by */
    s = json_dumps(json_object_get(o, "web"), JSON_COMPACT);
    if (s) {
        ctx->web_facts_len = ngx_strlen(s);
        ctx->web_facts = ngx_pnalloc(ctx->request->pool, ctx->web_facts_len);
        if (ctx->web_facts == NULL) {
            ctx->web_facts_len = 0;
        } else {
            ngx_memcpy(ctx->web_facts, s, ctx->web_facts_len);
        }
        free(s);
    }

    ngx_http_ow_warm_capacity(ctx, o, list);

    if (json_array_size(list) == 0
        && ctx->compose != NGX_HTTP_OW_COMPOSE_SEQUENCE)
    {
        ctx->status = NGX_HTTP_SERVICE_UNAVAILABLE;
    }
    json_decref(o);
    return rc;
}

static ngx_int_t
ngx_http_ow_invoke_park(ngx_http_request_t *r, ngx_http_ow_router_ctx_t *ctx,
    ngx_http_ow_router_loc_conf_t *rlcf)
{
    ngx_http_post_subrequest_t  *ps;
    ngx_http_request_t          *sr;
    ngx_pool_cleanup_t          *cln;

    if (ngx_http_ow_warm_park(ctx, rlcf->park_max) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }
    ngx_http_ow_metrics_parked(r);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (cln == NULL || ps == NULL) {
        ngx_http_ow_warm_unpark(ctx);
        return NGX_ERROR;
    }
    cln->handler = ngx_http_ow_invoke_cleanup;
    cln->data = ctx;

    ps->handler = ngx_http_ow_invoke_capacity_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &rlcf->pool_uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the capacity request carries its own body (proxy_set_body) */
    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}

static ngx_int_t
ngx_http_ow_invoke_fail(ngx_http_request_t *r, ngx_int_t status,
    const u_char *error)
{
    ngx_table_elt_t  *h;
    ngx_int_t         rc;
    const char       *msg;

    switch (status) {
    case NGX_HTTP_UNAUTHORIZED:
        msg = "The resource requires authentication, which was not "
              "supplied with the request";
        break;
    case NGX_HTTP_BAD_REQUEST:
        msg = "The name of the entity contains illegal characters.";
        break;
    case NGX_HTTP_FORBIDDEN:
        msg = "The supplied authentication is not authorized to access "
              "this resource.";
        break;
    case NGX_HTTP_NOT_FOUND:
        msg = "The requested resource does not exist.";
        break;
    case NGX_HTTP_TOO_MANY_REQUESTS:
        msg = "Too many containers for this namespace.";
        break;
    case NGX_HTTP_BAD_GATEWAY:
        if (error) {
            /* the container did not start: e.g. its init failed */
            msg = NULL;
            break;
        }
        /* fall through */
    default:
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        msg = "No capacity is available to run this action right now. "
              "Please try again later.";
        h = ngx_list_push(&r->headers_out.headers);
        if (h) {
            h->hash = 1;
            ngx_str_set(&h->key, "Retry-After");
            ngx_str_set(&h->value, "1");
        }
        break;
    }

    if (error && status != NGX_HTTP_SERVICE_UNAVAILABLE) {
        msg = (const char *) error;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }
    rc = ngx_http_ow_send_error(r, status, msg);
    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}

/*
 * A sequence or conductor action: the compose driver serves the request
 * (ngx_http_ow_compose_module.c). NGX_OK: it does; NGX_DECLINED: run it as
 * any action (the driver's own invocation of a conductor, or a sequence
 * forgotten meanwhile: ask the pool-manager again).
 */
static ngx_int_t
ngx_http_ow_invoke_compose(ngx_http_request_t *r,
    ngx_http_ow_router_ctx_t *ctx)
{
    ngx_uint_t  web;

    if (ngx_http_ow_trusted_plain(r)) {
        ctx->compose = 0;
        return NGX_DECLINED;
    }

    web = ((ngx_http_ow_router_loc_conf_t *) ngx_http_get_module_loc_conf(r,
               ngx_http_ow_router_module))->web;

    if (web && ctx->web_facts == NULL && ctx->done) {
        /* a capacity answer without them: not one to run it by */
        return ngx_http_ow_invoke_fail(r, NGX_HTTP_BAD_GATEWAY,
                   (u_char *) "The pool-manager did not describe the action.");
    }

    if (web && ctx->web_facts == NULL) {
        /* known from an earlier invocation: its facts, if a web one */
        ngx_http_ow_warm_remembered(ctx, 1);
    }

    if (web && ctx->web_facts == NULL) {
        /*
         * Known from an API invocation, not a web one: ask the
         * pool-manager, which says 404 when the action is not web-exported
         * and gives the facts the request is shaped by (a sequence has no
         * container, and a conductor's warm ones answer at once: no start).
         */
        ctx->compose = 0;
        ctx->ask = 1;
        return NGX_DECLINED;
    }

    if (ctx->compose == NGX_HTTP_OW_COMPOSE_SEQUENCE
        && ctx->compose_doc == NULL)
    {
        ngx_http_ow_warm_remembered(ctx, 0);

        if (ctx->compose_doc == NULL) {
            ctx->compose = 0;
            return NGX_DECLINED;
        }
    }

    if (ngx_http_ow_compose_start(r, &ctx->action, ctx->compose,
                                  ctx->compose_doc, ctx->compose_len,
                                  web ? ctx->web_facts : NULL,
                                  ctx->web_facts_len)
        != NGX_OK)
    {
        return ngx_http_ow_invoke_fail(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       NULL);
    }
    return NGX_OK;
}

static ngx_uint_t
ngx_http_ow_invoke_blocking(ngx_http_request_t *r)
{
    ngx_str_t  v;

    return ngx_http_arg(r, (u_char *) "blocking", 8, &v) == NGX_OK
           && v.len == 4 && ngx_strncmp(v.data, "true", 4) == 0;
}

ngx_int_t
ngx_http_ow_invoke_handler(ngx_http_request_t *r)
{
    ngx_http_ow_router_loc_conf_t  *rlcf;
    ngx_http_ow_router_ctx_t       *ctx;
    ngx_pool_cleanup_t             *cln;
    ngx_int_t                       rc;
    ngx_uint_t                      any, room;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_ow_router_module);
    if (rlcf->pool_uri.len == 0 || ngx_http_ow_router_table == NULL
        || r != r->main)
    {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_router_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ow_router_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }
        ctx->request = r;
        ngx_http_set_ctx(r, ctx, ngx_http_ow_router_module);

        rc = ngx_http_ow_invoke_action(r, ctx);
        if (rc != NGX_OK) {
            return ngx_http_ow_invoke_fail(r, rc, ctx->error);
        }

        room = ngx_http_ow_warm_has_room(ctx, &any);

        if (ctx->compose) {
            /* a known sequence or conductor action: no capacity request */
            rc = ngx_http_ow_invoke_compose(r, ctx);
            if (rc != NGX_DECLINED) {
                return rc == NGX_OK ? NGX_DECLINED : rc;
            }
            if (ctx->ask) {
                /* not to its warm containers: a capacity request */
                room = 0;
                any = 0;
            }
        }

        if (room) {
            if (ctx->reserved) {
                /* has_room's choice is freed if no balancer takes it */
                cln = ngx_pool_cleanup_add(r->pool, 0);
                if (cln == NULL) {
                    ngx_http_ow_warm_release(ctx);
                    return NGX_ERROR;
                }
                cln->handler = ngx_http_ow_invoke_release;
                cln->data = ctx;
            }
            return NGX_DECLINED;
        }

        if (rlcf->async.len && !ngx_http_ow_invoke_blocking(r)) {
            /*
             * Non-blocking and no container at hand: the pool-manager
             * takes the request, answers 202 at once and delivers it when
             * a container is ready.
             */
            (void) ngx_http_named_location(r, &rlcf->async);
            ngx_http_finalize_request(r, NGX_DONE);
            return NGX_DONE;
        }

        ctx->scale = any;
        return ngx_http_ow_invoke_park(r, ctx, rlcf) == NGX_AGAIN
               ? NGX_AGAIN
               : ngx_http_ow_invoke_fail(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         NULL);
    }

    if (!ctx->done) {
        return NGX_AGAIN;
    }

    /* counted once per request; a sequence's answer is no cold start */
    ngx_http_ow_metrics_capacity(r, ctx->action.data, ctx->action.len,
                                 ctx->status, !ctx->compose);

    if (ctx->status != NGX_HTTP_OK) {
        if (ctx->status == NGX_HTTP_TOO_MANY_REQUESTS
            && ctx->retry_after > 0 && ctx->retry_after <= 3600)
        {
            u_char  *p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);

            if (p) {
                (void) ngx_http_ow_header_out(r, "Retry-After", p,
                                              ngx_sprintf(p, "%i",
                                                          ctx->retry_after)
                                              - p);
            }
        }
        return ngx_http_ow_invoke_fail(r, ctx->status, ctx->error);
    }

    if (ctx->compose) {
        /* the capacity answer said: a sequence or conductor action */
        rc = ngx_http_ow_invoke_compose(r, ctx);
        if (rc != NGX_DECLINED) {
            return rc == NGX_OK ? NGX_DECLINED : rc;
        }
    }

    return NGX_DECLINED;
}

/*
 * For the metrics' log phase: the action this request invoked, or NULL when
 * ow_invoke did not handle it (in its current location). Unlike $ow_action
 * this never resolves a URI.
 */
ngx_str_t *
ngx_http_ow_router_invoked(ngx_http_request_t *r)
{
    ngx_http_ow_router_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_ow_router_module);
    return (ctx && ctx->action.len) ? &ctx->action : NULL;
}

