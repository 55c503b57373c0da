// kube_lease.cc: see kube_lease.h.
#include "pool-manager/leadership/kube_lease.h"

#include <atomic>
#include <chrono>

#include "libow/clock.h"
#include "libow/log.h"

namespace ow::pm {

namespace {

constexpr const char *kAddrAnnotation = "owx.dev/leader-addr";

int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

int64_t wall_now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

KubeLeaseElector::KubeLeaseElector(boost::asio::io_context &io, KubeClient &client,
                                   KubeLeaseOptions opts, std::function<int64_t()> now_ms,
                                   std::function<int64_t()> wall_us)
    : io_(io),
      client_(client),
      opts_(std::move(opts)),
      now_ms_(now_ms ? std::move(now_ms) : steady_ms),
      wall_us_(wall_us ? std::move(wall_us) : wall_now_us),
      timer_(io),
      alive_(std::make_shared<bool>(true)) {}

KubeLeaseElector::~KubeLeaseElector() { *alive_ = false; }

std::string KubeLeaseElector::lease_path() const {
    return "/apis/coordination.k8s.io/v1/namespaces/" + opts_.ns + "/leases/" + opts_.name;
}

void KubeLeaseElector::start(ChangeCallback on_change) {
    on_change_ = std::move(on_change);
    tick();
}

void KubeLeaseElector::schedule() {
    if (resigned_) return;
    timer_.expires_after(std::chrono::milliseconds(opts_.retry_period_ms));
    std::weak_ptr<bool> alive = alive_;
    timer_.async_wait([this, alive](const boost::system::error_code &ec) {
        auto a = alive.lock();
        if (ec || !a || !*a) return;
        tick();
    });
}

void KubeLeaseElector::set(Leadership l) {
    bool changed = l.leading != state_.leading || l.token != state_.token ||
                   l.leader_addr != state_.leader_addr;
    if (l.leading != state_.leading) {
        log_info(l.leading ? "lease_acquired" : "lease_lost",
                 {{"lease", opts_.name}, {"identity", opts_.identity}, {"token", l.token},
                  {"reason", l.lost_reason}});
    }
    state_ = l;
    if (changed && on_change_) on_change_(state_);
}

std::string KubeLeaseElector::not_renewed(const KubeResponse &r) const {
    return "could not renew the lease within the renew deadline (" +
           std::to_string(opts_.renew_deadline_ms) + " ms): last answer " +
           (r.status > 0 ? std::to_string(r.status) : std::string("none")) +
           (r.error.empty() ? "" : " " + r.error);
}

void KubeLeaseElector::tick() {
    if (busy_ || resigned_) return;
    busy_ = true;
    KubeRequest req;
    req.path = lease_path();
    // a round must end well within the renew deadline
    req.timeout_ms = std::min<int64_t>(opts_.retry_period_ms * 2, opts_.renew_deadline_ms);
    std::weak_ptr<bool> alive = alive_;
    client_.call(req, [this, alive](const KubeResponse &r) {
        auto a = alive.lock();
        if (!a || !*a) return;
        on_get(r);
    });
}

nlohmann::json KubeLeaseElector::spec(int64_t transitions, const std::string &acquire) const {
    return {{"holderIdentity", opts_.identity},
            {"leaseDurationSeconds", (opts_.lease_duration_ms + 999) / 1000},
            {"acquireTime", acquire},
            {"renewTime", micro_time(wall_us_())},
            {"leaseTransitions", transitions}};
}

void KubeLeaseElector::on_get(const KubeResponse &r) {
    if (resigned_) {
        busy_ = false;
        return;
    }
    if (r.status == 404) {
        nlohmann::json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                                {"kind", "Lease"},
                                {"metadata", {{"name", opts_.name}, {"namespace", opts_.ns}}}};
        take(lease, true);
        return;
    }
    nlohmann::json lease = r.status == 200 ? nlohmann::json::parse(r.body, nullptr, false)
                                           : nlohmann::json();
    if (!lease.is_object() || !lease.contains("metadata")) {
        log_warn("lease_get_failed", {{"status", r.status}, {"error", r.error}});
        if (state_.leading && now_ms_() - renewed_ms_ > opts_.renew_deadline_ms) {
            set({false, state_.token, "", not_renewed(r)});
        }
        busy_ = false;
        schedule();
        return;
    }
    nlohmann::json sp = lease.value("spec", nlohmann::json::object());
    std::string holder = sp.value("holderIdentity", "");
    int64_t transitions = sp.value("leaseTransitions", 0);
    int64_t duration_ms = sp.value("leaseDurationSeconds", 0) * 1000;
    if (duration_ms <= 0) duration_ms = opts_.lease_duration_ms;
    std::string record = holder + "|" + sp.value("renewTime", "") + "|" +
                         std::to_string(transitions) + "|" + std::to_string(duration_ms);
    if (record != observed_) {
        observed_ = record;
        observed_ms_ = now_ms_();
    }
    if (holder == opts_.identity && !holder.empty()) {
        if (!state_.leading) acquired_ = sp.value("acquireTime", "");
        take(lease, false);
        return;
    }
    if (holder.empty() || now_ms_() - observed_ms_ >= duration_ms) {
        take(lease, false);
        return;
    }
    std::string addr;
    const nlohmann::json &meta = lease["metadata"];
    if (meta.contains("annotations") && meta["annotations"].is_object()) {
        addr = meta["annotations"].value(kAddrAnnotation, "");
    }
    set({false, transitions + 1, addr,
         "another replica holds the lease (" + holder + ")"});
    busy_ = false;
    schedule();
}

void KubeLeaseElector::take(nlohmann::json lease, bool create) {
    nlohmann::json sp = lease.value("spec", nlohmann::json::object());
    std::string holder = sp.value("holderIdentity", "");
    int64_t transitions = sp.value("leaseTransitions", 0);
    bool ours = !create && holder == opts_.identity;
    if (!create && !ours) transitions++;  // a new term: the fencing token grows
    std::string acquire = ours && !acquired_.empty() ? acquired_ : micro_time(wall_us_());
    lease["spec"] = spec(transitions, acquire);
    lease["metadata"]["annotations"][kAddrAnnotation] = opts_.leader_addr;
    KubeRequest req;
    req.timeout_ms = std::min<int64_t>(opts_.retry_period_ms * 2, opts_.renew_deadline_ms);
    if (create) {
        req.verb = "POST";
        req.path = "/apis/coordination.k8s.io/v1/namespaces/" + opts_.ns + "/leases";
    } else {
        // metadata.resourceVersion from the GET stays: the update is refused
        // with 409 if anyone wrote the Lease since
        req.verb = "PUT";
        req.path = lease_path();
    }
    req.body = ow::json_dump(lease);
    std::string acq = acquire;
    std::weak_ptr<bool> alive = alive_;
    client_.call(req, [this, alive, transitions, create, acq](const KubeResponse &r) {
        auto a = alive.lock();
        if (!a || !*a) return;
        if (r.status == 200 || r.status == 201) {
            acquired_ = acq;
            held_ = nlohmann::json::parse(r.body, nullptr, false);
        }
        on_write(r, transitions, create);
    });
}

void KubeLeaseElector::on_write(const KubeResponse &r, int64_t transitions, bool) {
    busy_ = false;
    if (resigned_) return;
    if (r.status == 200 || r.status == 201) {
        renewed_ms_ = now_ms_();
        set({true, transitions + 1, opts_.leader_addr, ""});
    } else if (r.status == 409) {
        // Someone wrote the Lease since our GET: perhaps another replica,
        // perhaps our own renew that timed out but landed. As client-go, a
        // leader keeps its role and retries until the renew deadline; the
        // next GET says who holds the lease.
        log_info("lease_conflict", {{"lease", opts_.name}, {"identity", opts_.identity}});
        if (state_.leading && now_ms_() - renewed_ms_ > opts_.renew_deadline_ms) {
            set({false, state_.token, "", not_renewed(r)});
        }
    } else {
        log_warn("lease_write_failed", {{"status", r.status}, {"error", r.error}});
        if (state_.leading && now_ms_() - renewed_ms_ > opts_.renew_deadline_ms) {
            set({false, state_.token, "", not_renewed(r)});
        }
    }
    schedule();
}

void KubeLeaseElector::resign() {
    if (resigned_) return;
    resigned_ = true;
    timer_.cancel();
    bool leading = state_.leading;
    // No on_change: resigning is the daemon's own doing (it is stopping),
    // not a lost term.
    state_ = {false, state_.token, "", "resigned"};
    if (leading) release();
}

void KubeLeaseElector::release() {
    // Real time, not now_ms_: the deadline bounds real blocking calls.
    const int64_t deadline = steady_ms() + opts_.release_timeout_ms;
    const std::atomic<bool> never{false};
    auto remaining = [deadline] { return deadline - steady_ms(); };
    nlohmann::json lease = held_;
    std::string why = "the release deadline passed";
    // Two tries at most: the PUT with our last write's resourceVersion,
    // and after a 409 one GET + PUT (the conflict may be our own renew that
    // was in flight).
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!lease.is_object() || !lease.contains("metadata")) {
            if (remaining() <= 0) break;
            KubeRequest get;
            get.path = lease_path();
            get.timeout_ms = remaining();
            KubeResponse r = client_.call_sync(get, never);
            lease = r.status == 200 ? nlohmann::json::parse(r.body, nullptr, false)
                                    : nlohmann::json();
            if (!lease.is_object() || !lease.contains("metadata")) {
                log_warn("lease_release_failed",
                         {{"lease", opts_.name}, {"status", r.status}, {"error", r.error}});
                return;
            }
        }
        nlohmann::json sp = lease.value("spec", nlohmann::json::object());
        if (!sp.is_object() || sp.value("holderIdentity", "") != opts_.identity) {
            // another replica took it already: nothing of ours to release
            log_info("lease_release_skipped",
                     {{"lease", opts_.name},
                      {"identity", opts_.identity},
                      {"holder", sp.is_object() ? sp.value("holderIdentity", "") : ""}});
            return;
        }
        if (remaining() <= 0) break;
        // client-go's release record: no holder, 1 s, the transitions kept
        // (the next holder adds one: the fencing token keeps growing)
        std::string now = micro_time(wall_us_());
        sp["holderIdentity"] = "";
        sp["leaseDurationSeconds"] = 1;
        sp["acquireTime"] = now;
        sp["renewTime"] = now;
        lease["spec"] = sp;
        // nobody should forward to a replica that is going away
        if (lease["metadata"].contains("annotations") &&
            lease["metadata"]["annotations"].is_object()) {
            lease["metadata"]["annotations"].erase(kAddrAnnotation);
        }
        KubeRequest put;
        put.verb = "PUT";
        put.path = lease_path();
        put.body = ow::json_dump(lease);
        put.timeout_ms = remaining();
        KubeResponse r = client_.call_sync(put, never);
        if (r.status == 200) {
            held_ = nlohmann::json();
            log_info("lease_released", {{"lease", opts_.name}, {"identity", opts_.identity},
                                        {"transitions", sp.value("leaseTransitions", 0)}});
            return;
        }
        if (r.status != 409) {
            log_warn("lease_release_failed",
                     {{"lease", opts_.name}, {"status", r.status}, {"error", r.error}});
            return;
        }
        why = "409 Conflict on every try";
        lease = nlohmann::json();  // re-read who holds it
    }
    log_warn("lease_release_failed", {{"lease", opts_.name}, {"error", why}});
}

}  // namespace ow::pm
