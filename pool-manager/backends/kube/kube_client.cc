// kube_client.cc: see kube_client.h.
#include "pool-manager/backends/kube/kube_client.h"

#include <curl/curl.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "libow/clock.h"
#include "libow/log.h"

namespace ow::pm {

namespace {

constexpr size_t kMaxBody = 64u << 20;  // a list page of 500 pods is far less

int64_t mono_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

bool retryable(const KubeResponse &r) {
    // 429: the server did not take the call. 5xx but 501 and no answer:
    // transient (an API server restarting, etcd slow). A retried create that
    // did land meanwhile answers 409, which callers treat as "exists".
    return r.status == 0 || r.status == 429 || (r.status >= 500 && r.status != 501);
}

struct CurlCall {
    const std::function<bool(const char *, size_t)> *sink = nullptr;
    const std::atomic<bool> *stop = nullptr;
    std::string body;
    bool too_large = false;
    bool refused = false;
    long status = 0;
    int64_t retry_after_ms = -1;
};

size_t on_write(char *p, size_t size, size_t n, void *ud) {
    auto *c = static_cast<CurlCall *>(ud);
    size_t len = size * n;
    if (c->sink != nullptr && c->status >= 200 && c->status < 300) {
        if (!(*c->sink)(p, len)) {
            c->refused = true;
            return 0;  // aborts the transfer
        }
        return len;
    }
    if (c->body.size() + len > kMaxBody) {
        c->too_large = true;
        return 0;
    }
    c->body.append(p, len);
    return len;
}

size_t on_header(char *p, size_t size, size_t n, void *ud) {
    auto *c = static_cast<CurlCall *>(ud);
    size_t len = size * n;
    std::string h(p, len);
    if (h.rfind("HTTP/", 0) == 0) {
        size_t sp = h.find(' ');
        if (sp != std::string::npos) c->status = std::strtol(h.c_str() + sp + 1, nullptr, 10);
        c->retry_after_ms = -1;  // a new response (after a 100 Continue)
    } else if (h.size() > 12 && strncasecmp(h.c_str(), "retry-after:", 12) == 0) {
        // seconds only: the API server never sends an HTTP date here
        char *end = nullptr;
        long s = std::strtol(h.c_str() + 12, &end, 10);
        if (end != h.c_str() + 12 && s >= 0) c->retry_after_ms = s * 1000;
    }
    return len;
}

int on_progress(void *ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto *c = static_cast<CurlCall *>(ud);
    return c->stop != nullptr && c->stop->load() ? 1 : 0;
}

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

// --- CurlTransport -----------------------------------------------------

CurlTransport::CurlTransport(KubeConfig cfg) : cfg_(std::move(cfg)) { global_init(); }

std::string CurlTransport::bearer() {
    if (cfg_.token_file.empty()) return cfg_.token;
    // Projected service account tokens rotate (about hourly): re-read the
    // file every minute rather than keep the first one.
    std::lock_guard<std::mutex> g(token_mu_);
    int64_t now = mono_ms();
    if (token_read_ms_ == 0 || now - token_read_ms_ > 60000) {
        std::ifstream f(cfg_.token_file);
        std::stringstream ss;
        ss << f.rdbuf();
        std::string t = ss.str();
        while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
        if (!t.empty()) token_ = t;
        token_read_ms_ = now;
    }
    return token_.empty() ? cfg_.token : token_;
}

KubeResponse CurlTransport::call(const KubeRequest &req) { return run(req, nullptr, nullptr); }

KubeResponse CurlTransport::stream(const KubeRequest &req,
                                   const std::function<bool(const char *, size_t)> &on_data,
                                   const std::atomic<bool> &stop) {
    return run(req, &on_data, &stop);
}

KubeResponse CurlTransport::run(const KubeRequest &req,
                                const std::function<bool(const char *, size_t)> *sink,
                                const std::atomic<bool> *stop) {
    KubeResponse r;
    CURL *h = curl_easy_init();
    if (h == nullptr) {
        r.error = "curl_easy_init failed";
        return r;
    }
    CurlCall c;
    c.sink = sink;
    c.stop = stop;
    std::string url = cfg_.server + req.path + (req.query.empty() ? "" : "?" + req.query);
    struct curl_slist *hdrs = nullptr;
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    // no "Expect: 100-continue" round trip before a body over 1 KB (pods)
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (!req.body.empty()) hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    std::string token = bearer();
    std::string auth = "Authorization: Bearer " + token;
    if (!token.empty()) hdrs = curl_slist_append(hdrs, auth.c_str());
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ow-pool-manager");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for timeouts
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.verb.c_str());
    if (!req.body.empty()) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(req.body.size()));
    } else if (req.verb == "GET") {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    int64_t timeout = req.timeout_ms > 0 ? req.timeout_ms : 10000;
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<int64_t>(timeout, 5000)));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &c);
    if (stop != nullptr) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &c);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    if (cfg_.insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    struct curl_blob ca = {const_cast<char *>(cfg_.ca_data.data()), cfg_.ca_data.size(),
                           CURL_BLOB_NOCOPY};
    if (!cfg_.ca_data.empty()) {
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    } else if (!cfg_.ca_file.empty()) {
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg_.ca_file.c_str());
    }
    struct curl_blob cert = {const_cast<char *>(cfg_.cert_data.data()), cfg_.cert_data.size(),
                             CURL_BLOB_NOCOPY};
    struct curl_blob key = {const_cast<char *>(cfg_.key_data.data()), cfg_.key_data.size(),
                            CURL_BLOB_NOCOPY};
    if (!cfg_.cert_data.empty()) {
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (!cfg_.cert_file.empty()) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, cfg_.cert_file.c_str());
    }
    if (!cfg_.key_data.empty()) {
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (!cfg_.key_file.empty()) {
        curl_easy_setopt(h, CURLOPT_SSLKEY, cfg_.key_file.c_str());
    }
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    r.retry_after_ms = c.retry_after_ms;
    r.body = std::move(c.body);
    if (rc == CURLE_OK || (c.refused && code != 0) ||
        (sink != nullptr && code >= 200 && code < 300)) {
        // A stream ended by us, by the server, or by its deadline still
        // answered: the caller has what arrived.
        r.status = static_cast<int>(code);
        if (rc != CURLE_OK && !c.refused) r.error = curl_easy_strerror(rc);
        return r;
    }
    r.status = 0;
    r.error = c.too_large ? "answer too large" : curl_easy_strerror(rc);
    return r;
}

// --- TokenBucket -------------------------------------------------------

TokenBucket::TokenBucket(double qps, int64_t burst)
    : qps_(qps), burst_(static_cast<double>(std::max<int64_t>(burst, 1))), tokens_(burst_) {}

int64_t TokenBucket::reserve(int64_t now_ms) {
    if (qps_ <= 0) return 0;
    std::lock_guard<std::mutex> g(mu_);
    if (last_ms_ >= 0 && now_ms > last_ms_) {
        tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_ms - last_ms_) * qps_ / 1000.0);
    }
    if (last_ms_ < 0 || now_ms > last_ms_) last_ms_ = now_ms;
    tokens_ -= 1.0;
    if (tokens_ >= 0) return 0;
    return static_cast<int64_t>(std::ceil(-tokens_ * 1000.0 / qps_));
}

// --- KubeClient --------------------------------------------------------

KubeClient::KubeClient(Post post, std::shared_ptr<KubeTransport> transport, KubeClientOptions opts)
    : post_(std::move(post)),
      transport_(std::move(transport)),
      opts_(opts),
      limiter_(opts.qps, opts.burst) {
    for (int i = 0; i < std::max(1, opts_.workers); i++) threads_.emplace_back([this] { worker(); });
}

KubeClient::~KubeClient() {
    {
        std::lock_guard<std::mutex> g(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto &t : threads_) t.join();
}

void KubeClient::call(KubeRequest req, Done done) {
    {
        std::lock_guard<std::mutex> g(mu_);
        if (queue_.size() < opts_.max_queue && !stopping_) {
            queue_.push_back({std::move(req), std::move(done)});
            cv_.notify_one();
            return;
        }
    }
    post_([done = std::move(done)] {
        KubeResponse r;
        r.error = "too many Kubernetes API calls queued";
        done(r);
    });
}

bool KubeClient::sleep_for(int64_t ms, const std::atomic<bool> &stop) {
    std::unique_lock<std::mutex> lk(mu_);
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!stopping_ && !stop.load()) {
        // the stop flag of a watch is not signalled through cv_: wake up
        // at least every 100 ms to look at it
        auto next = std::min(until, std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
        cv_.wait_until(lk, next);
        if (std::chrono::steady_clock::now() >= until) break;
    }
    return !stopping_ && !stop.load();
}

KubeResponse KubeClient::call_sync(const KubeRequest &req, const std::atomic<bool> &stop) {
    int64_t timeout = req.timeout_ms > 0 ? req.timeout_ms : opts_.timeout_ms;
    int64_t deadline = mono_ms() + timeout;
    int64_t backoff = opts_.backoff_ms;
    thread_local std::mt19937 rng(std::random_device{}());
    KubeResponse r;
    for (int attempt = 1;; attempt++) {
        int64_t wait = limiter_.reserve(mono_ms());
        if (mono_ms() + wait >= deadline) {
            r = KubeResponse();
            r.error = "client rate limit: no slot before the deadline";
            return r;
        }
        if (wait > 0 && !sleep_for(wait, stop)) {
            r = KubeResponse();
            r.error = "stopped";
            return r;
        }
        KubeRequest one = req;
        one.timeout_ms = std::max<int64_t>(1, deadline - mono_ms());
        r = transport_->call(one);
        if (!retryable(r) || attempt >= opts_.max_attempts) return r;
        int64_t delay = backoff + static_cast<int64_t>(rng() % (backoff / 2 + 1));  // jitter
        if (r.retry_after_ms >= 0 && (r.status == 429 || r.status == 503)) delay = r.retry_after_ms;
        backoff = std::min(backoff * 2, opts_.max_backoff_ms);
        if (mono_ms() + delay >= deadline) return r;
        log_event(LogLevel::debug, "kube_retry", {{"verb", req.verb}, {"path", req.path}, {"status", r.status},
                                 {"error", r.error}, {"delay_ms", delay}});
        if (!sleep_for(delay, stop)) return r;
    }
}

void KubeClient::worker() {
    static const std::atomic<bool> never{false};
    for (;;) {
        Job job;
        {
            std::unique_lock<std::mutex> lk(mu_);
            cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        KubeResponse r = call_sync(job.req, never);
        if (stopping_) return;
        post_([done = std::move(job.done), r = std::move(r)] { done(r); });
    }
}

// --- KubeWatch ---------------------------------------------------------

KubeWatch::KubeWatch(KubeClient &client, std::string path, std::string label_selector,
                     Handlers handlers, WatchOptions opts)
    : client_(client),
      path_(std::move(path)),
      selector_(std::move(label_selector)),
      h_(std::move(handlers)),
      opts_(opts) {}

KubeWatch::~KubeWatch() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

void KubeWatch::start() {
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

bool KubeWatch::take_lines(std::string *buf, size_t max,
                           const std::function<bool(const std::string &)> &fn) {
    size_t start = 0;
    for (;;) {
        size_t nl = buf->find('\n', start);
        if (nl == std::string::npos) break;
        std::string line = buf->substr(start, nl - start);
        start = nl + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty() && !fn(line)) {
            buf->erase(0, start);
            return true;
        }
    }
    buf->erase(0, start);
    return buf->size() <= max;
}

void KubeWatch::run() {
    std::string rv;
    int64_t backoff = opts_.backoff_ms;
    while (!stop_) {
        if (rv.empty()) {
            if (!list(&rv)) {
                if (!client_.sleep_for(backoff, stop_)) return;
                backoff = std::min(backoff * 2, opts_.max_backoff_ms);
                continue;
            }
        }
        End e = watch(&rv);
        if (e == End::stopped) return;
        if (e == End::relist) {
            log_info("kube_watch_relist", {{"path", path_}});
            rv.clear();
            backoff = opts_.backoff_ms;
            continue;
        }
        if (e == End::resume) {
            backoff = opts_.backoff_ms;
            continue;
        }
        if (!client_.sleep_for(backoff, stop_)) return;
        backoff = std::min(backoff * 2, opts_.max_backoff_ms);
    }
}

bool KubeWatch::list(std::string *rv) {
    std::vector<nlohmann::json> items;
    std::string cont;
    std::string list_rv;
    for (;;) {
        KubeRequest req;
        req.path = path_;
        std::string q;
        if (!selector_.empty()) q = "labelSelector=" + url_escape(selector_) + "&";
        q += "limit=" + std::to_string(opts_.list_limit);
        if (!cont.empty()) q += "&continue=" + url_escape(cont);
        req.query = q;
        KubeResponse r = client_.call_sync(req, stop_);
        if (stop_) return false;
        nlohmann::json doc = r.status == 200 ? nlohmann::json::parse(r.body, nullptr, false)
                                             : nlohmann::json();
        if (r.status != 200 || !doc.is_object()) {
            // 410 here: the continue token expired; start the list over
            log_warn("kube_list_failed", {{"path", path_}, {"status", r.status},
                                          {"error", r.error.empty() ? r.body.substr(0, 200) : r.error}});
            return false;
        }
        const nlohmann::json &meta = doc.value("metadata", nlohmann::json::object());
        if (cont.empty()) list_rv = meta.value("resourceVersion", "");
        if (doc.contains("items") && doc["items"].is_array()) {
            for (auto &it : doc["items"]) items.push_back(std::move(it));
        }
        cont = meta.value("continue", "");
        if (cont.empty()) break;
    }
    lists_++;
    *rv = list_rv;
    auto cb = h_.on_list;
    if (cb) {
        client_.post()([cb, items = std::move(items)]() mutable { cb(std::move(items)); });
    }
    return !list_rv.empty();
}

KubeWatch::End KubeWatch::watch(std::string *rv) {
    KubeRequest req;
    req.path = path_;
    std::string q;
    if (!selector_.empty()) q = "labelSelector=" + url_escape(selector_) + "&";
    q += "watch=1&resourceVersion=" + url_escape(*rv) + "&allowWatchBookmarks=true&timeoutSeconds=" +
         std::to_string(opts_.timeout_s);
    req.query = q;
    // the server ends the stream after timeoutSeconds; our deadline is a
    // little later, for a server that does not
    req.timeout_ms = (opts_.timeout_s + 30) * 1000;
    int64_t wait = client_.limiter().reserve(mono_ms());
    if (wait > 0 && !client_.sleep_for(wait, stop_)) return End::stopped;

    std::string buf;
    bool gone = false, bad = false;
    std::string current = *rv;
    auto on_line = [&](const std::string &line) -> bool {
        nlohmann::json ev = nlohmann::json::parse(line, nullptr, false);
        if (!ev.is_object() || !ev.contains("type") || !ev["type"].is_string() ||
            !ev.contains("object") || !ev["object"].is_object()) {
            bad = true;
            return false;
        }
        std::string type = ev["type"].get<std::string>();
        nlohmann::json &obj = ev["object"];
        if (type == "ERROR") {
            if (status_code_of(obj) == 410) {
                gone = true;
            } else {
                bad = true;
                log_warn("kube_watch_error", {{"path", path_}, {"status", obj}});
            }
            return false;
        }
        std::string orv;
        if (obj.contains("metadata") && obj["metadata"].is_object()) {
            orv = obj["metadata"].value("resourceVersion", "");
        }
        if (!orv.empty()) current = orv;
        if (type == "BOOKMARK") return true;  // only its resourceVersion matters
        if (type != "ADDED" && type != "MODIFIED" && type != "DELETED") return true;
        auto cb = h_.on_event;
        if (cb) client_.post()([cb, type, obj = std::move(obj)]() mutable { cb(type, std::move(obj)); });
        return true;
    };
    bool overflow = false;
    KubeResponse r = client_.transport().stream(
        req,
        [&](const char *p, size_t n) {
            buf.append(p, n);
            if (!take_lines(&buf, opts_.max_line, on_line)) {
                overflow = true;
                return false;
            }
            return !gone && !bad;
        },
        stop_);
    *rv = current;
    if (stop_) return End::stopped;
    if (gone || r.status == 410) return End::relist;
    if (overflow) {
        log_warn("kube_watch_line_too_long", {{"path", path_}, {"max", opts_.max_line}});
        return End::relist;
    }
    if (bad || r.status != 200) {
        log_warn("kube_watch_failed", {{"path", path_}, {"status", r.status},
                                       {"error", r.error.empty() ? r.body.substr(0, 200) : r.error}});
        return End::failed;
    }
    return End::resume;
}

// --- helpers -----------------------------------------------------------

std::string url_escape(const std::string &s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string micro_time(int64_t epoch_us) {
    time_t secs = static_cast<time_t>(epoch_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(epoch_us % 1000000));
    return buf;
}

bool parse_micro_time(const std::string &s, int64_t *epoch_us) {
    struct tm tm = {};
    int y, mo, d, h, mi, sec;
    int n = 0;
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6) {
        return false;
    }
    int64_t frac = 0;
    size_t i = static_cast<size_t>(n);
    if (i < s.size() && s[i] == '.') {
        int digits = 0;
        for (i++; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); i++) {
            if (digits < 6) {
                frac = frac * 10 + (s[i] - '0');
                digits++;
            }
        }
        for (; digits < 6; digits++) frac *= 10;
    }
    int64_t offset_s = 0;
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2) return false;
        offset_s = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return false;
    }
    if (i != s.size()) return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *epoch_us = (static_cast<int64_t>(timegm(&tm)) - offset_s) * 1000000 + frac;
    return true;
}

int status_code_of(const nlohmann::json &status) {
    if (!status.is_object()) return 0;
    auto it = status.find("code");
    return it != status.end() && it->is_number_integer() ? it->get<int>() : 0;
}

}  // namespace ow::pm
