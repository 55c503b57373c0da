// main.cc: ow-pool-manager: the options table, then the daemon (daemon.h).
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <iostream>

#include "libow/log.h"
#include "libow/netns.h"
#include "libow/options.h"
#include "libow/secrets.h"
#include "pool-manager/daemon.h"

using namespace ow::pm;

// One Node.js stemcell of OpenWhisk's default memory (256 MB): the most
// common cold start (the default kind at the default limit) pays /init
// only, for one idle runtime (~50 MB resident); python etc. are opt-in.
static const char kDefaultStemcells[] = "nodejs:default:256=1";

static const ow::OptionSpec kOptions[] = {
    {"listen", "127.0.0.1:3235", "control API address (gateways ask for capacity here)"},
    {"redis", "127.0.0.1:6379", "Redis host:port (action documents, warm table)"},
    {"redis-credentials", "",
     "file with one line \"USER PASSWORD\": this daemon's Redis ACL user (libow/secrets.h)"},
    {"token-file", "",
     "file with the internal token: /v1/ requests without it in X-OW-Token get 401, and it "
     "goes with every call to a sidecar (empty: no check, none sent)"},
    {"metrics-token-file", "",
     "file with the metrics token: GET /metrics answers 401 without \"Authorization: Bearer "
     "<token>\" (empty: /metrics is open); the local backend's sidecars get it as theirs"},
    {"sidecar-redis-credentials", "",
     "local backend: the sidecars' Redis credentials file, passed as their "
     "--redis-credentials (with --token-file and --metrics-token-file as theirs)"},
    {"runtime-uid-base", "auto",
     "local backend: each runtime runs as uid base + its sidecar's pid, its own "
     "(sidecar --runtime-uid-base); auto: 1000000000 when root, else 0 (the platform's uid)"},
    {"runtime-netns", "auto",
     "local backend: each runtime in a network namespace of its own, reaching the API and "
     "the outside world, not the host's loopback (sidecar --runtime-netns); auto: where the "
     "kernel allows it (asked once at start, else logged), on: refuse to start otherwise, off"},
    {"slirp4netns", "/usr/bin/slirp4netns",
     "local backend, with the namespaces: the runtimes' outside world (sidecar --slirp4netns); "
     "empty or not executable: none, actions reach only the API (logged at start)"},
    {"redis-timeout", "250ms", "deadline of every Redis call (connect, write, read)"},
    {"sidecar", "", "path of the ow-sidecar executable (required with --backend local; on "
     "Kubernetes it is --kube-sidecar-image's entrypoint)"},
    {"runtimes", "", "runtimes-exec.json: the kinds this machine runs (required)"},
    {"idle-timeout", "600s", "mark a container idle (nothing in flight) this long for removal"},
    {"gc-policy", "node-emptying",
     "which idle containers to mark: node-emptying (nodes that empty first, keeps "
     "--gc-min-warm) or idle-timeout (every idle one)"},
    {"gc-grace", "30s", "a marked container is swept after this if still idle and drained"},
    {"gc-interval", "2s", "how often the garbage collector marks and sweeps (leader only)"},
    {"gc-min-warm", "1", "node-emptying: containers kept warm per recently used action"},
    {"gc-recent", "1800s", "node-emptying: an action used within this is recently used"},
    {"gc-compact-idle", "120s",
     "node-emptying: idle this long is enough on a node it can empty or nearly (busier nodes "
     "wait --idle-timeout); 0 = off"},
    {"gc-relocate", "30",
     "node-emptying: empty a node at most this % used (memory and CPU) by relocating its busy "
     "containers, replacement warm elsewhere first, never opening a node; 0 = off"},
    {"gc-relocate-starts", "8", "node-emptying: relocation replacements starting at once"},
    {"max-containers-per-namespace", "30", "starting + warm containers per namespace; more → 429"},
    {"api-host", "", "passed to each sidecar as --api-host (__OW_API_HOST)"},
    {"overflow", "", "passed to each sidecar as --overflow when set"},
    {"capacity-timeout", "30s", "how long a capacity request waits for a container (then 503)"},
    {"invoke-queue", "1000", "POST /v1/invoke: accepted invokes waiting for delivery; more → 503"},
    {"invoke-queue-per-action", "100", "the same bound for one action"},
    {"invoke-queue-mb", "256", "the same bound on the sum of their bodies (MB)"},
    {"invoke-deadline", "60s", "an accepted invoke not delivered by then gets a failure record"},
    {"invoke-attempts", "5", "sidecar POSTs + failed capacity answers per accepted invoke"},
    {"invoke-attempt-timeout", "10s", "deadline of one POST /invoke to a sidecar"},
    {"retention", "604800s", "retention of the failure records written for undelivered invokes"},
    {"start-timeout", "60s", "a sidecar not ready by then is killed"},
    {"health-interval", "2s", "how often each sidecar's GET /health is polled"},
    {"health-timeout", "1s", "deadline of one /health poll"},
    {"stop-grace", "330s", "drain time after SIGTERM before SIGKILL (covers the longest action run)"},
    {"memory-headroom", "128", "MB added to limits.memory for each process's RLIMIT_DATA"},
    {"cgroup-dir", "", "writable cgroup (v1 memory or v2) for per-container memory limits"},
    {"journal-dir", "", "root of the activation journals (libow/activation_journal.h): this "
     "process's own, and with the local backend each sidecar's; every dead one under it is "
     "stored to Redis; empty: none"},
    {"journal-sweep", "2s", "how often dead journals are looked for"},
    {"nodes", "",
     "virtual nodes containers are placed on, \"n1:cpu=4000,mem=8192,gpu=0,max=50;n2:...\" "
     "(millicores, MB, GPUs, container cap); empty: one node sized from this machine"},
    {"placement", "most-allocated",
     "where a new container goes: most-allocated (pack), least-allocated (spread) or random"},
    {"cpu-per-gb", "0", "millicores a container reserves on its node per GB of memory (0: none)"},
    {"max-starts-per-action", "10", "containers of one action starting at once (demand-driven)"},
    {"resync-interval", "30s", "rewrite the warm table from the pool this often (repairs a lost table)"},
    {"stemcells", kDefaultStemcells,
     "prewarmed containers (runtime started, no action) per kind and memory, "
     "\"nodejs:20:256=2,python:3.11:256=1\" (kind:MB=count; <family>:default allowed); "
     "\"\" = none"},
    {"stemcell-ttl", "600s", "a stemcell unused this long is replaced by a fresh one"},
    {"lease", "3s",
     "leadership lease (a Redis lock with a fencing token): a killed leader is replaced "
     "within this"},
    {"lease-renew", "1s", "how often the leader renews its lease and standbys campaign"},
    {"identity", "", "this replica's name in the lease (default <hostname>:<pid>)"},
    {"advertise", "",
     "host:port the other replicas forward to when this one leads (default --listen)"},
    {"backend", "local", "where containers run: local (processes here) or kubernetes (pods)"},
    {"kube-api", "",
     "Kubernetes API server URL, no auth (e.g. the simulator http://127.0.0.1:PORT); "
     "empty: --kubeconfig, else the in-cluster service account"},
    {"kubeconfig", "", "kubeconfig file, to run outside the cluster"},
    {"kube-context", "", "kubeconfig context (empty: its current-context)"},
    {"kube-namespace", "",
     "namespace of the action pods and the lease (empty: the kubeconfig's or the service "
     "account's, else default)"},
    {"kube-images", "", "JSON file: kind → {image, command?}: the runtime container of the "
     "action pods, command its image's entrypoint (empty: the kind's --runtimes command, "
     "{port} = --kube-runtime-address's port)"},
    {"kube-sidecar-image", "", "image of the action pods' sidecar container (owx/sidecar; "
     "required with --backend kubernetes)"},
    {"kube-sidecar-command", "", "the sidecar container's command, one path (empty: the "
     "image's entrypoint)"},
    {"kube-runtime-address", "127.0.0.1:8080",
     "IP:PORT where an action pod's sidecar reaches its runtime container (the pod's "
     "loopback; OpenWhisk runtime images serve 8080); $(POD_IP) is the pod's address"},
    {"kube-runtime-uid", "10002",
     "uid and gid of the action pods' runtime containers (not the sidecar's 10001)"},
    {"kube-redis", "", "Redis host:port as the action pods reach it (empty: --redis)"},
    {"kube-sidecar-secret", "",
     "Secret with redis-sidecar, internal-token and sidecar-metrics-token, mounted into every "
     "action pod and given to its sidecar as --redis-credentials, --token-file and "
     "--metrics-token-file (empty: none)"},
    {"kube-qps", "20", "Kubernetes API calls per second (client-side token bucket)"},
    {"kube-burst", "40", "burst of Kubernetes API calls above --kube-qps"},
    {"kube-timeout", "10s", "deadline of one Kubernetes API call, retries included"},
    {"kube-watch-timeout", "300s", "timeoutSeconds of one pod/node watch request"},
    {"log-level", "info", "debug, info, warn or error"},
};

int main(int argc, char **argv) {
    ow::Options opts(kOptions, sizeof kOptions / sizeof kOptions[0], "OW_POOL_MANAGER_");
    std::string err;
    if (!opts.parse(argc, argv, &err)) {
        std::fprintf(stderr, "ow-pool-manager: %s\n", err.c_str());
        return 2;
    }
    if (opts.help_requested()) {
        std::cout << opts.usage("ow-pool-manager [options]");
        return 0;
    }
    const std::string &lvl = opts.get("log-level");
    ow::log_setup(2, lvl == "debug"  ? ow::LogLevel::debug
                     : lvl == "warn" ? ow::LogLevel::warn
                     : lvl == "error" ? ow::LogLevel::error
                                      : ow::LogLevel::info);
    ow::log_context("daemon", "ow-pool-manager");

    DaemonConfig cfg;
    int64_t headroom = 0, queue = 0, per_action = 0, queue_mb = 0, attempts = 0;
    int64_t relocate_pct = 0;
    // Each bad option is named with its value and what it must be, every one
    // of them in one run; then nothing starts.
    ow::OptionCheck check(opts);
    check.duration_ms("redis-timeout", &cfg.redis_timeout_ms);
    check.duration_ms("resync-interval", &cfg.resync_interval_ms, 1);
    check.duration_ms("idle-timeout", &cfg.idle_timeout_ms);
    check.duration_ms("gc-grace", &cfg.gc.grace_ms);
    check.duration_ms("gc-interval", &cfg.gc.interval_ms, 1);
    check.integer("gc-min-warm", &cfg.gc_min_warm, 0);
    check.duration_ms("gc-recent", &cfg.gc_recent_ms);
    check.duration_ms("gc-compact-idle", &cfg.gc_compact_idle_ms);
    check.integer("gc-relocate", &relocate_pct, 0, 100);
    check.integer("gc-relocate-starts", &cfg.compactor.max_starts, 1);
    check.expect("gc-policy", make_policy(opts.get("gc-policy"), {}) != nullptr,
                 "node-emptying or idle-timeout");
    check.integer("max-containers-per-namespace", &cfg.capacity.max_per_namespace);
    check.duration_ms("capacity-timeout", &cfg.capacity.deadline_ms);
    check.duration_ms("start-timeout", &cfg.backend.start_timeout_ms);
    check.duration_ms("health-interval", &cfg.manager.health_interval_ms, 1);
    check.duration_ms("health-timeout", &cfg.health_timeout_ms);
    check.duration_ms("stop-grace", &cfg.manager.stop_grace_ms);
    check.integer("memory-headroom", &headroom);
    check.integer("invoke-queue", &queue, 0);
    check.integer("invoke-queue-per-action", &per_action, 0);
    check.integer("invoke-queue-mb", &queue_mb, 1);
    check.integer("invoke-attempts", &attempts, 1);
    check.duration_ms("invoke-deadline", &cfg.invoke.deadline_ms);
    check.duration_ms("invoke-attempt-timeout", &cfg.invoke.attempt_timeout_ms, 1);
    check.duration_ms("journal-sweep", &cfg.journal_sweep_ms, 1);
    check.duration_ms("retention", &cfg.retention_ms);
    check.host_port("listen", &cfg.listen_host, &cfg.listen_port);
    check.host_port("redis", &cfg.redis_host, &cfg.redis_port);
    check.one_of("backend", {"local", "kubernetes"});
    check.expect("sidecar", opts.get("backend") != "local" || !opts.get("sidecar").empty(),
                 "the path of ow-sidecar (required with --backend local)");
    check.expect("runtimes", !opts.get("runtimes").empty(),
                 "a runtimes-exec.json file (required)");
    check.one_of("runtime-netns", {"auto", "on", "off"});
    check.expect("placement", make_strategy(opts.get("placement"), 0) != nullptr,
                 "most-allocated, least-allocated or random");
    check.integer("cpu-per-gb", &cfg.cpu_per_gb, 0);
    check.integer("max-starts-per-action", &cfg.capacity.max_starts_per_action, 1);
    if (!opts.get("nodes").empty() && !parse_nodes(opts.get("nodes"), &cfg.nodes, &err)) {
        check.expect("nodes", false,
                     "\"n1:cpu=4000,mem=8192,gpu=0,max=50;n2:...\" (" + err + ")");
    }
    err.clear();
    bool lease_read = check.duration_ms("lease", &cfg.lease.lease_ms);
    if (check.duration_ms("lease-renew", &cfg.lease.renew_ms, 1) && lease_read) {
        check.expect("lease-renew", 2 * cfg.lease.renew_ms <= cfg.lease.lease_ms,
                     "at most half of --lease (\"" + opts.get("lease") + "\")");
    }
    check.expect("identity", opts.get("identity").find(' ') == std::string::npos,
                 "a name without spaces");
    check.expect("advertise", opts.get("advertise").find(' ') == std::string::npos,
                 "host:port without spaces");
    check.duration_ms("stemcell-ttl", &cfg.stemcell.ttl_ms, 1);
    if (!check.ok()) {
        std::fputs(check.errors("ow-pool-manager").c_str(), stderr);
        return 2;
    }
    cfg.invoke.max_queued = static_cast<size_t>(queue);
    cfg.invoke.max_per_action = static_cast<size_t>(per_action);
    cfg.invoke.max_bytes = static_cast<size_t>(queue_mb) << 20;
    cfg.invoke.max_attempts = static_cast<int>(attempts);
    cfg.backend.sidecar = opts.get("sidecar");
    cfg.backend.redis = opts.get("redis");
    cfg.backend.api_host = opts.get("api-host");
    cfg.backend.overflow = opts.get("overflow");
    cfg.backend.memory_headroom_mb = headroom;
    cfg.backend.cgroup_dir = opts.get("cgroup-dir");
    cfg.journal_root = opts.get("journal-dir");
    cfg.backend.token_file = opts.get("token-file");
    cfg.backend.metrics_token_file = opts.get("metrics-token-file");
    cfg.backend.redis_credentials = opts.get("sidecar-redis-credentials");
    const std::string &uid_base = opts.get("runtime-uid-base");
    cfg.backend.runtime_uid_base = uid_base == "auto" ? (geteuid() == 0 ? "1000000000" : "0")
                                                      : uid_base;
    if (!ow::read_redis_credentials(opts.get("redis-credentials"), &cfg.redis_cred, &err) ||
        !ow::read_token_file(opts.get("token-file"), &cfg.token, &err) ||
        !ow::read_token_file(opts.get("metrics-token-file"), &cfg.metrics_token, &err)) {
        std::fprintf(stderr, "ow-pool-manager: %s\n", err.c_str());
        return 2;
    }
    if (cfg.metrics_token.empty()) {
        // a degraded mode: say so (README, Security model)
        ow::log_warn("metrics_open",
                     {{"reason", "no --metrics-token-file: GET /metrics answers anyone, and "
                                 "the local backend's sidecars' too"}});
    }
    err.clear();
    cfg.backend_kind = opts.get("backend");
    // a pod's sidecar keeps its journal in its own pod (the chart's emptyDir)
    if (cfg.backend_kind == "local") cfg.backend.journal_root = cfg.journal_root;
    // The local backend's degraded modes, each said once here (README,
    // Security model); decided after --backend is known (pods have their
    // own uid and network namespace).
    const std::string &netns = opts.get("runtime-netns");
    cfg.backend.runtime_netns = "off";
    if (cfg.backend_kind == "local") {
        if (cfg.backend.runtime_uid_base == "0") {
            ow::log_warn("runtimes_share_uid",
                         {{"reason", "not root, or --runtime-uid-base 0: actions run as the "
                                     "platform's uid and can read its files"}});
        }
        std::string why;
        if (netns == "off") {
            ow::log_warn("runtimes_share_network",
                         {{"reason", "--runtime-netns off: actions share the host's loopback "
                                     "(Redis, the pool-manager, the sidecars)"}});
        } else if (!ow::netns_allowed(&why)) {
            if (netns == "on") {
                std::fprintf(stderr, "ow-pool-manager: --runtime-netns on: the kernel refuses "
                             "a network namespace: %s\n", why.c_str());
                return 2;
            }
            ow::log_warn("runtimes_share_network",
                         {{"error", why},
                          {"reason", "the kernel refuses a network namespace (not root, or an "
                                     "unprivileged container): actions share the host's "
                                     "loopback (Redis, the pool-manager, the sidecars)"}});
        } else {
            cfg.backend.runtime_netns = "on";
            cfg.backend.slirp4netns = opts.get("slirp4netns");
            if (cfg.backend.slirp4netns.empty() ||
                access(cfg.backend.slirp4netns.c_str(), X_OK) != 0) {
                ow::log_warn("runtimes_no_outbound",
                             {{"slirp4netns", cfg.backend.slirp4netns},
                              {"reason", "no slirp4netns: actions reach the API and nothing "
                                         "else (apt-get install slirp4netns)"}});
                cfg.backend.slirp4netns.clear();
            }
        }
    }
    if (cfg.backend_kind == "kubernetes" &&
        !load_kube_setup(opts, opts.get("redis"), &cfg.kube, &err)) {
        std::fprintf(stderr, "ow-pool-manager: --backend kubernetes: %s\n", err.c_str());
        return 2;
    }
    cfg.kube.backend.sidecar_secret = opts.get("kube-sidecar-secret");
    cfg.placement = opts.get("placement");
    cfg.lease.identity = opts.get("identity");
    if (cfg.lease.identity.empty()) {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        cfg.lease.identity = std::string(host) + ":" + std::to_string(getpid());
    }
    cfg.advertise = opts.get("advertise");
    cfg.gc_policy = opts.get("gc-policy");
    cfg.compactor.max_fill = static_cast<double>(relocate_pct) / 100.0;
    cfg.compactor.compact_idle_ms = cfg.gc_compact_idle_ms;
    cfg.compactor.recent_ms = cfg.gc_recent_ms;
    cfg.gc.stop_grace_ms = cfg.manager.stop_grace_ms;
    Runtimes runtimes;
    if (!runtimes.load_file(opts.get("runtimes"), &err)) {
        std::fprintf(stderr, "ow-pool-manager: %s\n", err.c_str());
        return 2;
    }
    if (!parse_stemcells(opts.get("stemcells"), runtimes, &cfg.stemcells, &err)) {
        // the default names Node.js, which a machine may not have
        if (opts.get("stemcells") != kDefaultStemcells) {
            std::fprintf(stderr, "ow-pool-manager: %s: %s\n",
                         opts.describe("stemcells").c_str(), err.c_str());
            return 2;
        }
        ow::log_warn("no_default_stemcell", {{"error", err}});
    }
    ::signal(SIGPIPE, SIG_IGN);

    boost::asio::io_context io(1);
    Daemon daemon(io, std::move(cfg), std::move(runtimes));
    daemon.start();

    // SIGTERM/SIGINT: stop serving and exit; the containers keep running
    // (they serve warm invokes) and the next pool-manager adopts them.
    boost::asio::signal_set stop_signals(io, SIGTERM, SIGINT);
    stop_signals.async_wait([&](const boost::system::error_code &ec, int sig) {
        if (ec) return;
        ow::log_info("stopping", {{"signal", sig}, {"containers", daemon.containers()}});
        daemon.stop();
        io.stop();
    });

    try {
        io.run();
    } catch (const std::exception &ex) {
        // Nothing on the data path throws; this is the last boundary.
        ow::log_error("fatal", {{"error", ex.what()}});
        return 1;
    }
    return daemon.failed() ? 1 : 0;
}
