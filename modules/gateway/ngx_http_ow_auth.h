/*
 * ngx_http_ow_auth.h: the identity the auth module established for a
 * request (subject and namespace), for the other owx modules.
 */

#ifndef NGX_HTTP_OW_AUTH_H
#define NGX_HTTP_OW_AUTH_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

/* NGX_OK and NUL-terminated strings from r->pool, or NGX_DECLINED */
ngx_int_t ngx_http_ow_auth_identity(ngx_http_request_t *r, char **subject,
    char **ns);

/*
 * Between the auth module's own files (ngx_http_ow_auth_module.c,
 * ngx_http_ow_auth_redis.c): "Basic base64(uuid:key)" -> uuid and key
 * (NGX_DECLINED: no Authorization header, NGX_ERROR: not such), and the
 * content handler of ow_auth_redis.
 */
ngx_int_t ngx_http_ow_auth_parse(ngx_http_request_t *r, ngx_str_t *uuid,
    ngx_str_t *key);
ngx_int_t ngx_http_ow_auth_redis_handler(ngx_http_request_t *r);

#endif /* NGX_HTTP_OW_AUTH_H */
