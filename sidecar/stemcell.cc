// stemcell.cc: see stemcell.h. The only sidecar code that knows about
// stemcells besides three hooks in sidecar.cc (runtime listening, runtime
// death, the /init answer).
#include "sidecar/stemcell.h"

#include <sys/prctl.h>

#include <nlohmann/json.hpp>

#include "libow/json_limits.h"
#include "libow/log.h"
#include "sidecar/action_store.h"
#include "sidecar/sidecar.h"

namespace ow::sidecar {

bool parse_specialize(const std::string &body, std::string *key, std::string *err) {
    // bounded (libow/json_limits.h): the caller holds the token, but a
    // mistake must not take the stemcell's stack with it
    nlohmann::json j = ow::json_parse_bounded(body);
    if (j.is_discarded() || !j.is_object()) {
        *err = "The request content was malformed: expected a JSON object.";
        return false;
    }
    auto it = j.find("action");
    if (it == j.end() || !it->is_string() || it->get<std::string>().empty()) {
        *err = "The request content was malformed: \"action\" must be an action key.";
        return false;
    }
    *key = it->get<std::string>();
    return true;
}

void Sidecar::stemcell_ready() {
    stemcell_ = true;
    auto ep = server_.local();
    std::string addr = ep.address().to_string() + ":" + std::to_string(ep.port());
    if (!write_ready_fd("ready " + addr)) {
        exit_now(0, "the pool-manager that started this stemcell is gone");
        return;
    }
    ow::log_info("stemcell_ready", {{"addr", addr}, {"lifetimeMs", cfg_.stemcell_ms}});
    stemcell_timer_ = std::make_unique<boost::asio::steady_timer>(
        io_, std::chrono::milliseconds(cfg_.stemcell_ms));
    stemcell_timer_->async_wait([this](boost::system::error_code ec) {
        if (!ec && stemcell_) exit_now(0, "stemcell lifetime over");
    });
    if (draining_) exit_now(0, "drained before specialization");
}

void Sidecar::handle_specialize(Request &&req, Reply reply) {
    if (!stemcell_) {
        // not a stemcell, or already specialized (one action per container)
        reply(error(409, "This container is not a stemcell waiting for an action.", "", ""));
        return;
    }
    std::string key, err;
    if (!parse_specialize(req.body(), &key, &err)) {
        reply(error(400, err, "", ""));
        return;
    }
    Action a;
    // Synchronous with its own 5 s deadline, as at a normal start: a
    // stemcell serves nothing else meanwhile.
    if (!load_action(cfg_.redis_host, cfg_.redis_port, cfg_.redis_cred, key, &a, &err)) {
        // the pool-manager read the same document a moment ago: the action
        // was deleted or Redis is away; this container is spent either way
        ow::log_error("specialize_failed", {{"action", key}, {"error", err}});
        reply(json_response(502, ow::json_dump({{"error", err}}), false));
        stemcell_ = false;
        exit_now(3, "specialize failed");
        return;
    }
    stemcell_ = false;
    cfg_.action_key = key;
    // now a container: it must outlive a pool-manager crash (adoption)
    prctl(PR_SET_PDEATHSIG, 0);
    if (stemcell_timer_) stemcell_timer_->cancel();
    action_ = std::move(a);
    recorded_ = recorded_action(action_);
    gate_ = Gate(action_.limits.concurrency,
                 default_buffer(action_.limits.concurrency, cfg_.overflow_cap));
    logs_.default_ns = action_.ns;
    logs_.default_action = action_.path;
    // the runtime keeps its socket; only the connection pool follows the
    // action's concurrency
    client_ = make_client();
    ow::log_info("specialize", {{"action", action_.path}, {"kind", action_.kind},
                                {"concurrency", gate_.concurrency()}});
    specialize_reply_ = std::move(reply);
    if (runtime_dead_) {
        RunOutcome o;
        o.status_code = 2;
        o.result = {{"error", std::string(kAbnormalInit)}};
        init_failed(o, 0);
        return;
    }
    do_init();
}

}  // namespace ow::sidecar
