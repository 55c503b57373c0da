/*
 * ow_api_connections.c: /namespaces/{ns}/connections/{id}, the WebSocket
 * connections a sidecar holds (POST pushes a message, DELETE closes, GET
 * reads). The engine checks the request and reads the connection's
 * registry key (OW_KEY_CONNECTION); the sidecar holding the connection
 * answers, so the op ends in op->forward, the container to hand the
 * request to, which the glue finds in its warm table
 * (ngx_http_ow_api_module.c). Any gateway can serve it, whichever holds
 * the client's connection.
 */

#include <stdlib.h>
#include <string.h>

#include "ow_api_handlers.h"
#include "ow_schema.h"
#include "ow_warm.h"

/* a message is an invocation's payload: the same bound */
#define OW_CONNECTION_BODY_MAX  1048576
#define OW_CONNECTION_ID_LEN    32

static int
ow_connection_id_valid(const char *id)
{
    size_t  i;

    for (i = 0; id[i]; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')
              || (id[i] >= 'A' && id[i] <= 'F')))
        {
            return 0;
        }
    }
    return i == OW_CONNECTION_ID_LEN;
}

static int
ow_connection_found(ow_op_t *op, const redisReply *reply)
{
    json_t      *doc;
    const char  *container;

    if (reply->type == REDIS_REPLY_NIL) {
        /* never was, closed, or expired */
        return ow_not_found(op);
    }
    if (reply->type != REDIS_REPLY_STRING) {
        return ow_error(op, 503, OW_MSG_UNAVAILABLE);
    }

    doc = json_loadb(reply->str, reply->len, 0, NULL);
    container = json_string_value(json_object_get(doc, "container"));
    if (container == NULL || container[0] == '\0'
        || strlen(container) >= OW_WARM_ID_MAX)
    {
        /* no sidecar to ask: as good as gone */
        json_decref(doc);
        return ow_not_found(op);
    }

    op->forward = strdup(container);
    json_decref(doc);
    if (op->forward == NULL) {
        return ow_error(op, 500, "out of memory");
    }

    op->status = 200;
    op->next = NULL;
    return OW_STEP_DONE;
}

int
ow_api_connections(ow_op_t *op)
{
    char  *key;
    int    rc;

    if (op->path == NULL || strchr(op->path, '/')
        || !ow_connection_id_valid(op->path))
    {
        /* there is no list of connections: only ids name one */
        return ow_not_found(op);
    }

    if (op->method != OW_GET && op->method != OW_POST
        && op->method != OW_DELETE)
    {
        return ow_error(op, 405, "HTTP method not allowed, supported "
                        "methods: GET, POST, DELETE");
    }

    if (op->body_len > OW_CONNECTION_BODY_MAX) {
        /* the location's client_max_body_size says it first */
        return ow_error(op, 413, "Request larger than allowed: %zu > %d "
                        "bytes.", op->body_len, OW_CONNECTION_BODY_MAX);
    }

    key = ow_key(OW_KEY_CONNECTION, op->ns, op->path);
    if (key == NULL) {
        return ow_error(op, 500, "out of memory");
    }
    rc = ow_redisf(op, ow_connection_found, "GET %s", key);
    free(key);
    return rc;
}
