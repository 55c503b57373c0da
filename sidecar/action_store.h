// action_store.h: reads the action (and its package) document from Redis at
// start-up: owx:{ns}:e:<path> fields coll, doc (docs/redis-schema.md). The
// spec is an action key (libow/action_ref.h): through a binding, or in
// another namespace's public package, the action run is another one.
#pragma once

#include <cstdint>
#include <string>

#include "libow/secrets.h"
#include "sidecar/action.h"

namespace ow::sidecar {

// Synchronous, on the io thread: at start-up, and when a stemcell is
// specialized (it serves nothing meanwhile); one connection
// (libow/redis_client.h) with a 5 s deadline for the connect and each
// command. False with *err when Redis cannot be read, the action is missing
// or malformed.
bool load_action(const std::string &host, uint16_t port, const ow::RedisCredentials &cred,
                 const std::string &spec, Action *a, std::string *err);

}  // namespace ow::sidecar
