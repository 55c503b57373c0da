/*
 * ow_api_activations.c: /namespaces/{ns}/activations (openwhisk-api.md §3,
 * §4). Read only: the sidecar writes the records (docs/redis-schema.md,
 * "Activation record"; tools/owx/activation.py is the reference writer).
 *
 * A record is stored in its user-facing form, so GET returns it as is; a
 * list summary derives its top-level statusCode from response.status.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ow_op.h"
#include "ow_api_handlers.h"
#include "ow_names.h"
#include "ow_schema.h"

#define OW_ACT_ID_LEN     32

/* op->flags: what a GET of one activation answers */
#define OW_ACT_RECORD     0
#define OW_ACT_RESULT     1
#define OW_ACT_LOGS       2

/* op->flags of a list */
#define OW_ACT_DOCS       1

#define OW_MSG_BAD_EPOCH \
    "The query parameter '%s' was malformed:\n" \
    "Parameter is not a valid value for epoch seconds: %s"
#define OW_MSG_BAD_FILTER \
    "The query parameter 'name' was malformed:\n" \
    "Parameter may be a 'simple' name or 'package-name/simple' name: %s"


/*
 * list: KEYS index; ARGV record key prefix, max score, min score, skip,
 * limit, count (0/1) -> count, or {record, ...} newest first.
 *
 * A record expires at start + retention (its index score plus a constant),
 * so until the next write trims the index, its dead entries are exactly
 * those scored at or below now - retention = score - PTTL of any live
 * record: the newest live one (among the newest 100; none alive means the
 * namespace has been idle past the retention) gives that floor, and ranges
 * start above it. Entries whose records vanished otherwise (deleted by hand)
 * are skipped while a page is filled, so a page still gets `limit` records;
 * skip counts index entries (cheap: no record is read for them) and count
 * counts them too.
 */
static ow_script_t  ow_script_act_list = { "act_list",
    "local pre = ARGV[1]\n"
    "local min = ARGV[3]\n"
    "local top = redis.call('ZREVRANGE', KEYS[1], 0, 99, 'WITHSCORES')\n"
    "local live, floor = false, nil\n"
    "for i = 1, #top, 2 do\n"
    "  local ttl = redis.call('PTTL', pre .. top[i])\n"
    "  if ttl ~= -2 then\n"
    "    live = true\n"
    "    if ttl >= 0 then floor = tonumber(top[i + 1]) - ttl end\n"
    "    break\n"
    "  end\n"
    "end\n"
    "if not live then\n"
    "  if ARGV[6] == '1' then return 0 end\n"
    "  return {}\n"
    "end\n"
    "if floor and (min == '-inf' or floor >= tonumber(min)) then\n"
    "  min = '(' .. string.format('%d', floor)\n"
    "end\n"
    "if ARGV[6] == '1' then\n"
    "  return redis.call('ZCOUNT', KEYS[1], min, ARGV[2])\n"
    "end\n"
    "local offset = tonumber(ARGV[4])\n"
    "local limit = tonumber(ARGV[5])\n"
    "local out = {}\n"
    "while #out < limit do\n"
    "  local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[2], min,"
    " 'LIMIT', offset, limit - #out)\n"
    "  if #ids == 0 then break end\n"
    "  offset = offset + #ids\n"
    "  for _, id in ipairs(ids) do\n"
    "    local d = redis.call('GET', pre .. id)\n"
    "    if d then out[#out + 1] = d end\n"
    "  end\n"
    "end\n"
    "return out\n",
    ""
};


/* an integral real below 2^53 as an integer, else NULL */
static json_t *
ow_act_int_of(const json_t *v)
{
    double  d;

    if (!json_is_real(v)) {
        return NULL;
    }
    d = json_real_value(v);
    if (d >= 9007199254740992.0 || d <= -9007199254740992.0
        || d != (double) (json_int_t) d)
    {
        return NULL;
    }
    return json_integer((json_int_t) d);
}

/* reals that hold an integer below 2^53 become integers again */
static void
ow_act_fix_ints(json_t *v)
{
    const char  *k;
    json_t      *e, *i_v;
    size_t       i;

    if (json_is_object(v)) {
        json_object_foreach(v, k, e) {
            i_v = ow_act_int_of(e);
            if (i_v) {
                json_object_set_new(v, k, i_v);
            } else {
                ow_act_fix_ints(e);
            }
        }

    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            i_v = ow_act_int_of(e);
            if (i_v) {
                json_array_set_new(v, i, i_v);
            } else {
                ow_act_fix_ints(e);
            }
        }
    }
}

/*
 * Parse a stored record. An action may return integers beyond 64 bits,
 * which jansson refuses: such a record is read with integers as reals (and
 * the ones that fit turned back), rather than hidden. And strings holding
 * "\u0000" (a result's, or a reply that was not JSON quoted in the error),
 * which jansson refuses too unless told (JSON_ALLOW_NUL).
 */
static json_t *
ow_act_load(const redisReply *r)
{
    json_t  *rec;

    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        return NULL;
    }

    rec = json_loadb(r->str, r->len, JSON_ALLOW_NUL, NULL);
    if (rec == NULL) {
        rec = json_loadb(r->str, r->len,
                         JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, NULL);
        if (rec) {
            ow_act_fix_ints(rec);
        }
    }

    if (rec && !json_is_object(rec)) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

/* response.status text -> the statusCode of a summary, -1 if unknown */
static int
ow_act_status_code(const json_t *rec)
{
    static const char  *texts[] = {
        "success", "application error", "action developer error",
        "whisk internal error", NULL
    };
    const json_t       *resp, *v;
    const char         *s;
    int                 i;

    resp = json_object_get(rec, "response");

    /* a record written with the internal field keeps working */
    v = json_object_get(resp, "statusCode");
    if (json_is_integer(v)) {
        return (int) json_integer_value(v);
    }

    s = json_string_value(json_object_get(resp, "status"));
    if (s == NULL) {
        return -1;
    }
    for (i = 0; texts[i]; i++) {
        if (strcmp(s, texts[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/*
 * The list entry of the OpenWhisk activations view: end, duration and
 * statusCode only for activations that ended (trigger activations have no
 * end), cause only when set.
 */
static json_t *
ow_act_summary(json_t *rec)
{
    static const char  *fields[] = {
        "namespace", "name", "version", "publish", "annotations",
        "activationId", "start", NULL
    };
    const char        **f;
    json_t             *s, *v, *end, *start;
    int                 code;

    s = json_object();
    for (f = fields; *f; f++) {
        v = json_object_get(rec, *f);
        if (v) {
            json_object_set(s, *f, v);
        }
    }

    end = json_object_get(rec, "end");
    if (json_is_integer(end) && json_integer_value(end) != 0) {
        json_object_set(s, "end", end);

        v = json_object_get(rec, "duration");
        start = json_object_get(rec, "start");
        if (json_is_integer(v)) {
            json_object_set(s, "duration", v);
        } else if (json_is_integer(start)) {
            json_object_set_new(s, "duration",
                json_integer(json_integer_value(end)
                             - json_integer_value(start)));
        }

        code = ow_act_status_code(rec);
        if (code >= 0) {
            json_object_set_new(s, "statusCode", json_integer(code));
        }
    }

    v = json_object_get(rec, "cause");
    if (v && !json_is_null(v)) {
        json_object_set(s, "cause", v);
    }

    json_decref(rec);
    return s;
}


/* ---- GET /activations ---- */

/*
 * Java's Long.parseLong: an optional sign and decimal digits that fit 64
 * bits. The normalized value goes to buf.
 */
static int
ow_act_epoch(ow_op_t *op, const char *name, char *buf, size_t n)
{
    const char  *v, *p;
    char        *end;
    long long    ms;

    v = ow_query(op, name);
    if (v == NULL) {
        return 1;
    }

    p = (*v == '+' || *v == '-') ? v + 1 : v;
    if (!isdigit((unsigned char) *p)) {
        goto bad;
    }

    errno = 0;
    ms = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0') {
        goto bad;
    }

    snprintf(buf, n, "%lld", ms);
    return 0;

bad:
    ow_error(op, 400, OW_MSG_BAD_EPOCH, name, v);
    return -1;
}

/*
 * The name filter: "action" or "pkg/action" (empty segments ignored, as
 * OpenWhisk's EntityPath does). A blank value means no filter. Returns 0
 * with *out set (NULL: no filter) or -1 after finishing the op with 400.
 */
static int
ow_act_name_filter(ow_op_t *op, char **out)
{
    const char  *v, *p, *s;
    char        *name;
    size_t       len, n;
    int          parts;

    *out = NULL;
    v = ow_query(op, "name");
    if (v == NULL) {
        return 0;
    }

    len = strlen(v);
    name = malloc(len + 1);
    if (name == NULL) {
        ow_error(op, 500, "out of memory");
        return -1;
    }

    n = 0;
    parts = 0;
    p = v;

    while (*p) {
        while (*p == '/') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        s = p;
        while (*p && *p != '/') {
            p++;
        }
        if (++parts > 2 || !ow_name_valid(s, p - s)) {
            parts = -1;
            break;
        }
        if (n) {
            name[n++] = '/';
        }
        memcpy(name + n, s, p - s);
        n += p - s;
    }
    name[n] = '\0';

    if (parts > 0) {
        *out = name;
        return 0;
    }
    free(name);

    /* Java's trim(): every character up to the space */
    for (p = v; *p; p++) {
        if ((unsigned char) *p > ' ') {
            ow_error(op, 400, OW_MSG_BAD_FILTER, v);
            return -1;
        }
    }
    return 0;
}

static int
ow_act_listed(ow_op_t *op, const redisReply *r)
{
    json_t  *out, *rec;
    size_t   i;

    if (r->type == REDIS_REPLY_INTEGER) {
        return ow_done(op, 200, json_pack("{s:I}", "activations",
                                          (json_int_t) r->integer));
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        return ow_error(op, 500, "activation store error");
    }

    out = json_array();
    for (i = 0; i < r->elements; i++) {
        rec = ow_act_load(r->element[i]);
        if (rec == NULL) {
            continue;
        }
        json_array_append_new(out, (op->flags & OW_ACT_DOCS)
                                   ? rec : ow_act_summary(rec));
    }
    return ow_done(op, 200, out);
}

static int
ow_act_list(ow_op_t *op)
{
    const char  *argv[7];
    char         since[32], upto[32], skip_s[24], limit_s[24];
    char        *name, *index, *prefix;
    long         limit, skip;
    int          count, docs, rc;

    if (ow_list_params(op, "activations", &limit, &skip, &count) != 0) {
        return OW_STEP_DONE;
    }
    docs = ow_query_bool(op, "docs", 0);

    if (ow_act_name_filter(op, &name) != 0) {
        return OW_STEP_DONE;
    }

    strcpy(since, "-inf");
    strcpy(upto, "+inf");
    if (ow_act_epoch(op, "since", since, sizeof(since)) < 0
        || ow_act_epoch(op, "upto", upto, sizeof(upto)) < 0)
    {
        free(name);
        return OW_STEP_DONE;
    }

    if (count && docs) {
        free(name);
        return ow_error(op, 400, "The parameter 'docs' is not permitted "
                        "with 'count'.");
    }

    op->flags = docs ? OW_ACT_DOCS : 0;

    index = name ? ow_key(OW_KEY_ACT_NAME_INDEX, op->ns, name)
                 : ow_key(OW_KEY_ACT_INDEX, op->ns, NULL);
    prefix = ow_key(OW_KEY_ACTIVATION, op->ns, "");
    free(name);

    if (index == NULL || prefix == NULL) {
        free(index);
        free(prefix);
        return ow_error(op, 500, "out of memory");
    }

    snprintf(skip_s, sizeof(skip_s), "%ld", skip);
    snprintf(limit_s, sizeof(limit_s), "%ld", limit);

    argv[0] = index;
    argv[1] = prefix;
    argv[2] = upto;
    argv[3] = since;
    argv[4] = skip_s;
    argv[5] = limit_s;
    argv[6] = count ? "1" : "0";

    rc = ow_script(op, ow_act_listed, &ow_script_act_list, 1, 7, argv, NULL);
    free(index);
    free(prefix);
    return rc;
}


/* ---- GET /activations/{id}[/result|/logs] ---- */

static int
ow_act_got(ow_op_t *op, const redisReply *r)
{
    json_t  *rec, *v, *out;

    if (r->type == REDIS_REPLY_NIL) {
        return ow_not_found(op);
    }
    if (r->type != REDIS_REPLY_STRING) {
        return ow_error(op, 500, "activation store error");
    }

    rec = ow_act_load(r);
    if (rec == NULL) {
        return ow_error(op, 500, "The activation record is corrupted and "
                        "cannot be read.");
    }

    switch (op->flags) {

    case OW_ACT_RESULT:
        v = json_object_get(rec, "response");
        out = json_is_object(v) ? json_incref(v) : json_object();
        json_decref(rec);
        return ow_done(op, 200, out);

    case OW_ACT_LOGS:
        v = json_object_get(rec, "logs");
        out = json_object();
        json_object_set_new(out, "logs",
                            json_is_array(v) ? json_incref(v) : json_array());
        json_decref(rec);
        return ow_done(op, 200, out);

    default:
        return ow_done(op, 200, rec);
    }
}

/*
 * OpenWhisk's ActivationId.parse: the length first, then lowercase hex.
 */
static int
ow_act_id_valid(ow_op_t *op, const char *id, size_t len)
{
    size_t  i;

    if (len != OW_ACT_ID_LEN) {
        ow_error(op, 400, "Activation id length is %zu B but must be %d B.",
                 len, OW_ACT_ID_LEN);
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!isdigit((unsigned char) id[i]) && !(id[i] >= 'a' && id[i] <= 'f'))
        {
            ow_error(op, 400, "The activation id is not valid.");
            return 0;
        }
    }
    return 1;
}

static int
ow_act_get(ow_op_t *op)
{
    const char  *slash, *rest;
    char         id[OW_ACT_ID_LEN + 1];
    char        *key;
    size_t       len;
    int          rc;

    slash = strchr(op->path, '/');
    len = slash ? (size_t) (slash - op->path) : strlen(op->path);
    rest = slash ? slash + 1 : "";

    if (!ow_act_id_valid(op, op->path, len)) {
        return OW_STEP_DONE;
    }

    if (*rest == '\0') {
        op->flags = OW_ACT_RECORD;
    } else if (strcmp(rest, "result") == 0) {
        op->flags = OW_ACT_RESULT;
    } else if (strcmp(rest, "logs") == 0) {
        op->flags = OW_ACT_LOGS;
    } else {
        return ow_not_found(op);
    }

    memcpy(id, op->path, OW_ACT_ID_LEN);
    id[OW_ACT_ID_LEN] = '\0';

    key = ow_key(OW_KEY_ACTIVATION, op->ns, id);
    if (key == NULL) {
        return ow_error(op, 500, "out of memory");
    }
    rc = ow_redisf(op, ow_act_got, "GET %s", key);
    free(key);
    return rc;
}

int
ow_api_activations(ow_op_t *op)
{
    /* foreign namespaces never get here (ow_route_entities) */
    if (op->method != OW_GET) {
        return ow_error(op, 405, "HTTP method not allowed, supported "
                        "methods: GET");
    }

    if (op->path == NULL || op->path[0] == '\0') {
        return ow_act_list(op);
    }
    return ow_act_get(op);
}
