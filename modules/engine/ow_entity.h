/*
 * ow_entity.h: what actions, packages, triggers and rules share: the
 * common document fields, and generic get / put / delete / list flows that
 * a collection customizes through an ow_coll_t.
 */

#ifndef OW_ENTITY_H
#define OW_ENTITY_H

#include "ow_op.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ow_coll_s  ow_coll_t;

struct ow_coll_s {
    const char  *name;          /* "actions", ... (the stored coll) */

    /*
     * Build the document to store from op->json (the PUT body) and op->old
     * (the stored doc on update, NULL on create); may take Redis steps; ends
     * with ow_entity_store(op, doc) or an error.
     */
    int        (*put)(ow_op_t *op, const redisReply *unused);

    /* shape a stored doc for GET/PUT/DELETE responses (owns doc) */
    json_t    *(*shape)(ow_op_t *op, json_t *doc, const redisReply *extra);

    /* shape a stored doc as a list entry (owns doc) */
    json_t    *(*summary)(ow_op_t *op, json_t *doc);

    /* hash read with the entity on GET and deleted with it, or NULL */
    const char  *extra_key;     /* schema format, e.g. OW_KEY_TRIGGER_RULES */

    unsigned     needs_limits:1;

    /*
     * Whether the stored doc, as it is, answers this GET (no computed
     * fields to add or remove): then it is sent without a parse and a
     * re-serialization. NULL: never.
     */
    int        (*verbatim)(ow_op_t *op, const redisReply *extra);
};

/* generic flows: the collection's handler dispatches to these */
int ow_entity_get(ow_op_t *op, const ow_coll_t *cd);
int ow_entity_put(ow_op_t *op, const ow_coll_t *cd);
int ow_entity_delete(ow_op_t *op, const ow_coll_t *cd);
/* index: schema format + rest (e.g. OW_KEY_INDEX, "actions") */
int ow_entity_list(ow_op_t *op, const ow_coll_t *cd, const char *index_fmt,
    const char *index_rest);

/*
 * The reply of a list script: {"<op->coll>": n} for a count, else each
 * entry shaped by op->cd->summary. For handlers with their own list script.
 */
int ow_entity_list_reply(ow_op_t *op, const redisReply *r);

/* store doc (steals it) with op->rev as the expected revision */
int ow_entity_store(ow_op_t *op, json_t *doc);

/*
 * The fields every entity has: namespace, name, version, publish,
 * annotations, parameters (when with_parameters), updated. Values come from
 * op->json, else op->old, else defaults. Annotations of an update are merged
 * (after delAnnotations) when merge_annotations, else replaced.
 * Returns NULL after finishing the op with 400/413 on a bad field.
 */
json_t *ow_entity_common(ow_op_t *op, int with_parameters,
    int merge_annotations);

/* validate a [{"key":k,"value":v}] array; 1 MB cap (413) */
int ow_check_kv(ow_op_t *op, const json_t *v, const char *field);

/*
 * a semantic version as OpenWhisk reads it, normalized into out
 * ("1.2" -> "1.2.0"); -1 when malformed
 */
int ow_version_parse(const char *v, char *out, size_t len);

/* "0.0.1" -> "0.0.2"; caller frees */
char *ow_version_next(const char *v);

/* the entity's namespace field: "ns" or "ns/pkg" for op->path */
char *ow_entity_namespace(ow_op_t *op);
/* the last path segment of op->path */
const char *ow_entity_name(ow_op_t *op);

/* a field of a summary/shape copied from doc when present */
void ow_copy_fields(json_t *dst, const json_t *src, const char **fields);

#ifdef __cplusplus
}
#endif

#endif /* OW_ENTITY_H */
