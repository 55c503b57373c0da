/*
 * ow_api_routes.c: the whisk.system/apimgmt web actions the CLI (`wsk api
 * create/list/get/delete`) and the npm client (`routes`) call:
 *   /api/v1/web/whisk.system/apimgmt/{createApi,getApi,deleteApi}[.http]
 * answered here from Redis instead of by actions talking to an API gateway.
 * The answers are those of OpenWhisk's apimgmt actions (the API GW "V2"
 * path the CLI takes, as it always sends an accesstoken): 200 with the
 * JSON body, or 502 {"error": message} (an action's application error).
 *
 * An API is stored per namespace under its basepath: its swagger document
 * and gwApiUrl (OW_KEY_APIS); its routes are flattened into OW_KEY_ROUTES
 * (ow_routes.h) in the same script, which the gateway serves from.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ow_op.h"
#include "ow_api_handlers.h"
#include "ow_names.h"
#include "ow_routes.h"
#include "ow_schema.h"

#define OW_JSON_DUMP  (JSON_COMPACT | JSON_REAL_PRECISION(15))

/*
 * KEYS: apis, routes, ver. ARGV: ns, basepath, route field prefix, the
 * record read before (compare-and-set; "" = none), the new record ("" =
 * delete the API), the routes as a JSON object {field: target}.
 */
static ow_script_t  ow_script_api_save = { "api_save",
    "local cur = redis.call('HGET', KEYS[1], ARGV[2]) or ''\n"
    "if cur ~= ARGV[4] then\n"
    "  return redis.error_reply('CONFLICT api changed') end\n"
    "local pre = ARGV[3]\n"
    "for _, f in ipairs(redis.call('HKEYS', KEYS[2])) do\n"
    "  if string.sub(f, 1, #pre) == pre then"
    " redis.call('HDEL', KEYS[2], f) end\n"
    "end\n"
    "local op = 'put'\n"
    "if ARGV[5] == '' then\n"
    "  redis.call('HDEL', KEYS[1], ARGV[2])\n"
    "  op = 'del'\n"
    "else\n"
    "  redis.call('HSET', KEYS[1], ARGV[2], ARGV[5])\n"
    "  for f, t in pairs(cjson.decode(ARGV[6])) do"
    " redis.call('HSET', KEYS[2], f, t) end\n"
    "end\n"
    "local v = redis.call('INCR', KEYS[3])\n"
    "redis.call('PUBLISH', '" OW_CHANNEL_EVENTS "', cjson.encode({v = v, ns = ARGV[1],"
    " coll = 'apis', path = ARGV[2], op = op}))\n"
    "redis.call('PUBLISH', '" OW_CHANNEL_ROUTES "', ARGV[1])\n"
    "return v\n",
    ""
};

static const char  *ow_api_verbs[] = {
    "get", "put", "post", "delete", "patch", "head", "options", NULL
};

/* an application error of the apimgmt action: 502 {"error": msg} */
static int
ow_apimgmt_error(ow_op_t *op, const char *msg)
{
    json_t  *o;
    char    *s;
    int      rc;

    /* exactly the action's body: no "code" (the glue adds it to ours) */
    o = json_pack("{s:s}", "error", msg);
    s = o ? json_dumps(o, OW_JSON_DUMP) : NULL;
    json_decref(o);
    if (s == NULL) {
        return ow_error(op, 500, "out of memory");
    }
    rc = ow_done_json_text(op, 502, s, strlen(s));
    free(s);
    return rc;
}

/* a web action's arguments: the body's fields over the query's */
static const char *
ow_apimgmt_param(ow_op_t *op, const char *name)
{
    const char  *v;

    v = json_string_value(json_object_get(op->json, name));
    return (v && *v) ? v : ow_query(op, name);
}

static int
ow_apimgmt_verb_valid(const char *verb)
{
    const char  **v;

    for (v = ow_api_verbs; *v; v++) {
        if (strcasecmp(verb, *v) == 0) {
            return 1;
        }
    }
    return 0;
}

static char *
ow_apimgmt_key(const char *fmt, const char *ns)
{
    return ow_key(fmt, ns, NULL);
}

/* "https://host:port/api/v1/web/..." -> "https://host:port" (copied) */
static char *
ow_apimgmt_origin(const char *url)
{
    const char  *p, *e;

    if (url == NULL) {
        return strdup("");
    }
    p = strstr(url, "://");
    if (p == NULL) {
        return strdup("");
    }
    e = strchr(p + 3, '/');
    return strndup(url, e ? (size_t) (e - url) : strlen(url));
}

/* "/ns/pkg/a", "pkg/a", "a" -> package and action (as OpenWhisk) */
static void
ow_apimgmt_split_name(const char *fq, char **pkg, char **name)
{
    const char  *p, *s[3];
    size_t       l[3];
    int          n;

    n = 0;
    p = (*fq == '/') ? fq + 1 : fq;
    while (n < 3) {
        s[n] = p;
        while (*p && *p != '/') {
            p++;
        }
        l[n] = p - s[n];
        n++;
        if (*p != '/') {
            break;
        }
        p++;
    }

    if (n == 3) {
        *pkg = strndup(s[1], l[1]);
        *name = strndup(s[2], l[2]);
    } else if (n == 2) {
        *pkg = strndup(s[0], l[0]);
        *name = strndup(s[1], l[1]);
    } else {
        *pkg = strdup("");
        *name = strndup(s[0], l[0]);
    }
}

/* replace "/api/v1/web/_/" in a backend URL by the caller's namespace */
static void
ow_apimgmt_fix_url(json_t *action, const char *ns)
{
    const char  *url, *p;
    char        *u;
    size_t       n;

    url = json_string_value(json_object_get(action, "backendUrl"));
    if (url == NULL || (p = strstr(url, "/api/v1/web/_/")) == NULL) {
        return;
    }
    n = strlen(url) + strlen(ns) + 1;
    u = malloc(n);
    if (u == NULL) {
        return;
    }
    snprintf(u, n, "%.*s/api/v1/web/%s/%s", (int) (p - url), url, ns,
             p + sizeof("/api/v1/web/_/") - 1);
    json_object_set_new(action, "backendUrl", json_string(u));
    free(u);
}

/* ---- createApi ---- */

static const char *
ow_apimgmt_validate(json_t *doc)
{
    json_t  *sw, *a;

    if (!json_is_string(json_object_get(doc, "namespace"))) {
        return "apidoc is missing the namespace field";
    }

    sw = json_object_get(doc, "swagger");
    if (sw && !json_is_null(sw)) {
        if (json_object_get(doc, "gatewayBasePath")) {
            return "swagger and gatewayBasePath are mutually exclusive and "
                   "cannot be specified together.";
        }
        if (!json_is_object(sw)) {
            return "swagger field cannot be parsed. Ensure it is valid "
                   "JSON.";
        }
        if (!json_is_string(json_object_get(sw, "basePath"))) {
            return "swagger is missing the basePath field.";
        }
        if (!json_is_object(json_object_get(sw, "paths"))) {
            return "swagger is missing the paths field.";
        }
        if (!json_is_object(json_object_get(sw, "info"))) {
            return "swagger is missing the info field.";
        }
        return NULL;
    }

    if (!json_is_string(json_object_get(doc, "gatewayBasePath"))) {
        return "apidoc is missing the gatewayBasePath field";
    }
    if (!json_is_string(json_object_get(doc, "gatewayPath"))) {
        return "apidoc is missing the gatewayPath field";
    }
    if (!json_is_string(json_object_get(doc, "gatewayMethod"))) {
        return "apidoc is missing the gatewayMethod field";
    }
    a = json_object_get(doc, "action");
    if (!json_is_object(a)) {
        return "apidoc is missing the action field.";
    }
    if (!json_is_string(json_object_get(a, "backendMethod"))) {
        return "action is missing the backendMethod field.";
    }
    if (!json_is_string(json_object_get(a, "backendUrl"))) {
        return "action is missing the backendUrl field.";
    }
    if (!json_is_string(json_object_get(a, "namespace"))) {
        return "action is missing the namespace field.";
    }
    if (!json_is_string(json_object_get(a, "name"))) {
        return "action is missing the name field.";
    }
    if (!json_is_string(json_object_get(a, "authkey"))) {
        return "action is missing the authkey field.";
    }
    return NULL;
}

/* add doc's endpoint to swagger (OpenWhisk's addEndpointToSwaggerApi) */
static const char *
ow_apimgmt_add_endpoint(json_t *swagger, json_t *doc, const char *ns,
    const char *type)
{
    json_t      *a, *paths, *path, *o, *params;
    const char  *rel, *verb, *ans, *aname;
    char        *pkg, *name, *opid, *origin, *url, *lverb, *c;
    size_t       n;

    rel = json_string_value(json_object_get(doc, "gatewayPath"));
    verb = json_string_value(json_object_get(doc, "gatewayMethod"));
    a = json_object_get(doc, "action");
    ans = json_string_value(json_object_get(a, "namespace"));
    aname = json_string_value(json_object_get(a, "name"));

    if (rel[0] != '/' || strchr(rel, ' ')) {
        return "API creation failure: the relative path must begin with "
               "'/' and contain no spaces.";
    }
    if (!ow_apimgmt_verb_valid(verb)) {
        return "API creation failure: invalid gatewayMethod.";
    }
    if (strcmp(ans, "_") == 0) {
        ans = ns;
    }

    ow_apimgmt_split_name(aname, &pkg, &name);
    lverb = strdup(verb);
    opid = ow_route_operation_id(verb, rel);
    origin = ow_apimgmt_origin(json_string_value(
                 json_object_get(a, "backendUrl")));
    n = (origin ? strlen(origin) : 0) + strlen(ans) + strlen(name)
        + strlen(pkg) + strlen(type) + 32;
    url = malloc(n);
    if (pkg == NULL || name == NULL || lverb == NULL || opid == NULL
        || origin == NULL || url == NULL)
    {
        free(pkg); free(name); free(lverb); free(opid); free(origin);
        free(url);
        return "API creation failure: out of memory";
    }
    for (c = lverb; *c; c++) {
        *c = (char) tolower((unsigned char) *c);
    }
    snprintf(url, n, "%s/api/v1/web/%s/%s/%s.%s", origin, ans,
             *pkg ? pkg : "default", name, type);

    paths = json_object_get(swagger, "paths");
    path = json_object_get(paths, rel);
    if (!json_is_object(path)) {
        path = json_object();
        json_object_set_new(paths, rel, path);
    }

    o = json_pack("{s:s,s:{s:s,s:s,s:s,s:s},s:{s:{s:s}}}",
                  "operationId", opid,
                  "x-openwhisk", "url", url, "namespace", ans,
                  "package", pkg, "action", name,
                  "responses", "default", "description",
                  "Default response");
    params = json_object_get(doc, "pathParameters");
    if (o && json_is_array(params) && json_array_size(params) > 0) {
        json_object_set(o, "parameters", params);
    }
    if (o) {
        json_object_set_new(path, lverb, o);
    }

    free(pkg); free(name); free(lverb); free(opid); free(origin); free(url);
    return o ? NULL : "API creation failure: out of memory";
}

/*
 * Flatten a swagger document into route fields (ow_routes.h). Operations
 * without "x-openwhisk" have no action and are not served.
 */
static const char *
ow_apimgmt_routes(json_t *swagger, const char *ns, json_t *routes)
{
    json_t      *path, *o, *x;
    const char  *rel, *verb, *ans, *pkg, *name, *url, *dot;
    const char  *base;
    char         field[2048], target[1024], ext[8], uverb[8];
    size_t       blen, i;

    base = json_string_value(json_object_get(swagger, "basePath"));
    blen = ow_route_base_len(base);

    json_object_foreach(json_object_get(swagger, "paths"), rel, path) {
        json_object_foreach(path, verb, o) {
            x = json_object_get(o, "x-openwhisk");
            if (!json_is_object(x) || !ow_apimgmt_verb_valid(verb)) {
                continue;
            }
            ans = json_string_value(json_object_get(x, "namespace"));
            pkg = json_string_value(json_object_get(x, "package"));
            name = json_string_value(json_object_get(x, "action"));
            url = json_string_value(json_object_get(x, "url"));
            if (ans == NULL || name == NULL || url == NULL
                || *rel != '/' || strchr(rel, ' '))
            {
                return "API creation failure: an operation has no valid "
                       "x-openwhisk namespace, action and url.";
            }
            if (strcmp(ans, "_") == 0) {
                ans = ns;
            }
            dot = strrchr(url, '.');
            if (dot == NULL || strlen(dot + 1) >= sizeof(ext)) {
                return "API creation failure: the x-openwhisk url has no "
                       "valid response type extension.";
            }
            strcpy(ext, dot + 1);
            /* "$(request.path)" may follow ".http" in API GW targets */
            ext[strcspn(ext, "$")] = '\0';
            if (!ow_route_ext_valid(ext)) {
                return "API creation failure: the response type must be "
                       "one of json, http, html, svg, text.";
            }
            if (!ow_namespace_valid(ans, strlen(ans))
                || !ow_name_valid(name, strlen(name))
                || (pkg && *pkg && !ow_name_valid(pkg, strlen(pkg))))
            {
                return "API creation failure: invalid action name.";
            }
            for (i = 0; verb[i] && i < sizeof(uverb) - 1; i++) {
                uverb[i] = (char) toupper((unsigned char) verb[i]);
            }
            uverb[i] = '\0';
            if ((size_t) snprintf(field, sizeof(field), "%.*s %s %s",
                                  (int) blen, base, uverb, rel)
                >= sizeof(field)
                || (size_t) snprintf(target, sizeof(target), "%s/%s/%s.%s",
                                     ans, (pkg && *pkg) ? pkg : "default",
                                     name, ext)
                   >= sizeof(target))
            {
                return "API creation failure: the path is too long.";
            }
            json_object_set_new(routes, field, json_string(target));
        }
    }

    return NULL;
}

/* a swagger file's first x-openwhisk url: where its actions are served */
static const char *
ow_apimgmt_any_url(json_t *swagger)
{
    json_t      *path, *o;
    const char  *rel, *verb, *url;

    json_object_foreach(json_object_get(swagger, "paths"), rel, path) {
        json_object_foreach(path, verb, o) {
            url = json_string_value(json_object_get(
                      json_object_get(o, "x-openwhisk"), "url"));
            if (url) {
                return url;
            }
        }
    }
    return NULL;
}

static int
ow_apimgmt_save(ow_op_t *op, ow_step_pt next, const char *base,
    const char *old, json_t *record, json_t *routes)
{
    const char  *argv[9];
    char        *k_apis, *k_routes, *k_ver, *rec, *rts, *prefix;
    size_t       blen;
    int          rc;

    k_apis = ow_apimgmt_key(OW_KEY_APIS, op->ns);
    k_routes = ow_apimgmt_key(OW_KEY_ROUTES, op->ns);
    k_ver = ow_apimgmt_key(OW_KEY_VERSION, op->ns);
    rec = record ? json_dumps(record, OW_JSON_DUMP) : strdup("");
    rts = routes ? json_dumps(routes, OW_JSON_DUMP) : strdup("{}");
    blen = ow_route_base_len(base);
    prefix = malloc(blen + 2);

    if (k_apis == NULL || k_routes == NULL || k_ver == NULL || rec == NULL
        || rts == NULL || prefix == NULL)
    {
        rc = ow_error(op, 500, "out of memory");
        goto done;
    }
    memcpy(prefix, base, blen);
    prefix[blen] = ' ';
    prefix[blen + 1] = '\0';

    argv[0] = k_apis;
    argv[1] = k_routes;
    argv[2] = k_ver;
    argv[3] = op->ns;
    argv[4] = base;
    argv[5] = prefix;
    argv[6] = old;
    argv[7] = rec;
    argv[8] = rts;
    rc = ow_script(op, next, &ow_script_api_save, 3, 9, argv, NULL);

done:
    free(k_apis); free(k_routes); free(k_ver); free(rec); free(rts);
    free(prefix);
    return rc;
}

static json_t *
ow_apimgmt_cli_api(ow_op_t *op, json_t *record)
{
    return json_pack("{s:s,s:O,s:b,s:s,s:O}",
                     "namespace", op->ns,
                     "gwApiUrl", json_object_get(record, "gwApiUrl"),
                     "gwApiActivated", 1,
                     "tenantId", op->ns,
                     "apidoc", json_object_get(record, "apidoc"));
}

static int
ow_apimgmt_created(ow_op_t *op, const redisReply *r)
{
    json_t  *out;

    if (ow_reply_is(r, "CONFLICT")) {
        return ow_error(op, 409, OW_MSG_CONFLICT);
    }
    if (r->type == REDIS_REPLY_ERROR) {
        return ow_error(op, 500, "%s", r->str);
    }

    out = ow_apimgmt_cli_api(op, json_object_get(op->keep, "record"));
    return out ? ow_done(op, 200, out) : ow_error(op, 500, "out of memory");
}

static int
ow_apimgmt_create_have(ow_op_t *op, const redisReply *r)
{
    json_t      *doc, *old, *swagger, *routes, *record;
    const char  *base, *type, *err, *name, *oldtxt;
    char        *origin, *url;
    size_t       n;
    int          rc;

    if (r->type == REDIS_REPLY_ERROR) {
        return ow_error(op, 500, "%s", r->str);
    }

    doc = json_object_get(op->keep, "doc");
    base = json_string_value(json_object_get(op->keep, "base"));
    oldtxt = (r->type == REDIS_REPLY_STRING) ? r->str : "";
    old = (r->type == REDIS_REPLY_STRING)
          ? json_loadb(r->str, r->len, 0, NULL) : NULL;

    type = ow_apimgmt_param(op, "responsetype");
    if (type == NULL || *type == '\0') {
        type = "json";
    }

    if (json_is_object(json_object_get(doc, "swagger"))) {
        /* a swagger file replaces the whole API */
        swagger = json_deep_copy(json_object_get(doc, "swagger"));
        url = NULL;
    } else {
        if (!ow_route_ext_valid(type)) {
            json_decref(old);
            return ow_apimgmt_error(op, "API creation failure: the response "
                                    "type must be one of json, http, html, "
                                    "svg, text.");
        }
        swagger = json_deep_copy(json_object_get(old, "apidoc"));
        if (!json_is_object(swagger)
            || !json_is_object(json_object_get(swagger, "paths")))
        {
            json_decref(swagger);
            name = json_string_value(json_object_get(doc, "apiName"));
            swagger = json_pack("{s:s,s:{s:s,s:s},s:s,s:{}}",
                                "swagger", "2.0",
                                "info", "title",
                                (name && *name) ? name : base,
                                "version", "1.0.0",
                                "basePath", base,
                                "paths");
        }
        err = swagger ? ow_apimgmt_add_endpoint(swagger, doc, op->ns, type)
                      : "API creation failure: out of memory";
        if (err) {
            json_decref(swagger);
            json_decref(old);
            return ow_apimgmt_error(op, err);
        }
        url = (char *) json_string_value(json_object_get(
                  json_object_get(doc, "action"), "backendUrl"));
    }

    routes = json_object();
    err = ow_apimgmt_routes(swagger, op->ns, routes);
    if (err) {
        json_decref(routes);
        json_decref(swagger);
        json_decref(old);
        return ow_apimgmt_error(op, err);
    }

    /* the routes are served by this gateway at /api/{ns}{basepath} */
    if (url == NULL) {
        url = (char *) json_string_value(json_object_get(old, "gwApiUrl"));
        origin = ow_apimgmt_origin(url ? url
                                       : ow_apimgmt_any_url(swagger));
    } else {
        origin = ow_apimgmt_origin(url);
    }
    n = (origin ? strlen(origin) : 0) + strlen(op->ns) + strlen(base) + 8;
    url = malloc(n);
    if (origin == NULL || url == NULL) {
        free(origin);
        free(url);
        json_decref(routes);
        json_decref(swagger);
        json_decref(old);
        return ow_error(op, 500, "out of memory");
    }
    snprintf(url, n, "%s/api/%s%.*s", origin, op->ns,
             (int) ow_route_base_len(base), base);

    record = json_pack("{s:o,s:s}", "apidoc", swagger, "gwApiUrl", url);
    free(origin);
    free(url);
    json_decref(old);
    if (record == NULL) {
        json_decref(routes);
        return ow_error(op, 500, "out of memory");
    }
    json_object_set_new(op->keep, "record", record);

    rc = ow_apimgmt_save(op, ow_apimgmt_created, base, oldtxt, record,
                         routes);
    json_decref(routes);
    return rc;
}

static int
ow_apimgmt_create(ow_op_t *op)
{
    json_t      *doc, *sw, *a;
    const char  *err, *base;
    char        *key;
    int          rc;

    if (ow_parse_body(op, 0) != 0) {
        return OW_STEP_DONE;
    }

    doc = json_object_get(op->json, "apidoc");
    if (json_is_string(doc)) {
        doc = json_loads(json_string_value(doc), 0, NULL);
        if (!json_is_object(doc)) {
            json_decref(doc);
            return ow_apimgmt_error(op, "apidoc field cannot be parsed. "
                                    "Ensure it is valid JSON.");
        }
    } else if (json_is_object(doc)) {
        doc = json_deep_copy(doc);
    } else if (doc == NULL || json_is_null(doc)) {
        return ow_apimgmt_error(op, "apidoc is required.");
    } else {
        return ow_apimgmt_error(op, "apidoc field is of type object and "
                                "should be a JSON object or a JSON string.");
    }
    json_object_set_new(op->keep, "doc", doc);

    sw = json_object_get(doc, "swagger");
    if (json_is_string(sw)) {
        sw = json_loads(json_string_value(sw), 0, NULL);
        if (sw == NULL) {
            return ow_apimgmt_error(op, "swagger field cannot be parsed. "
                                    "Ensure it is valid JSON.");
        }
        json_object_set_new(doc, "swagger", sw);
    }

    err = ow_apimgmt_validate(doc);
    if (err) {
        return ow_apimgmt_error(op, err);
    }

    /* the caller's key decides the namespace (OpenWhisk: __ow_user) */
    json_object_set_new(doc, "namespace", json_string(op->ns));
    a = json_object_get(doc, "action");
    if (json_is_object(a)
        && strcmp(json_string_value(json_object_get(a, "namespace")), "_")
           == 0)
    {
        json_object_set_new(a, "namespace", json_string(op->ns));
        ow_apimgmt_fix_url(a, op->ns);
    }

    base = json_is_object(sw)
           ? json_string_value(json_object_get(sw, "basePath"))
           : json_string_value(json_object_get(doc, "gatewayBasePath"));
    if (base[0] != '/' || strchr(base, ' ')) {
        return ow_apimgmt_error(op, "API creation failure: the base path "
                                "must begin with '/' and contain no "
                                "spaces.");
    }
    json_object_set_new(op->keep, "base", json_string(base));

    key = ow_apimgmt_key(OW_KEY_APIS, op->ns);
    rc = ow_redisf(op, ow_apimgmt_create_have, "HGET %s %s", key, base);
    free(key);
    return rc;
}

/* ---- getApi ---- */

static int
ow_apimgmt_matches(json_t *record, const char *base, const char *want)
{
    const char  *title;

    if (want == NULL || *want == '\0') {
        return 1;
    }
    if (want[0] == '/') {
        return strcmp(base, want) == 0;
    }
    /* not a path: an API name */
    title = json_string_value(json_object_get(
                json_object_get(json_object_get(record, "apidoc"), "info"),
                "title"));
    return title && strcmp(title, want) == 0;
}

typedef struct {
    const redisReply  *k;
    const redisReply  *v;
} ow_apimgmt_kv_t;

static int
ow_apimgmt_cmp(const void *a, const void *b)
{
    const ow_apimgmt_kv_t  *x = a, *y = b;

    return strcmp(x->k->str, y->k->str);
}

/*
 * The namespace's APIs matching "basepath" (a path or an API name), in
 * basepath order. Returns a new array of [basepath, record] pairs.
 */
static json_t *
ow_apimgmt_find(const redisReply *r, const char *want)
{
    ow_apimgmt_kv_t  *kv;
    json_t           *out, *rec;
    size_t            i, n;

    out = json_array();
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        return out;
    }

    n = r->elements / 2;
    kv = malloc(n * sizeof(ow_apimgmt_kv_t));
    if (kv == NULL) {
        return out;
    }
    for (i = 0; i < n; i++) {
        kv[i].k = r->element[2 * i];
        kv[i].v = r->element[2 * i + 1];
    }
    qsort(kv, n, sizeof(ow_apimgmt_kv_t), ow_apimgmt_cmp);

    for (i = 0; i < n; i++) {
        rec = json_loadb(kv[i].v->str, kv[i].v->len, 0, NULL);
        if (json_is_object(rec)
            && ow_apimgmt_matches(rec, kv[i].k->str, want))
        {
            json_array_append_new(out, json_pack("[s,o]", kv[i].k->str,
                                                 rec));
        } else {
            json_decref(rec);
        }
    }

    free(kv);
    return out;
}

static int
ow_apimgmt_got(ow_op_t *op, const redisReply *r)
{
    json_t      *found, *apis, *pair, *item;
    const char  *base;
    char         id[1024];
    long         limit, skip;
    int          count;
    size_t       i;

    if (r->type == REDIS_REPLY_ERROR) {
        return ow_error(op, 500, "%s", r->str);
    }

    if (ow_list_params(op, "apis", &limit, &skip, &count) != 0) {
        return OW_STEP_DONE;
    }

    found = ow_apimgmt_find(r, ow_apimgmt_param(op, "basepath"));
    apis = json_array();

    json_array_foreach(found, i, pair) {
        if ((long) i < skip) {
            continue;
        }
        if ((long) json_array_size(apis) >= limit) {
            break;
        }
        base = json_string_value(json_array_get(pair, 0));
        snprintf(id, sizeof(id), "API:%s:%s", op->ns, base);
        item = json_pack("{s:s,s:s,s:o}", "id", id, "key", id, "value",
                         ow_apimgmt_cli_api(op, json_array_get(pair, 1)));
        if (item) {
            json_array_append_new(apis, item);
        }
    }

    json_decref(found);
    return ow_done(op, 200, json_pack("{s:o}", "apis", apis));
}

/* ---- deleteApi ---- */

static int
ow_apimgmt_deleted(ow_op_t *op, const redisReply *r)
{
    if (ow_reply_is(r, "CONFLICT")) {
        return ow_error(op, 409, OW_MSG_CONFLICT);
    }
    if (r->type == REDIS_REPLY_ERROR) {
        return ow_error(op, 500, "%s", r->str);
    }
    return ow_done(op, 200, json_object());
}

static int
ow_apimgmt_delete_have(ow_op_t *op, const redisReply *r)
{
    json_t      *found, *rec, *swagger, *paths, *path, *routes;
    const char  *want, *base, *rel, *verb, *oldtxt;
    char         msg[1024], lverb[16];
    size_t       i, j;
    int          rc;

    if (r->type == REDIS_REPLY_ERROR) {
        return ow_error(op, 500, "%s", r->str);
    }

    want = ow_apimgmt_param(op, "basepath");
    rel = ow_apimgmt_param(op, "relpath");
    verb = ow_apimgmt_param(op, "operation");

    found = ow_apimgmt_find(r, want);
    if (json_array_size(found) == 0) {
        json_decref(found);
        snprintf(msg, sizeof(msg), "API deletion failure: API '%s' does "
                 "not exist.", want);
        return ow_apimgmt_error(op, msg);
    }

    base = json_string_value(json_array_get(json_array_get(found, 0), 0));
    rec = json_array_get(json_array_get(found, 0), 1);

    /* the record as stored, for the compare-and-set */
    oldtxt = NULL;
    for (j = 0; j + 1 < r->elements; j += 2) {
        if (strcmp(r->element[j]->str, base) == 0) {
            oldtxt = r->element[j + 1]->str;
        }
    }

    if (rel == NULL || *rel == '\0') {
        rc = ow_apimgmt_save(op, ow_apimgmt_deleted, base, oldtxt, NULL,
                             NULL);
        json_decref(found);
        return rc;
    }

    swagger = json_object_get(rec, "apidoc");
    paths = json_object_get(swagger, "paths");
    path = json_object_get(paths, rel);

    if (verb == NULL || *verb == '\0') {
        if (path == NULL) {
            snprintf(msg, sizeof(msg), "API deletion failure: path '%s' "
                     "does not exist in the API", rel);
            json_decref(found);
            return ow_apimgmt_error(op, msg);
        }
        json_object_del(paths, rel);
    } else {
        for (i = 0; verb[i] && i < sizeof(lverb) - 1; i++) {
            lverb[i] = (char) tolower((unsigned char) verb[i]);
        }
        lverb[i] = '\0';
        if (path == NULL || json_object_get(path, lverb) == NULL) {
            snprintf(msg, sizeof(msg), "API deletion failure: path '%s' "
                     "with operation '%s' does not exist in the API", rel,
                     lverb);
            json_decref(found);
            return ow_apimgmt_error(op, msg);
        }
        json_object_del(path, lverb);
        if (json_object_size(path) == 0) {
            json_object_del(paths, rel);
        }
    }

    if (json_object_size(paths) == 0) {
        /* no path left: the whole API goes (as OpenWhisk) */
        rc = ow_apimgmt_save(op, ow_apimgmt_deleted, base, oldtxt, NULL,
                             NULL);
        json_decref(found);
        return rc;
    }

    routes = json_object();
    if (ow_apimgmt_routes(swagger, op->ns, routes) != NULL) {
        /* stored routes were valid when saved; keep what still parses */
        json_object_clear(routes);
    }
    rc = ow_apimgmt_save(op, ow_apimgmt_deleted, base, oldtxt, rec, routes);
    json_decref(routes);
    json_decref(found);
    return rc;
}

static int
ow_apimgmt_delete(ow_op_t *op)
{
    const char  *base, *rel, *verb;
    char        *key;
    int          rc;

    if (ow_parse_body(op, 0) != 0) {
        return OW_STEP_DONE;
    }

    base = ow_apimgmt_param(op, "basepath");
    rel = ow_apimgmt_param(op, "relpath");
    verb = ow_apimgmt_param(op, "operation");

    if (base == NULL || *base == '\0') {
        return ow_apimgmt_error(op, "basepath is required.");
    }
    if ((rel == NULL || *rel == '\0') && verb && *verb) {
        return ow_apimgmt_error(op, "When specifying an operation, the path "
                                "is required.");
    }

    key = ow_apimgmt_key(OW_KEY_APIS, op->ns);
    rc = ow_redisf(op, ow_apimgmt_delete_have, "HGETALL %s", key);
    free(key);
    return rc;
}

static int
ow_apimgmt_get(ow_op_t *op)
{
    char  *key;
    int    rc;

    if (ow_parse_body(op, 0) != 0) {
        return OW_STEP_DONE;
    }

    key = ow_apimgmt_key(OW_KEY_APIS, op->ns);
    rc = ow_redisf(op, ow_apimgmt_got, "HGETALL %s", key);
    free(key);
    return rc;
}

int
ow_api_routes(ow_op_t *op, const char *action)
{
    size_t  n;

    /* no extension is ".http"; ".json" is what older CLIs asked for */
    n = strcspn(action, ".");
    if (action[n] != '\0' && strcmp(action + n, ".http") != 0
        && strcmp(action + n, ".json") != 0)
    {
        return ow_not_found(op);
    }

    op->ns = strdup(op->auth_ns);
    if (op->ns == NULL) {
        return ow_error(op, 500, "out of memory");
    }

    if (n == 9 && strncmp(action, "createApi", 9) == 0) {
        return ow_apimgmt_create(op);
    }
    if (n == 6 && strncmp(action, "getApi", 6) == 0) {
        return ow_apimgmt_get(op);
    }
    if (n == 9 && strncmp(action, "deleteApi", 9) == 0) {
        return ow_apimgmt_delete(op);
    }
    return ow_not_found(op);
}
