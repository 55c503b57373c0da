// runtime_client.h: HTTP/1.1 client to the runtime's /init and /run (§9).
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

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "sidecar/run_result.h"

namespace owsc {

class RuntimeClient {
public:
    using Done = std::function<void(RuntimeReply)>;

    // path: the runtime's Unix socket (runtime_process.h, RuntimeSocket)
    RuntimeClient(boost::asio::io_context &io, const std::string &path, size_t max_idle);
    // POSTs body (JSON) to target; done runs exactly once, on the io thread.
    void post(const std::string &target, std::string body, int64_t timeout_ms, Done done);
    // Calls done(true) once the runtime accepts connections, done(false) when
    // deadline_ms (monotonic) passes first. Probes every 5 ms.
    void wait_listening(int64_t deadline_ms, std::function<void(bool)> done);
    // Closes idle connections (shutdown).
    void close_idle();

    struct Call;
    struct Idle;

private:
    friend struct Call;
    void start(std::shared_ptr<Call> c, bool fresh);
    void finish(std::shared_ptr<Call> c, RuntimeReply r, bool reusable);

    boost::asio::io_context &io_;
    boost::asio::local::stream_protocol::endpoint ep_;
    size_t max_idle_;
    std::deque<std::shared_ptr<Idle>> idle_;
};

}  // namespace owsc
