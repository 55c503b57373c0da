/*
 * ow_api_rules.c: /namespaces/{ns}/rules (openwhisk-api.md §3, §4).
 *
 * As in OpenWhisk, the stored rule holds no status: a rule is "active" or
 * "inactive" as recorded in its trigger's rules map, the hash
 * OW_KEY_TRIGGER_RULES (field "<ns>/<rule>" -> {"action":{..},"status"}).
 * Every write of a rule and of its trigger link is one Lua script, so the
 * two never disagree.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ow_entity.h"
#include "ow_api_handlers.h"
#include "ow_names.h"
#include "ow_schema.h"
#include "ow_scripts.h"

#define OW_MSG_BAD_FQN \
    "The fully qualified name of the entity must contain at least the " \
    "namespace and the name of the entity."
#define OW_MSG_NO_TRIGGER \
    "Only rules with existing triggers can be activated"

/*
 * Publishing a "put" of a trigger whose rules map changed lets a consumer
 * that caches triggers (with their rules) refresh it.
 */
#define OW_LUA_TRIGGER_EVENT(keyv, ns, ekey, name)                           \
    "local v = redis.call('INCR', " keyv ")\n"                               \
    "redis.call('PUBLISH', '" OW_CHANNEL_EVENTS "', cjson.encode({v = v, ns = " ns ","  \
    " coll = 'triggers', path = " name ", op = 'put',"                       \
    " rev = tonumber(redis.call('HGET', " ekey ", 'rev'))}))\n"

/* the status recorded in a trigger link (JSON), "inactive" if none */
#define OW_LUA_LINK_STATUS                                                   \
    "local function link_status(l)\n"                                        \
    "  if not l then return 'inactive' end\n"                                \
    "  local ok, o = pcall(cjson.decode, l)\n"                               \
    "  if ok and type(o) == 'table' and type(o.status) == 'string' then\n"   \
    "    return o.status end\n"                                              \
    "  return 'inactive'\n"                                                  \
    "end\n"

/*
 * put: KEYS rule, rules index, version, trigger entity, trigger rules,
 *      old trigger rules (= KEYS[5] when the trigger is unchanged),
 *      action entity (= KEYS[1] when not checked here), old trigger entity
 * ARGV expected rev, doc, updated, rule name, ns, rule fqn, action link
 *      json, "create"|"update", action state "key"|"ok"|"missing",
 *      trigger name, old trigger name
 * -> {rev, status}
 */
static ow_script_t  ow_script_rule_put = { "rule_put",
    OW_LUA_LINK_STATUS
    "local cur = redis.call('HMGET', KEYS[1], 'coll', 'rev')\n"
    "local expected = tonumber(ARGV[1])\n"
    "if cur[1] then\n"
    "  if cur[1] ~= 'rules' then"
    " return redis.error_reply('COLL other collection') end\n"
    "  if expected == -1 then"
    " return redis.error_reply('EXISTS entity exists') end\n"
    "  if tonumber(cur[2]) ~= expected then\n"
    "    return redis.error_reply('CONFLICT revision changed') end\n"
    "elseif expected > 0 then"
    " return redis.error_reply('CONFLICT revision changed') end\n"
    "if redis.call('HGET', KEYS[4], 'coll') ~= 'triggers' then\n"
    "  return redis.error_reply('NOTRIGGER trigger does not exist') end\n"
    "if ARGV[9] == 'missing' or (ARGV[9] == 'key'"
    " and redis.call('HGET', KEYS[7], 'coll') ~= 'actions') then\n"
    "  return redis.error_reply('NOACTION action does not exist') end\n"
    "local status = 'active'\n"
    "if ARGV[8] == 'update' then\n"
    "  status = link_status(redis.call('HGET', KEYS[6], ARGV[6]))\n"
    "end\n"
    "local rev = (tonumber(cur[2]) or 0) + 1\n"
    "redis.call('HSET', KEYS[1], 'coll', 'rules', 'doc', ARGV[2],"
    " 'rev', rev)\n"
    "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])\n"
    "local moved = 0\n"
    "if KEYS[6] ~= KEYS[5] then\n"
    "  moved = redis.call('HDEL', KEYS[6], ARGV[6])\n"
    "end\n"
    "redis.call('HSET', KEYS[5], ARGV[6], '{\"action\":' .. ARGV[7]"
    " .. ',\"status\":\"' .. status .. '\"}')\n"
    "local v = redis.call('INCR', KEYS[3])\n"
    "redis.call('PUBLISH', '" OW_CHANNEL_EVENTS "', cjson.encode({v = v, ns = ARGV[5],"
    " coll = 'rules', path = ARGV[4], op = 'put', rev = rev}))\n"
    "do\n"
    OW_LUA_TRIGGER_EVENT("KEYS[3]", "ARGV[5]", "KEYS[4]", "ARGV[10]")
    "end\n"
    "if moved == 1 then\n"
    OW_LUA_TRIGGER_EVENT("KEYS[3]", "ARGV[5]", "KEYS[8]", "ARGV[11]")
    "end\n"
    "return {rev, status}\n",
    ""
};

/*
 * get: KEYS rule; ARGV trigger rules key prefix, rule fqn, ns
 * -> nil, {coll} (another collection), or {coll, doc, status}
 */
static ow_script_t  ow_script_rule_get = { "rule_get",
    OW_LUA_LINK_STATUS
    "local cur = redis.call('HMGET', KEYS[1], 'coll', 'doc')\n"
    "if not cur[1] then return false end\n"
    "if cur[1] ~= 'rules' then return {cur[1]} end\n"
    "local status = 'inactive'\n"
    "local ok, d = pcall(cjson.decode, cur[2])\n"
    "if ok and type(d) == 'table' and type(d.trigger) == 'table'\n"
    "   and d.trigger.path == ARGV[3]"
    " and type(d.trigger.name) == 'string' then\n"
    "  status = link_status(redis.call('HGET', ARGV[1] .. d.trigger.name,"
    " ARGV[2]))\n"
    "end\n"
    "return {cur[1], cur[2], status}\n",
    ""
};

/*
 * status: KEYS rule, trigger entity, trigger rules, version
 * ARGV rev read with the rule, rule fqn, requested status, action link
 *      json, ns, trigger name
 * -> "OK" (changed) or "SAME"; errors GONE, CONFLICT, NOTRIGGER
 */
static ow_script_t  ow_script_rule_status = { "rule_status",
    OW_LUA_LINK_STATUS
    "local cur = redis.call('HMGET', KEYS[1], 'coll', 'rev')\n"
    "if cur[1] ~= 'rules' then"
    " return redis.error_reply('GONE rule was deleted') end\n"
    "if tonumber(cur[2]) ~= tonumber(ARGV[1]) then\n"
    "  return redis.error_reply('CONFLICT revision changed') end\n"
    "local exists = redis.call('HGET', KEYS[2], 'coll') == 'triggers'\n"
    "local old = 'inactive'\n"
    "if exists then\n"
    "  old = link_status(redis.call('HGET', KEYS[3], ARGV[2]))\n"
    "end\n"
    "if old == ARGV[3] then return 'SAME' end\n"
    "if not exists then\n"
    "  return redis.error_reply('NOTRIGGER trigger does not exist') end\n"
    "redis.call('HSET', KEYS[3], ARGV[2], '{\"action\":' .. ARGV[4]"
    " .. ',\"status\":\"' .. ARGV[3] .. '\"}')\n"
    OW_LUA_TRIGGER_EVENT("KEYS[4]", "ARGV[5]", "KEYS[2]", "ARGV[6]")
    "return 'OK'\n",
    ""
};

/*
 * del: KEYS rule, rules index, version
 * ARGV rule name, ns, trigger rules key prefix, rule fqn, entity key prefix
 * -> the deleted doc, or nil; error COLL
 */
static ow_script_t  ow_script_rule_del = { "rule_del",
    "local cur = redis.call('HMGET', KEYS[1], 'coll', 'doc', 'rev')\n"
    "if not cur[1] then return false end\n"
    "if cur[1] ~= 'rules' then"
    " return redis.error_reply('COLL other collection') end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "local v = redis.call('INCR', KEYS[3])\n"
    "redis.call('PUBLISH', '" OW_CHANNEL_EVENTS "', cjson.encode({v = v, ns = ARGV[2],"
    " coll = 'rules', path = ARGV[1], op = 'del',"
    " rev = tonumber(cur[3])}))\n"
    "local ok, d = pcall(cjson.decode, cur[2])\n"
    "if ok and type(d) == 'table' and type(d.trigger) == 'table'\n"
    "   and d.trigger.path == ARGV[2]"
    " and type(d.trigger.name) == 'string' then\n"
    "  local t = d.trigger.name\n"
    "  if redis.call('HDEL', ARGV[3] .. t, ARGV[4]) == 1 then\n"
    OW_LUA_TRIGGER_EVENT("KEYS[3]", "ARGV[2]", "ARGV[5] .. t", "t")
    "  end\n"
    "end\n"
    "return cur[2]\n",
    ""
};

/*
 * pkg: KEYS package entity, action entity (in that package)
 * -> {package coll, package doc, action coll} ('' when missing)
 */
static ow_script_t  ow_script_rule_pkg = { "rule_pkg",
    "local p = redis.call('HMGET', KEYS[1], 'coll', 'doc')\n"
    "local a = redis.call('HGET', KEYS[2], 'coll')\n"
    "return {p[1] or '', p[2] or '', a or ''}\n",
    ""
};

/* a trigger or action reference: ns, optional package, name */
typedef ow_fqn_t  ow_ref_t;

static int ow_rule_write(ow_op_t *op);
static int ow_rule_pkg_read(ow_op_t *op, const char *ns, const char *pkg);

/* ---- references ---- */

/*
 * An EntityPath string as OpenWhisk reads it: "[/]ns/name" or
 * "[/]ns/pkg/name" ("_" = the rule's namespace); without with_name only
 * the path "[/]ns[/pkg]". Returns 0, -1 for a single segment (not a fully
 * qualified name), -2 for invalid parts.
 */
static int
ow_ref_split(const char *s, const char *dflt_ns, int with_name,
    ow_ref_t *ref)
{
    const char  *seg[4], *p, *slash;
    size_t       len[4];
    int          n, i, max;

    memset(ref, 0, sizeof(*ref));
    p = (s[0] == '/') ? s + 1 : s;
    max = with_name ? 3 : 2;
    n = 0;

    for ( ;; ) {
        slash = strchr(p, '/');
        if (n == 4) {
            return -2;
        }
        seg[n] = p;
        len[n] = slash ? (size_t) (slash - p) : strlen(p);
        if (!ow_name_valid(seg[n], len[n])) {
            return -2;
        }
        n++;
        if (slash == NULL) {
            break;
        }
        p = slash + 1;
    }

    if (with_name && n < 2) {
        return -1;
    }
    if (n > max) {
        return -2;
    }

    if (len[0] == 1 && seg[0][0] == '_') {
        ref->ns = strdup(dflt_ns);
    } else {
        ref->ns = strndup(seg[0], len[0]);
    }

    i = 1;
    if (n == max) {
        ref->pkg = strndup(seg[1], len[1]);
        i = 2;
    }
    if (with_name) {
        ref->name = strndup(seg[i], len[i]);
    }
    if (ref->ns == NULL || (n == max && ref->pkg == NULL)
        || (with_name && ref->name == NULL))
    {
        ow_fqn_free(ref);
        return -2;
    }
    return 0;
}

static int
ow_ref_parse_path(ow_op_t *op, const char *s, int with_name, ow_ref_t *ref)
{
    switch (ow_ref_split(s, op->ns, with_name, ref)) {
    case 0:
        return 0;
    case -1:
        ow_error(op, 400, OW_MSG_MALFORMED "requirement failed: "
                 OW_MSG_BAD_FQN);
        return -1;
    default:
        ow_error(op, 400, OW_MSG_MALFORMED "requirement failed: path "
                 "contains invalid parts %s", s);
        return -1;
    }
}

/* a PUT body reference: a string, or an object {"path","name"} */
static int
ow_ref_parse(ow_op_t *op, const json_t *v, ow_ref_t *ref)
{
    const char  *path, *name;

    if (json_is_string(v)) {
        return ow_ref_parse_path(op, json_string_value(v), 1, ref);
    }

    path = json_string_value(json_object_get(v, "path"));
    name = json_string_value(json_object_get(v, "name"));
    if (!json_is_object(v) || path == NULL || name == NULL) {
        ow_error(op, 400, OW_MSG_MALFORMED "fully qualified name malformed");
        return -1;
    }
    if (ow_ref_parse_path(op, path, 0, ref) != 0) {
        return -1;
    }
    if (!ow_name_valid(name, strlen(name))) {
        ow_fqn_free(ref);
        ow_error(op, 400, OW_MSG_MALFORMED "entity name malformed");
        return -1;
    }
    ref->name = strdup(name);
    return 0;
}

/* the stored {"path","name"} of a rule doc; -1 when it is unusable */
static int
ow_ref_stored(ow_op_t *op, const json_t *v, ow_ref_t *ref)
{
    const char  *path, *name;

    memset(ref, 0, sizeof(*ref));
    path = json_string_value(json_object_get(v, "path"));
    name = json_string_value(json_object_get(v, "name"));
    if (path == NULL || name == NULL
        || ow_ref_split(path, op->ns, 0, ref) != 0)
    {
        return -1;
    }
    ref->name = strdup(name);
    if (ref->name == NULL) {
        ow_fqn_free(ref);
        return -1;
    }
    return 0;
}

/* {"path":"ns[/pkg]","name":n} */
static json_t *
ow_ref_json(const ow_ref_t *ref)
{
    char     path[600];

    if (ref->pkg) {
        snprintf(path, sizeof(path), "%s/%s", ref->ns, ref->pkg);
    } else {
        snprintf(path, sizeof(path), "%s", ref->ns);
    }
    return json_pack("{s:s,s:s}", "path", path, "name", ref->name);
}

/* "ns[/pkg]/name" */
static void
ow_ref_string(const ow_ref_t *ref, char *buf, size_t size)
{
    if (ref->pkg) {
        snprintf(buf, size, "%s/%s/%s", ref->ns, ref->pkg, ref->name);
    } else {
        snprintf(buf, size, "%s/%s", ref->ns, ref->name);
    }
}

/* "<ns>/<rule>": the rule's field in its trigger's rules map */
static char *
ow_rule_fqn(ow_op_t *op)
{
    return ow_key("%s/%s", op->ns, op->path);
}

static const char *
ow_keep_str(ow_op_t *op, const char *name)
{
    return json_string_value(json_object_get(op->keep, name));
}

/* ---- shapes ---- */

static const char  *ow_rule_fields[] = {
    "namespace", "name", "version", "publish", "annotations", "updated",
    "trigger", "action", NULL
};

static json_t *
ow_rule_with_status(json_t *doc, const char *status)
{
    static const char  *head[] = {
        "namespace", "name", "version", "publish", "annotations", "updated",
        NULL
    };
    static const char  *tail[] = { "trigger", "action", NULL };
    json_t             *s;

    s = json_object();
    ow_copy_fields(s, doc, head);
    json_object_set_new(s, "status", json_string(status));
    ow_copy_fields(s, doc, tail);
    json_decref(doc);
    return s;
}

static json_t *
ow_rule_shape(ow_op_t *op, json_t *doc, const redisReply *extra)
{
    return ow_rule_with_status(doc, "inactive");
}

static json_t *
ow_rule_summary(ow_op_t *op, json_t *doc)
{
    json_t  *s;

    s = json_object();
    ow_copy_fields(s, doc, ow_rule_fields);
    json_decref(doc);
    return s;
}

/* ---- PUT ---- */

static int
ow_rule_put(ow_op_t *op, const redisReply *unused)
{
    ow_ref_t     trig, act;
    json_t      *tv, *av, *doc, *old_trigger;
    const char  *owner_ns;
    char         tname[600], aname[600];
    int          have_t, have_a, rc;

    memset(&trig, 0, sizeof(trig));
    memset(&act, 0, sizeof(act));
    have_t = have_a = 0;
    rc = OW_STEP_DONE;

    tv = json_object_get(op->json, "trigger");
    av = json_object_get(op->json, "action");

    if (tv && !json_is_null(tv)) {
        if (ow_ref_parse(op, tv, &trig) != 0) {
            goto done;
        }
        have_t = 1;
    }
    if (av && !json_is_null(av)) {
        if (ow_ref_parse(op, av, &act) != 0) {
            goto done;
        }
        have_a = 1;
    }

    /* an update keeps what the body does not name */
    if (op->old && !have_t
        && ow_ref_stored(op, json_object_get(op->old, "trigger"), &trig)
           == 0)
    {
        have_t = 1;
    }
    if (op->old && !have_a
        && ow_ref_stored(op, json_object_get(op->old, "action"), &act)
           == 0)
    {
        have_a = 1;
    }

    if (!have_t || !have_a) {
        rc = ow_error(op, 400, "rule requires a valid trigger and a valid "
                      "action");
        goto done;
    }

    /*
     * READ entitlement on both references: triggers and actions outside a
     * package are private to their namespace; packaged actions are
     * checked when their package is read.
     */
    ow_ref_string(&trig, tname, sizeof(tname));
    ow_ref_string(&act, aname, sizeof(aname));
    owner_ns = op->ns;
    if (trig.pkg != NULL || strcmp(trig.ns, owner_ns) != 0) {
        if (act.pkg == NULL && strcmp(act.ns, owner_ns) != 0) {
            rc = ow_error(op, 403, "The supplied authentication is not "
                          "authorized to access '%s, %s'.",
                          strcmp(aname, tname) < 0 ? aname : tname,
                          strcmp(aname, tname) < 0 ? tname : aname);
            goto done;
        }
        rc = ow_error(op, 403, "The supplied authentication is not "
                      "authorized to access '%s'.", tname);
        goto done;
    }
    if (act.pkg == NULL && strcmp(act.ns, owner_ns) != 0) {
        rc = ow_error(op, 403, "The supplied authentication is not "
                      "authorized to access '%s'.", aname);
        goto done;
    }

    doc = ow_entity_common(op, 0, 0);
    if (doc == NULL) {
        goto done;
    }
    json_object_set_new(doc, "trigger", ow_ref_json(&trig));
    json_object_set_new(doc, "action", ow_ref_json(&act));
    json_object_set_new(op->keep, "doc", doc);

    json_object_set_new(op->keep, "trigger", json_string(trig.name));
    json_object_set_new(op->keep, "trigger_fqn", json_string(tname));
    json_object_set_new(op->keep, "action_fqn", json_string(aname));
    json_object_set_new(op->keep, "action_ns", json_string(act.ns));
    json_object_set_new(op->keep, "action_name", json_string(act.name));

    old_trigger = op->old ? json_object_get(op->old, "trigger") : NULL;
    if (json_is_string(json_object_get(old_trigger, "name"))
        && json_equal(json_object_get(old_trigger, "path"),
                      json_object_get(doc, "namespace")))
    {
        json_object_set(op->keep, "old_trigger",
                        json_object_get(old_trigger, "name"));
    }

    if (act.pkg) {
        json_object_set_new(op->keep, "action_pkg", json_string(act.pkg));
        rc = ow_rule_pkg_read(op, act.ns, act.pkg);
    } else {
        json_object_set_new(op->keep, "action_state", json_string("key"));
        rc = ow_rule_write(op);
    }

done:
    ow_fqn_free(&trig);
    ow_fqn_free(&act);
    return rc;
}

static int
ow_rule_pkg_checked(ow_op_t *op, const redisReply *r)
{
    const char  *coll, *acoll, *ns;
    json_t      *pkg, *binding;
    int          owner, bound;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        return ow_error(op, 500, "unexpected reply from the entity store");
    }

    coll = r->element[0]->str;
    acoll = r->element[2]->str;
    ns = ow_keep_str(op, "pkg_ns");
    owner = ns && strcmp(ns, op->ns) == 0;
    bound = json_is_true(json_object_get(op->keep, "bound"));

    /* as OpenWhisk: no information about other namespaces leaks out */
    if (coll[0] == '\0') {
        if (owner) {
            return ow_not_found(op);
        }
        goto forbidden;
    }
    if (strcmp(coll, "packages") != 0) {
        if (owner) {
            return ow_error(op, 409, OW_MSG_WRONG_COLL);
        }
        goto forbidden;
    }

    pkg = json_loadb(r->element[1]->str, r->element[1]->len, 0, NULL);
    if (pkg == NULL) {
        return ow_error(op, 500, "corrupt entity document");
    }

    binding = json_object_get(pkg, "binding");
    if (json_is_object(binding) && json_object_size(binding) > 0) {
        const char  *bns, *bname;
        char         bns_copy[300], bname_copy[300];
        int          rc;

        bns = json_string_value(json_object_get(binding, "namespace"));
        bname = json_string_value(json_object_get(binding, "name"));
        if (!owner || bound || bns == NULL || bname == NULL) {
            json_decref(pkg);
            if (!owner) {
                goto forbidden;
            }
            /* a binding of a binding resolves to no action */
            json_object_set_new(op->keep, "action_state",
                                json_string("missing"));
            return ow_rule_write(op);
        }

        /* the action lives in the bound package */
        snprintf(bns_copy, sizeof(bns_copy), "%s", bns);
        snprintf(bname_copy, sizeof(bname_copy), "%s", bname);
        json_decref(pkg);
        json_object_set_new(op->keep, "bound", json_true());
        rc = ow_rule_pkg_read(op, bns_copy, bname_copy);
        return rc;
    }

    if (!owner && !json_is_true(json_object_get(pkg, "publish"))) {
        json_decref(pkg);
        goto forbidden;
    }
    json_decref(pkg);

    json_object_set_new(op->keep, "action_state",
                        json_string(strcmp(acoll, "actions") == 0
                                    ? "ok" : "missing"));
    return ow_rule_write(op);

forbidden:
    return ow_error(op, 403, "The supplied authentication is not "
                    "authorized to access '%s'.",
                    ow_keep_str(op, "action_fqn"));
}

/* read a package and the rule's action in it (a step of its own: the
 * package may live in another namespace, another hash slot) */
static int
ow_rule_pkg_read(ow_op_t *op, const char *ns, const char *pkg)
{
    const char  *argv[2];
    char        *pkey, *akey, *apath;
    int          rc;

    if (!ow_namespace_valid(ns, strlen(ns))
        || !ow_name_valid(pkg, strlen(pkg)))
    {
        json_object_set_new(op->keep, "action_state",
                            json_string("missing"));
        return ow_rule_write(op);
    }

    json_object_set_new(op->keep, "pkg_ns", json_string(ns));

    apath = ow_key("%s/%s", pkg, ow_keep_str(op, "action_name"));
    pkey = ow_key(OW_KEY_ENTITY, ns, pkg);
    akey = ow_key(OW_KEY_ENTITY, ns, apath);
    if (apath == NULL || pkey == NULL || akey == NULL) {
        free(apath);
        free(pkey);
        free(akey);
        return ow_error(op, 500, "out of memory");
    }

    argv[0] = pkey;
    argv[1] = akey;
    rc = ow_script(op, ow_rule_pkg_checked, &ow_script_rule_pkg, 2, 2, argv,
                   NULL);
    free(apath);
    free(pkey);
    free(akey);
    return rc;
}

static int
ow_rule_written(ow_op_t *op, const redisReply *r)
{
    json_t  *doc;

    if (r->type == REDIS_REPLY_ERROR) {
        if (ow_reply_is(r, "EXISTS")) {
            return ow_error(op, 409, OW_MSG_EXISTS);
        }
        if (ow_reply_is(r, "COLL")) {
            return ow_error(op, 409, OW_MSG_WRONG_COLL);
        }
        if (ow_reply_is(r, "CONFLICT")) {
            return ow_error(op, 409, OW_MSG_CONFLICT);
        }
        if (ow_reply_is(r, "NOTRIGGER")) {
            return ow_error(op, 400, "trigger /%s does not exist",
                            ow_keep_str(op, "trigger_fqn"));
        }
        if (ow_reply_is(r, "NOACTION")) {
            return ow_error(op, 400, "action /%s does not exist",
                            ow_keep_str(op, "action_fqn"));
        }
        return ow_error(op, 500, "entity store error");
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[1]->type != REDIS_REPLY_STRING)
    {
        return ow_error(op, 500, "unexpected reply from the entity store");
    }

    doc = json_object_get(op->keep, "doc");
    json_incref(doc);
    return ow_done(op, 200, ow_rule_with_status(doc, r->element[1]->str));
}

static int
ow_rule_write(ow_op_t *op)
{
    const char  *argv[19];
    const char  *trigger, *old_trigger, *state;
    json_t      *doc;
    char        *key, *index, *ver, *tkey, *trules, *otrules, *akey, *okey;
    char        *text, *link, *fqn, *apath;
    char         rev[24], updated[24];
    int          rc;

    doc = json_object_get(op->keep, "doc");
    trigger = ow_keep_str(op, "trigger");
    old_trigger = ow_keep_str(op, "old_trigger");
    if (old_trigger == NULL) {
        old_trigger = trigger;
    }
    state = ow_keep_str(op, "action_state");

    text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    link = json_dumps(json_object_get(doc, "action"), JSON_COMPACT);
    fqn = ow_rule_fqn(op);
    apath = ow_keep_str(op, "action_pkg") ? NULL
            : strdup(ow_keep_str(op, "action_name"));

    key = ow_key(OW_KEY_ENTITY, op->ns, op->path);
    index = ow_key(OW_KEY_INDEX, op->ns, "rules");
    ver = ow_key(OW_KEY_VERSION, op->ns, NULL);
    tkey = ow_key(OW_KEY_ENTITY, op->ns, trigger);
    trules = ow_key(OW_KEY_TRIGGER_RULES, op->ns, trigger);
    otrules = ow_key(OW_KEY_TRIGGER_RULES, op->ns, old_trigger);
    okey = ow_key(OW_KEY_ENTITY, op->ns, old_trigger);
    akey = (apath && strcmp(state, "key") == 0)
           ? ow_key(OW_KEY_ENTITY, op->ns, apath) : NULL;

    if (text == NULL || link == NULL || fqn == NULL || key == NULL
        || index == NULL || ver == NULL || tkey == NULL || trules == NULL
        || otrules == NULL || okey == NULL)
    {
        rc = ow_error(op, 500, "out of memory");
        goto done;
    }

    snprintf(rev, sizeof(rev), "%lld", (long long) op->rev);
    snprintf(updated, sizeof(updated), "%lld", (long long) op->now_ms);

    argv[0] = key;
    argv[1] = index;
    argv[2] = ver;
    argv[3] = tkey;
    argv[4] = trules;
    argv[5] = otrules;
    argv[6] = akey ? akey : key;
    argv[7] = okey;
    argv[8] = rev;
    argv[9] = text;
    argv[10] = updated;
    argv[11] = op->path;
    argv[12] = op->ns;
    argv[13] = fqn;
    argv[14] = link;
    argv[15] = op->old ? "update" : "create";
    argv[16] = state;
    argv[17] = trigger;
    argv[18] = old_trigger;

    rc = ow_script(op, ow_rule_written, &ow_script_rule_put, 8, 19, argv,
                   NULL);

done:
    free(text);
    free(link);
    free(fqn);
    free(apath);
    free(key);
    free(index);
    free(ver);
    free(tkey);
    free(trules);
    free(otrules);
    free(okey);
    free(akey);
    return rc;
}

/* ---- GET ---- */

static int
ow_rule_got(ow_op_t *op, const redisReply *r)
{
    json_t  *doc;

    if (r->type == REDIS_REPLY_NIL) {
        return ow_not_found(op);
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        return ow_error(op, 500, "unexpected reply from the entity store");
    }
    if (r->elements != 3 || strcmp(r->element[0]->str, "rules") != 0) {
        return ow_error(op, 409, OW_MSG_WRONG_COLL);
    }

    doc = json_loadb(r->element[1]->str, r->element[1]->len, 0, NULL);
    if (doc == NULL) {
        return ow_error(op, 500, "corrupt entity document");
    }
    return ow_done(op, 200, ow_rule_with_status(doc, r->element[2]->str));
}

static int
ow_rule_get(ow_op_t *op)
{
    const char  *argv[4];
    char        *key, *prefix, *fqn;
    int          rc;

    key = ow_key(OW_KEY_ENTITY, op->ns, op->path);
    prefix = ow_key(OW_KEY_TRIGGER_RULES, op->ns, "");
    fqn = ow_rule_fqn(op);
    if (key == NULL || prefix == NULL || fqn == NULL) {
        rc = ow_error(op, 500, "out of memory");
        goto done;
    }

    argv[0] = key;
    argv[1] = prefix;
    argv[2] = fqn;
    argv[3] = op->ns;
    rc = ow_script(op, ow_rule_got, &ow_script_rule_get, 1, 4, argv, NULL);

done:
    free(key);
    free(prefix);
    free(fqn);
    return rc;
}

/* ---- POST (enable / disable) ---- */

static int
ow_rule_status_set(ow_op_t *op, const redisReply *r)
{
    if (ow_reply_is(r, "NOTRIGGER")) {
        return ow_error(op, 404, OW_MSG_NO_TRIGGER);
    }
    if (ow_reply_is(r, "GONE")) {
        return ow_not_found(op);
    }
    if (ow_reply_is(r, "CONFLICT")) {
        return ow_error(op, 409, OW_MSG_CONFLICT);
    }
    if (r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_STRING) {
        return ow_error(op, 500, "entity store error");
    }
    return ow_done_text(op, 200, "OK");
}

static int
ow_rule_post_read(ow_op_t *op, const redisReply *r)
{
    const char  *argv[10];
    json_t      *doc, *action;
    ow_ref_t     trig;
    char        *key, *tkey, *trules, *ver, *fqn, *link;
    char         rev[24];
    const char  *status;
    int          rc;

    if (r->type == REDIS_REPLY_NIL) {
        return ow_not_found(op);
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4
        || r->element[1]->type != REDIS_REPLY_STRING)
    {
        return ow_error(op, 500, "unexpected reply from the entity store");
    }
    if (strcmp(r->element[0]->str, "rules") != 0) {
        return ow_error(op, 409, OW_MSG_WRONG_COLL);
    }

    doc = json_loadb(r->element[1]->str, r->element[1]->len, 0, NULL);
    if (doc == NULL) {
        return ow_error(op, 500, "corrupt entity document");
    }

    status = ow_keep_str(op, "status");
    action = json_object_get(doc, "action");

    if (ow_ref_stored(op, json_object_get(doc, "trigger"), &trig) != 0
        || trig.pkg != NULL || strcmp(trig.ns, op->ns) != 0
        || !json_is_object(action))
    {
        /* no trigger of this namespace to hold the status: inactive */
        ow_fqn_free(&trig);
        json_decref(doc);
        if (strcmp(status, "inactive") == 0) {
            return ow_done_text(op, 200, "OK");
        }
        return ow_error(op, 404, OW_MSG_NO_TRIGGER);
    }

    snprintf(rev, sizeof(rev), "%lld", (long long) r->element[2]->integer);
    key = ow_key(OW_KEY_ENTITY, op->ns, op->path);
    tkey = ow_key(OW_KEY_ENTITY, op->ns, trig.name);
    trules = ow_key(OW_KEY_TRIGGER_RULES, op->ns, trig.name);
    ver = ow_key(OW_KEY_VERSION, op->ns, NULL);
    fqn = ow_rule_fqn(op);
    link = json_dumps(action, JSON_COMPACT);

    if (key == NULL || tkey == NULL || trules == NULL || ver == NULL
        || fqn == NULL || link == NULL)
    {
        rc = ow_error(op, 500, "out of memory");
        goto done;
    }

    argv[0] = key;
    argv[1] = tkey;
    argv[2] = trules;
    argv[3] = ver;
    argv[4] = rev;
    argv[5] = fqn;
    argv[6] = status;
    argv[7] = link;
    argv[8] = op->ns;
    argv[9] = trig.name;
    rc = ow_script(op, ow_rule_status_set, &ow_script_rule_status, 4, 10,
                   argv, NULL);

done:
    free(key);
    free(tkey);
    free(trules);
    free(ver);
    free(fqn);
    free(link);
    ow_fqn_free(&trig);
    json_decref(doc);
    return rc;
}

static int
ow_rule_post(ow_op_t *op)
{
    const char  *argv[1];
    json_t      *v;
    const char  *s, *end;
    char         status[300];
    char        *key;
    size_t       len;
    int          rc;

    /* the requested state is checked before the rule is read */
    if (ow_parse_body(op, 1) != 0) {
        return OW_STEP_DONE;
    }

    v = json_object_get(op->json, "status");
    if (v == NULL) {
        return ow_error(op, 400, OW_MSG_MALFORMED "key not found: status");
    }
    if (!json_is_string(v)) {
        return ow_error(op, 400, OW_MSG_MALFORMED "status malformed");
    }

    /* OpenWhisk trims the value before it compares */
    s = json_string_value(v);
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
        s++;
    }
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'
                       || end[-1] == '\n' || end[-1] == '\r'))
    {
        end--;
    }
    len = end - s;

    if (len == 0) {
        return ow_error(op, 400, OW_MSG_MALFORMED "requirement failed: "
                        "argument undefined");
    }
    if (len >= sizeof(status)) {
        len = sizeof(status) - 1;
    }
    memcpy(status, s, len);
    status[len] = '\0';

    if (strcmp(status, "active") != 0 && strcmp(status, "inactive") != 0) {
        return ow_error(op, 400, OW_MSG_MALFORMED "requirement failed: %s "
                        "is not a recognized rule state", status);
    }
    json_object_set_new(op->keep, "status", json_string(status));

    key = ow_key(OW_KEY_ENTITY, op->ns, op->path);
    if (key == NULL) {
        return ow_error(op, 500, "out of memory");
    }
    argv[0] = key;
    rc = ow_script(op, ow_rule_post_read, &ow_script_get, 1, 1, argv, NULL);
    free(key);
    return rc;
}

/* ---- DELETE ---- */

static int
ow_rule_deleted(ow_op_t *op, const redisReply *r)
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
    return ow_done(op, 200, ow_rule_with_status(doc, "inactive"));
}

static int
ow_rule_delete(ow_op_t *op)
{
    const char  *argv[8];
    char        *key, *index, *ver, *prefix, *fqn, *eprefix;
    int          rc;

    key = ow_key(OW_KEY_ENTITY, op->ns, op->path);
    index = ow_key(OW_KEY_INDEX, op->ns, "rules");
    ver = ow_key(OW_KEY_VERSION, op->ns, NULL);
    prefix = ow_key(OW_KEY_TRIGGER_RULES, op->ns, "");
    eprefix = ow_key(OW_KEY_ENTITY, op->ns, "");
    fqn = ow_rule_fqn(op);

    if (key == NULL || index == NULL || ver == NULL || prefix == NULL
        || eprefix == NULL || fqn == NULL)
    {
        rc = ow_error(op, 500, "out of memory");
        goto done;
    }

    argv[0] = key;
    argv[1] = index;
    argv[2] = ver;
    argv[3] = op->path;
    argv[4] = op->ns;
    argv[5] = prefix;
    argv[6] = fqn;
    argv[7] = eprefix;
    rc = ow_script(op, ow_rule_deleted, &ow_script_rule_del, 3, 8, argv,
                   NULL);

done:
    free(key);
    free(index);
    free(ver);
    free(prefix);
    free(eprefix);
    free(fqn);
    return rc;
}

/* ---- routing ---- */

static const ow_coll_t  ow_rules = {
    "rules",
    ow_rule_put,
    ow_rule_shape,
    ow_rule_summary,
    NULL,
    0,
    NULL
};

int
ow_api_rules(ow_op_t *op)
{
    if (op->path && strchr(op->path, '/')) {
        return ow_not_found(op);
    }

    if (op->path && (op->method == OW_GET || op->method == OW_POST
                     || op->method == OW_DELETE)
        && !ow_name_path_valid(op->path))
    {
        return ow_error(op, 400, OW_MSG_BAD_NAME);
    }

    switch (op->method) {

    case OW_GET:
        if (op->path == NULL) {
            return ow_entity_list(op, &ow_rules, OW_KEY_INDEX, "rules");
        }
        op->cd = &ow_rules;
        return ow_rule_get(op);

    case OW_PUT:
        if (op->path == NULL) {
            break;
        }
        return ow_entity_put(op, &ow_rules);

    case OW_DELETE:
        if (op->path == NULL) {
            break;
        }
        op->cd = &ow_rules;
        return ow_rule_delete(op);

    case OW_POST:
        if (op->path == NULL) {
            break;
        }
        op->cd = &ow_rules;
        return ow_rule_post(op);

    default:
        break;
    }

    return ow_error(op, 405, "HTTP method not allowed, supported methods: "
                    "GET, PUT, POST, DELETE");
}
