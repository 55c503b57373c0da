// runtime_process.h: the runtime as a child process of the sidecar.
//
// The runtime command's "{port}" arguments are replaced by a free loopback
// port; its stdout and stderr are pipes the sidecar reads (logs); stdin is
// /dev/null. The child leads its own process group so kill() also reaches
// anything it forked.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace owsc {

// A loopback TCP port that was free a moment ago (bind :0, read, close).
int pick_free_port();

struct RuntimeProcess {
    pid_t pid = -1;
    int out_fd = -1;   // read end of the child's stdout
    int err_fd = -1;   // read end of the child's stderr
};

// Spawns argv (with {port} replaced) adding env entries ("K=V"). False with
// *err on failure.
bool spawn_runtime(const std::vector<std::string> &argv, int port,
                   const std::vector<std::string> &env, RuntimeProcess *p,
                   std::string *err);

// SIGKILL to the child's process group (idempotent).
void kill_runtime(const RuntimeProcess &p);

}  // namespace owsc
