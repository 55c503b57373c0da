/*
 * ow_limits.h: namespace limits (openwhisk-api.md §1, §6): the system
 * defaults, per-namespace overrides from Redis, and action limit checks.
 */

#ifndef OW_LIMITS_H
#define OW_LIMITS_H

#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t  invocations_per_minute;
    int64_t  concurrent_invocations;
    int64_t  fires_per_minute;
    int64_t  min_action_memory;     /* MB */
    int64_t  max_action_memory;
    int64_t  min_action_logs;       /* MB */
    int64_t  max_action_logs;
    int64_t  min_action_timeout;    /* ms */
    int64_t  max_action_timeout;
    int64_t  min_action_concurrency;
    int64_t  max_action_concurrency;
    int64_t  max_parameter_size;    /* bytes */
    int64_t  max_action_instances;
    int64_t  sequence_max_length;
    int64_t  default_memory;
    int64_t  default_logs;
    int64_t  default_timeout;
    int64_t  default_concurrency;
} ow_limits_t;

/* OpenWhisk's open-source defaults (ansible): 60/min, 30 concurrent, ... */
void ow_limits_default(ow_limits_t *l);

/* apply a JSON object of UserLimits overrides; unknown keys are ignored */
void ow_limits_apply(ow_limits_t *l, const json_t *overrides);

/* the UserLimits document of GET /namespaces/{ns}/limits */
json_t *ow_limits_to_json(const ow_limits_t *l);

/*
 * Validate and complete an action's "limits" object. "given" may be NULL
 * or partial; "base" holds the values to keep (the stored action's limits on
 * update, NULL on create: defaults). On success returns a new object with
 * timeout, memory, logs, concurrency (and instances when given); on error
 * returns NULL and writes the message (400) to err.
 */
json_t *ow_limits_action(const ow_limits_t *l, const json_t *given,
    const json_t *base, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* OW_LIMITS_H */
