// sidecar.h: one container's sidecar: the runtime's lifecycle (spawn, wait
// for its port, /init, ready line, death, drain, exit codes) and the invoke
// path (invoke_handler.cc: gate, /run, logs, record, §5 responses).
//
// Single-threaded: everything runs on one io_context; only RecordWriter has
// its own thread. Exit codes: 0 drained (SIGTERM), 2 runtime died or hit the
// time limit (container recycled), 3 init failed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "libow/secrets.h"
#include "libow/web_action.h"
#include "sidecar/action.h"
#include "sidecar/activation.h"
#include "sidecar/api_relay.h"
#include "sidecar/gate.h"
#include "sidecar/http_server.h"
#include "sidecar/invoke_response.h"
#include "sidecar/log_collector.h"
#include "sidecar/record_writer.h"
#include "libow/retry_after.h"
#include "sidecar/runtime_client.h"
#include "sidecar/runtime_logs.h"
#include "sidecar/runtime_process.h"
#include "sidecar/sidecar_metrics.h"
#include "sidecar/slirp.h"
#include "sidecar/stream_relay.h"
#include "sidecar/connection_registry.h"
#include "sidecar/ws_session.h"
#include "sidecar/ws_stream_relay.h"

namespace ow::sidecar {

struct SidecarConfig {
    std::string listen_host = "127.0.0.1";
    uint16_t listen_port = 0;
    std::string container_id;
    int ready_fd = -1;
    long overflow_cap = 64;
    std::string api_host;
    std::vector<std::string> runtime_argv;
    // An external runtime (--runtime-url; runtime_port > 0): another
    // container's, reached over TCP at runtime_host:runtime_port; nothing is
    // spawned (runtime_argv is empty) and its output comes through the FIFOs
    // in runtime_logs (runtime_logs.h).
    std::string runtime_host;
    uint16_t runtime_port = 0;
    std::string runtime_logs;
    int64_t start_timeout_ms = 10000;   // runtime's port must open by then
    int64_t log_deadline_ms = 2000;     // sentinels after the run ends
    int64_t drain_timeout_ms = 330000;  // SIGTERM: max wait for work to end
    int64_t idle_conn_ms = 120000;      // keep-alive connections from the gateway
    // > 0: a stemcell (stemcell.cc): the runtime starts with no action and
    // the sidecar waits for POST /specialize; not specialized within this,
    // it exits 0 (bounds the leak when its pool-manager died)
    int64_t stemcell_ms = 0;
    std::string redis_host = "127.0.0.1";  // stemcell: where the action is read
    uint16_t redis_port = 6379;
    ow::RedisCredentials redis_cred;       // AUTH (secrets.h); empty: none
    // The internal token (secrets.h): /invoke, /web and /specialize answer
    // 401 to a request without it. Empty: no check (a test harness alone).
    std::string token;
    // The metrics token (secrets.h): GET /metrics answers 401 without it as
    // "Authorization: Bearer". This container's counters are its tenant's
    // business. Empty: /metrics is open (a test harness alone).
    std::string metrics_token;
    // the runtime's uid, limits and network namespace (runtime_process.h);
    // uid 0: the sidecar's
    RuntimeLimits runtime_limits;
    // In the runtime's network namespace: slirp4netns for the outside world
    // ("": none, the action reaches only the API; slirp.h), and the bounds
    // of the API relay (api_relay.h).
    std::string slirp4netns;
    ApiRelayOptions api_relay;
    // a pod's terminationMessagePath: a failed init writes its error JSON
    // there (termination_log.h); "" = not in a pod
    std::string termination_log;
    // The action key this container serves (--action, or a stemcell's
    // /specialize): an invocation whose X-OW-Path names another is refused.
    std::string action_key;
};

class Sidecar {
public:
    // journal: the activations this sidecar answered and owes a record
    // (libow/activation_journal.h); may be null (no journal)
    Sidecar(boost::asio::io_context &io, SidecarConfig cfg, Action action,
            RecordWriter &writer, ow::ActivationJournal *journal);
    // Listens, spawns the runtime and starts the async start-up. False (with
    // *err) when nothing could start; the caller exits 3.
    bool start(std::string *err);
    // The process exit code once io.run() returned.
    int exit_code() const { return exit_code_; }

private:
    struct InFlight;
    using InFlightPtr = std::shared_ptr<InFlight>;
    // A run that holds its slot while bytes are relayed to its runtime (a
    // streaming web action, a WebSocket's streaming handler): what its end
    // needs, whatever relayed it (stream_handler.cc).
    struct RelayedRun {
        explicit RelayedRun(Activation a) : act(std::move(a)) {}
        virtual ~RelayedRun() = default;
        Activation act;
        std::shared_ptr<LogSink> sink;
        std::unique_ptr<boost::asio::steady_timer> queue_timer;   // waiting for a slot
        std::unique_ptr<boost::asio::steady_timer> log_timer;     // sentinel deadline
        uint64_t ticket = 0;
        bool started = false;
        bool abandoned = false;      // its slot came too late: answered already
        bool hold_slot = false;      // its slot is freed when its logs are in
        bool log_timed_out = false;
    };
    using RelayedRunPtr = std::shared_ptr<RelayedRun>;
    struct Stream;
    using StreamPtr = std::shared_ptr<Stream>;
    struct WsConn;
    using WsConnPtr = std::shared_ptr<WsConn>;
    struct WsStream;
    using WsStreamPtr = std::shared_ptr<WsStream>;

    // lifecycle (sidecar.cc)
    void read_stream(int stream);
    void on_signal(int sig);
    void do_init();
    void init_failed(const RunOutcome &o, int64_t init_ms);
    // false: the pool-manager that started this container is gone
    bool write_ready_fd(const std::string &line);
    void recycle(const char *why);
    void maybe_exit();
    void exit_now(int code, const char *why);
    // the API relay and slirp4netns of the runtime's namespace, once the
    // runtime was spawned (sidecar.cc)
    void network_runtime();
    // a spawned runtime: its socket, the process, its network (sidecar.cc)
    bool spawn(std::string *err);
    // an external runtime: its log FIFOs (sidecar.cc)
    bool attach_external(std::string *err);
    // the client of the runtime's /init and /run, wherever it listens
    std::unique_ptr<RuntimeClient> make_client() const;

    // stemcell mode (stemcell.cc)
    void stemcell_ready();
    void handle_specialize(Request &&req, Reply reply);

    // invoke path (invoke_handler.cc)
    void handle(Request &&req, Reply reply);
    void handle_invoke(Request &&req, Reply reply);
    void admit(const InFlightPtr &x, Reply reply);
    void handle_web(Request &&req, Reply reply);
    void answer_web(const InFlightPtr &x, ow::WebResponse w);
    Response health() const;
    // streaming web actions (stream_handler.cc, docs/streams.md): taken from
    // the HTTP server after the header of their POST /web
    bool streams(const Request &header) const;
    void handle_stream(StreamConn conn);
    void start_stream(const StreamPtr &s);
    void stream_done(const StreamPtr &s, const StreamResult &r);
    // its outcome set: counted, the runtime recycled when it must be, then
    // the slot and the record wait for the runtime's sentinels
    void relayed_run_ended(const RelayedRunPtr &s);
    void relayed_logs_complete(const RelayedRunPtr &s);
    std::string stream_failure_text(const StreamResult &r) const;
    // WebSockets, one activation per event (websocket_handler.cc,
    // docs/websockets.md): taken from the HTTP server after the header of
    // their GET /web upgrade
    bool websockets(const Request &header) const;
    void handle_websocket(StreamConn conn);
    void ws_connect(const WsConnPtr &c);
    void ws_message(const WsConnPtr &c, std::string data, bool binary);
    void ws_closed(const WsConnPtr &c, uint16_t code, const std::string &why);
    void ws_unregister(const WsConnPtr &c);
    void ws_event(const WsConnPtr &c, const char *event, std::string data, bool binary,
                  uint16_t code, Reply done);
    void ws_refresh();
    void ws_close_all(uint16_t code);
    void ws_exit();
    void ws_count_message();
    // the streaming handler (web-socket and web-stream): the runtime's
    // POST /stream has the connection (ws_stream_relay.h)
    void ws_stream_start(const WsConnPtr &c);
    void ws_stream_run(const WsStreamPtr &s);
    void ws_stream_done(const WsStreamPtr &s, const WsStreamResult &r);
    void handle_connections(Request &&req, Reply reply);
    void run_web(Activation a, std::unique_ptr<ow::WebExchange> web, Reply reply);
    bool misdirected(const Request &req) const;
    bool authorized(const Request &req) const;
    std::shared_ptr<LogSink> begin_run(Activation &a);
    nlohmann::json run_input(Activation &a) const;
    void run(const InFlightPtr &x);
    void on_run_reply(const InFlightPtr &x, RuntimeReply r);
    void run_replied(const InFlightPtr &x, RuntimeReply r);
    void on_logs_complete(const InFlightPtr &x);
    bool answers_result(const InFlightPtr &x) const;
    void answer(const InFlightPtr &x, int status, std::string json);
    void answer_accepted(const InFlightPtr &x);
    void answer_unrun(const InFlightPtr &x);
    // Before an answer leaves: the record to store should this process die
    // first (activation_journal.h): a "whisk internal error" stand-in for a
    // 202 (the run's result is not known yet), or the outcome without its
    // logs for a result-only answer.
    void journal_unfinished(const InFlightPtr &x);
    void journal_logs_lost(const InFlightPtr &x);
    Response error(int status, const std::string &msg, const std::string &code,
                   const std::string &activation_id);

    boost::asio::io_context &io_;
    SidecarConfig cfg_;
    Action action_;
    // what every record of this container says of action_ (activation.h)
    std::shared_ptr<const RecordedAction> recorded_;
    RecordWriter &writer_;
    ow::ActivationJournal *journal_;
    HttpServer server_;
    Gate gate_;
    SidecarMetrics metrics_;   // GET /metrics (sidecar_metrics.h)
    ow::RunTimeEstimator estimator_;
    LogCollector logs_;
    std::unique_ptr<RuntimeClient> client_;
    RuntimeProcess proc_;
    boost::asio::posix::stream_descriptor out_, err_;
    LineSplitter split_[2];
    char rbuf_[2][16384];
    bool stream_open_[2] = {false, false};
    boost::asio::signal_set signals_;
    boost::asio::steady_timer exit_timer_;

    bool ready_ = false;
    bool draining_ = false;
    bool recycling_ = false;
    bool runtime_dead_ = false;
    bool exiting_ = false;
    int exit_code_ = 0;
    int64_t init_time_ = -1;            // ms, for the first activation
    bool first_run_ = true;
    std::vector<std::string> init_logs_;  // lines printed during /init
    std::shared_ptr<LogSink> init_sink_;
    int open_ = 0;                      // activations admitted, not yet recorded
    int64_t last_used_ = 0;
    uint64_t activations_ = 0;
    uint64_t refused_ = 0;
    // stemcell mode: waiting for /specialize; its answer once /init ends
    bool stemcell_ = false;
    Reply specialize_reply_;
    RuntimeSocket runtime_socket_;
    std::unique_ptr<ApiRelay> relay_;   // the runtime has a namespace and an API
    Slirp slirp_;
    std::unique_ptr<boost::asio::steady_timer> stemcell_timer_;
    // open WebSocket connections by id, their registry (made at the first)
    std::unordered_map<std::string, WsConnPtr> ws_conns_;
    std::unique_ptr<ConnectionRegistry> registry_;
    std::unique_ptr<boost::asio::steady_timer> ws_refresh_timer_;
    int64_t ws_messages_unsent_ = 0;   // not yet in the per-minute counter
    std::unique_ptr<boost::asio::steady_timer> ws_count_timer_;
};

}  // namespace ow::sidecar
