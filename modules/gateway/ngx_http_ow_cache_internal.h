/*
 * ngx_http_ow_cache_internal.h: private to the files of the response cache
 * (ngx_http_ow_cache_module.c says what it does): the zone's layout, a
 * request's context, and what one file asks of another.
 *
 *   ngx_http_ow_cache_module.c  the module's form, the lookup (precontent
 *                               handler), purges, /metrics, configuration
 *   ngx_http_ow_cache_zone.c    the zone: entries, epochs, eviction, keys
 *   ngx_http_ow_cache_hit.c     answering from the zone
 *   ngx_http_ow_cache_store.c   a miss: the filters that see and store it
 */

#ifndef NGX_HTTP_OW_CACHE_INTERNAL_H
#define NGX_HTTP_OW_CACHE_INTERNAL_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "ow_cache.h"
#include "ow_schema.h"
#include "ngx_http_ow_auth.h"
#include "ngx_http_ow_cache.h"
#include "ngx_http_ow_cache_records.h"
#include "ngx_http_ow_limit.h"
#include "ngx_http_ow_metrics.h"
#include "ngx_http_ow_invoke.h"
#include "ngx_http_ow_router.h"
#include "ngx_http_ow_trust.h"
#include "ngx_http_ow_shm.h"
#include "ngx_http_ow_subscriber.h"

#define NGX_HTTP_OW_CACHE_DIGEST  SHA256_DIGEST_LENGTH
#define NGX_HTTP_OW_CACHE_EVICT   64      /* entries one store may evict */
/*
 * After a change, the pool-manager and the containers learn of it by the
 * same event as this gateway: an answer of the old code may still come
 * back for a moment, under the new epoch. Nothing of the action is stored
 * for this long (ms) after its change.
 */
#define NGX_HTTP_OW_CACHE_SETTLE  1000
/*
 * Concurrent misses of one key: one request (the lock's owner) runs the
 * action, the others look again every WAIT ms, for LOCK ms at most (then
 * they run it too). A lock whose answer was not stored turns into a pass
 * for PASS ms: the others run the action at once instead of one by one.
 */
#define NGX_HTTP_OW_CACHE_WAIT_MS 5
/*
 * What input an action's answers name (a variant) is kept this long (ms)
 * past its last answer: misses of an action known to cache take the lock.
 */
#define NGX_HTTP_OW_CACHE_VARIANT_TTL  600000
#define NGX_HTTP_OW_CACHE_LOCK_MS 5000
#define NGX_HTTP_OW_CACHE_PASS_MS 1000

typedef struct {
    ngx_rbtree_t              entries;
    ngx_rbtree_node_t         entries_sentinel;
    ngx_rbtree_t              epochs;
    ngx_rbtree_node_t         epochs_sentinel;
    ngx_queue_t               lru;            /* head: the last used */
    uint64_t                  generation;     /* the last epoch given */
    uint64_t                  all;            /* the zone's epoch */
    int64_t                   all_changed;    /* ms */
    uint64_t                  hits;
    uint64_t                  misses;
    uint64_t                  stores;
    uint64_t                  evictions;
    uint64_t                  too_big;
    uint64_t                  stale;          /* hits past max-age */
    uint64_t                  count;          /* entries */
    uint64_t                  bytes;          /* their slab */
} ngx_http_ow_cache_sh_t;

enum {
    NGX_HTTP_OW_CACHE_VARIANT = 1,
    NGX_HTTP_OW_CACHE_ANSWER,
    NGX_HTTP_OW_CACHE_RECORD,     /* an API record: a hit makes it anew */
    NGX_HTTP_OW_CACHE_LOCK,       /* one request runs the action */
    NGX_HTTP_OW_CACHE_PASS        /* its answer was not to be stored */
};

typedef struct {
    ngx_rbtree_node_t         node;           /* key: digest's first bytes */
    ngx_queue_t               queue;
    u_char                    digest[NGX_HTTP_OW_CACHE_DIGEST];
    u_char                    kind;
    u_char                    is_private;     /* a variant's */
    u_short                   status;
    int64_t                   stored;         /* ms */
    int64_t                   fresh_until;    /* ms */
    int64_t                   stale_until;    /* stale-while-revalidate */
    int64_t                   error_until;    /* stale-if-error */
    uint64_t                  owner;          /* a lock's request */
    size_t                    size;           /* slab taken */
    uint32_t                  head_len;       /* headers, then body */
    uint32_t                  body_len;
    u_char                    data[1];
} ngx_http_ow_cache_entry_t;

typedef struct {
    ngx_rbtree_node_t         node;           /* key: crc32 of name */
    uint64_t                  epoch;
    int64_t                   changed;        /* ms */
    u_short                   len;
    u_char                    name[1];
} ngx_http_ow_cache_epoch_t;


typedef struct {
    ngx_http_ow_cache_sh_t   *sh;
    ngx_slab_pool_t          *shpool;
    size_t                    max_object;
} ngx_http_ow_cache_zone_t;

typedef struct {
    ngx_shm_zone_t           *zone;           /* the one zone, if declared */
    ngx_int_t                 request_id;     /* $request_id's index */
} ngx_http_ow_cache_main_conf_t;

typedef struct {
    ngx_shm_zone_t           *zone;           /* NULL: off */
} ngx_http_ow_cache_loc_conf_t;

typedef struct {
    ngx_int_t                 status;         /* the phase's, once read */
    unsigned                  web:1;
    unsigned                  result_only:1;
    unsigned                  miss:1;         /* store what comes back */
    unsigned                  hold:1;         /* API answer held whole */
    unsigned                  capture:1;      /* web answer copied */
    unsigned                  hit:1;
    unsigned                  settling:1;     /* changed just now */
    unsigned                  waiting:1;      /* for the lock's owner */
    unsigned                  locked:1;       /* owns the lock */
    unsigned                  stored:1;
    unsigned                  no_lock:1;      /* waited long enough */
    unsigned                  swallow:1;      /* stale-if-error answer */
    unsigned                  revalidate:1;   /* the client's no-cache */
    ngx_event_t               wait;
    int64_t                   wait_until;
    uint64_t                  owner;
    u_char                    lock[NGX_HTTP_OW_CACHE_DIGEST];
    ngx_http_ow_cache_entry_t *stale;         /* for stale-if-error */
    ngx_buf_t                *stale_body;
    ngx_str_t                 action;
    ngx_str_t                 ns;             /* the invoker's (API) */
    ngx_str_t                 subject;
    u_char                    prim[NGX_HTTP_OW_CACHE_DIGEST];
    json_t                   *params;         /* the API input, or NULL */
    u_char                   *input;          /* the API body, unparsed */
    size_t                    input_len;
    unsigned                  input_read:1;   /* the body is in input */
    unsigned                  params_parsed:1;
    ngx_buf_t                *body;           /* what was held or copied */
    ngx_str_t                 head;           /* a web answer's headers */
    ngx_uint_t                status_code;
    ow_cache_policy_t         policy;
    u_char                   *spec;           /* Vary names, for a store */
    size_t                    spec_len;
} ngx_http_ow_cache_ctx_t;

extern ngx_module_t                      ngx_http_ow_cache_module;

/* the worker's view of the zone (for the subscriber and /metrics) */
extern ngx_http_ow_cache_zone_t         *ngx_http_ow_cache_table;

extern ngx_http_output_header_filter_pt  ngx_http_ow_cache_next_header_filter;
extern ngx_http_output_body_filter_pt    ngx_http_ow_cache_next_body_filter;

static ngx_inline int64_t
ngx_http_ow_cache_now(void)
{
    ngx_time_t  *tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}

void ngx_http_ow_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
void ngx_http_ow_cache_epoch_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
ngx_rbtree_key_t ngx_http_ow_cache_key(u_char *digest);
ngx_http_ow_cache_entry_t *ngx_http_ow_cache_find_locked(
    ngx_http_ow_cache_zone_t *z, u_char *digest);
void ngx_http_ow_cache_delete_locked(ngx_http_ow_cache_zone_t *z,
    ngx_http_ow_cache_entry_t *e);
ngx_http_ow_cache_entry_t *ngx_http_ow_cache_get_locked(
    ngx_http_ow_cache_zone_t *z, u_char *digest, int64_t now);
ngx_http_ow_cache_entry_t *ngx_http_ow_cache_alloc_locked(
    ngx_http_ow_cache_zone_t *z, size_t size, int64_t now);
void ngx_http_ow_cache_put(ngx_http_ow_cache_zone_t *z, u_char *digest,
    ngx_uint_t kind, ngx_uint_t status, ow_cache_policy_t *policy,
    int64_t fresh_until, ngx_uint_t priv, ngx_str_t *head, u_char *body,
    size_t body_len);
void ngx_http_ow_cache_prim(ngx_http_ow_cache_zone_t *z,
    ngx_http_ow_cache_ctx_t *ctx, u_char *invoker);
void ngx_http_ow_cache_variant_digest(ngx_http_ow_cache_ctx_t *ctx,
    u_char *out);
ngx_int_t ngx_http_ow_cache_answer_digest(ngx_http_request_t *r,
    ngx_http_ow_cache_ctx_t *ctx, u_char *spec, size_t spec_len,
    ngx_uint_t priv, u_char *out);
ngx_int_t ngx_http_ow_cache_swap_stale(ngx_http_request_t *r,
    ngx_http_ow_cache_ctx_t *ctx);
void ngx_http_ow_cache_unlock(ngx_http_ow_cache_zone_t *z,
    ngx_http_ow_cache_ctx_t *ctx);
ngx_int_t ngx_http_ow_cache_lookup(ngx_http_request_t *r,
    ngx_http_ow_cache_ctx_t *ctx, ngx_http_ow_cache_zone_t *z);
ngx_int_t ngx_http_ow_cache_header_filter(ngx_http_request_t *r);
json_t *ngx_http_ow_cache_params(ngx_http_ow_cache_ctx_t *ctx);
ngx_int_t ngx_http_ow_cache_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);

#endif /* NGX_HTTP_OW_CACHE_INTERNAL_H */
