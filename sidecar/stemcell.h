// stemcell.h: the sidecar's stemcell mode (--stemcell <lifetime>).
//
// A stemcell is a sidecar whose runtime is started before any action is
// known, so that a cold start pays only /init (the pool-manager keeps a few
// per runtime kind and memory size: pool-manager/placement/stemcell_pool.h). It
// writes "ready <ip>:<port>" on --ready-fd once the runtime listens, then
// takes one POST /specialize {"action":"<action key>"}: the action is read
// from Redis exactly as at a normal start (action_store.h), /init runs, and
// the answer is 200 {"ready":true,"initTime":ms} or 502 with the init
// failure (then the sidecar exits 3, as a failed normal start does). From
// then on it is an ordinary sidecar of that action. Not specialized within
// its lifetime, it exits 0: a pool-manager that died cannot leak it.
#pragma once

#include <string>

namespace ow::sidecar {

// The action key of a /specialize body. False with *err (the 400 message)
// when the body is not {"action":"<ns>/..."} with a string key.
bool parse_specialize(const std::string &body, std::string *key, std::string *err);

}  // namespace ow::sidecar
