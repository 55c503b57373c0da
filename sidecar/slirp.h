// slirp.h: the outside world for a runtime's network namespace
// (runtime_netns.h), through slirp4netns (Debian package slirp4netns).
//
// slirp4netns is user-mode networking: it puts a tap device (tap0,
// 10.0.2.100/24, default route via 10.0.2.2, DNS at 10.0.2.3) into the
// namespace and turns the namespace's packets into ordinary socket calls of
// its own process in the host's namespace. So an action reaches what the
// host reaches, except:
//   - the host's loopback: --disable-host-loopback refuses 10.0.2.2 (the
//     host) and 127.0.0.0/8, so Redis, the pool-manager and the sidecars,
//     bound to 127.0.0.1, stay out of reach;
// and including, which an operator must know:
//   - every service bound to a non-loopback address of the host (0.0.0.0,
//     the host's LAN address, a container bridge): slirp connects from the
//     host, as any process there would. Bind internal services to loopback
//     (owx's own are), or firewall them.
// It runs sandboxed (--enable-sandbox: its own mount namespace, every
// capability dropped; --enable-seccomp), one process per runtime (~3 MB
// resident), and ends with the sidecar: its --exit-fd is a pipe whose
// write end only the sidecar holds.
//
// Names: the runtime reads the host's /etc/resolv.conf. A resolver on a
// non-loopback address is reached through slirp4netns; one on loopback
// (systemd-resolved's 127.0.0.53) is not, and names do not resolve in the
// namespace (the resolver of 10.0.2.3 would need a resolv.conf of the
// namespace's own: not done).
#pragma once

#include <string>
#include <sys/types.h>

namespace ow::sidecar {

struct Slirp {
    pid_t pid = -1;
    int exit_fd = -1;   // closing it ends slirp4netns
};

// Starts `path` on the namespace ns_fd and waits at most timeout_ms until
// it configured the namespace (its --ready-fd). False with *err when it
// could not be started or was not ready in time (then it is stopped).
bool start_slirp(const std::string &path, int ns_fd, int timeout_ms, Slirp *s,
                 std::string *err);

// Ends it (idempotent). The sidecar's SIGCHLD handler reaps it.
void stop_slirp(Slirp *s);

}  // namespace ow::sidecar
