// sanitizer_defaults.cc: how the processes of an ASan + UBSan build report
// (make test-asan). Linked only into such builds: by CMakeLists.txt into
// ow-sidecar and ow-pool-manager (OW_SANITIZE), by the Makefile into the
// nginx module (SANITIZE=1). OW_SANITIZE_LOG is the reports' path prefix
// (<dir>/daemon, <dir>/nginx); without it everything goes to stderr.
//
// Compiled in rather than left to ASAN_OPTIONS / UBSAN_OPTIONS:
// - the daemons are not always started with our environment (the Kubernetes
//   simulator, t/kube, gives a sidecar the pod's environment alone);
// - nginx workers cannot read UBSAN_OPTIONS: UBSan starts lazily, at its
//   first report, and reads the variable from /proc/self/environ, which
//   nginx has overwritten with the process title by then. (ASan starts
//   with the process: stack.py gives nginx ASAN_OPTIONS, and libasan in
//   LD_PRELOAD, and these defaults are not asked for there.)
//
// gcc's UBSan (libubsan, beside libasan) writes its diagnostics to stderr
// whatever log_path says, and its log_path ends up as ASan's (UBSan passes it
// to __sanitizer_set_report_path, which libasan's copy answers): both get the
// same prefix, and __ubsan_on_report below also writes each UBSan diagnostic
// into <prefix>-ubsan.<exe>.<pid>, so that every finding leaves a file. The
// full diagnostic with its stack trace is in the process's stderr (nginx's
// error log, the pool-manager's log, which its sidecars share).
//
// halt_on_error, abort_on_error: the first finding kills the process with
// SIGABRT (an nginx worker's "exited on signal 6" is an [alert] t/ sees).
// detect_leaks=0: the daemons are stopped by signals (SIGTERM, SIGKILL in the
// tests of crashes and by the pool-manager's collector), so a leak check at
// exit would see whatever a process held when told to go, and most never
// reach exit() at all; nginx leaves its pools to exit() by design. Leaks are
// checked by the unit tests (ctest), which end normally.
//
// ASAN_OPTIONS / UBSAN_OPTIONS, when a process can read them, are applied
// after these.

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef OW_SANITIZE_LOG
#define OW_LOG_OPTIONS ":log_exe_name=1:log_path=" OW_SANITIZE_LOG
#else
#define OW_LOG_OPTIONS ""
#endif

#define OW_HOOK extern "C" __attribute__((visibility("default"), used, \
                                           no_sanitize("address", "undefined")))

OW_HOOK const char *__asan_default_options() {
    return "halt_on_error=1:abort_on_error=1:detect_leaks=0" OW_LOG_OPTIONS;
}

OW_HOOK const char *__ubsan_default_options() {
    return "halt_on_error=1:abort_on_error=1:print_stacktrace=1" OW_LOG_OPTIONS;
}

extern "C" void __ubsan_get_current_report_data(const char **kind, const char **message,
                                                const char **file, unsigned *line,
                                                unsigned *column, char **address);

// Called by UBSan for each diagnostic, before it prints it (and dies).
OW_HOOK void __ubsan_on_report() {
#ifdef OW_SANITIZE_LOG
    const char *kind = nullptr, *message = nullptr, *file = nullptr;
    unsigned line = 0, column = 0;
    char *address = nullptr;
    __ubsan_get_current_report_data(&kind, &message, &file, &line, &column, &address);
    char exe[1024] = "unknown";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) exe[n] = '\0';
    const char *base = strrchr(exe, '/');
    char path[4096];
    snprintf(path, sizeof path, "%s-ubsan.%s.%d", OW_SANITIZE_LOG, base ? base + 1 : exe,
             (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    dprintf(fd,
            "%s:%u:%u: runtime error: %s [%s]\n"
            "(UBSan, pid %d: the stack trace is in the process's stderr)\n",
            file ? file : "<unknown>", line, column, message ? message : "",
            kind ? kind : "", (int)getpid());
    close(fd);
#endif
}
