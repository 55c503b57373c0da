// main.cc: ow-sidecar: options, logging, the action, then the event loop.
//
//   ow-sidecar [options] -- <runtime command with {port}>
//   ow-sidecar [options] --runtime-url http://IP:PORT --runtime-logs DIR
#include <csignal>
#include <cstdio>
#include <malloc.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include "libow/activation_journal.h"
#include "libow/clock.h"
#include "libow/log.h"
#include "libow/options.h"
#include "libow/secrets.h"
#include "sidecar/action_store.h"
#include "sidecar/sidecar.h"
#include "sidecar/termination_log.h"

static const ow::OptionSpec kOptions[] = {
    {"listen", "127.0.0.1:0", "address of the sidecar's HTTP server (port 0 = any free port)"},
    {"redis", "127.0.0.1:6379", "Redis host:port (action document, activation records)"},
    {"redis-credentials", "", "file with one line \"USER PASSWORD\": Redis ACL user (libow/secrets.h)"},
    {"token-file", "", "file with the internal token: /invoke, /web and /specialize answer 401 "
     "without it in X-OW-Token (empty: no check)"},
    {"metrics-token-file", "", "file with the metrics token: GET /metrics answers 401 without "
     "\"Authorization: Bearer <token>\" (empty: /metrics is open)"},
    {"runtime-uid-base", "0", "> 0: the runtime runs as uid = this + the sidecar's pid, its own "
     "(needs root; runtime_process.h); 0: as the sidecar's uid"},
    {"runtime-nproc", "512", "RLIMIT_NPROC of the runtime's uid (with --runtime-uid-base)"},
    {"runtime-nofile", "4096", "RLIMIT_NOFILE of the runtime"},
    {"runtime-netns", "auto", "the runtime in a network namespace of its own, which reaches the "
     "API (--api-host, relayed) and, through --slirp4netns, the outside world, not the host's "
     "loopback (runtime_netns.h): auto (where the kernel allows it, else the host's, logged), "
     "on (else the start fails) or off"},
    {"slirp4netns", "/usr/bin/slirp4netns", "with the namespace: the outside world through this "
     "slirp4netns (slirp.h); empty: none, the action reaches only the API"},
    {"api-relay-connections", "64", "with the namespace: the action's connections to the API "
     "at once (more are closed at once)"},
    {"api-relay-idle", "330s", "with the namespace: an API connection with no byte either way "
     "this long is closed"},
    {"action", "", "the action key served (libow/action_ref.h): <invoker>/[<pkg>/]<name>, or "
     "<invoker>/<owner>/<pkg>/<name> for another namespace's public package"},
    {"container-id", "", "container id put on every log line"},
    {"ready-fd", "-1", "fd that gets 'ready <ip>:<port>' or 'failed <json>' (then closed)"},
    {"overflow", "64", "cap of the buffer beyond the concurrency gate (buffer = min(max(2, concurrency), this))"},
    {"api-host", "", "value of __OW_API_HOST for the runtime"},
    {"retention", "7d", "activation record retention (s, or with unit ms/s/m/h/d)"},
    {"runtime-url", "", "an external runtime (its own container of a Kubernetes pod): nothing "
     "is spawned, /init and /run go over TCP to this http://IP:PORT (runtime_client.h), "
     "probed with back-off until --start-timeout; needs --runtime-logs, no runtime command"},
    {"runtime-logs", "", "with --runtime-url: directory shared with the runtime's container where "
     "the sidecar creates the FIFOs stdout and stderr the runtime writes to (runtime_logs.h)"},
    {"start-timeout", "10s", "deadline for the runtime to open its port"},
    {"log-deadline", "2s", "wait for the log sentinels after a run ends"},
    {"record-queue", "1000", "bound of the hand-off queue to the record writer's thread (full: "
     "the record is spilled)"},
    {"record-buffer-mb", "16", "records waiting for Redis kept in memory, MiB; past it the oldest "
     "are spilled to the journal (record_writer.h)"},
    {"journal-dir", "", "this container's journal (libow/activation_journal.h): every answered "
     "activation's stand-in record, and spilled records; empty: none (a full buffer drops)"},
    {"record-spill-mb", "256", "bound of the spilled records on disk, MiB (full: dropped, counted)"},
    {"drain-timeout", "330s", "SIGTERM: longest wait for in-flight work"},
    {"stemcell", "", "no --action: start the runtime, report ready, wait for POST /specialize "
     "(stemcell.h); not specialized within this duration, exit 0"},
    {"termination-log", "", "in a pod: file (terminationMessagePath) that gets the init error JSON"},
    {"log-level", "info", "debug, info, warn or error"},
};

static bool duration(const ow::Options &o, const char *name, int64_t *out) {
    std::string v = o.get(name);
    // days are not a unit of Options::get_duration_ms: "7d"
    if (!v.empty() && v.back() == 'd') {
        char *end;
        long long d = strtoll(v.c_str(), &end, 10);
        if (end != v.c_str() + v.size() - 1 || d < 0) return false;
        *out = d * 86400000LL;
        return true;
    }
    return o.get_duration_ms(name, out);
}

int main(int argc, char **argv) {
    // Thousands of sidecars per cluster: keep the heap small. One arena (the
    // record writer's thread would otherwise get its own, which keeps what a
    // burst touched), and give freed memory back to the kernel early (fixed
    // thresholds also stop glibc from raising them after a large free).
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    signal(SIGPIPE, SIG_IGN);
    ow::Options opts(kOptions, sizeof kOptions / sizeof kOptions[0], "OW_SIDECAR_");
    std::string err;
    if (!opts.parse(argc, argv, &err)) {
        fprintf(stderr, "ow-sidecar: %s\n", err.c_str());
        return 64;
    }
    const char *synopsis = "ow-sidecar [options] -- <runtime command with {port}>\n"
                           "       ow-sidecar [options] --runtime-url http://IP:PORT "
                           "--runtime-logs DIR";
    if (opts.help_requested()) {
        fputs(opts.usage(synopsis).c_str(), stdout);
        return 0;
    }
    static const char *levels[] = {"debug", "info", "warn", "error"};
    ow::LogLevel level = ow::LogLevel::info;
    for (int i = 0; i < 4; i++)
        if (opts.get("log-level") == levels[i]) level = (ow::LogLevel)i;
    ow::log_setup(2, level);
    ow::log_context("container", opts.get("container-id"));

    ow::sidecar::SidecarConfig cfg;
    std::string redis_host;
    uint16_t redis_port = 0;
    int64_t ready_fd = -1, overflow = 0, retention = 0, start_to = 0, log_dl = 0, queue = 0;
    int64_t drain = 0, stemcell = 0, uid_base = 0, nproc = 0, nofile = 0, buffer_mb = 0;
    int64_t spill_mb = 0, relay_conns = 0, relay_idle = 0;
    // Each bad option is named with its value and what it must be, every one
    // of them in one run.
    ow::OptionCheck check(opts);
    auto check_duration = [&](const char *name, int64_t *out, int64_t min_ms) {
        int64_t v = 0;
        bool good = duration(opts, name, &v) && v >= min_ms;
        std::string expected = min_ms > 0 ? "a duration above 0" : "a duration";
        if (check.expect(name, good, expected + " (7d, 600 = 600s, 250ms, 10m, 1h)")) *out = v;
    };
    check.host_port("listen", &cfg.listen_host, &cfg.listen_port);
    check.host_port("redis", &redis_host, &redis_port);
    check.integer("ready-fd", &ready_fd);
    check.integer("overflow", &overflow);
    check_duration("retention", &retention, 0);
    check_duration("start-timeout", &start_to, 0);
    check_duration("log-deadline", &log_dl, 0);
    check.integer("record-queue", &queue, 1);
    check.integer("record-buffer-mb", &buffer_mb, 1);
    check.integer("record-spill-mb", &spill_mb, 0);
    check_duration("drain-timeout", &drain, 0);
    check.integer("runtime-uid-base", &uid_base, 0, 3999999999LL);
    check.integer("runtime-nproc", &nproc, 1);
    check.integer("runtime-nofile", &nofile, 1);
    check.expect("runtime-netns",
                 ow::sidecar::parse_netns_mode(opts.get("runtime-netns"), &cfg.runtime_limits.netns),
                 "auto, on or off");
    check.integer("api-relay-connections", &relay_conns, 1);
    check_duration("api-relay-idle", &relay_idle, 1);
    if (!opts.get("stemcell").empty()) check_duration("stemcell", &stemcell, 1);
    if (!check.ok()) {
        fputs(check.errors("ow-sidecar").c_str(), stderr);
        return 64;
    }
    bool external = !opts.get("runtime-url").empty();
    if (external) {
        std::string why;
        if (!ow::sidecar::parse_runtime_url(opts.get("runtime-url"), &cfg.runtime_host,
                                            &cfg.runtime_port, &why)) {
            fprintf(stderr, "ow-sidecar: --runtime-url: %s\n", why.c_str());
            return 64;
        }
        cfg.runtime_logs = opts.get("runtime-logs");
    }
    // exactly one of --action and --stemcell; a runtime command, or an
    // external runtime and its log directory (both or neither)
    const char *missing = opts.get("action").empty() == (stemcell == 0)
                              ? "exactly one of --action and --stemcell"
                          : opts.rest().empty() == !external
                              ? "either a runtime command after -- or --runtime-url"
                          : opts.get("runtime-logs").empty() == external
                              ? "--runtime-logs with --runtime-url, and only with it"
                              : nullptr;
    if (missing) {
        fprintf(stderr, "ow-sidecar: expected %s\n%s", missing, opts.usage(synopsis).c_str());
        return 64;
    }
    cfg.container_id = opts.get("container-id");
    cfg.ready_fd = (int)ready_fd;
    cfg.overflow_cap = (long)overflow;
    cfg.api_host = opts.get("api-host");
    cfg.runtime_argv = opts.rest();
    cfg.start_timeout_ms = start_to;
    cfg.log_deadline_ms = log_dl;
    cfg.drain_timeout_ms = drain;
    cfg.stemcell_ms = stemcell;
    cfg.redis_host = redis_host;
    cfg.redis_port = redis_port;
    cfg.termination_log = opts.get("termination-log");
    cfg.action_key = opts.get("action");
    if (uid_base > 0) cfg.runtime_limits.uid = (uid_t)(uid_base + getpid());
    cfg.runtime_limits.max_processes = (long)nproc;
    cfg.runtime_limits.max_open_files = (long)nofile;
    cfg.slirp4netns = opts.get("slirp4netns");
    cfg.api_relay.max_connections = (size_t)relay_conns;
    cfg.api_relay.idle_timeout_ms = relay_idle;

    auto fail = [&](const std::string &msg) {
        ow::log_error("init_failed", {{"error", msg}});
        ow::sidecar::write_termination_log(cfg.termination_log, {{"error", msg}});
        if (cfg.ready_fd >= 0) {
            ow::write_line(cfg.ready_fd, "failed " + ow::json_dump({{"error", msg}}));
            close(cfg.ready_fd);
        }
        return 3;
    };
    if (stemcell > 0) {
        // An unspecialized stemcell is only useful to the pool-manager that
        // started it (a restarted one does not adopt stemcells): die with
        // it rather than linger until the lifetime ends. Specializing turns
        // this off (stemcell.cc): a container survives a pool-manager crash.
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1) return 0;  // it died before prctl
    }
    if (!ow::read_redis_credentials(opts.get("redis-credentials"), &cfg.redis_cred, &err) ||
        !ow::read_token_file(opts.get("token-file"), &cfg.token, &err) ||
        !ow::read_token_file(opts.get("metrics-token-file"), &cfg.metrics_token, &err))
        return fail(err);
    if (cfg.runtime_limits.uid != 0 && geteuid() != 0)
        return fail("--runtime-uid-base needs root (the runtime's uid is set by setuid)");
    ow::sidecar::Action action;
    if (stemcell == 0 &&
        !ow::sidecar::load_action(redis_host, redis_port, cfg.redis_cred, opts.get("action"),
                                  &action, &err))
        return fail(err);

    ow::ActivationJournal journal;
    if (!opts.get("journal-dir").empty() &&
        !journal.open(opts.get("journal-dir"), (size_t)spill_mb << 20, &err))
        return fail(err);
    ow::sidecar::RecordWriterOptions wopts;
    wopts.retention_ms = retention;
    wopts.max_queue = (size_t)queue;
    wopts.max_buffer_bytes = (size_t)buffer_mb << 20;
    ow::sidecar::RecordWriter writer(redis_host, redis_port, cfg.redis_cred, wopts,
                                     journal.is_open() ? &journal : nullptr);
    writer.start();
    boost::asio::io_context io(1);
    ow::sidecar::Sidecar sidecar(io, cfg, action, writer, journal.is_open() ? &journal : nullptr);
    if (!sidecar.start(&err)) {
        writer.stop(ow::mono_ms());
        return fail(err);
    }
    io.run();
    // records are written off the response path; flush them before leaving
    writer.stop(ow::mono_ms() + 5000);
    // everything stored: nothing left to replay (else the sweep does it)
    journal.remove_if_settled();
    return sidecar.exit_code();
}
