/*
 * ow_api_info.c: the info documents (openwhisk-api.md §2), the namespace
 * list and the limits document (§1).
 */

#include <string.h>

#include "ow_op.h"
#include "ow_api_handlers.h"

static json_t *
ow_info_root(ow_op_t *op)
{
    const ow_limits_t  *l;
    json_t             *limits;

    l = &op->conf->system_limits;
    limits = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
        "actions_per_minute", (json_int_t) l->invocations_per_minute,
        "triggers_per_minute", (json_int_t) l->fires_per_minute,
        "concurrent_actions", (json_int_t) l->concurrent_invocations,
        "sequence_length", (json_int_t) l->sequence_max_length,
        "min_action_duration", (json_int_t) l->min_action_timeout,
        "max_action_duration", (json_int_t) l->max_action_timeout,
        "min_action_memory", (json_int_t) l->min_action_memory << 20,
        "max_action_memory", (json_int_t) l->max_action_memory << 20,
        "min_action_logs", (json_int_t) l->min_action_logs << 20,
        "max_action_logs", (json_int_t) l->max_action_logs << 20);

    json_object_set_new(limits, "default_min_action_duration",
                        json_integer(l->min_action_timeout));
    json_object_set_new(limits, "default_max_action_duration",
                        json_integer(l->max_action_timeout));
    json_object_set_new(limits, "default_min_action_memory",
                        json_integer(l->min_action_memory << 20));
    json_object_set_new(limits, "default_max_action_memory",
                        json_integer(l->max_action_memory << 20));
    json_object_set_new(limits, "default_min_action_logs",
                        json_integer(l->min_action_logs << 20));
    json_object_set_new(limits, "default_max_action_logs",
                        json_integer(l->max_action_logs << 20));

    return json_pack("{s:s,s:{s:s,s:s},s:[s],s:o,s:O}",
        "description", "OpenWhisk",
        "support",
            "github", "https://github.com/apache/openwhisk/issues",
            "slack", "http://slack.openwhisk.org",
        "api_paths", "/api/v1",
        "limits", limits,
        "runtimes", op->conf->runtimes ? op->conf->runtimes : json_object());
}

int
ow_api_info(ow_op_t *op)
{
    size_t  n;

    if (op->method != OW_GET && op->method != OW_HEAD) {
        return ow_error(op, 405, "HTTP method not allowed, supported "
                        "methods: GET");
    }

    n = op->uri_len;

    if (n >= 5 && memcmp(op->uri, "/ping", 5) == 0) {
        return ow_done_text(op, 200, "pong");
    }

    if (n >= 16 && memcmp(op->uri, "/api/v1/api-docs", 16) == 0) {
        return ow_done(op, 200, json_pack(
            "{s:s,s:{s:s,s:s},s:s,s:{}}",
            "swagger", "2.0",
            "info", "title", "OpenWhisk REST API", "version", "1.0.0",
            "basePath", "/api/v1",
            "paths"));
    }

    if (n >= 7 && memcmp(op->uri, "/api/v1", 7) == 0) {
        return ow_done(op, 200, json_pack(
            "{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s}}",
            "description", "OpenWhisk API",
            "api_version", "1.0.0",
            "api_version_path", "v1",
            "build", op->conf->build ? op->conf->build : "owx",
            "buildno", "owx",
            "swagger_paths", "ui", "/docs", "api-docs", "/api-docs"));
    }

    return ow_done(op, 200, ow_info_root(op));
}

int
ow_api_namespaces(ow_op_t *op)
{
    if (op->method != OW_GET) {
        return ow_error(op, 405, "HTTP method not allowed, supported "
                        "methods: GET");
    }
    return ow_done(op, 200, json_pack("[s]", op->auth_ns));
}

static int
ow_limits_reply(ow_op_t *op, const redisReply *unused)
{
    return ow_done(op, 200, ow_limits_to_json(&op->limits));
}

int
ow_api_limits(ow_op_t *op)
{
    if (strcmp(op->ns, op->auth_ns) != 0) {
        return ow_forbidden(op);
    }
    if (op->method != OW_GET) {
        return ow_error(op, 405, "HTTP method not allowed, supported "
                        "methods: GET");
    }
    return ow_load_limits(op, ow_limits_reply);
}
