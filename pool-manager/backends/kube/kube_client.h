// kube_client.h: calls to the Kubernetes API server, off the io thread.
//
// - KubeTransport does one blocking HTTP exchange (CurlTransport: libcurl,
//   TLS with the cluster's CA, bearer token or client certificate); tests
//   give a fake one, so nothing here needs a network.
// - KubeClient runs calls on worker threads fed by a bounded queue and
//   posts each answer back to the io thread (every Backend callback runs
//   there, backend.h). Client-side rate limiting (a token bucket, qps +
//   burst, shared by every call and watch, as client-go's) keeps a burst of
//   cold starts from flooding the API server; 429 (after Retry-After) and
//   5xx / no answer are retried with exponential backoff, all within the
//   call's deadline.
// - KubeWatch lists then watches one collection on a thread of its own:
//   newline-delimited JSON events parsed from a bounded line buffer,
//   resourceVersion kept from every event and bookmark, 410 Gone (status or
//   ERROR event) → a fresh list, then a watch from the list's
//   resourceVersion; a stream that ends (timeoutSeconds) is resumed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "pool-manager/backends/kube/kube_config.h"

namespace ow::pm {

struct KubeRequest {
    std::string verb = "GET";  // GET, POST, PUT, DELETE
    std::string path;          // "/api/v1/namespaces/ns/pods"
    std::string query;         // already escaped, without '?'
    std::string body;          // JSON; "" = none
    int64_t timeout_ms = 0;    // 0 = the client's default
};

struct KubeResponse {
    int status = 0;              // HTTP status; 0 = no answer
    std::string body;
    std::string error;           // status 0: what happened
    int64_t retry_after_ms = -1; // Retry-After of a 429/503, -1 when absent
};

class KubeTransport {
public:
    virtual ~KubeTransport() = default;
    // One exchange; blocking; called from worker and watch threads.
    virtual KubeResponse call(const KubeRequest &req) = 0;
    // A streaming GET (watch): on_data gets the body as it arrives and
    // returns false to end the stream. Returns when the stream ends, on_data
    // refuses, *stop turns true (checked at least once a second) or the
    // deadline passes. The body of the answer is only kept for non-2xx.
    virtual KubeResponse stream(const KubeRequest &req,
                                const std::function<bool(const char *, size_t)> &on_data,
                                const std::atomic<bool> &stop) = 0;
};

// libcurl. A new easy handle per call (watches hold theirs for the stream).
class CurlTransport : public KubeTransport {
public:
    explicit CurlTransport(KubeConfig cfg);
    KubeResponse call(const KubeRequest &req) override;
    KubeResponse stream(const KubeRequest &req,
                        const std::function<bool(const char *, size_t)> &on_data,
                        const std::atomic<bool> &stop) override;

private:
    KubeResponse run(const KubeRequest &req, const std::function<bool(const char *, size_t)> *sink,
                     const std::atomic<bool> *stop);
    std::string bearer();

    KubeConfig cfg_;
    std::mutex token_mu_;
    std::string token_;
    int64_t token_read_ms_ = 0;
};

// Token bucket: burst tokens, refilled at qps per second. reserve() takes a
// token now or in the future and says how long to wait for it (as Go's
// rate.Limiter.Reserve), so waiting callers keep their order. qps <= 0 =
// unlimited. Thread-safe.
class TokenBucket {
public:
    TokenBucket(double qps, int64_t burst);
    int64_t reserve(int64_t now_ms);

private:
    std::mutex mu_;
    double qps_;
    double burst_;
    double tokens_;
    int64_t last_ms_ = -1;
};

struct KubeClientOptions {
    double qps = 20;             // --kube-qps
    int64_t burst = 40;          // --kube-burst
    int64_t timeout_ms = 10000;  // per call, retries included (--kube-timeout)
    size_t max_queue = 1000;     // calls waiting for a worker; more → failed at once
    int workers = 2;
    int max_attempts = 5;
    int64_t backoff_ms = 100;    // first retry delay, doubled per attempt
    int64_t max_backoff_ms = 5000;
};

class KubeClient {
public:
    using Done = std::function<void(const KubeResponse &)>;
    // Runs fn on the io thread (boost::asio::post in the daemon).
    using Post = std::function<void(std::function<void()>)>;

    KubeClient(Post post, std::shared_ptr<KubeTransport> transport, KubeClientOptions opts);
    // Stops the workers; calls still queued are dropped, their done never
    // runs (the daemon is going away with its io thread).
    ~KubeClient();

    // Queues the call; done runs later on the io thread, exactly once
    // (status 0 + error when the queue is full or the deadline passed).
    void call(KubeRequest req, Done done);
    // The same, blocking (watch threads): rate limited and retried.
    KubeResponse call_sync(const KubeRequest &req, const std::atomic<bool> &stop);

    const Post &post() const { return post_; }
    KubeTransport &transport() { return *transport_; }
    TokenBucket &limiter() { return limiter_; }
    const KubeClientOptions &options() const { return opts_; }
    // Sleeps up to ms unless stop turns true (or the client goes away);
    // false when stopped.
    bool sleep_for(int64_t ms, const std::atomic<bool> &stop);

private:
    struct Job {
        KubeRequest req;
        Done done;
    };
    void worker();

    Post post_;
    std::shared_ptr<KubeTransport> transport_;
    KubeClientOptions opts_;
    TokenBucket limiter_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> queue_;
    std::atomic<bool> stopping_{false};
    std::vector<std::thread> threads_;
};

struct WatchOptions {
    int64_t timeout_s = 300;             // timeoutSeconds of one watch request
    size_t max_line = 8 << 20;           // one event line; longer → relist
    int64_t list_limit = 500;            // page size of the list
    int64_t backoff_ms = 100;            // after a failed list/watch, doubled
    int64_t max_backoff_ms = 5000;
};

class KubeWatch {
public:
    struct Handlers {
        // The whole collection (on start and after every 410): run on the io
        // thread before any event of the watch that follows it.
        std::function<void(std::vector<nlohmann::json> items)> on_list;
        // ADDED, MODIFIED, DELETED with the object, on the io thread.
        std::function<void(const std::string &type, nlohmann::json object)> on_event;
    };
    // path: the collection ("/api/v1/namespaces/ns/pods", "/api/v1/nodes");
    // label_selector "" = all.
    KubeWatch(KubeClient &client, std::string path, std::string label_selector,
              Handlers handlers, WatchOptions opts = {});
    ~KubeWatch();  // stops and joins the thread
    void start();
    // How many lists were made (1 + relists): tests and logs.
    int64_t lists() const { return lists_.load(); }

    // Splits buf into complete lines, calls fn on each, keeps the rest.
    // False when the rest is longer than max (the stream must be dropped).
    static bool take_lines(std::string *buf, size_t max,
                           const std::function<bool(const std::string &)> &fn);

private:
    void run();
    bool list(std::string *rv);
    enum class End { resume, relist, failed, stopped };
    End watch(std::string *rv);

    KubeClient &client_;
    std::string path_;
    std::string selector_;
    Handlers h_;
    WatchOptions opts_;
    std::atomic<bool> stop_{false};
    std::atomic<int64_t> lists_{0};
    std::thread thread_;
};

// Percent-encodes a query value (RFC 3986 unreserved kept).
std::string url_escape(const std::string &s);
// Kubernetes MicroTime (RFC 3339, 6 fractional digits, UTC):
// "2026-11-27T22:59:16.123456Z".
std::string micro_time(int64_t epoch_us);
// Parses RFC 3339 / MicroTime to epoch us; false on bad input.
bool parse_micro_time(const std::string &s, int64_t *epoch_us);
// The Status "code" of an ERROR watch event or a non-2xx body, else 0.
int status_code_of(const nlohmann::json &status);

}  // namespace ow::pm
