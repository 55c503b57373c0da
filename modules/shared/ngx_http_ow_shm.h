/*
 * ngx_http_ow_shm.h: what the owx shared-memory zones (auth verdicts, warm
 * table, namespace limits) have in common: setting a zone up once and
 * keeping it across reloads, and red-black trees of nodes named by a string
 * (keyed by its CRC32, ties broken by the bytes).
 */

#ifndef NGX_HTTP_OW_SHM_H
#define NGX_HTTP_OW_SHM_H

#include <ngx_config.h>
#include <ngx_core.h>

/*
 * The zone of a "<directive> name size ..." directive (ow_auth_zone,
 * ow_limit_zone, ow_metrics_zone, ow_router_zone): its first two arguments,
 * the size at least min bytes. NULL after an [emerg]; a name the module
 * already set a zone up for is refused. The caller sets ->init and ->data.
 */
ngx_shm_zone_t *ngx_http_ow_shm_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    size_t min, void *tag);

/*
 * For a zone's init callback when there is no old zone data (not a reload):
 * an existing segment gives back its context (NGX_DECLINED); a new one gets
 * a zeroed context of sh_size and a log context naming the directive, and
 * NGX_OK tells the caller to set the context up.
 */
ngx_int_t ngx_http_ow_shm_init(ngx_shm_zone_t *shm_zone, size_t sh_size,
    const char *directive, void **sh, ngx_slab_pool_t **shpool);

/* where a node type keeps its name: byte offsets of the name and its u_short
 * length; the ngx_rbtree_node_t comes first */
typedef struct {
    size_t  name;
    size_t  len;
} ngx_http_ow_shm_name_t;

ngx_rbtree_node_t *ngx_http_ow_shm_find(ngx_rbtree_t *tree,
    const ngx_http_ow_shm_name_t *n, u_char *name, size_t len);

/* the body of a tree's insert callback */
void ngx_http_ow_shm_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel, const ngx_http_ow_shm_name_t *n);

#endif /* NGX_HTTP_OW_SHM_H */
