// http_call.h: one HTTP/1.1 exchange with a container's sidecar (a new
// connection, one deadline for connect + write + read, a bounded answer),
// shared by the invoke delivery (sidecar_client) and stemcell
// specialization (specialize_client).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace ow::pm {

struct HttpAnswer {
    // answered: a whole HTTP answer is in res.
    // unsent: bad address, connect or write failed: the peer cannot have the
    //   request.
    // lost: sent, but no answer came (reset, deadline, too large).
    enum Stage { answered, unsent, lost };
    Stage stage = unsent;
    boost::beast::http::response<boost::beast::http::string_body> res;
    std::string error;  // unsent / lost: what happened
};

// done runs exactly once, later (never inside http_call).
void http_call(boost::asio::io_context &io, const std::string &addr,
               boost::beast::http::request<boost::beast::http::string_body> req,
               size_t max_answer, int64_t timeout_ms,
               std::function<void(HttpAnswer &)> done);

}  // namespace ow::pm
