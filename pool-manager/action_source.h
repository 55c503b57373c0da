// action_source.h: what the pool-manager needs to know about an action
// before it starts a container (kind, memory, concurrency). The production
// source resolves the action key (libow/action_ref.h: bindings, other
// namespaces' public packages) and reads the documents from Redis
// (owx:{ns}:e:<path>, fields coll and doc); tests use a map.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace ow {
class Redis;   // libow/redis_client.h
}  // namespace ow

namespace ow::pm {

struct ActionInfo {
    std::string kind;
    int64_t memory = 256;     // MB (limits.memory)
    int64_t concurrency = 1;  // limits.concurrency
    // For the activation record the pool-manager writes when an accepted
    // non-blocking invoke cannot be delivered (invoke_queue.h).
    std::string version = "0.0.1";
    nlohmann::json limits;    // timeout, memory, logs, concurrency: all four
    // The action actually run ("ns/pkg/name": the record's "path") and the
    // binding it was invoked through ("ns/binding", or ""): an action key
    // names the action as invoked (libow/action_ref.h).
    std::string path;
    std::string binding;
    // Actions the gateway drives itself (modules/gateway/ngx_http_ow_compose_module.c):
    // a sequence (kind "sequence": no container) with its fully qualified
    // components, or a conductor action (annotation conductor truthy: it has
    // containers, but an invocation is a conductor/component loop).
    bool sequence = false;
    nlohmann::json components;  // ["/ns/[pkg/]name", ...] when sequence
    bool conductor = false;
    // Annotation web-export exactly true (as the sidecar reads it): a web
    // request for any other action is 404 before a container starts.
    bool web_export = false;
    // What the gateway shapes a web request of a sequence or conductor
    // action by (libow/ow_web.h): {"annotations": [...], "parameters":
    // [package's..., binding's..., action's...]}. Filled by lookup().
    nlohmann::json web_facts;
    // The invoker's namespace limit maxContainers (owx:{ns}:limits, set by
    // ow-admin limits): its cap of starting + warm containers; 0: the
    // pool-manager's --max-containers-per-namespace.
    int64_t max_containers = 0;
};

struct ActionLookup {
    enum Status { ok, not_found, forbidden, failed };
    Status status = failed;
    ActionInfo info;
    std::string error;        // the OpenWhisk message for not_found, forbidden
};

class ActionSource {
public:
    virtual ~ActionSource() = default;
    virtual ActionLookup lookup(const std::string &ns,
                                const std::string &path) = 0;
};

// Parses a stored action document; error status when it is unusable.
ActionLookup parse_action_doc(const std::string &doc);
ActionLookup parse_action_json(const nlohmann::json &doc);

class RedisActionSource : public ActionSource {
public:
    explicit RedisActionSource(Redis &redis) : redis_(redis) {}
    ActionLookup lookup(const std::string &ns, const std::string &path) override;

private:
    Redis &redis_;
};

}  // namespace ow::pm
