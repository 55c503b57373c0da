// action_source.h: what the pool-manager needs to know about an action
// before it starts a container (kind, memory, concurrency). The production
// source reads the action document from Redis (owx:{ns}:e:<path>, field
// doc); tests use a map.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace ow::pm {

class Redis;

struct ActionInfo {
    std::string kind;
    int64_t memory = 256;     // MB (limits.memory)
    int64_t concurrency = 1;  // limits.concurrency
    // For the activation record the pool-manager writes when an accepted
    // non-blocking invoke cannot be delivered (invoke_queue.h).
    std::string version = "0.0.1";
    nlohmann::json limits;    // timeout, memory, logs, concurrency: all four
};

struct ActionLookup {
    enum Status { ok, not_found, failed };
    Status status = failed;
    ActionInfo info;
    std::string error;
};

class ActionSource {
public:
    virtual ~ActionSource() = default;
    virtual ActionLookup lookup(const std::string &ns,
                                const std::string &path) = 0;
};

// Parses a stored action document; error status when it is unusable.
ActionLookup parse_action_doc(const std::string &doc);

class RedisActionSource : public ActionSource {
public:
    explicit RedisActionSource(Redis &redis) : redis_(redis) {}
    ActionLookup lookup(const std::string &ns, const std::string &path) override;

private:
    Redis &redis_;
};

}  // namespace ow::pm
