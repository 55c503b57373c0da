// activation_store.h: how an activation record is stored in Redis, shared by
// every C++ writer (the sidecar's records, the pool-manager's failure
// records). The reference is tools/owx/activation.py (write_activation);
// docs/redis-schema.md, "Activation record", is the contract. Key formats come
// from modules/ow_schema.h, the one list of key patterns for C and C++.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace ow {

// The write script, byte for byte activation.py's WRITE_LUA (a test checks).
// KEYS: record, namespace index, name index
// ARGV: record json, start ms, activationId, retention ms
// -> 1 stored, 0 already past its retention (indexes still trimmed), 2 the
// activation has a record already (kept: the first record of an id wins)
extern const char kWriteActivationLua[];

// The per-name index of a record (activation.py index_name): "<binding
// pkg>/<name>" through a binding, "<pkg>/<name>" for a packaged action,
// else "<name>".
std::string activation_index_name(const nlohmann::json &record);

// Redis keys (ow_schema.h): owx:{ns}:a:<id>, owx:{ns}:ai, owx:{ns}:ai:<name>,
// and the entity an activation runs, owx:{ns}:e:<path>.
std::string activation_key(const std::string &ns, const std::string &id);
std::string act_index_key(const std::string &ns);
std::string act_name_index_key(const std::string &ns, const std::string &name);
std::string entity_key(const std::string &ns, const std::string &path);

}  // namespace ow
