// activation.cc: see activation.h.
#include "sidecar/activation.h"

#include <cstdlib>
#include <random>

#include "libow/activation_store.h"
#include "libow/clock.h"
#include "libow/http_query.h"

namespace ow::sidecar {

static std::mt19937_64 &rng() {
    static std::mt19937_64 r{std::random_device{}()};
    return r;
}

static std::string new_activation_id() {
    static const char hex[] = "0123456789abcdef";
    std::string s(32, '0');
    for (int i = 0; i < 32; i += 16) {
        uint64_t v = rng()();
        for (int j = 0; j < 16; j++) s[(size_t)(i + j)] = hex[(v >> (4 * j)) & 15];
    }
    return s;
}

std::shared_ptr<const RecordedAction> recorded_action(const Action &a) {
    auto r = std::make_shared<RecordedAction>();
    r->name = a.name;
    r->version = a.version;
    r->path = a.path;
    r->kind = a.kind;
    r->binding = a.binding;
    r->limits = a.limits_json;
    r->index = ow::activation_index_name(a.name, a.binding, a.path);
    return r;
}

std::string header(const Request &req, const char *name) {
    auto it = req.find(name);
    return it == req.end() ? std::string() : std::string(it->value());
}

Activation read_activation(const Request &req, Entry entry, const std::string &owner,
                           std::shared_ptr<const RecordedAction> action) {
    Activation a;
    a.id = header(req, "X-OW-Activation-Id");
    if (!ow::valid_activation_id(a.id)) a.id = new_activation_id();
    a.tid = header(req, "X-Request-ID");
    if (a.tid.empty()) a.tid = a.id;
    a.trace = make_trace(header(req, "traceparent"), a.id, rng()());
    if (entry == Entry::invoke) {
        a.ns = header(req, "X-OW-Namespace");
        a.subject = header(req, "X-OW-Subject");
        a.cause = header(req, "X-OW-Cause");
        if (!ow::valid_activation_id(a.cause)) a.cause.clear();
        a.cause_is_trigger = header(req, "X-OW-Cause-Kind") == "trigger";
    }
    if (a.ns.empty()) a.ns = owner;
    if (a.subject.empty()) a.subject = a.ns;
    std::string accept = header(req, "X-OW-Accept-Time");
    a.accept_ms = accept.empty() ? ow::now_ms() : std::strtoll(accept.c_str(), nullptr, 10);
    if (a.accept_ms <= 0) a.accept_ms = ow::now_ms();
    a.action = std::move(action);
    return a;
}

}  // namespace ow::sidecar
