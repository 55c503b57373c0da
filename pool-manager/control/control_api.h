// control_api.h: the pool-manager's HTTP API (Beast, on the io thread):
//   POST /v1/capacity  {"action":"<ns>/<path>","scale"?:bool} → capacity.h
//   GET  /v1/containers → {"containers":[...],"stemcells":[...]} (the pool
//                         and the prewarmed ones, for tests/ow-admin)
//   POST /v1/invoke    non-blocking invoke, answered at once → invoke_queue.h
//   GET  /health        → 200 {"ok":true,"leader":bool,...}
//   GET  /metrics       → Prometheus text (pm_metrics.h)
// /v1/ requests carry the internal token (set_token) or get 401; /metrics
// wants "Authorization: Bearer <metrics token>" (set_metrics_token) or 401.
// On a standby replica the /v1/ requests are forwarded to the leader.
// Errors are OpenWhisk-shaped {"error","code"}. Bounded: request bodies
// (64 KB; /v1/invoke 1 MB + 64 KB), connections (max_connections),
// idle/read time (30 s).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "pool-manager/placement/capacity.h"
#include "pool-manager/control/invoke_queue.h"
#include "pool-manager/control/leader_forward.h"
#include "pool-manager/pool.h"

namespace ow::pm {

class ControlApi {
public:
    ControlApi(boost::asio::io_context &io, Capacity &capacity, Pool &pool,
               InvokeQueue &invokes, size_t max_connections = 1024);
    // Binds and starts accepting; false and *err on failure.
    bool listen(const std::string &host, uint16_t port, std::string *err);
    uint16_t port() const { return port_; }
    void close();

    // One request → (status, body, extra headers); done may run later
    // (capacity waits).
    using Done = std::function<void(int status, const nlohmann::json &body,
                                    const Headers &headers)>;
    void handle(const std::string &method, const std::string &target,
                const HeaderFn &header, std::string body, Done done);
    // The request body limit of a target.
    static size_t body_limit(const std::string &target);
    // A standby replica: /v1/* requests go to the leader unless serving()
    // (leader_forward.h). Without it every request is answered here.
    void set_standby(LeaderForwarder *f, std::function<bool()> serving) {
        forwarder_ = f;
        serving_ = std::move(serving);
    }
    // Listed by GET /v1/containers (stemcell_pool.h); nullptr: none.
    void set_stemcells(const StemcellPool *s) { stemcells_ = s; }
    // The internal token (libow/secrets.h) every /v1/ request must carry in
    // X-OW-Token (401 otherwise); "" = no check.
    void set_token(std::string token) { token_ = std::move(token); }
    // The metrics token (libow/secrets.h) a GET /metrics must carry as
    // "Authorization: Bearer" (401 otherwise); "" = open.
    void set_metrics_token(std::string token) { metrics_token_ = std::move(token); }

    size_t connections = 0;
    size_t max_connections;

private:
    void accept();
    void handle_here(const std::string &method, const std::string &target,
                     const HeaderFn &header, std::string body, Done done);

    boost::asio::io_context &io_;
    Capacity &capacity_;
    Pool &pool_;
    InvokeQueue &invokes_;
    const StemcellPool *stemcells_ = nullptr;
    LeaderForwarder *forwarder_ = nullptr;
    std::function<bool()> serving_;
    std::string token_;
    std::string metrics_token_;
    boost::asio::ip::tcp::acceptor acceptor_;
    uint16_t port_ = 0;
};

}  // namespace ow::pm
