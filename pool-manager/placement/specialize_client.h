// specialize_client.h: the real Specializer (stemcell_pool.h): POST
// /specialize {"action":...} to a stemcell's sidecar over HTTP/1.1, one
// connection, one deadline for connect + write + read (the answer comes
// after the action's /init, so the deadline covers the longest init).
#pragma once

#include <string>

#include <boost/asio/io_context.hpp>

#include "pool-manager/placement/stemcell_pool.h"

namespace ow::pm {

class SpecializeClient : public Specializer {
public:
    // token: the internal token (libow/secrets.h) every sidecar checks
    SpecializeClient(boost::asio::io_context &io, std::string token)
        : io_(io), token_(std::move(token)) {}
    void specialize(const std::string &addr, const std::string &action, int64_t timeout_ms,
                    Done done) override;

private:
    boost::asio::io_context &io_;
    std::string token_;
};

// 200 → ready, 502 → init_failed (the action's /init failed), anything
// else → failed (exposed for tests).
Specialized::Kind specialize_kind(int status);

}  // namespace ow::pm
