// action_source.cc: see action_source.h.
#include "pool-manager/action_source.h"

#include <hiredis/hiredis.h>

#include <nlohmann/json.hpp>

#include "libow/action_ref.h"
#include "libow/activation_store.h"
#include "libow/redis_client.h"

namespace ow::pm {

ActionLookup parse_action_doc(const std::string &doc) {
    return parse_action_json(nlohmann::json::parse(doc, nullptr, false));
}

ActionLookup parse_action_json(const nlohmann::json &j) {
    ActionLookup res;
    if (j.is_discarded() || !j.is_object() || !j.contains("exec") ||
        !j["exec"].is_object() || !j["exec"].contains("kind") ||
        !j["exec"]["kind"].is_string()) {
        res.error = "action document has no exec.kind";
        return res;
    }
    res.info.kind = j["exec"]["kind"].get<std::string>();
    if (res.info.kind == "sequence") {
        auto c = j["exec"].find("components");
        if (c == j["exec"].end() || !c->is_array()) {
            res.error = "sequence document has no exec.components";
            return res;
        }
        for (const auto &e : *c) {
            if (!e.is_string()) {
                res.error = "sequence component is not a string";
                return res;
            }
        }
        res.info.sequence = true;
        res.info.components = *c;
    }
    // OpenWhisk's isTruthy: any value but false, null, 0 and "" is true
    if (j.contains("annotations") && j["annotations"].is_array()) {
        for (const auto &a : j["annotations"]) {
            if (a.is_object() && a.contains("key") && a["key"] == "web-export") {
                auto v = a.find("value");
                res.info.web_export = v != a.end() && v->is_boolean() && v->get<bool>();
            }
            if (!a.is_object() || !a.contains("key") || a["key"] != "conductor")
                continue;
            auto v = a.find("value");
            res.info.conductor =
                v != a.end() && !v->is_null() &&
                !(v->is_boolean() && !v->get<bool>()) &&
                !(v->is_number() && v->get<double>() == 0) &&
                !(v->is_string() && v->get<std::string>().empty());
        }
    }
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

// ns/path is an action key (libow/action_ref.h): the invoker's namespace,
// then the action as invoked, possibly through a binding or in another
// namespace's public package. Resolving it here, before a start, means a
// container never starts for an action its invoker may not read; the warm
// path then needs no check (the container is keyed by the invoker).
ActionLookup RedisActionSource::lookup(const std::string &ns,
                                       const std::string &path) {
    ActionLookup res;
    ActionKey key;
    if (!parse_action_key(ns + "/" + path, &key)) {
        res.status = ActionLookup::not_found;
        res.error = "The requested resource does not exist.";
        return res;
    }
    EntityFetch fetch = [this](const std::string &ens, const std::string &epath,
                               EntityDoc *out, std::string *err) {
        RedisResult r = redis_.command({"HMGET", ow::entity_key(ens, epath), "coll", "doc"});
        if (!r.ok()) {
            *err = r.error;
            return false;
        }
        redisReply *rep = r.reply.get();
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            *err = "unexpected reply to HMGET";
            return false;
        }
        *out = EntityDoc();
        redisReply *coll = rep->element[0];
        redisReply *doc = rep->element[1];
        if (doc->type != REDIS_REPLY_STRING) return true;
        out->found = true;
        if (coll->type == REDIS_REPLY_STRING) out->coll.assign(coll->str, coll->len);
        out->doc = nlohmann::json::parse(doc->str, doc->str + doc->len, nullptr, false);
        if (out->doc.is_discarded()) out->doc = nlohmann::json();
        return true;
    };
    ResolvedAction ra = resolve_action(key, fetch);
    switch (ra.status) {
    case ResolvedAction::ok:
        break;
    case ResolvedAction::not_found:
        res.status = ActionLookup::not_found;
        res.error = ra.error;
        return res;
    case ResolvedAction::forbidden:
        res.status = ActionLookup::forbidden;
        res.error = ra.error;
        return res;
    default:
        res.error = ra.error;
        return res;
    }
    res = parse_action_json(ra.action);
    res.info.path = ra.path;
    res.info.binding = ra.binding;
    // the invoker's cap: one more read, on the cold path only
    RedisResult lim = redis_.command({"GET", ow::limits_key(ns)});
    if (lim.ok() && lim.reply->type == REDIS_REPLY_STRING) {
        nlohmann::json l = nlohmann::json::parse(
            lim.reply->str, lim.reply->str + lim.reply->len, nullptr, false);
        auto m = l.is_object() ? l.find("maxContainers") : l.end();
        if (m != l.end() && m->is_number_integer() && m->get<int64_t>() > 0)
            res.info.max_containers = m->get<int64_t>();
    }
    if (res.status == ActionLookup::ok && (res.info.sequence || res.info.conductor)) {
        // A conductor's, in the order the sidecar merges them (later keys
        // win). A sequence's are none: its one stored parameter is the
        // component list (_actions), and no parameter reaches its first
        // component on the invoke path either.
        nlohmann::json params = nlohmann::json::array();
        for (const nlohmann::json *d : {&ra.package, &ra.binding_doc, &ra.action}) {
            if (res.info.sequence) break;
            if (!d->is_object()) continue;
            auto p = d->find("parameters");
            if (p == d->end() || !p->is_array()) continue;
            params.insert(params.end(), p->begin(), p->end());
        }
        auto ann = ra.action.find("annotations");
        res.info.web_facts = {
            {"annotations", ann != ra.action.end() && ann->is_array() ? *ann
                                                                      : nlohmann::json::array()},
            {"parameters", std::move(params)}};
    }
    return res;
}

}  // namespace ow::pm
