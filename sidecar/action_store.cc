// action_store.cc: see action_store.h.
#include "sidecar/action_store.h"

#include <hiredis/hiredis.h>

#include "libow/activation_store.h"

namespace owsc {

static bool hget_doc(redisContext *c, const std::string &key, nlohmann::json *out,
                     std::string *err) {
    redisReply *r = (redisReply *)redisCommand(c, "HGET %b doc", key.data(), key.size());
    if (!r) { *err = std::string("redis: ") + c->errstr; return false; }
    bool ok = true;
    if (r->type == REDIS_REPLY_NIL) {
        *out = nlohmann::json();
    } else if (r->type == REDIS_REPLY_STRING) {
        *out = nlohmann::json::parse(std::string(r->str, r->len), nullptr, false);
        if (out->is_discarded()) { *err = "malformed document at " + key; ok = false; }
    } else {
        *err = "redis: unexpected reply for " + key;
        ok = false;
    }
    freeReplyObject(r);
    return ok;
}

bool load_action(const std::string &host, uint16_t port, const std::string &spec,
                 Action *a, std::string *err) {
    std::string ns, pkg, name;
    if (!split_action_spec(spec, &ns, &pkg, &name)) {
        *err = "bad --action (want ns/name or ns/pkg/name): " + spec;
        return false;
    }
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout(host.c_str(), port, tv);
    if (!c || c->err) {
        *err = std::string("redis connect: ") + (c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return false;
    }
    redisSetTimeout(c, tv);
    std::string path = pkg.empty() ? name : pkg + "/" + name;
    nlohmann::json doc, pkg_doc;
    bool ok = hget_doc(c, ow::entity_key(ns, path), &doc, err);
    if (ok && doc.is_null()) { *err = "action not found: " + spec; ok = false; }
    if (ok && !pkg.empty()) ok = hget_doc(c, ow::entity_key(ns, pkg), &pkg_doc, err);
    redisFree(c);
    return ok && parse_action(ns, pkg, name, doc, pkg_doc, a, err);
}

}  // namespace owsc
