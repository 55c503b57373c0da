// api_relay.h: the owx API as the runtime's network namespace sees it.
//
// The runtime's namespace (runtime_netns.h) has a listening socket at the
// API host's loopback address and port (127.0.0.1:3233 on the local stack);
// the sidecar accepts on it and relays each connection, byte for byte, to
// the same address in the sidecar's own namespace: the gateway's public
// port. TLS, HTTP/1.1 keep-alive and anything else pass through untouched.
// Only that one configured address is ever dialled; the action cannot name
// another.
//
// Bounded in everything an action controls: connections at once (more are
// accepted and closed at once: a backlog left to fill would hold them
// silently), one fixed buffer per direction per connection (a reader slower
// than the writer stops the reading, nothing queues), a deadline on the
// connect and on idleness (no byte either way). No exceptions: every Asio
// call takes an error_code.
//
// Relayed connections to an IPv4 loopback gateway come from 127.0.0.2, not
// 127.0.0.1 (kRelaySource): the gateway's locations that trust "this host"
// by address (`allow 127.0.0.1`, its /metrics, which names every tenant's
// actions) do not admit an action as the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace ow::sidecar {

struct ApiRelayOptions {
    size_t max_connections = 64;
    size_t buffer_bytes = 16384;          // per direction and connection
    int64_t connect_timeout_ms = 5000;
    int64_t idle_timeout_ms = 330000;     // no byte either way for this long
};

// The source address of relayed connections to an IPv4 loopback upstream.
constexpr const char *kRelaySource = "127.0.0.2";

struct ApiRelayCounters {
    uint64_t accepted = 0;   // relayed (or tried: see failed)
    uint64_t refused = 0;    // over max_connections: closed at once
    uint64_t failed = 0;     // the upstream could not be reached in time
    uint64_t timed_out = 0;  // closed for idleness
};

class ApiRelay {
public:
    ApiRelay(boost::asio::io_context &io, ApiRelayOptions opts);
    ~ApiRelay();
    ApiRelay(const ApiRelay &) = delete;
    ApiRelay &operator=(const ApiRelay &) = delete;

    // Takes listen_fd (a listening TCP socket of any namespace; ownership
    // passes, also on failure) and relays what it accepts to upstream.
    bool add(int listen_fd, const boost::asio::ip::tcp::endpoint &upstream, std::string *err);
    // Stops accepting and closes every relayed connection.
    void close();
    size_t active() const { return *active_; }
    const ApiRelayCounters &counters() const { return *counters_; }

private:
    struct Listener;
    struct Conn;
    void accept(const std::shared_ptr<Listener> &l);

    boost::asio::io_context &io_;
    ApiRelayOptions opts_;
    std::vector<std::shared_ptr<Listener>> listeners_;
    // shared with the connections, which may outlive a close() by a callback
    std::shared_ptr<size_t> active_;
    std::shared_ptr<ApiRelayCounters> counters_;
    std::shared_ptr<std::vector<std::weak_ptr<Conn>>> conns_;
};

}  // namespace ow::sidecar
