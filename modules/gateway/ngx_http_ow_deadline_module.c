/*
 * ngx_http_ow_deadline_module.c: a deadline for the whole request body and
 * for the whole answer, so a client that trickles (a byte every few seconds)
 * cannot hold a connection, and the worker_connections slot it costs, for
 * as long as it likes.
 *
 * nginx bounds the header as a whole (client_header_timeout) but the body
 * and the answer only between two reads or writes (client_body_timeout,
 * send_timeout): a byte every 9 s keeps a 10 s gap timer happy forever.
 * ow_client_deadline gives the client "time", plus one second for every
 * "rate" bytes of the body (its Content-Length; client_max_body_size when
 * chunked), to send its body, counted from the end of its header; and the
 * same for the answer (its Content-Length; "time" alone when unknown),
 * counted from when the answer's header goes out. An ordinary client, which
 * sends and reads at network speed, never comes near it. An answer of
 * unknown length (a streaming web action's, docs/streams.md) is cut only
 * when, as its deadline passes, the client is behind (nginx holds bytes it
 * did not take) and took less than "time" plus a second per "rate" bytes
 * it took so far; a client that is not behind gets "time" again (a slow
 * producer is bounded by the action's time limit, not here).
 *
 * When the deadline passes, the request ends the way nginx ends one whose
 * gap timer fired: the connection's read (body) or write (answer) event is
 * marked timed out and run, so nginx's own handler (the body reader, the
 * writer, the upstream's downstream writer) closes the connection, with no
 * answer for a body (as nginx's 408) and the rest of the answer unsent.
 *
 * Cost: one timer per request that has a body or an answer, armed twice
 * (and again every "time" while a streamed answer goes on); no allocation
 * but the request's context.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

/* how often to look again for a body nobody has started reading yet */
#define NGX_HTTP_OW_DEADLINE_RECHECK  1000

typedef struct {
    ngx_msec_t                 time;
    size_t                     rate;     /* bytes a second; 0: "time" only */
} ngx_http_ow_deadline_srv_conf_t;

typedef struct {
    ngx_event_t                timer;
    ngx_http_request_t        *r;
    ngx_uint_t                 answering;  /* the answer's header is out */
    ngx_msec_t                 answer_start;
} ngx_http_ow_deadline_ctx_t;

static ngx_int_t ngx_http_ow_deadline_init(ngx_conf_t *cf);
static void *ngx_http_ow_deadline_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_ow_deadline_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_ow_deadline(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static ngx_command_t  ngx_http_ow_deadline_commands[] = {

    { ngx_string("ow_client_deadline"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE12,
      ngx_http_ow_deadline,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};

static ngx_http_module_t  ngx_http_ow_deadline_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_ow_deadline_init,             /* postconfiguration */
    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */
    ngx_http_ow_deadline_create_srv_conf,  /* create server configuration */
    ngx_http_ow_deadline_merge_srv_conf,   /* merge server configuration */
    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};

ngx_module_t  ngx_http_ow_deadline_module = {
    NGX_MODULE_V1,
    &ngx_http_ow_deadline_module_ctx,      /* module context */
    ngx_http_ow_deadline_commands,         /* module directives */
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

static ngx_http_output_header_filter_pt  ngx_http_ow_deadline_next_header;

/* the deadline for n bytes: "time" plus one second per "rate" bytes */
static ngx_msec_t
ngx_http_ow_deadline_for(ngx_http_ow_deadline_srv_conf_t *dscf, off_t n)
{
    off_t  extra;

    if (dscf->rate == 0 || n <= 0) {
        return dscf->time;
    }

    extra = n / (off_t) dscf->rate;
    if (extra > 86400) {
        extra = 86400;
    }

    return dscf->time + (ngx_msec_t) extra * 1000;
}

static ngx_msec_t
ngx_http_ow_deadline_time(ngx_http_request_t *r)
{
    ngx_http_ow_deadline_srv_conf_t  *dscf;

    dscf = ngx_http_get_module_srv_conf(r, ngx_http_ow_deadline_module);
    return dscf->time;
}

/*
 * Ends the request as nginx does when the event's own timer fires: the
 * handler nginx has put on the request for that event sees it timed out.
 */
static void
ngx_http_ow_deadline_expire(ngx_event_t *ev)
{
    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    ev->timedout = 1;
    ngx_post_event(ev, &ngx_posted_events);
}

static void
ngx_http_ow_deadline_fired(ngx_event_t *timer)
{
    ngx_http_ow_deadline_ctx_t  *ctx = timer->data;
    ngx_http_request_t          *r = ctx->r;
    ngx_connection_t            *c = r->connection;
    ngx_http_request_body_t     *rb = r->request_body;
    ngx_msec_t                   due, spent;

    if (ctx->answering) {
        if (r->headers_out.content_length_n < 0) {
            /* an answer of unknown length (a streaming action's) */
            if (r->out == NULL && !(c->buffered & NGX_HTTP_WRITE_BUFFERED)) {
                /* the client took all of it so far: the producer is
                 * slow, not the client; the clock starts again */
                ngx_add_timer(timer, ngx_http_ow_deadline_time(r));
                return;
            }

            /* behind: "time" plus a second per "rate" bytes it took */
            due = ngx_http_ow_deadline_for(
                      ngx_http_get_module_srv_conf(r,
                                                   ngx_http_ow_deadline_module),
                      c->sent);
            spent = ngx_current_msec - ctx->answer_start;
            if (spent < due) {
                ngx_add_timer(timer, due - spent);
                return;
            }
        }

        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client took longer than ow_client_deadline to "
                      "take the answer");
        ngx_http_ow_deadline_expire(c->write);
        return;
    }

    if (rb == NULL && !r->discard_body) {
        /* nobody reads the body yet (an auth lookup is still out, say):
         * the client is not the one waiting; look again */
        ngx_add_timer(timer, NGX_HTTP_OW_DEADLINE_RECHECK);
        return;
    }

    if (rb == NULL || rb->rest == 0 || r->discard_body) {
        /* read (or being discarded, which lingering_time bounds) */
        return;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "client took longer than ow_client_deadline to send "
                  "its body");
    ngx_http_ow_deadline_expire(c->read);
}

static void
ngx_http_ow_deadline_cleanup(void *data)
{
    ngx_http_ow_deadline_ctx_t  *ctx = data;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }
}

static ngx_http_ow_deadline_ctx_t *
ngx_http_ow_deadline_ctx(ngx_http_request_t *r)
{
    ngx_http_ow_deadline_ctx_t  *ctx;
    ngx_pool_cleanup_t          *cln;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ow_deadline_module);
    if (ctx) {
        return ctx;
    }

    /* an internal redirect (error_page) clears the module contexts, not
     * the pool: the request's clock goes on */
    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_ow_deadline_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_ow_deadline_module);
            return ctx;
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_ow_deadline_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_ow_deadline_ctx_t));
    ctx->r = r;
    ctx->timer.handler = ngx_http_ow_deadline_fired;
    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;
    cln->handler = ngx_http_ow_deadline_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_ow_deadline_module);
    return ctx;
}

/* post-read phase: the header is in; the body's clock starts */
static ngx_int_t
ngx_http_ow_deadline_body(ngx_http_request_t *r)
{
    ngx_http_ow_deadline_srv_conf_t  *dscf;
    ngx_http_ow_deadline_ctx_t       *ctx;
    ngx_http_core_loc_conf_t         *clcf;
    off_t                             n;

    dscf = ngx_http_get_module_srv_conf(r, ngx_http_ow_deadline_module);

    if (dscf->time == 0 || r != r->main) {
        return NGX_DECLINED;
    }

    if (r->headers_in.chunked) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
        n = clcf->client_max_body_size;

    } else if (r->headers_in.content_length_n > 0) {
        n = r->headers_in.content_length_n;

    } else {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ow_deadline_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_add_timer(&ctx->timer, ngx_http_ow_deadline_for(dscf, n));
    return NGX_DECLINED;
}

/* the answer's header goes out: its clock starts, the body's stops */
static ngx_int_t
ngx_http_ow_deadline_header_filter(ngx_http_request_t *r)
{
    ngx_http_ow_deadline_srv_conf_t  *dscf;
    ngx_http_ow_deadline_ctx_t       *ctx;

    dscf = ngx_http_get_module_srv_conf(r, ngx_http_ow_deadline_module);

    if (dscf->time == 0 || r != r->main) {
        return ngx_http_ow_deadline_next_header(r);
    }

    if (r->headers_out.status == NGX_HTTP_SWITCHING_PROTOCOLS) {
        /*
         * an upgraded connection (a WebSocket, docs/websockets.md) has no
         * answer to take: the sidecar bounds it (idle timeout, message
         * size), and its upload ended with the request header
         */
        ctx = ngx_http_get_module_ctx(r, ngx_http_ow_deadline_module);
        if (ctx && ctx->timer.timer_set) {
            ngx_del_timer(&ctx->timer);
        }
        return ngx_http_ow_deadline_next_header(r);
    }

    ctx = ngx_http_ow_deadline_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    ctx->answering = 1;
    ctx->answer_start = ngx_current_msec;
    ngx_add_timer(&ctx->timer,
                  ngx_http_ow_deadline_for(dscf,
                                           r->headers_out.content_length_n));

    return ngx_http_ow_deadline_next_header(r);
}

/* ---- configuration ---- */

static char *
ngx_http_ow_deadline(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ow_deadline_srv_conf_t  *dscf = conf;
    ngx_str_t                        *value = cf->args->elts;
    ssize_t                           rate;

    if (dscf->time != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no rate with \"off\"";
        }
        dscf->time = 0;
        dscf->rate = 0;
        return NGX_CONF_OK;
    }

    dscf->time = ngx_parse_time(&value[1], 0);
    if (dscf->time == (ngx_msec_t) NGX_ERROR || dscf->time == 0) {
        return "has an invalid time";
    }

    dscf->rate = 0;
    if (cf->args->nelts == 3) {
        rate = ngx_parse_size(&value[2]);
        if (rate <= 0) {
            return "has an invalid rate";
        }
        dscf->rate = rate;
    }

    return NGX_CONF_OK;
}

static void *
ngx_http_ow_deadline_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_ow_deadline_srv_conf_t  *dscf;

    dscf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_deadline_srv_conf_t));
    if (dscf == NULL) {
        return NULL;
    }

    dscf->time = NGX_CONF_UNSET_MSEC;
    dscf->rate = NGX_CONF_UNSET_SIZE;

    return dscf;
}

static char *
ngx_http_ow_deadline_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_ow_deadline_srv_conf_t  *prev = parent;
    ngx_http_ow_deadline_srv_conf_t  *conf = child;

    ngx_conf_merge_msec_value(conf->time, prev->time, 0);
    ngx_conf_merge_size_value(conf->rate, prev->rate, 0);

    return NGX_CONF_OK;
}

static ngx_int_t
ngx_http_ow_deadline_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_http_ow_deadline_body;

    ngx_http_ow_deadline_next_header = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ow_deadline_header_filter;

    return NGX_OK;
}
