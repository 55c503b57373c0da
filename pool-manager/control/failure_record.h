// failure_record.h: the activation record of an accepted non-blocking
// invoke that could not be delivered to any container (invoke_queue.h).
//
// The client already holds a 202 with the activation id, so the failure must
// be visible through `wsk activation get <id>`: the record is the §3
// activation with response {"status":"whisk internal error","success":false,
// "result":{"error":...}}, stored exactly as tools/owx/activation.py
// write_activation stores it (same Lua script, keys, indexes and PXAT
// expiry; docs/redis-schema.md "Activation record"). The sidecar has its own
// copy of the same script (sidecar/activation_record.cc); the pool-manager
// keeps a small equivalent here rather than linking the sidecar's code.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace ow {
class Redis;   // libow/redis_client.h
}  // namespace ow

namespace ow::pm {

struct FailureInput {
    std::string ns;             // caller's namespace (where it is stored)
    std::string subject;
    std::string action;         // "<ns>/[<pkg>/]<name>" that was to run
    std::string binding;        // "<ns>/<binding>" when invoked through one
    std::string version;
    std::string kind;
    nlohmann::json limits;      // the four fields
    std::string activation_id;
    int64_t accept_ms = 0;      // X-OW-Accept-Time: waitTime is counted from it
    int64_t now_ms = 0;         // start = end (nothing ran)
    std::string error;          // result.error
    std::string cause;          // a fired trigger's activation id, or ""
};

nlohmann::json failure_record(const FailureInput &in);

// Stored like every record: libow/activation_store.h.

// Where records go (Redis in production, a vector in tests). write() is
// synchronous and bounded by the sink's own deadline; false = not stored,
// the caller may retry.
class RecordSink {
public:
    virtual ~RecordSink() = default;
    virtual bool write(const nlohmann::json &record, std::string *err) = 0;
};

class RedisRecordSink : public RecordSink {
public:
    RedisRecordSink(Redis &redis, int64_t retention_ms)
        : redis_(redis), retention_ms_(retention_ms) {}
    bool write(const nlohmann::json &record, std::string *err) override;

private:
    Redis &redis_;
    int64_t retention_ms_;
};

}  // namespace ow::pm
