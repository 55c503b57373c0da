/*
 * ow_names.h: entity names, paths and fully qualified names
 * (openwhisk-api.md §0).
 */

#ifndef OW_NAMES_H
#define OW_NAMES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* \A([\w]|[\w][\w@ .&-]{0,254}[\w@.&-])\z, max 256 bytes */
int ow_name_valid(const char *s, size_t len);

/* "name" or "pkg/name", each part a valid name */
int ow_name_path_valid(const char *path);

/* namespaces follow the same rule */
#define ow_namespace_valid  ow_name_valid

/*
 * Percent-decode src[0..len) into a new NUL-terminated string. Returns NULL
 * on a bad escape or an embedded NUL. Caller frees.
 */
char *ow_unescape(const char *src, size_t len);

/*
 * A fully qualified name "/ns/name", "/ns/pkg/name", "ns/pkg/name", or a
 * bare "name" / "pkg/name" (caller's namespace). "_" becomes default_ns.
 * On success fills ns, pkg (NULL when none) and name (each malloc'ed) and
 * returns 0; returns -1 when the string is not a valid name.
 */
typedef struct {
    char  *ns;
    char  *pkg;
    char  *name;
} ow_fqn_t;

int ow_fqn_parse(const char *s, const char *default_ns, ow_fqn_t *fqn);
void ow_fqn_free(ow_fqn_t *fqn);

/* "pkg/name" or "name"; caller frees */
char *ow_fqn_path(const ow_fqn_t *fqn);

#ifdef __cplusplus
}
#endif

#endif /* OW_NAMES_H */
