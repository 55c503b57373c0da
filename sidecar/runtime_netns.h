// runtime_netns.h: the runtime in a network namespace of its own (local
// backend; README, Security model).
//
// Why: a runtime that shares the host's loopback can connect to Redis, the
// pool-manager, the other sidecars and the gateway's loopback-only locations;
// they refuse it by authentication alone. In a fresh network namespace the
// host's loopback does not exist: 127.0.0.1 is the namespace's own, where
// nothing listens but what the sidecar puts there.
//
// How: the runtime's child process, still root between fork and exec,
// unshare(CLONE_NEWNET)s, brings its `lo` up and binds a listening TCP
// socket at the API host's address and port (__OW_API_HOST, when it names a
// loopback address: http://127.0.0.1:3233 on the local stack). It sends that
// socket and a handle of the namespace back to the sidecar over a socket
// pair (SCM_RIGHTS) and goes on to its confinement and exec. A socket keeps
// the namespace it was created in, so the sidecar accepts the action's API
// connections there and relays them to the real gateway in its own
// namespace (api_relay.h): the only address of the host an action reaches
// through loopback. The outside world comes through slirp4netns (slirp.h),
// given the namespace handle. The runtime's own socket (/init, /run) is a
// Unix socket bound by path, which works across namespaces.
//
// Where the kernel refuses unshare (no CAP_SYS_ADMIN: owx not run as root,
// an unprivileged container): NetnsMode::automatic runs the runtime in the
// host's namespace as before, and the caller logs it; NetnsMode::on makes
// the start fail.
#pragma once

#include <string>
#include <sys/socket.h>

namespace ow::sidecar {

enum class NetnsMode { off, automatic, on };

// "off", "auto", "on". False on anything else.
bool parse_netns_mode(const std::string &s, NetnsMode *mode);

// The address the namespace offers the API at: __OW_API_HOST's host and
// port when the host is a loopback address ("127.x.y.z", "[::1]"), the same
// in both namespaces. "localhost" is 127.0.0.1, where owx's gateway listens:
// a relay at ::1 to a gateway not listening there would accept and then
// close, where a refused connect lets a client fall back to 127.0.0.1.
struct RelayAddr {
    bool set = false;   // false: no API to relay
    struct sockaddr_storage addr;
    socklen_t len = 0;
};

// Parses api_host ("http[s]://host[:port][/...]"). True with out->set
// false for an empty api_host (no API given: nothing to relay). False with *why
// when the API is not on a loopback address (it is then outside the
// namespace: reached through slirp4netns like any other host) or the URL is
// malformed.
bool relay_address(const std::string &api_host, RelayAddr *out, std::string *why);

// "127.0.0.1:3233", "[::1]:3233".
std::string addr_text(const struct sockaddr_storage &a);

// What the child reports once, on its end of the socket pair.
struct NetnsReport {
    int err = 0;    // errno of the step that failed, 0: none
    int step = 0;   // kNetnsOk or the step that failed
};
constexpr int kNetnsOk = 0;
constexpr int kNetnsUnshare = 1;   // refused: the child is still in the host's namespace
constexpr int kNetnsLoopback = 2;  // inside the new namespace, lo could not be brought up
constexpr int kNetnsListen = 3;    // inside, a relay address could not be bound
constexpr int kNetnsReport = 4;    // the report itself could not be sent

// In the child, between fork and confinement (it needs CAP_SYS_ADMIN and
// CAP_NET_ADMIN): the namespace, lo up, a listener at the relay address
// (when set), and one report on report_fd carrying [namespace fd, listener
// fd] when step is kNetnsOk. Async-signal-safe (system calls only, nothing
// allocated). Returns the report's step.
int enter_runtime_netns(const RelayAddr &relay, int report_fd);

// The namespace as the sidecar holds it.
struct RuntimeNetns {
    bool entered = false;      // the runtime is in a namespace of its own
    int refused_errno = 0;     // unshare's errno when it was refused
    int ns_fd = -1;            // /proc/<runtime>/ns/net, for slirp4netns
    int listener = -1;         // at the relay address, when it is set
    void close_all();
};

// In the sidecar: the child's report, waiting at most timeout_ms. False
// with *err when none came or a step after unshare failed; true otherwise
// (out->entered false when unshare was refused).
bool receive_runtime_netns(int report_fd, int timeout_ms, RuntimeNetns *out, std::string *err);

}  // namespace ow::sidecar
