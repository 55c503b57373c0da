/*
 * ngx_http_ow_shm.c: see ngx_http_ow_shm.h.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_ow_shm.h"

ngx_shm_zone_t *
ngx_http_ow_shm_zone(ngx_conf_t *cf, ngx_command_t *cmd, size_t min,
    void *tag)
{
    ngx_str_t       *value;
    ngx_shm_zone_t  *zone;
    ssize_t          size;

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);
    if (size == NGX_ERROR || size < (ssize_t) min) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %V size \"%V\" (at least %uzk)",
                           &cmd->name, &value[2], min / 1024);
        return NULL;
    }

    zone = ngx_shared_memory_add(cf, &value[1], size, tag);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &value[1]);
        return NULL;
    }

    return zone;
}

ngx_int_t
ngx_http_ow_shm_init(ngx_shm_zone_t *shm_zone, size_t sh_size,
    const char *directive, void **sh, ngx_slab_pool_t **shpool)
{
    size_t  len;

    *shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        *sh = (*shpool)->data;
        return NGX_DECLINED;
    }

    *sh = ngx_slab_calloc(*shpool, sh_size);
    if (*sh == NULL) {
        return NGX_ERROR;
    }
    (*shpool)->data = *sh;

    len = sizeof(" in  \"\"") + ngx_strlen(directive) + shm_zone->shm.name.len;
    (*shpool)->log_ctx = ngx_slab_alloc(*shpool, len);
    if ((*shpool)->log_ctx == NULL) {
        return NGX_ERROR;
    }
    ngx_sprintf((*shpool)->log_ctx, " in %s \"%V\"%Z", directive,
                &shm_zone->shm.name);
    return NGX_OK;
}

static ngx_int_t
ngx_http_ow_shm_cmp(ngx_rbtree_node_t *node, const ngx_http_ow_shm_name_t *n,
    u_char *name, size_t len)
{
    return ngx_memn2cmp(name, (u_char *) node + n->name, len,
                        *(u_short *) ((u_char *) node + n->len));
}

ngx_rbtree_node_t *
ngx_http_ow_shm_find(ngx_rbtree_t *tree, const ngx_http_ow_shm_name_t *n,
    u_char *name, size_t len)
{
    ngx_rbtree_node_t  *node, *sentinel;
    uint32_t            hash;
    ngx_int_t           rc;

    hash = ngx_crc32_short(name, len);
    node = tree->root;
    sentinel = tree->sentinel;

    while (node != sentinel) {
        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }
        rc = ngx_http_ow_shm_cmp(node, n, name, len);
        if (rc == 0) {
            return node;
        }
        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}

void
ngx_http_ow_shm_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel, const ngx_http_ow_shm_name_t *n)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {
        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;
        } else {
            p = (ngx_http_ow_shm_cmp(temp, n, (u_char *) node + n->name,
                                     *(u_short *) ((u_char *) node + n->len))
                 < 0) ? &temp->left : &temp->right;
        }
        if (*p == sentinel) {
            break;
        }
        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}
