// runtime_process.cc: see runtime_process.h.
#include "sidecar/runtime_process.h"

#include <sys/prctl.h>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

namespace owsc {

int bind_runtime_socket(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

// "LISTEN_PID=<pid>" written into buf without allocating (in the child).
static void format_listen_pid(char *buf, size_t size, pid_t pid) {
    static const char prefix[] = "LISTEN_PID=";
    char digits[24];
    size_t n = 0;
    unsigned long v = (unsigned long)pid;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < sizeof digits);
    size_t at = sizeof prefix - 1;
    if (at + n + 1 > size) return;
    memcpy(buf, prefix, at);
    while (n) buf[at++] = digits[--n];
    buf[at] = '\0';
}

static std::string replace_port(std::string s, int port) {
    std::string p = std::to_string(port);
    for (size_t at; (at = s.find("{port}")) != std::string::npos;)
        s.replace(at, 6, p);
    return s;
}

bool spawn_runtime(const std::vector<std::string> &argv, int port, int listen_fd,
                   const std::vector<std::string> &env, RuntimeProcess *p,
                   std::string *err) {
    if (argv.empty()) { *err = "no runtime command"; return false; }
    std::vector<std::string> args;
    for (const auto &a : argv) args.push_back(replace_port(a, port));
    std::vector<std::string> envs;
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "LISTEN_", 7) != 0) envs.push_back(*e);
    }
    for (const auto &e : env) envs.push_back(e);
    envs.push_back("LISTEN_FDS=1");
    // filled in by the child, which alone knows its pid
    envs.push_back(std::string("LISTEN_PID=") + std::string(20, '0'));
    // build the exec vectors before fork: no allocation in the child
    std::vector<char *> cargv, cenv;
    for (auto &a : args) cargv.push_back(&a[0]);
    cargv.push_back(nullptr);
    for (auto &e : envs) cenv.push_back(&e[0]);
    cenv.push_back(nullptr);

    int out[2], errp[2];
    if (pipe2(out, O_CLOEXEC) != 0) { *err = strerror(errno); return false; }
    if (pipe2(errp, O_CLOEXEC) != 0) {
        *err = strerror(errno);
        close(out[0]); close(out[1]);
        return false;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        *err = strerror(errno);
        close(out[0]); close(out[1]); close(errp[0]); close(errp[1]);
        return false;
    }
    if (pid == 0) {
        setpgid(0, 0);
        // the runtime must not outlive its sidecar, however the sidecar ends
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(errp[1], 2);
        // the bound socket as fd 3, without close-on-exec (dup2 onto
        // itself would keep the flag: clear it then)
        if (listen_fd == 3) {
            fcntl(3, F_SETFD, 0);
        } else if (dup2(listen_fd, 3) != 3) {
            _exit(127);
        }
        format_listen_pid(cenv[cenv.size() - 2], envs.back().size() + 1, getpid());
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        execve(cargv[0], cargv.data(), cenv.data());
        // PATH lookup for bare names ("node")
        execvpe(cargv[0], cargv.data(), cenv.data());
        const char msg[] = "ow-sidecar: cannot exec the runtime\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    setpgid(pid, pid);   // also from the parent: no race with kill()
    close(out[1]);
    close(errp[1]);
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    fcntl(errp[0], F_SETFL, fcntl(errp[0], F_GETFL) | O_NONBLOCK);
    p->pid = pid;
    p->out_fd = out[0];
    p->err_fd = errp[0];
    return true;
}

void kill_runtime(const RuntimeProcess &p) {
    if (p.pid > 0) {
        kill(-p.pid, SIGKILL);
        kill(p.pid, SIGKILL);
    }
}

}  // namespace owsc
