/*
 * ow_api_fire.c: firing a trigger (openwhisk-api.md §3, §4, §6).
 *
 * A fire is answered in one Redis round trip: one Lua script checks
 * firesPerMinute, reads the trigger and its rules map, pushes one job per
 * active rule onto the durable list OW_KEY_FIRE_QUEUE and writes the trigger's
 * activation record. The rules' actions run later and without blocking the
 * fire: the pool-manager consumes the list
 * (pool-manager/control/fire_consumer.h) and delivers each job like a
 * non-blocking invoke.
 *
 * The rule invocations' activation ids are known at fire time (derived in
 * the script from the trigger activation id, which is random), so the
 * trigger record names them at once, as OpenWhisk's does once its
 * internal invokes have answered.
 *
 * The script touches one key outside the namespace's hash tag, the queue
 * ({fire}): on Redis Cluster it would need the queue per slot.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

#include "ow_fire.h"
#include "ow_api_handlers.h"
#include "ow_names.h"
#include "ow_schema.h"

/*
 * The trigger document and the payload are never decoded into Lua values:
 * lua-cjson re-encodes numbers with 14 digits and cannot tell [] from {}.
 * The script instead cuts the raw text of the trigger's parameter values
 * out of the stored compact JSON (jansson's output: no whitespace) and
 * splices them, followed by the payload's members, into the arguments
 * object; a payload key overrides a trigger parameter of the same name.
 *
 * KEYS: 1 trigger entity, 2 trigger rules, 3 namespace limits,
 *       4 fires counter of this minute, 5 activation record,
 *       6 activation index, 7 activation name index, 8 fire queue
 * ARGV: 1 system firesPerMinute, 2 trigger activation id, 3 now ms,
 *       4 retention ms, 5 payload (a JSON object's text), 6 payload keys
 *       (JSON array), 7 namespace, 8 subject, 9 trigger name,
 *       10 queue bound
 * -> nil (no trigger), 0 (no active rule), {activation id, jobs};
 *    errors THROTTLED <count> <allowed>, COLL, FULL
 */
static ow_script_t  ow_script_fire = { "trigger_fire",
    "local BS = string.char(92)\n"
    "local function str(s)\n"
    "  return (string.gsub(cjson.encode(s), BS .. '/', '/'))\n"
    "end\n"
    /* the end (exclusive) of the JSON value at i of compact JSON text */
    "local function skip(s, i)\n"
    "  local c = string.sub(s, i, i)\n"
    "  if c == '\"' then\n"
    "    local j = i + 1\n"
    "    while true do\n"
    "      local k = string.find(s, '[\"' .. BS .. ']', j)\n"
    "      if string.sub(s, k, k) == '\"' then return k + 1 end\n"
    "      j = k + 2\n"
    "    end\n"
    "  elseif c == '{' or c == '[' then\n"
    "    local depth, j = 0, i\n"
    "    while true do\n"
    "      local k = string.find(s, '[\"{}%[%]]', j)\n"
    "      local ch = string.sub(s, k, k)\n"
    "      if ch == '\"' then j = skip(s, k)\n"
    "      else\n"
    "        if ch == '{' or ch == '[' then depth = depth + 1\n"
    "        else depth = depth - 1 end\n"
    "        j = k + 1\n"
    "        if depth == 0 then return j end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  return string.find(s, '[,}%]]', i)\n"
    "end\n"
    /* the members of the object at i: {raw key, value start, value end} */
    "local function members(s, i)\n"
    "  local out, j = {}, i + 1\n"
    "  if string.sub(s, j, j) == '}' then return out end\n"
    "  while true do\n"
    "    local ke = skip(s, j)\n"
    "    local ve = skip(s, ke + 1)\n"
    "    out[#out + 1] = {string.sub(s, j, ke - 1), ke + 1, ve}\n"
    "    if string.sub(s, ve, ve) == '}' then return out end\n"
    "    j = ve + 1\n"
    "  end\n"
    "end\n"
    "local function elements(s, i)\n"
    "  local out, j = {}, i + 1\n"
    "  if string.sub(s, j, j) == ']' then return out end\n"
    "  while true do\n"
    "    local e = skip(s, j)\n"
    "    out[#out + 1] = {j, e}\n"
    "    if string.sub(s, e, e) == ']' then return out end\n"
    "    j = e + 1\n"
    "  end\n"
    "end\n"

    /* firesPerMinute: admitted fires are counted, refused ones are not */
    "local allowed = tonumber(ARGV[1])\n"
    "local lim = redis.call('GET', KEYS[3])\n"
    "if lim then\n"
    "  local ok, o = pcall(cjson.decode, lim)\n"
    "  if ok and type(o) == 'table' and type(o.firesPerMinute) == 'number'\n"
    "     and o.firesPerMinute >= 0\n"
    "     and o.firesPerMinute == math.floor(o.firesPerMinute) then\n"
    "    allowed = o.firesPerMinute end\n"
    "end\n"
    "local used = tonumber(redis.call('GET', KEYS[4]) or '0')\n"
    "if used >= allowed then\n"
    "  return redis.error_reply(string.format('THROTTLED %d %d', used,"
    " allowed)) end\n"
    "local function count()\n"
    "  redis.call('INCR', KEYS[4])\n"
    "  redis.call('EXPIRE', KEYS[4], 120)\n"
    "end\n"

    "local cur = redis.call('HMGET', KEYS[1], 'coll', 'doc')\n"
    "if not cur[1] then count() return false end\n"
    "if cur[1] ~= 'triggers' then count()\n"
    "  return redis.error_reply('COLL other collection') end\n"

    /* the rules, in name order; malformed links are left out */
    "local raw = redis.call('HGETALL', KEYS[2])\n"
    "local rules, active = {}, 0\n"
    "for i = 1, #raw, 2 do\n"
    "  local ok, l = pcall(cjson.decode, raw[i + 1])\n"
    "  if ok and type(l) == 'table' and type(l.action) == 'table'\n"
    "     and type(l.action.path) == 'string'\n"
    "     and type(l.action.name) == 'string' then\n"
    "    local on = l.status == 'active'\n"
    "    if on then active = active + 1 end\n"
    "    rules[#rules + 1] = {raw[i], l.action.path .. '/' .. l.action.name,"
    " on}\n"
    "  end\n"
    "end\n"
    "table.sort(rules, function(a, b) return a[1] < b[1] end)\n"
    "if active == 0 then count() return 0 end\n"
    "if redis.call('LLEN', KEYS[8]) + active > tonumber(ARGV[10]) then\n"
    "  return redis.error_reply('FULL fire queue is full') end\n"
    "count()\n"

    /* the arguments: trigger parameters, then the payload over them */
    "local doc = cur[2]\n"
    "local version, params = '\"0.0.1\"', nil\n"
    "for _, m in ipairs(members(doc, 1)) do\n"
    "  if m[1] == '\"version\"' then\n"
    "    version = string.sub(doc, m[2], m[3] - 1)\n"
    "  elseif m[1] == '\"parameters\"'"
    " and string.sub(doc, m[2], m[2]) == '[' then\n"
    "    params = m end\n"
    "end\n"
    "local over = {}\n"
    "for _, k in ipairs(cjson.decode(ARGV[6])) do over[k] = true end\n"
    "local parts, at = {}, {}\n"
    "if params then\n"
    "  for _, e in ipairs(elements(doc, params[2])) do\n"
    "    if string.sub(doc, e[1], e[1]) == '{' then\n"
    "      local key, val\n"
    "      for _, m in ipairs(members(doc, e[1])) do\n"
    "        if m[1] == '\"key\"' then key = string.sub(doc, m[2], m[3] - 1)\n"
    "        elseif m[1] == '\"value\"' then\n"
    "          val = string.sub(doc, m[2], m[3] - 1) end\n"
    "      end\n"
    "      if key and val and string.sub(key, 1, 1) == '\"' then\n"
    "        local k = cjson.decode(key)\n"
    "        if not over[k] then\n"
    "          local n = at[k] or (#parts + 1)\n"
    "          at[k] = n\n"
    "          parts[n] = key .. ':' .. val\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local inner = string.sub(ARGV[5], 2, -2)\n"
    "if string.find(inner, '%S') then parts[#parts + 1] = inner end\n"
    "local args = '{' .. table.concat(parts, ',') .. '}'\n"

    /* one job per active rule; one log entry per rule */
    "local tid, now = ARGV[2], ARGV[3]\n"
    "local logs = {}\n"
    "for _, r in ipairs(rules) do\n"
    "  local rule, action = str(r[1]), str(r[2])\n"
    "  if r[3] then\n"
    "    local aid = string.sub(redis.sha1hex(tid .. ' ' .. r[1]), 1, 32)\n"
    "    redis.call('LPUSH', KEYS[8], '{\"activationId\":\"' .. aid"
    " .. '\",\"action\":' .. action .. ',\"namespace\":' .. str(ARGV[7])"
    " .. ',\"subject\":' .. str(ARGV[8]) .. ',\"cause\":\"' .. tid"
    " .. '\",\"trigger\":' .. str(ARGV[7] .. '/' .. ARGV[9])"
    " .. ',\"rule\":' .. rule .. ',\"acceptTime\":' .. now"
    " .. ',\"params\":' .. args .. '}')\n"
    "    logs[#logs + 1] = str('{\"statusCode\":0,\"success\":true,"
    "\"activationId\":\"' .. aid .. '\",\"rule\":' .. rule"
    " .. ',\"action\":' .. action .. '}')\n"
    "  else\n"
    "    logs[#logs + 1] = str('{\"statusCode\":1,\"success\":false,"
    "\"error\":' .. str(\"Rule '\" .. r[1] .. \"' is inactive, action '\""
    " .. r[2] .. \"' was not activated.\") .. ',\"rule\":' .. rule"
    " .. ',\"action\":' .. action .. '}')\n"
    "  end\n"
    "end\n"

    /* the trigger's record, written as tools/owx/activation.py does */
    "local rec = '{\"namespace\":' .. str(ARGV[7]) .. ',\"name\":'"
    " .. str(ARGV[9]) .. ',\"version\":' .. version"
    " .. ',\"publish\":false,\"subject\":' .. str(ARGV[8])"
    " .. ',\"activationId\":\"' .. tid .. '\",\"start\":' .. now"
    " .. ',\"response\":{\"status\":\"success\",\"success\":true,"
    "\"result\":' .. ARGV[5] .. '},\"logs\":[' .. table.concat(logs, ',')"
    " .. '],\"annotations\":[]}'\n"
    "local t = redis.call('TIME')\n"
    "local rnow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local start, retention = tonumber(now), tonumber(ARGV[4])\n"
    "local floor = string.format('%d', rnow - retention)\n"
    "local expire_at = string.format('%d', start + retention)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', '(' .. floor)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', '(' .. floor)\n"
    "if start + retention > rnow then\n"
    "  redis.call('SET', KEYS[5], rec, 'PXAT', expire_at)\n"
    "  for i = 6, 7 do\n"
    "    redis.call('ZADD', KEYS[i], now, tid)\n"
    "    local ttl = redis.call('PTTL', KEYS[i])\n"
    "    if ttl < 0 or rnow + ttl < start + retention then\n"
    "      redis.call('PEXPIREAT', KEYS[i], expire_at)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {tid, active}\n",
    ""
};

static int
ow_fire_done(ow_op_t *op, const redisReply *r)
{
    long long  count, allowed;

    if (r->type == REDIS_REPLY_NIL) {
        return ow_not_found(op);
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        /* no active rule: no record, no body (OpenWhisk's NoContent) */
        return ow_done_text(op, 204, "");
    }
    if (ow_reply_is(r, "THROTTLED")) {
        if (sscanf(r->str, "THROTTLED %lld %lld", &count, &allowed) != 2) {
            count = allowed = 0;
        }
        return ow_error(op, 429, "Too many requests in the last minute "
                        "(count: %lld, allowed: %lld).", count, allowed);
    }
    if (ow_reply_is(r, "COLL")) {
        return ow_error(op, 409, OW_MSG_WRONG_COLL);
    }
    if (ow_reply_is(r, "FULL")) {
        /* nothing was queued or recorded: the client may retry */
        return ow_error(op, 503, OW_MSG_UNAVAILABLE);
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING)
    {
        return ow_error(op, 500, "unexpected reply from the entity store");
    }

    return ow_done(op, 202, json_pack("{s:s%}", "activationId",
                                      r->element[0]->str,
                                      r->element[0]->len));
}

/* 32 lowercase hex digits from the OpenSSL generator */
static int
ow_fire_new_id(char *out)
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char      rnd[16];
    int                i;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return -1;
    }
    for (i = 0; i < 16; i++) {
        out[2 * i] = hex[rnd[i] >> 4];
        out[2 * i + 1] = hex[rnd[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

int
ow_trigger_fire(ow_op_t *op)
{
    const char  *argv[18], *key, *s, *e;
    json_t      *keys, *v;
    char        *payload, *keys_text, *tkey, *rkey, *lkey, *fkey, *akey;
    char        *ikey, *nkey;
    char         id[33], minute[24], defl[24], now[24], retention[24];
    char         bound[24];
    size_t       plen;
    int          rc;

    if (!ow_name_path_valid(op->path)) {
        return ow_error(op, 400, OW_MSG_BAD_NAME);
    }
    if (op->body_len > OW_FIRE_PAYLOAD_MAX) {
        return ow_error(op, 413, "Request larger than allowed: %zu > %d "
                        "bytes.", op->body_len, OW_FIRE_PAYLOAD_MAX);
    }
    /* the payload must be a JSON object (or nothing) */
    if (ow_parse_body(op, 0) != 0) {
        return OW_STEP_DONE;
    }

    /*
     * The payload is passed as the client sent it, from its first '{' to
     * its last '}' (jansson checked it is one object): numbers keep their
     * digits, which a re-encoding could change.
     */
    if (op->body && op->body_len > 0) {
        s = memchr(op->body, '{', op->body_len);
        e = op->body + op->body_len - 1;
        while (e > s && *e != '}') {
            e--;
        }
        plen = e - s + 1;
        payload = malloc(plen + 1);
        if (payload) {
            memcpy(payload, s, plen);
            payload[plen] = '\0';
        }
    } else {
        payload = strdup("{}");
    }

    keys = json_array();
    json_object_foreach(op->json, key, v) {
        json_array_append_new(keys, json_string(key));
    }
    keys_text = json_dumps(keys, JSON_COMPACT);
    json_decref(keys);

    rc = ow_fire_new_id(id);
    snprintf(minute, sizeof(minute), "%lld",
             (long long) ((op->now_ms + op->conf->clock_offset_ms) / 60000));

    tkey = ow_key(OW_KEY_ENTITY, op->ns, op->path);
    rkey = ow_key(OW_KEY_TRIGGER_RULES, op->ns, op->path);
    lkey = ow_key(OW_KEY_LIMITS, op->ns, NULL);
    fkey = ow_key(OW_KEY_FIRES, op->ns, minute);
    akey = ow_key(OW_KEY_ACTIVATION, op->ns, id);
    ikey = ow_key(OW_KEY_ACT_INDEX, op->ns, NULL);
    nkey = ow_key(OW_KEY_ACT_NAME_INDEX, op->ns, op->path);

    if (rc != 0 || payload == NULL || keys_text == NULL || tkey == NULL
        || rkey == NULL || lkey == NULL || fkey == NULL || akey == NULL
        || ikey == NULL || nkey == NULL)
    {
        rc = ow_error(op, 500, "out of memory");
        goto done;
    }

    snprintf(defl, sizeof(defl), "%lld",
             (long long) op->conf->system_limits.fires_per_minute);
    snprintf(now, sizeof(now), "%lld", (long long) op->now_ms);
    snprintf(retention, sizeof(retention), "%lld",
             (long long) OW_ACTIVATION_RETENTION_DEFAULT * 1000);
    snprintf(bound, sizeof(bound), "%d", OW_FIRE_QUEUE_MAX);

    argv[0] = tkey;
    argv[1] = rkey;
    argv[2] = lkey;
    argv[3] = fkey;
    argv[4] = akey;
    argv[5] = ikey;
    argv[6] = nkey;
    argv[7] = OW_KEY_FIRE_QUEUE;
    argv[8] = defl;
    argv[9] = id;
    argv[10] = now;
    argv[11] = retention;
    argv[12] = payload;
    argv[13] = keys_text;
    argv[14] = op->ns;
    argv[15] = op->subject ? op->subject : op->ns;
    argv[16] = op->path;
    argv[17] = bound;

    rc = ow_script(op, ow_fire_done, &ow_script_fire, 8, 18, argv, NULL);

done:
    free(payload);
    free(keys_text);
    free(tkey);
    free(rkey);
    free(lkey);
    free(fkey);
    free(akey);
    free(ikey);
    free(nkey);
    return rc;
}
