/*
 * ow_names.c: entity name rules and fully qualified names.
 */

#include <stdlib.h>
#include <string.h>

#include "ow_names.h"

static int
ow_word(unsigned char c)
{
    /* \w as Java/Scala see it for ASCII; non-ASCII letters are rejected */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_';
}

int
ow_name_valid(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0 || len > 256 || !ow_word((unsigned char) s[0])) {
        return 0;
    }

    for (i = 1; i < len; i++) {
        c = (unsigned char) s[i];
        if (ow_word(c) || c == '@' || c == '.' || c == '&' || c == '-') {
            continue;
        }
        if (c == ' ' && i != len - 1) {
            continue;
        }
        return 0;
    }

    return 1;
}

static int
ow_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

char *
ow_unescape(const char *src, size_t len)
{
    char    *dst, *p;
    size_t   i;
    int      hi, lo;

    dst = malloc(len + 1);
    if (dst == NULL) {
        return NULL;
    }

    for (i = 0, p = dst; i < len; i++) {
        if (src[i] == '%') {
            if (i + 2 >= len) {
                goto bad;
            }
            hi = ow_hex((unsigned char) src[i + 1]);
            lo = ow_hex((unsigned char) src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                goto bad;
            }
            *p++ = (char) (hi * 16 + lo);
            i += 2;
            continue;
        }
        if (src[i] == '\0') {
            goto bad;
        }
        *p++ = src[i];
    }

    *p = '\0';
    return dst;

bad:
    free(dst);
    return NULL;
}

static char *
ow_strndup_valid(const char *s, size_t len)
{
    char  *d;

    if (!ow_name_valid(s, len)) {
        return NULL;
    }
    d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

int
ow_fqn_parse(const char *s, const char *default_ns, ow_fqn_t *fqn)
{
    const char  *parts[4];
    size_t       lens[4];
    const char  *p, *slash;
    int          n, absolute;

    memset(fqn, 0, sizeof(*fqn));

    absolute = (s[0] == '/');
    p = absolute ? s + 1 : s;

    for (n = 0; n < 4; n++) {
        slash = strchr(p, '/');
        parts[n] = p;
        lens[n] = slash ? (size_t) (slash - p) : strlen(p);
        if (slash == NULL) {
            n++;
            break;
        }
        p = slash + 1;
    }

    if (n > 3 || (slash != NULL)) {
        return -1;
    }

    /* "/ns/name", "/ns/pkg/name"; relative: "name", "pkg/name", "ns/pkg/n" */
    if (absolute) {
        if (n < 2) {
            return -1;
        }
    } else if (n == 3) {
        absolute = 1;
    }

    if (absolute) {
        if (lens[0] == 1 && parts[0][0] == '_') {
            fqn->ns = strdup(default_ns);
        } else {
            fqn->ns = ow_strndup_valid(parts[0], lens[0]);
        }
        parts[0] = parts[1]; lens[0] = lens[1];
        parts[1] = parts[2]; lens[1] = lens[2];
        n--;
    } else {
        fqn->ns = strdup(default_ns);
    }

    if (fqn->ns == NULL) {
        goto bad;
    }

    if (n == 2) {
        fqn->pkg = ow_strndup_valid(parts[0], lens[0]);
        fqn->name = ow_strndup_valid(parts[1], lens[1]);
        if (fqn->pkg == NULL || fqn->name == NULL) {
            goto bad;
        }
    } else {
        fqn->name = ow_strndup_valid(parts[0], lens[0]);
        if (fqn->name == NULL) {
            goto bad;
        }
    }

    return 0;

bad:
    ow_fqn_free(fqn);
    return -1;
}

void
ow_fqn_free(ow_fqn_t *fqn)
{
    free(fqn->ns);
    free(fqn->pkg);
    free(fqn->name);
    memset(fqn, 0, sizeof(*fqn));
}

char *
ow_fqn_path(const ow_fqn_t *fqn)
{
    size_t  n;
    char   *p;

    if (fqn->pkg == NULL) {
        return strdup(fqn->name);
    }

    n = strlen(fqn->pkg) + strlen(fqn->name) + 2;
    p = malloc(n);
    if (p) {
        strcpy(p, fqn->pkg);
        strcat(p, "/");
        strcat(p, fqn->name);
    }
    return p;
}

int
ow_name_path_valid(const char *path)
{
    const char  *slash;

    if (path == NULL) {
        return 0;
    }
    slash = strchr(path, '/');
    if (slash == NULL) {
        return ow_name_valid(path, strlen(path));
    }
    return ow_name_valid(path, slash - path)
           && ow_name_valid(slash + 1, strlen(slash + 1));
}
