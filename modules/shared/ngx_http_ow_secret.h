/*
 * ngx_http_ow_secret.h: secret files read at configuration time
 * (ngx_http_ow_secret.c).
 */

#ifndef NGX_HTTP_OW_SECRET_H
#define NGX_HTTP_OW_SECRET_H

#include <ngx_config.h>
#include <ngx_core.h>

/*
 * A secret file (path relative to the configuration prefix), read whole at
 * configuration time into cf->pool, at most OW_SECRET_FILE_MAX bytes; the
 * copy is wiped when the configuration goes. Logs the path, never a byte
 * of the text.
 */
ngx_int_t ngx_http_ow_read_secret(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *text);

/*
 * The token file of the directive being parsed (ow_internal_token_file,
 * ow_metrics_token_file): ngx_http_ow_read_secret(), then one line of
 * visible ASCII (ow_secret_token), else an [emerg] naming the file.
 */
ngx_int_t ngx_http_ow_read_token(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *token);

#endif /* NGX_HTTP_OW_SECRET_H */
