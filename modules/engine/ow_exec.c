/*
 * ow_exec.c: an action's exec, its annotations and inherited parameters
 * (openwhisk-api.md §3, §8). Messages follow OpenWhisk's Exec serdes.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ow_exec.h"
#include "ow_names.h"

#define OW_MALFORMED  "The request content was malformed:\n"

static int
ow_b64_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int
ow_exec_is_binary(const char *code, size_t len)
{
    size_t  i, pad;

    /* Java's String.trim(): everything <= ' ' at both ends */
    while (len > 0 && (unsigned char) code[0] <= ' ') {
        code++;
        len--;
    }
    while (len > 0 && (unsigned char) code[len - 1] <= ' ') {
        len--;
    }

    if (len == 0 || len % 4 != 0) {
        return 0;
    }

    pad = 0;
    if (code[len - 1] == '=') {
        pad = (code[len - 2] == '=') ? 2 : 1;
    }

    for (i = 0; i < len - pad; i++) {
        if (!ow_b64_char((unsigned char) code[i])) {
            return 0;
        }
    }
    return 1;
}

/* the trimmed, lower-cased kind of a PUT body */
static char *
ow_exec_norm_kind(const char *s)
{
    size_t  n, i;
    char   *k;

    while (*s && (unsigned char) *s <= ' ') {
        s++;
    }
    n = strlen(s);
    while (n > 0 && (unsigned char) s[n - 1] <= ' ') {
        n--;
    }
    k = malloc(n + 1);
    if (k == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        k[i] = (char) tolower((unsigned char) s[i]);
    }
    k[n] = '\0';
    return k;
}

char *
ow_exec_component(const char *s, const char *ns, const char **why)
{
    const char  *parts[4], *p, *e;
    size_t       lens[4], total;
    int          n, i;
    char        *out, *o;

    /* OpenWhisk drops empty segments: "/ns/a", "ns/a" and "/ns//a" agree */
    n = 0;
    p = s;
    while (*p) {
        while (*p == '/') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        e = p;
        while (*e && *e != '/') {
            e++;
        }
        if (n == 4) {
            *why = OW_MALFORMED "fully qualified name malformed";
            return NULL;
        }
        parts[n] = p;
        lens[n++] = e - p;
        p = e;
    }

    if (n < 2) {
        *why = OW_MALFORMED "requirement failed: fully qualified entity "
               "name must contain at least the namespace and the name of "
               "the entity";
        return NULL;
    }
    if (n > 3) {
        *why = OW_MALFORMED "fully qualified name malformed";
        return NULL;
    }

    if (lens[0] == 1 && parts[0][0] == '_') {
        parts[0] = ns;
        lens[0] = strlen(ns);
    }

    total = 1;
    for (i = 0; i < n; i++) {
        if (!ow_name_valid(parts[i], lens[i])) {
            *why = "The name of the entity contains illegal characters.";
            return NULL;
        }
        total += lens[i] + 1;
    }

    out = malloc(total);
    if (out == NULL) {
        *why = "out of memory";
        return NULL;
    }
    o = out;
    for (i = 0; i < n; i++) {
        *o++ = '/';
        memcpy(o, parts[i], lens[i]);
        o += lens[i];
    }
    *o = '\0';
    return out;
}

static json_t *
ow_exec_sequence(const json_t *given, const char *ns, int *status,
    char *err, size_t errlen)
{
    json_t      *comps, *out, *c;
    const char  *why;
    char        *fqn;
    size_t       i;

    comps = json_object_get(given, "components");
    if (comps == NULL) {
        snprintf(err, errlen, OW_MALFORMED "'components' must be defined "
                 "for sequence kind");
        return NULL;
    }
    if (!json_is_array(comps)) {
        snprintf(err, errlen, OW_MALFORMED "'components' must be an array");
        return NULL;
    }

    out = json_array();
    json_array_foreach(comps, i, c) {
        if (!json_is_string(c)) {
            snprintf(err, errlen, OW_MALFORMED "fully qualified name "
                     "malformed");
            json_decref(out);
            return NULL;
        }
        fqn = ow_exec_component(json_string_value(c), ns, &why);
        if (fqn == NULL) {
            snprintf(err, errlen, "%s", why);
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, json_string(fqn));
        free(fqn);
    }

    if (json_array_size(out) == 0) {
        snprintf(err, errlen, "No component specified for the sequence.");
        json_decref(out);
        return NULL;
    }

    (void) status;
    return json_pack("{s:s, s:o}", "kind", "sequence", "components", out);
}

/* "main", when given, must be a string */
static int
ow_exec_main(const json_t *given, json_t *out, const char *kind, char *err,
    size_t errlen, size_t *size)
{
    json_t  *m;

    m = json_object_get(given, "main");
    if (m == NULL) {
        return 0;
    }
    if (!json_is_string(m)) {
        snprintf(err, errlen, OW_MALFORMED "if defined, 'main' be a string "
                 "in 'exec' for '%s' actions", kind);
        return -1;
    }
    json_object_set(out, "main", m);
    *size += json_string_length(m);
    return 0;
}

static int
ow_exec_too_big(size_t size, int *status, char *err, size_t errlen)
{
    if (size > OW_EXEC_MAX) {
        *status = 413;
        snprintf(err, errlen, "exec larger than allowed: %zu > %d bytes.",
                 size, OW_EXEC_MAX);
        return 1;
    }
    return 0;
}

static json_t *
ow_exec_blackbox(const json_t *given, int *status, char *err, size_t errlen)
{
    json_t      *image, *code, *out;
    const char  *s;
    size_t       size, len;

    image = json_object_get(given, "image");
    if (!json_is_string(image) || json_string_length(image) == 0) {
        snprintf(err, errlen, OW_MALFORMED "'image' must be a string "
                 "defined in 'exec' for 'blackbox' actions");
        return NULL;
    }

    out = json_pack("{s:s, s:O, s:b}", "kind", "blackbox", "image", image,
                    "binary", 0);
    size = 0;

    code = json_object_get(given, "code");
    if (code && !json_is_string(code)) {
        snprintf(err, errlen, OW_MALFORMED "'code' must be a string or "
                 "attachment object defined in 'exec' for 'blackbox' "
                 "actions");
        json_decref(out);
        return NULL;
    }
    if (code) {
        /* blank code is no code (the image has it) */
        s = json_string_value(code);
        len = json_string_length(code);
        while (len > 0 && (unsigned char) *s <= ' ') {
            s++;
            len--;
        }
        if (len > 0) {
            json_object_set(out, "code", code);
            json_object_set_new(out, "binary", json_boolean(
                ow_exec_is_binary(json_string_value(code),
                                  json_string_length(code))));
            size += json_string_length(code);
        }
    }

    if (ow_exec_main(given, out, "blackbox", err, errlen, &size) != 0
        || ow_exec_too_big(size, status, err, errlen))
    {
        json_decref(out);
        return NULL;
    }
    return out;
}

static void
ow_exec_unknown(const char *kind, const json_t *kinds, char *err,
    size_t errlen)
{
    const char  *k;
    json_t      *v;
    size_t       n;
    int          first;

    n = snprintf(err, errlen, "The specified runtime '%s' is not supported "
                 "by this platform. Valid values are: ", kind);
    first = 1;
    json_object_foreach((json_t *) kinds, k, v) {
        if (n >= errlen) {
            break;
        }
        n += snprintf(err + n, errlen - n, "%s'%s'", first ? "" : ", ", k);
        first = 0;
    }
    if (n < errlen) {
        snprintf(err + n, errlen - n, ".");
    }
}

json_t *
ow_exec_parse(const json_t *given, const json_t *kinds,
    const json_t *family_default, const char *ns, int *status, char *err,
    size_t errlen)
{
    json_t      *k, *rt, *code, *out;
    const char  *concrete, *colon;
    char        *kind, family[128];
    size_t       size;

    *status = 400;

    if (!json_is_object(given)) {
        snprintf(err, errlen, OW_MALFORMED "JSON object expected");
        return NULL;
    }

    k = json_object_get(given, "kind");
    if (!json_is_string(k)) {
        snprintf(err, errlen, OW_MALFORMED "'kind' must be a string "
                 "defined in 'exec'");
        return NULL;
    }

    kind = ow_exec_norm_kind(json_string_value(k));
    if (kind == NULL) {
        *status = 500;
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    if (strcmp(kind, "sequence") == 0) {
        out = ow_exec_sequence(given, ns, status, err, errlen);
        free(kind);
        return out;
    }

    if (strcmp(kind, "blackbox") == 0) {
        out = ow_exec_blackbox(given, status, err, errlen);
        free(kind);
        return out;
    }

    /* "<family>:default" is stored as the family's concrete default kind */
    concrete = kind;
    colon = strchr(kind, ':');
    if (colon && strcmp(colon, ":default") == 0
        && (size_t) (colon - kind) < sizeof(family))
    {
        snprintf(family, sizeof(family), "%.*s", (int) (colon - kind), kind);
        concrete = json_string_value(json_object_get(family_default,
                                                     family));
        if (concrete == NULL) {
            concrete = kind;
        }
    }

    rt = json_object_get(kinds, concrete);
    if (rt == NULL) {
        ow_exec_unknown(kind, kinds, err, errlen);
        free(kind);
        return NULL;
    }

    if (json_is_true(json_object_get(rt, "deprecated"))) {
        snprintf(err, errlen, "The '%s' runtime is no longer supported. You "
                 "may read and delete but not update or invoke this action.",
                 concrete);
        free(kind);
        return NULL;
    }

    code = json_object_get(given, "code");
    if (!json_is_string(code)) {
        snprintf(err, errlen, OW_MALFORMED "'code' must be a string%s "
                 "defined in 'exec' for '%s' actions",
                 json_is_false(json_object_get(rt, "attached"))
                 ? "" : " or attachment object", kind);
        free(kind);
        return NULL;
    }

    out = json_pack("{s:s, s:O, s:b}", "kind", concrete, "code", code,
                    "binary", ow_exec_is_binary(json_string_value(code),
                                                json_string_length(code)));
    size = json_string_length(code);

    if (ow_exec_main(given, out, kind, err, errlen, &size) != 0) {
        goto bad;
    }
    if (json_object_get(out, "main") == NULL
        && json_is_true(json_object_get(rt, "requireMain")))
    {
        snprintf(err, errlen, OW_MALFORMED "'main' must be a string defined "
                 "in 'exec' for '%s' actions", kind);
        goto bad;
    }
    if (ow_exec_too_big(size, status, err, errlen)) {
        goto bad;
    }

    free(kind);
    return out;

bad:
    free(kind);
    json_decref(out);
    return NULL;
}

const char *
ow_exec_kind(const json_t *exec)
{
    return json_string_value(json_object_get(exec, "kind"));
}

int
ow_exec_is_sequence(const json_t *exec)
{
    const char  *k;

    k = ow_exec_kind(exec);
    return k != NULL && strcmp(k, "sequence") == 0;
}

json_t *
ow_exec_meta(const json_t *exec)
{
    json_t  *m;

    m = json_deep_copy(exec);
    if (m) {
        json_object_del(m, "code");
        json_object_del(m, "attachment");   /* ow_code.h */
    }
    return m;
}

static int
ow_kv_index(const json_t *arr, const char *key)
{
    size_t   i;
    json_t  *e;

    json_array_foreach(arr, i, e) {
        const char  *k = json_string_value(json_object_get(e, "key"));
        if (k && strcmp(k, key) == 0) {
            return (int) i;
        }
    }
    return -1;
}

json_t *
ow_exec_annotate(json_t *annotations, const char *kind, int create)
{
    int  i;

    if (!json_is_array(annotations)) {
        json_decref(annotations);
        annotations = json_array();
    }

    while ((i = ow_kv_index(annotations, "exec")) >= 0) {
        json_array_remove(annotations, i);
    }

    if (create && ow_kv_index(annotations, "provide-api-key") < 0) {
        json_array_append_new(annotations,
            json_pack("{s:s, s:b}", "key", "provide-api-key", "value", 0));
    }

    json_array_append_new(annotations,
        json_pack("{s:s, s:s}", "key", "exec", "value", kind ? kind : ""));
    return annotations;
}

json_t *
ow_params_inherit(const json_t *base, const json_t *over)
{
    json_t      *out, *e;
    const char  *k;
    size_t       i;
    int          at;

    out = json_is_array(base) ? json_deep_copy(base) : json_array();
    if (!json_is_array(over)) {
        return out;
    }

    json_array_foreach(over, i, e) {
        k = json_string_value(json_object_get(e, "key"));
        at = k ? ow_kv_index(out, k) : -1;
        if (at >= 0) {
            json_array_set(out, at, e);
        } else {
            json_array_append(out, e);
        }
    }
    return out;
}
