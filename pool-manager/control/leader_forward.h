// leader_forward.h: what a standby replica does with a control API request
// (/v1/capacity, /v1/invoke, /v1/containers): it forwards it to the leader
// and relays the answer, so gateways may talk to any replica (a Kubernetes
// Service in front of all of them, or nginx's upstream list).
//
// A failover must lose no request: when the leader is unknown, or does not
// take the connection (killed, not yet replaced), the request waits and is
// tried again every 100 ms, at the leader then known, until the deadline;
// if this replica has become the leader meanwhile it is handled here. A
// request the leader took but did not answer is sent again only when it is
// idempotent (a capacity request: asking twice starts nothing twice, the
// leader coalesces); a non-blocking invoke is not (the leader may have
// queued it): 503 + Retry-After, as OpenWhisk answers when it cannot tell.
//
// One hop only: a forward carries X-OW-Forwarded, and a replica that gets
// one while it does not serve answers 503 + X-OW-Not-Leader at once instead
// of forwarding again (two replicas that briefly take each other for the
// leader must not bounce a request); the sender treats that answer like a
// refused connection and tries again with its view refreshed.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "pool-manager/clock.h"
#include "pool-manager/control/invoke_queue.h"
#include "pool-manager/leadership/leader_election.h"

namespace ow::pm {

struct ForwardRequest {
    std::string method;
    std::string target;
    Headers headers;
    std::string body;
    bool idempotent = false;
};

class LeaderForwarder {
public:
    using Done = std::function<void(int status, const nlohmann::json &body,
                                    const Headers &headers)>;
    // leadership(): the elector's view; serving(): this replica leads and
    // has reconciled, so it answers itself.
    LeaderForwarder(boost::asio::io_context &io, Clock &clock,
                    std::function<Leadership()> leadership, std::function<bool()> serving,
                    int64_t deadline_ms);
    // local() handles the request here; done() relays a forwarded answer.
    void forward(ForwardRequest req, std::function<void()> local, Done done);

    // The request headers a forward carries (the rest are hop-by-hop or
    // rebuilt).
    static const char *const kForwardedHeaders[];
    static const char kHopHeader[];       // "X-OW-Forwarded"
    static const char kNotLeaderHeader[]; // "X-OW-Not-Leader"

private:
    struct Pending;
    void attempt(const std::shared_ptr<Pending> &p);
    void retry(const std::shared_ptr<Pending> &p, const std::string &why);

    boost::asio::io_context &io_;
    Clock &clock_;
    std::function<Leadership()> leadership_;
    std::function<bool()> serving_;
    int64_t deadline_ms_;
};

}  // namespace ow::pm
