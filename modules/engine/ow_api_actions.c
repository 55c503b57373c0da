/*
 * ow_api_actions.c: /namespaces/{ns}/actions (openwhisk-api.md §3, §4, §6,
 * §10): create/update, get, delete and list; invocation is a later issue.
 *
 * An action in a package first reads the package (one HMGET): writes need
 * a real package of the caller's namespace; reads of a foreign namespace
 * need a public package; a binding resolves to its bound package (and its
 * parameters are inherited, package <- binding <- action, as OpenWhisk's
 * controller does on GET).
 *
 * A sequence PUT (a new exec of kind "sequence") is validated as OpenWhisk's
 * controller does (Actions.scala checkSequenceActionLimits): the caller may
 * read every component (its own namespace, a public package of another, or
 * through its own binding: 403 otherwise, 404 for its own missing package),
 * each component exists ("Sequence component does not exist."), no
 * component resolves to the sequence itself, directly or through nested
 * sequences ("Sequence may not refer to itself."), and at most 50 atomic
 * actions after inlining ("Too many actions in the sequence."), all 400.
 * One Lua script walks the graph (bounded reads). It reads entities of
 * other namespaces, keys it cannot declare up front: fine on one Redis; on
 * Redis Cluster this step would have to become one HMGET per entity.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ow_entity.h"
#include "ow_api_handlers.h"
#include "ow_exec.h"
#include "ow_names.h"
#include "ow_schema.h"
#include "ow_scripts.h"

#define OW_MSG_ON_BINDING  "Operation not permitted on package binding."

static int ow_action_build(ow_op_t *op, const redisReply *unused);
static int ow_action_seq_checked(ow_op_t *op, const redisReply *r);
static json_t *ow_action_shape(ow_op_t *op, json_t *doc,
    const redisReply *extra);
static json_t *ow_action_summary(ow_op_t *op, json_t *doc);
static int ow_action_verbatim(ow_op_t *op, const redisReply *extra);

static const ow_coll_t  ow_actions = {
    "actions",
    ow_action_build,
    ow_action_shape,
    ow_action_summary,
    NULL,
    1,
    ow_action_verbatim
};

/* ---- sequence validation ---- */

#define OW_SEQ_MAX_LENGTH  50       /* limit_sequence_max_length */
#define OW_SEQ_MAX_READS   "1000"   /* a stored cycle cannot loop forever */

/*
 * ARGV: caller's namespace, the sequence ("ns/[pkg/]name"), the length
 * limit, the read budget, then the components ("/ns/[pkg/]name").
 * Errors: FORBIDDEN <component>, NOTFOUND (a missing package of the
 * caller's), MISSING, CYCLE, TOOLONG. Rights are checked on the direct
 * components first, as OpenWhisk's entitlement check precedes the limits.
 */
static ow_script_t  ow_action_script_seq = { "seq_check",
    "local auth, self = ARGV[1], ARGV[2]\n"
    "local limit, budget = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    /* a string (not a table: Redis rewrites those) that pcall returns */
    "local function fail(code) error('OWX:' .. code, 0) end\n"
    "local function get(ns, path)\n"
    "  budget = budget - 1\n"
    "  if budget < 0 then fail('TOOLONG') end\n"
    "  local v = redis.call('HMGET', "
    OW_LUA_KEY_ENTITY("ns", "path") ","
    " 'coll', 'doc')\n"
    "  if not v[2] then return nil end\n"
    "  local ok, d = pcall(cjson.decode, v[2])\n"
    "  if not ok or type(d) ~= 'table' then return nil end\n"
    "  return v[1], d\n"
    "end\n"
    "local function bound(p)\n"
    "  return type(p.binding) == 'table' and type(p.binding.namespace)"
    " == 'string' and type(p.binding.name) == 'string'\n"
    "end\n"
    "local function split(c)\n"
    "  local ns, rest = string.match(c, '^/([^/]+)/(.+)$')\n"
    "  if not ns then fail('MISSING') end\n"
    "  local pkg, name = string.match(rest, '^([^/]+)/([^/]+)$')\n"
    "  if not pkg then return ns, nil, rest end\n"
    "  return ns, pkg, name\n"
    "end\n"
    /* the package a component runs in, rights checked when check */
    "local function resolve(c, check)\n"
    "  local ns, pkg, name = split(c)\n"
    "  local owner = (ns == auth)\n"
    "  local deny = 'FORBIDDEN ' .. string.sub(c, 2)\n"
    "  if not pkg then\n"
    "    if check and not owner then fail(deny) end\n"
    "    return ns, name\n"
    "  end\n"
    "  local coll, p = get(ns, pkg)\n"
    "  if not p or coll ~= 'packages' then\n"
    "    if check and not owner then fail(deny) end\n"
    "    if check then fail('NOTFOUND') end\n"
    "    fail('MISSING')\n"
    "  end\n"
    "  if bound(p) then\n"
    "    if check and not owner then fail(deny) end\n"
    "    local bns, bname = p.binding.namespace, p.binding.name\n"
    "    local bcoll, b = get(bns, bname)\n"
    "    if not b or bcoll ~= 'packages' or bound(b) then\n"
    "      if check and bns ~= auth then fail(deny) end\n"
    "      fail('MISSING')\n"
    "    end\n"
    "    if check and bns ~= auth and b.publish ~= true then\n"
    "      fail(deny) end\n"
    "    return bns, bname .. '/' .. name\n"
    "  end\n"
    "  if check and not owner and p.publish ~= true then fail(deny) end\n"
    "  return ns, pkg .. '/' .. name\n"
    "end\n"
    "local count = 0\n"
    "local function walk(comps, check)\n"
    "  if #comps > limit then fail('TOOLONG') end\n"
    "  for _, c in ipairs(comps) do\n"
    "    if type(c) ~= 'string' then fail('MISSING') end\n"
    "    local ns, path = resolve(c, check)\n"
    "    if ns .. '/' .. path == self then fail('CYCLE') end\n"
    "    local coll, a = get(ns, path)\n"
    "    if not a or coll ~= 'actions' or type(a.exec) ~= 'table' then\n"
    "      fail('MISSING') end\n"
    "    if a.exec.kind == 'sequence' then\n"
    "      walk(type(a.exec.components) == 'table' and a.exec.components"
    " or {}, false)\n"
    "    else\n"
    "      count = count + 1\n"
    "      if count > limit then fail('TOOLONG') end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local top = {}\n"
    "for i = 5, #ARGV do top[#top + 1] = ARGV[i] end\n"
    "if #top > limit then\n"
    "  return redis.error_reply('TOOLONG sequence check') end\n"
    "local ok, e = pcall(function()\n"
    "  for _, c in ipairs(top) do resolve(c, true) end\n"
    "  walk(top, false)\n"
    "end)\n"
    "if not ok then\n"
    "  local code = type(e) == 'string' and string.match(e, '^OWX:(.*)$')\n"
    /* a code alone would come back as "ERR <code>": give it a message */
    "  if code and not string.find(code, ' ') then\n"
    "    code = code .. ' sequence check' end\n"
    "  if code then return redis.error_reply(code) end\n"
    "  error(e)\n"
    "end\n"
    "return count\n",
    ""
};

static int
ow_action_seq_check(ow_op_t *op, json_t *doc)
{
    json_t       *comps;
    const char  **argv;
    char         *self, limit[16];
    size_t        i, n, len;
    int           rc;

    comps = json_object_get(json_object_get(doc, "exec"), "components");
    n = json_array_size(comps);

    /*
     * the script says so too, but its arguments are bounded (ow_script):
     * a sequence longer than the limit is refused before it is sent
     */
    if (n > OW_SEQ_MAX_LENGTH) {
        json_decref(doc);
        return ow_error(op, 400, "Too many actions in the sequence.");
    }

    len = strlen(op->ns) + 1 + strlen(op->path) + 1;
    self = malloc(len);
    argv = malloc((4 + n) * sizeof(char *));
    if (self == NULL || argv == NULL) {
        free(self);
        free(argv);
        json_decref(doc);
        return ow_error(op, 500, "out of memory");
    }
    snprintf(self, len, "%s/%s", op->ns, op->path);
    snprintf(limit, sizeof(limit), "%d", OW_SEQ_MAX_LENGTH);

    argv[0] = op->auth_ns;
    argv[1] = self;
    argv[2] = limit;
    argv[3] = OW_SEQ_MAX_READS;
    for (i = 0; i < n; i++) {
        argv[4 + i] = json_string_value(json_array_get(comps, i));
        if (argv[4 + i] == NULL) {
            argv[4 + i] = "";
        }
    }

    /* the document waits in op->keep for the script's answer */
    json_object_set_new(op->keep, "seqdoc", doc);
    rc = ow_script(op, ow_action_seq_checked, &ow_action_script_seq, 0,
                   (int) (4 + n), argv, NULL);
    free(self);
    free(argv);
    return rc;
}

static int
ow_action_seq_checked(ow_op_t *op, const redisReply *r)
{
    json_t  *doc;

    if (r && r->type == REDIS_REPLY_ERROR) {
        if (ow_reply_is(r, "FORBIDDEN")) {
            return ow_error(op, 403, "The supplied authentication is not "
                            "authorized to access '%s'.",
                            r->str + sizeof("FORBIDDEN"));
        }
        if (ow_reply_is(r, "NOTFOUND")) {
            return ow_not_found(op);
        }
        if (ow_reply_is(r, "MISSING")) {
            return ow_error(op, 400, "Sequence component does not exist.");
        }
        if (ow_reply_is(r, "CYCLE")) {
            return ow_error(op, 400, "Sequence may not refer to itself.");
        }
        if (ow_reply_is(r, "TOOLONG")) {
            return ow_error(op, 400, "Too many actions in the sequence.");
        }
    }
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        return ow_error(op, 500, "sequence check failed: %s",
                        r && r->type == REDIS_REPLY_ERROR ? r->str : "");
    }

    doc = json_incref(json_object_get(op->keep, "seqdoc"));
    json_object_del(op->keep, "seqdoc");
    return ow_entity_store(op, doc);
}

/* ---- documents ---- */

static int
ow_action_build(ow_op_t *op, const redisReply *unused)
{
    json_t      *given, *exec, *old_exec, *doc, *limits, *params, *ann;
    int          status, create, old_seq;
    char         err[2048];

    create = (op->old == NULL);
    old_exec = op->old ? json_object_get(op->old, "exec") : NULL;
    old_seq = ow_exec_is_sequence(old_exec);

    exec = NULL;
    given = json_object_get(op->json, "exec");
    if (given && !json_is_null(given)) {
        exec = ow_exec_parse(given, op->conf->kinds,
                             op->conf->family_default, op->ns, &status,
                             err, sizeof(err));
        if (exec == NULL) {
            return ow_error(op, status, "%s", err);
        }
    } else {
        given = NULL;
    }

    doc = ow_entity_common(op, 1, 1);
    if (doc == NULL) {
        json_decref(exec);
        return OW_STEP_DONE;
    }

    limits = ow_limits_action(&op->limits, json_object_get(op->json,
                                                           "limits"),
                              op->old ? json_object_get(op->old, "limits")
                                      : NULL,
                              err, sizeof(err));
    if (limits == NULL) {
        json_decref(exec);
        json_decref(doc);
        return ow_error(op, 400, "%s", err);
    }

    if (exec == NULL) {
        if (old_exec == NULL) {
            json_decref(doc);
            json_decref(limits);
            return ow_error(op, 400, "exec undefined");
        }
        /* an update without exec keeps the stored one (and its kind) */
        exec = json_incref(old_exec);
    }

    /*
     * A sequence's only parameter is the list of its components; a
     * sequence's parameters do not leak into an action that replaces it.
     */
    params = NULL;
    if (given && ow_exec_is_sequence(exec)) {
        params = json_pack("[{s:s, s:O}]", "key", "_actions", "value",
                           json_object_get(exec, "components"));
    } else if (given && old_seq && json_object_get(op->json, "parameters")
               == NULL)
    {
        params = json_array();
    } else if (given == NULL && old_seq) {
        params = json_incref(json_object_get(op->old, "parameters"));
    }
    if (params) {
        json_object_set_new(doc, "parameters", params);
    }

    ann = json_deep_copy(json_object_get(doc, "annotations"));
    ann = ow_exec_annotate(ann, ow_exec_kind(exec), create);
    json_object_set_new(doc, "annotations", ann);

    json_object_set_new(doc, "exec", exec);
    json_object_set_new(doc, "limits", limits);

    if (given && ow_exec_is_sequence(exec)) {
        return ow_action_seq_check(op, doc);
    }
    return ow_entity_store(op, doc);
}

static json_t *
ow_action_shape(ow_op_t *op, json_t *doc, const redisReply *extra)
{
    json_t  *inherited, *exec;

    if (op->method != OW_GET) {
        return doc;
    }

    inherited = json_object_get(op->keep, "pkgparams");
    if (inherited && json_array_size(inherited) > 0) {
        json_object_set_new(doc, "parameters",
            ow_params_inherit(inherited,
                              json_object_get(doc, "parameters")));
    }

    if (!ow_query_bool(op, "code", 1)) {
        exec = ow_exec_meta(json_object_get(doc, "exec"));
        if (exec) {
            json_object_set_new(doc, "exec", exec);
        }
    }
    return doc;
}

/* a root action with its code: exactly what is stored */
static int
ow_action_verbatim(ow_op_t *op, const redisReply *extra)
{
    return op->method == OW_GET && strchr(op->path, '/') == NULL
           && ow_query_bool(op, "code", 1);
}

static json_t *
ow_action_summary(ow_op_t *op, json_t *doc)
{
    static const char  *fields[] = {
        "namespace", "name", "version", "publish", "annotations", "limits",
        NULL
    };
    json_t             *s, *binary;

    s = json_object();
    ow_copy_fields(s, doc, fields);
    binary = json_object_get(json_object_get(doc, "exec"), "binary");
    json_object_set_new(s, "exec", json_pack("{s:b}", "binary",
                                             json_is_true(binary)));
    json_object_set(s, "updated", json_object_get(doc, "updated"));
    json_decref(doc);
    return s;
}

/* ---- the package of a packaged action ---- */

/* "pkg" of "pkg/name" or "pkg/"; caller frees */
static char *
ow_action_pkg_name(const char *path)
{
    const char  *slash;
    char        *pkg;

    slash = strchr(path, '/');
    pkg = malloc(slash - path + 1);
    if (pkg) {
        memcpy(pkg, path, slash - path);
        pkg[slash - path] = '\0';
    }
    return pkg;
}

static int
ow_action_pkg_read(ow_op_t *op, const char *ns, const char *pkg,
    ow_step_pt next)
{
    char  *key;
    int    rc;

    key = ow_key(OW_KEY_ENTITY, ns, pkg);
    if (key == NULL) {
        return ow_error(op, 500, "out of memory");
    }
    rc = ow_redisf(op, next, "HMGET %s coll doc", key);
    free(key);
    return rc;
}

#define OW_PKG_OK         0
#define OW_PKG_MISSING   -1
#define OW_PKG_OTHER     -2     /* the name belongs to another collection */
#define OW_PKG_CORRUPT   -3

/* the package doc of an HMGET coll doc reply */
static int
ow_action_pkg_doc(const redisReply *r, json_t **doc)
{
    *doc = NULL;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        return OW_PKG_CORRUPT;
    }
    if (r->element[0]->type != REDIS_REPLY_STRING) {
        return OW_PKG_MISSING;
    }
    if (strcmp(r->element[0]->str, "packages") != 0) {
        return OW_PKG_OTHER;
    }
    if (r->element[1]->type != REDIS_REPLY_STRING) {
        return OW_PKG_CORRUPT;
    }
    *doc = json_loadb(r->element[1]->str, r->element[1]->len, 0, NULL);
    return json_is_object(*doc) ? OW_PKG_OK : OW_PKG_CORRUPT;
}

static int
ow_action_is_binding(const json_t *pkg)
{
    json_t  *b;

    b = json_object_get(pkg, "binding");
    return json_is_object(b)
           && json_is_string(json_object_get(b, "namespace"))
           && json_is_string(json_object_get(b, "name"));
}

/* the package of a write (PUT, DELETE) is read */
static int
ow_action_write_pkg(ow_op_t *op, const redisReply *r)
{
    json_t  *pkg;
    int      rc;

    rc = ow_action_pkg_doc(r, &pkg);
    if (rc == OW_PKG_MISSING) {
        return ow_not_found(op);
    }
    if (rc == OW_PKG_OTHER) {
        return ow_error(op, 409, OW_MSG_WRONG_COLL);
    }
    if (rc != OW_PKG_OK) {
        json_decref(pkg);
        return ow_error(op, 500, "corrupt package document");
    }

    rc = ow_action_is_binding(pkg);
    json_decref(pkg);
    if (rc) {
        return ow_error(op, 400, OW_MSG_ON_BINDING);
    }

    if (op->method == OW_PUT) {
        return ow_entity_put(op, &ow_actions);
    }
    return ow_entity_delete(op, &ow_actions);
}

/* list the package index of op->path ("pkg/") in op->ns */
static int
ow_action_list_pkg(ow_op_t *op)
{
    const char  *argv[5];
    char        *pkg, *index, *prefix;
    char         skip_s[24], limit_s[24], member[300];
    long         limit, skip;
    int          count, rc;

    if (ow_list_params(op, "actions", &limit, &skip, &count) != 0) {
        return OW_STEP_DONE;
    }

    pkg = ow_action_pkg_name(op->path);
    if (pkg == NULL) {
        return ow_error(op, 500, "out of memory");
    }
    snprintf(member, sizeof(member), "%s/", pkg);
    snprintf(skip_s, sizeof(skip_s), "%ld", skip);
    snprintf(limit_s, sizeof(limit_s), "%ld", limit);

    /* members are action names: the entity key is prefix "pkg/" + name */
    index = ow_key(OW_KEY_PKG_INDEX, op->ns, pkg);
    prefix = ow_key(OW_KEY_ENTITY, op->ns, member);
    free(pkg);
    if (index == NULL || prefix == NULL) {
        free(index);
        free(prefix);
        return ow_error(op, 500, "out of memory");
    }

    argv[0] = index;
    argv[1] = prefix;
    argv[2] = skip_s;
    argv[3] = limit_s;
    argv[4] = count ? "1" : "0";

    op->cd = &ow_actions;
    rc = ow_script(op, ow_entity_list_reply, &ow_script_list, 1, 5, argv, NULL);
    free(index);
    free(prefix);
    return rc;
}

/* the (resolved) package may be read: get the action or list the package */
static int
ow_action_pkg_ready(ow_op_t *op)
{
    size_t  len;

    len = strlen(op->path);
    if (len > 0 && op->path[len - 1] == '/') {
        return ow_action_list_pkg(op);
    }
    return ow_entity_get(op, &ow_actions);
}

/* rebase op onto the bound package: its namespace, "pkg/name" or "pkg/" */
static int
ow_action_rebase(ow_op_t *op, const char *ns, const char *pkg)
{
    const char  *rest;
    char        *path, *nsdup;
    size_t       len;

    rest = strchr(op->path, '/') + 1;
    len = strlen(pkg) + 1 + strlen(rest) + 1;
    path = malloc(len);
    nsdup = strdup(ns);
    if (path == NULL || nsdup == NULL) {
        free(path);
        free(nsdup);
        return -1;
    }
    snprintf(path, len, "%s/%s", pkg, rest);
    free(op->path);
    free(op->ns);
    op->path = path;
    op->ns = nsdup;
    return 0;
}

static int
ow_action_read_bound(ow_op_t *op, const redisReply *r)
{
    json_t      *pkg, *binding, *inherited;
    const char  *bns, *bname;
    int          rc, owner;

    binding = json_object_get(op->keep, "binding");
    bns = json_string_value(json_object_get(binding, "namespace"));
    bname = json_string_value(json_object_get(binding, "name"));
    owner = (strcmp(bns, op->auth_ns) == 0);

    rc = ow_action_pkg_doc(r, &pkg);
    if (rc == OW_PKG_MISSING) {
        /* a foreign package's absence is not disclosed */
        return owner ? ow_not_found(op) : ow_forbidden(op);
    }
    if (rc == OW_PKG_OTHER) {
        return owner ? ow_error(op, 409, OW_MSG_WRONG_COLL)
                     : ow_forbidden(op);
    }
    if (rc != OW_PKG_OK) {
        json_decref(pkg);
        return ow_error(op, 500, "corrupt package document");
    }

    /* bindings of bindings are refused at bind time; never follow them */
    if (ow_action_is_binding(pkg)) {
        json_decref(pkg);
        return owner ? ow_not_found(op) : ow_forbidden(op);
    }
    if (!owner && !json_is_true(json_object_get(pkg, "publish"))) {
        json_decref(pkg);
        return ow_forbidden(op);
    }

    inherited = ow_params_inherit(json_object_get(pkg, "parameters"),
                                  json_object_get(op->keep, "bparams"));
    json_object_set_new(op->keep, "pkgparams", inherited);
    json_decref(pkg);

    if (ow_action_rebase(op, bns, bname) != 0) {
        return ow_error(op, 500, "out of memory");
    }
    return ow_action_pkg_ready(op);
}

/* the package of a read (GET of an action, list of a package) is read */
static int
ow_action_read_pkg(ow_op_t *op, const redisReply *r)
{
    json_t      *pkg, *b, *params;
    const char  *bns, *bname;
    int          rc, owner;

    owner = (strcmp(op->ns, op->auth_ns) == 0);

    rc = ow_action_pkg_doc(r, &pkg);
    if (rc == OW_PKG_MISSING) {
        return owner ? ow_not_found(op) : ow_forbidden(op);
    }
    if (rc == OW_PKG_OTHER) {
        return owner ? ow_error(op, 409, OW_MSG_WRONG_COLL)
                     : ow_forbidden(op);
    }
    if (rc != OW_PKG_OK) {
        json_decref(pkg);
        return ow_error(op, 500, "corrupt package document");
    }

    if (ow_action_is_binding(pkg)) {
        /* only the binding's owner may read through it */
        if (!owner) {
            json_decref(pkg);
            return ow_forbidden(op);
        }
        b = json_object_get(pkg, "binding");
        bns = json_string_value(json_object_get(b, "namespace"));
        bname = json_string_value(json_object_get(b, "name"));
        if (!ow_namespace_valid(bns, strlen(bns))
            || !ow_name_valid(bname, strlen(bname)))
        {
            json_decref(pkg);
            return ow_error(op, 500, "corrupt package document");
        }
        json_object_set(op->keep, "binding", b);
        params = json_object_get(pkg, "parameters");
        json_object_set_new(op->keep, "bparams",
                            params ? json_incref(params) : json_array());
        json_decref(pkg);

        b = json_object_get(op->keep, "binding");
        return ow_action_pkg_read(op,
            json_string_value(json_object_get(b, "namespace")),
            json_string_value(json_object_get(b, "name")),
            ow_action_read_bound);
    }

    if (!owner && !json_is_true(json_object_get(pkg, "publish"))) {
        json_decref(pkg);
        return ow_forbidden(op);
    }

    params = json_object_get(pkg, "parameters");
    if (params) {
        json_object_set(op->keep, "pkgparams", params);
    }
    json_decref(pkg);
    return ow_action_pkg_ready(op);
}

/* ---- routing ---- */

/*
 * Parse the body before any Redis step and turn away an oversized exec at
 * once: parsing tens of MB blocks for seconds, and a huge upload that is
 * refused anyway should not also cost a round trip.
 */
static int
ow_action_precheck(ow_op_t *op)
{
    json_t  *exec;
    size_t   size;

    if (ow_parse_body(op, 1) != 0) {
        return -1;
    }
    exec = json_object_get(op->json, "exec");
    size = json_string_length(json_object_get(exec, "code"))
           + json_string_length(json_object_get(exec, "main"));
    if (size > OW_EXEC_MAX) {
        ow_error(op, 413, "exec larger than allowed: %zu > %d bytes.", size,
                 OW_EXEC_MAX);
        return -1;
    }
    return 0;
}

static int
ow_action_packaged(ow_op_t *op, ow_step_pt next)
{
    char  *pkg;
    int    rc;

    pkg = ow_action_pkg_name(op->path);
    if (pkg == NULL) {
        return ow_error(op, 500, "out of memory");
    }
    rc = ow_action_pkg_read(op, op->ns, pkg, next);
    free(pkg);
    return rc;
}

int
ow_api_actions(ow_op_t *op)
{
    size_t  len;
    int     listing;

    len = op->path ? strlen(op->path) : 0;
    listing = (len > 0 && op->path[len - 1] == '/');

    if (op->path) {
        if (listing) {
            if (op->method != OW_GET
                || !ow_name_valid(op->path, len - 1))
            {
                return ow_error(op, 400, OW_MSG_BAD_NAME);
            }
        } else if (!ow_name_path_valid(op->path)) {
            return ow_error(op, 400, OW_MSG_BAD_NAME);
        }
    }

    switch (op->method) {

    case OW_GET:
        if (op->path == NULL) {
            return ow_entity_list(op, &ow_actions, OW_KEY_INDEX, "actions");
        }
        if (strchr(op->path, '/')) {
            return ow_action_packaged(op, ow_action_read_pkg);
        }
        return ow_entity_get(op, &ow_actions);

    case OW_PUT:
        if (op->path == NULL) {
            break;
        }
        if (ow_action_precheck(op) != 0) {
            return OW_STEP_DONE;
        }
        if (strchr(op->path, '/')) {
            return ow_action_packaged(op, ow_action_write_pkg);
        }
        return ow_entity_put(op, &ow_actions);

    case OW_DELETE:
        if (op->path == NULL) {
            break;
        }
        if (strchr(op->path, '/')) {
            return ow_action_packaged(op, ow_action_write_pkg);
        }
        return ow_entity_delete(op, &ow_actions);

    case OW_POST:
        if (op->path == NULL) {
            break;
        }
        /* invocation is the data plane's job (the next issue) */
        return ow_error(op, 501, "Invoking actions is not supported yet.");

    default:
        break;
    }

    return ow_error(op, 405, "HTTP method not allowed, supported methods: "
                    "GET, PUT, POST, DELETE");
}
