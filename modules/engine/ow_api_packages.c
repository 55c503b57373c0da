/*
 * ow_api_packages.c: /namespaces/{ns}/packages (openwhisk-api.md §3, §4).
 *
 * A package doc is stored as returned by PUT: {namespace, name, version,
 * publish, annotations, parameters, binding, updated}; "binding" is {} for
 * a real package and {"namespace", "name"} for a binding (which also
 * carries the annotation "binding" = that object, as the controller sets).
 *
 * Read rights follow OpenWhisk's PackageCollection entitlement: a package
 * of another namespace is readable only when it is published and is not a
 * binding; anything else there (missing, private, a binding, another
 * collection) is 403, so nothing leaks about foreign namespaces.
 *
 * The bound package of a binding may live in another namespace (another
 * hash slot), so it is always read in a step of its own.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ow_entity.h"
#include "ow_api_handlers.h"
#include "ow_names.h"
#include "ow_schema.h"

#define OW_MSG_RESERVED         "Package name '%s' is reserved."
#define OW_MSG_NO_BINDING \
    "Binding references a package that does not exist."
#define OW_MSG_BIND_BINDING     "Cannot bind to another package binding."
#define OW_MSG_BIND_NOT_PKG \
    "Cannot bind to a resource that is not a package."
#define OW_MSG_NOT_BINDING \
    "Resource is a package and cannot be converted into a binding."
#define OW_MSG_NOT_EMPTY \
    "Package not empty (contains %lld %s). Set force param or delete " \
    "package contents."

/*
 * get: KEYS entity, package index; ARGV entity key prefix (OW_KEY_ENTITY
 * of "<package>/")
 * -> {coll, doc, {action doc, ...} newest first}, or nil
 */
static ow_script_t  ow_pkg_script_get = { "pkg_get",
    "local cur = redis.call('HMGET', KEYS[1], 'coll', 'doc')\n"
    "if not cur[1] then return false end\n"
    "local docs = {}\n"
    "if cur[1] == 'packages' then\n"
    "  local names = redis.call('ZREVRANGE', KEYS[2], 0, -1)\n"
    "  for _, n in ipairs(names) do\n"
    "    local d = redis.call('HMGET', ARGV[1] .. n, 'sum', 'doc')\n"
    "    d = d[1] or d[2]\n"
    "    if d then docs[#docs + 1] = d end\n"
    "  end\n"
    "end\n"
    "return {cur[1], cur[2] or '', docs}\n",
    ""
};

/*
 * del: KEYS entity, packages index, version, package index, actions index
 * ARGV package name, ns, force (0/1), entity key prefix (OW_KEY_ENTITY
 * of "<package>/")
 * -> the deleted doc, nil, or error COLL / NOTEMPTY <n>.
 * With force the package's actions go in the same script, each with its
 * own event, as if they had been deleted one by one.
 */
static ow_script_t  ow_pkg_script_del = { "pkg_del",
    "local cur = redis.call('HMGET', KEYS[1], 'coll', 'doc', 'rev')\n"
    "if not cur[1] then return false end\n"
    "if cur[1] ~= 'packages' then\n"
    "  return redis.error_reply('COLL other collection') end\n"
    "local ok, pkg = pcall(cjson.decode, cur[2] or '')\n"
    "local bound = ok and type(pkg) == 'table'"
    " and type(pkg.binding) == 'table' and next(pkg.binding) ~= nil\n"
    "if not bound then\n"
    "  local names = redis.call('ZRANGE', KEYS[4], 0, -1)\n"
    "  if #names > 0 and ARGV[3] ~= '1' then\n"
    "    return redis.error_reply('NOTEMPTY ' .. #names) end\n"
    "  for _, n in ipairs(names) do\n"
    "    local k = ARGV[4] .. n\n"
    "    local path = ARGV[1] .. '/' .. n\n"
    "    local arev = redis.call('HGET', k, 'rev')\n"
    "    local code = redis.call('HGET', k, 'code')\n"
    "    if code then redis.call('UNLINK', code) end\n"
    "    redis.call('DEL', k)\n"
    "    redis.call('ZREM', KEYS[5], path)\n"
    "    local v = redis.call('INCR', KEYS[3])\n"
    "    redis.call('PUBLISH', '" OW_CHANNEL_EVENTS "', cjson.encode({v = v,"
    " ns = ARGV[2], coll = 'actions', path = path, op = 'del',"
    " rev = tonumber(arev)}))\n"
    "  end\n"
    "  redis.call('DEL', KEYS[4])\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "local v = redis.call('INCR', KEYS[3])\n"
    "redis.call('PUBLISH', '" OW_CHANNEL_EVENTS "', cjson.encode({v = v, ns = ARGV[2],"
    " coll = 'packages', path = ARGV[1], op = 'del',"
    " rev = tonumber(cur[3])}))\n"
    "return cur[2]\n",
    ""
};

/*
 * public list (another namespace's packages): published real packages only
 * KEYS index; ARGV entity key prefix, skip, limit, count (0/1)
 * -> count, or {doc, ...} newest first
 */
static ow_script_t  ow_pkg_script_list_public = { "pkg_list_public",
    "local skip = tonumber(ARGV[2])\n"
    "local limit = tonumber(ARGV[3])\n"
    "local paths = redis.call('ZREVRANGE', KEYS[1], 0, -1)\n"
    "local out = {}\n"
    "local n = 0\n"
    "for _, p in ipairs(paths) do\n"
    "  local d = redis.call('HGET', ARGV[1] .. p, 'doc')\n"
    "  if d then\n"
    "    local ok, o = pcall(cjson.decode, d)\n"
    "    if ok and type(o) == 'table' and o.publish == true\n"
    "       and (type(o.binding) ~= 'table' or next(o.binding) == nil)"
    " then\n"
    "      n = n + 1\n"
    "      if n > skip and #out < limit then out[#out + 1] = d end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if ARGV[4] == '1' then return n end\n"
    "return out\n",
    ""
};

/* ---- doc helpers ---- */

static int
ow_pkg_is_binding(const json_t *doc)
{
    json_t  *b;

    b = json_object_get(doc, "binding");
    return json_is_object(b) && json_object_size(b) > 0;
}

static int
ow_pkg_foreign(ow_op_t *op, const char *ns)
{
    return strcmp(ns, op->auth_ns) != 0;
}

static int
ow_kv_has(const json_t *arr, const json_t *key)
{
    size_t   i;
    json_t  *e;

    json_array_foreach(arr, i, e) {
        if (json_equal(json_object_get(e, "key"), key)) {
            return 1;
        }
    }
    return 0;
}

/* parameters of the bound package, then those of the binding (they win) */
static json_t *
ow_pkg_merge_params(const json_t *base, const json_t *over)
{
    json_t  *out, *e;
    size_t   i;

    out = json_array();
    if (out == NULL) {
        return NULL;
    }
    json_array_foreach(base, i, e) {
        if (!ow_kv_has(over, json_object_get(e, "key"))) {
            json_array_append(out, e);
        }
    }
    json_array_foreach(over, i, e) {
        json_array_append(out, e);
    }
    return out;
}

/* add "actions" and "feeds" ({name, version, annotations}) to doc */
static json_t *
ow_pkg_with_actions(json_t *doc, const redisReply *docs)
{
    json_t       *actions, *feeds, *a, *e, *ann, *feed;
    size_t        i;
    const char   *fields[] = { "name", "version", "annotations", NULL };

    actions = json_array();
    feeds = json_array();
    feed = json_string("feed");

    for (i = 0; docs && docs->type == REDIS_REPLY_ARRAY
                && i < docs->elements; i++)
    {
        if (docs->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }
        a = json_loadb(docs->element[i]->str, docs->element[i]->len, 0,
                       NULL);
        if (a == NULL) {
            continue;
        }
        e = json_object();
        ow_copy_fields(e, a, fields);
        ann = json_object_get(a, "annotations");
        json_array_append_new(ow_kv_has(ann, feed) ? feeds : actions, e);
        json_decref(a);
    }

    json_decref(feed);
    json_object_set_new(doc, "actions", actions);
    json_object_set_new(doc, "feeds", feeds);
    return doc;
}

/* 403 naming a referenced package, as the entitlement check words it */
static int
ow_pkg_forbidden_ref(ow_op_t *op, const char *ns, const char *name)
{
    return ow_error(op, 403, "The supplied authentication is not "
                    "authorized to access '%s/%s'.", ns, name);
}

/* the pkg_get script for ns/pkg */
static int
ow_pkg_read(ow_op_t *op, const char *ns, const char *pkg, ow_step_pt next)
{
    const char  *argv[3];
    char        *key, *pindex, *prefix, *sub;
    size_t       n;
    int          rc;

    n = strlen(pkg) + 2;
    sub = malloc(n);
    if (sub == NULL) {
        return ow_error(op, 500, "out of memory");
    }
    snprintf(sub, n, "%s/", pkg);

    key = ow_key(OW_KEY_ENTITY, ns, pkg);
    pindex = ow_key(OW_KEY_PKG_INDEX, ns, pkg);
    prefix = ow_key(OW_KEY_ENTITY, ns, sub);

    if (key == NULL || pindex == NULL || prefix == NULL) {
        rc = ow_error(op, 500, "out of memory");
    } else {
        argv[0] = key;
        argv[1] = pindex;
        argv[2] = prefix;
        rc = ow_script(op, next, &ow_pkg_script_get, 2, 3, argv, NULL);
    }

    free(sub);
    free(key);
    free(pindex);
    free(prefix);
    return rc;
}

/* check the shape of a pkg_get reply; 0 when usable */
static int
ow_pkg_reply_ok(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements == 3
           && r->element[0]->type == REDIS_REPLY_STRING
           && r->element[1]->type == REDIS_REPLY_STRING;
}

/* ---- get ---- */

static int
ow_pkg_bound_got(ow_op_t *op, const redisReply *r)
{
    json_t      *pkg, *bound, *b, *params;
    const char  *bns;
    int          foreign;

    pkg = json_object_get(op->keep, "pkg");
    b = json_object_get(pkg, "binding");
    bns = json_string_value(json_object_get(b, "namespace"));
    foreign = ow_pkg_foreign(op, bns);

    if (r->type == REDIS_REPLY_NIL) {
        return foreign ? ow_forbidden(op) : ow_not_found(op);
    }
    if (r->type == REDIS_REPLY_ERROR || !ow_pkg_reply_ok(r)) {
        return ow_error(op, 500, "unexpected reply from the entity store");
    }
    if (strcmp(r->element[0]->str, "packages") != 0) {
        return foreign ? ow_forbidden(op)
                       : ow_error(op, 409, OW_MSG_WRONG_COLL);
    }

    bound = json_loadb(r->element[1]->str, r->element[1]->len, 0, NULL);
    if (bound == NULL) {
        return ow_error(op, 500, "corrupt entity document");
    }
    if (foreign && (!json_is_true(json_object_get(bound, "publish"))
                    || ow_pkg_is_binding(bound)))
    {
        json_decref(bound);
        return ow_forbidden(op);
    }
    /* the binding's own fields, the bound package's content */
    params = ow_pkg_merge_params(json_object_get(bound, "parameters"),
                                 json_object_get(pkg, "parameters"));
    json_decref(bound);
    if (params == NULL) {
        return ow_error(op, 500, "out of memory");
    }

    pkg = json_deep_copy(pkg);
    if (pkg == NULL) {
        json_decref(params);
        return ow_error(op, 500, "out of memory");
    }
    json_object_set_new(pkg, "parameters", params);
    return ow_done(op, 200, ow_pkg_with_actions(pkg, r->element[2]));
}

static int
ow_pkg_got(ow_op_t *op, const redisReply *r)
{
    json_t      *doc, *b;
    const char  *bns, *bname;
    int          foreign;

    foreign = ow_pkg_foreign(op, op->ns);

    if (r->type == REDIS_REPLY_NIL) {
        return foreign ? ow_forbidden(op) : ow_not_found(op);
    }
    if (r->type == REDIS_REPLY_ERROR || !ow_pkg_reply_ok(r)) {
        return ow_error(op, 500, "unexpected reply from the entity store");
    }
    if (strcmp(r->element[0]->str, "packages") != 0) {
        return foreign ? ow_forbidden(op)
                       : ow_error(op, 409, OW_MSG_WRONG_COLL);
    }

    doc = json_loadb(r->element[1]->str, r->element[1]->len, 0, NULL);
    if (doc == NULL) {
        return ow_error(op, 500, "corrupt entity document");
    }

    if (foreign && (!json_is_true(json_object_get(doc, "publish"))
                    || ow_pkg_is_binding(doc)))
    {
        json_decref(doc);
        return ow_forbidden(op);
    }

    if (!ow_pkg_is_binding(doc)) {
        return ow_done(op, 200, ow_pkg_with_actions(doc, r->element[2]));
    }

    b = json_object_get(doc, "binding");
    bns = json_string_value(json_object_get(b, "namespace"));
    bname = json_string_value(json_object_get(b, "name"));
    if (bns == NULL || bname == NULL
        || !ow_namespace_valid(bns, strlen(bns))
        || !ow_name_valid(bname, strlen(bname)))
    {
        json_decref(doc);
        return ow_error(op, 500, "corrupt entity document");
    }

    json_object_set_new(op->keep, "pkg", doc);
    return ow_pkg_read(op, bns, bname, ow_pkg_bound_got);
}

/* ---- put ---- */

static const ow_coll_t  ow_packages;

/*
 * Build and store the doc once the binding (if any) is known to be valid.
 * binding: the binding given in the PUT (NULL when none).
 */
static int
ow_pkg_build(ow_op_t *op, json_t *binding, int target_is_binding)
{
    json_t  *doc, *final, *ann, *out, *e, *key;
    size_t   i;

    if (binding) {
        if (op->old && !ow_pkg_is_binding(op->old)) {
            return ow_error(op, 409, OW_MSG_NOT_BINDING);
        }
        if (target_is_binding) {
            return ow_error(op, 400, OW_MSG_BIND_BINDING);
        }
    }

    doc = ow_entity_common(op, 1, 0);
    if (doc == NULL) {
        return OW_STEP_DONE;
    }

    /* a binding stays a binding: an update without one keeps the old */
    final = binding;
    if (final == NULL && op->old && ow_pkg_is_binding(op->old)) {
        final = json_object_get(op->old, "binding");
    }

    /* the "binding" annotation is always the controller's */
    ann = json_object_get(doc, "annotations");
    out = json_array();
    key = json_string("binding");
    json_array_foreach(ann, i, e) {
        if (!json_equal(json_object_get(e, "key"), key)) {
            json_array_append(out, e);
        }
    }
    json_decref(key);
    if (final) {
        json_array_append_new(out, json_pack("{s:s,s:O}", "key", "binding",
                                             "value", final));
        json_object_set_new(doc, "binding", json_deep_copy(final));
    } else {
        json_object_set_new(doc, "binding", json_object());
    }
    json_object_set_new(doc, "annotations", out);

    /* keep the field order of the other entities: updated last */
    e = json_object_get(doc, "updated");
    json_incref(e);
    json_object_del(doc, "updated");
    json_object_set_new(doc, "updated", e);

    return ow_entity_store(op, doc);
}

static int
ow_pkg_target_got(ow_op_t *op, const redisReply *r)
{
    json_t      *binding, *tdoc;
    const char  *bns, *bname;
    int          foreign, is_binding;

    binding = json_object_get(op->keep, "binding");
    bns = json_string_value(json_object_get(binding, "namespace"));
    bname = json_string_value(json_object_get(binding, "name"));
    foreign = ow_pkg_foreign(op, bns);

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        return ow_error(op, 500, "unexpected reply from the entity store");
    }
    if (r->element[0]->type != REDIS_REPLY_STRING) {
        return foreign ? ow_pkg_forbidden_ref(op, bns, bname)
                       : ow_error(op, 400, OW_MSG_NO_BINDING);
    }
    if (strcmp(r->element[0]->str, "packages") != 0) {
        return foreign ? ow_pkg_forbidden_ref(op, bns, bname)
                       : ow_error(op, 409, OW_MSG_BIND_NOT_PKG);
    }
    if (r->element[1]->type != REDIS_REPLY_STRING) {
        return ow_error(op, 500, "corrupt entity document");
    }

    tdoc = json_loadb(r->element[1]->str, r->element[1]->len, 0, NULL);
    if (tdoc == NULL) {
        return ow_error(op, 500, "corrupt entity document");
    }
    is_binding = ow_pkg_is_binding(tdoc);
    if (foreign && (is_binding
                    || !json_is_true(json_object_get(tdoc, "publish"))))
    {
        json_decref(tdoc);
        return ow_pkg_forbidden_ref(op, bns, bname);
    }
    json_decref(tdoc);

    return ow_pkg_build(op, binding, is_binding);
}

/* ow_coll_t.put: op->json is the body, op->old the stored doc or NULL */
static int
ow_pkg_put(ow_op_t *op, const redisReply *unused)
{
    json_t      *b, *ns, *name;
    const char  *bns, *bname;
    char        *key;
    int          rc;

    b = json_object_get(op->json, "binding");
    if (b == NULL || json_is_null(b)
        || (json_is_object(b) && json_object_size(b) == 0))
    {
        return ow_pkg_build(op, NULL, 0);
    }

    ns = json_object_get(b, "namespace");
    name = json_object_get(b, "name");
    if (!json_is_object(b) || !json_is_string(ns) || !json_is_string(name)) {
        return ow_error(op, 400, OW_MSG_MALFORMED "'binding' must be an "
                        "object with string fields 'namespace' and "
                        "'name'.");
    }

    bns = json_string_value(ns);
    bname = json_string_value(name);
    if (strcmp(bns, "_") == 0) {
        bns = op->auth_ns;
    }
    if (!ow_namespace_valid(bns, strlen(bns))
        || !ow_name_valid(bname, strlen(bname)))
    {
        return ow_error(op, 400, OW_MSG_BAD_NAME);
    }

    json_object_set_new(op->keep, "binding",
                        json_pack("{s:s,s:s}", "namespace", bns,
                                  "name", bname));

    /* the target may be in another namespace: a plain read of its own */
    key = ow_key(OW_KEY_ENTITY, bns, bname);
    if (key == NULL) {
        return ow_error(op, 500, "out of memory");
    }
    rc = ow_redisf(op, ow_pkg_target_got, "HMGET %s coll doc", key);
    free(key);
    return rc;
}

/* ---- delete ---- */

static int
ow_pkg_deleted(ow_op_t *op, const redisReply *r)
{
    json_t     *doc;
    long long   n;

    if (r->type == REDIS_REPLY_NIL) {
        return ow_not_found(op);
    }
    if (ow_reply_is(r, "COLL")) {
        return ow_error(op, 409, OW_MSG_WRONG_COLL);
    }
    if (ow_reply_is(r, "NOTEMPTY")) {
        n = strtoll(r->str + sizeof("NOTEMPTY") - 1, NULL, 10);
        return ow_error(op, 409, OW_MSG_NOT_EMPTY, n,
                        n == 1 ? "entity" : "entities");
    }
    if (r->type != REDIS_REPLY_STRING) {
        return ow_error(op, 500, "entity store error");
    }

    doc = json_loadb(r->str, r->len, 0, NULL);
    if (doc == NULL) {
        return ow_error(op, 500, "corrupt entity document");
    }
    return ow_done(op, 200, doc);
}

static int
ow_pkg_delete(ow_op_t *op)
{
    const char  *argv[9];
    char        *key, *index, *ver, *pindex, *aindex, *prefix, *sub;
    size_t       n;
    int          rc;

    if (!ow_name_valid(op->path, strlen(op->path))) {
        return ow_error(op, 400, OW_MSG_BAD_NAME);
    }

    n = strlen(op->path) + 2;
    sub = malloc(n);
    if (sub == NULL) {
        return ow_error(op, 500, "out of memory");
    }
    snprintf(sub, n, "%s/", op->path);

    key = ow_key(OW_KEY_ENTITY, op->ns, op->path);
    index = ow_key(OW_KEY_INDEX, op->ns, "packages");
    ver = ow_key(OW_KEY_VERSION, op->ns, NULL);
    pindex = ow_key(OW_KEY_PKG_INDEX, op->ns, op->path);
    aindex = ow_key(OW_KEY_INDEX, op->ns, "actions");
    prefix = ow_key(OW_KEY_ENTITY, op->ns, sub);

    if (key && index && ver && pindex && aindex && prefix) {
        argv[0] = key;
        argv[1] = index;
        argv[2] = ver;
        argv[3] = pindex;
        argv[4] = aindex;
        argv[5] = op->path;
        argv[6] = op->ns;
        argv[7] = ow_query_bool(op, "force", 0) ? "1" : "0";
        argv[8] = prefix;
        rc = ow_script(op, ow_pkg_deleted, &ow_pkg_script_del, 5, 9, argv,
                       NULL);
    } else {
        rc = ow_error(op, 500, "out of memory");
    }

    free(sub);
    free(key);
    free(index);
    free(ver);
    free(pindex);
    free(aindex);
    free(prefix);
    return rc;
}

/* ---- list ---- */

static json_t *
ow_pkg_summary(ow_op_t *op, json_t *doc)
{
    static const char  *fields[] = {
        "namespace", "name", "version", "publish", "annotations", "updated",
        NULL
    };
    json_t             *s;

    s = json_object();
    ow_copy_fields(s, doc, fields);
    if (ow_pkg_is_binding(doc)) {
        json_object_set(s, "binding", json_object_get(doc, "binding"));
    } else {
        json_object_set_new(s, "binding", json_false());
    }
    json_decref(doc);
    return s;
}

/*
 * The "public" query argument (wsk package list --public) is accepted and
 * ignored, as OpenWhisk's controller does: the namespace decides the view.
 */
static int
ow_pkg_list(ow_op_t *op)
{
    const char  *argv[5];
    char        *index, *prefix;
    char         skip_s[24], limit_s[24];
    long         limit, skip;
    int          count, rc;

    if (!ow_pkg_foreign(op, op->ns)) {
        return ow_entity_list(op, &ow_packages, OW_KEY_INDEX, "packages");
    }

    if (ow_list_params(op, "packages", &limit, &skip, &count) != 0) {
        return OW_STEP_DONE;
    }
    snprintf(skip_s, sizeof(skip_s), "%ld", skip);
    snprintf(limit_s, sizeof(limit_s), "%ld", limit);

    index = ow_key(OW_KEY_INDEX, op->ns, "packages");
    prefix = ow_key(OW_KEY_ENTITY, op->ns, "");
    if (index == NULL || prefix == NULL) {
        rc = ow_error(op, 500, "out of memory");
    } else {
        argv[0] = index;
        argv[1] = prefix;
        argv[2] = skip_s;
        argv[3] = limit_s;
        argv[4] = count ? "1" : "0";
        op->cd = &ow_packages;
        rc = ow_script(op, ow_entity_list_reply, &ow_pkg_script_list_public,
                       1, 5, argv, NULL);
    }
    free(index);
    free(prefix);
    return rc;
}

/* ---- the collection ---- */

static json_t *
ow_pkg_shape(ow_op_t *op, json_t *doc, const redisReply *extra)
{
    return doc;
}

static const ow_coll_t  ow_packages = {
    "packages",
    ow_pkg_put,
    ow_pkg_shape,
    ow_pkg_summary,
    NULL,
    0,
    NULL
};

int
ow_api_packages(ow_op_t *op)
{
    if (op->path && strchr(op->path, '/')) {
        return ow_not_found(op);
    }

    switch (op->method) {

    case OW_GET:
        if (op->path == NULL) {
            return ow_pkg_list(op);
        }
        if (!ow_name_valid(op->path, strlen(op->path))) {
            return ow_error(op, 400, OW_MSG_BAD_NAME);
        }
        return ow_pkg_read(op, op->ns, op->path, ow_pkg_got);

    case OW_PUT:
        if (op->path == NULL) {
            break;
        }
        if (!ow_name_valid(op->path, strlen(op->path))) {
            return ow_error(op, 400, OW_MSG_BAD_NAME);
        }
        if (strcmp(op->path, "default") == 0) {
            return ow_error(op, 400, OW_MSG_RESERVED, op->path);
        }
        return ow_entity_put(op, &ow_packages);

    case OW_DELETE:
        if (op->path == NULL) {
            break;
        }
        return ow_pkg_delete(op);

    default:
        break;
    }

    return ow_error(op, 405, "HTTP method not allowed, supported methods: "
                    "GET, PUT, DELETE");
}
