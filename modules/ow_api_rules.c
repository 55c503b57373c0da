/*
 * ow_api_rules.c: /namespaces/{ns}/rules (openwhisk-api.md §3, §4).
 */

#include "ow_entity.h"

int
ow_api_rules(ow_op_t *op)
{
    return ow_error(op, 501, "not implemented yet");
}
