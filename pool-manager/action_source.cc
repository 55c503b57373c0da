// action_source.cc: see action_source.h.
#include "pool-manager/action_source.h"

#include <hiredis/hiredis.h>

#include <nlohmann/json.hpp>

#include "libow/activation_store.h"
#include "pool-manager/redis.h"

namespace ow::pm {

ActionLookup parse_action_doc(const std::string &doc) {
    ActionLookup res;
    nlohmann::json j = nlohmann::json::parse(doc, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("exec") ||
        !j["exec"].is_object() || !j["exec"].contains("kind") ||
        !j["exec"]["kind"].is_string()) {
        res.error = "action document has no exec.kind";
        return res;
    }
    res.info.kind = j["exec"]["kind"].get<std::string>();
    if (j.contains("version") && j["version"].is_string()) {
        res.info.version = j["version"].get<std::string>();
    }
    int64_t timeout = 60000, logs = 10;
    if (j.contains("limits") && j["limits"].is_object()) {
        const nlohmann::json &l = j["limits"];
        res.info.limits = l;
        if (l.contains("memory") && l["memory"].is_number_integer()) {
            res.info.memory = l["memory"].get<int64_t>();
        }
        if (l.contains("concurrency") && l["concurrency"].is_number_integer()) {
            res.info.concurrency = l["concurrency"].get<int64_t>();
        }
        if (l.contains("timeout") && l["timeout"].is_number_integer()) {
            timeout = l["timeout"].get<int64_t>();
        }
        if (l.contains("logs") && l["logs"].is_number_integer()) {
            logs = l["logs"].get<int64_t>();
        }
    }
    // The management API validates limits on PUT; clamp anyway so a hand-
    // edited document cannot ask for a zero gate or a silly memory size.
    if (res.info.memory < 1) res.info.memory = 256;
    if (res.info.concurrency < 1) res.info.concurrency = 1;
    if (timeout < 1) timeout = 60000;
    // The record's "limits" annotation always has the four fields, as the
    // sidecar writes it (sidecar/action.cc).
    if (!res.info.limits.is_object()) res.info.limits = nlohmann::json::object();
    res.info.limits["timeout"] = timeout;
    res.info.limits["memory"] = res.info.memory;
    res.info.limits["logs"] = logs;
    res.info.limits["concurrency"] = res.info.concurrency;
    res.status = ActionLookup::ok;
    return res;
}

ActionLookup RedisActionSource::lookup(const std::string &ns,
                                       const std::string &path) {
    ActionLookup res;
    RedisResult r = redis_.command(
        {"HMGET", ow::entity_key(ns, path), "coll", "doc"});
    if (!r.ok()) {
        res.error = r.error;
        return res;
    }
    redisReply *rep = r.reply.get();
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
        res.error = "unexpected reply to HMGET";
        return res;
    }
    redisReply *coll = rep->element[0];
    redisReply *doc = rep->element[1];
    if (doc->type != REDIS_REPLY_STRING ||
        (coll->type == REDIS_REPLY_STRING &&
         std::string(coll->str, coll->len) != "actions")) {
        res.status = ActionLookup::not_found;
        return res;
    }
    return parse_action_doc(std::string(doc->str, doc->len));
}

}  // namespace ow::pm
