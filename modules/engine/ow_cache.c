/*
 * ow_cache.c: see ow_cache.h.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ow_cache.h"

static int
ow_cache_age(json_t *v, int64_t *out, int required)
{
    json_int_t  n;

    if (v == NULL) {
        *out = 0;
        return required ? -1 : 0;
    }
    if (!json_is_integer(v)) {
        return -1;
    }
    n = json_integer_value(v);
    if (n < (required ? 1 : 0)) {
        return -1;
    }
    *out = n > OW_CACHE_AGE_MAX ? OW_CACHE_AGE_MAX : n;
    return 0;
}

static int
ow_cache_name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int
ow_cache_field_parse(json_t *field, ow_cache_policy_t *p, char *spec)
{
    json_t      *key, *v;
    const char  *names[OW_CACHE_KEY_NAMES_MAX];
    size_t       i, n, len, off;

    memset(p, 0, sizeof(*p));
    p->max_age = -1;
    spec[0] = '\0';

    if (!json_is_object(field)
        || ow_cache_age(json_object_get(field, "maxAge"), &p->max_age, 1)
        || ow_cache_age(json_object_get(field, "staleWhileRevalidate"),
                        &p->stale_while_revalidate, 0)
        || ow_cache_age(json_object_get(field, "staleIfError"),
                        &p->stale_if_error, 0))
    {
        p->max_age = -1;
        return -1;
    }

    key = json_object_get(field, "key");
    if (key == NULL) {
        return 0;
    }

    n = json_array_size(key);
    if (!json_is_array(key) || n == 0 || n > OW_CACHE_KEY_NAMES_MAX) {
        p->max_age = -1;
        return -1;
    }

    for (i = 0; i < n; i++) {
        v = json_array_get(key, i);
        names[i] = json_string_value(v);
        len = names[i] ? strlen(names[i]) : 0;
        if (len == 0 || len > OW_CACHE_NAME_MAX
            || len != json_string_length(v) || strchr(names[i], '\n'))
        {
            p->max_age = -1;
            return -1;
        }
    }

    /* the key does not depend on the order the action listed them in */
    qsort(names, n, sizeof(names[0]), ow_cache_name_cmp);

    off = 0;
    for (i = 0; i < n; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0) {
            continue;
        }
        len = strlen(names[i]);
        if (off) {
            spec[off++] = '\n';
        }
        memcpy(spec + off, names[i], len);
        off += len;
    }
    spec[off] = '\0';
    return 0;
}

json_t *
ow_cache_field_take(json_t *answer, int result_only)
{
    json_t  *result, *field;

    result = result_only
             ? answer
             : json_object_get(json_object_get(answer, "response"), "result");
    field = json_object_get(result, OW_CACHE_FIELD);
    if (field == NULL) {
        return NULL;
    }
    json_incref(field);
    json_object_del(result, OW_CACHE_FIELD);
    return field;
}

/* "name" or "name=value" (value possibly quoted) at s; returns past it */
static const char *
ow_cache_directive(const char *s, const char *end, const char **name,
    size_t *name_len, int64_t *value)
{
    const char  *q;
    int64_t      n;

    while (s < end && (*s == ' ' || *s == '\t' || *s == ',')) {
        s++;
    }
    *name = s;
    while (s < end && *s != '=' && *s != ',' && *s != ' ' && *s != '\t') {
        s++;
    }
    *name_len = s - *name;
    *value = -1;

    if (s < end && *s == '=') {
        s++;
        q = s;
        if (s < end && *s == '"') {
            s++;
            q = s;
        }
        n = 0;
        while (s < end && isdigit((unsigned char) *s)) {
            if (n < 10 * (int64_t) OW_CACHE_AGE_MAX) {
                n = n * 10 + (*s - '0');
            }
            s++;
        }
        if (s > q) {
            *value = n > OW_CACHE_AGE_MAX ? OW_CACHE_AGE_MAX : n;
        }
        /* the rest of a value we do not read */
        while (s < end && *s != ',') {
            s++;
        }
    }
    return s;
}

#define ow_cache_is(name, len, lit)                                           \
    ((len) == sizeof(lit) - 1 && strncasecmp(name, lit, len) == 0)

void
ow_cache_control_parse(const char *s, size_t len, ow_cache_policy_t *p)
{
    const char  *end = s + len, *name;
    size_t       n;
    int64_t      v;

    while (s < end) {
        s = ow_cache_directive(s, end, &name, &n, &v);
        if (n == 0) {
            continue;
        }
        if (ow_cache_is(name, n, "s-maxage") && v >= 0) {
            p->max_age = v;
            p->s_maxage = 1;
        } else if (ow_cache_is(name, n, "max-age") && v >= 0) {
            if (!p->s_maxage) {
                p->max_age = v;
            }
        } else if (ow_cache_is(name, n, "private")) {
            p->is_private = 1;
        } else if (ow_cache_is(name, n, "public")) {
            p->is_public = 1;
        } else if (ow_cache_is(name, n, "no-store")
                   || ow_cache_is(name, n, "no-cache"))
        {
            p->no_store = 1;
        } else if (ow_cache_is(name, n, "stale-while-revalidate") && v >= 0) {
            p->stale_while_revalidate = v;
        } else if (ow_cache_is(name, n, "stale-if-error") && v >= 0) {
            p->stale_if_error = v;
        }
    }
}

char *
ow_cache_input(json_t *params, const char *spec, size_t *len)
{
    const char  *name, *nl;
    char         one[OW_CACHE_NAME_MAX + 1];
    char        *out, *v, *grown;
    json_t      *value;
    size_t       n, cap, used, vlen;

    if (!json_is_object(params)) {
        return NULL;
    }

    if (spec[0] == '\0') {
        out = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
        if (out) {
            *len = strlen(out);
        }
        return out;
    }

    cap = 256;
    used = 0;
    out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }

    for (name = spec; *name; name = nl ? nl + 1 : name + n) {
        nl = strchr(name, '\n');
        n = nl ? (size_t) (nl - name) : strlen(name);
        if (n > OW_CACHE_NAME_MAX) {
            free(out);
            return NULL;
        }
        memcpy(one, name, n);
        one[n] = '\0';

        value = json_object_get(params, one);
        /* "\x01" for an absent parameter: not the same input as null */
        v = value ? json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS
                                      | JSON_ENCODE_ANY)
                  : strdup("\x01");
        if (v == NULL) {
            free(out);
            return NULL;
        }
        vlen = strlen(v);

        /* length-prefixed: no value can pass for two */
        while (used + vlen + 24 > cap) {
            cap *= 2;
            grown = realloc(out, cap);
            if (grown == NULL) {
                free(v);
                free(out);
                return NULL;
            }
            out = grown;
        }
        used += snprintf(out + used, cap - used, "%zu:", vlen);
        memcpy(out + used, v, vlen);
        used += vlen;
        free(v);

        if (nl == NULL) {
            break;
        }
    }

    out[used] = '\0';
    *len = used;
    return out;
}

typedef struct {
    const char  *p;
    size_t       len;
} ow_cache_arg_t;

static int
ow_cache_arg_cmp(const void *a, const void *b)
{
    const ow_cache_arg_t  *x = a, *y = b;
    size_t                 n = x->len < y->len ? x->len : y->len;
    int                    rc = memcmp(x->p, y->p, n);

    return rc ? rc : (x->len > y->len) - (x->len < y->len);
}

size_t
ow_cache_sort_args(const char *args, size_t len, char *out)
{
    ow_cache_arg_t   stack_args[64], *a;
    const char      *p, *end = args + len, *amp;
    size_t           n, i, off;

    n = 1;
    for (p = args; p < end; p++) {
        n += (*p == '&');
    }
    if (len == 0 || n > sizeof(stack_args) / sizeof(stack_args[0])) {
        /* many arguments: kept in the client's order (another key) */
        memcpy(out, args, len);
        return len;
    }

    a = stack_args;
    n = 0;
    for (p = args; p <= end; p = amp + 1) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }
        a[n].p = p;
        a[n].len = amp - p;
        n++;
        if (amp == end) {
            break;
        }
    }

    qsort(a, n, sizeof(a[0]), ow_cache_arg_cmp);

    off = 0;
    for (i = 0; i < n; i++) {
        if (i) {
            out[off++] = '&';
        }
        memcpy(out + off, a[i].p, a[i].len);
        off += a[i].len;
    }
    return off;
}

/* ---- a JSON text's members, by byte offsets ---- */

static size_t
ow_cache_ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n'
                       || s[i] == '\r'))
    {
        i++;
    }
    return i;
}

/* past the value at i, or (size_t) -1 */
static size_t
ow_cache_skip(const char *s, size_t len, size_t i)
{
    size_t  depth = 0;

    if (i >= len) {
        return (size_t) -1;
    }

    do {
        if (i >= len) {
            return (size_t) -1;
        }
        switch (s[i]) {
        case '"':
            for (i++; i < len && s[i] != '"'; i++) {
                if (s[i] == '\\') {
                    i++;
                }
            }
            if (i >= len) {
                return (size_t) -1;
            }
            i++;
            break;
        case '{':
        case '[':
            depth++;
            i++;
            break;
        case '}':
        case ']':
            if (depth == 0) {
                return (size_t) -1;
            }
            depth--;
            i++;
            break;
        default:
            if (depth == 0) {
                /* a number, true, false, null */
                while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']'
                       && s[i] != ' ' && s[i] != '\n' && s[i] != '\r'
                       && s[i] != '\t')
                {
                    i++;
                }
                return i;
            }
            i++;
        }
    } while (depth > 0);

    return i;
}

int
ow_cache_member(const char *s, size_t len, const char *const *path,
    size_t npath, size_t *from, size_t *to, size_t *vfrom, size_t *vto)
{
    size_t  i, k, key, klen, v, end, prev_comma, level;
    int     found;

    i = ow_cache_ws(s, len, 0);

    for (level = 0; level < npath; level++) {
        if (i >= len || s[i] != '{') {
            return -1;
        }
        i = ow_cache_ws(s, len, i + 1);
        prev_comma = (size_t) -1;
        found = 0;

        while (i < len && s[i] == '"') {
            key = i + 1;
            k = ow_cache_skip(s, len, i);
            if (k == (size_t) -1) {
                return -1;
            }
            klen = k - 1 - key;
            k = ow_cache_ws(s, len, k);
            if (k >= len || s[k] != ':') {
                return -1;
            }
            v = ow_cache_ws(s, len, k + 1);
            end = ow_cache_skip(s, len, v);
            if (end == (size_t) -1) {
                return -1;
            }

            /* keys with escapes are never the ones looked for */
            if (klen == strlen(path[level])
                && memcmp(s + key, path[level], klen) == 0)
            {
                if (level + 1 < npath) {
                    i = v;
                    found = 1;
                    break;
                }
                if (vfrom) {
                    *vfrom = v;
                    *vto = end;
                }
                k = ow_cache_ws(s, len, end);
                if (k < len && s[k] == ',') {
                    /* the member and the comma after it */
                    *from = i;
                    *to = ow_cache_ws(s, len, k + 1);
                } else if (prev_comma != (size_t) -1) {
                    /* the last one: the comma before it */
                    *from = prev_comma;
                    *to = end;
                } else {
                    *from = i;
                    *to = end;
                }
                return 0;
            }

            i = ow_cache_ws(s, len, end);
            if (i < len && s[i] == ',') {
                prev_comma = i;
                i = ow_cache_ws(s, len, i + 1);
            }
        }
        if (!found) {
            return -1;
        }
    }
    return -1;
}

long
ow_cache_strip(const char *s, size_t len, int result_only, char *out)
{
    static const char  *record[] = { "response", "result", OW_CACHE_FIELD };
    size_t              from, to;

    if (ow_cache_member(s, len, result_only ? record + 2 : record,
                        result_only ? 1 : 3, &from, &to, NULL, NULL)
        != 0)
    {
        return -1;
    }
    /* out may be s: the field cut out in place */
    memmove(out, s, from);
    memmove(out + from, s + to, len - to);
    return (long) (len - (to - from));
}

char *
ow_cache_record_tail_text(const char *s, size_t len, size_t *out_len)
{
    static const char  *fresh[] = {
        "activationId", "subject", "start", "end", "duration"
    };
    static const char  *annotations[] = { "annotations" };
    static const char   hit[] = "{\"key\":\"cacheHit\",\"value\":true}";
    char               *t, *u;
    size_t              n, i, from, to, vfrom, vto, k;

    t = malloc(len + sizeof(hit) + 2);
    if (t == NULL) {
        return NULL;
    }
    memcpy(t, s, len);
    n = len;

    for (i = 0; i < sizeof(fresh) / sizeof(fresh[0]); i++) {
        if (ow_cache_member(t, n, &fresh[i], 1, &from, &to, NULL, NULL)
            == 0)
        {
            memmove(t + from, t + to, n - to);
            n -= to - from;
        }
    }

    if (ow_cache_member(t, n, annotations, 1, &from, &to, &vfrom, &vto) == 0
        && t[vfrom] == '[')
    {
        /* before the array's "]": a comma unless it is empty */
        k = ow_cache_ws(t, vto - 1, vfrom + 1);
        u = t + vto - 1;
        memmove(u + sizeof(hit) - 1 + (k < vto - 1), u, n - (vto - 1));
        if (k < vto - 1) {
            *u++ = ',';
        }
        memcpy(u, hit, sizeof(hit) - 1);
        n += sizeof(hit) - 1 + (k < vto - 1);

    } else {
        /* none: "annotations" added before the closing brace */
        free(t);
        return NULL;
    }

    /*
     * without its opening brace (and the blanks around it: a record from
     * elsewhere than the sidecar's writer may start with some)
     */
    i = ow_cache_ws(t, n, 0);
    if (i >= n || t[i] != '{') {
        free(t);
        return NULL;
    }
    i = ow_cache_ws(t, n, i + 1);
    *out_len = n - i;
    memmove(t, t + i, *out_len);
    t[*out_len] = '\0';
    return t;
}
