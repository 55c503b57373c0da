/*
 * ngx_http_ow_redis.c: the Redis client of the owx modules.
 *
 * Each worker keeps one hiredis async context on nginx's event loop
 * (level-triggered: hiredis reads 16 KiB per call), connects lazily, and
 * after a failure waits with exponential backoff before it tries again, so a
 * Redis outage costs fast 503s instead of a reconnect storm. Every command
 * has a deadline (ngx timer); hiredis 0.14 has none of its own.
 *
 * With ow_redis_credentials every connection (the command connection and
 * the modules' subscribers, all opened by ngx_http_ow_redis_open) sends
 * AUTH first; hiredis keeps commands in order, so what the caller queues
 * next runs authenticated. The password is read by the master at
 * configuration time and never written to a log line, at any level.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <hiredis/async.h>
#include <hiredis/sds.h>

#include "ow_secrets.h"
#include "ngx_http_ow_redis.h"
#include "ngx_http_ow_secret.h"
#include "ngx_http_ow_metrics.h"

typedef struct {
    ngx_str_t                 addr;         /* host:port or unix:/path */
    ngx_msec_t                timeout;
    ngx_msec_t                backoff_max;
    /* ow_redis_credentials: user "" = no AUTH */
    ngx_str_t                 user;
    ngx_str_t                 password;
    size_t                    owed_max;     /* ow_redis_owed_max */
} ngx_http_ow_redis_main_conf_t;

/* a write that must land, kept until Redis stores it (ngx_http_ow_redis_owe) */
typedef struct ngx_http_ow_redis_owed_s  ngx_http_ow_redis_owed_t;

struct ngx_http_ow_redis_owed_s {
    ngx_http_ow_redis_owed_t  *next;
    size_t                     len;
    char                       cmd[1];
};

struct ngx_http_ow_redis_op_s {
    ngx_event_t               timer;
    ngx_http_ow_redis_pt      handler;
    void                     *data;
};

static void *ngx_http_ow_redis_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ow_redis_init_main_conf(ngx_conf_t *cf, void *conf);
static char *ngx_http_ow_redis_credentials(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_ow_redis_exit_process(ngx_cycle_t *cycle);

static ngx_command_t  ngx_http_ow_redis_commands[] = {

    { ngx_string("ow_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ow_redis_main_conf_t, addr),
      NULL },

    { ngx_string("ow_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ow_redis_main_conf_t, timeout),
      NULL },

    { ngx_string("ow_redis_backoff_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ow_redis_main_conf_t, backoff_max),
      NULL },

    { ngx_string("ow_redis_owed_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ow_redis_main_conf_t, owed_max),
      NULL },

    { ngx_string("ow_redis_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ow_redis_credentials,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};

static ngx_http_module_t  ngx_http_ow_redis_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */
    ngx_http_ow_redis_create_main_conf,    /* create main configuration */
    ngx_http_ow_redis_init_main_conf,      /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};

ngx_module_t  ngx_http_ow_redis_module = {
    NGX_MODULE_V1,
    &ngx_http_ow_redis_module_ctx,         /* module context */
    ngx_http_ow_redis_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ow_redis_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};

/* per-worker connection state */
static redisAsyncContext  *ngx_http_ow_redis_ac;
static ngx_msec_t          ngx_http_ow_redis_next_try;
static ngx_msec_t          ngx_http_ow_redis_backoff;
static ngx_log_t          *ngx_http_ow_redis_log;

/* per-worker owed writes, oldest first; one retry in flight at a time */
static ngx_http_ow_redis_owed_t   *ngx_http_ow_redis_owed;
static ngx_http_ow_redis_owed_t  **ngx_http_ow_redis_owed_last =
    &ngx_http_ow_redis_owed;
static size_t                      ngx_http_ow_redis_owed_bytes;
static ngx_uint_t                  ngx_http_ow_redis_owed_sending;
static ngx_event_t                 ngx_http_ow_redis_owed_timer;

/* when the command connection last had bytes to read (a reply arriving) */
static ngx_msec_t                  ngx_http_ow_redis_heard;

#define NGX_HTTP_OW_REDIS_BACKOFF_MIN  100

/* ---- hiredis adapter ---- */

static void
ngx_http_ow_redis_read(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    if (c->data == ngx_http_ow_redis_ac) {
        ngx_http_ow_redis_heard = ngx_current_msec;
    }

    redisAsyncHandleRead(c->data);
}

static void
ngx_http_ow_redis_write(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}

static void
ngx_http_ow_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}

static void
ngx_http_ow_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}

static void
ngx_http_ow_redis_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}

static void
ngx_http_ow_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}

static void
ngx_http_ow_redis_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c == NULL) {
        return;
    }

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }
    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    /* hiredis closes the fd itself */
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}

ngx_msec_t
ngx_http_ow_redis_backoff_next(ngx_msec_t backoff)
{
    ngx_http_ow_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_ow_redis_module);
    return ngx_min(ngx_max(backoff * 2, NGX_HTTP_OW_REDIS_BACKOFF_MIN),
                   rmcf->backoff_max);
}

static void
ngx_http_ow_redis_failed(const char *what, const char *err)
{
    ngx_http_ow_redis_backoff = ngx_http_ow_redis_backoff_next(
                                    ngx_http_ow_redis_backoff);
    ngx_http_ow_redis_next_try = ngx_current_msec + ngx_http_ow_redis_backoff;

    ngx_log_error(NGX_LOG_ERR, ngx_http_ow_redis_log, 0,
                  "ow redis %s: %s, next try in %Mms", what,
                  err ? err : "unknown error", ngx_http_ow_redis_backoff);
}

/* the command connection is usable: connected, and authenticated if asked */
static void
ngx_http_ow_redis_up(void)
{
    ngx_http_ow_redis_backoff = 0;
    ngx_http_ow_metrics_redis(1);
    ngx_log_error(NGX_LOG_INFO, ngx_http_ow_redis_log, 0,
                  "ow redis connected");
}

static void
ngx_http_ow_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_ow_redis_main_conf_t  *rmcf;

    if (status != REDIS_OK) {
        /* hiredis frees ac after this callback and calls no onDisconnect */
        if (ac == ngx_http_ow_redis_ac) {
            ngx_http_ow_redis_ac = NULL;
        }
        ngx_http_ow_redis_failed("connect", ac->errstr);
        return;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_ow_redis_module);
    if (rmcf->user.len == 0) {
        ngx_http_ow_redis_up();
    }
    /* else the AUTH reply says (ngx_http_ow_redis_authed) */
}

static void
ngx_http_ow_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    if (ac == ngx_http_ow_redis_ac) {
        ngx_http_ow_redis_ac = NULL;
        ngx_http_ow_metrics_redis(0);
    }
    if (status != REDIS_OK) {
        ngx_http_ow_redis_failed("connection lost", ac->errstr);
    }
}

/*
 * The reply to the AUTH that opens every connection. A refusal is logged
 * with Redis's reason but never the password (a reply that quotes it is
 * withheld), and the connection is closed: the commands queued behind AUTH
 * get NULL replies, the owner's disconnect callback runs and retries after
 * its backoff, as after a failed connect.
 */
static void
ngx_http_ow_redis_authed(redisAsyncContext *ac, void *reply, void *privdata)
{
    ngx_http_ow_redis_main_conf_t  *rmcf;
    redisReply                     *r = reply;
    const char                     *why;
    u_char                          what[128], *p;

    if (r == NULL) {
        /* the connection went away first: its callbacks report that */
        return;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_ow_redis_module);

    if (r->type == REDIS_REPLY_STATUS) {
        if (ac == ngx_http_ow_redis_ac) {
            ngx_http_ow_redis_up();
        }
        return;
    }

    why = "unexpected reply";
    if (r->type == REDIS_REPLY_ERROR && r->str) {
        why = r->str;
        if (ngx_strlcasestrn((u_char *) r->str, (u_char *) r->str + r->len,
                             rmcf->password.data, rmcf->password.len - 1)
            != NULL)
        {
            why = "(reply withheld: it quotes the password)";
        }
    }

    /* what the owner's disconnect callback logs as the reason */
    ngx_cpystrn((u_char *) ac->c.errstr, (u_char *) "AUTH refused",
                sizeof(ac->c.errstr));

    if (ac == ngx_http_ow_redis_ac) {
        /* the user name is at most OW_SECRET_FILE_MAX bytes: may be cut */
        p = ngx_snprintf(what, sizeof(what) - 1, "AUTH as \"%V\" refused",
                         &rmcf->user);
        *p = '\0';
        ngx_http_ow_redis_failed((char *) what, why);

    } else {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ow redis AUTH as \"%V\" refused: %s",
                      &rmcf->user, why);
    }

    /* from a callback: hiredis frees it once this returns */
    redisAsyncFree(ac);
}

redisAsyncContext *
ngx_http_ow_redis_open(redisConnectCallback *on_connect,
    redisDisconnectCallback *on_disconnect)
{
    ngx_http_ow_redis_main_conf_t  *rmcf;
    redisAsyncContext              *ac;
    ngx_connection_t               *c;
    u_char                          host[256], *colon;
    size_t                          n;

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_ow_redis_module);

    n = ngx_min(rmcf->addr.len, sizeof(host) - 1);
    ngx_memcpy(host, rmcf->addr.data, n);
    host[n] = '\0';

    if (ngx_strncmp(host, "unix:", 5) == 0) {
        ac = redisAsyncConnectUnix((char *) host + 5);

    } else {
        /* an IP literal: hiredis resolves names with blocking getaddrinfo */
        colon = (u_char *) ngx_strlchr(host, host + n, ':');
        if (colon == NULL) {
            return NULL;
        }
        *colon = '\0';
        ac = redisAsyncConnect((char *) host, ngx_atoi(colon + 1,
                                            n - (colon + 1 - host)));
    }

    if (ac == NULL) {
        return NULL;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "ow redis connect: %s",
                      ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }

    c = ngx_get_connection(ac->c.fd, ngx_cycle->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        return NULL;
    }

    c->data = ac;
    c->read->handler = ngx_http_ow_redis_read;
    c->write->handler = ngx_http_ow_redis_write;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_ow_redis_add_read;
    ac->ev.delRead = ngx_http_ow_redis_del_read;
    ac->ev.addWrite = ngx_http_ow_redis_add_write;
    ac->ev.delWrite = ngx_http_ow_redis_del_write;
    ac->ev.cleanup = ngx_http_ow_redis_cleanup;

    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);

    /* first in the queue: everything the caller sends runs after it */
    if (rmcf->user.len
        && redisAsyncCommand(ac, ngx_http_ow_redis_authed, NULL, "AUTH %b %b",
                             rmcf->user.data, rmcf->user.len,
                             rmcf->password.data, rmcf->password.len)
           != REDIS_OK)
    {
        /* not connected yet: no callback has run and none will */
        redisAsyncFree(ac);
        return NULL;
    }

    return ac;
}

/* the worker's shared command connection, with backoff after failures */
static redisAsyncContext *
ngx_http_ow_redis_connect(void)
{
    if (ngx_http_ow_redis_ac) {
        return ngx_http_ow_redis_ac;
    }

    if (ngx_http_ow_redis_next_try
        && (ngx_msec_int_t) (ngx_current_msec - ngx_http_ow_redis_next_try)
           < 0)
    {
        return NULL;
    }

    ngx_http_ow_redis_log = ngx_cycle->log;

    ngx_http_ow_redis_ac = ngx_http_ow_redis_open(
                               ngx_http_ow_redis_on_connect,
                               ngx_http_ow_redis_on_disconnect);
    if (ngx_http_ow_redis_ac == NULL) {
        ngx_http_ow_redis_failed("connect", NULL);
    }
    return ngx_http_ow_redis_ac;
}

void
ngx_http_ow_redis_reachable(void)
{
    if (ngx_http_ow_redis_ac == NULL) {
        ngx_http_ow_redis_next_try = 0;
    }
}

/* ---- commands ---- */

static void
ngx_http_ow_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_ow_redis_op_t  *op = privdata;
    ngx_http_ow_redis_pt     handler;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    handler = op->handler;
    op->handler = NULL;

    if (handler) {
        handler(op->data, r);
    }

    ngx_free(op);
}

static void
ngx_http_ow_redis_timeout(ngx_event_t *ev)
{
    ngx_http_ow_redis_op_t         *op = ev->data;
    ngx_http_ow_redis_pt            handler;
    ngx_http_ow_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_ow_redis_module);

    /*
     * Replies come in order: while the connection is still receiving, the
     * replies before this one, or this one (a 48 MiB action's document is
     * 64 MiB of JSON), are on their way, so the deadline moves with them.
     * A Redis that answers nothing (busy in a script, gone) still fails
     * the command after ow_redis_timeout of silence.
     */
    if (op->handler
        && ngx_http_ow_redis_ac
        && ngx_current_msec - ngx_http_ow_redis_heard < rmcf->timeout)
    {
        ngx_add_timer(&op->timer, rmcf->timeout);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ev->log, 0, "ow redis command timed out");

    /* the late reply (or the disconnect) will free op */
    handler = op->handler;
    op->handler = NULL;

    if (handler) {
        handler(op->data, NULL);
    }
}

ngx_http_ow_redis_op_t *
ngx_http_ow_redis_send(ngx_http_request_t *r, const char *cmd, size_t len,
    ngx_http_ow_redis_pt handler, void *data)
{
    return ngx_http_ow_redis_command(cmd, len, handler, data);
}

/*
 * What the bytes still to send (this command's and those queued before it
 * on the connection) add to a command's deadline: a 48 MiB entity PUT is
 * answered with its true outcome, and so are the commands behind it,
 * instead of timing out while it is written. 1 s per 8 MiB, measured with
 * hiredis 0.14, whose output buffer moves what is left after every write.
 */
static ngx_msec_t
ngx_http_ow_redis_send_time(size_t pending)
{
    return (ngx_msec_t) (pending / (8 * 1024 * 1024)) * 1000;
}

ngx_http_ow_redis_op_t *
ngx_http_ow_redis_command(const char *cmd, size_t len,
    ngx_http_ow_redis_pt handler, void *data)
{
    ngx_http_ow_redis_main_conf_t  *rmcf;
    ngx_http_ow_redis_op_t         *op;
    redisAsyncContext              *ac;

    ac = ngx_http_ow_redis_connect();
    if (ac == NULL) {
        return NULL;
    }

    op = ngx_calloc(sizeof(ngx_http_ow_redis_op_t), ngx_cycle->log);
    if (op == NULL) {
        return NULL;
    }

    op->handler = handler;
    op->data = data;

    if (redisAsyncFormattedCommand(ac, ngx_http_ow_redis_reply, op, cmd, len)
        != REDIS_OK)
    {
        ngx_free(op);
        return NULL;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_ow_redis_module);

    op->timer.handler = ngx_http_ow_redis_timeout;
    op->timer.data = op;
    op->timer.log = ngx_cycle->log;
    ngx_add_timer(&op->timer, rmcf->timeout
                  + ngx_http_ow_redis_send_time(sdslen(ac->c.obuf)));

    return op;
}

void
ngx_http_ow_redis_cancel(ngx_http_ow_redis_op_t *op)
{
    if (op == NULL) {
        return;
    }
    op->handler = NULL;
    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }
}

/* ---- writes that must land ---- */

ngx_int_t
ngx_http_ow_redis_transient(redisReply *reply)
{
    static const char  *kinds[] = { "LOADING", "BUSY", "TRYAGAIN",
                                    "MASTERDOWN", "READONLY", "CLUSTERDOWN",
                                    "NOAUTH", NULL };
    const char        **k;

    if (reply == NULL) {
        return 1;
    }
    if (reply->type != REDIS_REPLY_ERROR || reply->str == NULL) {
        return 0;
    }
    for (k = kinds; *k; k++) {
        if (ngx_strncmp(reply->str, *k, ngx_strlen(*k)) == 0) {
            return 1;
        }
    }
    return 0;
}

static void ngx_http_ow_redis_owed_send(ngx_event_t *ev);

/*
 * The next retry: after the connection's backoff (at least 100 ms). The
 * timer is not cancelable, so a worker that exits gracefully (a reload)
 * keeps retrying what it owes first (bounded by worker_shutdown_timeout).
 */
static void
ngx_http_ow_redis_owed_schedule(ngx_msec_t delay)
{
    ngx_event_t  *ev = &ngx_http_ow_redis_owed_timer;

    if (ngx_http_ow_redis_owed == NULL || ngx_http_ow_redis_owed_sending
        || ev->timer_set)
    {
        return;
    }
    ev->handler = ngx_http_ow_redis_owed_send;
    ev->log = ngx_cycle->log;
    ev->data = NULL;
    ngx_add_timer(ev, delay);
}

static void
ngx_http_ow_redis_owed_written(void *data, redisReply *reply)
{
    ngx_http_ow_redis_owed_t  *o = ngx_http_ow_redis_owed;

    ngx_http_ow_redis_owed_sending = 0;
    if (o == NULL) {
        return;
    }
    if (ngx_http_ow_redis_transient(reply)) {
        ngx_http_ow_redis_owed_schedule(ngx_max(ngx_http_ow_redis_backoff,
                                                NGX_HTTP_OW_REDIS_BACKOFF_MIN));
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ow redis: owed write refused, dropped: %s", reply->str);
    }
    ngx_http_ow_redis_owed = o->next;
    if (ngx_http_ow_redis_owed == NULL) {
        ngx_http_ow_redis_owed_last = &ngx_http_ow_redis_owed;
    }
    ngx_http_ow_redis_owed_bytes -= o->len;
    ngx_free(o);
    if (ngx_http_ow_redis_owed == NULL) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "ow redis: every owed write is stored");
        return;
    }
    ngx_http_ow_redis_owed_schedule(1);
}

static void
ngx_http_ow_redis_owed_send(ngx_event_t *ev)
{
    ngx_http_ow_redis_owed_t  *o = ngx_http_ow_redis_owed;

    if (o == NULL || ngx_http_ow_redis_owed_sending) {
        return;
    }
    if (ngx_http_ow_redis_command(o->cmd, o->len,
                                  ngx_http_ow_redis_owed_written, NULL)
        == NULL)
    {
        ngx_http_ow_redis_owed_schedule(ngx_max(ngx_http_ow_redis_backoff,
                                                NGX_HTTP_OW_REDIS_BACKOFF_MIN));
        return;
    }
    ngx_http_ow_redis_owed_sending = 1;
}

void
ngx_http_ow_redis_owe(const char *cmd, size_t len)
{
    ngx_http_ow_redis_main_conf_t  *rmcf;
    ngx_http_ow_redis_owed_t       *o;

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_ow_redis_module);
    if (ngx_http_ow_redis_owed_bytes + len > rmcf->owed_max) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ow redis: owed write dropped: %uz bytes owed already",
                      ngx_http_ow_redis_owed_bytes);
        return;
    }
    o = ngx_alloc(sizeof(ngx_http_ow_redis_owed_t) + len, ngx_cycle->log);
    if (o == NULL) {
        return;
    }
    o->next = NULL;
    o->len = len;
    ngx_memcpy(o->cmd, cmd, len);
    *ngx_http_ow_redis_owed_last = o;
    ngx_http_ow_redis_owed_last = &o->next;
    ngx_http_ow_redis_owed_bytes += len;
    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "ow redis: write kept for a retry, %uz bytes owed",
                  ngx_http_ow_redis_owed_bytes);
    ngx_http_ow_redis_owed_schedule(ngx_max(ngx_http_ow_redis_backoff,
                                            NGX_HTTP_OW_REDIS_BACKOFF_MIN));
}

/* ---- configuration ---- */

/*
 * ow_redis_credentials path: one line "USER PASSWORD" (Redis ACL user).
 * Read here, by the master (the file is the master's user's alone; the
 * workers could not open it); the messages name the file, never its text.
 */
static char *
ngx_http_ow_redis_credentials(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ow_redis_main_conf_t  *rmcf = conf;
    ngx_str_t                      *value, text;
    const char                     *pass;
    size_t                          user_len, pass_len;

    if (rmcf->user.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_ow_read_secret(cf, &value[1], &text) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ow_secret_credentials((char *) text.data, text.len, &user_len, &pass,
                              &pass_len)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ow_redis_credentials \"%V\" is malformed: one "
                           "line \"USER PASSWORD\" expected (visible "
                           "ASCII, one space between)", &value[1]);
        return NGX_CONF_ERROR;
    }

    rmcf->user.data = text.data;
    rmcf->user.len = user_len;
    rmcf->password.data = (u_char *) pass;
    rmcf->password.len = pass_len;
    return NGX_CONF_OK;
}

static void *
ngx_http_ow_redis_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ow_redis_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ow_redis_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    rmcf->timeout = NGX_CONF_UNSET_MSEC;
    rmcf->backoff_max = NGX_CONF_UNSET_MSEC;
    rmcf->owed_max = NGX_CONF_UNSET_SIZE;
    return rmcf;
}

static char *
ngx_http_ow_redis_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ow_redis_main_conf_t  *rmcf = conf;

    if (rmcf->addr.len == 0) {
        ngx_str_set(&rmcf->addr, "127.0.0.1:6379");
    }
    ngx_conf_init_msec_value(rmcf->timeout, 2000);
    ngx_conf_init_msec_value(rmcf->backoff_max, 5000);
    ngx_conf_init_size_value(rmcf->owed_max, 16 * 1024 * 1024);
    return NGX_CONF_OK;
}

static void
ngx_http_ow_redis_exit_process(ngx_cycle_t *cycle)
{
    redisAsyncContext  *ac;

    ac = ngx_http_ow_redis_ac;
    ngx_http_ow_redis_ac = NULL;

    if (ngx_http_ow_redis_owed) {
        /* worker_shutdown_timeout ended the retries (docs/records.md) */
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "ow redis: %uz bytes of owed writes lost at exit",
                      ngx_http_ow_redis_owed_bytes);
    }

    if (ac) {
        /* pending callbacks run with NULL replies */
        redisAsyncFree(ac);
    }
}
