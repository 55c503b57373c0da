/*
 * ow_api.c: the management API's routing: a request's path to its
 * collection's handler (ow_api_handlers.h).
 */

#include <stdlib.h>
#include <string.h>

#include "ow_api.h"
#include "ow_api_handlers.h"
#include "ow_names.h"
#include "ow_schema.h"

/* ---- routing ---- */

#define OW_MAX_SEGMENTS  8

static int
ow_split(const char *uri, size_t len, int decoded, char **seg, int max,
    int *trailing)
{
    const char  *p, *end, *s;
    int          n;

    n = 0;
    p = uri;
    end = uri + len;
    *trailing = (len > 1 && uri[len - 1] == '/');

    while (p < end) {
        while (p < end && *p == '/') {
            p++;
        }
        if (p == end) {
            break;
        }
        s = p;
        while (p < end && *p != '/') {
            p++;
        }
        if (n == max) {
            goto bad;
        }
        /* a raw path is decoded per segment, so "%2F" stays in a name */
        seg[n] = decoded ? strndup(s, p - s) : ow_unescape(s, p - s);
        if (seg[n] == NULL) {
            goto bad;
        }
        if (strchr(seg[n], '/')) {
            /* "%2F": a name with a slash, not a separator */
            n++;
            goto bad;
        }
        n++;
    }

    return n;

bad:
    while (n > 0) {
        free(seg[--n]);
    }
    return -1;
}

static int
ow_route_entities(ow_op_t *op, char **seg, int n, int trailing)
{
    static const char  *colls[] = {
        "actions", "packages", "triggers", "rules", "activations",
        "connections", NULL
    };
    const char        **c;
    size_t              len;

    /* seg: api v1 namespaces {ns} {coll} [a [b [c]]] */
    if (strcmp(seg[3], "_") == 0) {
        op->ns = strdup(op->auth_ns);
    } else {
        if (!ow_namespace_valid(seg[3], strlen(seg[3]))) {
            return ow_error(op, 400, OW_MSG_BAD_NAME);
        }
        op->ns = strdup(seg[3]);
    }

    if (n == 4) {
        return ow_not_found(op);
    }

    if (strcmp(seg[4], "limits") == 0 && n == 5) {
        return ow_api_limits(op);
    }

    for (c = colls; *c; c++) {
        if (strcmp(seg[4], *c) == 0) {
            break;
        }
    }
    if (*c == NULL) {
        return ow_not_found(op);
    }
    op->coll = strdup(*c);

    /* entity path: "name", "pkg/name", or "pkg/" (list of a package) */
    if (n == 6) {
        op->path = strdup(seg[5]);
        if (trailing && strcmp(*c, "actions") == 0) {
            len = strlen(seg[5]);
            op->path = realloc(op->path, len + 2);
            strcat(op->path, "/");
        }
    } else if (n == 7) {
        len = strlen(seg[5]) + strlen(seg[6]) + 2;
        op->path = malloc(len);
        snprintf(op->path, len, "%s/%s", seg[5], seg[6]);
    } else if (n == 8 && strcmp(*c, "activations") == 0) {
        len = strlen(seg[5]) + strlen(seg[6]) + strlen(seg[7]) + 3;
        op->path = malloc(len);
        snprintf(op->path, len, "%s/%s/%s", seg[5], seg[6], seg[7]);
    } else if (n > 6) {
        return ow_not_found(op);
    }

    /*
     * Foreign namespaces: only reads that may reach public packages get to
     * the handlers, which check "publish" themselves.
     */
    if (strcmp(op->ns, op->auth_ns) != 0) {
        if (!(op->method == OW_GET
              && (strcmp(*c, "packages") == 0
                  || (strcmp(*c, "actions") == 0 && op->path
                      && strchr(op->path, '/')))))
        {
            return ow_forbidden(op);
        }
    }

    if (strcmp(*c, "actions") == 0) {
        return ow_api_actions(op);
    }
    if (strcmp(*c, "packages") == 0) {
        return ow_api_packages(op);
    }
    if (strcmp(*c, "triggers") == 0) {
        return ow_api_triggers(op);
    }
    if (strcmp(*c, "rules") == 0) {
        return ow_api_rules(op);
    }
    if (strcmp(*c, "connections") == 0) {
        return ow_api_connections(op);
    }
    return ow_api_activations(op);
}

int
ow_api_start(ow_op_t *op)
{
    char  *seg[OW_MAX_SEGMENTS];
    int    n, i, rc, trailing;

    op->query = ow_parse_query(op->args, op->args_len);

    n = ow_split(op->uri, op->uri_len, op->uri_decoded, seg,
                 OW_MAX_SEGMENTS, &trailing);
    if (n < 0) {
        /* a bad escape, "%00" or "%2F" inside a name, or too deep */
        return ow_error(op, 400, OW_MSG_BAD_NAME);
    }

    if (n == 0 || (n == 1 && strcmp(seg[0], "ping") == 0)
        || (n == 2 && strcmp(seg[0], "api") == 0 && strcmp(seg[1], "v1") == 0)
        || (n == 3 && strcmp(seg[0], "api") == 0 && strcmp(seg[1], "v1") == 0
            && strcmp(seg[2], "api-docs") == 0))
    {
        rc = ow_api_info(op);
        goto done;
    }

    /* wsk api: the whisk.system/apimgmt web actions, served here */
    if (n == 6 && strcmp(seg[0], "api") == 0 && strcmp(seg[1], "v1") == 0
        && strcmp(seg[2], "web") == 0 && strcmp(seg[3], "whisk.system") == 0
        && strcmp(seg[4], "apimgmt") == 0)
    {
        rc = (op->subject && op->auth_ns)
             ? ow_api_routes(op, seg[5])
             : ow_error(op, 401, "The resource requires authentication, "
                        "which was not supplied with the request");
        goto done;
    }

    if (n < 3 || strcmp(seg[0], "api") != 0 || strcmp(seg[1], "v1") != 0
        || strcmp(seg[2], "namespaces") != 0)
    {
        rc = ow_not_found(op);
        goto done;
    }

    if (op->subject == NULL || op->auth_ns == NULL) {
        /* a location serves the API without ow_auth: a config error */
        rc = ow_error(op, 401, "The resource requires authentication, which "
                      "was not supplied with the request");
        goto done;
    }

    if (n == 3) {
        rc = ow_api_namespaces(op);
        goto done;
    }

    rc = ow_route_entities(op, seg, n, trailing);

done:
    for (i = 0; i < n; i++) {
        free(seg[i]);
    }
    return rc;
}
