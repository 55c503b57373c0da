/*
 * ow_fire.h: POST /namespaces/{ns}/triggers/{name}, firing a trigger
 * (openwhisk-api.md §3 trigger activations, §4, §6 firesPerMinute).
 */

#ifndef OW_FIRE_H
#define OW_FIRE_H

#include "ow_op.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * jobs waiting in OW_KEY_FIRE_QUEUE (ow_schema.h) beyond which a fire is
 * refused (503)
 */
#define OW_FIRE_QUEUE_MAX   10000

/* fire payloads are limited like invoke payloads (§6) */
#define OW_FIRE_PAYLOAD_MAX  (1024 * 1024)

/* answer a fire: one Redis round trip (a Lua script) */
int ow_trigger_fire(ow_op_t *op);

#ifdef __cplusplus
}
#endif

#endif /* OW_FIRE_H */
