// invoke_queue.h: POST /v1/invoke: non-blocking invokes that need capacity.
//
// A non-blocking invoke (blocking=false) must get its 202 {"activationId"}
// at once even when the action needs a cold start (openwhisk-api.md §5).
// The gateway hands such a request here instead of parking it; accept()
// answers at once after the checks that need no waiting:
//   - headers (X-OW-Activation-Id 32 hex, X-OW-Namespace, X-OW-Path
//     "<ns>/[<pkg>/]<name>", X-OW-Accept-Time a number when present), the
//     query (only non-blocking; timeout as the sidecar checks it) and the
//     body (empty or a JSON object): 400;
//   - the bounds (max_queued overall, max_per_action, max_bytes of bodies):
//     503 + Retry-After: 1;
//   - the action's document exists (404), its kind runs here (400), and its
//     namespace is not at its container cap with no container of the action
//     to use (429, as /v1/capacity would answer);
// and then 202 {"activationId"} with x-openwhisk-activation-id.
//
// Off the response path, each accepted request is delivered: capacity for
// the action is asked for exactly as /v1/capacity does (capacity.h, so it is
// coalesced with the gateways' misses), the request is POSTed to a warm
// container's sidecar, and on 429/503/connection failure another container
// is tried, then capacity is asked to scale, then (every container refused)
// it waits (Retry-After, or a backoff) and starts over; at most max_attempts
// sidecar POSTs + failed capacity answers, within deadline_ms. When delivery
// finally fails (init failed, action gone, deadline, attempts used up, the
// sidecar refused the request), an activation record "whisk internal error"
// with the reason is written for the activation id (failure_record.h), so
// the client's `wsk activation get <id>` finds the failure.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "libow/activation_journal.h"
#include "pool-manager/action_source.h"
#include "pool-manager/placement/capacity.h"
#include "pool-manager/clock.h"
#include "pool-manager/control/failure_record.h"
#include "pool-manager/pool.h"
#include "pool-manager/runtimes.h"
#include "pool-manager/control/sidecar_client.h"

namespace ow::pm {

struct InvokeOptions {
    size_t max_queued = 1000;           // accepted, not yet delivered or failed
    size_t max_per_action = 100;
    size_t max_bytes = 256u << 20;      // sum of queued bodies (each <= 1 MB)
    int64_t deadline_ms = 60000;        // from accept to the sidecar's 202
    int max_attempts = 5;
    int64_t attempt_timeout_ms = 10000; // one POST to a sidecar
    int64_t backoff_ms = 100;           // first wait when every container refused
    int64_t max_backoff_ms = 2000;
    int record_attempts = 5;            // writes of a failure record (then spilled)
    int64_t record_retry_ms = 1000;
    // A delivery whose answer was lost may have run: its failure record waits
    // for the action's time limit plus this, so the sidecar's real record,
    // if any, is stored first (the first record of an id wins).
    int64_t lost_grace_ms = 5000;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct InvokeAnswer {
    int status = 0;
    nlohmann::json body;
    Headers headers;
};

// The gateway's header by name ("" when absent).
using HeaderFn = std::function<std::string(const char *name)>;

class InvokeQueue {
public:
    InvokeQueue(Capacity &capacity, Pool &pool, ActionSource &actions,
                const Runtimes &runtimes, Deliverer &deliverer, RecordSink &records,
                Clock &clock, InvokeOptions opts);
    ~InvokeQueue();

    // Answers at once; an accepted request is delivered later.
    InvokeAnswer accept(const HeaderFn &header, const std::string &query, std::string body);
    // The same; done runs once the accepted request is delivered or its
    // failure record is written (the fire consumer's acknowledgement).
    InvokeAnswer accept(const HeaderFn &header, const std::string &query, std::string body,
                        std::function<void()> done);

    // Every accepted invoke's stand-in record, until delivered or failed
    // (libow/activation_journal.h): a pool-manager that dies holding it
    // leaves it for the next sweep. Null: none.
    void set_journal(ow::ActivationJournal *journal) { journal_ = journal; }

    size_t queued() const { return jobs_.size(); }
    size_t queued(const std::string &action) const;
    size_t queued_bytes() const { return bytes_; }
    uint64_t delivered() const { return delivered_; }
    uint64_t failed() const { return failed_; }

private:
    struct Job {
        uint64_t seq = 0;
        InvokeRequest req;
        ActionInfo info;
        int64_t deadline = 0;        // clock ms
        int attempts = 0;
        bool scale = false;          // next capacity request asks for one more
        std::set<std::string> tried; // addrs that refused in this round
        int64_t backoff_ms = 0;
        int64_t retry_after_ms = 0;  // the last refusal's Retry-After
        std::string last_error;
        int record_attempts = 0;
        uint64_t ticket = 0;         // its journal line
        Clock::TimerId timer = 0;
        std::function<void()> done;  // accept()'s, run by finish()
    };

    InvokeAnswer error(int status, const std::string &msg, const std::string &id);
    void step(uint64_t seq);
    void on_capacity(uint64_t seq, int status, const nlohmann::json &body);
    void on_delivery(uint64_t seq, const std::string &addr, const Delivery &d);
    // Every container refused (or capacity did): wait, then start over.
    void retry_later(uint64_t seq);
    void fail(uint64_t seq, const std::string &why);
    void write_record(uint64_t seq, const nlohmann::json &record);
    void finish(uint64_t seq);
    Job *find(uint64_t seq);
    bool out_of_time(const Job &j) const;

    Capacity &capacity_;
    Pool &pool_;
    ActionSource &actions_;
    const Runtimes &runtimes_;
    Deliverer &deliverer_;
    RecordSink &records_;
    Clock &clock_;
    InvokeOptions opts_;
    ow::ActivationJournal *journal_ = nullptr;
    std::map<uint64_t, std::unique_ptr<Job>> jobs_;
    std::map<std::string, size_t> per_action_;
    size_t bytes_ = 0;
    uint64_t seq_ = 0;
    uint64_t delivered_ = 0, failed_ = 0;
};

// The sidecar's query check for what this endpoint takes: false and *err
// (the client-facing message) when blocking=true or timeout is invalid.
bool check_nonblocking_query(const std::string &query, std::string *err);

}  // namespace ow::pm
