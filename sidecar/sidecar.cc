// sidecar.cc: the runtime's lifecycle (see sidecar.h).
#include "sidecar/sidecar.h"

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "libow/clock.h"
#include "libow/log.h"
#include "sidecar/termination_log.h"

namespace ow::sidecar {

namespace asio = boost::asio;
using boost::system::error_code;

Sidecar::Sidecar(asio::io_context &io, SidecarConfig cfg, Action action,
                 RecordWriter &writer, ow::ActivationJournal *journal)
    : io_(io), cfg_(std::move(cfg)), action_(std::move(action)),
      recorded_(recorded_action(action_)), writer_(writer),
      journal_(journal),
      server_(io, [this](Request &&r, Reply rep) { handle(std::move(r), std::move(rep)); },
              cfg_.idle_conn_ms),
      gate_(action_.limits.concurrency,
            default_buffer(action_.limits.concurrency, cfg_.overflow_cap)),
      logs_([](const nlohmann::json &rec) { ow::write_line(1, ow::json_dump(rec)); }),
      out_(io), err_(io), split_{LineSplitter(16384), LineSplitter(16384)},
      signals_(io, SIGTERM, SIGINT, SIGCHLD), exit_timer_(io) {
    logs_.default_ns = action_.ns;
    logs_.default_action = action_.path;
    logs_.container = cfg_.container_id;
    metrics_.watch(gate_);
    server_.set_takeover({[this](const Request &h) { return streams(h) || websockets(h); },
                          [this](StreamConn c) {
                              if (websockets(c.header)) handle_websocket(std::move(c));
                              else handle_stream(std::move(c));
                          }});
}

static int64_t mono_us() {
    using namespace std::chrono;
    return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

bool Sidecar::start(std::string *err) {
    if (!server_.listen(cfg_.listen_host, cfg_.listen_port, err)) return false;
    signals_.async_wait([this](error_code ec, int sig) { if (!ec) on_signal(sig); });
    if (cfg_.runtime_port > 0 ? !attach_external(err) : !spawn(err)) return false;
    out_.assign(proc_.out_fd);
    err_.assign(proc_.err_fd);
    stream_open_[0] = stream_open_[1] = true;
    read_stream(kStdout);
    read_stream(kStderr);

    client_ = make_client();
    client_->wait_listening(ow::mono_ms() + cfg_.start_timeout_ms, [this](bool ok) {
        if (exiting_) return;
        if (!ok) {
            RunOutcome o;
            o.status_code = 2;
            o.result = {{"error", runtime_dead_ ? kAbnormalInit
                                  : "The runtime did not start listening in time."}};
            init_failed(o, 0);
            return;
        }
        if (cfg_.stemcell_ms > 0) { stemcell_ready(); return; }
        do_init();
    });
    return true;
}

std::unique_ptr<RuntimeClient> Sidecar::make_client() const {
    // the pool follows the action's concurrency
    size_t idle = (size_t)action_.limits.concurrency;
    if (cfg_.runtime_port > 0)
        return std::make_unique<RuntimeClient>(io_, cfg_.runtime_host, cfg_.runtime_port, idle);
    return std::make_unique<RuntimeClient>(io_, runtime_socket_.path(), idle);
}

bool Sidecar::attach_external(std::string *err) {
    // The runtime is its own container's business (uid, limits, network:
    // the pod's); what it is started with (__OW_API_HOST, concurrency) is
    // the pod spec's (pool-manager/backends/kube/kube_backend.cc).
    RuntimeLogFifos fifos;
    if (!open_runtime_log_fifos(cfg_.runtime_logs, &fifos, err)) return false;
    proc_.out_fd = fifos.fd[kStdout];
    proc_.err_fd = fifos.fd[kStderr];
    ow::log_info("start", {{"action", action_.path}, {"kind", action_.kind},
                           {"runtime", cfg_.runtime_host + ":" +
                                       std::to_string(cfg_.runtime_port)},
                           {"runtimeLogs", cfg_.runtime_logs},
                           {"listen", server_.local().address().to_string() + ":" +
                                      std::to_string(server_.local().port())},
                           {"concurrency", gate_.concurrency()},
                           {"buffer", gate_.buffer()}});
    return true;
}

bool Sidecar::spawn(std::string *err) {
    if (!runtime_socket_.bind(err)) return false;
    if (cfg_.runtime_limits.netns != NetnsMode::off) {
        std::string why;
        if (!relay_address(cfg_.api_host, &cfg_.runtime_limits.relay, &why)) {
            // reached like any other host, through slirp4netns
            ow::log_warn("api_not_relayed", {{"apiHost", cfg_.api_host}, {"reason", why}});
            cfg_.runtime_limits.relay.set = false;
        }
    }
    std::vector<std::string> extra;
    if (!cfg_.api_host.empty()) extra.push_back("__OW_API_HOST=" + cfg_.api_host);
    // Node's proxy refuses a second /run in flight unless told otherwise
    // (a stemcell's action is not known yet: the gate enforces its limit)
    if (action_.limits.concurrency > 1 || cfg_.stemcell_ms > 0)
        extra.push_back("__OW_ALLOW_CONCURRENT=true");
    // what the start costs this sidecar before the runtime boots alone:
    // fork (with a namespace: unshare, lo, the relay's listener), then
    // slirp4netns configuring the namespace, which overlaps the runtime's
    // own start (bench/isolation_bench.py reads these)
    int64_t t0 = mono_us();
    bool spawned = spawn_runtime(cfg_.runtime_argv, runtime_socket_.fd(),
                                 runtime_environment(extra), cfg_.runtime_limits, &proc_, err);
    runtime_socket_.close_fd();  // the runtime holds it now (or nobody does)
    if (!spawned) return false;
    int64_t t1 = mono_us();
    network_runtime();
    int64_t t2 = mono_us();
    ow::log_info("start", {{"action", action_.path}, {"kind", action_.kind},
                           {"spawnUs", t1 - t0}, {"networkUs", t2 - t1},
                           {"runtimePid", proc_.pid}, {"runtimeUid", proc_.uid},
                           {"runtimeNetns", proc_.net.entered},
                           {"outbound", slirp_.pid > 0},
                           {"listen", server_.local().address().to_string() + ":" +
                                      std::to_string(server_.local().port())},
                           {"concurrency", gate_.concurrency()},
                           {"buffer", gate_.buffer()}});
    return true;
}

void Sidecar::network_runtime() {
    if (!proc_.net.entered) {
        if (cfg_.runtime_limits.netns == NetnsMode::automatic) {
            // a degraded mode: say so (README, Security model)
            ow::log_warn("runtime_netns_unavailable",
                         {{"error", strerror(proc_.net.refused_errno)},
                          {"reason", "the kernel refused a network namespace: the runtime "
                                     "shares the host's loopback"}});
        }
        return;
    }
    const RelayAddr &ra = cfg_.runtime_limits.relay;
    if (proc_.net.listener >= 0) {
        relay_ = std::make_unique<ApiRelay>(io_, cfg_.api_relay);
        asio::ip::tcp::endpoint upstream;
        memcpy(upstream.data(), &ra.addr, ra.len);
        upstream.resize(ra.len);
        std::string err;
        int fd = proc_.net.listener;
        proc_.net.listener = -1;   // the relay owns it now, also on failure
        if (!relay_->add(fd, upstream, &err))
            ow::log_warn("api_relay_failed", {{"address", addr_text(ra.addr)}, {"error", err}});
    }
    if (relay_) metrics_.watch(*relay_);
    if (!cfg_.slirp4netns.empty()) {
        std::string err;
        // overlaps the runtime's own start (it is exec'ing meanwhile)
        if (!start_slirp(cfg_.slirp4netns, proc_.net.ns_fd, 5000, &slirp_, &err))
            ow::log_warn("runtime_no_outbound", {{"error", err}});
    }
    // slirp4netns has its own handle; the relay's sockets keep it alive too
    proc_.net.close_all();
}

void Sidecar::read_stream(int stream) {
    auto &sd = stream == kStdout ? out_ : err_;
    sd.async_read_some(asio::buffer(rbuf_[stream]), [this, stream](error_code ec, size_t n) {
        auto emit = [this, stream](std::string line) {
            logs_.line(stream, ow::now_ns(), line);
        };
        if (ec) {
            split_[stream].finish(emit);
            stream_open_[stream] = false;
            // both streams ended: the runtime is gone, its logs are complete
            if (!stream_open_[0] && !stream_open_[1]) logs_.close_all(ow::now_ns());
            return;
        }
        split_[stream].feed(rbuf_[stream], n, emit);
        read_stream(stream);
    });
}

void Sidecar::on_signal(int sig) {
    if (sig == SIGCHLD) {
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid == slirp_.pid) {
                // the action lost the outside world (it keeps the API)
                ow::log_warn("slirp_exit", {{"pid", pid}});
                slirp_.pid = -1;
                continue;
            }
            if (pid != proc_.pid) continue;
            runtime_dead_ = true;
            ow::log_warn("runtime_exit", {
                {"pid", pid},
                {"code", WIFEXITED(status) ? WEXITSTATUS(status) : -1},
                {"signal", WIFSIGNALED(status) ? WTERMSIG(status) : 0}});
            if (ready_) recycle("runtime exited");
            else if (stemcell_) exit_now(2, "stemcell runtime exited");
        }
    } else if (!draining_) {
        draining_ = true;
        ow::log_info("drain", {{"inflight", gate_.inflight()}, {"queued", gate_.queued()}});
        // connections go away with the container: their clients reconnect
        // (to another one); each one's disconnect still runs
        ws_close_all(boost::beast::websocket::close_code::going_away);
        exit_timer_.expires_after(std::chrono::milliseconds(cfg_.drain_timeout_ms));
        exit_timer_.async_wait([this](error_code ec) {
            if (!ec) exit_now(0, "drain deadline");
        });
        if (!ready_) exit_now(0, "drained before ready");
        else maybe_exit();
    }
    signals_.async_wait([this](error_code ec, int s) { if (!ec) on_signal(s); });
}

void Sidecar::do_init() {
    int64_t t0 = ow::now_ms();
    // lines printed during /init belong to the first activation (OpenWhisk
    // shows them in the cold start's logs)
    init_sink_ = std::make_shared<LogSink>(action_.limits.logs_mb * 1048576);
    init_sink_->activation_id = "";
    init_sink_->ns = action_.ns;
    init_sink_->action = action_.path;
    logs_.open(init_sink_);
    std::string body = ow::json_dump(init_body(action_, cfg_.api_host, t0 + action_.limits.timeout_ms));
    client_->post("/init", std::move(body), action_.limits.timeout_ms,
                  [this, t0](RuntimeReply r) {
        if (exiting_) return;
        int64_t init_ms = ow::now_ms() - t0;
        RunOutcome o = map_init_reply(r, action_.limits.timeout_ms);
        metrics_.init(o.status_code == 0, init_ms);
        if (o.status_code != 0) { init_failed(o, init_ms); return; }
        // a successful /init prints no sentinel
        logs_.close(init_sink_, false, ow::now_ns());
        init_logs_ = init_sink_->logs.lines();
        init_sink_.reset();
        init_time_ = init_ms;
        ready_ = true;
        last_used_ = ow::now_ms();
        auto ep = server_.local();
        std::string addr = ep.address().to_string() + ":" + std::to_string(ep.port());
        if (!write_ready_fd("ready " + addr)) {
            exit_now(0, "the pool-manager that started this container is gone");
            return;
        }
        ow::log_info("ready", {{"addr", addr}, {"initTime", init_ms}});
        if (specialize_reply_) {
            Reply rep = std::move(specialize_reply_);
            specialize_reply_ = nullptr;
            rep(json_response(200, ow::json_dump({{"ready", true}, {"initTime", init_ms}})));
        }
        if (draining_) maybe_exit();
        if (runtime_dead_) recycle("runtime exited");
    });
}

void Sidecar::init_failed(const RunOutcome &o, int64_t init_ms) {
    auto finish = [this, o, init_ms]() {
        nlohmann::json f = {{"error", o.result.value("error", nlohmann::json("init failed"))},
                            {"initTime", init_ms}, {"timeout", o.timeout},
                            {"logs", init_sink_ ? init_sink_->logs.lines()
                                                : std::vector<std::string>()}};
        write_ready_fd("failed " + ow::json_dump(f));
        if (!ow::sidecar::write_termination_log(cfg_.termination_log, f)) {
            ow::log_warn("termination_log_failed", {{"path", cfg_.termination_log}});
        }
        ow::log_error("init_failed", f);
        if (specialize_reply_) {  // a stemcell: its pool-manager waits here
            Reply rep = std::move(specialize_reply_);
            specialize_reply_ = nullptr;
            rep(json_response(502, ow::json_dump(f), false));
        }
        exit_now(3, "init failed");
    };
    if (!init_sink_ || init_sink_->complete || o.timeout) { finish(); return; }
    // a failed /init prints the sentinels: wait for them, bounded
    init_sink_->on_complete = finish;
    auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(cfg_.log_deadline_ms));
    auto sink = init_sink_;
    t->async_wait([this, t, sink](error_code) { logs_.close(sink, true, ow::now_ns()); });
}

bool Sidecar::write_ready_fd(const std::string &line) {
    if (cfg_.ready_fd < 0) return true;
    // One short line into a pipe: a single write, atomic below PIPE_BUF.
    // EPIPE means the pool-manager that started us is gone (killed during
    // the start): nobody will put this container in the warm table, and a
    // successor does not know it, so staying would leak it.
    std::string buf = line + "\n";
    ssize_t n;
    do {
        n = ::write(cfg_.ready_fd, buf.data(), buf.size());
    } while (n < 0 && errno == EINTR);
    bool heard = !(n < 0 && errno == EPIPE);
    close(cfg_.ready_fd);
    cfg_.ready_fd = -1;
    return heard;
}

void Sidecar::recycle(const char *why) {
    if (!recycling_) {
        recycling_ = true;
        ow::log_warn("recycle", {{"reason", why}});
    }
    // queued requests never reached the runtime: hand them back
    for (auto &start : gate_.take_queued()) start();
    maybe_exit();
}

void Sidecar::maybe_exit() {
    if (exiting_) return;
    if (recycling_ && open_ == 0) {
        exit_now(2, "recycled");
        return;
    }
    // open WebSocket connections were sent a close frame when the drain
    // began: their disconnects run before the container goes
    if (draining_ && ready_ && open_ == 0 && gate_.inflight() == 0 && gate_.queued() == 0 &&
        ws_conns_.empty())
        exit_now(0, "drained");
}

void Sidecar::exit_now(int code, const char *why) {
    if (exiting_) return;
    exiting_ = true;
    exit_code_ = code;
    server_.close();
    kill_runtime(proc_);
    // an external runtime: its container's wrapper may stop it now
    if (cfg_.runtime_port > 0) mark_sidecar_exited(cfg_.runtime_logs);
    if (relay_) relay_->close();
    stop_slirp(&slirp_);
    if (client_) client_->close_idle();
    ws_exit();
    ow::log_info("exit", {{"code", code}, {"reason", why},
                          {"activations", activations_}, {"refused", refused_},
                          {"recordsQueued", writer_.queued()}});
    // let replies already handed to sessions reach the wire, then stop
    exit_timer_.cancel();
    exit_timer_.expires_after(std::chrono::milliseconds(100));
    exit_timer_.async_wait([this](error_code) { io_.stop(); });
}

}  // namespace ow::sidecar
