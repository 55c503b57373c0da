// action_store.cc: see action_store.h.
#include "sidecar/action_store.h"

#include <hiredis/hiredis.h>

#include <algorithm>

#include "libow/action_ref.h"
#include "libow/activation_store.h"
#include "libow/json_limits.h"
#include "libow/redis_client.h"

namespace ow::sidecar {

// the connect's and each command's (a piece of code is up to 1 MiB)
static constexpr int64_t kTimeoutMs = 5000;

static bool hget_doc(ow::Redis &redis, const std::string &key, ow::EntityDoc *out,
                     std::string *err) {
    ow::RedisResult res = redis.command({"HMGET", key, "coll", "doc"});
    if (!res.reply) { *err = res.error; return false; }
    const redisReply *r = res.reply.get();
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
    return ok;
}

// Code too big for its document is stored beside it in pieces of 1 MiB
// (modules/engine/ow_code.h): exec.attachment {id, length, chunks}. Read them one
// command each, so that Redis serves everyone else in between, and put the
// code back into the document. A piece missing means the action was
// replaced since its document was read.
static bool fetch_code(ow::Redis &redis, const std::string &ns, nlohmann::json *doc,
                       bool *replaced, std::string *err) {
    *replaced = false;
    auto exec = doc->find("exec");
    if (exec == doc->end() || !exec->is_object()) return true;
    auto att = exec->find("attachment");
    if (att == exec->end()) return true;
    constexpr int64_t kPiece = 1024 * 1024, kMax = 48 * 1024 * 1024;
    static const nlohmann::json none;
    auto field_of = [&att](const char *name) -> const nlohmann::json & {
        if (!att->is_object()) return none;
        auto f = att->find(name);
        return f == att->end() ? none : *f;
    };
    const nlohmann::json &id = field_of("id"), &length = field_of("length"),
                         &chunks = field_of("chunks");
    if (!id.is_string() || !length.is_number_integer() ||
        !chunks.is_number_integer() || length.get<int64_t>() < 0 ||
        length.get<int64_t>() > kMax ||
        chunks.get<int64_t>() != (length.get<int64_t>() + kPiece - 1) / kPiece) {
        *err = "malformed code attachment";
        return false;
    }
    const std::string key = ow::code_key(ns, id.get<std::string>());
    const int64_t len = length.get<int64_t>(), n = chunks.get<int64_t>();
    std::string code;
    code.reserve(static_cast<size_t>(len));
    for (int64_t i = 0; i < n; i++) {
        const std::string field = std::to_string(i);
        ow::RedisResult res = redis.command({"HGET", key, field});
        if (!res.reply) { *err = res.error; return false; }
        const redisReply *r = res.reply.get();
        const int64_t want = std::min(kPiece, len - i * kPiece);
        bool ok = r->type == REDIS_REPLY_STRING && static_cast<int64_t>(r->len) == want;
        if (r->type == REDIS_REPLY_NIL) *replaced = true;
        if (ok) code.append(r->str, r->len);
        if (*replaced) return false;
        if (!ok) { *err = "corrupt code piece " + field + " of " + key; return false; }
    }
    exec->erase("attachment");
    (*exec)["code"] = std::move(code);
    return true;
}

// The invoker's maxStreamBytes and WebSocket limits (owx:{ns}:limits,
// ow-admin limits set), read once: a streaming or WebSocket action's
// containers take a change when they start. A namespace without them, or a
// Redis that does not say, keeps the defaults.
static void read_namespace_limits(ow::Redis &redis, const std::string &ns, Action *a) {
    ow::RedisResult res = redis.command({"GET", ow::limits_key(ns)});
    if (!res.ok() || res.reply->type != REDIS_REPLY_STRING) return;
    nlohmann::json l = nlohmann::json::parse(res.reply->str, res.reply->str + res.reply->len,
                                             nullptr, false);
    auto positive = [&l](const char *name, int64_t *out) {
        auto m = l.is_object() ? l.find(name) : l.end();
        if (m != l.end() && m->is_number_integer() && m->get<int64_t>() > 0)
            *out = m->get<int64_t>();
    };
    int64_t v = 0;
    positive("maxStreamBytes", &v);
    if (v > 0) a->stream_max_bytes = (uint64_t)v;
    positive("maxConnections", &a->ws.max_connections);
    v = 0;
    positive("maxMessageBytes", &v);
    if (v > 0) a->ws.max_message_bytes = (uint64_t)v;
    v = 0;
    positive("connectionIdleSeconds", &v);
    if (v > 0) a->ws.idle_ms = v * 1000;
}

bool load_action(const std::string &host, uint16_t port, const ow::RedisCredentials &cred,
                 const std::string &spec, Action *a, std::string *err) {
    ow::ActionKey key;
    if (!ow::parse_action_key(spec, &key)) {
        *err = "bad --action (want ns/name, ns/pkg/name or ns/owner/pkg/name): " + spec;
        return false;
    }
    ow::Redis redis(host, port, cred, {kTimeoutMs});
    // the same resolution as the pool-manager's before it started us: a
    // binding, or another namespace's package that must be public; read again
    // (a few times) when the action is replaced while its code is read
    ow::ResolvedAction r;
    for (int attempt = 0;; attempt++) {
        r = ow::resolve_action(
            key, [&redis](const std::string &ns, const std::string &path, ow::EntityDoc *out,
                          std::string *e) {
                return hget_doc(redis, ow::entity_key(ns, path), out, e);
            });
        if (r.status != ow::ResolvedAction::ok) break;
        bool replaced = false;
        if (fetch_code(redis, r.ns, &r.action, &replaced, err)) break;
        if (!replaced || attempt == 3) {
            if (replaced) *err = "the action kept changing while its code was read";
            return false;
        }
    }
    if (r.status != ow::ResolvedAction::ok) {
        *err = r.error + " (" + spec + ")";
        return false;
    }
    if (!parse_action(r.ns, r.pkg, r.name, r.action, r.package, a, err, r.binding_doc))
        return false;
    a->binding = r.binding;
    a->invoker = key.invoker;
    if (a->web_stream || a->web_socket) read_namespace_limits(redis, key.invoker, a);
    return true;
}

}  // namespace ow::sidecar
