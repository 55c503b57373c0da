/*
 * ow_warm.h: the warm-container table as the pool-manager publishes it
 * (Redis hash owx:{warm}, channel owx:warm:events; docs/redis-schema.md),
 * parsed without nginx, and the choice of a container for a request.
 */

#ifndef OW_WARM_H
#define OW_WARM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OW_WARM_KEY            "owx:{warm}"
#define OW_WARM_VERSION_KEY    "owx:{warm}:ver"
#define OW_WARM_CHANNEL        "owx:warm:events"

#define OW_WARM_ID_MAX         48
#define OW_WARM_ACTION_MAX     800     /* ns/pkg/name, each <= 256 */

typedef enum {
    OW_WARM_ADD = 1,
    OW_WARM_DEL
} ow_warm_op_e;

typedef struct {
    ow_warm_op_e   op;
    int64_t        version;            /* 0 in table entries */
    char           id[OW_WARM_ID_MAX];
    char           action[OW_WARM_ACTION_MAX];
    uint32_t       ip;                 /* network order */
    uint16_t       port;               /* host order */
    int            concurrency;
} ow_warm_entry_t;

/*
 * An event {"v","op","id","action","addr","concurrency"} or a table entry
 * {"id","action","addr","concurrency",...}. Returns 0, or -1 when it is not
 * one (addr must be an IPv4 literal with a port).
 */
int ow_warm_parse(const char *json, size_t len, ow_warm_entry_t *e);

typedef struct {
    int            concurrency;
    int            inflight;           /* this gateway's estimate */
    int            busy;               /* said 429 recently */
    int            tried;              /* already tried for this request */
} ow_warm_slot_t;

/*
 * The container with the most free slots that is neither busy nor tried;
 * -1 when none. A full container (no free slot) is still a candidate, last:
 * its sidecar buffers a little and says 429 with Retry-After when it
 * cannot.
 */
int ow_warm_pick(const ow_warm_slot_t *slots, int n);

#ifdef __cplusplus
}
#endif

#endif /* OW_WARM_H */
