// local_backend.cc: see local_backend.h.
#include "pool-manager/backends/local_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "libow/log.h"

extern char **environ;

namespace ow::pm {

namespace asio = boost::asio;

namespace {

constexpr int kReadyFd = 3;
constexpr size_t kMaxReadyLine = 64 * 1024;

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

int exit_status(int wstatus) {
    if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
    return -1;
}

bool write_file(const std::string &path, const std::string &text) {
    std::ofstream f(path);
    if (!f) return false;
    f << text;
    f.flush();
    return static_cast<bool>(f);
}

}  // namespace

int kill_session(pid_t sid, int sig) {
    // The sidecar is a session leader (setsid at spawn); its runtime may sit
    // in a process group of its own (the sidecar does that, to signal it as
    // a group) but stays in the session, even after being reparented when
    // the sidecar dies. A pid cannot be reused while it names a live
    // session, so matching on the session id is safe.
    int n = 0;
    DIR *d = ::opendir("/proc");
    if (d == nullptr) return 0;
    while (struct dirent *e = ::readdir(d)) {
        char *end = nullptr;
        long pid = std::strtol(e->d_name, &end, 10);
        if (pid <= 0 || *end != '\0') continue;
        std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
        std::string stat;
        if (!std::getline(f, stat)) continue;
        size_t rp = stat.rfind(')');
        if (rp == std::string::npos) continue;
        std::istringstream rest(stat.substr(rp + 1));
        std::string state;
        long ppid = 0, pgrp = 0, session = 0;
        if (!(rest >> state >> ppid >> pgrp >> session)) continue;
        if (session == sid && state != "Z") {
            ::kill(static_cast<pid_t>(pid), sig);
            n++;
        }
    }
    ::closedir(d);
    return n;
}

bool process_has_arg(pid_t pid, const std::string &id) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline");
    if (!f) return false;
    std::stringstream ss;
    ss << f.rdbuf();
    std::string args = ss.str();
    size_t pos = 0;
    while (pos < args.size()) {
        size_t end = args.find('\0', pos);
        if (end == std::string::npos) end = args.size();
        if (args.compare(pos, end - pos, id) == 0) return true;
        pos = end + 1;
    }
    return false;
}

void LocalBackend::remove_orphan(const std::string &id) {
    // Not one of ours (we would know its pid): find it by its container id,
    // unique to it, on its command line. A sidecar leads its own session
    // (setsid at spawn), so the session id is its pid.
    DIR *d = ::opendir("/proc");
    if (d == nullptr) return;
    std::vector<pid_t> found;
    while (struct dirent *e = ::readdir(d)) {
        char *end = nullptr;
        long pid = std::strtol(e->d_name, &end, 10);
        if (pid > 0 && *end == '\0' && process_has_arg(static_cast<pid_t>(pid), id)) {
            found.push_back(static_cast<pid_t>(pid));
        }
    }
    ::closedir(d);
    for (pid_t pid : found) kill_session(pid, SIGKILL);
}

LocalBackend::LocalBackend(asio::io_context &io, LocalBackendOptions opts)
    : io_(io), opts_(std::move(opts)), sigchld_(io, SIGCHLD) {
    wait_sigchld();
}

LocalBackend::~LocalBackend() {
    // Containers are deliberately left running: they serve warm invokes
    // without us, and the next pool-manager adopts them.
    for (auto &kv : procs_) {
        if (kv.second->pidfd >= 0 && !kv.second->pidfd_watch) ::close(kv.second->pidfd);
    }
}

std::vector<std::string> LocalBackend::sidecar_argv(const ContainerSpec &spec) const {
    std::vector<std::string> a = {opts_.sidecar,
                                  "--listen", "127.0.0.1:0",
                                  "--redis", opts_.redis,
                                  "--container-id", spec.id,
                                  "--ready-fd", std::to_string(kReadyFd)};
    // a stemcell has no action yet (stemcell_pool.h)
    if (spec.stemcell_ms > 0) {
        a.insert(a.begin() + 5, {"--stemcell", std::to_string(spec.stemcell_ms) + "ms"});
    } else {
        a.insert(a.begin() + 5, {"--action", spec.action});
    }
    if (!opts_.api_host.empty()) {
        a.push_back("--api-host");
        a.push_back(opts_.api_host);
    }
    if (!opts_.overflow.empty()) {
        a.push_back("--overflow");
        a.push_back(opts_.overflow);
    }
    if (!opts_.token_file.empty()) a.insert(a.end(), {"--token-file", opts_.token_file});
    if (!opts_.metrics_token_file.empty())
        a.insert(a.end(), {"--metrics-token-file", opts_.metrics_token_file});
    if (!opts_.redis_credentials.empty())
        a.insert(a.end(), {"--redis-credentials", opts_.redis_credentials});
    if (!opts_.journal_root.empty())
        a.insert(a.end(), {"--journal-dir", opts_.journal_root + "/" + spec.id});
    if (!opts_.runtime_uid_base.empty() && opts_.runtime_uid_base != "0")
        a.insert(a.end(), {"--runtime-uid-base", opts_.runtime_uid_base});
    // always explicit: a sidecar left to "auto" would log its own warning
    a.insert(a.end(), {"--runtime-netns", opts_.runtime_netns});
    if (opts_.runtime_netns != "off") a.insert(a.end(), {"--slirp4netns", opts_.slirp4netns});
    a.push_back("--");
    for (const auto &c : spec.command) a.push_back(c);
    return a;
}

std::string LocalBackend::make_cgroup(const ContainerSpec &spec) {
    if (opts_.cgroup_dir.empty()) return "";
    std::string dir = opts_.cgroup_dir + "/owx-" + spec.id;
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        log_warn("cgroup_unavailable", {{"dir", dir}, {"error", std::strerror(errno)}});
        return "";
    }
    int64_t bytes = spec.memory * 1024 * 1024;
    struct stat st;
    bool ok;
    if (::stat((dir + "/memory.max").c_str(), &st) == 0) {  // cgroup v2
        ok = write_file(dir + "/memory.max", std::to_string(bytes));
        write_file(dir + "/memory.swap.max", "0");
    } else {  // v1 memory controller
        ok = write_file(dir + "/memory.limit_in_bytes", std::to_string(bytes));
    }
    if (!ok) {
        log_warn("cgroup_limit_failed", {{"dir", dir}});
        ::rmdir(dir.c_str());
        return "";
    }
    return dir;
}

void LocalBackend::start(const ContainerSpec &spec, StartCallback done) {
    auto p = std::make_shared<Proc>(io_);
    p->id = spec.id;
    p->start_cb = std::move(done);

    // Everything the child needs is prepared before fork(): between fork and
    // exec only async-signal-safe calls are made.
    std::vector<std::string> args = sidecar_argv(spec);
    std::vector<char *> argv;
    for (auto &s : args) argv.push_back(const_cast<char *>(s.c_str()));
    argv.push_back(nullptr);

    std::vector<std::string> envs;
    std::string node_opts;
    for (char **e = environ; *e; e++) {
        if (std::strncmp(*e, "NODE_OPTIONS=", 13) == 0) {
            node_opts = *e + 13;
            continue;
        }
        envs.emplace_back(*e);
    }
    if (spec.family == "nodejs") {
        if (!node_opts.empty()) node_opts += " ";
        node_opts += "--max-old-space-size=" + std::to_string(spec.memory);
    }
    if (!node_opts.empty()) envs.push_back("NODE_OPTIONS=" + node_opts);
    std::vector<char *> envp;
    for (auto &s : envs) envp.push_back(const_cast<char *>(s.c_str()));
    envp.push_back(nullptr);

    p->cgroup = make_cgroup(spec);
    std::string procs_file = p->cgroup.empty() ? "" : p->cgroup + "/cgroup.procs";

    struct rlimit data;
    data.rlim_cur = data.rlim_max =
        static_cast<rlim_t>(spec.memory + opts_.memory_headroom_mb) * 1024 * 1024;
    struct rlimit nocore = {0, 0};

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        StartResult r;
        r.error = std::string("pipe: ") + std::strerror(errno);
        p->start_cb(r);
        return;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        int err = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        StartResult r;
        r.error = std::string("fork: ") + std::strerror(err);
        p->start_cb(r);
        return;
    }
    if (pid == 0) {
        ::setsid();
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        struct sigaction dfl;
        std::memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int s : {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaction(s, &dfl, nullptr);
        if (!procs_file.empty()) {
            int cg = ::open(procs_file.c_str(), O_WRONLY);
            if (cg >= 0) {
                (void)!::write(cg, "0", 1);
                ::close(cg);
            }
        }
        ::setrlimit(RLIMIT_DATA, &data);
        ::setrlimit(RLIMIT_CORE, &nocore);
        int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0 && devnull != 0) {
            ::dup2(devnull, 0);
            ::close(devnull);
        }
        if (fds[1] == kReadyFd) {
            ::fcntl(kReadyFd, F_SETFD, 0);
        } else {
            ::dup2(fds[1], kReadyFd);  // dup2 clears FD_CLOEXEC on the copy
        }
        // Nothing else of ours (listening socket, Redis connection) may
        // leak into a process that outlives us.
        if (::syscall(SYS_close_range, kReadyFd + 1, ~0U, 0) != 0) {
            for (int fd = kReadyFd + 1; fd < 65536; fd++) ::close(fd);
        }
        ::execve(argv[0], argv.data(), envp.data());
        _exit(127);
    }
    ::close(fds[1]);
    p->pid = pid;
    p->ready = std::make_unique<asio::posix::stream_descriptor>(io_, fds[0]);
    procs_[p->id] = p;
    by_pid_[pid] = p;
    log_info("sidecar_spawned", {{"id", p->id}, {"pid", pid}, {"action", spec.action},
                                 {"cgroup", p->cgroup}});

    p->start_timer.expires_after(std::chrono::milliseconds(opts_.start_timeout_ms));
    p->start_timer.async_wait([this, p](const boost::system::error_code &ec) {
        if (ec || !p->start_cb) return;
        StartResult r;
        r.pid = p->pid;
        r.error = "the sidecar was not ready within " +
                  std::to_string(opts_.start_timeout_ms / 1000) + " s";
        complete_start(p, r);
        signal(p, SIGKILL, true);
    });
    read_ready(p);
}

void LocalBackend::read_ready(const ProcPtr &p) {
    p->ready->async_read_some(
        asio::buffer(p->chunk), [this, p](const boost::system::error_code &ec, size_t n) {
            if (ec == asio::error::operation_aborted || !p->ready) return;
            if (!ec) {
                p->buf.append(p->chunk.data(), n);
                size_t nl = p->buf.find('\n');
                if (nl != std::string::npos) {
                    on_ready_line(p, p->buf.substr(0, nl));
                } else if (p->buf.size() > kMaxReadyLine) {
                    StartResult r;
                    r.pid = p->pid;
                    r.error = "the sidecar wrote an overlong readiness line";
                    complete_start(p, r);
                    signal(p, SIGKILL, true);
                } else {
                    read_ready(p);
                    return;
                }
            }
            // A line, an overlong line, or EOF (the sidecar closed the fd
            // or died): the pipe is done either way.
            p->ready.reset();
            if (p->exited) finalize(p);
        });
}

void LocalBackend::on_ready_line(const ProcPtr &p, const std::string &line) {
    StartResult r;
    r.pid = p->pid;
    if (line.rfind("ready ", 0) == 0) {
        r.status = StartResult::ok;
        r.addr = line.substr(6);
        while (!r.addr.empty() && (r.addr.back() == '\r' || r.addr.back() == ' ')) r.addr.pop_back();
    } else if (line.rfind("failed", 0) == 0) {
        r.status = StartResult::init_failed;
        std::string js = line.size() > 7 ? line.substr(7) : "";
        r.init_error = nlohmann::json::parse(js, nullptr, false);
        if (r.init_error.is_discarded()) r.init_error = js;
        if (r.init_error.is_object() && r.init_error.contains("error") &&
            r.init_error["error"].is_string()) {
            r.error = r.init_error["error"].get<std::string>();
        } else if (r.init_error.is_string()) {
            r.error = r.init_error.get<std::string>();
        } else {
            r.error = ow::json_dump(r.init_error);
        }
    } else {
        r.error = "unexpected readiness line from the sidecar";
        signal(p, SIGKILL, true);
    }
    complete_start(p, r);
}

void LocalBackend::complete_start(const ProcPtr &p, StartResult res) {
    if (!p->start_cb) return;
    StartCallback cb = std::move(p->start_cb);
    p->start_cb = nullptr;
    p->start_timer.cancel();
    cb(res);
}

void LocalBackend::wait_sigchld() {
    sigchld_.async_wait([this](const boost::system::error_code &ec, int) {
        if (ec) return;
        reap();
        wait_sigchld();
    });
}

void LocalBackend::reap() {
    for (;;) {
        int ws = 0;
        pid_t pid = ::waitpid(-1, &ws, WNOHANG);
        if (pid <= 0) return;
        auto it = by_pid_.find(pid);
        if (it == by_pid_.end()) continue;
        ProcPtr p = it->second;
        on_process_gone(p, exit_status(ws));
    }
}

void LocalBackend::on_process_gone(const ProcPtr &p, int status) {
    if (p->exited) return;
    p->exited = true;
    p->status = status;
    p->kill_timer.cancel();
    p->poll_timer.cancel();
    // Make sure nothing of the container (its runtime) outlives its sidecar;
    // this also closes a leaked ready fd, so the read below sees EOF.
    ::kill(-p->pid, SIGKILL);
    int n = kill_session(p->pid, SIGKILL);
    if (n > 0) log_info("container_leftovers_killed", {{"id", p->id}, {"processes", n}});
    // A readiness line may still be in the pipe: finish reading it first so
    // the start is answered with what the sidecar said (e.g. its init
    // error), then report the exit.
    if (!p->ready) finalize(p);
}

void LocalBackend::finalize(const ProcPtr &p) {
    if (procs_.count(p->id) == 0 || procs_[p->id] != p) return;
    if (p->start_cb) {
        StartResult r;
        r.pid = p->pid;
        if (p->status == 3) r.status = StartResult::init_failed;
        r.error = "the sidecar exited with status " + std::to_string(p->status) +
                  " before it was ready";
        complete_start(p, r);
    }
    if (p->pidfd_watch) {
        boost::system::error_code ec;
        p->pidfd_watch->close(ec);
        p->pidfd_watch.reset();
        p->pidfd = -1;
    }
    if (!p->cgroup.empty()) ::rmdir(p->cgroup.c_str());
    procs_.erase(p->id);
    by_pid_.erase(p->pid);
    log_info("sidecar_exited", {{"id", p->id}, {"pid", p->pid}, {"status", p->status},
                                {"adopted", p->adopted}});
    if (exit_cb_) exit_cb_(p->id, p->status);
}

void LocalBackend::signal(const ProcPtr &p, int sig, bool group) {
    if (p->exited) return;
    if (p->pidfd >= 0) {
        // pidfd: the signal cannot reach a process that reused the pid.
        ::syscall(SYS_pidfd_send_signal, p->pidfd, sig, nullptr, 0);
    } else {
        ::kill(p->pid, sig);
    }
    if (group) {
        ::kill(-p->pid, sig);
        kill_session(p->pid, sig);
    }
}

void LocalBackend::stop(const std::string &id, int64_t grace_ms) {
    auto it = procs_.find(id);
    if (it == procs_.end()) return;
    ProcPtr p = it->second;
    if (grace_ms <= 0) {
        signal(p, SIGKILL, true);
        if (p->adopted && p->pidfd < 0) on_process_gone(p, -1);
        return;
    }
    signal(p, SIGTERM, false);  // the sidecar drains, then stops its runtime
    p->kill_timer.expires_after(std::chrono::milliseconds(grace_ms));
    p->kill_timer.async_wait([this, p](const boost::system::error_code &ec) {
        if (ec) return;
        log_warn("sidecar_killed", {{"id", p->id}, {"pid", p->pid}});
        signal(p, SIGKILL, true);
    });
}

bool LocalBackend::adopt(const std::string &id, int64_t pid) {
    if (pid <= 1 || procs_.count(id)) return false;
    if (!process_has_arg(static_cast<pid_t>(pid), id)) return false;
    auto p = std::make_shared<Proc>(io_);
    p->id = id;
    p->pid = static_cast<pid_t>(pid);
    p->adopted = true;
    p->pidfd = static_cast<int>(::syscall(SYS_pidfd_open, p->pid, 0));
    // Re-check after opening the pidfd: the pid could have been reused
    // between the check and the open.
    if (p->pidfd >= 0 && !process_has_arg(p->pid, id)) {
        ::close(p->pidfd);
        return false;
    }
    procs_[id] = p;
    by_pid_[p->pid] = p;
    watch_adopted(p);
    return true;
}

void LocalBackend::watch_adopted(const ProcPtr &p) {
    if (p->pidfd >= 0) {
        // A pidfd becomes readable when the process exits.
        if (!p->pidfd_watch) {
            p->pidfd_watch = std::make_unique<asio::posix::stream_descriptor>(io_, p->pidfd);
        }
        p->pidfd_watch->async_wait(
            asio::posix::stream_descriptor::wait_read,
            [this, p](const boost::system::error_code &ec) {
                if (ec || p->exited) return;
                // The reactor can report a readiness that belongs to a
                // descriptor closed just before (same fd number, recycled
                // reactor state): ask the pidfd itself before believing it.
                struct pollfd pfd = {p->pidfd, POLLIN, 0};
                if (::poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLIN | POLLHUP))) {
                    on_process_gone(p, -1);
                } else {
                    watch_adopted(p);
                }
            });
        return;
    }
    // No pidfd (old kernel): look every second.
    p->poll_timer.expires_after(std::chrono::seconds(1));
    p->poll_timer.async_wait([this, p](const boost::system::error_code &ec) {
        if (ec || p->exited) return;
        if (::kill(p->pid, 0) != 0 && errno == ESRCH) {
            on_process_gone(p, -1);
        } else {
            watch_adopted(p);
        }
    });
}

}  // namespace ow::pm
