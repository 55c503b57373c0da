// runtime_process.cc: see runtime_process.h.
#include "sidecar/runtime_process.h"

#include <sys/prctl.h>
#include <cerrno>
#include <dirent.h>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace ow::sidecar {

RuntimeSocket::~RuntimeSocket() {
    close_fd();
    if (!path_.empty()) ::unlink(path_.c_str());
    if (!dir_.empty()) ::rmdir(dir_.c_str());
}

void RuntimeSocket::close_fd() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

// The directories of sidecars that were killed (SIGKILL runs no destructor):
// owx-runtime-<pid>-XXXXXX whose pid is gone. A live sidecar's pid is alive,
// so its directory is never taken; a reused pid only delays the removal.
static void remove_stale_sockets(const std::string &tmp) {
    DIR *d = opendir(tmp.c_str());
    if (!d) return;
    static const char prefix[] = "owx-runtime-";
    while (struct dirent *e = readdir(d)) {
        if (strncmp(e->d_name, prefix, sizeof prefix - 1) != 0) continue;
        char *end;
        long pid = strtol(e->d_name + sizeof prefix - 1, &end, 10);
        if (pid <= 0 || *end != '-' || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        std::string dir = tmp + "/" + e->d_name;
        ::unlink((dir + "/runtime.sock").c_str());
        ::rmdir(dir.c_str());
    }
    closedir(d);
}

bool RuntimeSocket::bind(std::string *err) {
    const char *tmp_env = getenv("TMPDIR");
    std::string tmp = tmp_env && *tmp_env ? tmp_env : "/tmp";
    remove_stale_sockets(tmp);
    std::string tmpl = tmp + "/owx-runtime-" + std::to_string(getpid()) + "-XXXXXX";
    if (!mkdtemp(&tmpl[0])) {   // 0700
        *err = "runtime socket directory: " + std::string(strerror(errno));
        return false;
    }
    dir_ = tmpl;
    path_ = dir_ + "/runtime.sock";
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (path_.size() >= sizeof a.sun_path) {
        *err = "runtime socket path too long: " + path_;
        return false;
    }
    memcpy(a.sun_path, path_.c_str(), path_.size() + 1);
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::bind(fd_, (struct sockaddr *)&a, sizeof a) != 0) {
        *err = "runtime socket: " + std::string(strerror(errno));
        return false;
    }
    return true;
}

std::vector<std::string> runtime_environment(const std::vector<std::string> &extra) {
    static const char *const allowed[] = {
        "PATH=", "LANG=", "LANGUAGE=", "LC_", "TZ=", "NODE_OPTIONS=", "NODE_PATH=",
        "PYTHONPATH=", "PYTHONHOME=", "PYTHONDONTWRITEBYTECODE=", "PYTHONUNBUFFERED=",
    };
    std::vector<std::string> env;
    for (char **e = environ; *e; e++) {
        for (const char *prefix : allowed) {
            if (strncmp(*e, prefix, strlen(prefix)) == 0) {
                env.push_back(*e);
                break;
            }
        }
    }
    // a home the runtime can write (its own one is nowhere: no passwd entry)
    env.push_back("HOME=/tmp");
    for (const auto &e : extra) env.push_back(e);
    return env;
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

static std::string replace_port(std::string s) {
    for (size_t at; (at = s.find("{port}")) != std::string::npos;)
        s.replace(at, 6, "0");
    return s;
}

// In the child: the runtime's own uid and limits. Async-signal-safe calls
// only; false when any step failed (the child then exits: a runtime that
// kept the sidecar's privileges must never run).
static bool confine(const RuntimeLimits &l) {
    struct rlimit files = {(rlim_t)l.max_open_files, (rlim_t)l.max_open_files};
    if (setrlimit(RLIMIT_NOFILE, &files) != 0) return false;
    if (l.uid != 0) {
        if (setgroups(0, nullptr) != 0 || setresgid(l.uid, l.uid, l.uid) != 0 ||
            setresuid(l.uid, l.uid, l.uid) != 0 || getuid() != l.uid || geteuid() != l.uid)
            return false;
        // counted per uid, and the uid is this runtime's alone: a fork bomb
        // stops here (set after setuid, which checks the target's count)
        struct rlimit procs = {(rlim_t)l.max_processes, (rlim_t)l.max_processes};
        if (setrlimit(RLIMIT_NPROC, &procs) != 0) return false;
    }
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0;
}

void close_descriptors_from(int first) {
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0) return;
    // kernels before 5.9
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = first; fd < (max > 0 ? max : 65536); fd++) close((int)fd);
}

bool spawn_runtime(const std::vector<std::string> &argv, int listen_fd,
                   const std::vector<std::string> &env, const RuntimeLimits &limits,
                   RuntimeProcess *p, std::string *err) {
    if (argv.empty()) { *err = "no runtime command"; return false; }
    std::vector<std::string> args;
    for (const auto &a : argv) args.push_back(replace_port(a));
    std::vector<std::string> envs = env;
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
    // the child's report of its network namespace (runtime_netns.h)
    int report[2] = {-1, -1};
    if (limits.netns != NetnsMode::off &&
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, report) != 0) {
        *err = strerror(errno);
        close(out[0]); close(out[1]); close(errp[0]); close(errp[1]);
        return false;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        *err = strerror(errno);
        close(out[0]); close(out[1]); close(errp[0]); close(errp[1]);
        if (report[0] >= 0) { close(report[0]); close(report[1]); }
        return false;
    }
    if (pid == 0) {
        // the report socket above fd 3, which the runtime's socket takes
        int report_fd = report[1];
        if (report_fd >= 0 && report_fd <= 3) report_fd = fcntl(report_fd, F_DUPFD_CLOEXEC, 10);
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
        if (limits.netns != NetnsMode::off) {
            int step = enter_runtime_netns(limits.relay, report_fd);
            // refused and automatic: the host's namespace, as before (the
            // sidecar logs it); any other failure ends the child
            if (step != kNetnsOk && (step != kNetnsUnshare || limits.netns == NetnsMode::on))
                _exit(125);
        }
        // 0-3 are the runtime's; the report socket is done with
        close_descriptors_from(4);
        if (!confine(limits)) {
            const char msg[] = "ow-sidecar: cannot confine the runtime\n";
            ssize_t w = write(2, msg, sizeof msg - 1);
            (void)w;
            _exit(126);
        }
        // PDEATHSIG is cleared by the uid change: set it again
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
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
    p->pid = pid;
    p->uid = limits.uid;
    if (report[0] >= 0) {
        close(report[1]);
        // the child reports before it execs: a few ms, bounded anyway
        bool ok = receive_runtime_netns(report[0], 5000, &p->net, err);
        close(report[0]);
        if (ok && !p->net.entered && limits.netns == NetnsMode::on) {
            *err = std::string("the kernel refused the runtime's network namespace: ") +
                   strerror(p->net.refused_errno);
            ok = false;
        }
        if (!ok) {
            kill_runtime(*p);
            int status;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
            p->net.close_all();
            close(out[0]);
            close(errp[0]);
            p->pid = -1;
            return false;
        }
    }
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    fcntl(errp[0], F_SETFL, fcntl(errp[0], F_GETFL) | O_NONBLOCK);
    p->out_fd = out[0];
    p->err_fd = errp[0];
    return true;
}

void kill_runtime(const RuntimeProcess &p) {
    if (p.pid > 0) {
        kill(-p.pid, SIGKILL);
        kill(p.pid, SIGKILL);
    }
    if (p.uid == 0) return;
    // kill(-1) as that uid reaches every process of the uid (and nothing
    // else): what escaped the process group dies too, so a later runtime
    // given the same uid finds no leftover of this one
    pid_t k = fork();
    if (k == 0) {
        if (setresgid(p.uid, p.uid, p.uid) == 0 && setresuid(p.uid, p.uid, p.uid) == 0)
            kill(-1, SIGKILL);
        _exit(0);
    }
    if (k > 0) {
        int status;
        while (waitpid(k, &status, 0) < 0 && errno == EINTR) {}
    }
}

}  // namespace ow::sidecar
