/*
 * ow_cache.h: the response cache's policy, without nginx: what an answer
 * says about being reused (the reserved result field "__ow_cache" of any
 * action, Cache-Control and Expires of a web action's answer) and the
 * canonical input a cache key is made of. The gateway side, the zone and
 * the hit path: modules/gateway/ngx_http_ow_cache_module.c; the contract:
 * modules/README.md, "The response cache".
 */

#ifndef OW_CACHE_H
#define OW_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* the reserved field of an action's result (removed from the answer) */
#define OW_CACHE_FIELD         "__ow_cache"
/* a key names at most this many parameters, each at most this long */
#define OW_CACHE_KEY_NAMES_MAX 16
#define OW_CACHE_NAME_MAX      128
/* the longest freshness or stale window honoured: a day */
#define OW_CACHE_AGE_MAX       86400
/* what a key spec (names joined by '\n') may take */
#define OW_CACHE_SPEC_MAX \
    (OW_CACHE_KEY_NAMES_MAX * (OW_CACHE_NAME_MAX + 1))

typedef struct {
    int64_t   max_age;                  /* s; < 0: must not be reused */
    int64_t   stale_while_revalidate;   /* s past max_age */
    int64_t   stale_if_error;           /* s past max_age */
    unsigned  is_private:1;             /* per subject only */
    unsigned  is_public:1;
    unsigned  no_store:1;
    unsigned  s_maxage:1;               /* max_age came from s-maxage */
} ow_cache_policy_t;

/*
 * The reserved field: {"maxAge": s, "key": ["param", ...],
 * "staleWhileRevalidate": s, "staleIfError": s}. maxAge (an integer
 * 1..OW_CACHE_AGE_MAX) is required; "key" (default: the whole input) names
 * at most OW_CACHE_KEY_NAMES_MAX parameters, written to spec sorted and
 * '\n'-joined (spec has OW_CACHE_SPEC_MAX + 1 bytes). -1: not an object of
 * that shape, nothing is cached.
 */
int ow_cache_field_parse(json_t *field, ow_cache_policy_t *p, char *spec);

/*
 * Takes the reserved field out of an API answer: a record (result_only 0:
 * response.result.__ow_cache) or a bare result. Returns it (a new
 * reference) or NULL when absent.
 */
json_t *ow_cache_field_take(json_t *answer, int result_only);

/*
 * Cache-Control (RFC 9111 §5.2.2, RFC 5861) of a response, as a shared
 * cache reads it: s-maxage wins over max-age; no-store and no-cache mean
 * not stored (the gateway never revalidates). p->max_age is -1 when no
 * freshness was given.
 */
void ow_cache_control_parse(const char *s, size_t len, ow_cache_policy_t *p);

/*
 * The named input of a key, canonical: for spec "" the whole of params
 * (compact, keys sorted), else each named parameter's canonical value in
 * the spec's order, an absent one told from null. malloc'd, NULL on
 * failure (params not an object).
 */
char *ow_cache_input(json_t *params, const char *spec, size_t *len);

/*
 * A query string's arguments sorted (the order of a client's arguments
 * does not make another answer), into out (len bytes). Returns the length.
 */
size_t ow_cache_sort_args(const char *args, size_t len, char *out);

/*
 * Where a member sits in a JSON text, found without re-serializing it (the
 * answer the client gets keeps the action's bytes, its numbers included):
 * path names the keys from the top-level object down. *from, *to: the
 * member's bytes with one comma next to it, so that removing them leaves
 * valid JSON; *vfrom, *vto (may be NULL): its value's. -1 when absent or
 * not JSON.
 */
int ow_cache_member(const char *s, size_t len, const char *const *path,
    size_t npath, size_t *from, size_t *to, size_t *vfrom, size_t *vto);

/*
 * The JSON text without the reserved field (at response.result, or at the
 * top for result_only), into out (len bytes at most; out may be s).
 * Returns the length, or -1 when there is no field.
 */
long ow_cache_strip(const char *s, size_t len, int result_only, char *out);

/*
 * A cached record's tail: the record's text without the members a hit sets
 * anew (activationId, subject, start, end, duration), annotated as a cache
 * hit ({"key":"cacheHit","value":true} last in "annotations"), without its
 * opening brace; byte for byte otherwise (its numbers as the action wrote
 * them). A hit's body is {"activationId":...,"subject":...,"start":t,
 * "end":t,"duration":0 followed by "," and the tail (or the tail alone when
 * it is "}"). malloc'd, its length in *out_len; NULL when the record is
 * not an object or has no "annotations" array.
 */
char *ow_cache_record_tail_text(const char *s, size_t len, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif /* OW_CACHE_H */
