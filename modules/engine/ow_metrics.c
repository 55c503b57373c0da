/*
 * ow_metrics.c: see ow_metrics.h.
 */

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ow_metrics.h"

const double ow_metrics_le[OW_M_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10
};

static const char *ow_metrics_other = "_other";

size_t
ow_metrics_size(unsigned long nsets)
{
    if (nsets < 3) {
        nsets = 3;
    }
    return offsetof(ow_metrics_t, sets) + nsets * sizeof(ow_m_set_t);
}

unsigned long
ow_metrics_fit(size_t size)
{
    unsigned long  n;

    if (size < ow_metrics_size(3)) {
        return 0;
    }
    n = (size - offsetof(ow_metrics_t, sets)) / sizeof(ow_m_set_t);
    return n;
}

static void
ow_metrics_set_key(ow_m_set_t *s, const char *ns, size_t ns_len,
    const char *action, size_t action_len, const char *initiator,
    size_t initiator_len)
{
    memcpy(s->key, ns, ns_len);
    memcpy(s->key + ns_len, action, action_len);
    memcpy(s->key + ns_len + action_len, initiator, initiator_len);
    s->ns_len = (uint16_t) ns_len;
    s->action_len = (uint16_t) action_len;
    s->initiator_len = (uint16_t) initiator_len;
}

void
ow_metrics_init(ow_metrics_t *m, unsigned long nsets)
{
    size_t  o = strlen(ow_metrics_other);

    m->nsets = nsets < 3 ? 3 : nsets;
    ow_metrics_set_key(&m->sets[0], ow_metrics_other, o, "", 0, "", 0);
    m->sets[0].state = OW_M_READY;
    ow_metrics_set_key(&m->sets[1], ow_metrics_other, o, ow_metrics_other, o,
                       ow_metrics_other, o);
    m->sets[1].state = OW_M_READY;
}

/* FNV-1a over the three labels, a 0 byte between them */
static uint32_t
ow_metrics_hash(const char *a, size_t al, const char *b, size_t bl,
    const char *c, size_t cl)
{
    uint32_t  h = 2166136261u;
    size_t    i;

    for (i = 0; i < al; i++) { h = (h ^ (unsigned char) a[i]) * 16777619u; }
    h *= 16777619u;
    for (i = 0; i < bl; i++) { h = (h ^ (unsigned char) b[i]) * 16777619u; }
    h *= 16777619u;
    for (i = 0; i < cl; i++) { h = (h ^ (unsigned char) c[i]) * 16777619u; }
    return h;
}

static int
ow_metrics_is(const ow_m_set_t *s, uint32_t hash, const char *ns,
    size_t ns_len, const char *action, size_t action_len,
    const char *initiator, size_t initiator_len)
{
    return s->hash == hash && s->ns_len == ns_len
           && s->action_len == action_len
           && s->initiator_len == initiator_len
           && memcmp(s->key, ns, ns_len) == 0
           && memcmp(s->key + ns_len, action, action_len) == 0
           && memcmp(s->key + ns_len + action_len, initiator,
                     initiator_len) == 0;
}

ow_m_set_t *
ow_metrics_set(ow_metrics_t *m, const char *ns, size_t ns_len,
    const char *action, size_t action_len, const char *initiator,
    size_t initiator_len)
{
    ow_m_set_t     *s, *other;
    uint32_t        hash;
    unsigned long   n, i, spin;

    if (action == NULL) {
        action = "";
        action_len = 0;
    }
    if (action_len == 0) {
        initiator = "";
        initiator_len = 0;
    }
    other = &m->sets[action_len ? 1 : 0];

    if (ns_len + action_len + initiator_len > OW_M_KEY_MAX) {
        OW_M_ADD(&m->dropped, 1);
        return other;
    }

    n = m->nsets - 2;
    hash = ow_metrics_hash(ns, ns_len, action, action_len, initiator,
                           initiator_len);

    for (i = 0; i < OW_M_PROBES && i < n; i++) {
        s = &m->sets[2 + (hash + i) % n];

        if (s->state == OW_M_FREE
            && __sync_bool_compare_and_swap(&s->state, OW_M_FREE,
                                            OW_M_CLAIMING))
        {
            /* ours: fill in the key, then publish it */
            s->hash = hash;
            ow_metrics_set_key(s, ns, ns_len, action, action_len, initiator,
                               initiator_len);
            __sync_synchronize();
            s->state = OW_M_READY;
            return s;
        }

        /*
         * Another worker is writing this slot's key: a few copies at most,
         * unless it was descheduled meanwhile (then give it the CPU). Never
         * move on to claim a second slot for what may be the same key.
         */
        for (spin = 0; s->state == OW_M_CLAIMING && spin < 100000; spin++) {
            if (spin >= 64) {
                sched_yield();
            }
            __sync_synchronize();
        }
        if (s->state == OW_M_CLAIMING) {
            /* its writer died mid-copy (a crashed worker): count as other */
            OW_M_ADD(&m->dropped, 1);
            return other;
        }

        if (s->state == OW_M_READY
            && ow_metrics_is(s, hash, ns, ns_len, action, action_len,
                             initiator, initiator_len))
        {
            return s;
        }
    }

    OW_M_ADD(&m->dropped, 1);
    return other;
}

void
ow_metrics_observe(ow_hist_t *h, uint64_t us)
{
    unsigned  i;

    for (i = 0; i < OW_M_BUCKETS; i++) {
        if ((double) us <= ow_metrics_le[i] * 1e6) {
            break;
        }
    }
    OW_M_ADD(&h->bucket[i], 1);
    OW_M_ADD(&h->sum_us, us);
    OW_M_ADD(&h->count, 1);
}

unsigned
ow_metrics_class(unsigned status)
{
    return (status >= 100 && status < 600) ? status / 100 - 1 : 5;
}

/* ---- exposition ---- */

typedef struct {
    char    *p;
    size_t   len;
    size_t   size;
    int      failed;
} ow_m_buf_t;

static void
ow_m_printf(ow_m_buf_t *b, const char *fmt, ...)
{
    va_list  ap;
    int      n;
    char    *p;
    size_t   size;

    for ( ;; ) {
        if (b->failed) {
            return;
        }
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->size - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t) n < b->size - b->len) {
            b->len += n;
            return;
        }
        size = b->size * 2 + n;
        p = realloc(b->p, size);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->size = size;
    }
}

/* a label value, escaped as the text format wants (\\, \", \n) */
static void
ow_m_value(ow_m_buf_t *b, const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        switch (s[i]) {
        case '\\': ow_m_printf(b, "\\\\"); break;
        case '"':  ow_m_printf(b, "\\\""); break;
        case '\n': ow_m_printf(b, "\\n"); break;
        default:   ow_m_printf(b, "%c", s[i]);
        }
    }
}

static void
ow_m_head(ow_m_buf_t *b, const char *name, const char *type,
    const char *help)
{
    ow_m_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* {namespace="..",initiator="..",action=".." (no closing brace) */
static void
ow_m_labels(ow_m_buf_t *b, const ow_m_set_t *s)
{
    ow_m_printf(b, "{namespace=\"");
    ow_m_value(b, s->key, s->ns_len);
    if (s->action_len) {
        ow_m_printf(b, "\",initiator=\"");
        ow_m_value(b, s->key + s->ns_len + s->action_len, s->initiator_len);
        ow_m_printf(b, "\",action=\"");
        ow_m_value(b, s->key + s->ns_len, s->action_len);
    }
    ow_m_printf(b, "\"");
}

static void
ow_m_hist(ow_m_buf_t *b, const char *name, const ow_hist_t *h,
    const ow_m_set_t *s)
{
    unsigned long  cum = 0;
    unsigned       i;

    for (i = 0; i <= OW_M_BUCKETS; i++) {
        cum += h->bucket[i];
        ow_m_printf(b, "%s_bucket", name);
        if (s) {
            ow_m_labels(b, s);
            ow_m_printf(b, ",");
        } else {
            ow_m_printf(b, "{");
        }
        if (i < OW_M_BUCKETS) {
            ow_m_printf(b, "le=\"%g\"} %lu\n", ow_metrics_le[i], cum);
        } else {
            ow_m_printf(b, "le=\"+Inf\"} %lu\n", cum);
        }
    }
    ow_m_printf(b, "%s_sum", name);
    if (s) {
        ow_m_labels(b, s);
        ow_m_printf(b, "}");
    }
    ow_m_printf(b, " %.6f\n%s_count", (double) h->sum_us / 1e6, name);
    if (s) {
        ow_m_labels(b, s);
        ow_m_printf(b, "}");
    }
    /* +Inf and _count from one read, so they agree */
    ow_m_printf(b, " %lu\n", cum);
}

static int
ow_m_used(const ow_m_set_t *s, int actions)
{
    return s->state == OW_M_READY && (s->action_len != 0) == actions;
}

static void
ow_m_counter(ow_m_buf_t *b, const ow_metrics_t *m, const char *name,
    const char *help, unsigned c, int actions, const char *extra)
{
    unsigned long  i;

    ow_m_head(b, name, "counter", help);
    for (i = 0; i < m->nsets; i++) {
        if (!ow_m_used(&m->sets[i], actions)
            || (m->sets[i].c[c] == 0 && i < 2))
        {
            continue;
        }
        ow_m_printf(b, "%s", name);
        ow_m_labels(b, &m->sets[i]);
        ow_m_printf(b, "%s} %lu\n", extra ? extra : "", m->sets[i].c[c]);
    }
}

char *
ow_metrics_format(const ow_metrics_t *m, size_t *len)
{
    static const char  *status[] = { "success", "application_error",
                                     "action_developer_error",
                                     "whisk_internal_error" };
    static const char  *auth[] = { "hit", "miss", "rejected" };
    ow_m_buf_t          b;
    unsigned long       i;
    unsigned            k;
    char                extra[64];

    b.size = 16384;
    b.len = 0;
    b.failed = 0;
    b.p = malloc(b.size);
    if (b.p == NULL) {
        return NULL;
    }
    b.p[0] = '\0';

    /* OpenWhisk user-events families (openwhisk-api.md §12) */
    ow_m_counter(&b, m, "openwhisk_action_activations_total",
                 "Activations answered through this gateway.",
                 OW_M_ACTIVATIONS, 1, NULL);
    ow_m_counter(&b, m, "openwhisk_action_coldStarts_total",
                 "Activations that waited for a new container.",
                 OW_M_COLD_STARTS, 1, NULL);

    ow_m_head(&b, "openwhisk_action_status", "counter",
              "Blocking activations by outcome.");
    for (i = 0; i < m->nsets; i++) {
        if (!ow_m_used(&m->sets[i], 1)) {
            continue;
        }
        for (k = 0; k < 4; k++) {
            if (m->sets[i].c[OW_M_SUCCESS + k] == 0) {
                continue;
            }
            ow_m_printf(&b, "openwhisk_action_status");
            ow_m_labels(&b, &m->sets[i]);
            ow_m_printf(&b, ",status=\"%s\"} %lu\n", status[k],
                        m->sets[i].c[OW_M_SUCCESS + k]);
        }
    }

    ow_m_counter(&b, m, "openwhisk_action_limit_concurrent_total",
                 "Invocations refused: too many concurrent requests.",
                 OW_M_LIMIT_CONCURRENT, 0, NULL);
    ow_m_counter(&b, m, "openwhisk_action_limit_timed_total",
                 "Invocations refused: too many requests in the minute.",
                 OW_M_LIMIT_TIMED, 0, NULL);

    /* owx's own */
    ow_m_head(&b, "owx_action_latency_seconds", "histogram",
              "Invocation time seen by the gateway, arrival to response.");
    for (i = 0; i < m->nsets; i++) {
        if (ow_m_used(&m->sets[i], 1) && m->sets[i].latency.count) {
            ow_m_hist(&b, "owx_action_latency_seconds", &m->sets[i].latency,
                      &m->sets[i]);
        }
    }

    ow_m_head(&b, "owx_http_responses_total", "counter",
              "Responses of the gateway by status class.");
    for (k = 0; k < 6; k++) {
        ow_m_printf(&b, "owx_http_responses_total{code=\"%s\"} %lu\n",
                    k < 5 ? (const char *[]) { "1xx", "2xx", "3xx", "4xx",
                                               "5xx" }[k] : "other",
                    m->responses[k]);
    }

    ow_m_head(&b, "owx_auth_total", "counter",
              "Authentications: verdict cache hits, misses (asked the "
              "auth location), rejected keys.");
    for (k = 0; k < OW_M_AUTH_N; k++) {
        ow_m_printf(&b, "owx_auth_total{result=\"%s\"} %lu\n", auth[k],
                    m->auth[k]);
    }

    ow_m_head(&b, "owx_parked_requests", "gauge",
              "Requests waiting for a container now.");
    ow_m_printf(&b, "owx_parked_requests %ld\n", (long) m->parked);
    ow_m_head(&b, "owx_parked_requests_total", "counter",
              "Requests that waited for a container.");
    ow_m_printf(&b, "owx_parked_requests_total %lu\n", m->parked_total);
    ow_m_head(&b, "owx_park_seconds", "histogram",
              "How long requests waited for a container.");
    ow_m_hist(&b, "owx_park_seconds", &m->park, NULL);

    ow_m_head(&b, "owx_container_429_total", "counter",
              "429 answers of containers (the request moves on to another "
              "container).");
    ow_m_printf(&b, "owx_container_429_total %lu\n", m->retries_429);

    ow_m_head(&b, "owx_capacity_requests_total", "counter",
              "Capacity (cold start) requests to the pool-manager.");
    ow_m_printf(&b, "owx_capacity_requests_total{result=\"ok\"} %lu\n"
                "owx_capacity_requests_total{result=\"failed\"} %lu\n",
                m->capacity[OW_M_CAP_OK], m->capacity[OW_M_CAP_FAILED]);

    ow_m_head(&b, "owx_warm_containers", "gauge",
              "Containers in the warm table.");
    ow_m_printf(&b, "owx_warm_containers %lu\n", m->warm_containers);
    ow_m_head(&b, "owx_warm_version", "gauge",
              "Warm table event versions: last seen, last applied.");
    ow_m_printf(&b, "owx_warm_version{which=\"seen\"} %lu\n"
                "owx_warm_version{which=\"applied\"} %lu\n",
                m->warm_seen, m->warm_applied);
    ow_m_head(&b, "owx_warm_event_lag", "gauge",
              "Events seen but not applied (a gap waits for a resync).");
    ow_m_printf(&b, "owx_warm_event_lag %lu\n",
                m->warm_seen > m->warm_applied
                ? m->warm_seen - m->warm_applied : 0UL);

    ow_m_head(&b, "owx_redis_connected", "gauge",
              "Whether each worker's Redis connection is up.");
    for (k = 0; k < OW_M_WORKERS; k++) {
        if (m->redis[k]) {
            snprintf(extra, sizeof(extra), "%u", k);
            ow_m_printf(&b, "owx_redis_connected{worker=\"%s\"} %d\n", extra,
                        m->redis[k] == 2);
        }
    }

    ow_m_head(&b, "owx_metrics_label_sets", "gauge",
              "Label set slots: in use, capacity.");
    for (i = 0, k = 0; i < m->nsets; i++) {
        k += m->sets[i].state == OW_M_READY;
    }
    ow_m_printf(&b, "owx_metrics_label_sets{which=\"used\"} %u\n"
                "owx_metrics_label_sets{which=\"capacity\"} %lu\n",
                k, m->nsets);
    ow_m_head(&b, "owx_metrics_label_sets_dropped_total", "counter",
              "Events counted under \"_other\" for want of a slot.");
    ow_m_printf(&b, "owx_metrics_label_sets_dropped_total %lu\n", m->dropped);

    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
