// action_store.cc: see action_store.h.
#include "sidecar/action_store.h"

#include <hiredis/hiredis.h>

#include "libow/action_ref.h"
#include "libow/activation_store.h"
#include "libow/json_limits.h"

namespace owsc {

static bool hget_doc(redisContext *c, const std::string &key, ow::EntityDoc *out,
                     std::string *err) {
    redisReply *r = (redisReply *)redisCommand(c, "HMGET %b coll doc", key.data(), key.size());
    if (!r) { *err = std::string("redis: ") + c->errstr; return false; }
    bool ok = true;
    *out = ow::EntityDoc();
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        *err = "redis: unexpected reply for " + key;
        ok = false;
    } else if (r->element[1]->type == REDIS_REPLY_STRING) {
        redisReply *coll = r->element[0], *doc = r->element[1];
        out->found = true;
        if (coll->type == REDIS_REPLY_STRING) out->coll.assign(coll->str, coll->len);
        // bounded like every document from outside (libow/json_limits.h): the
        // gateway stores nothing deeper, but a hand-written key could be
        ow::JsonError why = ow::JsonError::none;
        out->doc = ow::json_parse_bounded(std::string_view(doc->str, doc->len), &why);
        if (out->doc.is_discarded()) {
            *err = "malformed document at " + key + ": " + ow::json_error_text(why);
            ok = false;
        }
    }
    freeReplyObject(r);
    return ok;
}

bool load_action(const std::string &host, uint16_t port, const ow::RedisCredentials &cred,
                 const std::string &spec, Action *a, std::string *err) {
    ow::ActionKey key;
    if (!ow::parse_action_key(spec, &key)) {
        *err = "bad --action (want ns/name, ns/pkg/name or ns/owner/pkg/name): " + spec;
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
    if (!ow::redis_auth(c, cred, err)) {
        redisFree(c);
        return false;
    }
    // the same resolution as the pool-manager's before it started us: a
    // binding, or another namespace's package that must be public
    ow::ResolvedAction r = ow::resolve_action(
        key, [c](const std::string &ns, const std::string &path, ow::EntityDoc *out,
                 std::string *e) { return hget_doc(c, ow::entity_key(ns, path), out, e); });
    redisFree(c);
    if (r.status != ow::ResolvedAction::ok) {
        *err = r.error + " (" + spec + ")";
        return false;
    }
    if (!parse_action(r.ns, r.pkg, r.name, r.action, r.package, a, err, r.binding_doc))
        return false;
    a->binding = r.binding;
    return true;
}

}  // namespace owsc
