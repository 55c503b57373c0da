/*
 * ow_entity.c: generic entity flows (get, put, delete, list) and the
 * document fields all entities share (openwhisk-api.md §3, §4).
 */

#define _GNU_SOURCE  /* memmem */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ow_code.h"
#include "ow_entity.h"
#include "ow_names.h"
#include "ow_schema.h"
#include "ow_scripts.h"

#define OW_KV_MAX  (1024 * 1024)

static int ow_entity_got_code(ow_op_t *op, const redisReply *unused);

const char *
ow_entity_name(ow_op_t *op)
{
    const char  *s;

    s = strrchr(op->path, '/');
    return s ? s + 1 : op->path;
}

char *
ow_entity_namespace(ow_op_t *op)
{
    const char  *s;
    size_t       n;
    char        *r;

    s = strchr(op->path, '/');
    if (s == NULL) {
        return strdup(op->ns);
    }
    n = strlen(op->ns) + 1 + (s - op->path) + 1;
    r = malloc(n);
    snprintf(r, n, "%s/%.*s", op->ns, (int) (s - op->path), op->path);
    return r;
}

void
ow_copy_fields(json_t *dst, const json_t *src, const char **fields)
{
    json_t  *v;

    for (; *fields; fields++) {
        v = json_object_get(src, *fields);
        if (v) {
            json_object_set(dst, *fields, v);
        }
    }
}

char *
ow_version_next(const char *v)
{
    unsigned long  a, b, c;
    char           buf[64];

    if (v == NULL || sscanf(v, "%lu.%lu.%lu", &a, &b, &c) != 3) {
        return strdup("0.0.1");
    }
    snprintf(buf, sizeof(buf), "%lu.%lu.%lu", a, b, c + 1);
    return strdup(buf);
}

int
ow_version_parse(const char *v, char *out, size_t len)
{
    long         part[3];
    int          i;
    char        *end;
    const char  *p;

    /*
     * OpenWhisk's SemVer: "major.minor.patch" of non-negative integers
     * (ints), not all zero; "1" and "1.2" are read as 1.0.0 and 1.2.0 as
     * its parser does. Anything else ("x.y", "1.2.3.4", "1.-2.3", "")
     * is malformed.
     */
    part[0] = part[1] = part[2] = 0;
    p = v;

    for (i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        errno = 0;
        part[i] = strtol(p, &end, 10);
        if (errno != 0 || part[i] > 2147483647L) {
            return -1;
        }
        p = end;
        if (*p == '\0') {
            break;
        }
        if (*p != '.' || i == 2) {
            return -1;
        }
        p++;
    }

    if (part[0] == 0 && part[1] == 0 && part[2] == 0) {
        return -1;
    }

    snprintf(out, len, "%ld.%ld.%ld", part[0], part[1], part[2]);
    return 0;
}

int
ow_check_kv(ow_op_t *op, const json_t *v, const char *field)
{
    size_t   i, size;
    json_t  *e, *k;

    if (!json_is_array(v)) {
        ow_error(op, 400, OW_MSG_MALFORMED "'%s' must be an array of "
                 "key-value pairs.", field);
        return -1;
    }

    json_array_foreach(v, i, e) {
        k = json_object_get(e, "key");
        if (!json_is_object(e) || !json_is_string(k)
            || json_object_get(e, "value") == NULL)
        {
            ow_error(op, 400, OW_MSG_MALFORMED "'%s' must be an array of "
                     "key-value pairs.", field);
            return -1;
        }
    }

    size = json_dumpb(v, NULL, 0, JSON_COMPACT);
    if (size > OW_KV_MAX) {
        ow_error(op, 413, "%s larger than allowed: %zu > %d bytes.",
                 field, size, OW_KV_MAX);
        return -1;
    }

    return 0;
}

static json_t *
ow_annotations_merge(const json_t *old, const json_t *given,
    const json_t *del)
{
    json_t  *out, *e, *d;
    size_t   i, j, k;
    int      drop;

    out = json_array();

    json_array_foreach(old, i, e) {
        drop = 0;
        json_array_foreach(del, j, d) {
            if (json_is_string(d) && json_equal(d, json_object_get(e, "key"))) {
                drop = 1;
            }
        }
        json_array_foreach(given, k, d) {
            if (json_equal(json_object_get(d, "key"),
                           json_object_get(e, "key")))
            {
                drop = 1;
            }
        }
        if (!drop) {
            json_array_append(out, e);
        }
    }

    json_array_foreach(given, i, e) {
        json_array_append(out, e);
    }

    return out;
}

json_t *
ow_entity_common(ow_op_t *op, int with_parameters, int merge_annotations)
{
    json_t      *doc, *v, *old, *in;
    const char  *ver;
    char        *s, vbuf[40];

    in = op->json;
    old = op->old;
    doc = json_object();

    s = ow_entity_namespace(op);
    json_object_set_new(doc, "namespace", json_string(s));
    free(s);
    json_object_set_new(doc, "name", json_string(ow_entity_name(op)));

    v = json_object_get(in, "version");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v)
            || ow_version_parse(json_string_value(v), vbuf, sizeof(vbuf))
               != 0)
        {
            ow_error(op, 400, OW_MSG_MALFORMED "'version' must be a "
                     "semantic version string.");
            goto bad;
        }
        json_object_set_new(doc, "version", json_string(vbuf));
    } else {
        ver = old ? json_string_value(json_object_get(old, "version")) : NULL;
        s = old ? ow_version_next(ver) : strdup("0.0.1");
        json_object_set_new(doc, "version", json_string(s));
        free(s);
    }

    v = json_object_get(in, "publish");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            ow_error(op, 400, OW_MSG_MALFORMED "'publish' must be a "
                     "boolean.");
            goto bad;
        }
        json_object_set(doc, "publish", v);
    } else {
        v = old ? json_object_get(old, "publish") : NULL;
        json_object_set_new(doc, "publish", json_boolean(json_is_true(v)));
    }

    v = json_object_get(in, "annotations");
    if (v && !json_is_null(v) && ow_check_kv(op, v, "annotations") != 0) {
        goto bad;
    }
    if (json_is_null(v)) {
        v = NULL;
    }
    if (merge_annotations) {
        json_t  *del = json_object_get(in, "delAnnotations");
        if (del && !json_is_null(del) && !json_is_array(del)) {
            ow_error(op, 400, OW_MSG_MALFORMED "'delAnnotations' must be "
                     "an array of strings.");
            goto bad;
        }
        json_object_set_new(doc, "annotations",
            ow_annotations_merge(old ? json_object_get(old, "annotations")
                                     : NULL, v, del));
    } else if (v) {
        json_object_set(doc, "annotations", v);
    } else {
        v = old ? json_object_get(old, "annotations") : NULL;
        json_object_set_new(doc, "annotations",
                            v ? json_incref(v) : json_array());
    }

    if (with_parameters) {
        v = json_object_get(in, "parameters");
        if (v && !json_is_null(v)) {
            if (ow_check_kv(op, v, "parameters") != 0) {
                goto bad;
            }
            json_object_set(doc, "parameters", v);
        } else {
            v = old ? json_object_get(old, "parameters") : NULL;
            json_object_set_new(doc, "parameters",
                                v ? json_incref(v) : json_array());
        }
    }

    json_object_set_new(doc, "updated", json_integer(op->now_ms));
    return doc;

bad:
    json_decref(doc);
    return NULL;
}

/* ---- get ---- */

/*
 * An entity as read by ow_entity_read(): the get script's
 * {coll, doc, rev, extra} (or nil), or a plain HMGET's {coll, doc, rev}.
 * Returns 1 when the entity exists, 0 when not; finishes the op and
 * returns -1 on a bad reply or a name of another collection.
 */
static int
ow_entity_stored_reply(ow_op_t *op, const redisReply *r,
    const redisReply **doc, int64_t *rev, const redisReply **extra)
{
    const redisReply  *coll;

    if (r->type == REDIS_REPLY_NIL
        || (r->type == REDIS_REPLY_ARRAY && r->elements == 3
            && r->element[0]->type == REDIS_REPLY_NIL))
    {
        return 0;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_STRING)
    {
        ow_error(op, 500, "unexpected reply from the entity store");
        return -1;
    }

    coll = r->element[0];
    if (strcmp(coll->str, op->cd->name) != 0) {
        ow_error(op, 409, OW_MSG_WRONG_COLL);
        return -1;
    }

    *doc = r->element[1];
    *rev = r->element[2]->type == REDIS_REPLY_INTEGER
           ? r->element[2]->integer
           : (r->element[2]->type == REDIS_REPLY_STRING
              ? strtoll(r->element[2]->str, NULL, 10) : 0);
    *extra = r->elements == 4 ? r->element[3] : NULL;
    return 1;
}

static int ow_entity_read(ow_op_t *op, ow_step_pt next);
static int ow_entity_got(ow_op_t *op, const redisReply *r);

/* the code's pieces are read: answer with the whole document */
static int
ow_entity_got_code(ow_op_t *op, const redisReply *unused)
{
    json_t  *doc;

    doc = json_incref(json_object_get(op->keep, "attached"));
    json_object_del(op->keep, "attached");
    return ow_done(op, 200, op->cd->shape(op, doc, NULL));
}

/* the pieces were replaced under the reader: start again */
static int
ow_entity_reread(ow_op_t *op, const redisReply *unused)
{
    return ow_entity_read(op, ow_entity_got);
}

static int
ow_entity_got(ow_op_t *op, const redisReply *r)
{
    const redisReply  *text, *extra;
    json_t            *doc;
    int64_t            rev;
    int                rc;

    rc = ow_entity_stored_reply(op, r, &text, &rev, &extra);
    if (rc <= 0) {
        return rc == 0 ? ow_not_found(op) : OW_STEP_DONE;
    }

    /* a document naming its code's pieces is never the whole answer */
    if (op->cd->verbatim && op->cd->verbatim(op, extra)
        && memmem(text->str, text->len, "\"attachment\"", 12) == NULL)
    {
        return ow_done_json_text(op, 200, text->str, text->len);
    }

    doc = json_loadb(text->str, text->len, 0, NULL);
    if (doc == NULL) {
        return ow_error(op, 500, "corrupt entity document");
    }

    if (ow_code_attached(doc) && ow_query_bool(op, "code", 1)) {
        return ow_code_fetch(op, doc, ow_entity_got_code, ow_entity_reread);
    }

    return ow_done(op, 200, op->cd->shape(op, doc, extra));
}

static int
ow_entity_read(ow_op_t *op, ow_step_pt next)
{
    const char  *argv[2];
    char        *key, *extra;
    int          rc, n;

    key = ow_key(OW_KEY_ENTITY, op->ns, op->path);
    if (op->cd->extra_key == NULL) {
        /* a plain HMGET: cheaper for Redis than running the script */
        rc = ow_redisf(op, next, "HMGET %s coll doc rev", key);
        free(key);
        return rc;
    }
    extra = ow_key(op->cd->extra_key, op->ns, op->path);
    argv[0] = key;
    argv[1] = extra;
    n = 2;
    rc = ow_script(op, next, &ow_script_get, n, n, argv, NULL);
    free(key);
    free(extra);
    return rc;
}

int
ow_entity_get(ow_op_t *op, const ow_coll_t *cd)
{
    op->cd = cd;
    if (!ow_name_path_valid(op->path)) {
        return ow_error(op, 400, OW_MSG_BAD_NAME);
    }
    return ow_entity_read(op, ow_entity_got);
}

/* ---- put ---- */

static int
ow_entity_stored(ow_op_t *op, const redisReply *r)
{
    json_t  *doc;

    if (r->type == REDIS_REPLY_ERROR) {
        if (ow_reply_is(r, "EXISTS")) {
            return ow_error(op, 409, OW_MSG_EXISTS);
        }
        if (ow_reply_is(r, "COLL")) {
            return ow_error(op, 409, OW_MSG_WRONG_COLL);
        }
        if (ow_reply_is(r, "CONFLICT") || ow_reply_is(r, "CODE")) {
            /* CODE: the pieces expired or were replaced meanwhile */
            return ow_error(op, 409, OW_MSG_CONFLICT);
        }
        return ow_error(op, 500, "entity store error");
    }

    doc = json_object_get(op->keep, "stored");
    json_incref(doc);
    if (ow_code_attached(doc)) {
        /* an update that kept its code: answer with it, as OpenWhisk */
        return ow_code_fetch(op, doc, ow_entity_got_code, NULL);
    }
    return ow_done(op, 200, op->cd->shape(op, doc, NULL));
}

static int
ow_entity_store_doc(ow_op_t *op, const redisReply *unused)
{
    const char  *argv[14];
    char        *key, *index, *ver, *pindex, *text, *sum;
    char         rev[24], updated[24], chunks[24];
    const char  *slash;
    json_t      *doc, *summary;
    int          rc, nkeys;

    doc = json_object_get(op->keep, "to_store");
    text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    /* the summary is a new object: ours to release once written out */
    summary = op->cd->summary(op, json_deep_copy(doc));
    sum = json_dumps(summary, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(summary);
    if (text == NULL || sum == NULL) {
        free(text);
        free(sum);
        return ow_error(op, 500, "out of memory");
    }

    key = ow_key(OW_KEY_ENTITY, op->ns, op->path);
    index = ow_key(OW_KEY_INDEX, op->ns, op->cd->name);
    ver = ow_key(OW_KEY_VERSION, op->ns, NULL);
    pindex = NULL;

    snprintf(rev, sizeof(rev), "%lld", (long long) op->rev);
    snprintf(updated, sizeof(updated), "%lld", (long long) op->now_ms);
    snprintf(chunks, sizeof(chunks), "%zu", op->code_chunks);

    argv[0] = key;
    argv[1] = index;
    argv[2] = ver;
    nkeys = 3;

    slash = strchr(op->path, '/');
    if (slash) {
        char  pkg[260];
        snprintf(pkg, sizeof(pkg), "%.*s", (int) (slash - op->path),
                 op->path);
        pindex = ow_key(OW_KEY_PKG_INDEX, op->ns, pkg);
        argv[nkeys++] = pindex;
    }

    argv[nkeys + 0] = op->cd->name;
    argv[nkeys + 1] = rev;
    argv[nkeys + 2] = text;
    argv[nkeys + 3] = updated;
    argv[nkeys + 4] = op->path;
    argv[nkeys + 5] = op->ns;
    argv[nkeys + 6] = slash ? slash + 1 : "";
    argv[nkeys + 7] = sum;
    argv[nkeys + 8] = op->code_key ? op->code_key : "";
    argv[nkeys + 9] = chunks;

    rc = ow_script(op, ow_entity_stored, &ow_script_put, nkeys, nkeys + 10,
                   argv, NULL);

    free(key);
    free(index);
    free(ver);
    free(pindex);
    free(text);
    free(sum);
    return rc;
}

int
ow_entity_store(ow_op_t *op, json_t *doc)
{
    json_t  *stored;
    char    *code_key;
    size_t   chunks;

    /* code too big for the document goes beside it first (ow_code.h) */
    stored = ow_code_detach(op, doc, &code_key, &chunks);
    /* the answer shows the document with its code */
    json_object_set_new(op->keep, "stored", doc);
    if (stored == NULL) {
        return ow_error(op, 500, "corrupt entity document");
    }
    json_object_set_new(op->keep, "to_store", stored);

    free(op->code_key);
    op->code_key = code_key;
    op->code_chunks = chunks;

    if (op->code_src) {
        return ow_code_upload(op, ow_entity_store_doc);
    }
    return ow_entity_store_doc(op, NULL);
}

static int
ow_entity_read_old(ow_op_t *op, const redisReply *r)
{
    const redisReply  *text, *extra;
    int                rc;

    rc = ow_entity_stored_reply(op, r, &text, &op->rev, &extra);
    if (rc < 0) {
        return OW_STEP_DONE;
    }
    if (rc == 0) {
        op->rev = 0;
        return op->cd->put(op, NULL);
    }
    op->old = json_loadb(text->str, text->len, 0, NULL);
    if (op->old == NULL) {
        return ow_error(op, 500, "corrupt entity document");
    }
    return op->cd->put(op, NULL);
}

static int
ow_entity_put_start(ow_op_t *op, const redisReply *unused)
{
    if (ow_query_bool(op, "overwrite", 0)) {
        return ow_entity_read(op, ow_entity_read_old);
    }
    op->rev = -1;
    return op->cd->put(op, NULL);
}

int
ow_entity_put(ow_op_t *op, const ow_coll_t *cd)
{
    op->cd = cd;
    if (!ow_name_path_valid(op->path)) {
        return ow_error(op, 400, OW_MSG_BAD_NAME);
    }
    if (ow_parse_body(op, 1) != 0) {
        return OW_STEP_DONE;
    }
    if (cd->needs_limits) {
        return ow_load_limits(op, ow_entity_put_start);
    }
    return ow_entity_put_start(op, NULL);
}

/* ---- delete ---- */

static int
ow_entity_deleted(ow_op_t *op, const redisReply *r)
{
    json_t  *doc;

    if (r->type == REDIS_REPLY_NIL) {
        return ow_not_found(op);
    }
    if (ow_reply_is(r, "COLL")) {
        return ow_error(op, 409, OW_MSG_WRONG_COLL);
    }
    if (r->type != REDIS_REPLY_STRING) {
        return ow_error(op, 500, "entity store error");
    }
    doc = json_loadb(r->str, r->len, 0, NULL);
    if (doc == NULL) {
        return ow_error(op, 500, "corrupt entity document");
    }
    if (ow_code_attached(doc)) {
        /* the pieces outlive the document a minute (ow_script_del) */
        return ow_code_fetch(op, doc, ow_entity_got_code, NULL);
    }
    return ow_done(op, 200, op->cd->shape(op, doc, NULL));
}

int
ow_entity_delete(ow_op_t *op, const ow_coll_t *cd)
{
    const char  *argv[9];
    char        *key, *index, *ver, *pindex, *extra;
    const char  *slash;
    int          rc, nkeys;

    op->cd = cd;
    if (!ow_name_path_valid(op->path)) {
        return ow_error(op, 400, OW_MSG_BAD_NAME);
    }

    key = ow_key(OW_KEY_ENTITY, op->ns, op->path);
    index = ow_key(OW_KEY_INDEX, op->ns, cd->name);
    ver = ow_key(OW_KEY_VERSION, op->ns, NULL);
    pindex = NULL;
    extra = cd->extra_key ? ow_key(cd->extra_key, op->ns, op->path) : NULL;

    argv[0] = key;
    argv[1] = index;
    argv[2] = ver;
    nkeys = 3;

    slash = strchr(op->path, '/');
    if (slash) {
        char  pkg[260];
        snprintf(pkg, sizeof(pkg), "%.*s", (int) (slash - op->path),
                 op->path);
        pindex = ow_key(OW_KEY_PKG_INDEX, op->ns, pkg);
    }
    if (pindex || extra) {
        argv[nkeys++] = pindex ? pindex : "";
    }
    if (extra) {
        argv[nkeys++] = extra;
    }

    argv[nkeys + 0] = cd->name;
    argv[nkeys + 1] = op->path;
    argv[nkeys + 2] = op->ns;
    argv[nkeys + 3] = slash ? slash + 1 : "";

    rc = ow_script(op, ow_entity_deleted, &ow_script_del, nkeys, nkeys + 4,
                   argv, NULL);

    free(key);
    free(index);
    free(ver);
    free(pindex);
    free(extra);
    return rc;
}

/* ---- list ---- */

int
ow_entity_list_reply(ow_op_t *op, const redisReply *r)
{
    json_t  *out, *doc;
    size_t   i;

    if (r->type == REDIS_REPLY_INTEGER) {
        return ow_done(op, 200, json_pack("{s:I}", op->coll,
                                          (json_int_t) r->integer));
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        return ow_error(op, 500, "entity store error");
    }

    out = json_array();
    for (i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }
        doc = json_loadb(r->element[i]->str, r->element[i]->len, 0, NULL);
        if (doc) {
            json_array_append_new(out, op->cd->summary(op, doc));
        }
    }
    return ow_done(op, 200, out);
}

int
ow_entity_list(ow_op_t *op, const ow_coll_t *cd, const char *index_fmt,
    const char *index_rest)
{
    const char  *argv[5];
    char        *index, *prefix;
    char         skip_s[24], limit_s[24];
    long         limit, skip;
    int          count, rc;

    op->cd = cd;
    if (ow_list_params(op, op->coll, &limit, &skip, &count) != 0) {
        return OW_STEP_DONE;
    }

    snprintf(skip_s, sizeof(skip_s), "%ld", skip);
    snprintf(limit_s, sizeof(limit_s), "%ld", limit);

    index = ow_key(index_fmt, op->ns, index_rest);
    prefix = ow_key(OW_KEY_ENTITY, op->ns, "");

    argv[0] = index;
    argv[1] = prefix;
    argv[2] = skip_s;
    argv[3] = limit_s;
    argv[4] = count ? "1" : "0";

    rc = ow_script(op, ow_entity_list_reply, &ow_script_list, 1, 5, argv, NULL);
    free(index);
    free(prefix);
    return rc;
}
