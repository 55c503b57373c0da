// activation_store.h: how an activation record is stored in Redis, shared by
// every C++ writer (the sidecar's records, the pool-manager's failure
// records). The reference is tools/owx/activation.py (write_activation);
// docs/redis-schema.md, "Activation record", is the contract. Key formats come
// from schema/ow_schema.h, the one list of keys for C, C++ and Python.
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
// Several records of one namespace and one index name in one script run
// (ow_schema.h OW_LUA_WRITE_ACTIVATIONS): each as the script above writes it,
// the indexes trimmed, extended and given their expiry once for all.
// KEYS: namespace index, name index, then each record's key
// ARGV: retention ms, then per record: record json, start ms, activationId
// -> the number stored
extern const char kWriteActivationsLua[];

// The per-name index of a record (activation.py index_name): "<binding
// pkg>/<name>" through a binding, "<pkg>/<name>" for a packaged action,
// else "<name>".
std::string activation_index_name(const nlohmann::json &record);
// The same from the record's name and its binding and path annotations
// ("" when absent).
std::string activation_index_name(const std::string &name, const std::string &binding,
                                  const std::string &path);

// Redis keys (ow_schema.h): owx:{ns}:a:<id>, owx:{ns}:ai, owx:{ns}:ai:<name>,
// the entity an activation runs, owx:{ns}:e:<path>, and the pieces of its
// code when too big for the document, owx:{ns}:code:<id> (ow_code.h).
std::string activation_key(const std::string &ns, const std::string &id);
std::string act_index_key(const std::string &ns);
std::string act_name_index_key(const std::string &ns, const std::string &name);
std::string entity_key(const std::string &ns, const std::string &path);
std::string code_key(const std::string &ns, const std::string &id);
// owx:{ns}:limits: the namespace's limits (JSON; ow-admin limits set)
std::string limits_key(const std::string &ns);
// WebSocket connections (docs/websockets.md): owx:{ns}:connections, the
// open ones by expiry; owx:{ns}:conn:<id>, one's registry entry
std::string connections_key(const std::string &ns);
std::string connection_key(const std::string &ns, const std::string &id);
// owx:{ns}:rate:<epoch minute>: the namespace's invocations in that minute
// (the gateways' ow_limit; the sidecar adds WebSocket messages)
std::string rate_key(const std::string &ns, const std::string &minute);

}  // namespace ow
