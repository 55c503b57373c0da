// runtime_process.h: the runtime as a child process of the sidecar.
//
// The sidecar binds the runtime's loopback port itself and hands the bound
// socket to the runtime as fd 3 (LISTEN_FDS=1 and LISTEN_PID, systemd's
// socket-activation convention); the runtime listens on it instead of
// binding "{port}" (which its arguments still name). Picking a free port
// and letting the runtime bind it later raced with every other bind(:0) on
// the machine: another container's sidecar could take the port in between
// and receive this container's /init and /run.
// The runtime's stdout and stderr are pipes the sidecar reads (logs); stdin
// is /dev/null. The child leads its own process group so kill() also
// reaches anything it forked.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace owsc {

// A TCP socket bound to a free loopback port (not listening yet: a connect
// is refused until the runtime listens). Returns the fd and sets *port, or
// -1.
int bind_runtime_socket(int *port);

struct RuntimeProcess {
    pid_t pid = -1;
    int out_fd = -1;   // read end of the child's stdout
    int err_fd = -1;   // read end of the child's stderr
};

// Spawns argv (with {port} replaced) adding env entries ("K=V"), with
// listen_fd as its fd 3; the caller closes its own listen_fd afterwards.
// False with *err on failure.
bool spawn_runtime(const std::vector<std::string> &argv, int port, int listen_fd,
                   const std::vector<std::string> &env, RuntimeProcess *p,
                   std::string *err);

// SIGKILL to the child's process group (idempotent).
void kill_runtime(const RuntimeProcess &p);

}  // namespace owsc
