/*
 * ngx_http_ow_secret.c: secret files (the Redis credentials, the internal
 * and metrics tokens), read by the master at configuration time; their
 * formats are ow_secrets.c's.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ow_secrets.h"
#include "ngx_http_ow_secret.h"

static void
ngx_http_ow_secret_wipe(void *data)
{
    ngx_explicit_memzero(data, OW_SECRET_FILE_MAX + 1);
}

ngx_int_t
ngx_http_ow_read_secret(ngx_conf_t *cf, ngx_str_t *path, ngx_str_t *text)
{
    ngx_fd_t             fd;
    ngx_str_t            name;
    ngx_pool_cleanup_t  *cln;
    u_char              *buf;
    size_t               len;
    ssize_t              n;

    name = *path;
    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    /* one byte more than allowed: a longer file is seen as such */
    buf = ngx_pnalloc(cf->pool, OW_SECRET_FILE_MAX + 1);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }
    cln->handler = ngx_http_ow_secret_wipe;
    cln->data = buf;

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", name.data);
        return NGX_ERROR;
    }

    len = 0;
    do {
        n = ngx_read_fd(fd, buf + len, OW_SECRET_FILE_MAX + 1 - len);
        if (n == -1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               ngx_read_fd_n " \"%s\" failed", name.data);
            (void) ngx_close_file(fd);
            return NGX_ERROR;
        }
        len += n;
    } while (n > 0 && len <= OW_SECRET_FILE_MAX);

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", name.data);
    }

    if (len > OW_SECRET_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%s\" is longer than %d bytes",
                           (ngx_str_t *) cf->args->elts, name.data,
                           OW_SECRET_FILE_MAX);
        return NGX_ERROR;
    }

    text->data = buf;
    text->len = len;
    return NGX_OK;
}

ngx_int_t
ngx_http_ow_read_token(ngx_conf_t *cf, ngx_str_t *path, ngx_str_t *token)
{
    ngx_str_t  text, *name;
    size_t     len;

    if (ngx_http_ow_read_secret(cf, path, &text) != NGX_OK) {
        return NGX_ERROR;
    }

    len = ow_secret_token((char *) text.data, text.len);
    if (len == 0) {
        name = cf->args->elts;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is malformed: "
                           "one line of visible ASCII expected", &name[0],
                           path);
        return NGX_ERROR;
    }

    token->data = text.data;
    token->len = len;
    return NGX_OK;
}
