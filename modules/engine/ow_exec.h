/*
 * ow_exec.h: an action's "exec" (openwhisk-api.md §3, §8): validation and
 * normalisation of the PUT body's exec, the code-less view of ?code=false,
 * the annotations the controller adds, and parameter inheritance from
 * packages. Pure logic, no Redis, no nginx.
 */

#ifndef OW_EXEC_H
#define OW_EXEC_H

#include <stddef.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* hard cap of an action's code (exec-size-limit, 48 MB) */
#define OW_EXEC_MAX  (48 * 1024 * 1024)

/*
 * Does code look like a base64 upload (zip, jar, binary)? After trimming
 * white space: not empty, length % 4 == 0 and of the base64 alphabet with
 * at most two '=' of padding at the end.
 */
int ow_exec_is_binary(const char *code, size_t len);

/*
 * Validate the "exec" of a PUT body and return the document to store:
 * code kinds {kind, code, binary, main?} (kind concrete: "<family>:default"
 * resolved through family_default), blackbox {kind, image, binary, code?,
 * main?}, sequence {kind, components} with every component "/ns[/pkg]/a"
 * ("_" replaced by ns). kinds: kind -> runtime manifest entry.
 * On error returns NULL, sets *status (400 or 413) and writes the message.
 */
json_t *ow_exec_parse(const json_t *given, const json_t *kinds,
    const json_t *family_default, const char *ns, int *status, char *err,
    size_t errlen);

/* a sequence component to "/ns/a" or "/ns/pkg/a"; NULL when malformed */
char *ow_exec_component(const char *s, const char *ns, const char **why);

/* kind of a stored exec, or NULL */
const char *ow_exec_kind(const json_t *exec);

int ow_exec_is_sequence(const json_t *exec);

/* a new exec without "code" (GET ?code=false) */
json_t *ow_exec_meta(const json_t *exec);

/*
 * The annotations the controller writes (steals annotations, returns the
 * result): "exec" = kind, moved to the end; on create also
 * provide-api-key:false unless the key is present.
 */
json_t *ow_exec_annotate(json_t *annotations, const char *kind, int create);

/*
 * base with the keys of over replacing (in place) or appended, as
 * OpenWhisk's Parameters ++ does: package <- binding <- action parameters.
 * Either may be NULL. Returns a new array.
 */
json_t *ow_params_inherit(const json_t *base, const json_t *over);

#ifdef __cplusplus
}
#endif

#endif /* OW_EXEC_H */
