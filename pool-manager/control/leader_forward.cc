// leader_forward.cc: see leader_forward.h.
#include "pool-manager/control/leader_forward.h"

#include <boost/beast/http.hpp>

#include "libow/log.h"
#include "pool-manager/placement/capacity.h"
#include "pool-manager/http_call.h"

namespace ow::pm {

namespace http = boost::beast::http;

namespace {
constexpr int64_t kRetryMs = 100;
// The largest answer relayed: a /v1/containers list of a big pool.
constexpr size_t kMaxAnswer = 16u << 20;
// Answer headers relayed to the gateway.
const char *const kRelayedHeaders[] = {"x-openwhisk-activation-id", "Retry-After"};
}  // namespace

const char LeaderForwarder::kHopHeader[] = "X-OW-Forwarded";
const char LeaderForwarder::kNotLeaderHeader[] = "X-OW-Not-Leader";

const char *const LeaderForwarder::kForwardedHeaders[] = {
    "Content-Type", "Authorization", "traceparent", "X-OW-Activation-Id", "X-OW-Namespace",
    "X-OW-Subject", "X-OW-Path", "X-OW-Accept-Time", "X-OW-Cause", "X-OW-Cause-Kind",
    // the caller's internal token: the leader checks it as this replica did
    "X-OW-Token", nullptr};

struct LeaderForwarder::Pending {
    ForwardRequest req;
    std::function<void()> local;
    Done done;
    int64_t deadline = 0;
    int attempts = 0;
};

LeaderForwarder::LeaderForwarder(boost::asio::io_context &io, Clock &clock,
                                 std::function<Leadership()> leadership,
                                 std::function<bool()> serving, int64_t deadline_ms)
    : io_(io), clock_(clock), leadership_(std::move(leadership)),
      serving_(std::move(serving)), deadline_ms_(deadline_ms) {}

void LeaderForwarder::forward(ForwardRequest req, std::function<void()> local, Done done) {
    auto p = std::make_shared<Pending>();
    p->req = std::move(req);
    p->local = std::move(local);
    p->done = std::move(done);
    p->deadline = clock_.now_ms() + deadline_ms_;
    attempt(p);
}

void LeaderForwarder::retry(const std::shared_ptr<Pending> &p, const std::string &why) {
    if (clock_.now_ms() + kRetryMs > p->deadline) {
        log_warn("forward_gave_up", {{"target", p->req.target}, {"error", why},
                                     {"attempts", p->attempts}});
        return p->done(503, error_body("No pool-manager leader answered in time: " + why),
                       {{"Retry-After", "1"}});
    }
    clock_.after(kRetryMs, [this, p] { attempt(p); });
}

void LeaderForwarder::attempt(const std::shared_ptr<Pending> &p) {
    if (serving_()) return p->local();
    Leadership l = leadership_();
    // leading but not yet serving: the new leader is still adopting
    if (l.leading || l.leader_addr.empty()) return retry(p, "no leader yet");
    p->attempts++;
    http::request<http::string_body> req;
    req.method_string(p->req.method);
    req.target(p->req.target);
    req.version(11);
    req.set(http::field::host, l.leader_addr);
    for (const auto &h : p->req.headers) req.set(h.first, h.second);
    req.set(kHopHeader, "1");
    req.body() = p->req.body;
    req.prepare_payload();
    int64_t left = p->deadline - clock_.now_ms();
    if (left <= 0) return retry(p, "deadline");
    std::string addr = l.leader_addr;
    http_call(io_, addr, std::move(req), kMaxAnswer, left,
              [this, p, addr](HttpAnswer &a) {
                  bool not_leader = a.stage == HttpAnswer::answered &&
                                    a.res.find(kNotLeaderHeader) != a.res.end();
                  if (a.stage == HttpAnswer::unsent || not_leader ||
                      (a.stage == HttpAnswer::lost && p->req.idempotent)) {
                      return retry(p, addr + ": " + a.error);
                  }
                  if (a.stage == HttpAnswer::lost) {
                      return p->done(503,
                                     error_body("The pool-manager leader did not answer; "
                                                "retry."),
                                     {{"Retry-After", "1"}});
                  }
                  nlohmann::json body =
                      nlohmann::json::parse(a.res.body(), nullptr, false);
                  if (body.is_discarded()) body = error_body("bad answer from the leader");
                  Headers h;
                  for (const char *name : kRelayedHeaders) {
                      auto it = a.res.find(name);
                      if (it != a.res.end()) h.emplace_back(name, std::string(it->value()));
                  }
                  p->done(static_cast<int>(a.res.result_int()), body, h);
              });
}

}  // namespace ow::pm
