// runtime_process.h: the runtime as a child process of the sidecar, and the
// runtime's confinement.
//
// The sidecar binds the runtime's socket itself and hands it to the runtime
// as fd 3 (LISTEN_FDS=1 and LISTEN_PID, systemd's socket-activation
// convention); the runtime listens on it instead of binding "{port}" (which
// its arguments still name; it becomes 0). The socket is a Unix socket in a
// directory only the sidecar's uid can enter (RuntimeSocket): the runtime
// speaks an unauthenticated protocol (/init, /run), so no other process, in
// particular another tenant's action, may reach it. A loopback TCP port
// could be reached by every process of the machine (an action could /init a
// waiting stemcell with its own code, or /run another tenant's code).
//
// With a runtime uid (local backend, the sidecar running as root) the child
// gives up every privilege before exec: its own uid and gid (no
// supplementary groups), no new privileges, and resource limits (processes,
// open files; memory is the pool-manager's RLIMIT_DATA / cgroup on the whole
// container). Its uid is its own: it can signal, ptrace or read /proc of no
// process but its own, and reads no file of the platform's (state files are
// 0600 in 0700 directories). The environment is a short allow list: nothing
// of the sidecar's (or the pool-manager's) reaches user code.
//
// With a network namespace (runtime_netns.h) the child enters it before it
// gives up root: the namespace must be created with CAP_SYS_ADMIN, and the
// runtime never holds a capability in it.
//
// The runtime's stdout and stderr are pipes the sidecar reads (logs); stdin
// is /dev/null. The child leads its own process group so kill() also
// reaches anything it forked; with a runtime uid, kill_runtime() also kills
// whatever of that uid left the group (setsid, double fork).
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

#include "sidecar/runtime_netns.h"

namespace ow::sidecar {

// A Unix stream socket bound (not listening yet: a connect is refused until
// the runtime listens) at <private dir>/runtime.sock, the directory
// owx-runtime-<pid>-XXXXXX made 0700 under $TMPDIR (default /tmp). The
// destructor removes both; bind() first removes those of dead sidecars.
class RuntimeSocket {
public:
    RuntimeSocket() = default;
    ~RuntimeSocket();
    RuntimeSocket(const RuntimeSocket &) = delete;
    RuntimeSocket &operator=(const RuntimeSocket &) = delete;
    bool bind(std::string *err);
    int fd() const { return fd_; }
    void close_fd();   // the runtime holds it now
    const std::string &path() const { return path_; }

private:
    int fd_ = -1;
    std::string dir_, path_;
};

struct RuntimeProcess {
    pid_t pid = -1;
    int out_fd = -1;   // read end of the child's stdout
    int err_fd = -1;   // read end of the child's stderr
    uid_t uid = 0;     // the runtime's own uid; 0: the sidecar's
    RuntimeNetns net;  // its network namespace, when it has one
};

struct RuntimeLimits {
    uid_t uid = 0;             // 0: run as the sidecar's uid (no setuid)
    long max_processes = 512;  // RLIMIT_NPROC of that uid
    long max_open_files = 4096;
    // its own network namespace: off, automatic (where the kernel allows
    // it) or on (refused: the spawn fails); relay: the API's addresses in it
    NetnsMode netns = NetnsMode::off;
    RelayAddr relay;
};

// The environment a runtime starts with: the allow-listed variables of
// this process's environment (PATH, locale, TZ, the Node.js and Python
// search paths and options) and extra ("K=V").
std::vector<std::string> runtime_environment(const std::vector<std::string> &extra);

// In a child between fork and exec: closes every descriptor from `first` up.
// The sidecar's own sockets (its listener, which the gateway sends /invoke
// with the internal token to; its Redis connections) are opened by asio and
// hiredis without close-on-exec, so a runtime exec'd without this would hold
// them: user code could accept the sidecar's requests. Async-signal-safe:
// close_range(2), else a close() of each possible descriptor.
void close_descriptors_from(int first);

// Spawns argv ({port} replaced by 0) with env (runtime_environment()),
// listen_fd as its fd 3, under limits; the caller closes its own listen_fd
// afterwards. With limits.netns the namespace's handles come back in
// p->net (the caller owns them; p->net.entered false when the kernel
// refused and limits.netns is automatic). False with *err on failure.
bool spawn_runtime(const std::vector<std::string> &argv, int listen_fd,
                   const std::vector<std::string> &env, const RuntimeLimits &limits,
                   RuntimeProcess *p, std::string *err);

// SIGKILL to the child's process group and, with a runtime uid, to every
// process of that uid (idempotent).
void kill_runtime(const RuntimeProcess &p);

}  // namespace ow::sidecar
