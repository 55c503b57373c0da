// action_ref.h: how a container's action key names the action it runs, and
// how that name resolves through a package binding or another namespace's
// public package (openwhisk-api.md §1, §3, §5). Shared by the pool-manager
// (before it starts a container) and the sidecar (when it loads its action),
// so both decide visibility and parameters the same way.
//
// Action keys (the warm table's "action", the capacity API's "action", the
// sidecar's --action, X-OW-Path) always begin with the INVOKER's namespace,
// so containers are never shared between invoking namespaces (OpenWhisk keys
// containers by invocation namespace + action):
//   <invoker>/<name>, <invoker>/<pkg>/<name>   the invoker's own namespace
//                                              (<pkg> may be a binding)
//   <invoker>/<owner>/<pkg>/<name>             a package of another namespace
// Entity names cannot contain '/', so the segment count tells them apart.
#pragma once

#include <functional>
#include <vector>
#include <string>

#include <nlohmann/json.hpp>

namespace ow {

struct ActionKey {
    std::string invoker;   // the caller's namespace (records go there)
    std::string ns;        // namespace as invoked (== invoker, or a foreign one)
    std::string pkg;       // "" for a root action
    std::string name;
};

// False on a malformed key (empty segment, a foreign root action, a
// four-segment key naming the invoker's own namespace twice).
bool parse_action_key(const std::string &key, ActionKey *out);

// One stored entity (owx:{ns}:e:<path>): found, its collection and document.
struct EntityDoc {
    bool found = false;
    std::string coll;
    nlohmann::json doc;
};

// Reads ns/path; false (with *err) only when the store cannot be read.
using EntityFetch = std::function<bool(const std::string &ns, const std::string &path,
                                       EntityDoc *out, std::string *err)>;

struct ResolvedAction {
    enum Status { ok, not_found, forbidden, failed };
    Status status = failed;
    std::string error;         // OpenWhisk message (404/403) or the read error
    std::string ns, pkg, name; // the action that runs
    std::string path;          // ns/pkg/name: the record's "path" annotation
    std::string binding;       // "<invoker>/<binding>" through a binding, else ""
    nlohmann::json action;     // its document
    nlohmann::json package;    // the (bound) package's document, or null
    nlohmann::json binding_doc;// the binding's document, or null
};

// At most three reads: the invoked package, the bound package, the action.
// A foreign package that is missing, private or a binding is 403, like a
// private one, so nothing leaks about other namespaces (OpenWhisk's
// PackageCollection entitlement); a missing action of a visible package 404.
ResolvedAction resolve_action(const ActionKey &key, const EntityFetch &fetch);

}  // namespace ow
