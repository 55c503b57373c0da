// action_ref.cc: see action_ref.h.
#include "libow/action_ref.h"

namespace ow {

static const char kNotFound[] = "The requested resource does not exist.";

bool parse_action_key(const std::string &key, ActionKey *out) {
    std::vector<std::string> seg;
    size_t from = 0;
    for (;;) {
        size_t slash = key.find('/', from);
        std::string s = key.substr(from, slash == std::string::npos ? slash : slash - from);
        if (s.empty()) return false;
        seg.push_back(std::move(s));
        if (slash == std::string::npos) break;
        if (seg.size() == 4) return false;
        from = slash + 1;
    }
    if (seg.size() < 2) return false;
    *out = ActionKey();
    out->invoker = seg[0];
    out->name = seg.back();
    if (seg.size() == 2) {
        out->ns = seg[0];
    } else if (seg.size() == 3) {
        out->ns = seg[0];
        out->pkg = seg[1];
    } else {
        // another namespace's action: only ever in a package
        if (seg[1] == seg[0]) return false;
        out->ns = seg[1];
        out->pkg = seg[2];
    }
    return true;
}

static bool is_binding(const nlohmann::json &pkg) {
    auto b = pkg.find("binding");
    return b != pkg.end() && b->is_object() && !b->empty();
}

static bool is_public(const nlohmann::json &pkg) {
    auto p = pkg.find("publish");
    return p != pkg.end() && p->is_boolean() && p->get<bool>();
}

ResolvedAction resolve_action(const ActionKey &key, const EntityFetch &fetch) {
    ResolvedAction r;
    std::string invoked = key.ns + "/" + (key.pkg.empty() ? "" : key.pkg + "/") + key.name;
    bool owner = key.ns == key.invoker;
    auto deny = [&](bool own) {
        if (own) {
            r.status = ResolvedAction::not_found;
            r.error = kNotFound;
        } else {
            r.status = ResolvedAction::forbidden;
            r.error = "The supplied authentication is not authorized to access '" +
                      invoked + "'.";
        }
        return r;
    };
    auto read = [&](const std::string &ns, const std::string &path, EntityDoc *d) {
        if (fetch(ns, path, d, &r.error)) return true;
        r.status = ResolvedAction::failed;
        return false;
    };

    if (key.pkg.empty() && !owner) return deny(false);
    r.ns = key.ns;
    r.pkg = key.pkg;
    r.name = key.name;

    if (!key.pkg.empty()) {
        EntityDoc pkg;
        if (!read(key.ns, key.pkg, &pkg)) return r;
        if (!pkg.found || pkg.coll != "packages" || !pkg.doc.is_object()) return deny(owner);
        if (is_binding(pkg.doc)) {
            // only the binding's owner may invoke through it
            if (!owner) return deny(false);
            const nlohmann::json &b = pkg.doc["binding"];
            auto bns = b.find("namespace"), bname = b.find("name");
            if (bns == b.end() || !bns->is_string() || bname == b.end() || !bname->is_string())
                return deny(true);
            std::string bound_ns = bns->get<std::string>();
            bool bound_owner = bound_ns == key.invoker;
            EntityDoc bound;
            if (!read(bound_ns, bname->get<std::string>(), &bound)) return r;
            // bindings of bindings are refused at bind time: never follow one
            if (!bound.found || bound.coll != "packages" || !bound.doc.is_object() ||
                is_binding(bound.doc) || (!bound_owner && !is_public(bound.doc)))
                return deny(bound_owner);
            r.binding = key.invoker + "/" + key.pkg;
            r.binding_doc = std::move(pkg.doc);
            r.package = std::move(bound.doc);
            r.ns = bound_ns;
            r.pkg = bname->get<std::string>();
        } else {
            if (!owner && !is_public(pkg.doc)) return deny(false);
            r.package = std::move(pkg.doc);
        }
    }

    EntityDoc act;
    std::string path = r.pkg.empty() ? r.name : r.pkg + "/" + r.name;
    if (!read(r.ns, path, &act)) return r;
    if (!act.found || act.coll != "actions" || !act.doc.is_object()) return deny(true);
    r.action = std::move(act.doc);
    r.path = r.ns + "/" + path;
    r.status = ResolvedAction::ok;
    r.error.clear();
    return r;
}

}  // namespace ow
