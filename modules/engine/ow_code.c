/*
 * ow_code.c: an action's code stored beside its document in pieces
 * (ow_code.h says why and how).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ow_code.h"
#include "ow_exec.h"
#include "ow_schema.h"
#include "ow_scripts.h"

/* after this many documents replaced under a reader, it gives up */
#define OW_CODE_REREADS  3

static int
ow_code_id_valid(const char *id)
{
    size_t  i;

    for (i = 0; id[i]; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
        {
            return 0;
        }
    }
    return i == 32;
}

/* the attachment's key, length and pieces; -1 when it is malformed */
static int
ow_code_attachment(ow_op_t *op, const json_t *att, char **key, size_t *len,
    size_t *chunks)
{
    const char  *id;
    json_int_t   n, c;

    id = json_string_value(json_object_get(att, "id"));
    n = json_integer_value(json_object_get(att, "length"));
    c = json_integer_value(json_object_get(att, "chunks"));

    if (id == NULL || !ow_code_id_valid(id) || n < 0 || n > OW_EXEC_MAX
        || c != (n + OW_CODE_CHUNK - 1) / OW_CODE_CHUNK)
    {
        return -1;
    }

    *key = ow_key(OW_KEY_CODE, op->ns, id);
    *len = (size_t) n;
    *chunks = (size_t) c;
    return *key ? 0 : -1;
}

int
ow_code_attached(const json_t *doc)
{
    return json_is_object(json_object_get(json_object_get(doc, "exec"),
                                          "attachment"));
}

json_t *
ow_code_detach(ow_op_t *op, json_t *doc, char **key, size_t *chunks)
{
    unsigned char  rnd[16];
    char           id[33];
    json_t        *exec, *code, *att, *stored, *sexec;
    size_t         len, i;

    *key = NULL;
    *chunks = 0;

    exec = json_object_get(doc, "exec");
    att = json_object_get(exec, "attachment");
    if (json_is_object(att)) {
        /* an update that keeps its stored code keeps its pieces */
        if (ow_code_attachment(op, att, key, &len, chunks) != 0) {
            return NULL;
        }
        return json_incref(doc);
    }

    code = json_object_get(exec, "code");
    if (!json_is_string(code) || json_string_length(code) <= OW_CODE_INLINE_MAX)
    {
        return json_incref(doc);
    }

    /* the pieces' name only has to be unique, not secret */
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd)) {
        return NULL;
    }
    for (i = 0; i < sizeof(rnd); i++) {
        snprintf(id + 2 * i, 3, "%02x", rnd[i]);
    }

    len = json_string_length(code);
    *chunks = (len + OW_CODE_CHUNK - 1) / OW_CODE_CHUNK;
    *key = ow_key(OW_KEY_CODE, op->ns, id);
    if (*key == NULL) {
        return NULL;
    }

    /* shallow copies: the code string itself is shared, not copied */
    sexec = json_copy(exec);
    stored = json_copy(doc);
    if (sexec == NULL || stored == NULL) {
        json_decref(sexec);
        json_decref(stored);
        free(*key);
        *key = NULL;
        return NULL;
    }
    json_object_del(sexec, "code");
    json_object_set_new(sexec, "attachment",
                        json_pack("{s:s, s:I, s:I}", "id", id,
                                  "length", (json_int_t) len,
                                  "chunks", (json_int_t) *chunks));
    json_object_set_new(stored, "exec", sexec);

    /* doc stays alive in the op (ow_entity_store keeps it to answer) */
    free(op->code_key);
    op->code_key = strdup(*key);
    op->code_src = json_string_value(code);
    op->code_len = len;
    op->code_chunks = *chunks;
    op->code_next = 0;
    op->heavy = 1;
    return stored;
}

static int
ow_code_put_piece(ow_op_t *op, const redisReply *r)
{
    const char  *argv[4];
    size_t       argvlen[4], off, n;
    char         field[24];

    if (r && r->type == REDIS_REPLY_ERROR) {
        return ow_error(op, 500, "entity store error");
    }
    if (op->code_next == op->code_chunks) {
        return op->code_then(op, NULL);
    }

    off = op->code_next * OW_CODE_CHUNK;
    n = op->code_len - off < OW_CODE_CHUNK ? op->code_len - off
                                           : OW_CODE_CHUNK;
    snprintf(field, sizeof(field), "%zu", op->code_next++);

    argv[0] = op->code_key;
    argvlen[0] = strlen(op->code_key);
    argv[1] = field;
    argvlen[1] = strlen(field);
    argv[2] = op->code_src + off;
    argvlen[2] = n;
    argv[3] = OW_CODE_UPLOAD_TTL;
    argvlen[3] = sizeof(OW_CODE_UPLOAD_TTL) - 1;

    if (op->code_next == 1) {
        /* the first piece sets the upload's TTL with it, atomically */
        return ow_script(op, ow_code_put_piece, &ow_script_code_piece, 1, 4,
                         argv, argvlen);
    }

    /* the others: a plain HSET keeps the TTL, and Redis copies no Lua string */
    return ow_redis(op, ow_code_put_piece, 4,
                    (const char *[]) { "HSET", argv[0], argv[1], argv[2] },
                    (const size_t []) { 4, argvlen[0], argvlen[1], n });
}

int
ow_code_upload(ow_op_t *op, ow_step_pt next)
{
    op->code_then = next;
    return ow_code_put_piece(op, NULL);
}

static int
ow_code_get_piece(ow_op_t *op, const redisReply *r)
{
    json_t  *doc, *exec;
    size_t   off, n;

    if (r) {
        off = (op->code_next - 1) * OW_CODE_CHUNK;
        n = op->code_len - off < OW_CODE_CHUNK ? op->code_len - off
                                               : OW_CODE_CHUNK;

        if (r->type == REDIS_REPLY_NIL) {
            /* the document was replaced (or deleted) since it was read */
            free(op->code_buf);
            op->code_buf = NULL;
            if (op->code_reread == NULL) {
                /* the answer of a write: the document without its code */
                doc = json_object_get(op->keep, "attached");
                json_object_del(json_object_get(doc, "exec"), "attachment");
                return op->code_then(op, NULL);
            }
            if (op->code_reread && op->code_rereads++ < OW_CODE_REREADS) {
                json_object_del(op->keep, "attached");
                return op->code_reread(op, NULL);
            }
            return ow_error(op, 409, OW_MSG_CONFLICT);
        }
        if (r->type != REDIS_REPLY_STRING || r->len != n) {
            return ow_error(op, 500, "corrupt action code");
        }
        memcpy(op->code_buf + off, r->str, n);
    }

    if (op->code_next < op->code_chunks) {
        return ow_redisf(op, ow_code_get_piece, "HGET %s %d", op->code_key,
                         (int) op->code_next++);
    }

    doc = json_object_get(op->keep, "attached");
    exec = json_object_get(doc, "exec");
    json_object_del(exec, "attachment");
    json_object_set_new(exec, "code",
                        json_stringn_nocheck(op->code_buf, op->code_len));
    free(op->code_buf);
    op->code_buf = NULL;
    return op->code_then(op, NULL);
}

int
ow_code_fetch(ow_op_t *op, json_t *doc, ow_step_pt next, ow_step_pt reread)
{
    json_t  *att;
    char    *key;
    size_t   len, chunks;

    att = json_object_get(json_object_get(doc, "exec"), "attachment");
    if (ow_code_attachment(op, att, &key, &len, &chunks) != 0) {
        json_decref(doc);
        return ow_error(op, 500, "corrupt entity document");
    }

    json_object_set_new(op->keep, "attached", doc);
    free(op->code_key);
    free(op->code_buf);
    op->code_key = key;
    op->code_buf = malloc(len ? len : 1);
    if (op->code_buf == NULL) {
        return ow_error(op, 500, "out of memory");
    }
    op->code_len = len;
    op->code_chunks = chunks;
    op->code_next = 0;
    op->code_then = next;
    op->code_reread = reread;
    op->heavy |= len > OW_CODE_CHUNK;
    return ow_code_get_piece(op, NULL);
}
