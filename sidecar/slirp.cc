// slirp.cc: see slirp.h.
#include "sidecar/slirp.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <vector>

#include "libow/clock.h"
#include "sidecar/runtime_process.h"

namespace ow::sidecar {

bool start_slirp(const std::string &path, int ns_fd, int timeout_ms, Slirp *s,
                 std::string *err) {
    // fds in the child: 3 exit, 4 ready, 5 the namespace
    std::vector<std::string> args = {
        path, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox",
        "--enable-seccomp", "--exit-fd=3", "--ready-fd=4", "--netns-type=path",
        "/proc/self/fd/5", "tap0"};
    std::vector<char *> argv;
    for (auto &a : args) argv.push_back(&a[0]);
    argv.push_back(nullptr);
    char *envp[] = {nullptr};
    int exitp[2], readyp[2];
    if (pipe2(exitp, O_CLOEXEC) != 0) { *err = strerror(errno); return false; }
    if (pipe2(readyp, O_CLOEXEC) != 0) {
        *err = strerror(errno);
        close(exitp[0]); close(exitp[1]);
        return false;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        *err = strerror(errno);
        close(exitp[0]); close(exitp[1]); close(readyp[0]); close(readyp[1]);
        return false;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        setpgid(0, 0);
        // its messages ("sent tapfd", a seccomp warning) are not JSON log
        // lines: a failure shows as no ready byte, which the sidecar logs
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) { dup2(devnull, 0); dup2(devnull, 1); dup2(devnull, 2); }
        // dup2 clears close-on-exec; a moved fd must not be overwritten first
        int e = fcntl(exitp[0], F_DUPFD_CLOEXEC, 10);
        int r = fcntl(readyp[1], F_DUPFD_CLOEXEC, 10);
        int n = fcntl(ns_fd, F_DUPFD_CLOEXEC, 10);
        if (e < 0 || r < 0 || n < 0 || dup2(e, 3) != 3 || dup2(r, 4) != 4 || dup2(n, 5) != 5)
            _exit(127);
        close_descriptors_from(6);   // none of the sidecar's sockets
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        execve(argv[0], argv.data(), envp);
        _exit(127);
    }
    close(exitp[0]);
    close(readyp[1]);
    s->pid = pid;
    s->exit_fd = exitp[1];
    // slirp4netns writes "1" once tap0 is up with its address and route
    int64_t end = ow::mono_ms() + timeout_ms;
    char c = 0;
    ssize_t n = -1;
    for (;;) {
        int64_t left = end - ow::mono_ms();
        struct pollfd p = {readyp[0], POLLIN, 0};
        int k = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (k < 0 && errno == EINTR) continue;
        if (k > 0) {
            do {
                n = read(readyp[0], &c, 1);
            } while (n < 0 && errno == EINTR);
        }
        break;
    }
    close(readyp[0]);
    if (n != 1 || c != '1') {
        *err = "slirp4netns (" + path + ") did not configure the namespace in time";
        stop_slirp(s);
        return false;
    }
    return true;
}

void stop_slirp(Slirp *s) {
    if (s->exit_fd >= 0) close(s->exit_fd);
    s->exit_fd = -1;
    if (s->pid > 0) kill(s->pid, SIGKILL);
    s->pid = -1;
}

}  // namespace ow::sidecar
