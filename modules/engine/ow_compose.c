/*
 * ow_compose.c: see ow_compose.h. The accounting follows OpenWhisk's
 * controller (SequenceActions.scala: SequenceAccounting; PrimitiveActions
 * .scala: invokeComposition / invokeConductor / waitForActivation).
 */

#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ow_compose.h"
#include "ow_names.h"
#include "ow_schema.h"

/* tools/owx/activation.py WRITE_LUA, byte for byte (ow_compose_test.cc) */

static const char  *ow_compose_status_text[] = {
    "success", "application error", "action developer error",
    "whisk internal error"
};

static json_t *
ow_compose_response(int status_code, json_t *result)
{
    json_t  *r;

    if (status_code < 0 || status_code > 3) {
        status_code = 3;
    }
    r = json_object();
    json_object_set_new(r, "status",
                        json_string(ow_compose_status_text[status_code]));
    json_object_set_new(r, "success", json_boolean(status_code == 0));
    json_object_set_new(r, "result", result ? result : json_object());
    return r;
}

static int
ow_compose_status_code(json_t *response)
{
    const char  *s;
    int          i;

    s = json_string_value(json_object_get(response, "status"));
    for (i = 0; s && i < 4; i++) {
        if (strcmp(s, ow_compose_status_text[i]) == 0) {
            return i;
        }
    }
    return json_is_true(json_object_get(response, "success")) ? 0 : 3;
}

static void
ow_compose_set_response(ow_compose_t *c, json_t *response)
{
    json_decref(c->response);
    c->response = response;
    c->status_code = ow_compose_status_code(response);
}

int
ow_compose_init(ow_compose_t *c, json_t *input, int atomic)
{
    memset(c, 0, sizeof(ow_compose_t));
    c->logs = json_array();
    c->max_memory = -1;
    c->atomic = atomic;
    c->response = ow_compose_response(0, input ? json_incref(input)
                                               : json_object());
    return (c->logs && c->response) ? 0 : -1;
}

void
ow_compose_free(ow_compose_t *c)
{
    json_decref(c->logs);
    json_decref(c->response);
    json_decref(c->limits);
    json_decref(c->state);
    c->logs = c->response = c->limits = c->state = NULL;
}

json_t *
ow_compose_input(ow_compose_t *c)
{
    return json_object_get(c->response, "result");
}

void
ow_compose_fail(ow_compose_t *c, int status_code, const char *msg,
    const char *activation_id)
{
    json_t  *result;

    if (activation_id && activation_id[0]) {
        json_array_append_new(c->logs, json_string(activation_id));
    }
    result = json_object();
    json_object_set_new(result, "error", json_string(msg));
    ow_compose_set_response(c, ow_compose_response(status_code, result));
}

static json_t *
ow_compose_annotation(json_t *record, const char *key)
{
    json_t  *a;
    size_t   i;

    json_array_foreach(json_object_get(record, "annotations"), i, a) {
        if (json_is_string(json_object_get(a, "key"))
            && strcmp(json_string_value(json_object_get(a, "key")), key)
               == 0)
        {
            return json_object_get(a, "value");
        }
    }
    return NULL;
}

/* a component's activation record: account for it like OpenWhisk does */
static void
ow_compose_account(ow_compose_t *c, json_t *record)
{
    json_t   *v, *limits;
    int64_t   memory;

    v = json_object_get(record, "activationId");
    if (json_is_string(v)) {
        json_array_append(c->logs, v);
    }

    v = json_object_get(record, "duration");
    if (json_is_integer(v)) {
        c->duration += json_integer_value(v);
    } else if (json_is_integer(json_object_get(record, "end"))) {
        c->duration += json_integer_value(json_object_get(record, "end"))
                       - json_integer_value(json_object_get(record,
                                                            "start"));
    }

    limits = ow_compose_annotation(record, "limits");
    v = json_object_get(limits, "memory");
    if (json_is_integer(v)) {
        memory = json_integer_value(v);
        if (memory > c->max_memory) {
            c->max_memory = memory;
        }
    }

    ow_compose_set_response(c, json_deep_copy(json_object_get(record,
                                                              "response")));
}

int
ow_compose_step(ow_compose_t *c, int sequence, int http_status,
    const char *body, size_t len, const char *activation_id, int nested)
{
    json_t      *o, *result, *v;
    char         msg[160];
    const char  *id;
    int          go;

    /*
     * JSON_ALLOW_NUL: a result may hold "\u0000" (the sidecar writes what
     * the action returned, or quotes a reply that was not JSON); without
     * it jansson refuses the record and the run fails as the platform's
     */
    o = (body && len) ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;

    if ((http_status == 200 || http_status == 502 || http_status == 500)
        && json_is_object(json_object_get(o, "response")))
    {
        if (!sequence && c->limits == NULL) {
            /* the first activation of a composition is the conductor's */
            v = json_object_get(o, "version");
            snprintf(c->version, sizeof(c->version), "%s",
                     json_is_string(v) ? json_string_value(v) : "0.0.1");
            c->limits = json_deep_copy(ow_compose_annotation(o, "limits"));
            if (c->limits == NULL) {
                c->limits = json_object();
            }
        }

        ow_compose_account(c, o);
        json_decref(o);

        if (!sequence) {
            /* a composition hands errors back to its conductor */
            return 1;
        }

        c->atomic = nested >= 0 ? nested : c->atomic + 1;
        if (c->atomic > OW_COMPOSE_MAX_ATOMIC) {
            ow_compose_fail(c, 1, OW_MSG_SEQ_TOO_LONG, NULL);
            return 0;
        }

        /* stop at the first result with an "error" field (§4) */
        result = json_object_get(c->response, "result");
        go = !(json_is_object(result)
               && json_object_get(result, "error") != NULL);
        return go;
    }

    if (http_status == 202) {
        /* the component outlived the blocking wait */
        id = json_string_value(json_object_get(o, "activationId"));
        if (id == NULL) {
            id = activation_id ? activation_id : "";
        }
        snprintf(msg, sizeof(msg), sequence
                 ? "Timeout reached when retrieving activation %s for "
                   "sequence component."
                 : "Timeout reached when retrieving activation %s during "
                   "composition.", id);
        ow_compose_fail(c, 3, msg, id);
        json_decref(o);
        return 0;
    }

    json_decref(o);

    if (http_status == 404) {
        if (sequence) {
            ow_compose_fail(c, 1, OW_MSG_SEQ_NOT_FOUND, NULL);
            return 0;
        }
        return 2;
    }

    if (http_status == 403 && !sequence) {
        return 3;
    }

    ow_compose_fail(c, 3, sequence ? OW_MSG_SEQ_FAILED : OW_MSG_COMP_FAILED,
                    NULL);
    return 0;
}

/* auto-box a value that is not a dictionary as {key: value} */
static json_t *
ow_compose_box(json_t *v, const char *key)
{
    json_t  *o;

    if (v == NULL) {
        return NULL;
    }
    if (json_is_object(v)) {
        return json_incref(v);
    }
    o = json_object();
    json_object_set(o, key, v);
    return o;
}

static json_t *
ow_compose_error_params(const char *fmt, const char *what)
{
    json_t  *o;
    char    *msg;
    size_t   n;

    n = strlen(fmt) + strlen(what) + 1;
    msg = malloc(n);
    if (msg == NULL) {
        return NULL;
    }
    snprintf(msg, n, fmt, what);
    o = json_object();
    json_object_set_new(o, "error", json_string(msg));
    free(msg);
    return o;
}

int
ow_compose_conductor(ow_compose_t *c, const char *ns, char **next,
    json_t **params)
{
    json_t    *result, *p, *action;
    char      *s;
    ow_fqn_t   fqn;
    size_t     n;

    *next = NULL;
    *params = NULL;

    result = json_object_get(c->response, "result");
    if (!json_is_object(result)) {
        result = NULL;
    }

    p = ow_compose_box(json_object_get(result, "params"), "value");

    json_decref(c->state);
    c->state = ow_compose_box(json_object_get(result, "state"), "state");

    action = json_object_get(result, "action");
    if (action == NULL) {
        /* done: the conductor's status, its params or else its result */
        ow_compose_set_response(c, ow_compose_response(c->status_code,
            p ? p : (result ? json_incref(result) : json_object())));
        return 0;
    }

    if (!json_is_string(action)
        || ow_fqn_parse(json_string_value(action), ns, &fqn) != 0)
    {
        json_decref(p);
        s = json_dumps(action, OW_COMPOSE_DUMP | JSON_ENCODE_ANY);
        *params = ow_compose_error_params("Failed to parse action name from "
                                          "json value %s during composition.",
                                          s ? s : "null");
        free(s);
        return -1;
    }

    if (c->components >= OW_COMPOSE_MAX_ATOMIC) {
        ow_fqn_free(&fqn);
        json_decref(p);
        *params = json_object();
        json_object_set_new(*params, "error",
                            json_string(OW_MSG_COMP_TOO_LONG));
        return -1;
    }

    n = strlen(fqn.ns) + (fqn.pkg ? strlen(fqn.pkg) : 0)
        + strlen(fqn.name) + 4;
    *next = malloc(n);
    if (*next == NULL) {
        ow_fqn_free(&fqn);
        json_decref(p);
        return -1;
    }
    if (fqn.pkg) {
        snprintf(*next, n, "/%s/%s/%s", fqn.ns, fqn.pkg, fqn.name);
    } else {
        snprintf(*next, n, "/%s/%s", fqn.ns, fqn.name);
    }
    ow_fqn_free(&fqn);

    *params = p ? p : json_object();
    return 1;
}

json_t *
ow_compose_conductor_input(ow_compose_t *c, json_t *params)
{
    json_t  *in;

    in = json_is_object(params) ? json_deep_copy(params) : json_object();
    if (c->state) {
        json_object_update(in, c->state);
    }
    return in;
}

json_t *
ow_compose_record(ow_compose_t *c, const ow_compose_record_in_t *in)
{
    json_t      *r, *anns, *limits, *v;
    const char  *name;

    name = strrchr(in->action, '/');
    name = name ? name + 1 : in->action;

    r = json_object();
    json_object_set_new(r, "namespace", json_string(in->ns));
    json_object_set_new(r, "name", json_string(name));
    json_object_set_new(r, "version",
                        json_string(in->version ? in->version
                                    : (c->version[0] ? c->version
                                                     : "0.0.1")));
    json_object_set_new(r, "publish", json_false());
    json_object_set_new(r, "subject",
                        json_string(in->subject ? in->subject : in->ns));
    json_object_set_new(r, "activationId", json_string(in->activation_id));
    json_object_set_new(r, "start", json_integer(in->start));
    json_object_set_new(r, "end", json_integer(in->end));
    json_object_set_new(r, "duration", json_integer(c->duration));
    if (in->cause && in->cause[0]) {
        json_object_set_new(r, "cause", json_string(in->cause));
    }
    json_object_set(r, "response", c->response);
    json_object_set(r, "logs", c->logs);

    anns = json_array();

#define OW_ANN(k, val)                                                      \
    do {                                                                    \
        json_t *a_ = json_object();                                         \
        json_object_set_new(a_, "key", json_string(k));                     \
        json_object_set_new(a_, "value", val);                              \
        json_array_append_new(anns, a_);                                    \
    } while (0)

    OW_ANN("topmost", json_boolean(in->cause == NULL || !in->cause[0]));
    OW_ANN("path", json_string(in->action));
    OW_ANN("kind", json_string("sequence"));
    if (in->conductor) {
        OW_ANN("conductor", json_true());
    }
    if (in->cause && in->cause[0]) {
        OW_ANN("causedBy", json_string("sequence"));
    }
    if (in->conductor && in->wait_time >= 0) {
        OW_ANN("waitTime", json_integer(in->wait_time));
    }

    /* ActionLimits(timeout, max memory, logs): only when a component ran */
    v = in->limits ? in->limits : c->limits;
    if (c->max_memory >= 0) {
        limits = json_object();
        json_object_set_new(limits, "timeout",
            json_integer(json_is_integer(json_object_get(v, "timeout"))
                ? json_integer_value(json_object_get(v, "timeout"))
                : 60000));
        json_object_set_new(limits, "memory", json_integer(c->max_memory));
        json_object_set_new(limits, "logs",
            json_integer(json_is_integer(json_object_get(v, "logs"))
                ? json_integer_value(json_object_get(v, "logs")) : 10));
        json_object_set_new(limits, "concurrency",
            json_integer(json_is_integer(json_object_get(v, "concurrency"))
                ? json_integer_value(json_object_get(v, "concurrency"))
                : 1));
        OW_ANN("limits", limits);
    }

#undef OW_ANN

    json_object_set_new(r, "annotations", anns);
    return r;
}

char *
ow_compose_answer(json_t *record, int result_only, int *status)
{
    json_t  *response, *result;
    int      code;

    response = json_object_get(record, "response");
    result = json_object_get(response, "result");
    code = ow_compose_status_code(response);
    *status = code == 0 ? 200 : code == 3 ? 500 : 502;

    if (json_is_array(result)) {
        return json_dumps(result, OW_COMPOSE_DUMP);
    }
    if (result_only) {
        return result ? json_dumps(result, OW_COMPOSE_DUMP | JSON_ENCODE_ANY)
                      : strdup("{}");
    }
    return json_dumps(record, OW_COMPOSE_DUMP);
}

void
ow_compose_index_name(json_t *record, char *buf, size_t size)
{
    const char  *name, *path;

    name = json_string_value(json_object_get(record, "name"));
    path = json_string_value(ow_compose_annotation(record, "path"));
    ow_compose_index_name_of(path, path ? strlen(path) : 0,
                             name ? name : "", name ? strlen(name) : 0,
                             buf, size);
}

void
ow_compose_index_name_of(const char *path, size_t path_len,
    const char *name, size_t name_len, char *buf, size_t size)
{
    const char  *end, *a, *b;

    end = path ? path + path_len : NULL;
    a = path ? memchr(path, '/', path_len) : NULL;
    b = a ? memchr(a + 1, '/', end - a - 1) : NULL;
    if (b && memchr(b + 1, '/', end - b - 1) == NULL) {
        snprintf(buf, size, "%.*s/%.*s", (int) (b - a - 1), a + 1,
                 (int) name_len, name);
        return;
    }
    snprintf(buf, size, "%.*s", (int) name_len, name);
}

/* append one RESP bulk string */
static char *
ow_compose_bulk(char *p, const char *s, size_t len)
{
    p += sprintf(p, "$%zu\r\n", len);
    memcpy(p, s, len);
    p += len;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

char *
ow_compose_write_command(json_t *record, int64_t retention_ms,
    size_t *len)
{
    return ow_compose_write_command_as(record, NULL, retention_ms, len);
}

char *
ow_compose_write_command_as(json_t *record, const char *dumped,
    int64_t retention_ms, size_t *len)
{
    const char  *ns, *id;
    char        *json, *cmd, *p, k1[1024], k2[600], k3[1400], nm[800];
    char         start[32], ret[32];
    size_t       n;

    ns = json_string_value(json_object_get(record, "namespace"));
    id = json_string_value(json_object_get(record, "activationId"));
    if (ns == NULL || id == NULL
        || !json_is_integer(json_object_get(record, "start")))
    {
        return NULL;
    }

    ow_compose_index_name(record, nm, sizeof(nm));
    snprintf(k1, sizeof(k1), OW_KEY_ACTIVATION, ns, id);
    snprintf(k2, sizeof(k2), OW_KEY_ACT_INDEX, ns);
    snprintf(k3, sizeof(k3), OW_KEY_ACT_NAME_INDEX, ns, nm);
    snprintf(start, sizeof(start), "%lld",
             (long long) json_integer_value(json_object_get(record,
                                                            "start")));
    snprintf(ret, sizeof(ret), "%lld", (long long) retention_ms);

    json = dumped ? strdup(dumped) : json_dumps(record, OW_COMPOSE_DUMP);
    if (json == NULL) {
        return NULL;
    }

    n = strlen(json) + sizeof(OW_LUA_WRITE_ACTIVATION) + strlen(k1)
        + strlen(k2) + strlen(k3) + strlen(id) + 64 + 10 * 24;
    cmd = malloc(n);
    if (cmd == NULL) {
        free(json);
        return NULL;
    }

    p = cmd + sprintf(cmd, "*10\r\n");
    p = ow_compose_bulk(p, "EVAL", 4);
    p = ow_compose_bulk(p, OW_LUA_WRITE_ACTIVATION,
                        sizeof(OW_LUA_WRITE_ACTIVATION) - 1);
    p = ow_compose_bulk(p, "3", 1);
    p = ow_compose_bulk(p, k1, strlen(k1));
    p = ow_compose_bulk(p, k2, strlen(k2));
    p = ow_compose_bulk(p, k3, strlen(k3));
    p = ow_compose_bulk(p, json, strlen(json));
    p = ow_compose_bulk(p, start, strlen(start));
    p = ow_compose_bulk(p, id, strlen(id));
    p = ow_compose_bulk(p, ret, strlen(ret));
    free(json);

    *len = p - cmd;
    return cmd;
}

static pthread_once_t  ow_compose_batch_sha_once = PTHREAD_ONCE_INIT;
static char            ow_compose_batch_sha[41];

static void
ow_compose_batch_sha_init(void)
{
    unsigned char  md[SHA_DIGEST_LENGTH];
    int            i;

    SHA1((const unsigned char *) OW_LUA_WRITE_ACTIVATIONS,
         sizeof(OW_LUA_WRITE_ACTIVATIONS) - 1, md);
    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        sprintf(ow_compose_batch_sha + 2 * i, "%02x", md[i]);
    }
}

/* what follows "*<argc>\r\n" in an EVALSHA of the batch script */
#define OW_COMPOSE_EVALSHA  "$7\r\nEVALSHA\r\n$40\r\n"

char *
ow_compose_write_batch_command(const char *ns, size_t ns_len,
    const char *index_name, size_t index_len,
    const ow_compose_batch_record_t *recs, size_t n, int64_t retention_ms,
    size_t *len)
{
    char    *cmd, *p, nsz[257], idz[257], nmz[801], key[1400], num[32];
    size_t   i, size;

    if (n == 0 || ns_len >= sizeof(nsz) || index_len >= sizeof(nmz)) {
        return NULL;
    }
    snprintf(nsz, sizeof(nsz), "%.*s", (int) ns_len, ns);
    snprintf(nmz, sizeof(nmz), "%.*s", (int) index_len, index_name);

    size = 128 + 2 * sizeof(key);
    for (i = 0; i < n; i++) {
        if (recs[i].id_len >= sizeof(idz)) {
            return NULL;
        }
        size += recs[i].json_len + 2 * recs[i].id_len + ns_len
                + sizeof(OW_KEY_ACTIVATION) + 5 * 24;
    }
    cmd = malloc(size);
    if (cmd == NULL) {
        return NULL;
    }

    pthread_once(&ow_compose_batch_sha_once, ow_compose_batch_sha_init);
    p = cmd + sprintf(cmd, "*%zu\r\n" OW_COMPOSE_EVALSHA "%s\r\n",
                      3 + 2 + n + 1 + 3 * n, ow_compose_batch_sha);
    snprintf(num, sizeof(num), "%zu", 2 + n);
    p = ow_compose_bulk(p, num, strlen(num));

    /* the keys (docs/redis-schema.md), spelled by the schema's formats */
    snprintf(key, sizeof(key), OW_KEY_ACT_INDEX, nsz);
    p = ow_compose_bulk(p, key, strlen(key));
    snprintf(key, sizeof(key), OW_KEY_ACT_NAME_INDEX, nsz, nmz);
    p = ow_compose_bulk(p, key, strlen(key));
    for (i = 0; i < n; i++) {
        snprintf(idz, sizeof(idz), "%.*s", (int) recs[i].id_len, recs[i].id);
        snprintf(key, sizeof(key), OW_KEY_ACTIVATION, nsz, idz);
        p = ow_compose_bulk(p, key, strlen(key));
    }

    snprintf(num, sizeof(num), "%lld", (long long) retention_ms);
    p = ow_compose_bulk(p, num, strlen(num));
    for (i = 0; i < n; i++) {
        p = ow_compose_bulk(p, recs[i].json, recs[i].json_len);
        snprintf(num, sizeof(num), "%lld", (long long) recs[i].start);
        p = ow_compose_bulk(p, num, strlen(num));
        p = ow_compose_bulk(p, recs[i].id, recs[i].id_len);
    }

    *len = p - cmd;
    *p = '\0';
    return cmd;
}

char *
ow_compose_write_batch_eval(const char *cmd, size_t len, size_t *out_len)
{
    const char  *eol, *rest;
    char        *eval, *p;
    size_t       head;

    /* "*<argc>\r\n" then EVALSHA and the SHA1, 40 hex digits */
    eol = memchr(cmd, '\n', len);
    if (cmd[0] != '*' || eol == NULL) {
        return NULL;
    }
    head = eol + 1 - cmd;
    if (len < head + sizeof(OW_COMPOSE_EVALSHA) - 1 + 42
        || memcmp(cmd + head, OW_COMPOSE_EVALSHA,
                  sizeof(OW_COMPOSE_EVALSHA) - 1) != 0)
    {
        return NULL;
    }
    rest = cmd + head + sizeof(OW_COMPOSE_EVALSHA) - 1 + 42;

    eval = malloc(len + sizeof(OW_LUA_WRITE_ACTIVATIONS) + 64);
    if (eval == NULL) {
        return NULL;
    }
    p = eval;
    memcpy(p, cmd, head);
    p += head;
    p = ow_compose_bulk(p, "EVAL", 4);
    p = ow_compose_bulk(p, OW_LUA_WRITE_ACTIVATIONS,
                        sizeof(OW_LUA_WRITE_ACTIVATIONS) - 1);
    memcpy(p, rest, cmd + len - rest);
    p += cmd + len - rest;
    *p = '\0';
    *out_len = p - eval;
    return eval;
}

int
ow_compose_component_path(const char *name, const char *ns, char *buf,
    size_t size)
{
    ow_fqn_t  fqn;
    int       n;

    if (ow_fqn_parse(name, ns, &fqn) != 0) {
        return -1;
    }
    if (fqn.pkg) {
        n = snprintf(buf, size, "%s/actions/%s/%s", fqn.ns, fqn.pkg,
                     fqn.name);
    } else {
        n = snprintf(buf, size, "%s/actions/%s", fqn.ns, fqn.name);
    }
    ow_fqn_free(&fqn);
    return (n < 0 || (size_t) n >= size) ? -1 : 0;
}
