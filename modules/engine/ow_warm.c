/*
 * ow_warm.c: warm-table entries and container choice (see ow_warm.h).
 */

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "ow_schema.h"
#include "ow_warm.h"

static int
ow_warm_copy(char *dst, size_t size, const json_t *v)
{
    const char  *s;
    size_t       n;

    s = json_string_value(v);
    if (s == NULL) {
        return -1;
    }
    n = json_string_length(v);
    if (n == 0 || n >= size || memchr(s, '\0', n)) {
        return -1;
    }
    memcpy(dst, s, n + 1);
    return 0;
}

int
ow_warm_parse(const char *json, size_t len, ow_warm_entry_t *e)
{
    json_t          *o, *v;
    const char      *op, *addr, *colon;
    char             ip[16];
    struct in_addr   in;
    long             port;
    int              rc;

    memset(e, 0, sizeof(*e));
    rc = -1;

    o = json_loadb(json, len, 0, NULL);
    if (!json_is_object(o)) {
        goto done;
    }

    op = json_string_value(json_object_get(o, "op"));
    e->op = (op && strcmp(op, "del") == 0) ? OW_WARM_DEL : OW_WARM_ADD;
    e->marked = (op && strcmp(op, "mark") == 0)
                || json_is_true(json_object_get(o, "marked"));
    if (op && strcmp(op, "unmark") == 0) {
        e->marked = 0;
    }

    v = json_object_get(o, "v");
    e->version = json_is_integer(v) ? json_integer_value(v) : 0;

    if (ow_warm_copy(e->id, sizeof(e->id), json_object_get(o, "id")) != 0) {
        goto done;
    }

    if (e->op == OW_WARM_DEL) {
        /* a removal needs the id only */
        ow_warm_copy(e->action, sizeof(e->action),
                     json_object_get(o, "action"));
        rc = 0;
        goto done;
    }

    if (ow_warm_copy(e->action, sizeof(e->action),
                     json_object_get(o, "action")) != 0)
    {
        goto done;
    }

    addr = json_string_value(json_object_get(o, "addr"));
    colon = addr ? strrchr(addr, ':') : NULL;
    if (colon == NULL || colon - addr >= (long) sizeof(ip)) {
        goto done;
    }
    memcpy(ip, addr, colon - addr);
    ip[colon - addr] = '\0';
    if (inet_pton(AF_INET, ip, &in) != 1) {
        goto done;
    }
    port = strtol(colon + 1, NULL, 10);
    if (port <= 0 || port > 65535) {
        goto done;
    }
    e->ip = in.s_addr;
    e->port = (uint16_t) port;

    v = json_object_get(o, "concurrency");
    e->concurrency = json_is_integer(v) && json_integer_value(v) > 0
                     ? (int) json_integer_value(v) : 1;
    rc = 0;

done:
    json_decref(o);
    return rc;
}

int
ow_warm_pick(const ow_warm_slot_t *slots, int n)
{
    int  i, best, free, best_free;

    best = -1;
    best_free = 0;

    for (i = 0; i < n; i++) {
        if (slots[i].busy || slots[i].tried) {
            continue;
        }
        free = slots[i].concurrency - slots[i].inflight;
        if (best == -1
            || (slots[best].marked && !slots[i].marked)
            || (slots[best].marked == slots[i].marked && free > best_free))
        {
            best = i;
            best_free = free;
        }
    }

    return best;
}

size_t
ow_warm_unmark_command(char *buf, size_t size, const char *id,
    size_t id_len, int64_t now_ms)
{
    char  ms[24];
    int   n, ms_len;

    ms_len = snprintf(ms, sizeof(ms), "%lld", (long long) now_ms);
    n = snprintf(buf, size, "*4\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n$%d\r\n%.*s"
                 "\r\n$%d\r\n%s\r\n",
                 (int) (sizeof(OW_KEY_WARM_UNMARK) - 1), OW_KEY_WARM_UNMARK,
                 (int) id_len, (int) id_len, id, ms_len, ms);
    if (n < 0 || (size_t) n >= size) {
        return 0;
    }
    return (size_t) n;
}
