/*
 * ow_warm.h: the warm-container table as the pool-manager publishes it
 * (OW_KEY_WARM, OW_CHANNEL_WARM in ow_schema.h; docs/redis-schema.md),
 * parsed without nginx, and the choice of a container for a request.
 */

#ifndef OW_WARM_H
#define OW_WARM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
    int            marked;             /* marked for collection */
} ow_warm_entry_t;

/*
 * An event {"v","op","id","action","addr","concurrency"} or a table entry
 * {"id","action","addr","concurrency",...}. Returns 0, or -1 when it is not
 * one (addr must be an IPv4 literal with a port). Ops "mark" and "unmark"
 * (the garbage collector's) carry the whole entry: they are adds that set
 * or clear "marked", as does "marked":true in an entry or an add.
 */
int ow_warm_parse(const char *json, size_t len, ow_warm_entry_t *e);

typedef struct {
    int            concurrency;
    int            inflight;           /* this gateway's estimate */
    int            busy;               /* said 429 recently */
    int            tried;              /* already tried for this request */
    int            marked;             /* marked for collection */
} ow_warm_slot_t;

/*
 * The container with the most free slots that is neither busy nor tried;
 * -1 when none. A full container (no free slot) is still a candidate, last:
 * its sidecar buffers a little and says 429 with Retry-After when it
 * cannot. A marked container is chosen only when no unmarked one is a
 * candidate (the caller then asks for it to be unmarked).
 */
int ow_warm_pick(const ow_warm_slot_t *slots, int n);

/*
 * The RESP command "HSET " OW_KEY_WARM_UNMARK " <id> <now_ms>" into buf: its
 * length, or 0 when it does not fit.
 */
size_t ow_warm_unmark_command(char *buf, size_t size, const char *id,
    size_t id_len, int64_t now_ms);

#ifdef __cplusplus
}
#endif

#endif /* OW_WARM_H */
