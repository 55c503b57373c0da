/*
 * ow_routes.h: API routes (`wsk api create`) without nginx: the Redis form
 * of a route, matching a request against a namespace's routes, and the
 * swagger operationId OpenWhisk's apimgmt actions generate.
 *
 * A route is stored as one field of the namespace's hash OW_KEY_ROUTES:
 *   field "<basepath> <VERB> <relpath>"  (basepath without a trailing '/',
 *                                         "" for "/"; VERB upper case)
 *   value "<ns>/<pkg>/<action>.<ext>"    (pkg "default" when none; ext
 *                                         json|http|html|svg|text)
 * so the gateway can serve a route from the hash alone, and all routes of
 * one API are the fields starting with "<basepath> ".
 */

#ifndef OW_ROUTES_H
#define OW_ROUTES_H

#include <stddef.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OW_ROUTES_MAX_SEGMENTS  32

typedef struct {
    const char  *field;
    size_t       field_len;
    const char  *target;
    size_t       target_len;
} ow_route_t;

/*
 * The route serving verb + path (the request path after "/api/{ns}",
 * starting with '/', not percent-decoded), or -1. The route with most
 * literal segments wins ("/books/new" over "/books/{id}"). On a match,
 * *rel_off is where the route's relative path starts in path (its basepath
 * is before), and params (when not NULL) gets {name: decoded segment}.
 */
int ow_route_match(const ow_route_t *routes, size_t n, const char *verb,
    size_t verb_len, const char *path, size_t path_len, json_t *params,
    size_t *rel_off);

/* "get" + "/books/{id}" -> "getBooksId" (as OpenWhisk); caller frees */
char *ow_route_operation_id(const char *verb, const char *relpath);

/* the basepath as stored in a field: "/" -> "", trailing '/' dropped */
size_t ow_route_base_len(const char *basepath);

/* is ext one of the web action extensions a route may use */
int ow_route_ext_valid(const char *ext);

#ifdef __cplusplus
}
#endif

#endif /* OW_ROUTES_H */
