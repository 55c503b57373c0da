// sidecar_client.cc: see sidecar_client.h.
#include "pool-manager/control/sidecar_client.h"

#include <cstdlib>

#include "libow/secrets.h"
#include "pool-manager/http_call.h"

namespace ow::pm {

namespace http = boost::beast::http;

namespace {
constexpr size_t kMaxAnswer = 64 * 1024;  // a sidecar's 202/429/503 is tiny
}  // namespace

void SidecarClient::post(const std::string &addr, const InvokeRequest &r, int64_t timeout_ms,
                         Done done) {
    std::string target = "/invoke";
    if (!r.query.empty()) target += "?" + r.query;
    http::request<http::string_body> req(http::verb::post, target, 11);
    req.set(http::field::content_type, "application/json");
    if (!token_.empty()) req.set(ow::kTokenHeader, token_);
    req.set("X-OW-Activation-Id", r.activation_id);
    req.set("X-OW-Namespace", r.ns);
    if (!r.subject.empty()) req.set("X-OW-Subject", r.subject);
    req.set("X-OW-Path", r.action);
    req.set("X-OW-Accept-Time", std::to_string(r.accept_ms));
    if (!r.authorization.empty()) req.set(http::field::authorization, r.authorization);
    if (!r.traceparent.empty()) req.set("traceparent", r.traceparent);
    if (!r.cause.empty()) {
        // only the fire consumer passes a cause: the trigger activation;
        // the sidecar then writes "cause" but no causedBy: "sequence"
        req.set("X-OW-Cause", r.cause);
        req.set("X-OW-Cause-Kind", "trigger");
    }
    req.body() = r.body;
    http_call(io_, addr, std::move(req), kMaxAnswer, timeout_ms,
              [done = std::move(done)](HttpAnswer &a) {
                  Delivery d;
                  d.kind = a.stage == HttpAnswer::answered ? Delivery::answered
                           : a.stage == HttpAnswer::lost   ? Delivery::lost
                                                           : Delivery::unsent;
                  d.error = a.error;
                  if (d.kind == Delivery::answered) {
                      d.status = static_cast<int>(a.res.result_int());
                      d.body = std::move(a.res.body());
                      auto ra = a.res.find(http::field::retry_after);
                      if (ra != a.res.end()) {
                          d.retry_after_s =
                              std::strtoll(std::string(ra->value()).c_str(), nullptr, 10);
                          if (d.retry_after_s < 0) d.retry_after_s = 0;
                      }
                  }
                  done(d);
              });
}

}  // namespace ow::pm
