// runtime_log_wrapper.h: the shell that wraps an external runtime's
// entrypoint (the runtime's own container of a Kubernetes pod): the
// pool-manager puts it in the runtime container's command
// (pool-manager/backends/kube/kube_backend.cc), the sidecar makes the files it looks at
// (sidecar/runtime_logs.h). One text for both, here.
//
//   /bin/sh -c kRuntimeLogWrapper sh DIR <entrypoint...>
//
// - Output: waits up to 60 s (600 x 0.1 s) for DIR/stderr to be a FIFO (the
//   sidecar makes DIR/stdout first), else exits 1 (the sidecar never came:
//   the pod fails rather than print where nobody reads), then runs the
//   entrypoint with stdout into DIR/stdout and stderr into DIR/stderr.
// - Drain: the kubelet's SIGTERM reaches both containers of a pod at once,
//   but the runtime must outlive the sidecar's drain (its in-flight runs).
//   So the entrypoint runs as this shell's child, not exec'd (a container
//   runtime signals the container's init alone), and the shell's TERM trap
//   waits until the sidecar has exited (it creates DIR/sidecar-exited) or
//   the runtime has, at most an hour (the pod's grace period, 330 s by
//   default, ends it sooner with SIGKILL), then passes TERM on. The
//   runtime's exit status is the container's.
//   A TERM between the runtime's fork and `p=$!` finds p empty: the trap
//   takes the pid from $! (the script's only background job), so the
//   runtime is never orphaned by a stop that came as it started.
// DIR is an argument, not part of the script: the script is the same in
// every pod.
#pragma once

namespace ow {

// created by the sidecar in DIR when it exits
inline constexpr const char kSidecarExitedFile[] = "sidecar-exited";

inline constexpr const char kRuntimeLogWrapper[] =
    "d=$1; shift; p=; "
    "trap 'p=${p:-$!}; [ -n \"$p\" ] || exit 143; i=0; "
    "while [ ! -e \"$d/sidecar-exited\" ] && [ $i -lt 36000 ] && kill -0 \"$p\" 2>/dev/null; "
    "do i=$((i+1)); sleep 0.1; done; kill -TERM \"$p\" 2>/dev/null' TERM; "
    "i=0; while [ ! -p \"$d/stderr\" ]; do "
    "i=$((i+1)); [ $i -gt 600 ] && { echo 'owx: no log FIFOs in '\"$d\" >&2; exit 1; }; "
    "sleep 0.1; done; "
    "\"$@\" >\"$d/stdout\" 2>\"$d/stderr\" & p=$!; "
    "wait \"$p\"; s=$?; "
    "while kill -0 \"$p\" 2>/dev/null; do wait \"$p\"; s=$?; done; exit $s";

}  // namespace ow
