/*
 * ow_api_activations.c: /namespaces/{ns}/activations (openwhisk-api.md §3, §4).
 */

#include "ow_entity.h"

int
ow_api_activations(ow_op_t *op)
{
    return ow_error(op, 501, "not implemented yet");
}
