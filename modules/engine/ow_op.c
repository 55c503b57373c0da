/*
 * ow_op.c: an op's life (ow_op.h): the step protocol, responses and the
 * helpers shared by the handlers (ow_api_*.c).
 */

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "ow_op.h"
#include "ow_names.h"
#include "ow_schema.h"

#define OW_JSON_DUMP  (JSON_COMPACT | JSON_REAL_PRECISION(15))

ow_op_t *
ow_op_create(void)
{
    ow_op_t  *op;

    op = calloc(1, sizeof(ow_op_t));
    if (op == NULL) {
        return NULL;
    }
    op->keep = json_object();
    op->rev = -1;
    return op;
}

static void
ow_op_clear_script(ow_op_t *op)
{
    int  i;

    for (i = 0; i < op->script_argc; i++) {
        free(op->script_argv[i]);
    }
    free(op->script_argv);
    free(op->script_argvlen);
    op->script = NULL;
    op->script_argv = NULL;
    op->script_argvlen = NULL;
    op->script_argc = 0;
}

void
ow_op_free(ow_op_t *op)
{
    if (op == NULL) {
        return;
    }
    free(op->ns);
    free(op->coll);
    free(op->path);
    json_decref(op->query);
    json_decref(op->json);
    free(op->cmd);
    ow_op_clear_script(op);
    json_decref(op->out);
    free(op->text);
    free(op->forward);
    json_decref(op->keep);
    json_decref(op->old);
    free(op->code_key);
    free(op->code_buf);
    free(op);
}

/* ---- responses ---- */

int
ow_done(ow_op_t *op, int status, json_t *body)
{
    op->status = status;
    json_decref(op->out);
    op->out = body;
    op->next = NULL;
    return OW_STEP_DONE;
}

int
ow_error(ow_op_t *op, int status, const char *fmt, ...)
{
    va_list   ap;
    char      msg[1024], *p;
    json_t   *body;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    body = json_pack("{s:s}", "error", msg);
    if (body == NULL) {
        /*
         * not UTF-8: a name from the request quoted as it came (jansson
         * takes no such string); its bytes shown as '?' rather than an
         * error without a body
         */
        for (p = msg; *p; p++) {
            if ((unsigned char) *p >= 0x80) {
                *p = '?';
            }
        }
        body = json_pack("{s:s}", "error", msg);
    }

    return ow_done(op, status, body);
}

int
ow_done_text(ow_op_t *op, int status, const char *text)
{
    free(op->text);
    op->text = strdup(text);
    op->text_len = op->text ? strlen(op->text) : 0;
    op->text_is_json = 0;
    return ow_done(op, status, NULL);
}

int
ow_done_json_text(ow_op_t *op, int status, const char *json, size_t len)
{
    free(op->text);
    op->text = malloc(len + 1);
    if (op->text == NULL) {
        return ow_error(op, 500, "out of memory");
    }
    memcpy(op->text, json, len);
    op->text[len] = '\0';
    op->text_len = len;
    op->text_is_json = 1;
    return ow_done(op, status, NULL);
}

int
ow_not_found(ow_op_t *op)
{
    return ow_error(op, 404, OW_MSG_NOT_FOUND);
}

int
ow_forbidden(ow_op_t *op)
{
    if (op->path) {
        return ow_error(op, 403, "The supplied authentication is not "
                        "authorized to access '%s/%s'.", op->ns, op->path);
    }
    return ow_error(op, 403, "The supplied authentication is not authorized "
                    "to access '%s'.", op->ns);
}

char *
ow_op_response_body(ow_op_t *op, const char *request_id, size_t *len)
{
    char  *s;

    if (op->out == NULL) {
        /* the caller takes the text */
        s = op->text ? op->text : strdup("");
        *len = op->text ? op->text_len : 0;
        op->text = NULL;
        return s;
    }

    if (op->status >= 400 && json_is_object(op->out)
        && json_object_get(op->out, "error")
        && json_object_get(op->out, "code") == NULL)
    {
        json_object_set_new(op->out, "code",
                            json_string(request_id ? request_id : ""));
    }

    s = json_dumps(op->out, OW_JSON_DUMP | JSON_ENCODE_ANY);
    *len = s ? strlen(s) : 0;
    return s;
}

/* ---- Redis steps ---- */

int
ow_redis(ow_op_t *op, ow_step_pt next, int argc, const char **argv,
    const size_t *argvlen)
{
    char  *cmd;
    int    len;

    free(op->cmd);
    op->cmd = NULL;

    len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0) {
        return ow_error(op, 500, "out of memory");
    }

    op->cmd = cmd;
    op->cmd_len = len;
    op->next = next;
    return OW_STEP_REDIS;
}

int
ow_redisf(ow_op_t *op, ow_step_pt next, const char *fmt, ...)
{
    va_list  ap;
    char    *cmd;
    int      len;

    free(op->cmd);
    op->cmd = NULL;

    va_start(ap, fmt);
    len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);

    if (len < 0) {
        return ow_error(op, 500, "out of memory");
    }

    op->cmd = cmd;
    op->cmd_len = len;
    op->next = next;
    return OW_STEP_REDIS;
}

static void
ow_script_sha(ow_script_t *s)
{
    unsigned char  md[SHA_DIGEST_LENGTH];
    int            i;

    SHA1((const unsigned char *) s->body, strlen(s->body), md);
    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        sprintf(s->sha + 2 * i, "%02x", md[i]);
    }
}

static pthread_mutex_t  ow_script_sha_lock = PTHREAD_MUTEX_INITIALIZER;

static int
ow_script_send(ow_op_t *op, int use_body)
{
    const char  *argv[64];
    size_t       argvlen[64];
    char         nkeys[16];
    int          i, argc;
    ow_step_pt   next;

    argc = 0;
    argv[argc] = use_body ? "EVAL" : "EVALSHA";
    argvlen[argc++] = use_body ? 4 : 7;
    argv[argc] = use_body ? op->script->body : op->script->sha;
    argvlen[argc++] = use_body ? strlen(op->script->body) : 40;
    snprintf(nkeys, sizeof(nkeys), "%d", op->script_nkeys);
    argv[argc] = nkeys;
    argvlen[argc++] = strlen(nkeys);

    for (i = 0; i < op->script_argc && argc < 64; i++) {
        argv[argc] = op->script_argv[i];
        argvlen[argc++] = op->script_argvlen[i];
    }

    next = op->next;
    return ow_redis(op, next, argc, argv, argvlen);
}

int
ow_script(ow_op_t *op, ow_step_pt next, const ow_script_t *s, int nkeys,
    int argc, const char **argv, const size_t *argvlen)
{
    int     i;
    size_t  len;

    ow_op_clear_script(op);

    if (argc > 60) {
        return ow_error(op, 500, "too many script arguments");
    }

    /* steps run on the event loop and on the glue's thread pool */
    pthread_mutex_lock(&ow_script_sha_lock);
    if (s->sha[0] == '\0') {
        ow_script_sha((ow_script_t *) s);
    }
    pthread_mutex_unlock(&ow_script_sha_lock);

    op->script = s;
    op->script_argc = argc;
    op->script_argv = calloc(argc ? argc : 1, sizeof(char *));
    op->script_argvlen = calloc(argc ? argc : 1, sizeof(size_t));

    for (i = 0; i < argc; i++) {
        len = argvlen ? argvlen[i] : strlen(argv[i]);
        op->script_argv[i] = malloc(len + 1);
        memcpy(op->script_argv[i], argv[i], len);
        op->script_argv[i][len] = '\0';
        op->script_argvlen[i] = len;
    }

    op->script_nkeys = nkeys;
    op->next = next;
    return ow_script_send(op, 0);
}

int
ow_api_resume(ow_op_t *op, const redisReply *reply)
{
    ow_step_pt  next;

    if (reply == NULL) {
        return ow_error(op, 503, OW_MSG_UNAVAILABLE);
    }

    if (reply->type == REDIS_REPLY_ERROR && op->script
        && strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        /* first use of the script on this server: send its body once */
        return ow_script_send(op, 1);
    }

    next = op->next;
    ow_op_clear_script(op);

    if (next == NULL) {
        return ow_error(op, 500, "internal error: no continuation");
    }

    return next(op, reply);
}

int
ow_reply_is(const redisReply *r, const char *code)
{
    size_t  n;

    if (r == NULL || r->type != REDIS_REPLY_ERROR) {
        return 0;
    }
    n = strlen(code);
    return strncmp(r->str, code, n) == 0
           && (r->str[n] == ' ' || r->str[n] == '\0');
}

/* ---- request parsing ---- */

char *
ow_key(const char *fmt, const char *ns, const char *rest)
{
    size_t  n;
    char   *k;

    n = strlen(fmt) + strlen(ns) + (rest ? strlen(rest) : 0) + 1;
    k = malloc(n);
    if (k) {
        if (rest) {
            snprintf(k, n, fmt, ns, rest);
        } else {
            snprintf(k, n, fmt, ns);
        }
    }
    return k;
}

json_t *
ow_parse_query(const char *args, size_t len)
{
    json_t      *q;
    const char  *p, *end, *amp, *eq;
    char        *k, *v, *c;
    json_t      *s;

    q = json_object();
    if (args == NULL) {
        return q;
    }

    p = args;
    end = args + len;

    while (p < end) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }
        eq = memchr(p, '=', amp - p);

        k = ow_unescape(p, (eq ? eq : amp) - p);
        /* '+' is a space, but an escaped "%2B" stays a '+': replace first */
        v = eq ? strndup(eq + 1, amp - eq - 1) : strdup("");
        if (v) {
            for (c = v; *c; c++) {
                if (*c == '+') {
                    *c = ' ';
                }
            }
            c = v;
            v = ow_unescape(c, strlen(c));
            free(c);
        }

        if (k && v && *k) {
            s = json_string(v);
            json_object_set_new(q, k, s ? s : json_string(""));
        }
        free(k);
        free(v);
        p = amp + 1;
    }

    return q;
}

const char *
ow_query(ow_op_t *op, const char *name)
{
    return json_string_value(json_object_get(op->query, name));
}

int
ow_query_bool(ow_op_t *op, const char *name, int dflt)
{
    const char  *v;

    v = ow_query(op, name);
    if (v == NULL) {
        return dflt;
    }
    return strcmp(v, "true") == 0;
}

int
ow_parse_body(ow_op_t *op, int required)
{
    json_error_t  err;

    if (op->json) {
        /* a handler parsed it already (e.g. to reject a huge exec early) */
        return 0;
    }

    if (op->body == NULL || op->body_len == 0) {
        if (required) {
            ow_error(op, 400, OW_MSG_MALFORMED "The request content was "
                     "empty.");
            return -1;
        }
        op->json = json_object();
        return 0;
    }

    /* a duplicate key is ambiguous (which one wins?): reject it */
    op->json = json_loadb(op->body, op->body_len, JSON_REJECT_DUPLICATES,
                          &err);
    if (op->json == NULL) {
        ow_error(op, 400, OW_MSG_MALFORMED "%s at line %d, column %d",
                 err.text, err.line, err.column);
        return -1;
    }

    if (!json_is_object(op->json)) {
        ow_error(op, 400, OW_MSG_MALFORMED "Object expected.");
        return -1;
    }

    return 0;
}

int
ow_list_params(ow_op_t *op, const char *coll, long *limit, long *skip,
    int *count)
{
    const char  *v;
    char        *end;

    *limit = 30;
    *skip = 0;
    *count = ow_query_bool(op, "count", 0);

    v = ow_query(op, "limit");
    if (v) {
        *limit = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || *limit < 0 || *limit > 200) {
            ow_error(op, 400, "The value '%s' is not in the range of 0 to "
                     "200 for %s.", v, coll);
            return -1;
        }
        if (*limit == 0) {
            *limit = 200;
        }
    }

    v = ow_query(op, "skip");
    if (v) {
        *skip = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || *skip < 0) {
            ow_error(op, 400, "The value '%s' is not a valid skip "
                     "parameter.", v);
            return -1;
        }
    }

    return 0;
}

static int
ow_limits_loaded(ow_op_t *op, const redisReply *r)
{
    json_t  *o;

    if (r->type == REDIS_REPLY_STRING) {
        o = json_loadb(r->str, r->len, 0, NULL);
        ow_limits_apply(&op->limits, o);
        json_decref(o);
    }
    return op->then(op, NULL);
}

int
ow_load_limits(ow_op_t *op, ow_step_pt then)
{
    char  *key;
    int    rc;

    op->limits = op->conf->system_limits;
    op->then = then;
    key = ow_key(OW_KEY_LIMITS, op->ns, NULL);
    rc = ow_redisf(op, ow_limits_loaded, "GET %s", key);
    free(key);
    return rc;
}
