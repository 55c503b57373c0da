/*
 * ow_scripts.h: the Lua scripts behind every multi-key read and every write
 * (atomic, one round trip). Keys built inside a script carry the hash tag of
 * KEYS[1], so they hash to the same Redis Cluster slot.
 *
 * Errors come back as error replies whose first word is the code (Redis
 * prefixes one-word errors with "ERR"; test with ow_reply_is()): "EXISTS"
 * (create without overwrite),
 * "COLL" (the name belongs to another collection), "CONFLICT" (revision
 * changed since it was read), "NOTEMPTY <n>" (package delete).
 */

#ifndef OW_SCRIPTS_H
#define OW_SCRIPTS_H

#include "ow_op.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * put: KEYS entity, index, version[, package index]
 * ARGV coll, expected rev (-1 create only, 0 must not exist, n), doc,
 *      updated, index member, ns, package index member (or ""), summary,
 *      code key (or "": the code is in the doc), its number of pieces
 * -> new rev, or error COLL / EXISTS / CONFLICT / CODE (pieces missing)
 *
 * The summary (the list entry, e.g. an action without its code) is stored
 * beside the doc so that lists never move code. The code key (ow_code.h)
 * shares the entity's hash tag; a replaced one is unlinked.
 */
extern ow_script_t  ow_script_put;

/*
 * code_piece: KEYS code key; ARGV piece number, bytes, TTL ms -> 1
 * (a piece of an upload; the put script makes the pieces permanent)
 */
extern ow_script_t  ow_script_code_piece;

/*
 * get: KEYS entity[, extra hash] -> {coll, doc, rev, {field, value, ...}}
 * or nil when the entity does not exist
 */
extern ow_script_t  ow_script_get;

/*
 * del: KEYS entity, index, version[, package index[, extra key]]
 * ARGV coll, index member, ns[, package index member]
 * -> the deleted doc, or nil when it did not exist
 *
 * The doc's code pieces (ow_code.h) outlive it by OW_CODE_DELETED_TTL ms:
 * long enough for the DELETE's answer to show the code, as OpenWhisk's
 * does, and nobody else reads them.
 */
extern ow_script_t  ow_script_del;

/*
 * list: KEYS index; ARGV entity key prefix, skip, limit, count (0/1)
 * -> count, or {summary (doc if none), ...} newest first (missing skipped)
 */
extern ow_script_t  ow_script_list;

#ifdef __cplusplus
}
#endif

#endif /* OW_SCRIPTS_H */
