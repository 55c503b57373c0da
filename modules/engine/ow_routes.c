/*
 * ow_routes.c: matching requests against API routes (ow_routes.h).
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ow_names.h"
#include "ow_routes.h"

typedef struct {
    const char  *p;
    size_t       len;
} ow_seg_t;

/* split "/a/b/c" into segments; empty ones ("//", trailing '/') skipped */
static int
ow_route_split(const char *s, size_t len, ow_seg_t *seg, int max)
{
    const char  *end, *b;
    int          n;

    n = 0;
    end = s + len;

    while (s < end) {
        while (s < end && *s == '/') {
            s++;
        }
        if (s == end) {
            break;
        }
        b = s;
        while (s < end && *s != '/') {
            s++;
        }
        if (n == max) {
            return -1;
        }
        seg[n].p = b;
        seg[n].len = s - b;
        n++;
    }

    return n;
}

static int
ow_route_is_param(const ow_seg_t *s)
{
    return s->len > 2 && s->p[0] == '{' && s->p[s->len - 1] == '}';
}

int
ow_route_match(const ow_route_t *routes, size_t n, const char *verb,
    size_t verb_len, const char *path, size_t path_len, json_t *params,
    size_t *rel_off)
{
    ow_seg_t     req[OW_ROUTES_MAX_SEGMENTS], tpl[OW_ROUTES_MAX_SEGMENTS];
    const char  *f, *end, *sp1, *sp2;
    size_t       i;
    int          nreq, nbase, nrel, j, lit, best, best_lit, best_base;
    char        *name, *value;

    nreq = ow_route_split(path, path_len, req, OW_ROUTES_MAX_SEGMENTS);
    if (nreq < 0) {
        return -1;
    }

    best = -1;
    best_lit = -1;
    best_base = 0;

    for (i = 0; i < n; i++) {
        f = routes[i].field;
        end = f + routes[i].field_len;

        sp1 = memchr(f, ' ', end - f);
        if (sp1 == NULL) {
            continue;
        }
        sp2 = memchr(sp1 + 1, ' ', end - sp1 - 1);
        if (sp2 == NULL) {
            continue;
        }
        if ((size_t) (sp2 - sp1 - 1) != verb_len
            || strncasecmp(sp1 + 1, verb, verb_len) != 0)
        {
            continue;
        }

        nbase = ow_route_split(f, sp1 - f, tpl, OW_ROUTES_MAX_SEGMENTS);
        if (nbase < 0) {
            continue;
        }
        nrel = ow_route_split(sp2 + 1, end - sp2 - 1, tpl + nbase,
                              OW_ROUTES_MAX_SEGMENTS - nbase);
        if (nrel < 0 || nbase + nrel != nreq) {
            continue;
        }

        lit = 0;
        for (j = 0; j < nreq; j++) {
            if (j >= nbase && ow_route_is_param(&tpl[j])) {
                continue;
            }
            if (tpl[j].len != req[j].len
                || memcmp(tpl[j].p, req[j].p, req[j].len) != 0)
            {
                break;
            }
            lit++;
        }

        if (j == nreq && lit > best_lit) {
            best = (int) i;
            best_lit = lit;
            best_base = nbase;
        }
    }

    if (best < 0) {
        return -1;
    }

    /* the relative path starts after the basepath's segments */
    *rel_off = (best_base == 0) ? 0
               : (size_t) (req[best_base - 1].p + req[best_base - 1].len
                           - path);

    if (params == NULL) {
        return best;
    }

    f = routes[best].field;
    end = f + routes[best].field_len;
    sp1 = memchr(f, ' ', end - f);
    sp2 = memchr(sp1 + 1, ' ', end - sp1 - 1);
    nrel = ow_route_split(sp2 + 1, end - sp2 - 1, tpl,
                          OW_ROUTES_MAX_SEGMENTS);

    for (j = 0; j < nrel; j++) {
        if (!ow_route_is_param(&tpl[j])) {
            continue;
        }
        name = strndup(tpl[j].p + 1, tpl[j].len - 2);
        value = ow_unescape(req[best_base + j].p, req[best_base + j].len);
        if (name && value) {
            json_object_set_new(params, name, json_string(value));
        }
        free(name);
        free(value);
    }

    return best;
}

char *
ow_route_operation_id(const char *verb, const char *relpath)
{
    size_t       n;
    char        *out, *o;
    const char  *p;
    int          word, first;

    n = strlen(verb) + strlen(relpath) + 1;
    out = malloc(n);
    if (out == NULL) {
        return NULL;
    }

    o = out;
    for (p = verb; *p; p++) {
        *o++ = (char) tolower((unsigned char) *p);
    }

    /*
     * OpenWhisk: characters other than [0-9a-zA-Z_-] separate words; a
     * word is camel-cased from its first word character on.
     */
    word = 0;
    first = 0;
    for (p = relpath; *p; p++) {
        if (!(isalnum((unsigned char) *p) || *p == '_' || *p == '-')) {
            word = 0;
            continue;
        }
        if (!word) {
            word = 1;
            first = 1;
        }
        if (first && *p != '-') {
            *o++ = (char) toupper((unsigned char) *p);
            first = 0;
        } else {
            *o++ = (char) tolower((unsigned char) *p);
        }
    }
    *o = '\0';

    return out;
}

size_t
ow_route_base_len(const char *basepath)
{
    size_t  n;

    n = strlen(basepath);
    while (n > 0 && basepath[n - 1] == '/') {
        n--;
    }
    return n;
}

int
ow_route_ext_valid(const char *ext)
{
    static const char  *exts[] = { "json", "http", "html", "svg", "text",
                                   NULL };
    const char        **e;

    for (e = exts; *e; e++) {
        if (strcmp(ext, *e) == 0) {
            return 1;
        }
    }
    return 0;
}
