/*
 * ow_fire.h: POST /namespaces/{ns}/triggers/{name}, firing a trigger
 * (openwhisk-api.md §3 trigger activations, §4, §6 firesPerMinute).
 */

#ifndef OW_FIRE_H
#define OW_FIRE_H

#include "ow_api.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The durable queue of rule invocations, consumed by the pool-manager
 * (pool-manager/fire_consumer.h). Both lists carry the hash tag {fire}, so
 * the consumer's LMOVE from one to the other stays in one Cluster slot.
 */
#define OW_FIRE_QUEUE       "owx:{fire}:queue"
#define OW_FIRE_PROCESSING  "owx:{fire}:processing"

/* jobs waiting in OW_FIRE_QUEUE beyond which a fire is refused (503) */
#define OW_FIRE_QUEUE_MAX   10000

/* fire payloads are limited like invoke payloads (§6) */
#define OW_FIRE_PAYLOAD_MAX  (1024 * 1024)

/* answer a fire: one Redis round trip (a Lua script) */
int ow_trigger_fire(ow_op_t *op);

#ifdef __cplusplus
}
#endif

#endif /* OW_FIRE_H */
