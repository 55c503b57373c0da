// specialize_client.cc: see specialize_client.h.
#include "pool-manager/placement/specialize_client.h"

#include "libow/secrets.h"
#include "pool-manager/http_call.h"

namespace ow::pm {

namespace http = boost::beast::http;

namespace {
constexpr size_t kMaxAnswer = 1024 * 1024;  // an init failure carries its logs
}  // namespace

Specialized::Kind specialize_kind(int status) {
    return status == 200   ? Specialized::ready
           : status == 502 ? Specialized::init_failed
                           : Specialized::failed;
}

void SpecializeClient::specialize(const std::string &addr, const std::string &action,
                                  int64_t timeout_ms, Done done) {
    http::request<http::string_body> req(http::verb::post, "/specialize", 11);
    req.set(http::field::content_type, "application/json");
    if (!token_.empty()) req.set(ow::kTokenHeader, token_);
    req.body() = nlohmann::json({{"action", action}}).dump();
    http_call(io_, addr, std::move(req), kMaxAnswer, timeout_ms,
              [done = std::move(done)](HttpAnswer &a) {
                  Specialized s;
                  if (a.stage == HttpAnswer::answered) {
                      s.status = static_cast<int>(a.res.result_int());
                      s.body = std::move(a.res.body());
                      s.kind = specialize_kind(s.status);
                  } else {
                      s.error = a.error;
                  }
                  done(s);
              });
}

}  // namespace ow::pm
