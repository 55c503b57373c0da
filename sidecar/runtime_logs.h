// runtime_logs.h: the output of a runtime the sidecar did not spawn.
//
// An external runtime (sidecar --runtime-url: the runtime's own container of
// a Kubernetes pod) is no child of the sidecar, so its stdout and stderr are
// no pipes of ours. They come through two FIFOs in a directory both
// containers mount (an emptyDir; sidecar --runtime-logs DIR): the sidecar
// creates DIR/stdout and DIR/stderr and reads them; the runtime container's
// command is wrapped by a shell that waits for DIR/stderr (created last)
// and execs the image's entrypoint with its output redirected to them
// (libow/runtime_log_wrapper.h; pool-manager/backends/kube/kube_backend.cc puts it in the
// pod).
// An unmodified OpenWhisk runtime image prints the sentinel lines there as
// it would on its own streams, so LogCollector works unchanged.
//
// FIFOs, not files: bounded (a pipe's buffer; a runtime that prints faster
// than the sidecar reads blocks, as with the pipes of a spawned runtime)
// and nothing piles up on the pod's disk. The sidecar opens each O_RDWR
// (Linux: a FIFO opened so is a reader and a writer at once), so its read
// never sees EOF while the runtime has not opened its end yet, and the
// open does not block.
//
// The directory is writable by the runtime (hostile code): whatever it put
// at those names is removed first, the FIFOs are opened with O_NOFOLLOW and
// must be FIFOs (a symbolic link to a credential file of the sidecar's
// container must not be read back as "logs").
#pragma once

#include <string>

namespace ow::sidecar {

struct RuntimeLogFifos {
    int fd[2] = {-1, -1};   // stdout, stderr: what the sidecar reads
    void close_all();
};

// Creates dir/stdout and dir/stderr (mode 0622: the runtime's uid differs
// from ours) and opens them, non-blocking and close-on-exec. False with *err
// (nothing left open).
bool open_runtime_log_fifos(const std::string &dir, RuntimeLogFifos *out, std::string *err);

// Creates dir/sidecar-exited: the runtime container's wrapper passes the
// kubelet's SIGTERM on to the runtime only then, so a drain finishes the
// runs in flight (libow/runtime_log_wrapper.h). Best effort: without it the
// pod's grace period ends the runtime.
void mark_sidecar_exited(const std::string &dir);

}  // namespace ow::sidecar
