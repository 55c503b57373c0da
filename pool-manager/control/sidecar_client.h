// sidecar_client.h: hands an accepted non-blocking invoke to a container's
// sidecar (POST /invoke, HTTP/1.1, one connection per delivery, one deadline
// for connect + write + read). The Deliverer interface lets the invoke queue
// run against a fake in unit tests.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ow::pm {

// What the pool-manager forwards: the gateway's request, unchanged.
struct InvokeRequest {
    std::string activation_id;   // X-OW-Activation-Id (32 hex)
    std::string ns;              // X-OW-Namespace (the caller's)
    std::string subject;         // X-OW-Subject
    std::string action;          // X-OW-Path: "<ns>/[<pkg>/]<name>"
    int64_t accept_ms = 0;       // X-OW-Accept-Time
    std::string authorization;   // forwarded for provide-api-key
    std::string traceparent;
    std::string cause;           // X-OW-Cause: a fired trigger's activation
    std::string query;           // after '?', passed through
    std::string body;            // the params JSON
};

struct Delivery {
    // answered: the sidecar sent an HTTP answer (status, retry_after).
    // unsent: connect or write failed: the sidecar cannot have the request,
    //   so another container may be tried.
    // lost: the request was sent but no answer came (reset, deadline): the
    //   sidecar may have accepted it, so it is not sent again (at most once,
    //   as OpenWhisk).
    enum Kind { answered, unsent, lost };
    Kind kind = unsent;
    int status = 0;
    int64_t retry_after_s = 0;   // Retry-After of a 429/503, 0 when absent
    std::string body;
    std::string error;           // unsent / lost: what happened
};

class Deliverer {
public:
    using Done = std::function<void(const Delivery &)>;
    virtual ~Deliverer() = default;
    // done runs exactly once, later (never inside post()).
    virtual void post(const std::string &addr, const InvokeRequest &req, int64_t timeout_ms,
                      Done done) = 0;
};

class SidecarClient : public Deliverer {
public:
    // token: the internal token (libow/secrets.h) every sidecar checks
    SidecarClient(boost::asio::io_context &io, std::string token)
        : io_(io), token_(std::move(token)) {}
    void post(const std::string &addr, const InvokeRequest &req, int64_t timeout_ms,
              Done done) override;

private:
    boost::asio::io_context &io_;
    std::string token_;
};

}  // namespace ow::pm
