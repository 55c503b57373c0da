// netns.h: whether this process may give a child a network namespace of
// its own (sidecar/runtime_netns.h), asked once at start by the
// pool-manager so that a machine that refuses it is logged once, not once
// per container.
#pragma once

#include <string>

namespace ow {

// A throwaway child tries unshare(CLONE_NEWNET). False with *why (the
// errno's text) where the kernel refuses it: no CAP_SYS_ADMIN (owx not run
// as root), an unprivileged container, a kernel without CONFIG_NET_NS.
bool netns_allowed(std::string *why);

}  // namespace ow
