// local_backend.h: containers as local processes. A container is one
// `ow-sidecar ... -- <runtime command>` process tree:
// - fork/exec with setsid(), so the sidecar (and the runtime it starts) is
//   in its own session and process group and outlives a pool-manager crash:
//   warm invokes go gateway → sidecar and must keep working;
// - readiness: the sidecar writes "ready <ip>:<port>\n" (or "failed
//   <json>\n" and exits 3) on a pipe passed as --ready-fd 3;
// - exits are reaped on SIGCHLD (waitpid); containers adopted from a
//   previous pool-manager are not our children and are watched with a pidfd
//   (poll on the process itself), falling back to kill(pid, 0) polling;
// - memory: RLIMIT_AS is useless for V8 (it reserves far more address space
//   than it uses), so each process of the tree gets RLIMIT_DATA = the
//   action's memory + a headroom (Linux counts private writable mappings,
//   i.e. what is really committed); Node.js also gets
//   --max-old-space-size = the action's memory in NODE_OPTIONS, so V8
//   collects before the hard limit and fails with its own heap-exhausted
//   abort. When --cgroup-dir names a writable cgroup (v1 memory controller
//   or v2), each container gets its own child cgroup with the memory limit
//   (sidecar + runtime together), the precise limit;
// - RLIMIT_CORE 0: a crashing runtime must not write cores;
// - when a sidecar exits or is killed, every process left in its session
//   (its runtime, which the sidecar puts in a process group of its own) is
//   killed, so no runtime outlives its container.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <array>
#include <map>
#include <memory>
#include <string>

#include "pool-manager/backends/backend.h"

namespace ow::pm {

struct LocalBackendOptions {
    std::string sidecar;           // path of ow-sidecar
    std::string redis;             // host:port, passed to the sidecar
    std::string api_host;          // passed as --api-host when set
    std::string overflow;          // passed as --overflow when set
    int64_t start_timeout_ms = 60000;
    int64_t memory_headroom_mb = 128;  // per process, over limits.memory
    std::string cgroup_dir;        // "" = no cgroup
    // passed to each sidecar as --token-file, --metrics-token-file,
    // --redis-credentials and --runtime-uid-base when set (paths: no secret
    // on a command line)
    std::string token_file;
    std::string metrics_token_file;
    std::string redis_credentials;
    std::string runtime_uid_base;
    // --runtime-netns on|off and --slirp4netns (the daemon decided: main.cc)
    std::string runtime_netns = "off";
    std::string slirp4netns;
    // each sidecar's journal is <journal_root>/<container id> (--journal-dir);
    // "" = no journal
    std::string journal_root;
};

class LocalBackend : public Backend {
public:
    LocalBackend(boost::asio::io_context &io, LocalBackendOptions opts);
    ~LocalBackend() override;

    void start(const ContainerSpec &spec, StartCallback done) override;
    void stop(const std::string &id, int64_t grace_ms) override;
    bool adopt(const std::string &id, int64_t pid) override;
    void on_exit(ExitCallback cb) override { exit_cb_ = std::move(cb); }
    // Kills the session of the ow-sidecar whose command line names id.
    void remove_orphan(const std::string &id) override;

    // Builds the sidecar's argv (exposed for tests).
    std::vector<std::string> sidecar_argv(const ContainerSpec &spec) const;

private:
    struct Proc {
        explicit Proc(boost::asio::io_context &io) : start_timer(io), kill_timer(io), poll_timer(io) {}
        std::string id;
        pid_t pid = 0;
        bool adopted = false;
        int pidfd = -1;
        std::unique_ptr<boost::asio::posix::stream_descriptor> ready;
        std::unique_ptr<boost::asio::posix::stream_descriptor> pidfd_watch;
        std::array<char, 4096> chunk;
        std::string buf;
        StartCallback start_cb;
        boost::asio::steady_timer start_timer;
        boost::asio::steady_timer kill_timer;
        boost::asio::steady_timer poll_timer;
        bool exited = false;
        int status = -1;
        std::string cgroup;
    };
    using ProcPtr = std::shared_ptr<Proc>;

    void wait_sigchld();
    void reap();
    void read_ready(const ProcPtr &p);
    void on_ready_line(const ProcPtr &p, const std::string &line);
    void complete_start(const ProcPtr &p, StartResult res);
    void on_process_gone(const ProcPtr &p, int status);
    void finalize(const ProcPtr &p);
    void watch_adopted(const ProcPtr &p);
    void signal(const ProcPtr &p, int sig, bool group);
    std::string make_cgroup(const ContainerSpec &spec);

    boost::asio::io_context &io_;
    LocalBackendOptions opts_;
    boost::asio::signal_set sigchld_;
    std::map<std::string, ProcPtr> procs_;
    std::map<pid_t, ProcPtr> by_pid_;
    ExitCallback exit_cb_;
};

// Whether /proc/<pid>/cmdline has `id` as one of its arguments (a pid from
// the warm table may have been reused by an unrelated process).
bool process_has_arg(pid_t pid, const std::string &id);
// Sends sig to every live process of session sid; returns how many.
int kill_session(pid_t sid, int sig);

}  // namespace ow::pm
