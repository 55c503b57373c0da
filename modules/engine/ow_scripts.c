/*
 * ow_scripts.c: Lua sources of the scripts declared in ow_scripts.h.
 */

#include "ow_code.h"
#include "ow_schema.h"
#include "ow_scripts.h"

ow_script_t  ow_script_put = { "put",
    "local cur = redis.call('HMGET', KEYS[1], 'coll', 'rev')\n"
    "local expected = tonumber(ARGV[2])\n"
    "if cur[1] then\n"
    "  if cur[1] ~= ARGV[1] then return redis.error_reply('COLL other collection') end\n"
    "  if expected == -1 then return redis.error_reply('EXISTS entity exists') end\n"
    "  if tonumber(cur[2]) ~= expected then\n"
    "    return redis.error_reply('CONFLICT revision changed') end\n"
    "elseif expected > 0 then return redis.error_reply('CONFLICT revision changed') end\n"
    "if ARGV[9] ~= '' then\n"
    "  if redis.call('HLEN', ARGV[9]) ~= tonumber(ARGV[10]) then\n"
    "    return redis.error_reply('CODE pieces missing') end\n"
    "  redis.call('PERSIST', ARGV[9])\n"
    "end\n"
    "local old = redis.call('HGET', KEYS[1], 'code')\n"
    "local rev = (tonumber(cur[2]) or 0) + 1\n"
    "redis.call('HSET', KEYS[1], 'coll', ARGV[1], 'doc', ARGV[3],"
    " 'sum', ARGV[8], 'rev', rev)\n"
    "if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'code', ARGV[9])\n"
    "else redis.call('HDEL', KEYS[1], 'code') end\n"
    "if old and old ~= ARGV[9] then redis.call('UNLINK', old) end\n"
    "redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])\n"
    "if KEYS[4] then redis.call('ZADD', KEYS[4], ARGV[4], ARGV[7]) end\n"
    "local v = redis.call('INCR', KEYS[3])\n"
    "redis.call('PUBLISH', '" OW_CHANNEL_EVENTS "', cjson.encode({v = v, ns = ARGV[6],"
    " coll = ARGV[1], path = ARGV[5], op = 'put', rev = rev}))\n"
    "return rev\n",
    ""
};

ow_script_t  ow_script_code_piece = { "code_piece",
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "return 1\n",
    ""
};

ow_script_t  ow_script_get = { "get",
    "local cur = redis.call('HMGET', KEYS[1], 'coll', 'doc', 'rev')\n"
    "if not cur[1] then return false end\n"
    "local extra = {}\n"
    "if KEYS[2] then extra = redis.call('HGETALL', KEYS[2]) end\n"
    "return {cur[1], cur[2], tonumber(cur[3]), extra}\n",
    ""
};

ow_script_t  ow_script_del = { "del",
    "local cur = redis.call('HMGET', KEYS[1], 'coll', 'doc', 'rev')\n"
    "if not cur[1] then return false end\n"
    "if cur[1] ~= ARGV[1] then return redis.error_reply('COLL other collection') end\n"
    "local code = redis.call('HGET', KEYS[1], 'code')\n"
    "if code then redis.call('PEXPIRE', code, " OW_CODE_DELETED_TTL ") end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('ZREM', KEYS[2], ARGV[2])\n"
    "if KEYS[4] and KEYS[4] ~= '' then"
    " redis.call('ZREM', KEYS[4], ARGV[4]) end\n"
    "if KEYS[5] then redis.call('DEL', KEYS[5]) end\n"
    "local v = redis.call('INCR', KEYS[3])\n"
    "redis.call('PUBLISH', '" OW_CHANNEL_EVENTS "', cjson.encode({v = v, ns = ARGV[3],"
    " coll = ARGV[1], path = ARGV[2], op = 'del',"
    " rev = tonumber(cur[3])}))\n"
    "return cur[2]\n",
    ""
};

ow_script_t  ow_script_list = { "list",
    "if ARGV[4] == '1' then return redis.call('ZCARD', KEYS[1]) end\n"
    "local skip = tonumber(ARGV[2])\n"
    "local limit = tonumber(ARGV[3])\n"
    "local paths = redis.call('ZREVRANGE', KEYS[1], skip,"
    " skip + limit - 1)\n"
    "local out = {}\n"
    "for _, p in ipairs(paths) do\n"
    "  local d = redis.call('HMGET', ARGV[1] .. p, 'sum', 'doc')\n"
    "  if d[1] or d[2] then out[#out + 1] = d[1] or d[2] end\n"
    "end\n"
    "return out\n",
    ""
};
