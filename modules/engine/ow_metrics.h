/*
 * ow_metrics.h: the gateway's metrics as they sit in shared memory, and
 * their Prometheus text exposition (nginx-free, unit tested).
 *
 * Every value is a machine word changed with an atomic add (the nginx glue
 * uses ngx_atomic_fetch_add, the same GCC builtin), so the warm path takes
 * no lock. Per-action values live in a fixed table of label sets (one
 * namespace + action + initiator each, or one namespace for the limit
 * counters) claimed once with a compare-and-set and never freed while the
 * zone lives.
 *
 * Cardinality is bounded by the table: a label set that finds no free slot
 * within OW_M_PROBES probes (the table is full or that neighbourhood is)
 * is counted in the "_other" set instead (namespace="_other",
 * action="_other", initiator="_other"), and owx_metrics_label_sets_dropped
 * _total says how often. With 100,000 actions and a 1 MB zone (1,649
 * slots of 608 bytes) the first ~1,650 label sets seen since nginx started
 * keep their own series and every later one is summed into "_other": totals
 * stay right, the per-action breakdown covers the first actions only, and a
 * scrape stays about 2.6 KB per slot (4.3 MB measured) however many actions
 * there are.
 */

#ifndef OW_METRICS_H
#define OW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* the same representation as ngx_atomic_t with GCC atomics */
typedef volatile unsigned long  ow_metric_t;

#define OW_M_ADD(p, v)  ((void) __sync_fetch_and_add((p), (v)))

/* Prometheus' default buckets (what OpenWhisk's user-events use) */
#define OW_M_BUCKETS    14
extern const double ow_metrics_le[OW_M_BUCKETS];

typedef struct {
    ow_metric_t  bucket[OW_M_BUCKETS + 1];  /* not cumulative; last: +Inf */
    ow_metric_t  sum_us;
    ow_metric_t  count;
} ow_hist_t;

/* per label set counters */
enum {
    OW_M_ACTIVATIONS = 0,
    OW_M_COLD_STARTS,
    OW_M_SUCCESS,
    OW_M_APPLICATION_ERROR,
    OW_M_DEVELOPER_ERROR,
    OW_M_INTERNAL_ERROR,
    OW_M_LIMIT_CONCURRENT,
    OW_M_LIMIT_TIMED,
    OW_M_NCOUNTERS
};

#define OW_M_KEY_MAX    384
#define OW_M_PROBES     32
#define OW_M_WORKERS    64

enum { OW_M_FREE = 0, OW_M_CLAIMING, OW_M_READY };

typedef struct {
    ow_metric_t  state;
    uint32_t     hash;
    uint16_t     ns_len;
    uint16_t     action_len;       /* 0: a namespace's set (limits) */
    uint16_t     initiator_len;
    char         key[OW_M_KEY_MAX];   /* ns, action, initiator */
    ow_metric_t  c[OW_M_NCOUNTERS];
    ow_hist_t    latency;
} ow_m_set_t;

enum { OW_M_AUTH_HIT = 0, OW_M_AUTH_MISS, OW_M_AUTH_REJECTED, OW_M_AUTH_N };
enum { OW_M_CAP_OK = 0, OW_M_CAP_FAILED, OW_M_CAP_N };

typedef struct {
    ow_metric_t  auth[OW_M_AUTH_N];
    ow_metric_t  parked;            /* gauge: waiting for capacity now */
    ow_metric_t  parked_total;
    ow_hist_t    park;              /* how long the wait took */
    ow_metric_t  retries_429;
    ow_metric_t  capacity[OW_M_CAP_N];
    ow_metric_t  warm_containers;   /* gauges, plain stores */
    ow_metric_t  warm_seen;
    ow_metric_t  warm_applied;
    ow_metric_t  redis[OW_M_WORKERS];   /* 0 unknown, 1 down, 2 up */
    ow_metric_t  responses[6];      /* 1xx .. 5xx, other */
    ow_metric_t  dropped;           /* label sets counted in "_other" */
    ow_metric_t  nsets;
    ow_m_set_t   sets[1];           /* [0] "_other" namespace,
                                       [1] "_other" action, then hashed */
} ow_metrics_t;

/* bytes needed for a table of nsets slots (at least 3) */
size_t ow_metrics_size(unsigned long nsets);
/* how many slots fit in size bytes (0 if fewer than 3) */
unsigned long ow_metrics_fit(size_t size);
/* m zeroed, of ow_metrics_size(nsets) bytes */
void ow_metrics_init(ow_metrics_t *m, unsigned long nsets);

/*
 * The set of these labels, claimed if new; "_other" when the table has no
 * room near its hash or the labels are longer than OW_M_KEY_MAX. Never NULL.
 * action NULL/empty: a namespace's set.
 */
ow_m_set_t *ow_metrics_set(ow_metrics_t *m, const char *ns, size_t ns_len,
    const char *action, size_t action_len, const char *initiator,
    size_t initiator_len);

void ow_metrics_observe(ow_hist_t *h, uint64_t us);

/* the response status class counter index of an HTTP status */
unsigned ow_metrics_class(unsigned status);

/*
 * The Prometheus text exposition (format 0.0.4) of m: a malloc'ed,
 * NUL-terminated string (free() it), *len its length; NULL when out of
 * memory.
 */
char *ow_metrics_format(const ow_metrics_t *m, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* OW_METRICS_H */
