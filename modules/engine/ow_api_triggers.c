/*
 * ow_api_triggers.c: /namespaces/{ns}/triggers (openwhisk-api.md §3, §4).
 * The rules map of a trigger lives in its own hash (OW_KEY_TRIGGER_RULES),
 * written by the rule scripts, and is joined in on GET.
 */

#include <string.h>

#include "ow_entity.h"
#include "ow_api_handlers.h"
#include "ow_fire.h"
#include "ow_names.h"
#include "ow_schema.h"

/*
 * A feed trigger's annotation "feed" names the feed action: a string
 * "[/]ns[/pkg]/name" of valid names (OpenWhisk checks it on create only;
 * the CLI invokes the action itself right after the PUT).
 */
static int
ow_trigger_feed_valid(ow_op_t *op)
{
    json_t      *anns, *a, *v;
    ow_fqn_t     fqn;
    const char  *key;
    size_t       i;

    anns = json_object_get(op->json, "annotations");
    json_array_foreach(anns, i, a) {
        key = json_string_value(json_object_get(a, "key"));
        if (key == NULL || strcmp(key, "feed") != 0) {
            continue;
        }
        v = json_object_get(a, "value");
        if (!json_is_string(v)
            || ow_fqn_parse(json_string_value(v), op->ns, &fqn) != 0)
        {
            return 0;
        }
        ow_fqn_free(&fqn);
    }
    return 1;
}

static int
ow_trigger_put(ow_op_t *op, const redisReply *unused)
{
    json_t  *doc, *limits;

    if (op->old == NULL && !ow_trigger_feed_valid(op)) {
        return ow_error(op, 400, "Feed name is not valid");
    }

    doc = ow_entity_common(op, 1, 0);
    if (doc == NULL) {
        return OW_STEP_DONE;
    }

    limits = json_object_get(op->json, "limits");
    if (limits && !json_is_null(limits) && !json_is_object(limits)) {
        json_decref(doc);
        return ow_error(op, 400, OW_MSG_MALFORMED "'limits' must be an "
                        "object.");
    }
    json_object_set_new(doc, "limits", json_object());

    return ow_entity_store(op, doc);
}

static json_t *
ow_trigger_shape(ow_op_t *op, json_t *doc, const redisReply *extra)
{
    json_t  *rules, *v;
    size_t   i;

    if (extra == NULL || extra->type != REDIS_REPLY_ARRAY
        || extra->elements == 0)
    {
        return doc;
    }

    rules = json_object();
    for (i = 0; i + 1 < extra->elements; i += 2) {
        v = json_loadb(extra->element[i + 1]->str,
                       extra->element[i + 1]->len, 0, NULL);
        if (v) {
            json_object_set_new(rules, extra->element[i]->str, v);
        }
    }
    json_object_set_new(doc, "rules", rules);
    return doc;
}

/* a trigger without rules is exactly what is stored */
static int
ow_trigger_verbatim(ow_op_t *op, const redisReply *extra)
{
    return extra == NULL || extra->type != REDIS_REPLY_ARRAY
           || extra->elements == 0;
}

static json_t *
ow_trigger_summary(ow_op_t *op, json_t *doc)
{
    static const char  *fields[] = {
        "namespace", "name", "version", "publish", "annotations", "updated",
        NULL
    };
    json_t             *s;

    s = json_object();
    ow_copy_fields(s, doc, fields);
    json_decref(doc);
    return s;
}

static const ow_coll_t  ow_triggers = {
    "triggers",
    ow_trigger_put,
    ow_trigger_shape,
    ow_trigger_summary,
    OW_KEY_TRIGGER_RULES,
    0,
    ow_trigger_verbatim
};

int
ow_api_triggers(ow_op_t *op)
{
    if (op->path && strchr(op->path, '/')) {
        return ow_not_found(op);
    }

    switch (op->method) {

    case OW_GET:
        if (op->path == NULL) {
            return ow_entity_list(op, &ow_triggers, OW_KEY_INDEX,
                                  "triggers");
        }
        return ow_entity_get(op, &ow_triggers);

    case OW_PUT:
        if (op->path == NULL) {
            break;
        }
        return ow_entity_put(op, &ow_triggers);

    case OW_DELETE:
        if (op->path == NULL) {
            break;
        }
        return ow_entity_delete(op, &ow_triggers);

    case OW_POST:
        if (op->path == NULL) {
            break;
        }
        return ow_trigger_fire(op);

    default:
        break;
    }

    return ow_error(op, 405, "HTTP method not allowed, supported methods: "
                    "GET, PUT, POST, DELETE");
}
