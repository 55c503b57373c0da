/*
 * ow_limits.c: namespace limits and action limit validation
 * (openwhisk-api.md §1, §3, §6).
 */

#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "ow_limits.h"

#define MB  (1024 * 1024)

void
ow_limits_default(ow_limits_t *l)
{
    l->invocations_per_minute = 60;
    l->concurrent_invocations = 30;
    l->fires_per_minute = 60;
    l->min_action_memory = 128;
    l->max_action_memory = 512;
    l->min_action_logs = 0;
    l->max_action_logs = 10;
    l->min_action_timeout = 100;
    l->max_action_timeout = 300000;
    l->min_action_concurrency = 1;
    l->max_action_concurrency = 1;
    l->max_parameter_size = MB;
    l->max_action_instances = 30;
    l->sequence_max_length = 50;
    l->default_memory = 256;
    l->default_logs = 10;
    l->default_timeout = 60000;
    l->default_concurrency = 1;
}

typedef struct {
    const char  *name;
    size_t       offset;
} ow_limit_field_t;

#define F(n, m)  { n, offsetof(ow_limits_t, m) }

static const ow_limit_field_t  ow_limit_fields[] = {
    F("invocationsPerMinute", invocations_per_minute),
    F("concurrentInvocations", concurrent_invocations),
    F("firesPerMinute", fires_per_minute),
    F("minActionMemory", min_action_memory),
    F("maxActionMemory", max_action_memory),
    F("minActionLogs", min_action_logs),
    F("maxActionLogs", max_action_logs),
    F("minActionTimeout", min_action_timeout),
    F("maxActionTimeout", max_action_timeout),
    F("minActionConcurrency", min_action_concurrency),
    F("maxActionConcurrency", max_action_concurrency),
    F("maxActionInstances", max_action_instances),
    { NULL, 0 }
};

#undef F

static int64_t
ow_parse_size(const char *s)
{
    /* "1 GB", "1 MB", "512 KB", "1048576 B" (ow-admin's forms) */
    long long  n, unit_bytes;
    char       unit[8] = "B";

    if (sscanf(s, "%lld %7s", &n, unit) < 1 || n < 0) {
        return -1;
    }
    if (strcmp(unit, "B") == 0) {
        unit_bytes = 1;
    } else if (strcmp(unit, "KB") == 0) {
        unit_bytes = 1024;
    } else if (strcmp(unit, "MB") == 0) {
        unit_bytes = MB;
    } else if (strcmp(unit, "GB") == 0) {
        unit_bytes = 1024LL * MB;
    } else {
        /* a unit read as bytes made "1 GB" one byte */
        return -1;
    }
    /* more bytes than 64 bits count (an admin's "99999999999999 MB") */
    if (n > INT64_MAX / unit_bytes) {
        return -1;
    }
    return n * unit_bytes;
}

void
ow_limits_apply(ow_limits_t *l, const json_t *o)
{
    const ow_limit_field_t  *f;
    const json_t            *v;
    int64_t                  n;

    if (!json_is_object(o)) {
        return;
    }

    for (f = ow_limit_fields; f->name; f++) {
        v = json_object_get(o, f->name);
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            *(int64_t *) ((char *) l + f->offset) = json_integer_value(v);
        }
    }

    v = json_object_get(o, "maxParameterSize");
    if (json_is_string(v)) {
        n = ow_parse_size(json_string_value(v));
        if (n >= 0) {
            l->max_parameter_size = n;
        }
    }
}

json_t *
ow_limits_to_json(const ow_limits_t *l)
{
    const ow_limit_field_t  *f;
    json_t                  *o;
    char                     size[32];

    o = json_object();
    for (f = ow_limit_fields; f->name; f++) {
        if (strcmp(f->name, "maxActionInstances") == 0) {
            continue;
        }
        json_object_set_new(o, f->name,
            json_integer(*(const int64_t *) ((const char *) l + f->offset)));
    }

    if (l->max_parameter_size % MB == 0) {
        snprintf(size, sizeof(size), "%lld MB",
                 (long long) (l->max_parameter_size / MB));
    } else {
        snprintf(size, sizeof(size), "%lld B",
                 (long long) l->max_parameter_size);
    }
    json_object_set_new(o, "maxParameterSize", json_string(size));
    json_object_set_new(o, "maxActionInstances",
                        json_integer(l->max_action_instances));
    return o;
}

static int
ow_limit_value(const json_t *given, const json_t *base, const char *name,
    int64_t dflt, int64_t *out, char *err, size_t errlen)
{
    const json_t  *v;

    v = given ? json_object_get(given, name) : NULL;
    if (v == NULL || json_is_null(v)) {
        v = base ? json_object_get(base, name) : NULL;
        *out = json_is_integer(v) ? json_integer_value(v) : dflt;
        return 0;
    }

    if (!json_is_integer(v)) {
        snprintf(err, errlen,
                 "The request content was malformed:\n"
                 "limits.%s must be an integer", name);
        return -1;
    }

    *out = json_integer_value(v);
    return 0;
}

json_t *
ow_limits_action(const ow_limits_t *l, const json_t *given,
    const json_t *base, char *err, size_t errlen)
{
    int64_t  timeout, memory, logs, concurrency, instances;
    json_t  *o;

    if (given && !json_is_object(given) && !json_is_null(given)) {
        snprintf(err, errlen, "The request content was malformed:\n"
                 "limits must be an object");
        return NULL;
    }

    if (ow_limit_value(given, base, "timeout", l->default_timeout,
                       &timeout, err, errlen)
        || ow_limit_value(given, base, "memory", l->default_memory,
                          &memory, err, errlen)
        || ow_limit_value(given, base, "logs", l->default_logs,
                          &logs, err, errlen)
        || ow_limit_value(given, base, "concurrency", l->default_concurrency,
                          &concurrency, err, errlen)
        || ow_limit_value(given, base, "instances", 0,
                          &instances, err, errlen))
    {
        return NULL;
    }

    if (timeout < l->min_action_timeout) {
        snprintf(err, errlen, "duration %lld milliseconds below allowed "
                 "threshold of %lld milliseconds", (long long) timeout,
                 (long long) l->min_action_timeout);
        return NULL;
    }
    if (timeout > l->max_action_timeout) {
        snprintf(err, errlen, "duration %lld milliseconds exceeds allowed "
                 "threshold of %lld milliseconds", (long long) timeout,
                 (long long) l->max_action_timeout);
        return NULL;
    }
    if (memory < l->min_action_memory) {
        snprintf(err, errlen, "memory %lld MB below allowed threshold of "
                 "%lld MB", (long long) memory,
                 (long long) l->min_action_memory);
        return NULL;
    }
    if (memory > l->max_action_memory) {
        snprintf(err, errlen, "memory %lld MB exceeds allowed threshold of "
                 "%lld MB", (long long) memory,
                 (long long) l->max_action_memory);
        return NULL;
    }
    if (logs < l->min_action_logs) {
        snprintf(err, errlen, "log size %lld MB below allowed threshold of "
                 "%lld MB", (long long) logs, (long long) l->min_action_logs);
        return NULL;
    }
    if (logs > l->max_action_logs) {
        snprintf(err, errlen, "log size %lld MB exceeds allowed threshold of "
                 "%lld MB", (long long) logs, (long long) l->max_action_logs);
        return NULL;
    }
    if (concurrency < l->min_action_concurrency) {
        snprintf(err, errlen, "concurrency %lld below allowed threshold of "
                 "%lld", (long long) concurrency,
                 (long long) l->min_action_concurrency);
        return NULL;
    }
    if (concurrency > l->max_action_concurrency) {
        snprintf(err, errlen, "concurrency %lld exceeds allowed threshold of "
                 "%lld", (long long) concurrency,
                 (long long) l->max_action_concurrency);
        return NULL;
    }
    if (instances < 0) {
        /* 0 (or none) is no limit of the action's own: the namespace's */
        snprintf(err, errlen, "instances %lld below allowed threshold of 0",
                 (long long) instances);
        return NULL;
    }
    if (instances > l->concurrent_invocations) {
        snprintf(err, errlen, "Max action instance concurrency must not "
                 "exceed your namespace concurrency of %lld.",
                 (long long) l->concurrent_invocations);
        return NULL;
    }

    o = json_object();
    json_object_set_new(o, "timeout", json_integer(timeout));
    json_object_set_new(o, "memory", json_integer(memory));
    json_object_set_new(o, "logs", json_integer(logs));
    json_object_set_new(o, "concurrency", json_integer(concurrency));
    if (instances != 0) {
        json_object_set_new(o, "instances", json_integer(instances));
    }
    return o;
}
