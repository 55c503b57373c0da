/*
 * ow_code.h: an action's code too big to live in its document.
 *
 * Redis runs one command at a time: one HSET of a 48 MiB document held it
 * for 0.7 s here (and an EVAL carrying it for 1 s), and every tenant's
 * request waited. So, like OpenWhisk's attachments in CouchDB, code over
 * OW_CODE_INLINE_MAX is stored beside the document, in a hash of
 * OW_CODE_CHUNK pieces (OW_KEY_CODE, field "0", "1", ...), written and read
 * one piece per command: no command then holds Redis for more than a few
 * milliseconds, and no other request on the worker's Redis connection
 * waits behind more than one piece. The document's exec names the pieces:
 *
 *   "exec": {"kind": ..., "binary": ..., "attachment":
 *            {"id": "<32 hex>", "length": <bytes>, "chunks": <n>}}
 *
 * and the entity hash's field "code" holds the pieces' key, so that the
 * put and delete scripts free a replaced code without parsing JSON. The
 * pieces are written under a TTL (a PUT that dies leaves nothing behind);
 * the put script checks all pieces are there and makes them permanent.
 * Readers (GET here, the sidecar's action_store.cc) read the document,
 * then its pieces; pieces that vanished mean the action changed meanwhile:
 * read the document again.
 */

#ifndef OW_CODE_H
#define OW_CODE_H

#include "ow_op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* code up to this size stays in the document (one read for a cold start) */
#define OW_CODE_INLINE_MAX   (64 * 1024)
/* one piece: about 10 ms of Redis here at most, while writing */
#define OW_CODE_CHUNK        (1024 * 1024)
/* how long an upload's pieces wait for the put script (ms) */
#define OW_CODE_UPLOAD_TTL   "300000"
/* how long a deleted action's pieces stay for the DELETE's answer (ms) */
#define OW_CODE_DELETED_TTL  "60000"

/*
 * The document to store for doc: doc itself (a new reference) when its
 * code is small or already an attachment, else a shallow copy whose exec
 * names a new attachment and op set up to upload doc's code. Sets *key to
 * the pieces' key (caller frees; NULL: no attachment) and *chunks.
 */
json_t *ow_code_detach(ow_op_t *op, json_t *doc, char **key, size_t *chunks);

/*
 * Upload the pieces set up by ow_code_detach(), one step each, then call
 * next(op, NULL).
 */
int ow_code_upload(ow_op_t *op, ow_step_pt next);

/* whether a stored document's exec names an attachment */
int ow_code_attached(const json_t *doc);

/*
 * Read the attachment of doc (a stored document; the op keeps it) and put
 * it back in as exec.code, then call next(op, NULL); the document is
 * op->keep's "attached". Returns the first step.
 */
int ow_code_fetch(ow_op_t *op, json_t *doc, ow_step_pt next,
    ow_step_pt reread);

#ifdef __cplusplus
}
#endif

#endif /* OW_CODE_H */
