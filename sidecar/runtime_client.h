// runtime_client.h: HTTP/1.1 client to the runtime's /init and /run (§9).
//
// The runtime is reached on a Unix socket (a runtime the sidecar spawned,
// runtime_process.h) or over TCP (an external runtime: the runtime's own
// container of a Kubernetes pod, which shares the pod's network namespace;
// parse_runtime_url). The protocol is the same on both.
//
// Asio/Beast, single-threaded (the sidecar's io_context). Every call has a
// deadline (the action's time limit): when it passes the socket is closed
// and the call ends with RuntimeReply::timed_out. Keep-alive connections are
// pooled (at most max_idle, each reused within idle_ms: shorter than Node's
// 5 s keep-alive timeout, so the runtime never closes one under us); a
// reused connection that fails before any reply byte is retried once on a
// fresh one (the runtime closed it idle and never saw the request).
// Bodies are bounded: a reply over max_body bytes ends as too_large.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>

#include "sidecar/run_result.h"

namespace ow::sidecar {

// "http://HOST:PORT" (an optional trailing "/"; HOST an IPv4 literal or a
// bracketed IPv6 one: no name is resolved on the way to the runtime) →
// *host, *port. False with *err otherwise.
bool parse_runtime_url(const std::string &url, std::string *host, uint16_t *port,
                       std::string *err);

// The pause before probe number `attempt` (0-based) of wait_listening:
// 5 ms doubling up to cap_ms. A spawned runtime's Unix socket costs nothing
// to probe (cap 5: no back-off, the cold start sees its listen at once); an
// external runtime may take seconds (its image is still being started), so
// it is probed less often the longer it takes.
int64_t probe_delay_ms(int attempt, int64_t cap_ms);

class RuntimeClient {
public:
    using Done = std::function<void(RuntimeReply)>;
    using Endpoint = boost::asio::generic::stream_protocol::endpoint;

    // path: the runtime's Unix socket (runtime_process.h, RuntimeSocket)
    RuntimeClient(boost::asio::io_context &io, const std::string &path, size_t max_idle);
    // host:port: an external runtime over TCP (host an IP literal)
    RuntimeClient(boost::asio::io_context &io, const std::string &host, uint16_t port,
                  size_t max_idle);
    // POSTs body (JSON) to target; done runs exactly once, on the io thread.
    void post(const std::string &target, std::string body, int64_t timeout_ms, Done done);
    // Calls done(true) once the runtime accepts connections, done(false) when
    // deadline_ms (monotonic) passes first. Probes with probe_delay_ms
    // between attempts (cap: 5 ms on a Unix socket, 100 ms over TCP).
    void wait_listening(int64_t deadline_ms, std::function<void(bool)> done);
    // Closes idle connections (shutdown).
    void close_idle();

    struct Call;
    struct Idle;

private:
    friend struct Call;
    void start(std::shared_ptr<Call> c, bool fresh);
    void sent(const std::shared_ptr<Call> &c, boost::system::error_code ec);
    void finish(std::shared_ptr<Call> c, RuntimeReply r, bool reusable);
    void probe(int attempt, int64_t deadline_ms, std::function<void(bool)> done);

    boost::asio::io_context &io_;
    Endpoint ep_;
    bool tcp_ = false;
    size_t max_idle_;
    std::deque<std::shared_ptr<Idle>> idle_;
};

}  // namespace ow::sidecar
